//! A run killed half-way (SIGKILL: no cleanup guard can run) leaves smoke data
//! behind; the next `stageos-smoke sweep` removes it, and only it.

mod common;

use std::time::Duration;

use stageos_reference::{RunningServer, ServerOptions};

use common::*;

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_removes_what_a_killed_run_left() {
    let server = RunningServer::start(ServerOptions::default())
        .await
        .expect("reference starts");
    let mut env: Vec<(String, String)> = server.credentials().env_lines();
    env.push(("STAGEOS_BASE_URL".into(), server.base_url()));
    // Reading an event back hangs for 30 s: the dossier flow has created its event
    // and sits there when the run is killed.
    server.set_faults(vec!["latency:/api/events/{id}:30000".parse().unwrap()]);
    let dir = temp_dir("killed");
    let mut child = cli()
        .args(["run", "dossier::", "--report-dir"])
        .arg(&dir)
        .envs(env.clone())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn cli");
    // Wait (polling, with a deadline) until the run has created smoke data.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while server.smoke_entities().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the run created nothing within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    server.set_faults(vec![]);
    let left = server.smoke_entities();
    assert!(!left.is_empty(), "a killed run should leave its data");

    let mut sweep = cli();
    sweep.args(["sweep", "--older-than", "0s"]).envs(env);
    let out = tokio::task::spawn_blocking(move || sweep.output().expect("run sweep"))
        .await
        .unwrap();
    assert!(out.status.success(), "sweep failed: {:?}", text(&out));
    assert!(
        server.smoke_entities().is_empty(),
        "sweep left {:?} (had {left:?})",
        server.smoke_entities()
    );
    server.shutdown().await;
}
