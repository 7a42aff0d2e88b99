//! The Prometheus metrics gates: parse `/metrics`, compare two scrapes.
//!
//! Parsing is two passes. First every line is checked against the text exposition
//! format 0.0.4 ([`validate_exposition`]): prometheus-parse 0.2.5 silently skips a
//! line it cannot read, so without this a truncated or garbled exposition would
//! look like "no samples" and pass. A malformed line is an error that names its
//! number and text (the step reports *could not check*, it does not crash). Then
//! prometheus-parse reads the samples.
//!
//! What the gates rely on, given prometheus-parse's known limits (label values with
//! commas or `=` are cut, `\"` escapes stay raw, metric names with `:` are dropped):
//! only the StageOS series below, whose label values are plain words (queue names,
//! outcomes, error codes). A counter is read under its `_total` sample name.
//!
//! | gate | series | rule |
//! | --- | --- | --- |
//! | queue depth | `queue_depth{queue}` | each queue ≤ its limit, at the end scrape |
//! | failed jobs | `jobs_failed_total{queue}` | no increase between the scrapes |
//! | Stripe | `stripe_webhook_events_total{status}` | Δsucceeded / Δall ≥ minimum; no events: inconclusive |
//! | analytics | `analytics_aggregation_last_success_timestamp_seconds` | now − value ≤ max age |
//! | auth failures | `auth_failures_total{reason}` (summed) | Δ ≤ baseline/min × factor × max(1, minutes) |
//! | IP anomalies | `ip_anomaly_events_total` | Δ ≤ baseline/min × factor × max(1, minutes) |
//!
//! Deltas use [`counter_delta`] (resets count from zero); a series that appears only
//! in the end scrape started at zero.

use std::collections::{BTreeMap, BTreeSet};

use prometheus_parse::{Scrape, Value};

use crate::settings::Thresholds;
use crate::stats::{counter_delta, judge_rate};
use crate::verdict::Verdict;

/// A line of the exposition that is not valid text format.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed Prometheus exposition at line {line}: {reason}: {text:?}")]
pub struct MalformedExposition {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
    /// The line (first 120 characters).
    pub text: String,
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn parse_float(s: &str) -> Option<f64> {
    match s {
        "NaN" | "nan" => Some(f64::NAN),
        "+Inf" | "Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse::<f64>().ok(),
    }
}

/// Check one sample line; `Err(reason)` when malformed.
fn check_sample_line(line: &str) -> Result<(), String> {
    let mut chars = line.char_indices().peekable();
    match chars.next() {
        Some((_, c)) if is_name_start(c) => {}
        _ => return Err("a sample must start with a metric name".into()),
    }
    let mut rest_at = line.len();
    while let Some(&(i, c)) = chars.peek() {
        if is_name_char(c) {
            chars.next();
        } else {
            rest_at = i;
            break;
        }
    }
    let mut rest = &line[rest_at..];
    if let Some(after) = rest.strip_prefix('{') {
        // name="value" pairs with \\, \" and \n escapes, comma separated.
        let mut s = after;
        loop {
            s = s.trim_start();
            if let Some(r) = s.strip_prefix('}') {
                rest = r;
                break;
            }
            let name_len = s.find(|c: char| !is_name_char(c)).unwrap_or(s.len());
            if name_len == 0 || !s.starts_with(is_name_start) {
                return Err("a label must start with a label name".into());
            }
            s = s[name_len..].trim_start();
            s = s
                .strip_prefix('=')
                .ok_or("a label name must be followed by `=`")?
                .trim_start();
            s = s.strip_prefix('"').ok_or("a label value must be quoted")?;
            let mut end = None;
            let mut escaped = false;
            for (i, c) in s.char_indices() {
                if escaped {
                    if !matches!(c, '\\' | '"' | 'n') {
                        return Err(format!("unknown escape `\\{c}` in a label value"));
                    }
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    end = Some(i);
                    break;
                } else if c == '\n' {
                    break;
                }
            }
            let end = end.ok_or("unterminated label value")?;
            s = s[end + 1..].trim_start();
            if let Some(r) = s.strip_prefix(',') {
                s = r;
            } else if !s.starts_with('}') {
                return Err("labels must be separated by `,` and closed by `}`".into());
            }
        }
    }
    if !rest.starts_with([' ', '\t']) {
        return Err("the metric must be followed by whitespace and a value".into());
    }
    let mut fields = rest.split_whitespace();
    let value = fields.next().ok_or("missing value")?;
    if parse_float(value).is_none() {
        return Err(format!("value `{value}` is not a number"));
    }
    if let Some(ts) = fields.next()
        && ts.parse::<i64>().is_err()
    {
        return Err(format!("timestamp `{ts}` is not an integer"));
    }
    if let Some(extra) = fields.next() {
        return Err(format!("unexpected `{extra}` after the value"));
    }
    Ok(())
}

/// Check every line of a text exposition (format 0.0.4; `# EOF` accepted).
pub fn validate_exposition(text: &str) -> Result<(), MalformedExposition> {
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        check_sample_line(line).map_err(|reason| MalformedExposition {
            line: i + 1,
            reason,
            text: line.chars().take(120).collect(),
        })?;
    }
    Ok(())
}

