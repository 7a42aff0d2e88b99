//! Canary mode: run the canary profile once (cron, Kubernetes CronJob, EventBridge)
//! or every `--interval` until stopped, and publish each run to CloudWatch so
//! alarms can page.
//!
//! Per run, in namespace `StageOS/Canary` (every datum has dimension
//! `Canary=<name>`, plus the ones listed):
//!
//! | metric | unit | dimensions | value |
//! | --- | --- | --- | --- |
//! | `FlowSuccess` | None | `Flow` | 1 when no step of the flow failed or errored, else 0 |
//! | `FlowDuration` | Milliseconds | `Flow` | first step start to last step end |
//! | `StepDuration` | Milliseconds | `Flow`, `Step` | the step's duration (steps that ran) |
//! | `FailedSteps` | Count | — | failed + errored steps of the run |
//! | `RunSuccess` | None | — | 1 when the run's verdict is passed, else 0 |
//!
//! A publishing failure is reported on stderr and never hides the run's own
//! verdict: a failed run exits 1 whether or not publishing worked; a run that
//! passed but could not be published exits 3 (could not check), so the scheduler
//! notices that the alarms are blind.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};

use crate::gates::cloudwatch::{self, CloudWatchError};
use crate::gates::settings::CloudWatchSettings;
use crate::outcome::{RunReport, StepOutcome};

/// Default namespace.
pub const NAMESPACE: &str = "StageOS/Canary";

fn dim(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

fn datum(name: &str, unit: StandardUnit, value: f64, at: i64, dims: Vec<Dimension>) -> MetricDatum {
    MetricDatum::builder()
        .metric_name(name)
        .unit(unit)
        .value(value)
        .timestamp(DateTime::from_secs(at))
        .set_dimensions(Some(dims))
        .build()
}

/// The datums of one run (see the module docs), timestamped `at` (unix seconds).
pub fn datums(report: &RunReport, canary: &str, at: i64) -> Vec<MetricDatum> {
    let mut by_flow: BTreeMap<&str, Vec<&crate::outcome::StepResult>> = BTreeMap::new();
    for s in &report.steps {
        by_flow.entry(s.flow.as_str()).or_default().push(s);
    }
    let mut out = Vec::new();
    let c = || dim("Canary", canary);
    for (flow, steps) in &by_flow {
        let ok = steps.iter().all(|s| {
            !matches!(
                s.outcome,
                StepOutcome::Failed { .. } | StepOutcome::Error { .. }
            )
        });
        out.push(datum(
            "FlowSuccess",
            StandardUnit::None,
            if ok { 1.0 } else { 0.0 },
            at,
            vec![c(), dim("Flow", flow)],
        ));
        let ran: Vec<_> = steps
            .iter()
            .filter(|s| !matches!(s.outcome, StepOutcome::Skipped { .. }))
            .collect();
        if let (Some(first), Some(last)) = (
            ran.iter().map(|s| s.start_ms).reduce(f64::min),
            ran.iter()
                .map(|s| s.start_ms + s.duration_ms)
                .reduce(f64::max),
        ) {
            out.push(datum(
                "FlowDuration",
                StandardUnit::Milliseconds,
                last - first,
                at,
                vec![c(), dim("Flow", flow)],
            ));
        }
        for s in ran {
            out.push(datum(
                "StepDuration",
                StandardUnit::Milliseconds,
                s.duration_ms,
                at,
                vec![c(), dim("Flow", flow), dim("Step", &s.step)],
            ));
        }
    }
    let counts = report.counts();
    out.push(datum(
        "FailedSteps",
        StandardUnit::Count,
        (counts.failed + counts.errors) as f64,
        at,
        vec![c()],
    ));
    let passed = report.exit_status() == crate::ExitStatus::Passed;
    out.push(datum(
        "RunSuccess",
        StandardUnit::None,
        if passed { 1.0 } else { 0.0 },
        at,
        vec![c()],
    ));
    out
}

/// Publish one run's datums.
pub async fn publish(
    report: &RunReport,
    cw: &CloudWatchSettings,
    namespace: &str,
    canary: &str,
) -> Result<usize, CloudWatchError> {
    let client = cloudwatch::client(cw).await;
    let at = time::OffsetDateTime::now_utc().unix_timestamp();
    let data = datums(report, canary, at);
    let n = data.len();
    cloudwatch::put_metric_data(&client, cw, namespace, data).await?;
    Ok(n)
}

/// Parse `300`, `300s`, `5m`, `1h`, `250ms` (at least one second).
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, mult_ms) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1000)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60_000)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3_600_000)
    } else {
        (t, 1000)
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid interval `{text}` (hint: 300, 300s, 5m or 1h)"))?;
    let d = Duration::from_millis(n.saturating_mul(mult_ms));
    if d < Duration::from_secs(1) {
        return Err(format!("interval `{text}` is shorter than one second"));
    }
    Ok(d)
}

