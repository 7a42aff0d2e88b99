//! A Markdown step summary (GitHub Actions' `$GITHUB_STEP_SUMMARY`, and
//! `reports/summary.md`): the verdict first, then failures with expected/actual,
//! then every step in a table.

use std::fmt::Write;

use stageos_smoke_model::outcome::{RunReport, StepOutcome};

fn icon(o: &StepOutcome) -> &'static str {
    match o {
        StepOutcome::Passed => "✅",
        StepOutcome::Failed { .. } => "❌",
        StepOutcome::Error { .. } => "⚠️",
        StepOutcome::Skipped { .. } => "⏭️",
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Render the report as Markdown.
pub fn render(report: &RunReport) -> String {
    let c = report.counts();
    let status = report.exit_status();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## StageOS smoke: {} — {} passed, {} failed, {} errors, {} skipped\n",
        status.as_str().to_uppercase(),
        c.passed,
        c.failed,
        c.errors,
        c.skipped
    );
    let _ = writeln!(
        out,
        "Target `{}`, profile `{}`, run `{}`, {:.1} s.\n",
        report.target,
        report.profile,
        report.run_id,
        report.wall_ms / 1000.0
    );
    if let Some(e) = &report.run_error {
        let _ = writeln!(out, "> **Could not check:** {}\n", cell(e));
    }
    let bad: Vec<_> = report
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s.outcome,
                StepOutcome::Failed { .. } | StepOutcome::Error { .. }
            )
        })
        .collect();
    if !bad.is_empty() {
        let _ = writeln!(out, "### Failures\n");
        for s in bad {
            match &s.outcome {
                StepOutcome::Failed {
                    message,
                    expected,
                    actual,
                } => {
                    let _ = writeln!(
                        out,
                        "- ❌ `{}` — {}\n  - expected: `{}`\n  - actual: `{}`",
                        s.full_name(),
                        cell(message),
                        cell(expected),
                        cell(actual)
                    );
                }
                StepOutcome::Error { message } => {
                    let _ = writeln!(
                        out,
                        "- ⚠️ `{}` — could not check: {}",
                        s.full_name(),
                        cell(message)
                    );
                }
                _ => {}
            }
        }
        out.push('\n');
    }
    let _ = writeln!(out, "| | step | time | detail |\n|---|---|---:|---|");
    for s in &report.steps {
        let _ = writeln!(
            out,
            "| {} | `{}` | {:.0} ms | {} |",
            icon(&s.outcome),
            s.full_name(),
            s.duration_ms,
            cell(&match (s.outcome.message(), s.notes.is_empty()) {
                (Some(m), _) => m.to_owned(),
                (None, false) => s.notes.join("; "),
                (None, true) => s.description.clone(),
            })
        );
    }
    out.push_str(&crate::checklist::markdown(&crate::checklist::evaluate(
        report,
    )));
    out
}
