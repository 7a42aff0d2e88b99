//! Healthy-target soak: the full suite back to back against a healthy reference
//! server with random per-request latency jitter (0–50 ms) must be green every
//! time — a red here is a false alarm that would wake someone at 3 a.m.
//!
//! CI runs `STAGEOS_SOAK_RUNS` runs (default 3). The long soak is the same test
//! with a larger count:
//!
//! ```sh
//! STAGEOS_SOAK_RUNS=50 cargo test --release --test soak -- --nocapture
//! ```

mod common;

use std::collections::BTreeMap;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_suite_stays_green_under_jitter() {
    let runs: usize = std::env::var("STAGEOS_SOAK_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut reds: BTreeMap<String, usize> = BTreeMap::new();
    let mut flaky = 0;
    for i in 0..runs {
        let (report, _) = run_embedded(Some("full"), None, &["jitter:50"]).await;
        flaky += report.counts().flaky;
        for s in report
            .steps
            .iter()
            .filter(|s| matches!(s.outcome.label(), "failed" | "error"))
        {
            eprintln!(
                "soak run {i}: {} {}: {}",
                s.outcome.label(),
                s.full_name(),
                s.outcome.message().unwrap_or("")
            );
            *reds.entry(s.full_name()).or_default() += 1;
        }
    }
    eprintln!(
        "soak: {runs} runs of profile full under jitter:50, {} red steps, {flaky} flaky passes",
        reds.values().sum::<usize>()
    );
    assert!(reds.is_empty(), "false reds on a healthy target: {reds:?}");
}
