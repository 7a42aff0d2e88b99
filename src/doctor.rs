//! `stageos-smoke doctor`: check a configuration without running any flow.
//!
//! One line per check, each saying what to fix when it is not right:
//!
//! | check | passes when |
//! |---|---|
//! | `config` | flags, `STAGEOS_*` variables and the config file resolve |
//! | `credentials` | every login and the TOTP seed the selected flows need are set (values never printed) |
//! | `target` | `GET /api/health` answers (any 2xx; a 5xx is a warning: reachable but unhealthy) |
//! | `clock` | this machine's clock is within the TOTP tolerance (±30 s) of the target's `Date` header |
//! | `cloudwatch` | CloudWatch answers `DescribeAlarms`, when CloudWatch is configured |
//!
//! The verdict: exit 0 when no check failed (warnings and skipped checks allowed),
//! 3 ("could not check") otherwise.

use std::fmt::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::catalogue;
use crate::config::{EnvSnapshot, Overrides, Settings, TargetSpec, required_secrets};
use crate::credentials::{OWNER_TOTP_SECRET_VAR, totp_from_base32};
use crate::exit::ExitStatus;
use crate::http::{HttpContext, Recorder, Session};
use crate::report::terminal::Style;
use crate::secrets::Redactor;
use crate::selection::Selection;

/// The TOTP window the target accepts: one 30 s step either side.
pub const TOTP_TOLERANCE_S: f64 = 30.0;

/// How one check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckStatus {
    /// Fine.
    Ok,
    /// Worth a look, does not fail the doctor.
    Warn,
    /// Must be fixed before a run can be trusted.
    Fail,
    /// Not applicable, or not possible because an earlier check failed.
    Skipped,
}

impl CheckStatus {
    fn word(self) -> &'static str {
        match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Warn => "WARN",
            CheckStatus::Fail => "FAIL",
            CheckStatus::Skipped => "skip",
        }
    }

    fn color(self) -> &'static str {
        match self {
            CheckStatus::Ok => "32",
            CheckStatus::Warn => "1;33",
            CheckStatus::Fail => "1;31",
            CheckStatus::Skipped => "2",
        }
    }
}

/// One check: its name, its status, and one line saying what was found and, when
/// it is not ok, what to do (`(hint: …)`).
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// `config`, `credentials`, `target`, `clock`, `cloudwatch`.
    pub name: &'static str,
    /// Outcome.
    pub status: CheckStatus,
    /// One line.
    pub detail: String,
}

impl Check {
    fn new(name: &'static str, status: CheckStatus, detail: impl Into<String>) -> Self {
        Self {
            name,
            status,
            detail: detail.into(),
        }
    }
}

/// Every check of one doctor run.
#[derive(Clone, Debug, Default)]
pub struct DoctorReport {
    /// In order.
    pub checks: Vec<Check>,
}

impl DoctorReport {
    /// 0 when nothing failed, 3 otherwise.
    pub fn exit_status(&self) -> ExitStatus {
        if self.checks.iter().any(|c| c.status == CheckStatus::Fail) {
            ExitStatus::CouldNotCheck
        } else {
            ExitStatus::Passed
        }
    }

    /// The check named `name`.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// One line per check, then the verdict; redacted.
    pub fn render(&self, redactor: &Redactor, style: Style) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let word = format!("{:<4}", c.status.word());
            let word = if style.color {
                format!("\x1b[{}m{word}\x1b[0m", c.status.color())
            } else {
                word
            };
            let _ = writeln!(
                out,
                "{word} {:<11} {}",
                c.name,
                c.detail.split_whitespace().collect::<Vec<_>>().join(" ")
            );
        }
        let failed = self
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Fail)
            .count();
        let warned = self
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Warn)
            .count();
        let _ = match (failed, warned) {
            (0, 0) => writeln!(out, "doctor: all good"),
            (0, w) => writeln!(out, "doctor: usable, {w} warning(s) above"),
            (f, _) => writeln!(
                out,
                "doctor: {f} problem(s): fix the FAIL lines above, then run doctor again"
            ),
        };
        redactor.redact(&out)
    }
}

pub use crate::http::parse_http_date;

/// Seconds the target's clock is ahead of ours (negative: behind). `Date` has a
/// resolution of one second and truncates, so the server's time is taken as the
/// middle of that second; ours as the middle of the request.
pub fn clock_skew_s(server_date: OffsetDateTime, local_mid: OffsetDateTime) -> f64 {
    (server_date - local_mid).as_seconds_f64() + 0.5
}

