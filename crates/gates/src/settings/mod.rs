//! Gate settings: thresholds per profile (`[profiles.NAME.gates]` in
//! `suites/profiles.toml`), deployment facts per environment
//! (`[environments.NAME.gates]` in the config file), and `STAGEOS_*` variables.
//!
//! ```toml
//! [environments.production.gates]
//! expect_version = "v1.4.0-20261125"          # or --expect-version / STAGEOS_EXPECT_VERSION
//! history_file = "reports/step-history.json"  # the suite's own latency history
//! [environments.production.gates.services]    # every service must report the same release
//! worker = "https://worker.stageos.example/api/health"
//! web = "https://stageos.example/api/health"
//! [environments.production.gates.cloudwatch]  # absent: the CloudWatch gates are skipped
//! region = "eu-west-1"
//! load_balancer = "app/stageos-prod/50dc6c495c0c9188"
//! deployed_at = "2026-11-25T14:00:00Z"        # or STAGEOS_DEPLOYED_AT (RFC 3339 or unix seconds)
//! # endpoint_url = "http://127.0.0.1:4566"     # an emulator; loopback gets fake static credentials
//! ```
//!
//! Variables: `STAGEOS_EXPECT_VERSION`, `STAGEOS_EXPECT_COMMIT`, `STAGEOS_DEPLOYED_AT`,
//! `STAGEOS_CLOUDWATCH_LOAD_BALANCER` (enables the CloudWatch gates on its own, with
//! `STAGEOS_CLOUDWATCH_REGION`, default `us-east-1`), `STAGEOS_CLOUDWATCH_ENDPOINT`,
//! `STAGEOS_GATES_AT` (judge as of this time instead of now: replaying a past deploy),
//! `STAGEOS_HISTORY_FILE`.

pub mod release;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::stats::{self, BaselineKind, BurnRule, P95Rule};
use crate::verdict::OnInconclusive;
use stageos_smoke_model::config::{ConfigError, EnvSnapshot};

/// Variable: expected release version.
pub const EXPECT_VERSION_VAR: &str = "STAGEOS_EXPECT_VERSION";
/// Variable: expected release commit.
pub const EXPECT_COMMIT_VAR: &str = "STAGEOS_EXPECT_COMMIT";
/// Variable: deploy time.
pub const DEPLOYED_AT_VAR: &str = "STAGEOS_DEPLOYED_AT";
/// Variable: the ALB's `LoadBalancer` dimension value.
pub const CW_LOAD_BALANCER_VAR: &str = "STAGEOS_CLOUDWATCH_LOAD_BALANCER";
/// Variable: CloudWatch region.
pub const CW_REGION_VAR: &str = "STAGEOS_CLOUDWATCH_REGION";
/// Variable: CloudWatch endpoint (an emulator).
pub const CW_ENDPOINT_VAR: &str = "STAGEOS_CLOUDWATCH_ENDPOINT";
/// Variable: judge as of this time.
pub const GATES_AT_VAR: &str = "STAGEOS_GATES_AT";
/// Variable: the suite's latency history file.
pub const HISTORY_FILE_VAR: &str = "STAGEOS_HISTORY_FILE";

/// An alarm that must exist and be enabled.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlarmRequirement {
    /// What it guards, for messages (`API latency`).
    pub purpose: String,
    /// Namespace of the alarm's metric.
    pub namespace: String,
    /// Metric name of the alarm.
    pub metric: String,
    /// Alarm name prefix, when the metric alone is ambiguous.
    #[serde(default)]
    pub name_prefix: Option<String>,
}

fn default_alarms() -> Vec<AlarmRequirement> {
    let a = |purpose: &str, namespace: &str, metric: &str| AlarmRequirement {
        purpose: purpose.into(),
        namespace: namespace.into(),
        metric: metric.into(),
        name_prefix: None,
    };
    vec![
        a("API latency", "AWS/ApplicationELB", "TargetResponseTime"),
        a(
            "5xx rate",
            "AWS/ApplicationELB",
            "HTTPCode_Target_5XX_Count",
        ),
        a("queue failures", "StageOS", "JobsFailed"),
        a("DB CPU", "AWS/RDS", "CPUUtilization"),
    ]
}

