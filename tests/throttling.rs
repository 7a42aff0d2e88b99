//! Throttling and the suite's own footprint (issue 12, item 4).
//!
//! A target that throttles the suite (429, or 503 with `Retry-After`) is not a
//! broken target: a request safe to repeat waits within its step's deadline and is
//! sent again; past the deadline the step is an `<error>` ("the target throttled
//! the suite: 429, Retry-After 37 s …"), exit 3, never a `<failure>`. And the
//! suite's own deliberate auth failures go to disposable users, never to the
//! configured accounts, in the number the README states — so 20 back-to-back runs
//! against one long-lived target, whose per-address limit they do meet, are never
//! red.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

use stageos_smoke::ExitStatus;
use stageos_smoke::config::{EnvSnapshot, HttpSettings, Overrides, Settings};
use stageos_smoke::http::{ExecError, HttpContext, Lane, Recorder, Session};
use stageos_smoke::outcome::{RunReport, StepOutcome};
use stageos_smoke::runner::{self, RunOptions};
use stageos_smoke::secrets::Redactor;
use stageos_smoke::selection::Selection;

use common::*;

// ---------------------------------------------------------------- HTTP layer

/// A loopback server that answers the first requests with `script` (status line
/// and extra header lines), then 200 `{}`; counts the requests.
async fn scripted_server(script: Vec<(&'static str, String)>) -> (Url, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let script = Arc::new(script);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let script = script.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                let _ = sock.read(&mut buf).await;
                let (status, extra) = script.get(n).cloned().unwrap_or(("200 OK", String::new()));
                let body = if status.starts_with("200") {
                    "{}"
                } else {
                    r#"{"error":{"code":"rate_limited","message":"slow down"}}"#
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(answer.as_bytes()).await;
            });
        }
    });
    (url, seen)
}

fn session(base: Url, recorder: Recorder) -> Session {
    let cx = HttpContext {
        settings: Arc::new(HttpSettings::default()),
        run_id: "smoke-test".into(),
        redactor: Redactor::new(),
        logins: Default::default(),
        clock: Default::default(),
    };
    Session::new("test", base, cx, recorder).unwrap()
}

fn retry_after(secs: u64) -> String {
    format!("Retry-After: {secs}\r\n")
}

#[tokio::test]
async fn a_429_is_waited_out_within_the_step_deadline_and_noted_not_flaky() {
    let (url, seen) = scripted_server(vec![("429 Too Many Requests", retry_after(1))]).await;
    let recorder = Recorder::new(Instant::now());
    let s = session(url, recorder.clone());
    let lane = Lane::with_deadline(Instant::now() + Duration::from_secs(10));
    let started = Instant::now();
    let resp = lane
        .scope(s.get("/api/events").send())
        .await
        .expect("the second attempt answers");
    assert_eq!(resp.status.as_u16(), 200);
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited for Retry-After"
    );
    let notes = lane.notes();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("the target throttled the suite (429, Retry-After 1 s)")),
        "{notes:?}"
    );
    assert!(lane.retries().is_empty(), "a rate limit is not flakiness");
}

