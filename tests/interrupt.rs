//! SIGINT during a run: in-flight flows stop, the report is still written (whole,
//! valid JUnit) with the unfinished steps as errors, and the exit code is 130.

mod common;

use std::time::Duration;

use common::*;

#[cfg(unix)]
#[test]
fn sigint_mid_run_writes_the_report_and_exits_130() {
    let dir = temp_dir("interrupt");
    // Every login takes 20 s: the run is certainly in flight when the signal comes.
    let child = cli()
        .args([
            "run",
            "--fault",
            "latency:/api/auth/login:20000",
            "--report-dir",
        ])
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn cli");
    // Give the run time to start its flows (not a timing assertion: only a wait
    // before acting, the outcome does not depend on how long it took).
    std::thread::sleep(Duration::from_millis(1500));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(130),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let xml = std::fs::read_to_string(dir.join("junit.xml")).expect("junit.xml written");
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("whole, valid JUnit");
    let interrupted = report
        .test_suites
        .iter()
        .flat_map(|s| &s.test_cases)
        .filter(|c| matches!(&c.status, quick_junit::TestCaseStatus::NonSuccess { kind: quick_junit::NonSuccessKind::Error, message: Some(m), .. } if m.as_str().starts_with("interrupted")))
        .count();
    assert!(interrupted > 0, "no step reported as interrupted:\n{xml}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["verdict"], "interrupted");
    assert_eq!(summary["exit_code"], 130);
    junit_check(&dir.join("junit.xml"));
}
