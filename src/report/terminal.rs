//! Plain terminal output: one line per step, then a summary that names each
//! failure with its cause. Redacted like every other output.

use std::fmt::Write;

use crate::outcome::{RunReport, StepOutcome};
use crate::secrets::Redactor;

/// Render the per-step lines and the final summary.
pub fn render(report: &RunReport, redactor: &Redactor) -> String {
    let mut out = String::new();
    for s in &report.steps {
        let word = match s.outcome {
            StepOutcome::Passed => "PASS",
            StepOutcome::Failed { .. } => "FAIL",
            StepOutcome::Error { .. } => "ERROR",
            StepOutcome::Skipped { .. } => "SKIP",
        };
        let _ = write!(
            out,
            "{word:>5} [{:>6.0} ms] {}",
            s.duration_ms,
            s.full_name()
        );
        if let Some(m) = s.outcome.message() {
            let _ = write!(out, ": {m}");
        }
        out.push('\n');
    }
    let c = report.counts();
    let _ = writeln!(
        out,
        "\nverdict: {} ({} steps: {} passed, {} failed, {} errors, {} skipped) in {:.2} s, run {}",
        report.exit_status().as_str(),
        c.total,
        c.passed,
        c.failed,
        c.errors,
        c.skipped,
        report.wall_ms / 1000.0,
        report.run_id
    );
    redactor.redact(&out)
}
