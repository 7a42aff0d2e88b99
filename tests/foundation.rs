//! The foundation's promises: a healthy run passes and its JUnit report matches
//! the run both ways; each auth fault fails exactly its step; a run that cannot
//! check says why in one line, exits 3 and still writes a valid JUnit file with
//! `<error>`; no secret reaches any output.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use serde_json::Value;

use common::*;

fn junit_cases(path: &Path) -> (Report, Vec<(String, String, &'static str)>) {
    let xml = std::fs::read_to_string(path).expect("junit.xml written");
    let report = Report::deserialize_from_str(&xml).expect("junit.xml parses");
    let mut cases = Vec::new();
    for suite in &report.test_suites {
        for case in &suite.test_cases {
            let status = match &case.status {
                TestCaseStatus::Success { .. } => "passed",
                TestCaseStatus::NonSuccess {
                    kind: NonSuccessKind::Failure,
                    ..
                } => "failed",
                TestCaseStatus::NonSuccess {
                    kind: NonSuccessKind::Error,
                    ..
                } => "error",
                TestCaseStatus::Skipped { .. } => "skipped",
            };
            let classname = case
                .classname
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_default();
            cases.push((classname, case.name.to_string(), status));
        }
    }
    (report, cases)
}

fn summary(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("summary.json written"))
        .expect("summary.json parses")
}

fn validate_summary(v: &Value) {
    let schema: Value =
        serde_json::from_str(include_str!("../fixtures/schema/summary.schema.json"))
            .expect("schema parses");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "summary.json does not follow its schema: {errors:#?}"
    );
}