/// Judge a skew against the TOTP tolerance. When no selected flow uses TOTP a
/// skew is only a warning.
pub fn judge_skew(skew_s: f64, totp_needed: bool) -> Check {
    let abs = skew_s.abs();
    let dir = if skew_s > 0.0 { "behind" } else { "ahead of" };
    if abs <= TOTP_TOLERANCE_S {
        return Check::new(
            "clock",
            CheckStatus::Ok,
            format!(
                "within {abs:.0} s of the target's clock (TOTP allows ±{TOTP_TOLERANCE_S:.0} s)"
            ),
        );
    }
    let status = if totp_needed {
        CheckStatus::Fail
    } else {
        CheckStatus::Warn
    };
    Check::new(
        "clock",
        status,
        format!(
            "this machine's clock is {abs:.0} s {dir} the target's; TOTP allows ±{TOTP_TOLERANCE_S:.0} s, so MFA logins {} \
             (hint: sync the clock with NTP, e.g. `timedatectl set-ntp true` or chrony, on the runner or the server)",
            if totp_needed {
                "will fail"
            } else {
                "would fail (no selected flow uses TOTP)"
            }
        ),
    )
}

fn skip(name: &'static str, why: &str) -> Check {
    Check::new(name, CheckStatus::Skipped, why)
}

/// Run every check for the configuration `overrides` + `env` and the steps
/// `selection` picks.
pub async fn run(
    overrides: &Overrides,
    selection: &Selection,
    env: &EnvSnapshot,
    redactor: &Redactor,
) -> DoctorReport {
    let mut report = DoctorReport::default();
    let settings = match Settings::resolve(overrides, env) {
        Ok(s) => s,
        Err(e) => {
            report
                .checks
                .push(Check::new("config", CheckStatus::Fail, e.to_string()));
            for name in ["credentials", "webhooks", "target", "clock", "cloudwatch"] {
                report
                    .checks
                    .push(skip(name, "needs a valid configuration"));
            }
            return report;
        }
    };
    let profile_flows = catalogue::profile_flows(&settings.profile);
    let flows = selection.selected_flows(&profile_flows);
    let steps = crate::runner::planned_steps(&profile_flows, selection).len();
    let config_status = if steps == 0 {
        CheckStatus::Fail
    } else {
        CheckStatus::Ok
    };
    report.checks.push(Check::new(
        "config",
        config_status,
        format!(
            "target {}, profile {} ({} flows, {steps} steps selected){}",
            settings.target_label(),
            settings.profile_name,
            flows.len(),
            if steps == 0 { " (hint: the filter or --skip selects nothing; check it against `stageos-smoke list`)" } else { "" }
        ),
    ));
    let (_, totp_needed) = required_secrets(&flows);
    report.checks.push(credentials(&settings, &flows, env));
    report.checks.push(webhooks(&settings, &flows));

    // The target: start the embedded reference, or use the configured URL.
    let (base_url, server) = match &settings.target {
        TargetSpec::Remote { base_url } => (base_url.clone(), None),
        TargetSpec::Embedded { .. } => {
            match crate::target::prepare(&settings, &flows, env, redactor).await {
                Ok(t) => (t.base_url, t.server),
                Err(e) => {
                    report
                        .checks
                        .push(Check::new("target", CheckStatus::Fail, e.to_string()));
                    report
                        .checks
                        .push(skip("clock", "needs a reachable target"));
                    report.checks.push(cloudwatch(&settings).await);
                    return report;
                }
            }
        }
    };
    let (target, clock) = target_and_clock(&settings, &base_url, redactor, totp_needed).await;
    report.checks.push(target);
    report.checks.push(clock);
    if let Some(server) = server {
        server.shutdown().await;
    }
    report.checks.push(cloudwatch(&settings).await);
    report
}

