//! Reporters: each turns the same [`RunReport`](stageos_smoke_model::outcome::RunReport) into one
//! artifact. Every string passes the run's redactor before it is serialised (see
//! [`redact`]) and the rendered text once more on the way out, and every file
//! is written atomically (temp file + rename), so a report on disk is always whole.

pub mod checklist;
pub mod critical_path;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod redact;
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
    // Redact the data first: a serialiser escapes `&<"\` in a secret, and the
    // escaped form would slip past a redaction of the finished text.
    let report = &redact::redacted(report, redactor);
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

#[cfg(test)]
mod tests {
    use super::*;
    use stageos_smoke_model::outcome::{CleanupRecord, RequestRecord, StepOutcome, StepResult};

    /// Secrets that every format escapes: XML (`&`, `<`, `"`), JSON (`"`, `\`),
    /// Markdown/HTML (`<`, `&`, `|`).
    const SECRETS: &[&str] = &["p&ss<w0rd\"x", "s3cr\\et\"v&l", "tok<en>|'&amp;"];

    fn step_with(secret: &str, outcome: StepOutcome) -> StepResult {
        StepResult {
            flow: "auth".into(),
            step: "login".into(),
            description: "logs in".into(),
            outcome,
            start_ms: 0.0,
            duration_ms: 1.0,
            requests: vec![RequestRecord {
                method: "GET".into(),
                path: format!("/api/files/1?sig={secret}"),
                status: Some(200),
                start_ms: 0.0,
                duration_ms: 1.0,
            }],
            retries: vec![format!("retried after {secret}")],
            notes: vec![format!("warning: saw {secret}")],
        }
    }

    fn report_leaking(secret: &str) -> RunReport {
        RunReport {
            run_id: "smoke-1".into(),
            target: "embedded".into(),
            profile: "post-deploy".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            wall_ms: 3.0,
            steps: vec![
                step_with(
                    secret,
                    StepOutcome::Failed {
                        message: format!("password {secret} refused"),
                        expected: format!("\"{secret}\""),
                        actual: format!("<{secret}>"),
                    },
                ),
                step_with(
                    secret,
                    StepOutcome::Error {
                        message: format!("token {secret}"),
                    },
                ),
            ],
            run_error: Some(format!("could not log in with {secret}")),
            cleanups: vec![CleanupRecord {
                flow: "auth".into(),
                what: format!("DELETE /api/x?sig={secret}"),
                result: "deleted".into(),
                start_ms: 20.0,
                duration_ms: 1.5,
            }],
            interrupted: false,
        }
    }

    /// The forms a serialiser may turn a secret into.
    fn escaped_forms(secret: &str) -> Vec<String> {
        let json = serde_json::to_string(secret).unwrap();
        let xml = secret
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&apos;");
        let xml_numeric = xml.replace("&quot;", "&#34;").replace("&apos;", "&#39;");
        vec![
            secret.to_owned(),
            json.trim_matches('"').to_owned(),
            xml,
            xml_numeric,
        ]
    }

    #[test]
    fn secrets_with_markup_and_escape_characters_are_redacted_in_every_file() {
        for secret in SECRETS {
            let redactor = Redactor::new();
            redactor.add(secret);
            let dir = std::env::temp_dir().join(format!(
                "stageos-report-redact-{}-{}",
                std::process::id(),
                secret.len()
            ));
            let files =
                write_all(&report_leaking(secret), &dir, None, &redactor).expect("reports written");
            for f in files {
                let text = std::fs::read_to_string(&f).unwrap();
                for form in escaped_forms(secret) {
                    assert!(
                        !text.contains(&form),
                        "{} holds the secret as {form:?}",
                        f.display()
                    );
                }
                assert!(
                    text.contains("REDACTED"),
                    "{} shows no redaction",
                    f.display()
                );
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
