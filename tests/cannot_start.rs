//! A run that cannot start (an unknown profile, a typo in the config file, a target
//! that does not answer) says its cause once, first, as `error: … (hint: …)`, then
//! the one-line verdict — not the same message once per step. The reports still
//! hold one `<error>` testcase per step, as JUnit consumers expect.

mod common;

use common::*;

fn assert_said_once(args: &[&str], needle: &str) {
    let dir = temp_dir("cannot-start");
    let out = cli()
        .args(args)
        .arg("--report-dir")
        .arg(&dir)
        .current_dir(&dir)
        .output()
        .expect("run cli");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "one error line:\n{stderr}");
    assert!(
        errors[0].contains(needle) && errors[0].contains("hint:"),
        "the error names `{needle}` and its fix: {}",
        errors[0]
    );
    assert_eq!(
        stderr.lines().next(),
        Some(errors[0]),
        "the cause comes first:\n{stderr}"
    );
    assert!(
        !stdout.contains(needle),
        "the cause is not repeated per step on stdout:\n{stdout}"
    );
    assert!(
        !stdout.lines().any(|l| l.contains(" ms] ")),
        "no per-step lines:\n{stdout}"
    );
    let verdicts: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("verdict: error"))
        .collect();
    assert_eq!(verdicts.len(), 1, "one verdict line:\n{stdout}");
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    let report: quick_junit::Report = quick_junit::Report::deserialize_from_str(&junit).unwrap();
    assert!(
        report.errors > 10 && report.failures == 0,
        "one <error> per step: {} errors, {} failures",
        report.errors,
        report.failures
    );
}

#[test]
fn an_unknown_profile_is_said_once() {
    assert_said_once(&["run", "--profile", "nope"], "nope");
}

#[test]
fn a_typo_in_the_config_file_is_said_once() {
    let dir = temp_dir("typo");
    let cfg = dir.join("stageos-smoke.toml");
    std::fs::write(
        &cfg,
        "default_environment = \"staging\"\n[environments.staging]\ntimeuot = 3\n",
    )
    .unwrap();
    assert_said_once(&["run", "--config", cfg.to_str().unwrap()], "timeuot");
}

/// A filter that matches no step (a typo in a CI job) checked nothing: exit 3 with
/// the cause and the `list` hint, never a green run.
#[test]
fn a_filter_that_matches_nothing_is_not_a_pass() {
    let dir = temp_dir("matches-nothing");
    let out = cli()
        .args(["run", "helth::"])
        .arg("--report-dir")
        .arg(&dir)
        .current_dir(&dir)
        .output()
        .expect("run cli");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        stderr.starts_with("error: no step of profile `post-deploy` matches the filters")
            && stderr.contains("stageos-smoke list"),
        "{stderr}"
    );
    assert!(stdout.contains("verdict: error"), "{stdout}");
    assert!(
        dir.join("junit.xml").exists(),
        "the reports are still written"
    );
}