fn credentials(settings: &Settings, flows: &[&catalogue::FlowDef], env: &EnvSnapshot) -> Check {
    if matches!(settings.target, TargetSpec::Embedded { .. }) {
        return Check::new(
            "credentials",
            CheckStatus::Ok,
            "generated by the embedded reference server",
        );
    }
    let (roles, totp) = required_secrets(flows);
    let mut missing = Vec::new();
    for role in &roles {
        if env.get(&role.email_var()).is_none() && !settings.user_emails.contains_key(role) {
            missing.push(role.email_var());
        }
        if env.get(&role.password_var()).is_none() {
            missing.push(role.password_var());
        }
    }
    let mut bad_seed = None;
    if totp {
        match env.get(OWNER_TOTP_SECRET_VAR) {
            None => missing.push(OWNER_TOTP_SECRET_VAR.to_owned()),
            Some(seed) => {
                if let Err(e) = totp_from_base32(seed) {
                    bad_seed = Some(e);
                }
            }
        }
    }
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    if !missing.is_empty() {
        return Check::new(
            "credentials",
            CheckStatus::Fail,
            format!(
                "missing {} for the selected flows (hint: export them from the job's secret store; a login email may instead be set as users.ROLE in the config file)",
                missing.join(", ")
            ),
        );
    }
    if let Some(e) = bad_seed {
        return Check::new(
            "credentials",
            CheckStatus::Fail,
            format!(
                "{OWNER_TOTP_SECRET_VAR}: {e} (hint: use the base32 seed shown when the Owner's MFA was enrolled)"
            ),
        );
    }
    Check::new(
        "credentials",
        CheckStatus::Ok,
        format!(
            "logins for {} present{}",
            if names.is_empty() {
                "no role".to_owned()
            } else {
                names.join(", ")
            },
            if totp { ", Owner TOTP seed valid" } else { "" }
        ),
    )
}

/// How the webhooks flow will observe deliveries, and why.
fn webhooks(settings: &Settings, flows: &[&catalogue::FlowDef]) -> Check {
    if !flows.iter().any(|f| f.id == "webhooks") {
        return skip("webhooks", "the webhooks flow is not selected");
    }
    let w = &settings.webhook;
    match w.mode {
        crate::config::WebhookMode::Receiver => Check::new(
            "webhooks",
            CheckStatus::Ok,
            format!(
                "receiver mode ({}): the receiver binds {}{}",
                w.mode_reason,
                w.bind,
                w.public_url
                    .as_ref()
                    .map(|u| format!(", the target delivers to {u}"))
                    .unwrap_or_default()
            ),
        ),
        crate::config::WebhookMode::DeliveryLog => Check::new(
            "webhooks",
            CheckStatus::Warn,
            format!(
                "delivery-log mode ({}): deliveries are judged by the target's own log (hint: set webhook_public_url and webhook_bind to receive them end to end)",
                w.mode_reason
            ),
        ),
    }
}

async fn target_and_clock(
    settings: &Settings,
    base_url: &url::Url,
    redactor: &Redactor,
    totp_needed: bool,
) -> (Check, Check) {
    let http = HttpContext {
        settings: Arc::new(settings.http.clone()),
        run_id: format!("doctor-{}", uuid::Uuid::new_v4().simple()),
        redactor: redactor.clone(),
        logins: Default::default(),
        clock: Default::default(),
    };
    let session = match Session::new(
        "doctor",
        base_url.clone(),
        http,
        Recorder::new(Instant::now()),
    ) {
        Ok(s) => s,
        Err(e) => {
            return (
                Check::new("target", CheckStatus::Fail, e.to_string()),
                skip("clock", "needs a reachable target"),
            );
        }
    };
    let before = OffsetDateTime::now_utc();
    let started = Instant::now();
    let resp = session.get("/api/health").without_bearer().send().await;
    let elapsed = started.elapsed();
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            return (
                Check::new("target", CheckStatus::Fail, format!("not reachable: {e}")),
                skip("clock", "needs a reachable target"),
            );
        }
    };
    let code = resp.status.as_u16();
    let took = format!(
        "GET {base_url}api/health answered {code} in {:.0} ms",
        elapsed.as_secs_f64() * 1000.0
    );
    let target = match code {
        200..=299 => Check::new("target", CheckStatus::Ok, took),
        404 => Check::new(
            "target",
            CheckStatus::Fail,
            format!(
                "{took} (hint: the base URL must be the StageOS API root, the one that serves /api/health)"
            ),
        ),
        401 | 403 => Check::new(
            "target",
            CheckStatus::Fail,
            format!(
                "{took}: /api/health must not need a login (hint: a proxy, WAF or IP allow-list in front of the target is refusing this runner)"
            ),
        ),
        500..=599 => Check::new(
            "target",
            CheckStatus::Warn,
            format!(
                "{took}: reachable, but it reports itself unhealthy (the health flow will say which dependency)"
            ),
        ),
        _ => Check::new(
            "target",
            CheckStatus::Warn,
            format!("{took}: unexpected for /api/health"),
        ),
    };
    let clock = match resp
        .headers
        .get(reqwest::header::DATE)
        .and_then(|v| v.to_str().ok())
    {
        None => Check::new(
            "clock",
            CheckStatus::Warn,
            "the target sent no Date header, so clock skew cannot be measured (hint: check the runner's clock with NTP)",
        ),
        Some(text) => match parse_http_date(text) {
            None => Check::new(
                "clock",
                CheckStatus::Warn,
                format!("the target's Date header `{text}` is not an HTTP date"),
            ),
            Some(server) => {
                let mid = before + time::Duration::seconds_f64(elapsed.as_secs_f64() / 2.0);
                judge_skew(clock_skew_s(server, mid), totp_needed)
            }
        },
    };
    (target, clock)
}

