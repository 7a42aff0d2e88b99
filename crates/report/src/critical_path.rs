//! The run's critical path: the longest chain of work that had to happen one
//! thing after another, and so the shortest wall time any scheduler could reach.
//!
//! Model: flows are independent of each other and run concurrently; inside a flow
//! the steps are timed spans, and a flow's chain is how long they kept it busy —
//! the union of the spans, so steps one after another add up and steps side by
//! side (the RBAC cells, the audit chains) count once; time between steps (a
//! concurrency slot, a wait) is not work and is left out. A flow's cleanup deletes
//! follow its steps (children before parents), so their spans belong to the chain
//! as well (named `flow::cleanup`). The critical path is the longest flow's chain,
//! and `wall ÷ critical path` measures the suite's own overhead (1.0 = perfect).
//!
//! Observer flows (`FlowDef::observes_run`, the metrics flow) spend the run
//! waiting for the others; that is not work. Only what they do after every other
//! flow ended — the last scrape and the verdicts on it — depends on all of them,
//! so those spans are appended to the longest chain.
//!
//! Shared work (one login per role reused by several flows) is not yet modelled as
//! a dependency between flows; when it is, only this module changes.

use stageos_smoke_model::outcome::RunReport;

fn is_observer(flow: &str) -> bool {
    stageos_smoke_checks::catalogue::flow(flow).is_some_and(|d| d.observes_run)
}

/// `[start, start + duration]` with bad numbers (NaN, negative) as 0.
fn span(start_ms: f64, duration_ms: f64) -> (f64, f64) {
    let d = if duration_ms.is_finite() {
        duration_ms.max(0.0)
    } else {
        0.0
    };
    let start = if start_ms.is_finite() { start_ms } else { 0.0 };
    (start, start + d)
}

/// The critical path: `flow::step` names in order (`flow::cleanup` for a flow's
/// cleanup deletes), and its length in milliseconds. A report without steps has
/// an empty path of 0 ms.
pub fn critical_path(report: &RunReport) -> (Vec<String>, f64) {
    // Per flow: its id, its step names, and each step's [start, end] span.
    type FlowSpans<'a> = (&'a str, Vec<String>, Vec<(f64, f64)>);
    let mut flows: Vec<FlowSpans> = Vec::new();
    fn index<'a>(flows: &mut Vec<FlowSpans<'a>>, flow: &'a str) -> usize {
        match flows.iter().position(|(f, _, _)| *f == flow) {
            Some(i) => i,
            None => {
                flows.push((flow, Vec::new(), Vec::new()));
                flows.len() - 1
            }
        }
    }
    for s in report.steps.iter().filter(|s| !is_observer(&s.flow)) {
        let i = index(&mut flows, &s.flow);
        flows[i].1.push(s.full_name());
        flows[i].2.push(span(s.start_ms, s.duration_ms));
    }
    for c in report.cleanups.iter().filter(|c| !is_observer(&c.flow)) {
        let i = index(&mut flows, &c.flow);
        let name = format!("{}::cleanup", c.flow);
        if !flows[i].1.contains(&name) {
            flows[i].1.push(name);
        }
        flows[i].2.push(span(c.start_ms, c.duration_ms));
    }
    let others_end = flows
        .iter()
        .flat_map(|(_, _, spans)| spans.iter().map(|(_, e)| *e))
        .fold(0.0, f64::max);
    // Longest chain; the first flow in catalogue order wins a tie.
    let mut best: Option<(Vec<String>, f64)> = None;
    for (_, steps, spans) in flows {
        let ms = busy_ms(spans);
        if best.as_ref().is_none_or(|(_, b)| ms > *b) {
            best = Some((steps, ms));
        }
    }
    let (mut steps, mut ms) = best.unwrap_or_default();
    // The observers' work once every other flow had ended.
    let mut tail = Vec::new();
    for s in report.steps.iter().filter(|s| is_observer(&s.flow)) {
        let own = span(s.start_ms, s.duration_ms);
        let mut spans: Vec<(f64, f64)> = s
            .requests
            .iter()
            .map(|r| span(r.start_ms, r.duration_ms))
            .filter(|(start, _)| *start >= others_end)
            .collect();
        if own.0 >= others_end {
            spans.push(own);
        }
        if !spans.is_empty() {
            steps.push(s.full_name());
            tail.extend(spans);
        }
    }
    ms += busy_ms(tail);
    (steps, ms)
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
    use stageos_smoke_model::outcome::{CleanupRecord, RequestRecord, StepOutcome, StepResult};

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

    fn cleanup(flow: &str, start: f64, ms: f64) -> CleanupRecord {
        CleanupRecord {
            flow: flow.into(),
            what: "event e".into(),
            result: "deleted".into(),
            start_ms: start,
            duration_ms: ms,
        }
    }

    #[test]
    fn a_flows_cleanup_deletes_are_on_its_chain() {
        let mut r = report(
            vec![
                step("a", "one", 0.0, 10.0, StepOutcome::Passed),
                step("b", "one", 0.0, 14.0, StepOutcome::Passed),
            ],
            30.0,
        );
        // Two deletes side by side, then the parent: 3 + 4 ms after a's step.
        r.cleanups = vec![
            cleanup("a", 10.0, 3.0),
            cleanup("a", 10.5, 2.0),
            cleanup("a", 13.0, 4.0),
        ];
        let (steps, ms) = critical_path(&r);
        assert_eq!(steps, vec!["a::one", "a::cleanup"]);
        assert!((ms - 17.0).abs() < 1e-9, "{ms}");
    }

    #[test]
    fn the_observers_work_after_the_last_flow_follows_the_longest_chain() {
        let request = |start: f64, ms: f64| RequestRecord {
            method: "GET".into(),
            path: "/metrics".into(),
            status: Some(200),
            start_ms: start,
            duration_ms: ms,
        };
        let mut scraped = step("metrics", "metrics_scraped", 0.0, 48.0, StepOutcome::Passed);
        // The first scrape runs beside the others (not on the path); the last one
        // starts when the last flow (with its cleanup) ended, at 40 ms.
        scraped.requests = vec![request(0.0, 5.0), request(40.0, 8.0)];
        let mut r = report(
            vec![
                scraped,
                step(
                    "metrics",
                    "queue_depth_within_limits",
                    48.0,
                    1.0,
                    StepOutcome::Passed,
                ),
                step("files", "upload", 0.0, 30.0, StepOutcome::Passed),
                step("auth", "login", 0.0, 10.0, StepOutcome::Passed),
            ],
            50.0,
        );
        r.cleanups = vec![cleanup("files", 30.0, 10.0)];
        let (steps, ms) = critical_path(&r);
        assert_eq!(
            steps,
            vec![
                "files::upload",
                "files::cleanup",
                "metrics::metrics_scraped",
                "metrics::queue_depth_within_limits"
            ]
        );
        assert!((ms - 49.0).abs() < 1e-9, "{ms}");
    }

    #[test]
    fn empty_report_has_an_empty_path_and_no_ratio() {
        let r = report(vec![], 12.0);
        assert_eq!(critical_path(&r), (Vec::<String>::new(), 0.0));
        assert_eq!(wall_over_critical(12.0, 0.0), None);
    }
}
