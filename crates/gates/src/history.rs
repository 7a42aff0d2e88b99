//! The suite's own latency, step by step, against its own history.
//!
//! A local JSON file keeps, per target and per `flow::step`, the durations of the
//! last `history_keep_runs` runs in which the step passed. After a run each passed
//! step's duration is judged against the p95 of its history
//! (`threshold = p95 × (1 + history_tolerance) + history_slack_ms`), then appended.
//! Fewer than `history_min_runs` samples: inconclusive. The canary keeps this history
//! in CloudWatch instead (`StageOS/Canary` `StepDuration`).
//!
//! ```json
//! {"version": 1, "targets": {"embedded": {"health::api_health_ok": [1.9, 2.1, 1.7]}}}
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::settings::Thresholds;
use crate::stats::percentile;
use crate::verdict::Verdict;
use stageos_smoke_model::outcome::{RunReport, StepOutcome};

/// The history file.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct History {
    /// Format version (1).
    pub version: u32,
    /// Target label → step → durations in milliseconds, oldest first.
    pub targets: BTreeMap<String, BTreeMap<String, Vec<f64>>>,
}

/// The history file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// I/O.
    #[error("failed to {action} the latency history {path}: {source}")]
    Io {
        /// read | write.
        action: &'static str,
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not the expected JSON.
    #[error(
        "malformed latency history {path}: {message} (hint: delete the file to start a new history)"
    )]
    Malformed {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
}