/// The samples of one metric name: label set and value.
pub type Samples = Vec<(BTreeMap<String, String>, f64)>;

/// One scrape: scalar samples by name and label set (histograms and summaries left out).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    samples: BTreeMap<String, Samples>,
}

impl Snapshot {
    /// Validate and parse an exposition.
    pub fn parse(text: &str) -> Result<Self, MalformedExposition> {
        validate_exposition(text)?;
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).map_err(|e| {
            MalformedExposition {
                line: 0,
                reason: e.to_string(),
                text: String::new(),
            }
        })?;
        let mut samples: BTreeMap<String, Samples> = BTreeMap::new();
        for s in scrape.samples {
            let v = match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                Value::Histogram(_) | Value::Summary(_) => continue,
            };
            let labels: BTreeMap<String, String> = s
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            samples.entry(s.metric).or_default().push((labels, v));
        }
        Ok(Self { samples })
    }

    /// Whether any sample of `name` exists.
    pub fn has(&self, name: &str) -> bool {
        self.samples.get(name).is_some_and(|v| !v.is_empty())
    }

    /// Every sample of `name`.
    pub fn series(&self, name: &str) -> &[(BTreeMap<String, String>, f64)] {
        self.samples.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Values of `name` summed per value of label `key` (missing label: `""`).
    pub fn by_label(&self, name: &str, key: &str) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for (labels, v) in self.series(name) {
            *out.entry(labels.get(key).cloned().unwrap_or_default())
                .or_insert(0.0) += v;
        }
        out
    }

    /// Sum of every sample of `name`.
    pub fn total(&self, name: &str) -> f64 {
        self.series(name).iter().fold(0.0, |acc, (_, v)| acc + v)
    }

    /// Names present (for messages).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.samples.keys().map(String::as_str)
    }
}

/// A series the gate needs is absent: the target does not expose it.
fn missing(name: &str, which: &str) -> String {
    format!(
        "the {which} scrape has no `{name}` samples (hint: StageOS must expose it on /metrics; the contract lists it)"
    )
}

/// Increase per label value between two scrapes (resets and new series handled).
pub fn deltas_by_label(
    start: &Snapshot,
    end: &Snapshot,
    name: &str,
    key: &str,
) -> BTreeMap<String, f64> {
    let a = start.by_label(name, key);
    let b = end.by_label(name, key);
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .map(|k| {
            (
                k.clone(),
                counter_delta(
                    a.get(k).copied().unwrap_or(0.0),
                    b.get(k).copied().unwrap_or(0.0),
                ),
            )
        })
        .collect()
}

/// Every queue at or below its depth limit (end scrape).
pub fn gate_queue_depth(end: &Snapshot, th: &Thresholds) -> Result<Verdict, String> {
    if !end.has("queue_depth") {
        return Err(missing("queue_depth", "end"));
    }
    let depths = end.by_label("queue_depth", "queue");
    let over: Vec<String> = depths
        .iter()
        .filter(|(q, d)| **d > th.queue_limit(q))
        .map(|(q, d)| format!("{q}={d} (limit {})", th.queue_limit(q)))
        .collect();
    let all: Vec<String> = depths
        .iter()
        .map(|(q, d)| format!("{q}={d} ≤ {}", th.queue_limit(q)))
        .collect();
    Ok(if over.is_empty() {
        Verdict::Pass {
            summary: format!("queue depth {}", all.join(", ")),
        }
    } else {
        Verdict::fail(
            "queue depth per queue",
            format!("each queue ≤ its limit (default {})", th.queue_depth_max),
            over.join(", "),
        )
    })
}

