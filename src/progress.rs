//! Live progress on a terminal: how many flows are running and how many steps
//! passed, failed, errored or were skipped so far, redrawn in place on one line.
//!
//! Process-wide counters (the runner and [`crate::flow::FlowRun`] bump them), read
//! by a ticker the binary starts only when stdout is a TTY and neither `CI` nor
//! `NO_COLOR` asks for plain output; plain runs print one line per step at the end.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::outcome::StepOutcome;

static RUNNING: AtomicUsize = AtomicUsize::new(0);
static DONE_FLOWS: AtomicUsize = AtomicUsize::new(0);
static PASSED: AtomicUsize = AtomicUsize::new(0);
static FAILED: AtomicUsize = AtomicUsize::new(0);
static ERRORS: AtomicUsize = AtomicUsize::new(0);
static SKIPPED: AtomicUsize = AtomicUsize::new(0);

/// A flow started.
pub fn flow_started() {
    RUNNING.fetch_add(1, Ordering::Relaxed);
}

/// A flow finished.
pub fn flow_finished() {
    RUNNING.fetch_sub(1, Ordering::Relaxed);
    DONE_FLOWS.fetch_add(1, Ordering::Relaxed);
}

/// A step ended with `outcome`.
pub fn step_finished(outcome: &StepOutcome) {
    let counter = match outcome {
        StepOutcome::Passed => &PASSED,
        StepOutcome::Failed { .. } => &FAILED,
        StepOutcome::Error { .. } => &ERRORS,
        StepOutcome::Skipped { .. } => &SKIPPED,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The progress line as it stands.
pub fn line() -> String {
    render(
        RUNNING.load(Ordering::Relaxed),
        DONE_FLOWS.load(Ordering::Relaxed),
        [&PASSED, &FAILED, &ERRORS, &SKIPPED].map(|c| c.load(Ordering::Relaxed)),
    )
}

fn render(running: usize, done: usize, [passed, failed, errors, skipped]: [usize; 4]) -> String {
    format!(
        "running {running} flows ({done} done) · {passed} passed · {failed} failed · {errors} errors · {skipped} skipped"
    )
}

/// Redraw the line every 200 ms on stderr until the returned handle is aborted;
/// call [`clear`] after aborting it.
pub fn spawn_ticker() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tick.tick().await;
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K{}", line());
            let _ = err.flush();
        }
    })
}

/// Erase the progress line.
pub fn clear() {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r\x1b[2K");
    let _ = err.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_running_flows_and_counts() {
        assert_eq!(
            render(3, 2, [10, 1, 0, 4]),
            "running 3 flows (2 done) · 10 passed · 1 failed · 0 errors · 4 skipped"
        );
    }
}
