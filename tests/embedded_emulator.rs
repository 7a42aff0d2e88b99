//! The main job, `stageos-smoke run` on the embedded default target, brings up the
//! pinned emulator beside the embedded reference and seeds it with a compliant
//! account: the baseline gates (P95 and error budget against the seeded previous
//! release, alarms) and the AWS-side release gates run, and pass, the restore
//! test on the reference's AWS Backup stand-in; the headline counts every
//! automated item of the checklist; a fault that breaks the error budget or makes
//! the restore test stale fails its gate; where the emulator cannot start, the
//! first line says why and those steps are skipped as without AWS.
//!
//! Needs `python3` and, the first time, the Python package index (like
//! tests/gates.rs); `STAGEOS_TEST_SKIP_EMULATOR=1` skips the tests that need them.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;

fn skip() -> bool {
    let skip = std::env::var("STAGEOS_TEST_SKIP_EMULATOR").is_ok_and(|v| v == "1");
    if skip {
        assert!(
            !std::env::var("STAGEOS_TEST_REQUIRE_EMULATOR").is_ok_and(|v| v == "1"),
            "STAGEOS_TEST_SKIP_EMULATOR=1 but STAGEOS_TEST_REQUIRE_EMULATOR=1 requires the emulator tests"
        );
        eprintln!("SKIPPED (emulator): STAGEOS_TEST_SKIP_EMULATOR=1");
    }
    skip
}

/// `flow::step` → (status, message) from summary.json.
fn statuses(dir: &Path) -> BTreeMap<String, (String, String)> {
    let raw = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json");
    let summary: serde_json::Value = serde_json::from_str(&raw).expect("summary.json parses");
    summary["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            let text = |k: &str| s[k].as_str().unwrap_or_default().to_owned();
            (
                format!("{}::{}", text("flow"), text("step")),
                (text("status"), text("message") + &text("reason")),
            )
        })
        .collect()
}

/// The `N` of `release checklist: N of 43 verified automatically, …`.
fn verified(stdout: &str) -> usize {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("release checklist: "))
        .and_then(|h| h.split(" of 43 verified automatically").next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no checklist headline in:\n{stdout}"))
}

/// The emulator's port from the CLI's first stderr line.
fn emulator_port(first_line: &str) -> u16 {
    first_line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no emulator endpoint in {first_line:?}"))
}

const BASELINE_GATES: [&str; 4] = [
    "baseline::alb_metrics_read",
    "baseline::p95_latency_vs_baseline",
    "baseline::error_budget_burn_rate",
    "baseline::alarms_present",
];

const AWS_RELEASE_GATES: [&str; 6] = [
    "release::rollback_images",
    "release::secrets_rotated",
    "release::rds_backup_retention",
    "release::restore_tested",
    "release::files_bucket_versioned",
    "release::files_bucket_encrypted",
];

/// The rollout gates (item 7.3), against the reference's worker and web stand-ins.
const ROLLOUT_GATES: [&str; 2] = ["health::services_same_release", "release::rollout_order"];

/// `flow::step` of every step that failed or errored.
fn red(steps: &BTreeMap<String, (String, String)>) -> Vec<&str> {
    steps
        .iter()
        .filter(|(_, (status, _))| status == "failed" || status == "error")
        .map(|(name, _)| name.as_str())
        .collect()
}

