//! Reporters: each turns the same [`RunReport`](stageos_smoke_model::outcome::RunReport) into one
//! artifact. Every string passes the run's redactor on the way out, and every file
//! is written atomically (temp file + rename), so a report on disk is always whole.

pub mod checklist;
pub mod critical_path;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod terminal;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use stageos_smoke_http::secrets::Redactor;
use stageos_smoke_model::outcome::RunReport;

/// File names inside the report directory.
pub const JUNIT_FILE: &str = "junit.xml";
/// JSON summary file name.
pub const SUMMARY_FILE: &str = "summary.json";
/// Markdown summary file name.
pub const MARKDOWN_FILE: &str = "summary.md";
/// Self-contained HTML report file name.
pub const HTML_FILE: &str = "index.html";

/// A report could not be written.
#[derive(Debug, thiserror::Error)]
#[error("failed to write {path}: {source} (hint: check that the report directory is writable)")]
pub struct WriteError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

/// Write `contents` to `path` atomically.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), WriteError> {
    let err = |source| WriteError {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(contents).map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)
}

/// Write junit.xml, summary.json, summary.md and index.html into `dir`, and append
/// the Markdown to `step_summary` (GitHub's `$GITHUB_STEP_SUMMARY`) when given.
pub fn write_all(
    report: &RunReport,
    dir: &Path,
    step_summary: Option<&Path>,
    redactor: &Redactor,
) -> Result<Vec<PathBuf>, WriteError> {
    write_all_with_baseline(report, dir, step_summary, redactor, None)
}

/// As [`write_all`], with a latency baseline for the HTML report: the p95 of each
/// `flow::step`'s duration in earlier runs, in milliseconds.
pub fn write_all_with_baseline(
    report: &RunReport,
    dir: &Path,
    step_summary: Option<&Path>,
    redactor: &Redactor,
    baseline: Option<&BTreeMap<String, f64>>,
) -> Result<Vec<PathBuf>, WriteError> {
    let junit = redactor.redact(&junit::render(report));
    let summary = redactor.redact(&json::render(report));
    let md = redactor.redact(&markdown::render(report));
    let html = redactor.redact(&html::render(report, baseline, redactor));
    let mut written = Vec::new();
    for (name, body) in [
        (JUNIT_FILE, &junit),
        (SUMMARY_FILE, &summary),
        (MARKDOWN_FILE, &md),
        (HTML_FILE, &html),
    ] {
        let path = dir.join(name);
        write_atomic(&path, body.as_bytes())?;
        written.push(path);
    }
    if let Some(p) = step_summary {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .map_err(|source| WriteError {
                path: p.to_owned(),
                source,
            })?;
        f.write_all(md.as_bytes()).map_err(|source| WriteError {
            path: p.to_owned(),
            source,
        })?;
    }
    Ok(written)
}
