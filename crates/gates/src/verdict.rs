//! What a gate concludes: pass, warn, fail or inconclusive, each carrying the
//! numbers behind it.
//!
//! A gate's verdict is data; [`Verdict::into_step`] maps it onto the step model
//! (`Passed` / `Failed` / `Skipped`). *Inconclusive* is its own outcome here and is
//! never a pass: it becomes a step **skipped** with a reason that starts with
//! `inconclusive:` and names the numbers (or, when the profile says
//! `on_inconclusive = "error"`, a could-not-check error). Skipped rather than a new
//! step status because the report model (JUnit, JSON, exit codes) already keeps
//! "not judged" apart from both pass and fail; a skipped gate shows as skipped in
//! JUnit and in the terminal, with its reason, and never counts as passed.

use serde::{Deserialize, Serialize};

use stageos_smoke_model::error::{CheckFailure, ExecError, StepError};

/// The verdict of one gate.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The number is within its threshold.
    Pass {
        /// One line with the number and the threshold.
        summary: String,
    },
    /// Within the failing threshold but above the warning one (e.g. slow burn).
    Warn {
        /// One line with the number and both thresholds.
        summary: String,
    },
    /// The number breaks its threshold.
    Fail {
        /// What was measured.
        what: String,
        /// The threshold (and where it comes from).
        expected: String,
        /// The number measured.
        actual: String,
    },
    /// Not enough data to judge (too little traffic, no baseline, no events).
    Inconclusive {
        /// Why, with the numbers.
        reason: String,
    },
}

impl Verdict {
    /// A failing verdict.
    pub fn fail(
        what: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Self {
        Verdict::Fail {
            what: what.into(),
            expected: expected.into(),
            actual: actual.into(),
        }
    }

    /// An inconclusive verdict.
    pub fn inconclusive(reason: impl Into<String>) -> Self {
        Verdict::Inconclusive {
            reason: reason.into(),
        }
    }

    /// Short word.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Pass { .. } => "pass",
            Verdict::Warn { .. } => "warn",
            Verdict::Fail { .. } => "fail",
            Verdict::Inconclusive { .. } => "inconclusive",
        }
    }

    /// One line for logs and canary output.
    pub fn line(&self) -> String {
        match self {
            Verdict::Pass { summary } => format!("pass: {summary}"),
            Verdict::Warn { summary } => format!("warn: {summary}"),
            Verdict::Fail {
                what,
                expected,
                actual,
            } => format!("fail: {what}: expected {expected}, got {actual}"),
            Verdict::Inconclusive { reason } => format!("inconclusive: {reason}"),
        }
    }

    /// Map onto the step model. `Ok(None)` passed (a warning is noted on the step), `Ok(Some(reason))`
    /// is a skip with that reason, `Err` a failed check (or, for an inconclusive verdict
    /// under [`OnInconclusive::Error`], a could-not-check error).
    pub fn into_step(self, on_inconclusive: OnInconclusive) -> Result<Option<String>, StepError> {
        match self {
            Verdict::Pass { .. } => Ok(None),
            // The step notes the warning (see `flow::Notes::verdict`).
            Verdict::Warn { .. } => Ok(None),
            Verdict::Fail { what, expected, actual } => Err(CheckFailure { what, expected, actual }.into()),
            Verdict::Inconclusive { reason } => match on_inconclusive {
                OnInconclusive::Skip => Ok(Some(format!("inconclusive: {reason}"))),
                OnInconclusive::Error => Err(ExecError::Other(format!(
                    "inconclusive: {reason} (hint: the profile sets on_inconclusive = \"error\"; wait for more traffic or lower min_requests)"
                ))
                .into()),
            },
        }
    }
}

/// What an inconclusive verdict becomes in the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnInconclusive {
    /// A skipped step whose reason starts with `inconclusive:` (default).
    #[default]
    Skip,
    /// A could-not-check error (exit code 3 when nothing failed).
    Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inconclusive_is_never_a_pass() {
        let v = Verdict::inconclusive("12 requests, fewer than the 100 required");
        assert_eq!(
            v.clone().into_step(OnInconclusive::Skip).unwrap(),
            Some("inconclusive: 12 requests, fewer than the 100 required".to_owned())
        );
        assert!(matches!(
            v.into_step(OnInconclusive::Error),
            Err(StepError::Exec(_))
        ));
    }

    #[test]
    fn fail_carries_expected_and_actual() {
        let v = Verdict::fail("p95", "≤ 170 ms", "420 ms");
        match v.into_step(OnInconclusive::Skip) {
            Err(StepError::Check(c)) => {
                assert_eq!(c.expected, "≤ 170 ms");
                assert_eq!(c.actual, "420 ms");
            }
            other => panic!("{other:?}"),
        }
    }
}
