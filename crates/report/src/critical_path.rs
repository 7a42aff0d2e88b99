//! The run's critical path: the longest chain of work that had to happen one
//! thing after another, and so the shortest wall time any scheduler could reach.
//!
//! Model (first cut): flows are independent of each other and run concurrently;
//! inside a flow every step depends on the one before it. A flow's chain is
//! therefore the sum of its steps' durations (skipped steps count 0 ms; time the
//! flow spent between steps, e.g. waiting for a concurrency slot, is not work and
//! is left out). The critical path is the longest flow's chain, and
//! `wall ÷ critical path` measures the suite's own overhead (1.0 = perfect).
//!
//! Observer flows (`FlowDef::observes_run`, the metrics flow) spend the run
//! waiting for the others; that is not work, so they are left out.
//!
//! Shared work (one login per role reused by several flows) is not yet modelled as
//! a dependency between flows; when it is, only this module changes.

use stageos_smoke_model::outcome::RunReport;

fn is_observer(flow: &str) -> bool {
    stageos_smoke_checks::catalogue::flow(flow).is_some_and(|d| d.observes_run)
}

/// The critical path: `flow::step` names in order, and its length in milliseconds.
/// A report without steps has an empty path of 0 ms.
pub fn critical_path(report: &RunReport) -> (Vec<String>, f64) {
    // Per flow: its id, its step names, and each step's [start, end] span.
    type FlowSpans<'a> = (&'a str, Vec<String>, Vec<(f64, f64)>);
    let mut flows: Vec<FlowSpans> = Vec::new();
    for s in &report.steps {
        if is_observer(&s.flow) {
            continue;
        }
        let i = match flows.iter().position(|(f, _, _)| *f == s.flow) {
            Some(i) => i,
            None => {
                flows.push((s.flow.as_str(), Vec::new(), Vec::new()));
                flows.len() - 1
            }
        };
        let d = if s.duration_ms.is_finite() {
            s.duration_ms.max(0.0)
        } else {
            0.0
        };
        let start = if s.start_ms.is_finite() {
            s.start_ms
        } else {
            0.0
        };
        flows[i].1.push(s.full_name());
        flows[i].2.push((start, start + d));
    }
    // Longest chain; the first flow in catalogue order wins a tie.
    let mut best: Option<(Vec<String>, f64)> = None;
    for (_, steps, spans) in flows {
        let ms = busy_ms(spans);
        if best.as_ref().is_none_or(|(_, b)| ms > *b) {
            best = Some((steps, ms));
        }
    }
    best.unwrap_or_default()
}

/// How long a flow's steps kept it busy: the length of the union of their
/// `[start, end]` spans. Steps one after another add up (gaps between them are
/// not work); steps that ran side by side (the RBAC cells) count once.
fn busy_ms(mut spans: Vec<(f64, f64)>) -> f64 {
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    let mut current: Option<(f64, f64)> = None;
    for (s, e) in spans {
        match current {
            Some((cs, ce)) if s <= ce => current = Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                current = Some((s, e));
            }
            None => current = Some((s, e)),
        }
    }
    if let Some((cs, ce)) = current {
        total += ce - cs;
    }
    total
}

/// `wall ÷ critical path`, or `None` when the critical path is empty (0 ms).
pub fn wall_over_critical(wall_ms: f64, critical_ms: f64) -> Option<f64> {
    (critical_ms > 0.0 && wall_ms.is_finite()).then(|| wall_ms / critical_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_side_by_side_count_once_steps_in_a_row_add_up() {
        assert_eq!(busy_ms(vec![(0.0, 10.0), (10.0, 25.0)]), 25.0);
        assert_eq!(busy_ms(vec![(0.0, 10.0), (20.0, 25.0)]), 15.0);
        assert_eq!(
            busy_ms(vec![(0.0, 100.0), (10.0, 60.0), (50.0, 120.0)]),
            120.0
        );
        assert_eq!(busy_ms(vec![]), 0.0);
    }
    use stageos_smoke_model::outcome::{StepOutcome, StepResult};

    fn step(flow: &str, name: &str, start: f64, ms: f64, outcome: StepOutcome) -> StepResult {
        StepResult {
            flow: flow.into(),
            step: name.into(),
            description: String::new(),
            outcome,
            start_ms: start,
            duration_ms: ms,
            requests: vec![],
            retries: vec![],
            notes: vec![],
        }
    }

    fn report(steps: Vec<StepResult>, wall_ms: f64) -> RunReport {
        RunReport {
            run_id: "r".into(),
            target: "embedded".into(),
            profile: "p".into(),
            started_at: String::new(),
            wall_ms,
            steps,
            run_error: None,
            cleanups: vec![],
            interrupted: false,
        }
    }

    #[test]
    fn longest_flow_chain_is_the_critical_path() {
        let r = report(
            vec![
                step("auth", "login", 0.0, 10.0, StepOutcome::Passed),
                step("auth", "me", 10.0, 5.0, StepOutcome::Passed),
                step("files", "upload", 0.0, 30.0, StepOutcome::Passed),
                step("files", "download", 30.0, 12.5, StepOutcome::Passed),
                step("health", "ok", 0.0, 2.0, StepOutcome::Passed),
            ],
            50.0,
        );
        let (steps, ms) = critical_path(&r);
        assert_eq!(steps, vec!["files::upload", "files::download"]);
        assert!((ms - 42.5).abs() < 1e-9, "{ms}");
        let ratio = wall_over_critical(r.wall_ms, ms).unwrap();
        assert!((ratio - 50.0 / 42.5).abs() < 1e-9);
    }

    #[test]
    fn skipped_steps_are_on_the_chain_but_cost_nothing_and_gaps_are_not_work() {
        let r = report(
            vec![
                step("a", "one", 0.0, 10.0, StepOutcome::Passed),
                // 100 ms gap before this step: waiting, not work.
                step(
                    "a",
                    "two",
                    110.0,
                    10.0,
                    StepOutcome::Failed {
                        message: "m".into(),
                        expected: "e".into(),
                        actual: "x".into(),
                    },
                ),
                step(
                    "a",
                    "three",
                    120.0,
                    0.0,
                    StepOutcome::Skipped { reason: "r".into() },
                ),
                step("b", "only", 0.0, 19.0, StepOutcome::Passed),
            ],
            130.0,
        );
        let (steps, ms) = critical_path(&r);
        assert_eq!(steps, vec!["a::one", "a::two", "a::three"]);
        assert!((ms - 20.0).abs() < 1e-9);
    }

    #[test]
    fn ties_go_to_the_first_flow_and_bad_numbers_count_zero() {
        let r = report(
            vec![
                step("x", "s", 0.0, 5.0, StepOutcome::Passed),
                step("y", "s", 0.0, 5.0, StepOutcome::Passed),
                step("y", "t", 5.0, f64::NAN, StepOutcome::Passed),
                step("y", "u", 5.0, -3.0, StepOutcome::Passed),
            ],
            10.0,
        );
        assert_eq!(critical_path(&r), (vec!["x::s".to_owned()], 5.0));
    }

    #[test]
    fn empty_report_has_an_empty_path_and_no_ratio() {
        let r = report(vec![], 12.0);
        assert_eq!(critical_path(&r), (Vec::<String>::new(), 0.0));
        assert_eq!(wall_over_critical(12.0, 0.0), None);
    }
}
