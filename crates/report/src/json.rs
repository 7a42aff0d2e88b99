//! `summary.json`: the run as data, following the committed schema
//! `fixtures/schema/summary.schema.json` (version 1).

use serde::Serialize;

use stageos_smoke_model::outcome::{Counts, RunReport, StepResult};

/// Schema version of summary.json.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Summary<'a> {
    schema_version: u32,
    tool: &'static str,
    tool_version: &'static str,
    run_id: &'a str,
    target: &'a str,
    profile: &'a str,
    started_at: &'a str,
    wall_ms: f64,
    verdict: &'static str,
    exit_code: u8,
    run_error: Option<&'a str>,
    counts: Counts,
    steps: &'a [StepResult],
    cleanups: &'a [stageos_smoke_checks::flow::CleanupRecord],
    critical_path: CriticalPath,
    wall_over_critical: Option<f64>,
    /// Last, so the file ends with it: the release checklist judged against the run.
    checklist: crate::checklist::ChecklistReport,
}

/// The longest chain of dependent steps (see [`crate::critical_path`]).
#[derive(Serialize)]
struct CriticalPath {
    steps: Vec<String>,
    ms: f64,
}

/// Render the report as pretty JSON.
pub fn render(report: &RunReport) -> String {
    let status = report.exit_status();
    let (cp_steps, cp_ms) = crate::critical_path::critical_path(report);
    let s = Summary {
        schema_version: SCHEMA_VERSION,
        tool: "stageos-smoke",
        tool_version: env!("CARGO_PKG_VERSION"),
        run_id: &report.run_id,
        target: &report.target,
        profile: &report.profile,
        started_at: &report.started_at,
        wall_ms: report.wall_ms,
        verdict: status.as_str(),
        exit_code: status.code(),
        run_error: report.run_error.as_deref(),
        counts: report.counts(),
        steps: &report.steps,
        cleanups: &report.cleanups,
        wall_over_critical: crate::critical_path::wall_over_critical(report.wall_ms, cp_ms),
        critical_path: CriticalPath {
            steps: cp_steps,
            ms: cp_ms,
        },
        checklist: crate::checklist::evaluate(report),
    };
    serde_json::to_string_pretty(&s)
        .unwrap_or_else(|e| format!("{{\"error\": \"failed to serialise summary: {e}\"}}"))
}
