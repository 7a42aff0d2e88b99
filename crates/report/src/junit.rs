//! JUnit XML through quick-junit (typed, counts kept right, control characters
//! stripped): one `<testsuite>` per flow, one `<testcase>` per step.
//!
//! ```xml
//! <testsuites name="stageos-smoke" tests="2" failures="1" errors="0" time="0.031">
//!   <testsuite name="auth" tests="2" failures="1" errors="0" skipped="0" time="0.031">
//!     <testcase name="login_with_password" classname="auth" time="0.012"/>
//!     <testcase name="me_reports_role" classname="auth" time="0.004">
//!       <failure message="/api/me role: expected &quot;manager&quot;, got &quot;owner&quot;" type="check">
//! expected: "manager"
//! actual:   "owner"</failure>
//!     </testcase>
//!   </testsuite>
//! </testsuites>
//! ```
//!
//! GitLab shows only a failure element's text, so expected/actual go in the text too.
//! A could-not-check step is an `<error>`, never a `<failure>`.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};

use stageos_smoke_model::outcome::{RunReport, StepOutcome, StepResult};

fn ms(v: f64) -> Duration {
    Duration::from_secs_f64((v.max(0.0)) / 1000.0)
}

fn testcase(step: &StepResult) -> TestCase {
    let status = match &step.outcome {
        StepOutcome::Passed => {
            let mut s = TestCaseStatus::success();
            // A pass that needed a retry is flaky: one <flakyFailure> per retry.
            for note in &step.retries {
                let mut rerun = TestRerun::new(NonSuccessKind::Failure);
                rerun.set_message(note.as_str()).set_type("retried");
                s.add_rerun(rerun);
            }
            s
        }
        StepOutcome::Failed {
            message,
            expected,
            actual,
        } => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(message.as_str())
                .set_type("check")
                .set_description(format!(
                    "{message}\nexpected: {expected}\nactual:   {actual}\nstep: {}",
                    step.description
                ));
            s
        }
        StepOutcome::Error { message } => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_message(message.as_str())
                .set_type("could-not-check")
                .set_description(format!("{message}\nstep: {}", step.description));
            s
        }
        StepOutcome::Skipped { reason } => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(reason.as_str());
            s
        }
    };
    let mut tc = TestCase::new(step.step.as_str(), status);
    tc.set_classname(step.flow.as_str())
        .set_time(ms(step.duration_ms));
    // What a gate measured, shown by CI even for a pass (a warning included).
    if !step.notes.is_empty() {
        tc.set_system_out(step.notes.join("\n"));
    }
    tc
}

/// Render the report as JUnit XML.
pub fn render(report: &RunReport) -> String {
    let mut r = Report::new("stageos-smoke");
    r.set_time(ms(report.wall_ms));
    let mut flows: Vec<&str> = Vec::new();
    for s in &report.steps {
        if !flows.contains(&s.flow.as_str()) {
            flows.push(&s.flow);
        }
    }
    for flow in flows {
        let mut suite = TestSuite::new(flow);
        let steps: Vec<&StepResult> = report.steps.iter().filter(|s| s.flow == flow).collect();
        let total: f64 = steps.iter().map(|s| s.duration_ms).sum();
        suite.set_time(ms(total));
        suite.add_property(("run_id", report.run_id.as_str()));
        suite.add_property(("target", report.target.as_str()));
        suite.add_property(("profile", report.profile.as_str()));
        suite.add_test_cases(steps.into_iter().map(testcase));
        r.add_test_suite(suite);
    }
    r.to_string().unwrap_or_else(|e| {
        // quick-junit only fails on writer errors, which a String writer has none of.
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"stageos-smoke\" tests=\"0\"><!-- {e} --></testsuites>\n")
    })
}
