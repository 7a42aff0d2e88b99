//! The plain data a run produces: one [`StepResult`] per selected step, with the raw
//! request timings behind it. Reporters read this and nothing else.

use serde::Serialize;

use crate::exit::ExitStatus;

/// What became of one step.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StepOutcome {
    /// The check held.
    Passed,
    /// The target is wrong: the check did not hold.
    Failed {
        /// One line: what was checked, expected and actual.
        message: String,
        /// What the contract requires.
        expected: String,
        /// What came back.
        actual: String,
    },
    /// The check could not be carried out (transport error, unusable response,
    /// configuration problem).
    Error {
        /// One line naming the cause and, where known, the fix.
        message: String,
    },
    /// Not run, with the reason (a step it depends on failed, or the profile
    /// leaves it out at run time).
    Skipped {
        /// Why it was not run.
        reason: String,
    },
}

impl StepOutcome {
    /// Short word used in reports and on the terminal.
    pub fn label(&self) -> &'static str {
        match self {
            StepOutcome::Passed => "passed",
            StepOutcome::Failed { .. } => "failed",
            StepOutcome::Error { .. } => "error",
            StepOutcome::Skipped { .. } => "skipped",
        }
    }

    /// The one-line message, if any.
    pub fn message(&self) -> Option<&str> {
        match self {
            StepOutcome::Passed => None,
            StepOutcome::Failed { message, .. } | StepOutcome::Error { message } => Some(message),
            StepOutcome::Skipped { reason } => Some(reason),
        }
    }
}

/// Milliseconds from `run_start` to `at` (0 for an `at` before it): the clock of
/// every `start_ms` in a report.
pub fn offset_ms(run_start: std::time::Instant, at: std::time::Instant) -> f64 {
    at.saturating_duration_since(run_start).as_secs_f64() * 1000.0
}

/// One HTTP exchange as the suite saw it: raw sample, no aggregation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path without query string (queries may carry signatures).
    pub path: String,
    /// Status code, or `None` when no response arrived.
    pub status: Option<u16>,
    /// Start, in milliseconds since the run started.
    pub start_ms: f64,
    /// Duration in milliseconds.
    pub duration_ms: f64,
}

/// What happened to one cleanup.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CleanupRecord {
    /// Flow that created the object.
    pub flow: String,
    /// What was deleted, e.g. `event 5f…`.
    pub what: String,
    /// `deleted`, or the error.
    pub result: String,
    /// Start of the delete, in milliseconds since the run started.
    pub start_ms: f64,
    /// Duration of the delete in milliseconds (0 for a record of deletes that
    /// never ran).
    pub duration_ms: f64,
}

/// The result of one step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepResult {
    /// Flow id, e.g. `auth` (JUnit classname).
    pub flow: String,
    /// Step id, e.g. `refresh_rotates_tokens` (JUnit name).
    pub step: String,
    /// Human sentence describing the check.
    pub description: String,
    /// What happened.
    #[serde(flatten)]
    pub outcome: StepOutcome,
    /// Start, in milliseconds since the run started.
    pub start_ms: f64,
    /// Duration in milliseconds.
    pub duration_ms: f64,
    /// The requests the step made.
    pub requests: Vec<RequestRecord>,
    /// Retries of idempotent requests during the step, one note each. A step that
    /// passed with retries is flaky, never a plain pass.
    pub retries: Vec<String>,
    /// What the step measured, for a gate its number and threshold ("p95 24.1 ms
    /// ≤ 78.8 ms"); a warning starts with `warning:`. Shown even when it passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl StepResult {
    /// `flow::step`, the name used by the harness and filters.
    pub fn full_name(&self) -> String {
        format!("{}::{}", self.flow, self.step)
    }

    /// Passed, but only after retrying a request.
    pub fn is_flaky(&self) -> bool {
        self.outcome == StepOutcome::Passed && !self.retries.is_empty()
    }
}

/// Everything a run produced.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// Random id sent as `X-StageOS-Smoke-Run` and tagged on created data.
    pub run_id: String,
    /// The target's base URL (or `embedded`).
    pub target: String,
    /// The profile that chose the flows.
    pub profile: String,
    /// RFC 3339 start time.
    pub started_at: String,
    /// Wall time in milliseconds.
    pub wall_ms: f64,
    /// One result per selected step, in catalogue order.
    pub steps: Vec<StepResult>,
    /// A problem that stopped the run from checking anything, if any.
    pub run_error: Option<String>,
    /// The cleanup guards that ran (objects deleted at the end of their flow).
    pub cleanups: Vec<CleanupRecord>,
    /// SIGINT/SIGTERM stopped the run before it finished.
    pub interrupted: bool,
}

/// Counts per outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Total steps reported.
    pub total: usize,
    /// Passed.
    pub passed: usize,
    /// Failed checks.
    pub failed: usize,
    /// Could not check.
    pub errors: usize,
    /// Skipped.
    pub skipped: usize,
    /// Passed only after a retry (included in `passed`).
    pub flaky: usize,
}

impl RunReport {
    /// Count outcomes.
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            total: self.steps.len(),
            ..Counts::default()
        };
        for s in &self.steps {
            if s.is_flaky() {
                c.flaky += 1;
            }
            match s.outcome {
                StepOutcome::Passed => c.passed += 1,
                StepOutcome::Failed { .. } => c.failed += 1,
                StepOutcome::Error { .. } => c.errors += 1,
                StepOutcome::Skipped { .. } => c.skipped += 1,
            }
        }
        c
    }

    /// The verdict: a failed check wins over a could-not-check, which wins over a pass.
    pub fn exit_status(&self) -> ExitStatus {
        let c = self.counts();
        if self.interrupted {
            ExitStatus::Interrupted
        } else if c.failed > 0 {
            ExitStatus::CheckFailed
        } else if c.errors > 0 || self.run_error.is_some() {
            ExitStatus::CouldNotCheck
        } else {
            ExitStatus::Passed
        }
    }
}
