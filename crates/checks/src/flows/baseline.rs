//! Baseline: "compare P95 latency and error budget against baseline" and
//! "alerting policies active", read from CloudWatch.
//!
//! The first step plans the windows (aligned to the period; see
//! [`stageos_smoke_gates::stats`]) and reads every ALB series of the run in one
//! `GetMetricData` call; the two verdict steps judge those numbers. Without CloudWatch
//! settings for the environment, the embedded run reads the account its emulator
//! was seeded with (`crate::embedded_cloud`): the baselines are the previous
//! release's seeded traffic, the window since the deploy is the run's own requests
//! as the embedded server publishes them. Without either, every step is skipped
//! with the reason.

use std::sync::Arc;

use crate::flow::FlowRun;
use stageos_smoke_aws::cloudwatch::{self, AlbWindows};
use stageos_smoke_gates::settings::{CW_LOAD_BALANCER_VAR, GateSettings};
use stageos_smoke_gates::stats::{self, WindowError};
use stageos_smoke_http::http::{ExecError, StepError};
use stageos_smoke_model::flowdef::{FlowDef, StepDef};

use super::metrics::report_verdict;

/// The baseline flow's steps.
pub static FLOW: FlowDef = FlowDef {
    id: "baseline",
    description: "P95 latency and error budget since the deploy against CloudWatch baselines; alarms in place",
    roles: &[],
    needs_owner_totp: false,
    // Observes the run: on the embedded target with its emulator, the window since
    // the deploy is the run's own traffic, read once every other flow finished.
    observes_run: true,
    steps: &[
        ALB_METRICS_READ,
        P95_LATENCY_VS_BASELINE,
        ERROR_BUDGET_BURN_RATE,
        ALARMS_PRESENT,
    ],
};

// The steps of `baseline`, each id written once: `FLOW` lists them and the
// flow's `run` names them by these constants.

/// Step `alb_metrics_read`.
pub const ALB_METRICS_READ: StepDef = StepDef {
    id: "alb_metrics_read",
    description: "The ALB's latency, request and 5xx series for the window since the deploy and its baselines are read in one GetMetricData call",
};

/// Step `p95_latency_vs_baseline`.
pub const P95_LATENCY_VS_BASELINE: StepDef = StepDef {
    id: "p95_latency_vs_baseline",
    description: "P95 TargetResponseTime since the deploy ≤ baseline × (1 + tolerance) + slack",
};

/// Step `error_budget_burn_rate`.
pub const ERROR_BUDGET_BURN_RATE: StepDef = StepDef {
    id: "error_budget_burn_rate",
    description: "The 5xx error-budget burn rate since the deploy is below the fast-burn threshold (14.4×)",
};

/// Step `alarms_present`.
pub const ALARMS_PRESENT: StepDef = StepDef {
    id: "alarms_present",
    description: "Enabled alarms exist for API latency, 5xx rate, queue failures and DB CPU",
};

/// Reason for skipping when the environment has no CloudWatch settings.
pub fn no_cloudwatch_reason() -> String {
    format!(
        "no CloudWatch configured for this environment (hint: set {CW_LOAD_BALANCER_VAR} or [environments.NAME.gates.cloudwatch])"
    )
}

/// Run the baseline flow.
pub async fn run(flow: &mut FlowRun) {
    let gates: Arc<GateSettings> = flow.cx().gates.clone();
    // The environment's CloudWatch, else the embedded run's seeded account, whose
    // current window is the run's own traffic: read once every other flow has
    // finished and the embedded server's requests are published.
    let (cw, own_traffic) = match (gates.cloudwatch.clone(), flow.cx().cloud.clone()) {
        (Some(cw), _) => (cw, None),
        (None, Some(cloud)) => {
            flow.cx().other_flows_finished().await;
            match cloud.account().await {
                Ok(account) => (account.cloudwatch.clone(), Some(cloud.publish_own_traffic)),
                Err(e) => {
                    let reason = crate::embedded_cloud::unavailable(&e);
                    for s in FLOW.steps {
                        flow.skip(s.id, reason.clone());
                    }
                    return;
                }
            }
        }
        (None, None) => {
            let reason = no_cloudwatch_reason();
            for s in FLOW.steps {
                flow.skip(s.id, reason.clone());
            }
            return;
        }
    };
    let th = gates.thresholds.clone();
    let client = cloudwatch::client(&cw).await;
    // The embedded server's requests up to now are published below, so the period
    // in progress is complete and belongs to the window.
    let now = match own_traffic {
        Some(_) => stats::align_down(gates.now(), th.period_s) + th.period_s,
        None => gates.now(),
    };
    let plan = stats::plan_windows(
        now,
        cw.deployed_at,
        th.period_s,
        th.max_window_s,
        &th.baselines,
    );
    match plan {
        Err(e @ WindowError::TooEarly { .. }) => {
            let reason = format!("inconclusive: {e}");
            flow.skip(&ALB_METRICS_READ, reason.clone());
            report_verdict(
                flow,
                P95_LATENCY_VS_BASELINE.id,
                Ok(stageos_smoke_gates::Verdict::inconclusive(e.to_string())),
                th.on_inconclusive,
            )
            .await;
            report_verdict(
                flow,
                ERROR_BUDGET_BURN_RATE.id,
                Ok(stageos_smoke_gates::Verdict::inconclusive(e.to_string())),
                th.on_inconclusive,
            )
            .await;
        }
        Err(e) => {
            flow.step(&ALB_METRICS_READ, async move {
                Err::<(), _>(StepError::Exec(ExecError::Other(e.to_string())))
            })
            .await;
        }
        Ok(plan) => {
            let read = flow
                .step(&ALB_METRICS_READ, async {
                    if let Some(publish) = &own_traffic {
                        let n = publish(&cw).await.map_err(|e| {
                            ExecError::Other(format!("the embedded server's ALB metrics: {e}"))
                        })?;
                        tracing::debug!(requests = n, "published the embedded run's own traffic");
                    }
                    let series = cloudwatch::fetch_alb(&client, &cw, &plan)
                        .await
                        .map_err(|e| ExecError::Other(e.to_string()))?;
                    let w: AlbWindows = cloudwatch::summarize(&plan, &series);
                    tracing::info!(current = ?w.current, baselines = ?w.baselines, "ALB windows");
                    Ok(w)
                })
                .await;
            if let Some(w) = read {
                report_verdict(
                    flow,
                    P95_LATENCY_VS_BASELINE.id,
                    Ok(cloudwatch::p95_verdict(&w, &th)),
                    th.on_inconclusive,
                )
                .await;
                report_verdict(
                    flow,
                    ERROR_BUDGET_BURN_RATE.id,
                    Ok(cloudwatch::error_budget_verdict(&w, &th)),
                    th.on_inconclusive,
                )
                .await;
            }
        }
    }
    if th.alarms.is_empty() {
        flow.skip(
            &ALARMS_PRESENT,
            "the profile requires no alarms (gates.alarms is empty)",
        );
        return;
    }
    let notes = flow.notes();
    flow.step(&ALARMS_PRESENT, async {
        let alarms = cloudwatch::describe_alarms(&client, &cw)
            .await
            .map_err(|e| ExecError::Other(e.to_string()))?;
        let verdict = cloudwatch::alarms_verdict(&alarms, &th.alarms);
        notes.verdict(&verdict);
        verdict.into_step(th.on_inconclusive).map(|_| ())
    })
    .await;
}