/// Thresholds of one profile.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// What an inconclusive verdict becomes: `skip` (default) or `error`.
    pub on_inconclusive: OnInconclusive,
    /// Largest queue depth of any queue.
    pub queue_depth_max: f64,
    /// Per-queue overrides of `queue_depth_max`.
    pub queue_depth_max_per_queue: BTreeMap<String, f64>,
    /// Smallest Stripe webhook success ratio over the run.
    pub stripe_success_ratio_min: f64,
    /// Oldest acceptable analytics aggregation, seconds.
    pub analytics_max_age_s: f64,
    /// Normal auth failures per minute.
    pub auth_failures_baseline_per_min: f64,
    /// Normal IP-anomaly events per minute.
    pub ip_anomaly_baseline_per_min: f64,
    /// A rate above baseline × this factor fails.
    pub spike_factor: f64,
    /// How long the metrics flow observes between its two scrapes, milliseconds.
    pub metrics_observe_ms: u64,
    /// CloudWatch period, seconds (a multiple of 60 dividing one week).
    pub period_s: i64,
    /// Longest window since the deploy that is judged, seconds.
    pub max_window_s: i64,
    /// Baseline windows.
    pub baselines: Vec<BaselineKind>,
    /// P95 may exceed the baseline by this share…
    pub p95_tolerance: f64,
    /// …plus this many milliseconds.
    pub p95_slack_ms: f64,
    /// Fewer requests in a window: inconclusive.
    pub min_requests: u64,
    /// Availability SLO (0.999 = 99.9 % over the SLO period).
    pub slo: f64,
    /// Fail at or above this burn rate.
    pub fast_burn: f64,
    /// Warn at or above this burn rate.
    pub slow_burn: f64,
    /// Alarms that must exist and be enabled.
    pub alarms: Vec<AlarmRequirement>,
    /// The suite's own step p95 may exceed its history by this share…
    pub history_tolerance: f64,
    /// …plus this many milliseconds.
    pub history_slack_ms: f64,
    /// Runs kept per step in the history; fewer than `history_min_runs`: inconclusive.
    pub history_keep_runs: usize,
    /// Runs needed before the history judges.
    pub history_min_runs: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            on_inconclusive: OnInconclusive::Skip,
            queue_depth_max: 100.0,
            queue_depth_max_per_queue: BTreeMap::new(),
            stripe_success_ratio_min: 0.98,
            analytics_max_age_s: 26.0 * 3600.0,
            auth_failures_baseline_per_min: 30.0,
            ip_anomaly_baseline_per_min: 5.0,
            spike_factor: 3.0,
            metrics_observe_ms: 500,
            period_s: 60,
            max_window_s: 3600,
            baselines: vec![BaselineKind::Previous, BaselineKind::WeekAgo],
            p95_tolerance: 0.2,
            p95_slack_ms: 50.0,
            min_requests: 100,
            slo: 0.999,
            fast_burn: stats::FAST_BURN,
            slow_burn: stats::SLOW_BURN,
            alarms: default_alarms(),
            history_tolerance: 0.5,
            history_slack_ms: 100.0,
            history_keep_runs: 20,
            history_min_runs: 3,
        }
    }
}

impl Thresholds {
    /// Check the numbers make sense; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        stats::check_period(self.period_s).map_err(|e| format!("gates.period_s: {e}"))?;
        if !(self.slo > 0.0 && self.slo < 1.0) {
            return Err(format!(
                "gates.slo must be between 0 and 1 (exclusive), got {}",
                self.slo
            ));
        }
        if self.slow_burn > self.fast_burn {
            return Err(format!(
                "gates.slow_burn ({}) must not exceed gates.fast_burn ({})",
                self.slow_burn, self.fast_burn
            ));
        }
        if !(0.0..=1.0).contains(&self.stripe_success_ratio_min) {
            return Err(format!(
                "gates.stripe_success_ratio_min must be within 0..=1, got {}",
                self.stripe_success_ratio_min
            ));
        }
        if self.max_window_s < self.period_s {
            return Err(format!(
                "gates.max_window_s ({}) must be at least gates.period_s ({})",
                self.max_window_s, self.period_s
            ));
        }
        Ok(())
    }

    /// The p95 rule.
    pub fn p95_rule(&self) -> P95Rule {
        P95Rule {
            tolerance: self.p95_tolerance,
            slack_ms: self.p95_slack_ms,
            min_requests: self.min_requests,
        }
    }

    /// The burn rule.
    pub fn burn_rule(&self) -> BurnRule {
        BurnRule {
            slo: self.slo,
            fast_burn: self.fast_burn,
            slow_burn: self.slow_burn,
            min_requests: self.min_requests,
        }
    }

    /// The depth limit of `queue`.
    pub fn queue_limit(&self, queue: &str) -> f64 {
        self.queue_depth_max_per_queue
            .get(queue)
            .copied()
            .unwrap_or(self.queue_depth_max)
    }
}