/// No queue's `jobs_failed_total` rose during the run.
pub fn gate_jobs_failed(start: &Snapshot, end: &Snapshot) -> Result<Verdict, String> {
    for (s, which) in [(start, "start"), (end, "end")] {
        if !s.has("jobs_failed_total") {
            return Err(missing("jobs_failed_total", which));
        }
    }
    let d = deltas_by_label(start, end, "jobs_failed_total", "queue");
    let rising: Vec<String> = d
        .iter()
        .filter(|(_, v)| **v > 0.0)
        .map(|(q, v)| format!("{q} +{v}"))
        .collect();
    Ok(if rising.is_empty() {
        Verdict::Pass {
            summary: format!("no failed jobs in {} queues during the run", d.len()),
        }
    } else {
        Verdict::fail(
            "jobs_failed_total increase during the run",
            "no increase in any queue",
            rising.join(", "),
        )
    })
}

/// Stripe webhook success ratio over the run.
pub fn gate_stripe(start: &Snapshot, end: &Snapshot, min_ratio: f64) -> Result<Verdict, String> {
    for (s, which) in [(start, "start"), (end, "end")] {
        if !s.has("stripe_webhook_events_total") {
            return Err(missing("stripe_webhook_events_total", which));
        }
    }
    let d = deltas_by_label(start, end, "stripe_webhook_events_total", "status");
    let all: f64 = d.values().sum();
    let ok = d.get("succeeded").copied().unwrap_or(0.0);
    if all <= 0.0 {
        return Ok(Verdict::inconclusive(
            "no Stripe webhook events arrived during the run",
        ));
    }
    let ratio = ok / all;
    let detail: Vec<String> = d.iter().map(|(k, v)| format!("{k} +{v}")).collect();
    let actual = format!("{:.1} % ({})", ratio * 100.0, detail.join(", "));
    let expected = format!("≥ {:.1} %", min_ratio * 100.0);
    Ok(if ratio < min_ratio {
        Verdict::fail(
            "Stripe webhook success ratio during the run",
            expected,
            actual,
        )
    } else {
        Verdict::Pass {
            summary: format!("Stripe webhook success {actual}, {expected}"),
        }
    })
}

/// The analytics aggregation succeeded recently enough.
pub fn gate_analytics(end: &Snapshot, now_unix: f64, max_age_s: f64) -> Result<Verdict, String> {
    const NAME: &str = "analytics_aggregation_last_success_timestamp_seconds";
    let Some(last) = end
        .series(NAME)
        .iter()
        .map(|(_, v)| *v)
        .filter(|v| v.is_finite())
        .reduce(f64::max)
    else {
        return Err(missing(NAME, "end"));
    };
    let age = now_unix - last;
    let expected = format!("≤ {max_age_s:.0} s old");
    let actual = format!("{age:.0} s old (last success at unix {last:.0})");
    Ok(if age > max_age_s {
        Verdict::fail("analytics aggregation freshness", expected, actual)
    } else {
        Verdict::Pass {
            summary: format!("analytics aggregation {actual}, {expected}"),
        }
    })
}

/// Auth failures (all reasons) not above baseline × factor.
pub fn gate_auth_failures(
    start: &Snapshot,
    end: &Snapshot,
    minutes: f64,
    th: &Thresholds,
) -> Result<Verdict, String> {
    for (s, which) in [(start, "start"), (end, "end")] {
        if !s.has("auth_failures_total") {
            return Err(missing("auth_failures_total", which));
        }
    }
    let inc: f64 = deltas_by_label(start, end, "auth_failures_total", "reason")
        .values()
        .sum();
    Ok(judge_rate(
        "auth_failures_total increase",
        inc,
        minutes,
        th.auth_failures_baseline_per_min,
        th.spike_factor,
    ))
}

