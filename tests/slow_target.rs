//! A slow target is not a broken one: with 300 ms added to every request (a staging
//! far away, under load) the post-deploy profile stays green within its deadlines.
//! The waits the checks create are polled from their earliest moment and the RBAC
//! cells run side by side, but no check got weaker for it: every deadline is as
//! before, and the detection matrix still turns each fault red.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_target_passes_within_its_deadlines() {
    let (report, _) = run_embedded(None, None, &["latency:*:300"]).await;
    let bad: Vec<String> = report
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s.outcome,
                stageos_smoke::StepOutcome::Failed { .. }
                    | stageos_smoke::StepOutcome::Error { .. }
            )
        })
        .map(|s| format!("{}: {:?}", s.full_name(), s.outcome))
        .collect();
    assert!(
        bad.is_empty(),
        "a slow target went red:\n{}",
        bad.join("\n")
    );
    assert!(
        report
            .steps
            .iter()
            .any(|s| s.outcome == stageos_smoke::StepOutcome::Passed),
        "the run checked something"
    );
}