/// `[environments.NAME.cloudwatch]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CloudWatchFileConfig {
    /// Region (default `us-east-1`).
    pub region: Option<String>,
    /// Endpoint URL (an emulator); unset: the AWS default.
    pub endpoint_url: Option<String>,
    /// The ALB's `LoadBalancer` dimension value.
    pub load_balancer: Option<String>,
    /// Namespace of the ALB metrics (default `AWS/ApplicationELB`).
    pub namespace: Option<String>,
    /// Deploy time, RFC 3339 or unix seconds.
    pub deployed_at: Option<String>,
}

/// `[environments.NAME.gates]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GatesFileConfig {
    /// Expected release version.
    pub expect_version: Option<String>,
    /// Expected release commit.
    pub expect_commit: Option<String>,
    /// Health URLs of the other services (name → URL).
    #[serde(default)]
    pub services: BTreeMap<String, String>,
    /// CloudWatch.
    pub cloudwatch: Option<CloudWatchFileConfig>,
    /// The suite's latency history file.
    pub history_file: Option<PathBuf>,
    /// Release-readiness gates and their AWS resources (see [`crate::release`]).
    pub release: Option<release::ReleaseFileConfig>,
}

/// Resolved CloudWatch settings.
#[derive(Clone, Debug, PartialEq)]
pub struct CloudWatchSettings {
    /// Region.
    pub region: String,
    /// Endpoint override (an emulator).
    pub endpoint_url: Option<Url>,
    /// The `LoadBalancer` dimension value.
    pub load_balancer: String,
    /// The ALB namespace.
    pub namespace: String,
    /// Deploy time, unix seconds.
    pub deployed_at: Option<i64>,
}

impl CloudWatchSettings {
    /// Whether the endpoint is an emulator on this machine (gets fake static credentials).
    pub fn is_loopback(&self) -> bool {
        self.endpoint_url.as_ref().is_some_and(is_loopback)
    }
}

/// Whether a URL points at this machine.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// Everything the gates need, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct GateSettings {
    /// Profile thresholds.
    pub thresholds: Thresholds,
    /// Expected version.
    pub expect_version: Option<String>,
    /// Expected commit.
    pub expect_commit: Option<String>,
    /// Other services' health URLs.
    pub services: BTreeMap<String, Url>,
    /// CloudWatch, when configured.
    pub cloudwatch: Option<CloudWatchSettings>,
    /// Judge as of this unix time instead of now.
    pub evaluate_at: Option<i64>,
    /// The suite's latency history file.
    pub history_file: Option<PathBuf>,
    /// Where the canary publishes (region and endpoint; no load balancer needed).
    pub publish_to: CloudWatchSettings,
    /// Release-readiness gates (see [`crate::release`]).
    pub release: release::ReleaseSettings,
}

impl Default for GateSettings {
    fn default() -> Self {
        Self {
            thresholds: Thresholds::default(),
            expect_version: None,
            expect_commit: None,
            services: BTreeMap::new(),
            cloudwatch: None,
            evaluate_at: None,
            history_file: None,
            publish_to: CloudWatchSettings {
                region: "us-east-1".into(),
                endpoint_url: None,
                load_balancer: String::new(),
                namespace: "AWS/ApplicationELB".into(),
                deployed_at: None,
            },
            release: release::ReleaseSettings::default(),
        }
    }
}

impl GateSettings {
    /// The evaluation time, unix seconds.
    pub fn now(&self) -> i64 {
        self.evaluate_at
            .unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp())
    }
}

/// Parse RFC 3339 or unix seconds.
pub fn parse_time(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i64>() {
        return Some(n);
    }
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|d| d.unix_timestamp())
}

