//! With `CI=true` (plain output, no progress line) the CLI prints each step's line
//! the moment the step finishes, not when the run ends: a CI log grows as the run
//! goes, and a job killed at its timeout has logged every step up to that moment.
//!
//! The test reads the CLI's stdout while the run goes on. The post-deploy run waits
//! out time windows it creates itself (a signed URL's expiry, an availability
//! request's `respond_by`: seconds after its first step), so it is still working
//! when the first step line arrives; the target's own request counter then shows
//! the suite sending requests *after* that line reached us. A run that prints in
//! one batch at its end sends none after its first line.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

use stageos_reference::{RunningServer, ServerOptions};

use common::*;

/// Requests the target has served so far (the sum of its `http_requests_total`).
async fn requests_served(base_url: &str) -> f64 {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let text = reqwest::get(format!("{base_url}/metrics"))
        .await
        .expect("scrape /metrics")
        .text()
        .await
        .expect("metrics body");
    text.lines()
        .filter(|l| l.starts_with("http_requests_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_ci_set_step_lines_reach_stdout_while_the_run_goes_on() {
    let server = RunningServer::start(ServerOptions::default())
        .await
        .expect("reference starts");
    let base = server.base_url();
    let mut env: Vec<(String, String)> = server.credentials().env_lines();
    env.push(("STAGEOS_BASE_URL".into(), base.clone()));
    env.push(("CI".into(), "true".into()));
    let dir = temp_dir("live-output");
    let mut child = cli()
        .args(["run", "--report-dir"])
        .arg(&dir)
        .envs(env)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cli");
    let stdout = child.stdout.take().expect("piped stdout");
    let (first_line, mut reader) = tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).expect("read the first line");
        (line, reader)
    })
    .await
    .unwrap();
    let served_at_first_line = requests_served(&base).await;
    let (rest, status) = tokio::task::spawn_blocking(move || {
        let mut rest = String::new();
        reader.read_to_string(&mut rest).expect("read the rest");
        (rest, child.wait().expect("wait for the cli"))
    })
    .await
    .unwrap();
    // Our own two scrapes count as one request each.
    let served_after_first_line = requests_served(&base).await - served_at_first_line - 1.0;
    server.shutdown().await;

    assert!(status.success(), "the run should pass:\n{first_line}{rest}");
    assert!(
        first_line.contains(" ms] ") && first_line.contains("::"),
        "the first line is a step line: {first_line:?}"
    );
    assert!(
        served_after_first_line > 0.0,
        "the suite sent no request after its first step line reached stdout: the lines \
         came in one batch at the end of the run\n{first_line}{rest}"
    );
    let step_lines = std::iter::once(first_line.as_str())
        .chain(rest.lines())
        .filter(|l| l.contains(" ms] "))
        .count();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        step_lines,
        summary["steps"].as_array().unwrap().len(),
        "every step has exactly one line\n{first_line}{rest}"
    );
}