async fn cloudwatch(settings: &Settings) -> Check {
    let Some(cw) = &settings.gates.cloudwatch else {
        let what = match settings.target {
            crate::config::TargetSpec::Embedded { .. } => {
                "not configured (on the embedded target `run` starts a local emulator for the CloudWatch gates)"
            }
            crate::config::TargetSpec::Remote { .. } => {
                "not configured (the CloudWatch gates will be skipped)"
            }
        };
        return skip("cloudwatch", what);
    };
    let endpoint = cw
        .endpoint_url
        .as_ref()
        .map(|u| u.to_string())
        .unwrap_or_else(|| format!("AWS {}", cw.region));
    let client = crate::gates::cloudwatch::client(cw).await;
    let call = client.describe_alarms().max_records(1).send();
    match tokio::time::timeout(Duration::from_secs(20), call).await {
        Ok(Ok(_)) => Check::new(
            "cloudwatch",
            CheckStatus::Ok,
            format!("{endpoint} answered DescribeAlarms"),
        ),
        Ok(Err(e)) => Check::new(
            "cloudwatch",
            CheckStatus::Fail,
            format!(
                "{endpoint}: DescribeAlarms failed: {} (hint: check the job's AWS credentials, region and cloudwatch:DescribeAlarms/GetMetricData permissions)",
                aws_sdk_cloudwatch::error::DisplayErrorContext(&e)
            ),
        ),
        Err(_) => Check::new(
            "cloudwatch",
            CheckStatus::Fail,
            format!(
                "{endpoint}: no answer to DescribeAlarms within 20 s (hint: check network egress to CloudWatch from this runner)"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse() {
        let t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("IMF-fixdate");
        assert_eq!(t.unix_timestamp(), 784_111_777);
        // RFC 9110 §5.6.7: a recipient MUST accept all three HTTP-date formats.
        for obsolete in ["Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"] {
            let t = parse_http_date(obsolete).expect(obsolete);
            assert_eq!(t.unix_timestamp(), 784_111_777, "{obsolete}");
        }
        assert!(parse_http_date("yesterday").is_none());
    }

    #[test]
    fn skew_is_judged_against_the_totp_window() {
        let local = OffsetDateTime::from_unix_timestamp(1_000_000).unwrap();
        let server = OffsetDateTime::from_unix_timestamp(1_000_042).unwrap();
        let skew = clock_skew_s(server, local);
        assert!((skew - 42.5).abs() < 1e-9);
        let c = judge_skew(skew, true);
        assert_eq!(c.status, CheckStatus::Fail);
        assert!(
            c.detail.contains("42 s behind") || c.detail.contains("43 s behind"),
            "{}",
            c.detail
        );
        assert!(c.detail.contains("hint:"));
        assert_eq!(judge_skew(skew, false).status, CheckStatus::Warn);
        assert_eq!(judge_skew(-29.0, true).status, CheckStatus::Ok);
        assert_eq!(judge_skew(-31.0, true).status, CheckStatus::Fail);
        assert!(judge_skew(-31.0, true).detail.contains("ahead of"));
    }

    #[test]
    fn verdict_and_render() {
        let mut r = DoctorReport::default();
        r.checks.push(Check::new("config", CheckStatus::Ok, "fine"));
        r.checks.push(Check::new(
            "cloudwatch",
            CheckStatus::Skipped,
            "not configured",
        ));
        assert_eq!(r.exit_status(), ExitStatus::Passed);
        assert!(
            r.render(&Redactor::new(), Style::PLAIN)
                .ends_with("doctor: all good\n")
        );
        r.checks.push(Check::new("clock", CheckStatus::Warn, "off"));
        assert_eq!(r.exit_status(), ExitStatus::Passed);
        r.checks
            .push(Check::new("target", CheckStatus::Fail, "down\n(hint: x)"));
        assert_eq!(r.exit_status(), ExitStatus::CouldNotCheck);
        let text = r.render(&Redactor::new(), Style::PLAIN);
        assert!(text.contains("FAIL target      down (hint: x)\n"), "{text}");
        assert_eq!(text.lines().count(), 5);
    }
}