/// JUnit, summary.json and the CLI's own listing agree, both ways.
fn assert_reports_agree(dir: &Path, listed: &BTreeSet<String>) {
    let (junit, cases) = junit_cases(&dir.join("junit.xml"));
    let sum = summary(&dir.join("summary.json"));
    validate_summary(&sum);
    let steps = sum["steps"].as_array().expect("steps");
    let from_summary: BTreeSet<(String, String, String)> = steps
        .iter()
        .map(|s| {
            (
                s["flow"].as_str().unwrap().to_owned(),
                s["step"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let from_junit: BTreeSet<(String, String, String)> = cases
        .iter()
        .map(|(c, n, s)| (c.clone(), n.clone(), (*s).to_owned()))
        .collect();
    assert_eq!(
        cases.len(),
        from_junit.len(),
        "duplicate testcases in junit.xml"
    );
    assert_eq!(
        from_junit, from_summary,
        "junit.xml and summary.json disagree"
    );
    let names: BTreeSet<String> = from_junit
        .iter()
        .map(|(c, n, _)| format!("{c}::{n}"))
        .collect();
    assert_eq!(
        &names, listed,
        "the reports do not hold exactly the listed steps"
    );
    let count = |label: &str| from_summary.iter().filter(|(_, _, s)| s == label).count();
    assert_eq!(junit.tests, steps.len(), "junit tests count");
    assert_eq!(junit.failures, count("failed"), "junit failures count");
    assert_eq!(junit.errors, count("error"), "junit errors count");
    assert_eq!(sum["counts"]["total"].as_u64(), Some(steps.len() as u64));
    assert_eq!(
        sum["counts"]["failed"].as_u64(),
        Some(count("failed") as u64)
    );
}

fn listed_steps(profile: Option<&str>) -> BTreeSet<String> {
    let mut cmd = cli();
    cmd.arg("list");
    if let Some(p) = profile {
        cmd.args(["--profile", p]);
    }
    let out = cmd.output().expect("run list");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn healthy_run_passes_and_reports_round_trip() {
    let dir = temp_dir("healthy");
    let out = cli()
        .args(["run", "--report-dir"])
        .arg(&dir)
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let listed = listed_steps(None);
    for step in listed.iter().filter(|s| s.starts_with("auth::")) {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains("PASS") && l.ends_with(step.as_str())),
            "{step} not listed as passed:\n{stdout}"
        );
    }
    assert!(listed.iter().filter(|s| s.starts_with("auth::")).count() >= 10);
    assert_reports_agree(&dir, &listed);
    // A passing gate still shows the number it judged and its threshold: in
    // JUnit's <system-out>, in summary.json's notes and on the terminal.
    let (junit, _) = junit_cases(&dir.join("junit.xml"));
    let gate = junit
        .test_suites
        .iter()
        .flat_map(|s| &s.test_cases)
        .find(|c| c.name.as_str() == "stripe_webhook_success_ratio")
        .expect("gate testcase present");
    let out_text = gate
        .system_out
        .as_ref()
        .map(|t| t.as_str().to_owned())
        .unwrap_or_default();
    assert!(
        out_text.contains("Stripe webhook success") && out_text.contains('≥'),
        "no number and threshold on the passing gate: {out_text:?}"
    );
    let sum = summary(&dir.join("summary.json"));
    let notes = sum["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "stripe_webhook_success_ratio")
        .and_then(|s| s["notes"].as_array())
        .expect("notes in summary.json");
    assert_eq!(notes[0].as_str(), Some(out_text.as_str()));
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("metrics::stripe_webhook_success_ratio: Stripe webhook success")),
        "{stdout}"
    );
}

#[test]
fn failing_run_reports_round_trip_with_expected_and_actual() {
    let dir = temp_dir("failing");
    let out = cli()
        .args(["run", "--fault", "me-wrong-role", "--report-dir"])
        .arg(&dir)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert_reports_agree(&dir, &listed_steps(None));
    // GitLab shows only the failure's text: expected and actual must be in it.
    let (junit, _) = junit_cases(&dir.join("junit.xml"));
    let case = junit
        .test_suites
        .iter()
        .flat_map(|s| &s.test_cases)
        .find(|c| c.name.as_str() == "me_reports_role")
        .expect("testcase present");
    let TestCaseStatus::NonSuccess {
        description: Some(text),
        message: Some(message),
        ..
    } = &case.status
    else {
        panic!(
            "me_reports_role is not a failure with message and text: {:?}",
            case.status
        );
    };
    assert!(
        text.contains("expected: \"manager\"") && text.contains("actual:   \"owner\""),
        "{text:?}"
    );
    assert!(
        message.contains("\"manager\"") && message.contains("\"owner\""),
        "{message:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_auth_fault_fails_exactly_its_step() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "refresh-not-rotated",
            "auth::",
            &["auth::refresh_rotates_tokens"],
        ),
        (
            "refresh-reuse-accepted",
            "auth::",
            &["auth::reused_refresh_token_refused"],
        ),
        (
            "refresh-cookie-no-httponly",
            "auth::",
            &["auth::refresh_cookie_flags"],
        ),
        (
            "refresh-cookie-no-secure",
            "auth::",
            &["auth::refresh_cookie_flags"],
        ),
        // Wrong codes go to the TOTP flow's disposable user, not to the Owner.
        (
            "totp-not-checked",
            "totp::",
            &[
                "totp::old_code_refused",
                "totp::recovery_code_single_use",
                "totp::wrong_code_refused",
            ],
        ),
        (
            "logout-not-revoking",
            "auth::",
            &["auth::logout_revokes_session"],
        ),
        ("me-wrong-role", "auth::", &["auth::me_reports_role"]),
        (
            "health-degraded",
            "health::api_health_ok",
            &["health::api_health_ok"],
        ),
        (
            "latency:/api/me:1500",
            "auth::",
            &["auth::latency_within_budget"],
        ),
    ];
    for (fault, filter, expected) in cases {
        let (report, _) = run_embedded(None, Some(filter), &[fault]).await;
        assert_eq!(
            failed(&report),
            set(expected),
            "fault {fault}: wrong failing set; report: {:#?}",
            report.steps
        );
        assert!(
            names_with(&report, "error").is_empty(),
            "fault {fault}: unexpected errors {:?}",
            names_with(&report, "error")
        );
        assert_messages_name_expected_and_actual(&report);
    }
    // And the healthy server fails none of them.
    let (report, _) = run_embedded(None, Some("auth::"), &[]).await;
    assert_eq!(failed(&report), set(&[]));
    assert_eq!(names_with(&report, "passed").len(), report.steps.len());
}

fn assert_could_not_check(out: &std::process::Output, dir: &Path, needle: &str) {
    let (stdout, stderr) = text(out);
    assert_eq!(
        out.status.code(),
        Some(3),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "expected one error line, got:\n{stderr}");
    assert!(
        errors[0].contains(needle),
        "error line does not name the problem `{needle}`: {}",
        errors[0]
    );
    assert!(
        errors[0].contains("hint:"),
        "error line gives no fix: {}",
        errors[0]
    );
    let (junit, cases) = junit_cases(&dir.join("junit.xml"));
    assert!(
        junit.errors > 0 && junit.failures == 0,
        "expected <error> testcases only"
    );
    assert!(cases.iter().all(|(_, _, s)| *s == "error"));
    validate_summary(&summary(&dir.join("summary.json")));
}

#[test]
fn unreachable_target_is_an_error_not_a_failure() {
    // Bind a port, then free it: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = temp_dir("unreachable");
    let out = cli()
        .args([
            "run",
            "--target",
            &format!("http://127.0.0.1:{port}"),
            "--report-dir",
        ])
        .arg(&dir)
        .envs(fake_remote_secrets())
        .output()
        .unwrap();
    assert_could_not_check(&out, &dir, "connection refused");
    junit_check(&dir.join("junit.xml"));
}

#[test]
fn malformed_config_is_an_error() {
    let dir = temp_dir("malformed");
    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, "[environments.staging\nbase_url = 3\n").unwrap();
    let out = cli()
        .args(["run", "--config"])
        .arg(&cfg)
        .arg("--report-dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert_could_not_check(&out, &dir, "malformed config file");
}

#[test]
fn missing_secret_is_an_error_naming_the_variable() {
    let dir = temp_dir("missing");
    let mut env = fake_remote_secrets();
    env.retain(|(k, _)| k != "STAGEOS_MANAGER_PASSWORD");
    let out = cli()
        .args(["run", "--target", "http://127.0.0.1:9", "--report-dir"])
        .arg(&dir)
        .envs(env)
        .output()
        .unwrap();
    assert_could_not_check(&out, &dir, "STAGEOS_MANAGER_PASSWORD");
}

#[test]
fn usage_error_has_its_own_code() {
    let out = cli().args(["run", "--no-such-flag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn list_makes_no_network_call() {
    // A listening target that records whether anyone connected: list must not.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let out = cli()
        .arg("list")
        .env("STAGEOS_BASE_URL", &url)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("auth::login_with_password: test"));
    assert!(listener.accept().is_err(), "list connected to the target");
}
