//! `stageos-smoke doctor`: all good against the embedded reference (exit 0); an
//! unreachable port, missing secrets and a skewed server clock each fail their own
//! line with a fix (exit 3), and no secret value is ever printed.

mod common;

use std::net::TcpListener;

use stageos_smoke::config::{EnvSnapshot, Overrides};
use stageos_smoke::doctor::{self, CheckStatus, DoctorReport};
use stageos_smoke::secrets::Redactor;
use stageos_smoke::selection::Selection;

const SEED: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

fn secrets() -> Vec<(String, String)> {
    let mut v = Vec::new();
    for role in ["OWNER", "MANAGER", "MEMBER", "CREW", "ACCOUNTANT"] {
        v.push((
            format!("STAGEOS_{role}_EMAIL"),
            format!("smoke-{}@stageos.example", role.to_lowercase()),
        ));
        v.push((
            format!("STAGEOS_{role}_PASSWORD"),
            format!("pw-{role}-do-not-print"),
        ));
    }
    v.push(("STAGEOS_OWNER_TOTP_SECRET".into(), SEED.into()));
    v
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn status(r: &DoctorReport, name: &str) -> CheckStatus {
    r.check(name)
        .unwrap_or_else(|| panic!("no {name} check in {r:?}"))
        .status
}

#[test]
fn embedded_reference_is_all_good() {
    let out = common::cli().args(["doctor"]).output().expect("run doctor");
    let (stdout, stderr) = common::text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for name in ["config", "credentials", "webhooks", "target", "clock"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("ok") && l.contains(name)),
            "{name} not ok:\n{stdout}"
        );
    }
    assert!(stdout.contains("skip cloudwatch"), "{stdout}");
    assert!(stdout.trim_end().ends_with("doctor: all good"), "{stdout}");
    assert!(stdout.contains("receiver mode"), "{stdout}");
    assert_eq!(
        stdout.lines().count(),
        7,
        "one line per check and the verdict:\n{stdout}"
    );
}

#[test]
fn unreachable_port_fails_the_target_line_with_exit_3() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let mut cmd = common::cli();
    cmd.args(["doctor", "--target", &url]);
    for (k, v) in secrets() {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run doctor");
    let (stdout, _) = common::text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    let target = stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("target"))
        .expect("target line");
    assert!(
        target.starts_with("FAIL") && target.contains("not reachable") && target.contains("hint:"),
        "{target}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("ok") && l.contains("credentials")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("skip") && l.contains("clock")),
        "{stdout}"
    );
    assert!(
        !stdout.contains("do-not-print") && !stdout.contains(SEED),
        "a secret was printed:\n{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_secrets_are_named_and_a_bad_seed_is_refused() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let overrides = Overrides {
        target: Some(url),
        ..Overrides::default()
    };
    let mut vars: Vec<(String, String)> = secrets()
        .into_iter()
        .filter(|(k, _)| k != "STAGEOS_CREW_PASSWORD")
        .collect();
    let env = EnvSnapshot::from_pairs(vars.clone());
    let r = doctor::run(&overrides, &Selection::default(), &env, &Redactor::new()).await;
    let c = r.check("credentials").expect("credentials check");
    assert_eq!(c.status, CheckStatus::Fail);
    assert!(
        c.detail.contains("STAGEOS_CREW_PASSWORD") && !c.detail.contains("STAGEOS_OWNER_PASSWORD"),
        "{}",
        c.detail
    );

    // Only the flows selected count: health needs no login.
    let health_only = Selection {
        filter: Some("health::".into()),
        ..Selection::default()
    };
    let r = doctor::run(
        &overrides,
        &health_only,
        &EnvSnapshot::default(),
        &Redactor::new(),
    )
    .await;
    assert_eq!(status(&r, "credentials"), CheckStatus::Ok, "{r:?}");

    vars.push(("STAGEOS_CREW_PASSWORD".into(), "pw".into()));
    vars.retain(|(k, _)| k != "STAGEOS_OWNER_TOTP_SECRET");
    vars.push((
        "STAGEOS_OWNER_TOTP_SECRET".into(),
        "not base32 at all!".into(),
    ));
    let r = doctor::run(
        &overrides,
        &Selection::default(),
        &EnvSnapshot::from_pairs(vars),
        &Redactor::new(),
    )
    .await;
    let c = r.check("credentials").expect("credentials check");
    assert_eq!(c.status, CheckStatus::Fail);
    assert!(
        c.detail.contains("STAGEOS_OWNER_TOTP_SECRET") && !c.detail.contains("not base32 at all"),
        "{}",
        c.detail
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_clock_two_minutes_ahead_fails_the_clock_line() {
    use axum::http::header::DATE;
    use axum::routing::get;
    let ahead = time::OffsetDateTime::now_utc() + time::Duration::seconds(120);
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let date = ahead.format(&fmt).expect("format date");
    let app = axum::Router::new().route(
        "/api/health",
        get(move || {
            let date = date.clone();
            async move {
                (
                    [(DATE, date)],
                    axum::Json(serde_json::json!({"status": "ok"})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let overrides = Overrides {
        target: Some(format!("http://{addr}")),
        ..Overrides::default()
    };
    let env = EnvSnapshot::from_pairs(secrets());
    let r = doctor::run(&overrides, &Selection::default(), &env, &Redactor::new()).await;
    server.abort();
    assert_eq!(status(&r, "target"), CheckStatus::Ok, "{r:?}");
    let clock = r.check("clock").expect("clock check");
    assert_eq!(clock.status, CheckStatus::Fail, "{clock:?}");
    assert!(
        clock.detail.contains("behind the target") && clock.detail.contains("NTP"),
        "{}",
        clock.detail
    );
    assert_eq!(r.exit_status().code(), 3);
}

#[test]
fn a_remote_target_without_a_public_receiver_url_is_warned_of_delivery_log_mode() {
    // In a network namespace of its own: the target's name cannot resolve, and
    // no query leaves the machine.
    let wrapper = common::network_namespace_wrapper();
    let mut cmd = common::cli_with_program(wrapper[0]);
    cmd.args(&wrapper[1..])
        .arg(env!("CARGO_BIN_EXE_stageos-smoke"));
    cmd.args([
        "doctor",
        "--target",
        "https://staging.stageos.invalid",
        "--profile",
        "post-deploy",
    ]);
    for (k, v) in secrets() {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run doctor");
    let (stdout, _) = common::text(&out);
    let line = stdout
        .lines()
        .find(|l| l.contains("webhooks"))
        .unwrap_or_else(|| panic!("no webhooks line:\n{stdout}"));
    assert!(
        line.starts_with("WARN")
            && line.contains("delivery-log mode")
            && line.contains("webhook_public_url"),
        "{line}"
    );
}
