//! A run killed half-way (SIGKILL: no cleanup guard can run) leaves smoke data
//! behind; the next run's housekeeping step removes it, and so does
//! `stageos-smoke sweep` (only smoke data: `tests/flows.rs` checks untagged data
//! survives a sweep).

mod common;

use std::time::Duration;

use stageos_reference::{RunningServer, ServerOptions};

use common::*;

/// Start a reference, run the dossier flow against it and SIGKILL the run once it
/// has created smoke data. Returns the server, the CLI environment and what was left.
#[cfg(unix)]
async fn killed_run_leftovers() -> (RunningServer, Vec<(String, String)>, Vec<String>) {
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
    (server, env, left)
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_runs_housekeeping_removes_what_a_killed_run_left() {
    let (server, env, left) = killed_run_leftovers().await;
    // The leftovers are seconds old: this run sweeps anything older than 0 s.
    let dir = temp_dir("housekeeping");
    let cfg = dir.join("stageos-smoke.toml");
    std::fs::write(
        &cfg,
        "default_environment = \"next\"\n[environments.next]\nsweep_older_than = \"0s\"\n",
    )
    .unwrap();
    let mut next = cli();
    next.args(["run", "housekeeping::", "--config"])
        .arg(&cfg)
        .arg("--report-dir")
        .arg(&dir)
        .envs(env);
    let out = tokio::task::spawn_blocking(move || next.output().expect("run cli"))
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "next run failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!(
            "{} leftover(s) older than 0 s deleted",
            left.len()
        )),
        "{stdout}"
    );
    assert!(
        server.smoke_entities().is_empty(),
        "the next run left {:?} (had {left:?})",
        server.smoke_entities()
    );
    server.shutdown().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_removes_what_a_killed_run_left() {
    let (server, env, left) = killed_run_leftovers().await;
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
