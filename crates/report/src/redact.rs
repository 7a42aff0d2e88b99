//! Redaction of the run's data *before* any format serialises it.
//!
//! Redacting a finished JUnit or JSON text is not enough: the serialiser escapes a
//! secret holding `&`, `<`, `"` or `\` (`p&<w` becomes `p&amp;&lt;w` in XML,
//! `p\"w` in JSON), and the escaped form no longer matches the registered secret.
//! So every reporter renders a copy of the report whose strings have already been
//! through the redactor; the rendered text is redacted once more as a second net.

use stageos_smoke_http::secrets::Redactor;
use stageos_smoke_model::outcome::{CleanupRecord, RunReport, StepOutcome, StepResult};

/// A copy of `report` with every string the reporters print redacted.
pub fn redacted(report: &RunReport, redactor: &Redactor) -> RunReport {
    let r = |s: &str| redactor.redact(s);
    RunReport {
        run_id: r(&report.run_id),
        target: r(&report.target),
        profile: r(&report.profile),
        started_at: report.started_at.clone(),
        wall_ms: report.wall_ms,
        steps: report
            .steps
            .iter()
            .map(|s| redacted_step(s, redactor))
            .collect(),
        run_error: report.run_error.as_deref().map(r),
        cleanups: report
            .cleanups
            .iter()
            .map(|c| CleanupRecord {
                flow: r(&c.flow),
                what: r(&c.what),
                result: r(&c.result),
                ..c.clone()
            })
            .collect(),
        interrupted: report.interrupted,
    }
}

fn redacted_step(s: &StepResult, redactor: &Redactor) -> StepResult {
    let r = |s: &str| redactor.redact(s);
    let outcome = match &s.outcome {
        StepOutcome::Passed => StepOutcome::Passed,
        StepOutcome::Failed {
            message,
            expected,
            actual,
        } => StepOutcome::Failed {
            message: r(message),
            expected: r(expected),
            actual: r(actual),
        },
        StepOutcome::Error { message } => StepOutcome::Error {
            message: r(message),
        },
        StepOutcome::Skipped { reason } => StepOutcome::Skipped { reason: r(reason) },
    };
    let mut requests = s.requests.clone();
    for q in &mut requests {
        q.path = r(&q.path);
        q.method = r(&q.method);
    }
    StepResult {
        flow: r(&s.flow),
        step: r(&s.step),
        description: r(&s.description),
        outcome,
        start_ms: s.start_ms,
        duration_ms: s.duration_ms,
        requests,
        retries: s.retries.iter().map(|x| r(x)).collect(),
        notes: s.notes.iter().map(|x| r(x)).collect(),
    }
}