/// Wait until `deadline`, or until `stop` resolves; `true` if stopped.
pub async fn wait_until<F: std::future::Future<Output = ()>>(
    deadline: Instant,
    stop: &mut std::pin::Pin<&mut F>,
) -> bool {
    tokio::select! {
        () = tokio::time::sleep_until(deadline.into()) => false,
        () = stop.as_mut() => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::StepResult;

    fn step(flow: &str, id: &str, outcome: StepOutcome, start: f64, dur: f64) -> StepResult {
        StepResult {
            flow: flow.into(),
            step: id.into(),
            description: String::new(),
            outcome,
            start_ms: start,
            duration_ms: dur,
            requests: vec![],
            retries: vec![],
            notes: vec![],
        }
    }

    #[test]
    fn datums_per_flow_and_step() {
        let report = RunReport {
            run_id: "r".into(),
            target: "t".into(),
            profile: "canary".into(),
            started_at: String::new(),
            wall_ms: 0.0,
            steps: vec![
                step("health", "a", StepOutcome::Passed, 0.0, 5.0),
                step(
                    "health",
                    "b",
                    StepOutcome::Skipped { reason: "x".into() },
                    0.0,
                    0.0,
                ),
                step(
                    "metrics",
                    "c",
                    StepOutcome::Failed {
                        message: "m".into(),
                        expected: "e".into(),
                        actual: "a".into(),
                    },
                    10.0,
                    20.0,
                ),
                step("metrics", "d", StepOutcome::Passed, 30.0, 10.0),
            ],
            run_error: None,
            cleanups: vec![],
            interrupted: false,
        };
        let d = datums(&report, "c1", 1_700_000_000);
        let find = |name: &str, flow: Option<&str>| {
            d.iter()
                .filter(|x| x.metric_name() == Some(name))
                .find(|x| {
                    flow.is_none_or(|f| {
                        x.dimensions()
                            .iter()
                            .any(|dm| dm.name() == Some("Flow") && dm.value() == Some(f))
                    })
                })
                .and_then(|x| x.value())
        };
        assert_eq!(find("FlowSuccess", Some("health")), Some(1.0));
        assert_eq!(find("FlowSuccess", Some("metrics")), Some(0.0));
        assert_eq!(find("FlowDuration", Some("metrics")), Some(30.0));
        assert_eq!(find("FailedSteps", None), Some(1.0));
        assert_eq!(find("RunSuccess", None), Some(0.0));
        assert_eq!(
            d.iter()
                .filter(|x| x.metric_name() == Some("StepDuration"))
                .count(),
            3,
            "skipped steps have no duration"
        );
        assert!(d.iter().all(|x| {
            x.dimensions()
                .iter()
                .any(|dm| dm.name() == Some("Canary") && dm.value() == Some("c1"))
        }));
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_interval("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_interval("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_interval("500ms").is_err());
        assert!(parse_interval("often").is_err());
    }
}
