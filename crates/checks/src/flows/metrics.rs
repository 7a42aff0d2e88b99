//! Metrics: the Prometheus gates of the operations checklist ("queue depth and
//! failed jobs reviewed", "Stripe webhook success rate", "analytics aggregation
//! completed", "no spike in IP anomaly logs or auth failures").
//!
//! The first step scrapes `/metrics` at the start of the run, waits until every
//! other flow of the run has finished (and at least the profile's
//! `metrics_observe_ms`), and scrapes again at its end; every
//! gate after it judges the two scrapes (counters as deltas, resets handled) with
//! the pure functions of [`stageos_smoke_gates::prom`]. A malformed exposition makes that
//! first step an error naming the line, and the gates are skipped naming it.

use std::time::{Duration, Instant};

use crate::flow::FlowRun;
use stageos_smoke_gates::prom::{self, Snapshot};
use stageos_smoke_gates::{OnInconclusive, Verdict};
use stageos_smoke_http::http::{ExecError, Session, StepError};
use stageos_smoke_model::flowdef::{FlowDef, StepDef};

/// The metrics flow's steps.
pub static FLOW: FlowDef = FlowDef {
    id: "metrics",
    description: "Prometheus metrics: queues, failed jobs, Stripe webhooks, analytics freshness, auth failures and IP anomalies",
    roles: &[],
    needs_owner_totp: false,
    observes_run: true,
    steps: &[
        METRICS_SCRAPED,
        QUEUE_DEPTH_WITHIN_LIMITS,
        NO_NEW_FAILED_JOBS,
        STRIPE_WEBHOOK_SUCCESS_RATIO,
        ANALYTICS_AGGREGATION_FRESH,
        AUTH_FAILURES_NOT_SPIKING,
        IP_ANOMALIES_NOT_SPIKING,
    ],
};

// The steps of `metrics`, each id written once: `FLOW` lists them and the
// flow's `run` names them by these constants.

/// Step `metrics_scraped`.
pub const METRICS_SCRAPED: StepDef = StepDef {
    id: "metrics_scraped",
    description: "/metrics answers twice (start and end of the run) with a well-formed Prometheus exposition",
};

/// Step `queue_depth_within_limits`.
pub const QUEUE_DEPTH_WITHIN_LIMITS: StepDef = StepDef {
    id: "queue_depth_within_limits",
    description: "Every queue's depth is within the profile's limit",
};

/// Step `no_new_failed_jobs`.
pub const NO_NEW_FAILED_JOBS: StepDef = StepDef {
    id: "no_new_failed_jobs",
    description: "jobs_failed_total did not increase in any queue during the run",
};

/// Step `stripe_webhook_success_ratio`.
pub const STRIPE_WEBHOOK_SUCCESS_RATIO: StepDef = StepDef {
    id: "stripe_webhook_success_ratio",
    description: "Stripe webhook events during the run succeeded at least at the profile's ratio",
};

/// Step `analytics_aggregation_fresh`.
pub const ANALYTICS_AGGREGATION_FRESH: StepDef = StepDef {
    id: "analytics_aggregation_fresh",
    description: "The analytics aggregation job succeeded within the profile's maximum age",
};

/// Step `auth_failures_not_spiking`.
pub const AUTH_FAILURES_NOT_SPIKING: StepDef = StepDef {
    id: "auth_failures_not_spiking",
    description: "Auth failures during the run stay within baseline × factor",
};

/// Step `ip_anomalies_not_spiking`.
pub const IP_ANOMALIES_NOT_SPIKING: StepDef = StepDef {
    id: "ip_anomalies_not_spiking",
    description: "IP anomaly events during the run stay within baseline × factor",
};

/// Two scrapes and the time between them.
#[derive(Clone, Debug)]
pub struct Scrapes {
    /// At the start.
    pub start: Snapshot,
    /// At the end.
    pub end: Snapshot,
    /// Minutes between them.
    pub minutes: f64,
}

/// GET `/metrics` and parse it; malformed text is a could-not-check error.
pub async fn scrape(session: &Session) -> Result<Snapshot, StepError> {
    let resp = session.get("/metrics").send().await?;
    resp.expect_status(200)?;
    let text = String::from_utf8_lossy(&resp.body);
    Snapshot::parse(&text).map_err(|e| {
        StepError::Exec(ExecError::Other(format!(
            "{e} (hint: the target's /metrics is broken; every metrics gate depends on it)"
        )))
    })
}

/// Observe for `d` (one timer until the instant it ends).
async fn observe(d: Duration) {
    tokio::time::sleep_until((Instant::now() + d).into()).await;
}

/// Report a gate verdict (or a could-not-check message) as step `id`.
pub async fn report_verdict(
    flow: &mut FlowRun,
    id: &'static str,
    verdict: Result<Verdict, String>,
    on_inconclusive: OnInconclusive,
) {
    let (result, judged) = match verdict {
        Ok(v) => (v.clone().into_step(on_inconclusive), Some(v)),
        Err(msg) => (Err(StepError::Exec(ExecError::Other(msg))), None),
    };
    match result {
        Ok(Some(reason)) => flow.skip(id, reason),
        other => {
            let notes = flow.notes();
            flow.step(id, async move {
                if let Some(v) = &judged {
                    notes.verdict(v);
                }
                other.map(|_| ())
            })
            .await;
        }
    }
}

/// Run the metrics flow.
pub async fn run(flow: &mut FlowRun) {
    let th = flow.cx().gates.thresholds.clone();
    let session = match flow.session("metrics") {
        Ok(s) => s,
        Err(e) => {
            flow.step(&METRICS_SCRAPED, async { Err::<(), _>(StepError::from(e)) })
                .await;
            return;
        }
    };
    let observe_for = Duration::from_millis(th.metrics_observe_ms);
    let cx = flow.cx().clone();
    let Some(s) = flow
        .step(&METRICS_SCRAPED, async {
            let started = Instant::now();
            let start = scrape(&session).await?;
            // The second scrape comes at the end of the run: after every other
            // flow finished, and no sooner than the profile's observation time.
            tokio::join!(observe(observe_for), cx.other_flows_finished());
            let end = scrape(&session).await?;
            Ok(Scrapes {
                start,
                end,
                minutes: started.elapsed().as_secs_f64() / 60.0,
            })
        })
        .await
    else {
        return;
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as f64;
    let on = th.on_inconclusive;
    report_verdict(
        flow,
        QUEUE_DEPTH_WITHIN_LIMITS.id,
        prom::gate_queue_depth(&s.end, &th),
        on,
    )
    .await;
    report_verdict(
        flow,
        NO_NEW_FAILED_JOBS.id,
        prom::gate_jobs_failed(&s.start, &s.end),
        on,
    )
    .await;
    report_verdict(
        flow,
        STRIPE_WEBHOOK_SUCCESS_RATIO.id,
        prom::gate_stripe(&s.start, &s.end, th.stripe_success_ratio_min),
        on,
    )
    .await;
    report_verdict(
        flow,
        ANALYTICS_AGGREGATION_FRESH.id,
        prom::gate_analytics(&s.end, now, th.analytics_max_age_s),
        on,
    )
    .await;
    report_verdict(
        flow,
        AUTH_FAILURES_NOT_SPIKING.id,
        prom::gate_auth_failures(&s.start, &s.end, s.minutes, &th),
        on,
    )
    .await;
    report_verdict(
        flow,
        IP_ANOMALIES_NOT_SPIKING.id,
        prom::gate_ip_anomalies(&s.start, &s.end, s.minutes, &th),
        on,
    )
    .await;
}