fn invalid(what: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        what: what.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

/// Resolve flag > variable > file for the gates.
pub fn resolve(
    file: Option<&GatesFileConfig>,
    thresholds: &Thresholds,
    env: &EnvSnapshot,
    expect_version_flag: Option<&str>,
) -> Result<GateSettings, ConfigError> {
    thresholds
        .validate()
        .map_err(|e| invalid("profile gates", "suites/profiles.toml", e))?;
    let file = file.cloned().unwrap_or_default();
    let expect_version = expect_version_flag
        .map(str::to_owned)
        .or_else(|| env.get(EXPECT_VERSION_VAR).map(str::to_owned))
        .or(file.expect_version);
    let expect_commit = env
        .get(EXPECT_COMMIT_VAR)
        .map(str::to_owned)
        .or(file.expect_commit);
    let mut services = BTreeMap::new();
    for (name, u) in &file.services {
        let url = Url::parse(u)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                invalid(
                    &format!("gates.services.{name}"),
                    u,
                    "not an http(s) URL (hint: the service's /api/health URL)",
                )
            })?;
        services.insert(name.clone(), url);
    }
    let cw_file = file.cloudwatch.unwrap_or_default();
    let load_balancer = env
        .get(CW_LOAD_BALANCER_VAR)
        .map(str::to_owned)
        .or(cw_file.load_balancer);
    let endpoint_text = env
        .get(CW_ENDPOINT_VAR)
        .map(str::to_owned)
        .or(cw_file.endpoint_url);
    let endpoint_url = match endpoint_text {
        None => None,
        Some(t) => Some(
            Url::parse(&t)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| invalid("CloudWatch endpoint", &t, format!("not an http(s) URL (hint: fix {CW_ENDPOINT_VAR} or gates.cloudwatch.endpoint_url)")))?,
        ),
    };
    let region = env
        .get(CW_REGION_VAR)
        .map(str::to_owned)
        .or(cw_file.region)
        .unwrap_or_else(|| "us-east-1".into());
    let namespace = cw_file
        .namespace
        .unwrap_or_else(|| "AWS/ApplicationELB".into());
    let publish_to = CloudWatchSettings {
        region: region.clone(),
        endpoint_url: endpoint_url.clone(),
        load_balancer: String::new(),
        namespace: namespace.clone(),
        deployed_at: None,
    };
    let cloudwatch = match load_balancer {
        None => None,
        Some(load_balancer) => {
            let deployed_text = env
                .get(DEPLOYED_AT_VAR)
                .map(str::to_owned)
                .or(cw_file.deployed_at);
            let deployed_at = match deployed_text {
                None => None,
                Some(t) => Some(parse_time(&t).ok_or_else(|| {
                    invalid(
                        "deploy time",
                        &t,
                        format!("not RFC 3339 or unix seconds (hint: fix {DEPLOYED_AT_VAR})"),
                    )
                })?),
            };
            Some(CloudWatchSettings {
                region,
                endpoint_url,
                load_balancer,
                namespace,
                deployed_at,
            })
        }
    };
    let evaluate_at = match env.get(GATES_AT_VAR) {
        None => None,
        Some(t) => Some(parse_time(t).ok_or_else(|| {
            invalid(
                "evaluation time",
                t,
                format!("not RFC 3339 or unix seconds (hint: fix {GATES_AT_VAR})"),
            )
        })?),
    };
    let history_file = env
        .get(HISTORY_FILE_VAR)
        .map(PathBuf::from)
        .or(file.history_file);
    let release = release::resolve(file.release.as_ref(), env, &publish_to)?;
    Ok(GateSettings {
        thresholds: thresholds.clone(),
        expect_version,
        expect_commit,
        services,
        cloudwatch,
        evaluate_at,
        history_file,
        publish_to,
        release,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        Thresholds::default().validate().unwrap();
    }

    #[test]
    fn bad_thresholds_name_the_key() {
        let t = Thresholds {
            period_s: 90,
            ..Thresholds::default()
        };
        assert!(t.validate().unwrap_err().contains("period_s"));
        let t = Thresholds {
            slo: 1.0,
            ..Thresholds::default()
        };
        assert!(t.validate().unwrap_err().contains("slo"));
    }

    #[test]
    fn cloudwatch_only_with_a_load_balancer() {
        let env = EnvSnapshot::from_pairs([(CW_ENDPOINT_VAR, "http://127.0.0.1:4566")]);
        let s = resolve(None, &Thresholds::default(), &env, None).unwrap();
        assert!(s.cloudwatch.is_none());
        let env = EnvSnapshot::from_pairs([
            (CW_ENDPOINT_VAR, "http://127.0.0.1:4566"),
            (CW_LOAD_BALANCER_VAR, "app/x/1"),
            (DEPLOYED_AT_VAR, "2026-11-25T14:00:00Z"),
        ]);
        let s = resolve(None, &Thresholds::default(), &env, Some("v2")).unwrap();
        let cw = s.cloudwatch.unwrap();
        assert!(cw.is_loopback());
        assert_eq!(cw.deployed_at, Some(1_795_615_200));
        assert_eq!(s.expect_version.as_deref(), Some("v2"));
    }

    #[test]
    fn times_parse() {
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000));
        assert_eq!(parse_time("1970-01-01T00:01:00Z"), Some(60));
        assert_eq!(parse_time("yesterday"), None);
    }
}