#[tokio::test]
async fn a_503_with_an_http_date_and_a_login_post_are_waited_out() {
    // Retry-After as an HTTP-date, one second after the answer's own Date.
    let now = std::time::SystemTime::now();
    let extra = format!(
        "Date: {}\r\nRetry-After: {}\r\n",
        httpdate::fmt_http_date(now),
        httpdate::fmt_http_date(now + Duration::from_secs(1))
    );
    let (url, seen) = scripted_server(vec![("503 Service Unavailable", extra)]).await;
    let s = session(url, Recorder::new(Instant::now()));
    let lane = Lane::with_deadline(Instant::now() + Duration::from_secs(10));
    let resp = lane.scope(s.get("/api/events").send()).await.unwrap();
    assert_eq!(resp.status.as_u16(), 200);
    assert_eq!(seen.load(Ordering::SeqCst), 2);

    // A login is a POST that is safe to repeat.
    let (url, seen) = scripted_server(vec![("429 Too Many Requests", retry_after(1))]).await;
    let s = session(url, Recorder::new(Instant::now()));
    let lane = Lane::with_deadline(Instant::now() + Duration::from_secs(10));
    let resp = lane
        .scope(
            s.post("/api/auth/login")
                .json(&serde_json::json!({"email": "a@b.c", "password": "x"}))
                .send(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status.as_u16(), 200);
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn past_the_deadline_it_is_a_throttled_error_naming_status_and_retry_after() {
    let (url, seen) = scripted_server(vec![("429 Too Many Requests", retry_after(37))]).await;
    let s = session(url, Recorder::new(Instant::now()));
    let lane = Lane::with_deadline(Instant::now() + Duration::from_secs(10));
    let started = Instant::now();
    let err = lane
        .scope(s.get("/api/events").send())
        .await
        .expect_err("throttled past the deadline");
    assert!(
        matches!(err, ExecError::Throttled { status: 429, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with("the target throttled the suite: 429, Retry-After 37 s on GET /api/events; longer than the"),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "one line: {msg}");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1,
        "no wait that cannot end in time"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "gave up at once"
    );
}

#[tokio::test]
async fn a_post_that_is_not_safe_to_repeat_is_never_repeated() {
    let (url, seen) = scripted_server(vec![("429 Too Many Requests", retry_after(1))]).await;
    let s = session(url, Recorder::new(Instant::now()));
    let lane = Lane::with_deadline(Instant::now() + Duration::from_secs(10));
    let err = lane
        .scope(s.post("/api/invoices").json(&serde_json::json!({})).send())
        .await
        .expect_err("throttled");
    assert!(
        err.to_string()
            .contains("the request is not safe to repeat"),
        "{err}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 1);

    // With an Idempotency-Key it is.
    let (url, seen) = scripted_server(vec![("429 Too Many Requests", retry_after(1))]).await;
    let s = session(url, Recorder::new(Instant::now()));
    let lane = Lane::with_deadline(Instant::now() + Duration::from_secs(10));
    let resp = lane
        .scope(
            s.post("/api/invoices")
                .header("idempotency-key", "smoke-1")
                .json(&serde_json::json!({}))
                .send(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status.as_u16(), 200);
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_step_that_tests_throttling_judges_the_429_itself() {
    let (url, seen) = scripted_server(vec![("429 Too Many Requests", retry_after(1))]).await;
    let s = session(url, Recorder::new(Instant::now()));
    let lane = Lane::with_deadline(Instant::now() + Duration::from_secs(10));
    let resp = lane
        .scope(s.get("/api/events").tests_throttling().send())
        .await
        .unwrap();
    assert_eq!(resp.status.as_u16(), 429);
    assert_eq!(resp.header("retry-after"), Some("1"));
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------- whole runs

/// A run of `profile` against a long-lived reference `server`.
async fn run_against(server: &stageos_reference::RunningServer, profile: &str) -> RunReport {
    let env = EnvSnapshot::from_pairs(server.credentials().env_lines());
    let settings = Settings::resolve(
        &Overrides {
            target: Some(server.base_url()),
            profile: Some(profile.into()),
            ..Default::default()
        },
        &env,
    )
    .expect("valid settings");
    let options = RunOptions {
        selection: Selection::default(),
        concurrency: 4,
    };
    runner::run(&settings, &options, &env, &Redactor::new()).await
}

async fn start(faults: &[&str]) -> stageos_reference::RunningServer {
    let server =
        stageos_reference::RunningServer::start(stageos_reference::ServerOptions::default())
            .await
            .expect("reference starts");
    server.set_faults(faults.iter().map(|f| f.parse().unwrap()).collect());
    server
}

/// `flow::step: outcome` of every step that did not pass or skip.
fn not_green(report: &RunReport) -> Vec<String> {
    report
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s.outcome,
                StepOutcome::Failed { .. } | StepOutcome::Error { .. }
            )
        })
        .map(|s| format!("{}: {:?}", s.full_name(), s.outcome))
        .collect()
}

fn configured_emails(server: &stageos_reference::RunningServer) -> Vec<String> {
    server
        .credentials()
        .env_lines()
        .into_iter()
        .filter(|(k, _)| k.ends_with("_EMAIL"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .collect()
}

/// The README's footprint section: "deliberate auth failures per run:
/// post-deploy N, full M".
fn stated_failures() -> BTreeMap<String, u64> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let line = readme
        .lines()
        .find(|l| l.contains("deliberate auth failures per run:"))
        .expect("the README states the suite's deliberate auth failures per run");
    let (_, list) = line.split_once("per run:").unwrap();
    list.split(',')
        .filter_map(|part| {
            let mut words = part.split_whitespace();
            let profile = words.next()?.trim_matches('*').to_owned();
            let n = words.next()?.trim_matches(|c: char| !c.is_ascii_digit());
            Some((profile, n.parse().ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_spares_the_configured_accounts_and_fails_as_often_as_the_readme_states() {
    let stated = stated_failures();
    for profile in ["post-deploy", "full"] {
        let server = start(&[]).await;
        let report = run_against(&server, profile).await;
        assert!(
            not_green(&report).is_empty(),
            "{profile}: {:#?}",
            not_green(&report)
        );
        let failures = server.auth_failures_by_account();
        let configured = configured_emails(&server);
        let on_configured: Vec<_> = failures
            .iter()
            .filter(|(email, _)| configured.contains(email))
            .collect();
        assert!(
            on_configured.is_empty(),
            "{profile}: deliberate failures on configured accounts: {on_configured:?}"
        );
        let total: u64 = failures.values().sum();
        eprintln!("{profile}: {total} deliberate auth failures: {failures:?}");
        assert_eq!(
            Some(&total),
            stated.get(profile),
            "{profile}: the README's number ({stated:?}) is the run's"
        );
        let most = failures.values().copied().max().unwrap_or(0);
        assert!(
            most < stageos_reference::auth::EMAIL_FAILURE_LIMIT as u64,
            "{profile}: one disposable user got {most} failures, at the per-account limit"
        );
        server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_target_that_throttles_logins_within_the_deadline_stays_green() {
    // Every fourth login is refused with Retry-After 2 s for 2 s.
    let server = start(&["throttle:/api/auth/login:3:2"]).await;
    let report = run_against(&server, "post-deploy").await;
    assert!(
        not_green(&report).is_empty(),
        "waited out, not red: {:#?}",
        not_green(&report)
    );
    let waited: Vec<_> = report
        .steps
        .iter()
        .flat_map(|s| s.notes.iter())
        .filter(|n| n.contains("the target throttled the suite (429, Retry-After"))
        .collect();
    assert!(!waited.is_empty(), "the target did throttle the run");
    assert_eq!(report.exit_status(), ExitStatus::Passed);
    server.shutdown().await;
}

#[test]
fn cli_a_target_that_throttles_past_the_deadline_is_exit_3_with_the_message() {
    let dir = temp_dir("throttled-cli");
    let cfg = dir.join("stageos-smoke.toml");
    std::fs::write(
        &cfg,
        "default_environment = \"throttled\"\n[environments.throttled]\nstep_timeout_ms = 20000\n",
    )
    .unwrap();
    let out = cli()
        .args(["run", "auth::", "--config"])
        .arg(&cfg)
        .arg("--report-dir")
        .arg(&dir)
        .args(["--fault", "throttle:/api/auth/login:0:37"])
        .output()
        .expect("run cli");
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(3),
        "exit 3, could not check\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let all = format!("{stdout}{stderr}");
    assert!(
        all.contains(
            "the target throttled the suite: 429, Retry-After 37 s on POST /api/auth/login"
        ),
        "{all}"
    );
    let xml = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    let report = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    let mut errors = 0;
    for case in report.test_suites.iter().flat_map(|s| s.test_cases.iter()) {
        match &case.status {
            quick_junit::TestCaseStatus::NonSuccess {
                kind: quick_junit::NonSuccessKind::Failure,
                ..
            } => panic!(
                "a throttled target is never a <failure>: {}",
                case.name.as_str()
            ),
            quick_junit::TestCaseStatus::NonSuccess {
                kind: quick_junit::NonSuccessKind::Error,
                message,
                ..
            } => {
                errors += 1;
                let m = message.as_deref().unwrap_or("");
                assert!(m.contains("the target throttled the suite"), "{m}");
            }
            _ => {}
        }
    }
    assert!(errors > 0, "the throttled logins are <error>s");
}

/// Whether every red testcase of `report` is an error because the target throttled
/// the suite.
fn only_throttled(report: &RunReport) -> Result<(), Vec<String>> {
    let other: Vec<String> = report
        .steps
        .iter()
        .filter(|s| match &s.outcome {
            StepOutcome::Failed { .. } => true,
            StepOutcome::Error { message } => !message.contains("the target throttled the suite"),
            _ => false,
        })
        .map(|s| format!("{}: {:?}", s.full_name(), s.outcome))
        .collect();
    if other.is_empty() { Ok(()) } else { Err(other) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_back_to_back_post_deploy_runs_against_one_target_are_never_red() {
    let server = start(&[]).await;
    let started = Instant::now();
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let throttled_answers = AtomicUsize::new(0);
    for run in 1..=20 {
        let t = Instant::now();
        let report = run_against(&server, "post-deploy").await;
        let status = report.exit_status();
        let met = report.steps.iter().any(|s| {
            s.notes
                .iter()
                .any(|n| n.contains("the target throttled the suite"))
                || matches!(&s.outcome, StepOutcome::Error { message } if message.contains("the target throttled the suite"))
        });
        if met {
            throttled_answers.fetch_add(1, Ordering::SeqCst);
        }
        if let Err(other) = only_throttled(&report) {
            panic!("run {run} went red or could not check for another reason: {other:#?}");
        }
        assert!(
            matches!(status, ExitStatus::Passed | ExitStatus::CouldNotCheck),
            "run {run}: {status:?}"
        );
        outcomes
            .lock()
            .unwrap()
            .push((run, status.as_str(), t.elapsed().as_secs_f64()));
    }
    let outcomes = outcomes.lock().unwrap().clone();
    let green = outcomes.iter().filter(|(_, s, _)| *s == "passed").count();
    // Meaningful: the runs did meet the target's limit.
    assert!(
        throttled_answers.load(Ordering::SeqCst) > 0,
        "20 runs never met the per-address limit: the test proves nothing"
    );
    eprintln!(
        "20 back-to-back runs in {:.0} s: {green} green, {} exit 3 (throttled): {outcomes:?}",
        started.elapsed().as_secs_f64(),
        20 - green
    );
    let failures = server.auth_failures_by_account();
    let configured = configured_emails(&server);
    assert!(
        failures.keys().all(|e| !configured.contains(e)),
        "no failure on a configured account: {failures:?}"
    );
    assert!(
        server.smoke_entities().is_empty(),
        "every run cleaned up: {:?}",
        server.smoke_entities()
    );
    server.shutdown().await;
}