impl History {
    /// Load `path`; a missing file is an empty history.
    pub fn load(path: &Path) -> Result<Self, HistoryError> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| HistoryError::Malformed {
                path: path.display().to_string(),
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(History {
                version: 1,
                ..History::default()
            }),
            Err(source) => Err(HistoryError::Io {
                action: "read",
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Write `path` (through a temporary file and a rename).
    pub fn save(&self, path: &Path) -> Result<(), HistoryError> {
        let io = |source| HistoryError::Io {
            action: "write",
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(|e| io(std::io::Error::other(e)))?;
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Judge one duration against the step's history.
    pub fn judge(&self, target: &str, step: &str, duration_ms: f64, th: &Thresholds) -> Verdict {
        let samples = self
            .targets
            .get(target)
            .and_then(|t| t.get(step))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        judge_against(step, samples, duration_ms, th)
    }

    /// Judge every passed step of `report`, then add its duration to the history.
    pub fn judge_and_record(
        &mut self,
        report: &RunReport,
        th: &Thresholds,
    ) -> Vec<(String, Verdict)> {
        let mut out = Vec::new();
        for s in report
            .steps
            .iter()
            .filter(|s| s.outcome == StepOutcome::Passed)
        {
            let name = s.full_name();
            out.push((
                name.clone(),
                self.judge(&report.target, &name, s.duration_ms, th),
            ));
            let v = self
                .targets
                .entry(report.target.clone())
                .or_default()
                .entry(name)
                .or_default();
            v.push(s.duration_ms);
            let keep = th.history_keep_runs.max(1);
            if v.len() > keep {
                v.drain(..v.len() - keep);
            }
        }
        self.version = 1;
        out
    }
}

/// Judge `report` against the history file (the configured one, else
/// `<report_dir>/step-history.json`), record it, save, and return one line per
/// step that did not pass the comparison. A run that could not start is not recorded.
pub fn apply(
    report: &RunReport,
    gates: &super::GateSettings,
    report_dir: &Path,
) -> Result<Vec<String>, HistoryError> {
    if report.run_error.is_some() {
        return Ok(Vec::new());
    }
    let path = gates
        .history_file
        .clone()
        .unwrap_or_else(|| report_dir.join("step-history.json"));
    let mut h = History::load(&path)?;
    let verdicts = h.judge_and_record(report, &gates.thresholds);
    h.save(&path)?;
    Ok(verdicts
        .into_iter()
        .filter(|(_, v)| !matches!(v, Verdict::Pass { .. } | Verdict::Inconclusive { .. }))
        .map(|(_, v)| v.line())
        .collect())
}

/// The p95 of each `flow::step`'s duration in the history of `target`, for steps
/// with at least `history_min_runs` samples: the HTML report's latency-against-
/// baseline column. Read it before [`apply`] records the run; an unreadable
/// history gives an empty map ([`apply`] reports the error).
pub fn baseline_p95(
    target: &str,
    gates: &super::GateSettings,
    report_dir: &Path,
) -> BTreeMap<String, f64> {
    let path = gates
        .history_file
        .clone()
        .unwrap_or_else(|| report_dir.join("step-history.json"));
    let Ok(h) = History::load(&path) else {
        return BTreeMap::new();
    };
    h.targets
        .get(target)
        .into_iter()
        .flatten()
        .filter(|(_, v)| v.len() >= gates.thresholds.history_min_runs.max(1))
        .filter_map(|(k, v)| percentile(v, 95.0).map(|p| (k.clone(), p)))
        .collect()
}

/// Judge `duration_ms` against `samples` (see the module docs).
pub fn judge_against(step: &str, samples: &[f64], duration_ms: f64, th: &Thresholds) -> Verdict {
    if samples.len() < th.history_min_runs {
        return Verdict::inconclusive(format!(
            "{step}: {} earlier runs in the history, {} needed",
            samples.len(),
            th.history_min_runs
        ));
    }
    let Some(p95) = percentile(samples, 95.0) else {
        return Verdict::inconclusive(format!("{step}: no usable samples in the history"));
    };
    let threshold = p95 * (1.0 + th.history_tolerance) + th.history_slack_ms;
    let expected = format!(
        "≤ {threshold:.1} ms (history p95 {p95:.1} ms over {} runs × {:.2} + {:.0} ms)",
        samples.len(),
        1.0 + th.history_tolerance,
        th.history_slack_ms
    );
    if duration_ms > threshold {
        Verdict::fail(
            format!("{step} duration vs the suite's history"),
            expected,
            format!("{duration_ms:.1} ms"),
        )
    } else {
        Verdict::Pass {
            summary: format!("{step}: {duration_ms:.1} ms, {expected}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stageos_smoke_model::outcome::StepResult;

    fn report(ms: f64) -> RunReport {
        RunReport {
            run_id: "r".into(),
            target: "embedded".into(),
            profile: "p".into(),
            started_at: String::new(),
            wall_ms: 0.0,
            steps: vec![StepResult {
                flow: "health".into(),
                step: "api_health_ok".into(),
                description: String::new(),
                outcome: StepOutcome::Passed,
                start_ms: 0.0,
                duration_ms: ms,
                requests: vec![],
                retries: vec![],
                notes: vec![],
            }],
            run_error: None,
            cleanups: vec![],
            interrupted: false,
        }
    }

    #[test]
    fn inconclusive_until_enough_runs_then_judges() {
        let th = Thresholds {
            history_min_runs: 3,
            history_keep_runs: 4,
            history_tolerance: 0.5,
            history_slack_ms: 10.0,
            ..Thresholds::default()
        };
        let mut h = History::default();
        for _ in 0..3 {
            let v = h.judge_and_record(&report(10.0), &th);
            assert!(matches!(v[0].1, Verdict::Inconclusive { .. }));
        }
        assert!(matches!(
            h.judge("embedded", "health::api_health_ok", 24.0, &th),
            Verdict::Pass { .. }
        ));
        match h.judge("embedded", "health::api_health_ok", 26.0, &th) {
            Verdict::Fail {
                expected, actual, ..
            } => {
                assert!(expected.contains("25.0 ms"), "{expected}");
                assert_eq!(actual, "26.0 ms");
            }
            other => panic!("{other:?}"),
        }
        for _ in 0..3 {
            h.judge_and_record(&report(10.0), &th);
        }
        assert_eq!(
            h.targets["embedded"]["health::api_health_ok"].len(),
            4,
            "trimmed to history_keep_runs"
        );
    }

    #[test]
    fn file_round_trips_and_missing_is_empty() {
        let dir = std::env::temp_dir().join(format!("stageos-history-{}", uuid::Uuid::new_v4()));
        let path = dir.join("h.json");
        assert_eq!(History::load(&path).unwrap().targets.len(), 0);
        let mut h = History::default();
        h.judge_and_record(&report(3.0), &Thresholds::default());
        h.save(&path).unwrap();
        assert_eq!(History::load(&path).unwrap(), h);
        std::fs::write(&path, "{").unwrap();
        assert!(matches!(
            History::load(&path),
            Err(HistoryError::Malformed { .. })
        ));
        let _ = std::fs::remove_dir_all(dir);
    }
}
