//! Retries: only idempotent requests and network-level failures are retried, with
//! bounded backoff; a step that passed only after a retry is reported as flaky
//! (`flakyFailure` in JUnit, `flaky` in summary.json), never as a plain pass.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

use stageos_smoke::config::HttpSettings;
use stageos_smoke::http::{ExecError, HttpContext, Recorder, Session};
use stageos_smoke::outcome::{RunReport, StepOutcome, StepResult};
use stageos_smoke::secrets::Redactor;

/// A server that drops the first `drop_first` connections without a byte, then
/// answers 200 `{}`. Returns its URL and the connection counter.
async fn dropping_server(drop_first: usize) -> (Url, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                let _ = sock.read(&mut buf).await;
                if n >= drop_first {
                    let _ = sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}").await;
                }
                // Otherwise: drop the socket, no response at all.
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

#[tokio::test]
async fn idempotent_request_is_retried_after_a_dropped_connection_and_noted() {
    let (url, seen) = dropping_server(1).await;
    let recorder = Recorder::new(Instant::now());
    let s = session(url, recorder.clone());
    let resp = s
        .get("/api/me")
        .send()
        .await
        .expect("second attempt answers");
    assert_eq!(resp.status.as_u16(), 200);
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    let notes = recorder.retries_since(0);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with("GET /api/me: attempt 1 got no response"),
        "{notes:?}"
    );
    assert_eq!(
        recorder.len(),
        2,
        "both attempts are recorded as raw samples"
    );
}

#[tokio::test]
async fn post_is_never_retried() {
    let (url, seen) = dropping_server(1).await;
    let recorder = Recorder::new(Instant::now());
    let s = session(url, recorder.clone());
    let err = s
        .post("/api/invoices")
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect_err("no retry for POST");
    assert!(matches!(err, ExecError::Transport { .. }), "{err}");
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    assert!(recorder.retries_since(0).is_empty());
}

#[tokio::test]
async fn retries_are_bounded() {
    let (url, seen) = dropping_server(usize::MAX).await;
    let s = session(url, Recorder::new(Instant::now()));
    assert!(s.get("/api/health").send().await.is_err());
    assert_eq!(
        seen.load(Ordering::SeqCst),
        stageos_smoke::http::MAX_ATTEMPTS as usize
    );
}

#[test]
fn a_pass_after_a_retry_is_flaky_in_every_report() {
    let step = |id: &str, retries: Vec<String>| StepResult {
        flow: "auth".into(),
        step: id.into(),
        description: "d".into(),
        outcome: StepOutcome::Passed,
        start_ms: 0.0,
        duration_ms: 1.0,
        requests: vec![],
        retries,
        notes: vec![],
    };
    let report = RunReport {
        run_id: "smoke-x".into(),
        target: "embedded".into(),
        profile: "post-deploy".into(),
        started_at: "2026-11-25T00:00:00Z".into(),
        wall_ms: 2.0,
        steps: vec![step("me_reports_role", vec!["GET /api/me: attempt 1 got no response (connection reset); retried after 100 ms".into()]), step("login_with_password", vec![])],
        run_error: None,
        cleanups: vec![],
        interrupted: false,
    };
    assert_eq!(report.counts().flaky, 1);
    assert_eq!(report.counts().passed, 2);
    let xml = stageos_smoke::report::junit::render(&report);
    let parsed = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    let cases: Vec<_> = parsed
        .test_suites
        .iter()
        .flat_map(|s| &s.test_cases)
        .collect();
    let flaky = cases
        .iter()
        .find(|c| c.name.as_str() == "me_reports_role")
        .unwrap();
    match &flaky.status {
        quick_junit::TestCaseStatus::Success { flaky_runs } => assert_eq!(flaky_runs.len(), 1),
        other => panic!("{other:?}"),
    }
    assert!(xml.contains("<flakyFailure"), "{xml}");
    let json: serde_json::Value =
        serde_json::from_str(&stageos_smoke::report::json::render(&report)).unwrap();
    assert_eq!(json["counts"]["flaky"], 1);
    let terminal = stageos_smoke::report::terminal::render(&report, &Redactor::new());
    assert!(terminal.contains("FLAKY"), "{terminal}");
}