/// IP anomaly events not above baseline × factor.
pub fn gate_ip_anomalies(
    start: &Snapshot,
    end: &Snapshot,
    minutes: f64,
    th: &Thresholds,
) -> Result<Verdict, String> {
    for (s, which) in [(start, "start"), (end, "end")] {
        if !s.has("ip_anomaly_events_total") {
            return Err(missing("ip_anomaly_events_total", which));
        }
    }
    let inc = counter_delta(
        start.total("ip_anomaly_events_total"),
        end.total("ip_anomaly_events_total"),
    );
    Ok(judge_rate(
        "ip_anomaly_events_total increase",
        inc,
        minutes,
        th.ip_anomaly_baseline_per_min,
        th.spike_factor,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A realistic exposition: what prometheus-client writes for StageOS, with a
    /// histogram, a summary, escapes and timestamps.
    const REALISTIC: &str = r#"# HELP http_request_duration_seconds HTTP request latency.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_sum{method="GET",route="/api/me",status="200"} 0.25
http_request_duration_seconds_count{method="GET",route="/api/me",status="200"} 10
http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/me",status="200"} 2
http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/api/me",status="200"} 10
# HELP rpc_duration_seconds A summary.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.5"} 0.01
rpc_duration_seconds_sum 1.5
rpc_duration_seconds_count 100
# TYPE queue_depth gauge
queue_depth{queue="pdf"} 3
queue_depth{queue="scan"} 0
# TYPE jobs_failed counter
jobs_failed_total{queue="pdf"} 1
jobs_failed_total{queue="scan"} 0
# TYPE stripe_webhook_events counter
stripe_webhook_events_total{status="succeeded"} 40
stripe_webhook_events_total{status="failed"} 1
analytics_aggregation_last_success_timestamp_seconds 1700000000.5
auth_failures_total{reason="invalid_credentials"} 4 1700000000000
auth_failures_total{reason="invalid_mfa_code"} 1
ip_anomaly_events_total 0
escaped{path="a\"b\\c\nd"} 1
# EOF
"#;

    fn with(text: &str, replace: &[(&str, &str)]) -> Snapshot {
        let mut t = text.to_owned();
        for (a, b) in replace {
            t = t.replace(a, b);
        }
        Snapshot::parse(&t).unwrap()
    }

    #[test]
    fn realistic_exposition_parses() {
        let s = Snapshot::parse(REALISTIC).unwrap();
        assert_eq!(s.by_label("queue_depth", "queue").get("pdf"), Some(&3.0));
        assert_eq!(s.total("auth_failures_total"), 5.0);
        assert!(s.has("escaped"));
        assert!(
            !s.has("http_request_duration_seconds_bucket"),
            "histogram buckets are grouped, not scalars"
        );
    }

    #[test]
    fn malformed_lines_are_errors_with_their_number() {
        for (bad, why) in [
            ("queue_depth{queue=\"pdf\" 3", "labels"),
            ("queue_depth{queue=\"pdf\"} three", "not a number"),
            ("queue_depth{queue=pdf} 3", "quoted"),
            ("queue_depth 3 12.5", "timestamp"),
            ("queue_depth 3 1 extra", "unexpected"),
            ("{queue=\"pdf\"} 3", "metric name"),
            ("queue_depth", "whitespace"),
            ("queue_depth{queue=\"p\\qdf\"} 3", "escape"),
        ] {
            let text = format!("# TYPE queue_depth gauge\n{bad}\n");
            let e = Snapshot::parse(&text).unwrap_err();
            assert_eq!(e.line, 2, "{bad}");
            assert!(e.reason.contains(why), "{bad}: {e}");
        }
        // Special values are fine.
        Snapshot::parse("a NaN\nb +Inf\nc -Inf\nd 1e-3\ne{x=\"1\",} 2\n").unwrap();
    }

    #[test]
    fn queue_depth_gate() {
        let th = Thresholds::default();
        let s = Snapshot::parse(REALISTIC).unwrap();
        assert!(matches!(
            gate_queue_depth(&s, &th),
            Ok(Verdict::Pass { .. })
        ));
        let high = with(
            REALISTIC,
            &[(
                "queue_depth{queue=\"pdf\"} 3",
                "queue_depth{queue=\"pdf\"} 5000",
            )],
        );
        match gate_queue_depth(&high, &th).unwrap() {
            Verdict::Fail { actual, .. } => assert!(actual.contains("pdf=5000"), "{actual}"),
            other => panic!("{other:?}"),
        }
        let per = Thresholds {
            queue_depth_max_per_queue: [("pdf".to_owned(), 2.0)].into(),
            ..Thresholds::default()
        };
        assert!(matches!(
            gate_queue_depth(&s, &per),
            Ok(Verdict::Fail { .. })
        ));
        assert!(
            gate_queue_depth(&Snapshot::default(), &th).is_err(),
            "absent series: could not check"
        );
    }

    #[test]
    fn failed_jobs_compare_deltas_and_survive_resets() {
        let start = Snapshot::parse(REALISTIC).unwrap();
        assert!(
            matches!(gate_jobs_failed(&start, &start), Ok(Verdict::Pass { .. })),
            "a failure before the run is not this run's"
        );
        let rose = with(
            REALISTIC,
            &[(
                "jobs_failed_total{queue=\"pdf\"} 1",
                "jobs_failed_total{queue=\"pdf\"} 3",
            )],
        );
        match gate_jobs_failed(&start, &rose).unwrap() {
            Verdict::Fail { actual, .. } => assert_eq!(actual, "pdf +2"),
            other => panic!("{other:?}"),
        }
        // Restart: the counter went from 1 to 0 → no increase; to 2 after a reset → +2.
        let reset = with(
            REALISTIC,
            &[(
                "jobs_failed_total{queue=\"pdf\"} 1",
                "jobs_failed_total{queue=\"pdf\"} 0",
            )],
        );
        assert!(matches!(
            gate_jobs_failed(&start, &reset),
            Ok(Verdict::Pass { .. })
        ));
        let start_high = with(
            REALISTIC,
            &[(
                "jobs_failed_total{queue=\"pdf\"} 1",
                "jobs_failed_total{queue=\"pdf\"} 9",
            )],
        );
        let after_reset = with(
            REALISTIC,
            &[(
                "jobs_failed_total{queue=\"pdf\"} 1",
                "jobs_failed_total{queue=\"pdf\"} 2",
            )],
        );
        assert!(matches!(
            gate_jobs_failed(&start_high, &after_reset),
            Ok(Verdict::Fail { .. })
        ));
        // A queue that appears only at the end started at zero.
        let new_queue = with(
            REALISTIC,
            &[(
                "jobs_failed_total{queue=\"scan\"} 0",
                "jobs_failed_total{queue=\"scan\"} 0\njobs_failed_total{queue=\"mail\"} 1",
            )],
        );
        assert!(matches!(
            gate_jobs_failed(&start, &new_queue),
            Ok(Verdict::Fail { .. })
        ));
    }

    #[test]
    fn stripe_ratio_over_the_window() {
        let th = 0.98;
        let start = Snapshot::parse(REALISTIC).unwrap();
        assert!(
            matches!(
                gate_stripe(&start, &start, th),
                Ok(Verdict::Inconclusive { .. })
            ),
            "no events: not a pass"
        );
        let good = with(
            REALISTIC,
            &[("status=\"succeeded\"} 40", "status=\"succeeded\"} 140")],
        );
        assert!(matches!(
            gate_stripe(&start, &good, th),
            Ok(Verdict::Pass { .. })
        ));
        let bad = with(
            REALISTIC,
            &[
                ("status=\"succeeded\"} 40", "status=\"succeeded\"} 45"),
                ("status=\"failed\"} 1", "status=\"failed\"} 6"),
            ],
        );
        match gate_stripe(&start, &bad, th).unwrap() {
            Verdict::Fail { actual, .. } => assert!(actual.starts_with("50.0 %"), "{actual}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn analytics_freshness() {
        let s = Snapshot::parse(REALISTIC).unwrap();
        assert!(matches!(
            gate_analytics(&s, 1_700_000_100.0, 3600.0),
            Ok(Verdict::Pass { .. })
        ));
        assert!(matches!(
            gate_analytics(&s, 1_700_000_000.0 + 3.0 * 86400.0, 26.0 * 3600.0),
            Ok(Verdict::Fail { .. })
        ));
        assert!(gate_analytics(&Snapshot::default(), 0.0, 1.0).is_err());
    }

    #[test]
    fn auth_and_ip_spikes() {
        let th = Thresholds::default();
        let start = Snapshot::parse(REALISTIC).unwrap();
        let few = with(
            REALISTIC,
            &[(
                "reason=\"invalid_credentials\"} 4",
                "reason=\"invalid_credentials\"} 10",
            )],
        );
        assert!(matches!(
            gate_auth_failures(&start, &few, 0.1, &th),
            Ok(Verdict::Pass { .. })
        ));
        let spike = with(
            REALISTIC,
            &[(
                "reason=\"invalid_credentials\"} 4",
                "reason=\"invalid_credentials\"} 504",
            )],
        );
        assert!(matches!(
            gate_auth_failures(&start, &spike, 0.1, &th),
            Ok(Verdict::Fail { .. })
        ));
        let anomalies = with(
            REALISTIC,
            &[("ip_anomaly_events_total 0", "ip_anomaly_events_total 50")],
        );
        assert!(matches!(
            gate_ip_anomalies(&start, &anomalies, 0.1, &th),
            Ok(Verdict::Fail { .. })
        ));
        assert!(matches!(
            gate_ip_anomalies(&start, &start, 0.1, &th),
            Ok(Verdict::Pass { .. })
        ));
    }
}
