//! Live output of a run, fed by its event stream ([`stageos_smoke_model::event`]):
//!
//! - one line per step the moment it finishes, on stdout: the log a CI job shows
//!   as the run goes, so a job killed at its timeout has logged every step up to
//!   that moment;
//! - on a terminal (no `CI`, no `NO_COLOR`), a progress line on stderr — how many
//!   flows are running and how many steps passed, failed, errored or were skipped —
//!   redrawn in place after each event and every 200 ms.
//!
//! Both run on one plain thread that reads the channel ([`spawn`]); the runner never
//! waits for it.

use std::collections::HashSet;
use std::io::Write;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::event::Event;
use crate::outcome::StepOutcome;
use crate::report::terminal::{self, Style};
use crate::secrets::Redactor;

/// Counts of a run so far, from its events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    running: usize,
    done_flows: usize,
    passed: usize,
    failed: usize,
    errors: usize,
    skipped: usize,
}

impl Progress {
    /// Take one event into account.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::FlowStarted { .. } => self.running += 1,
            Event::FlowFinished { .. } => {
                self.running = self.running.saturating_sub(1);
                self.done_flows += 1;
            }
            Event::StepFinished(step) => match step.outcome {
                StepOutcome::Passed => self.passed += 1,
                StepOutcome::Failed { .. } => self.failed += 1,
                StepOutcome::Error { .. } => self.errors += 1,
                StepOutcome::Skipped { .. } => self.skipped += 1,
            },
            Event::RunStarted { .. } | Event::CleanupDone(_) | Event::RunFinished(_) => {}
        }
    }

    /// The progress line as it stands.
    pub fn line(&self) -> String {
        format!(
            "running {} flows ({} done) · {} passed · {} failed · {} errors · {} skipped",
            self.running, self.done_flows, self.passed, self.failed, self.errors, self.skipped
        )
    }
}

/// What the live output printed: the `flow::step` names whose line is out.
pub type Printed = HashSet<String>;

/// Print each step's line as its event arrives (and, with `progress_line`, keep the
/// progress line on stderr) until the run finishes or the sender is gone. Join the
/// handle to learn which lines were printed.
pub fn spawn(
    events: Receiver<Event>,
    redactor: Redactor,
    style: Style,
    progress_line: bool,
) -> JoinHandle<Printed> {
    std::thread::spawn(move || {
        let mut progress = Progress::default();
        let mut printed = Printed::new();
        loop {
            let event = match events.recv_timeout(Duration::from_millis(200)) {
                Ok(event) => event,
                Err(RecvTimeoutError::Timeout) => {
                    if progress_line {
                        redraw(&progress);
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            progress.apply(&event);
            if let Event::StepFinished(step) = &event {
                if progress_line {
                    clear();
                }
                let line = terminal::step_line(step, &redactor, style);
                let mut out = std::io::stdout().lock();
                // A closed stdout (`run | head`) is not an error of the run.
                let _ = out.write_all(line.as_bytes());
                let _ = out.flush();
                printed.insert(step.full_name());
            }
            if matches!(event, Event::RunFinished(_)) {
                break;
            }
            if progress_line {
                redraw(&progress);
            }
        }
        if progress_line {
            clear();
        }
        printed
    })
}

fn redraw(progress: &Progress) {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r\x1b[2K{}", progress.line());
    let _ = err.flush();
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
    use crate::outcome::StepResult;

    fn step(outcome: StepOutcome) -> Event {
        Event::StepFinished(Box::new(StepResult {
            flow: "auth".into(),
            step: "login".into(),
            description: String::new(),
            outcome,
            start_ms: 0.0,
            duration_ms: 1.0,
            requests: vec![],
            retries: vec![],
            notes: vec![],
        }))
    }

    #[test]
    fn the_line_counts_every_step_event_skipped_and_aborted_ones_included() {
        let mut p = Progress::default();
        for e in [
            Event::FlowStarted { flow: "a".into() },
            Event::FlowStarted { flow: "b".into() },
            step(StepOutcome::Passed),
            step(StepOutcome::Error {
                message: "aborted".into(),
            }),
            step(StepOutcome::Skipped {
                reason: "not run".into(),
            }),
            Event::FlowFinished { flow: "a".into() },
        ] {
            p.apply(&e);
        }
        assert_eq!(
            p.line(),
            "running 1 flows (1 done) · 1 passed · 0 failed · 1 errors · 1 skipped"
        );
    }
}
