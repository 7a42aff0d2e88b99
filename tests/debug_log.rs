//! `-v` (and `RUST_LOG`) show the requests and answers behind a red step, on
//! stderr and in `reports/debug.log`, with every secret redacted — also at the most
//! verbose level.

mod common;

use stageos_reference::{RunningServer, ServerOptions};

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_red_steps_request_and_redacted_answer_are_in_debug_log() {
    let server = RunningServer::start(ServerOptions::default())
        .await
        .expect("reference starts");
    let mut env: Vec<(String, String)> = server.credentials().env_lines();
    env.push(("STAGEOS_BASE_URL".into(), server.base_url()));
    // /api/me names the wrong role: auth::me_reports_role goes red.
    server.set_faults(vec!["me-wrong-role".parse().unwrap()]);
    let secrets: Vec<String> = env
        .iter()
        .filter(|(k, _)| k.ends_with("_PASSWORD") || k.ends_with("_SECRET"))
        .map(|(_, v)| v.clone())
        .collect();
    assert!(!secrets.is_empty());
    for (how, extra) in [("-v", vec!["-v"]), ("RUST_LOG=trace", vec![])] {
        let dir = temp_dir("debug-log");
        let mut cmd = cli();
        cmd.args(["run", "auth::", "--report-dir"])
            .arg(&dir)
            .args(&extra)
            .envs(env.clone());
        if extra.is_empty() {
            cmd.env("RUST_LOG", "trace");
        }
        let out = tokio::task::spawn_blocking(move || cmd.output().expect("run cli"))
            .await
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{how}: a red run\n{stdout}\n{stderr}"
        );
        assert!(
            stdout.contains("FAIL") && stdout.contains("auth::me_reports_role"),
            "{how}: {stdout}"
        );
        let log = std::fs::read_to_string(dir.join("debug.log")).expect("debug.log written");
        let me = log
            .lines()
            .position(|l| l.contains("GET /api/me → 200"))
            .unwrap_or_else(|| panic!("{how}: the red step's request is in debug.log:\n{log}"));
        let answer: String = log.lines().skip(me).take(4).collect::<Vec<_>>().join("\n");
        assert!(
            answer.contains("body: {") && answer.contains("\"role\""),
            "{how}: the answer's body is shown:\n{answer}"
        );
        assert!(
            answer.contains("authorization: [REDACTED]"),
            "{how}: the bearer token is masked:\n{answer}"
        );
        assert!(
            stderr.contains("GET /api/me → 200"),
            "{how}: stderr carries it too"
        );
        for (name, text) in [
            ("debug.log", &log),
            ("stderr", &stderr),
            ("stdout", &stdout),
        ] {
            for s in &secrets {
                assert!(
                    !text.contains(s.as_str()),
                    "{how}: a secret leaked into {name}"
                );
            }
            assert!(
                !text.contains("eyJ"),
                "{how}: something JWT-like leaked into {name}"
            );
        }
    }
    server.shutdown().await;
}