#[test]
fn the_embedded_run_judges_baselines_and_aws_gates_against_the_emulator() {
    if skip() {
        return;
    }
    let dir = temp_dir("embedded-emulator");
    let out = cli()
        .env_remove("STAGEOS_EMULATOR")
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
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("emulator: ministack==1.5.33 at http://127.0.0.1:"),
        "first line: {first:?}\n{stderr}"
    );
    let steps = statuses(&dir);
    let privacy: Vec<&String> = steps
        .keys()
        .filter(|k| k.starts_with("privacy::"))
        .collect();
    assert_eq!(
        privacy.len(),
        8,
        "the privacy flow runs in post-deploy: {privacy:?}"
    );
    for step in BASELINE_GATES
        .iter()
        .chain(&AWS_RELEASE_GATES)
        .chain(&ROLLOUT_GATES)
        .copied()
        .chain(privacy.iter().map(|s| s.as_str()))
    {
        let (status, message) = steps.get(step).unwrap_or_else(|| panic!("{step} not run"));
        assert_eq!(status, "passed", "{step}: {message}\n{stdout}");
    }
    // Every automated item of the checklist: without the emulator 22 are verified
    // (the rollout gates (7.3) read the reference's worker and web stand-ins, and
    // GDPR (5.5) is the privacy flow of post-deploy); with it the seven it backs
    // too: rollback images (1.3), secrets (4.2), RDS backups (5.1), the restore
    // test (5.2, in the seeded account's AWS Backup, the reference's stand-in), S3
    // (5.3), alarms (6.4), P95 and error budget (8.1).
    let n = verified(&stdout);
    assert!(n >= 29, "only {n} of 43 verified automatically:\n{stdout}");
    let raw = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json");
    let summary: serde_json::Value = serde_json::from_str(&raw).expect("summary.json parses");
    // The restore test was judged on the restore job seeded in the reference's AWS
    // Backup stand-in (ministack lists none).
    let restore = summary["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["flow"] == "release" && s["step"] == "restore_tested")
        .expect("release::restore_tested");
    assert!(
        restore["notes"].to_string().contains("RDS restore job"),
        "{restore}"
    );
    for id in [
        "1.3", "4.2", "5.1", "5.2", "5.3", "5.5", "6.4", "7.3", "8.1",
    ] {
        let item = summary["checklist"]["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["id"] == id)
            .unwrap_or_else(|| panic!("item {id}"));
        assert_eq!(item["status"], "passed", "{item}");
    }
    // The emulator went with the run.
    let port = emulator_port(first);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the emulator on port {port} outlived the run"
    );
}

#[test]
fn the_error_budget_gate_fails_when_the_embedded_server_answers_5xx() {
    if skip() {
        return;
    }
    let dir = temp_dir("embedded-emulator-5xx");
    let out = cli()
        .env_remove("STAGEOS_EMULATOR")
        .args(["run", "--fault", "error-rate:5", "--report-dir"])
        .arg(&dir)
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let steps = statuses(&dir);
    let (status, message) = &steps["baseline::error_budget_burn_rate"];
    assert_eq!(status, "failed", "{message}");
    assert!(message.contains("burn rate"), "{message}");
    assert_eq!(steps["baseline::alb_metrics_read"].0, "passed");
}

#[test]
fn a_stale_restore_test_fails_exactly_its_gate() {
    if skip() {
        return;
    }
    let dir = temp_dir("embedded-emulator-restore");
    let out = cli()
        .env_remove("STAGEOS_EMULATOR")
        .args(["run", "--fault", "restore-test-stale", "--report-dir"])
        .arg(&dir)
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let steps = statuses(&dir);
    assert_eq!(red(&steps), ["release::restore_tested"], "{stdout}");
    let (_, message) = &steps["release::restore_tested"];
    assert!(
        message.contains("a completed RDS restore job within 30 days")
            && message.contains("0 completed restore jobs since"),
        "{message}"
    );
}

#[test]
fn without_python_the_first_line_says_why_and_the_gates_are_skipped() {
    let dir = temp_dir("embedded-no-emulator");
    let out = cli()
        .env_remove("STAGEOS_EMULATOR")
        .env("STAGEOS_EMULATOR_PYTHON", "/nonexistent/python3")
        // A fresh directory: nothing installed that could be used without Python.
        .env("STAGEOS_EMULATOR_DIR", dir.join("emulator"))
        .args(["run", "baseline::", "--report-dir"])
        .arg(dir.join("reports"))
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("emulator: the baseline and AWS release gates are skipped: the CloudWatch/AWS emulator could not start: `/nonexistent/python3` could not be run")
            && first.contains("hint: ")
            && first.contains("STAGEOS_EMULATOR_PYTHON"),
        "first line: {first:?}"
    );
    assert_eq!(stderr.matches("emulator: ").count(), 1, "{stderr}");
    let steps = statuses(&dir.join("reports"));
    for step in BASELINE_GATES {
        let (status, message) = &steps[step];
        assert_eq!(status, "skipped", "{step}");
        assert!(
            message.contains("no CloudWatch configured"),
            "{step}: {message}"
        );
    }
}

#[test]
fn a_remote_target_never_gets_an_emulator() {
    let dir = temp_dir("remote-no-emulator");
    let out = cli()
        .env_remove("STAGEOS_EMULATOR")
        // Would fail loudly if a start were attempted.
        .env("STAGEOS_EMULATOR_PYTHON", "/nonexistent/python3")
        .env("STAGEOS_EMULATOR_DIR", dir.join("emulator"))
        .args([
            "run",
            "baseline::",
            "--target",
            "http://127.0.0.1:9",
            "--report-dir",
        ])
        .arg(dir.join("reports"))
        .output()
        .expect("run");
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(!stderr.contains("emulator"), "{stderr}");
    assert!(!dir.join("emulator").exists());
}
