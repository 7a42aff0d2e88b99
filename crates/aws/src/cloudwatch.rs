//! CloudWatch I/O of the gates: the ALB series of a run in **one** `GetMetricData`
//! call (followed through its pages), `DescribeAlarms`, and `PutMetricData` for the
//! canary. Judging is left to [`super::stats`]; this module only moves numbers.
//!
//! The query covers one range, from the earliest baseline's start to the current
//! window's end, with three series at the plan's period: `TargetResponseTime` `p95`,
//! `RequestCount` `Sum` and `HTTPCode_Target_5XX_Count` `Sum`, all with the
//! `LoadBalancer` dimension. Ratios are computed here in Rust, not with metric math
//! (emulators and many accounts lack it).
//!
//! An endpoint on loopback (an emulator such as ministack) is always given fake
//! static credentials, so a test can never reach real AWS with real ones; any other
//! endpoint uses the default AWS credential chain.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricAlarm, MetricDataQuery, MetricDatum, MetricStat, ScanBy,
};

use stageos_smoke_gates::settings::{AlarmRequirement, CloudWatchSettings, Thresholds};
use stageos_smoke_gates::stats::{self, BaselineKind, Series, WindowPlan, WindowStats};
use stageos_smoke_gates::verdict::Verdict;

/// ALB metric: latency of the targets, seconds.
pub const TARGET_RESPONSE_TIME: &str = "TargetResponseTime";
/// ALB metric: requests.
pub const REQUEST_COUNT: &str = "RequestCount";
/// ALB metric: 5xx answers of the targets.
pub const TARGET_5XX: &str = "HTTPCode_Target_5XX_Count";
/// The ALB dimension.
pub const LOAD_BALANCER_DIMENSION: &str = "LoadBalancer";

/// A CloudWatch call failed: the gate could not check.
#[derive(Debug, Clone, thiserror::Error)]
#[error("failed to {action} in CloudWatch ({endpoint}): {message} (hint: {hint})")]
pub struct CloudWatchError {
    /// What was attempted.
    pub action: String,
    /// Where.
    pub endpoint: String,
    /// The SDK's message with its causes.
    pub message: String,
    /// What to check.
    pub hint: String,
}

fn cw_error<E: std::error::Error>(action: &str, cw: &CloudWatchSettings, e: E) -> CloudWatchError {
    let message = aws_sdk_cloudwatch::error::DisplayErrorContext(&e).to_string();
    let hint = if cw.is_loopback() {
        "is the emulator running? scripts/cw-emulator.sh start".to_owned()
    } else {
        "check the AWS credentials and region of the job and its cloudwatch:GetMetricData/DescribeAlarms/PutMetricData permissions".to_owned()
    };
    CloudWatchError {
        action: action.to_owned(),
        endpoint: endpoint_label(cw),
        message,
        hint,
    }
}

fn endpoint_label(cw: &CloudWatchSettings) -> String {
    cw.endpoint_url
        .as_ref()
        .map(|u| u.to_string())
        .unwrap_or_else(|| format!("AWS {}", cw.region))
}

/// A CloudWatch client for `cw`: loopback endpoints get fake static credentials,
/// others the default credential chain. Bounded: 30 s per operation, 3 attempts.
pub async fn client(cw: &CloudWatchSettings) -> Client {
    // One construction for every AWS client of the suite (fake credentials on
    // loopback, bounded timeouts and retries): see `crate::aws::sdk_config`.
    let ep = crate::aws::AwsEndpoint {
        region: cw.region.clone(),
        endpoint_url: cw.endpoint_url.clone(),
    };
    Client::new(&crate::aws::sdk_config(&ep).await)
}

fn alb_query(
    id: &str,
    cw: &CloudWatchSettings,
    metric: &str,
    stat: &str,
    period: i64,
) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace(&cw.namespace)
        .metric_name(metric)
        .dimensions(
            Dimension::builder()
                .name(LOAD_BALANCER_DIMENSION)
                .value(&cw.load_balancer)
                .build(),
        )
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(period as i32)
                .stat(stat)
                .build(),
        )
        .return_data(true)
        .build()
}

/// The three ALB series over the plan's query range.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlbSeries {
    /// `TargetResponseTime` p95 per period, seconds.
    pub p95: Series,
    /// `RequestCount` sum per period.
    pub requests: Series,
    /// `HTTPCode_Target_5XX_Count` sum per period.
    pub errors: Series,
}

/// The queries of one run (ids `p95`, `requests`, `errors`).
pub fn alb_queries(cw: &CloudWatchSettings, period: i64) -> Vec<MetricDataQuery> {
    vec![
        alb_query("p95", cw, TARGET_RESPONSE_TIME, "p95", period),
        alb_query("requests", cw, REQUEST_COUNT, "Sum", period),
        alb_query("errors", cw, TARGET_5XX, "Sum", period),
    ]
}

