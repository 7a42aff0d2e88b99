//! Plain terminal output: one line per step, then a summary that names each
//! failure with its cause in one line, then the verdict. Redacted like every other
//! output.
//!
//! Colour (green PASS, red FAIL, yellow ERROR) only when stdout is a terminal and
//! neither `NO_COLOR` (<https://no-color.org>) nor `CI` is set: logs and pipes get
//! plain text. See [`Style::detect`].

use std::fmt::Write;

use stageos_smoke_http::secrets::Redactor;
use stageos_smoke_model::config::EnvSnapshot;
use stageos_smoke_model::outcome::{RunReport, StepOutcome, StepResult};

/// How to style the output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    /// ANSI colours on.
    pub color: bool,
}

impl Style {
    /// Plain text.
    pub const PLAIN: Style = Style { color: false };
    /// ANSI colours.
    pub const COLOR: Style = Style { color: true };

    /// Colour only on a terminal, and never when `NO_COLOR` or `CI` is set to a
    /// non-empty value (no-color.org: an empty `NO_COLOR` does not count).
    pub fn detect(env: &EnvSnapshot, stdout_is_terminal: bool) -> Style {
        Style {
            color: stdout_is_terminal && env.get("NO_COLOR").is_none() && env.get("CI").is_none(),
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

fn word(s: &StepResult) -> (&'static str, &'static str) {
    match s.outcome {
        StepOutcome::Passed if s.is_flaky() => ("FLAKY", "35"),
        StepOutcome::Passed => ("PASS", "32"),
        StepOutcome::Failed { .. } => ("FAIL", "1;31"),
        StepOutcome::Error { .. } => ("ERROR", "1;33"),
        StepOutcome::Skipped { .. } => ("SKIP", "2"),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Render the per-step lines and the final summary, without colour.
pub fn render(report: &RunReport, redactor: &Redactor) -> String {
    render_styled(report, redactor, Style::PLAIN)
}

/// Render the per-step lines and the final summary in `style`.
pub fn render_styled(report: &RunReport, redactor: &Redactor, style: Style) -> String {
    let mut out = String::new();
    for s in &report.steps {
        out.push_str(&step_line(s, redactor, style));
    }
    out.push_str(&render_summary(report, redactor, style));
    out
}

/// One step's line, redacted, ending in a newline: what a CI log shows the moment
/// the step finishes.
pub fn step_line(s: &StepResult, redactor: &Redactor, style: Style) -> String {
    let mut out = String::new();
    let (w, code) = word(s);
    let _ = write!(
        out,
        "{} [{:>6.0} ms] {}",
        style.paint(code, &format!("{w:>5}")),
        s.duration_ms,
        s.full_name()
    );
    if let Some(m) = s.outcome.message() {
        let _ = write!(out, ": {}", one_line(m));
    } else if let Some(r) = s.retries.first() {
        let _ = write!(out, ": passed after a retry ({})", one_line(r));
    } else if !s.notes.is_empty() {
        let _ = write!(out, ": {}", one_line(&s.notes.join("; ")));
    }
    out.push('\n');
    redactor.redact(&out)
}

/// The summary after the step lines: each failure with its cause, then the verdict.
pub fn render_summary(report: &RunReport, redactor: &Redactor, style: Style) -> String {
    let mut out = String::new();
    let bad: Vec<&StepResult> = report
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s.outcome,
                StepOutcome::Failed { .. } | StepOutcome::Error { .. }
            )
        })
        .collect();
    if !bad.is_empty() || report.run_error.is_some() {
        let _ = writeln!(
            out,
            "\n{}",
            style.paint("1", &format!("failures ({}):", bad.len()))
        );
        if let Some(e) = &report.run_error {
            let _ = writeln!(
                out,
                "  {} the run: {}",
                style.paint("1;33", "ERROR"),
                one_line(e)
            );
        }
        for s in bad {
            let (w, code) = word(s);
            let cause = match &s.outcome {
                StepOutcome::Failed {
                    expected, actual, ..
                } => {
                    format!(
                        "expected {}, actual {}",
                        one_line(expected),
                        one_line(actual)
                    )
                }
                StepOutcome::Error { message } => format!("could not check: {}", one_line(message)),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "  {} {} — {cause}",
                style.paint(code, &format!("{w:<5}")),
                s.full_name()
            );
        }
    }

    out.push_str(&verdict_line(report, style));
    redactor.redact(&out)
}

/// The one-line verdict (after a blank line): status, counts, wall time, run id.
pub fn verdict_line(report: &RunReport, style: Style) -> String {
    let c = report.counts();
    let status = report.exit_status();
    let verdict_code = match status.as_str() {
        "passed" => "1;32",
        "failed" => "1;31",
        _ => "1;33",
    };
    format!(
        "\nverdict: {} ({} steps: {} passed ({} flaky), {} failed, {} errors, {} skipped) in {:.2} s, run {}\n",
        style.paint(verdict_code, status.as_str()),
        c.total,
        c.passed,
        c.flaky,
        c.failed,
        c.errors,
        c.skipped,
        report.wall_ms / 1000.0,
        report.run_id
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, outcome: StepOutcome) -> StepResult {
        StepResult {
            flow: "auth".into(),
            step: name.into(),
            description: String::new(),
            outcome,
            start_ms: 0.0,
            duration_ms: 12.0,
            requests: vec![],
            retries: vec![],
            notes: vec![],
        }
    }

    fn report() -> RunReport {
        RunReport {
            run_id: "smoke-1".into(),
            target: "embedded".into(),
            profile: "p".into(),
            started_at: String::new(),
            wall_ms: 1500.0,
            steps: vec![
                step("login", StepOutcome::Passed),
                step(
                    "me_reports_role",
                    StepOutcome::Failed {
                        message: "/api/me role: expected \"manager\", got \"owner\"".into(),
                        expected: "\"manager\"".into(),
                        actual: "\"owner\"".into(),
                    },
                ),
                step(
                    "refresh",
                    StepOutcome::Error {
                        message: "connection reset\nby peer".into(),
                    },
                ),
                step(
                    "logout",
                    StepOutcome::Skipped {
                        reason: "not run".into(),
                    },
                ),
            ],
            run_error: None,
            cleanups: vec![],
            interrupted: false,
        }
    }

    #[test]
    fn summary_names_each_failure_in_one_line_with_its_cause() {
        let text = render(&report(), &Redactor::new());
        let summary = &text[text.find("failures (2):").expect("summary section")..];
        let lines: Vec<&str> = summary.lines().collect();
        assert_eq!(
            lines[1],
            "  FAIL  auth::me_reports_role — expected \"manager\", actual \"owner\""
        );
        assert_eq!(
            lines[2],
            "  ERROR auth::refresh — could not check: connection reset by peer"
        );
        assert!(lines[4].starts_with("verdict: failed (4 steps: 1 passed (0 flaky), 1 failed, 1 errors, 1 skipped) in 1.50 s"), "{}", lines[4]);
        assert!(!text.contains('\x1b'), "plain text has no escape codes");
    }

    #[test]
    fn colours_pass_fail_error_only_when_asked() {
        let text = render_styled(&report(), &Redactor::new(), Style::COLOR);
        assert!(text.contains("\x1b[32m PASS\x1b[0m"));
        assert!(text.contains("\x1b[1;31m FAIL\x1b[0m"));
        assert!(text.contains("\x1b[1;33mERROR\x1b[0m"));
        assert!(text.contains("verdict: \x1b[1;31mfailed\x1b[0m"));
    }

    #[test]
    fn colour_needs_a_terminal_and_neither_no_color_nor_ci() {
        let none = EnvSnapshot::default();
        assert_eq!(Style::detect(&none, true), Style::COLOR);
        assert_eq!(Style::detect(&none, false), Style::PLAIN);
        assert_eq!(
            Style::detect(&EnvSnapshot::from_pairs([("NO_COLOR", "1")]), true),
            Style::PLAIN
        );
        assert_eq!(
            Style::detect(&EnvSnapshot::from_pairs([("NO_COLOR", "")]), true),
            Style::COLOR,
            "an empty NO_COLOR does not count"
        );
        assert_eq!(
            Style::detect(&EnvSnapshot::from_pairs([("CI", "true")]), true),
            Style::PLAIN
        );
    }

    #[test]
    fn passing_run_has_no_failures_section() {
        let mut r = report();
        r.steps.truncate(1);
        let text = render(&r, &Redactor::new());
        assert!(!text.contains("failures"));
        assert!(text.contains("verdict: passed"));
    }
}
