//! The waits that depend on the target's clock (a signed URL's expiry, an
//! availability request's `respond_by`) are judged by the clock the run learned
//! from the target's `Date` headers, not by ours: a target 1.5 s ahead of us or
//! behind us stays green, and the expiry check still polls from the earliest moment
//! the URL can have expired by the target's clock (`crates/http/src/clock.rs`).
//! That the checks still fail on a target that really serves expired URLs or takes
//! late answers is tests/detection.rs (`expiry-not-enforced`, `late-answer-accepted`).

mod common;

use stageos_smoke::StepOutcome;

use common::*;

async fn green_with_clock(offset_ms: i64) {
    let condition = format!("clock:{offset_ms}");
    let (report, _) = run_embedded(None, None, &[&condition]).await;
    let bad: Vec<String> = report
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s.outcome,
                StepOutcome::Failed { .. } | StepOutcome::Error { .. }
            )
        })
        .map(|s| format!("{}: {:?}", s.full_name(), s.outcome))
        .collect();
    assert!(
        bad.is_empty(),
        "with the target's clock {offset_ms} ms off, steps went red:\n{}",
        bad.join("\n")
    );
    for step in [
        "files::expired_url_refused",
        "availability::closed_request_refuses_late_answer",
    ] {
        assert!(
            report
                .steps
                .iter()
                .any(|s| s.full_name() == step && matches!(s.outcome, StepOutcome::Passed)),
            "{step} did not pass"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_clock_ahead_of_ours_stays_green() {
    green_with_clock(1500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_clock_behind_ours_stays_green() {
    green_with_clock(-1500).await;
}