/// Read the ALB series of `plan` in one `GetMetricData` call (and its pages).
pub async fn fetch_alb(
    client: &Client,
    cw: &CloudWatchSettings,
    plan: &WindowPlan,
) -> Result<AlbSeries, CloudWatchError> {
    let range = plan.query_range();
    let mut points: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let resp = client
            .get_metric_data()
            .set_metric_data_queries(Some(alb_queries(cw, plan.period)))
            .start_time(DateTime::from_secs(range.start))
            .end_time(DateTime::from_secs(range.end))
            .scan_by(ScanBy::TimestampAscending)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| cw_error("read the ALB metrics (GetMetricData)", cw, e))?;
        for r in resp.metric_data_results() {
            let id = r.id().unwrap_or_default().to_owned();
            if let Some(code) = r.status_code()
                && code.as_str() == "InternalError"
            {
                let msgs: Vec<String> = r
                    .messages()
                    .iter()
                    .map(|m| format!("{}: {}", m.code().unwrap_or("?"), m.value().unwrap_or("")))
                    .collect();
                return Err(CloudWatchError {
                    action: format!("read series `{id}` (GetMetricData)"),
                    endpoint: endpoint_label(cw),
                    message: msgs.join("; "),
                    hint: "the service could not compute the series".into(),
                });
            }
            let entry = points.entry(id).or_default();
            entry.extend(
                r.timestamps()
                    .iter()
                    .map(|t| t.secs())
                    .zip(r.values().iter().copied()),
            );
        }
        match resp.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    let mut take = |id: &str| Series::from_pairs(points.remove(id).unwrap_or_default());
    Ok(AlbSeries {
        p95: take("p95"),
        requests: take("requests"),
        errors: take("errors"),
    })
}

/// Summaries of the current window and each baseline.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AlbWindows {
    /// The window since the deploy.
    pub current: WindowStats,
    /// The baselines.
    pub baselines: Vec<(BaselineKind, WindowStats)>,
}

/// Summarise the series per window.
pub fn summarize(plan: &WindowPlan, s: &AlbSeries) -> AlbWindows {
    let sum = |w| stats::summarize(w, plan.period, &s.p95, &s.requests, &s.errors);
    AlbWindows {
        current: sum(plan.current),
        baselines: plan.baselines.iter().map(|(k, w)| (*k, sum(*w))).collect(),
    }
}

/// The p95 verdict of the windows.
pub fn p95_verdict(w: &AlbWindows, th: &Thresholds) -> Verdict {
    stats::judge_p95(&w.current, &w.baselines, &th.p95_rule())
}

/// The error-budget verdict of the windows (the first conclusive baseline is quoted).
pub fn error_budget_verdict(w: &AlbWindows, th: &Thresholds) -> Verdict {
    let baseline = w
        .baselines
        .iter()
        .map(|(_, b)| b)
        .find(|b| b.requests > 0.0);
    stats::judge_error_budget(&w.current, baseline, &th.burn_rule())
}

/// Every metric alarm (all pages).
pub async fn describe_alarms(
    client: &Client,
    cw: &CloudWatchSettings,
) -> Result<Vec<MetricAlarm>, CloudWatchError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let resp = client
            .describe_alarms()
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| cw_error("list the alarms (DescribeAlarms)", cw, e))?;
        out.extend(resp.metric_alarms().iter().cloned());
        match resp.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok(out)
}

/// Whether `alarm` watches `req`'s metric (directly or in a metric-math query) and
/// matches its name prefix.
fn alarm_matches(alarm: &MetricAlarm, req: &AlarmRequirement) -> bool {
    if let Some(p) = &req.name_prefix
        && !alarm
            .alarm_name()
            .unwrap_or_default()
            .starts_with(p.as_str())
    {
        return false;
    }
    let direct = alarm.namespace() == Some(req.namespace.as_str())
        && alarm.metric_name() == Some(req.metric.as_str());
    let in_math = alarm
        .metrics()
        .iter()
        .filter_map(|q| q.metric_stat())
        .filter_map(|s| s.metric())
        .any(|m| {
            m.namespace() == Some(req.namespace.as_str())
                && m.metric_name() == Some(req.metric.as_str())
        });
    direct || in_math
}

/// Each required alarm exists with its actions enabled.
pub fn alarms_verdict(alarms: &[MetricAlarm], required: &[AlarmRequirement]) -> Verdict {
    if required.is_empty() {
        return Verdict::inconclusive("the profile requires no alarms");
    }
    let mut missing = Vec::new();
    let mut found = Vec::new();
    for req in required {
        let matching: Vec<&MetricAlarm> = alarms.iter().filter(|a| alarm_matches(a, req)).collect();
        match matching.iter().find(|a| a.actions_enabled() == Some(true)) {
            Some(a) => found.push(format!(
                "{}: {}",
                req.purpose,
                a.alarm_name().unwrap_or("?")
            )),
            None if matching.is_empty() => missing.push(format!(
                "{} (no alarm on {}/{})",
                req.purpose, req.namespace, req.metric
            )),
            None => missing.push(format!(
                "{} ({} has its actions disabled)",
                req.purpose,
                matching
                    .iter()
                    .map(|a| a.alarm_name().unwrap_or("?"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
    if missing.is_empty() {
        Verdict::Pass {
            summary: found.join("; "),
        }
    } else {
        Verdict::fail(
            "alerting policies",
            format!(
                "an enabled alarm for each of: {}",
                required
                    .iter()
                    .map(|r| r.purpose.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!("missing: {}", missing.join("; ")),
        )
    }
}

/// Publish `data` to `namespace`, in batches of at most 1000 datums.
pub async fn put_metric_data(
    client: &Client,
    cw: &CloudWatchSettings,
    namespace: &str,
    data: Vec<MetricDatum>,
) -> Result<(), CloudWatchError> {
    for chunk in data.chunks(1000) {
        client
            .put_metric_data()
            .namespace(namespace)
            .set_metric_data(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| {
                cw_error(
                    &format!(
                        "publish {} datums to {namespace} (PutMetricData)",
                        chunk.len()
                    ),
                    cw,
                    e,
                )
            })?;
    }
    Ok(())
}
