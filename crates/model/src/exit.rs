//! Documented exit codes, shared by the CLI and the canary.
//!
//! A failed check (the target is wrong: roll back) is kept apart from a run that
//! could not check (target unreachable, bad config: investigate before deciding).

use std::process::ExitCode;

/// How a run ended, from the pipeline's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// Every selected check passed (flaky passes included).
    Passed,
    /// At least one check failed: the target does not behave as the contract says.
    CheckFailed,
    /// Nothing failed, but at least one check could not be carried out
    /// (unreachable target, bad configuration, missing secret, broken response).
    CouldNotCheck,
    /// The command line was wrong (clap reports these itself with the same code).
    Usage,
    /// The run was interrupted by SIGINT/SIGTERM.
    Interrupted,
}

impl ExitStatus {
    /// All passed.
    pub const PASSED: u8 = 0;
    /// A check failed.
    pub const CHECK_FAILED: u8 = 1;
    /// Usage error (same as clap's own).
    pub const USAGE: u8 = 2;
    /// The run could not check.
    pub const COULD_NOT_CHECK: u8 = 3;
    /// Interrupted (128 + SIGINT).
    pub const INTERRUPTED: u8 = 130;

    /// The numeric process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Passed => Self::PASSED,
            ExitStatus::CheckFailed => Self::CHECK_FAILED,
            ExitStatus::CouldNotCheck => Self::COULD_NOT_CHECK,
            ExitStatus::Usage => Self::USAGE,
            ExitStatus::Interrupted => Self::INTERRUPTED,
        }
    }

    /// Short word for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ExitStatus::Passed => "passed",
            ExitStatus::CheckFailed => "failed",
            ExitStatus::CouldNotCheck => "error",
            ExitStatus::Usage => "usage",
            ExitStatus::Interrupted => "interrupted",
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status.code())
    }
}
