//! `cargo test --test smoke`: the suite as a libtest-mimic harness.
//!
//! Runs against the embedded reference StageOS when `STAGEOS_BASE_URL` is unset,
//! against the target otherwise. `--list` touches no network. The selected flows
//! run once, up front, through the same runner as the CLI; each trial then reports
//! its step's recorded outcome, and the reports land in `reports/` as with the CLI.
//!
//! Under `cargo nextest run --test smoke`, which runs every trial in a process of
//! its own (`--exact NAME`), the run still happens once: the first process of a
//! nextest run (`NEXTEST_RUN_ID`) takes a file lock, runs the whole profile, writes
//! the reports and every step's outcome to `target/tmp/smoke-nextest/<run id>.json`;
//! the other processes wait for the lock and read their step's outcome from there.
//! So both runners give the same verdict from the same requests (a nextest filter
//! narrows the trials reported, never the run: the first process cannot know it).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use serde::{Deserialize, Serialize};

use stageos_smoke::catalogue;
use stageos_smoke::config::{EnvSnapshot, Overrides, Settings};
use stageos_smoke::flowdef::FlowDef;
use stageos_smoke::outcome::{RunReport, StepOutcome};
use stageos_smoke::report;
use stageos_smoke::runner::{self, RunOptions};
use stageos_smoke::secrets::Redactor;
use stageos_smoke::selection::Selection;

/// A step's outcome as a trial reports it (already redacted).
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Verdict {
    Passed,
    Ignored(String),
    Failed(String),
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let env = EnvSnapshot::capture();
    let settings = Settings::resolve(&Overrides::default(), &env);
    let profile_name = match &settings {
        Ok(s) => s.profile_name.clone(),
        Err(_) => catalogue::default_profile().to_owned(),
    };
    let profile = catalogue::profile(&profile_name)
        .or_else(|_| catalogue::profile(catalogue::default_profile()));
    let Ok(profile) = profile else {
        eprintln!("error: no usable profile");
        return ExitCode::from(3);
    };
    let flows = catalogue::profile_flows(profile);
    let names: Vec<String> = runner::planned_steps(&flows, &Selection::default())
        .iter()
        .map(|(f, s)| format!("{}::{}", f.id, s.id))
        .collect();
    if names.is_empty() {
        eprintln!("error: the profile `{profile_name}` has no steps");
        return ExitCode::from(3);
    }
    if args.list {
        let trials = names
            .into_iter()
            .map(|n| Trial::test(n, || Ok(())))
            .collect();
        return libtest_mimic::run(&args, trials).exit_code();
    }

    let run = |selection: Selection, concurrency: usize| {
        run_and_report(
            &settings,
            &flows,
            &profile_name,
            &env,
            selection,
            concurrency,
        )
    };
    let verdicts = match nextest_run_id() {
        Some(id) => match shared_run(&id, || run(Selection::default(), 16)) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error: the shared nextest run: {e}");
                return ExitCode::from(3);
            }
        },
        None => run(
            Selection::from_libtest(&args),
            args.test_threads.unwrap_or(16),
        ),
    };

    let trials = names
        .into_iter()
        .map(|name| {
            let verdict = verdicts.get(&name).cloned();
            Trial::ignorable_test(name, move || match verdict {
                Some(Verdict::Passed) => Ok(Completion::Completed),
                Some(Verdict::Ignored(reason)) => Ok(Completion::ignored_with(reason)),
                Some(Verdict::Failed(text)) => Err(Failed::from(text)),
                None => Err(Failed::from(
                    "the step was selected but the run did not report it",
                )),
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}

/// Run `selection`, write the reports, and return every reported step's verdict.
fn run_and_report(
    settings: &Result<Settings, stageos_smoke::config::ConfigError>,
    flows: &[&'static FlowDef],
    profile_name: &str,
    env: &EnvSnapshot,
    selection: Selection,
    concurrency: usize,
) -> BTreeMap<String, Verdict> {
    let redactor = Redactor::new();
    let report: RunReport = match settings {
        Ok(s) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            let options = RunOptions {
                selection,
                concurrency,
            };
            runtime.block_on(runner::run(s, &options, env, &redactor))
        }
        Err(e) => runner::could_not_start(
            flows,
            &selection,
            "unknown".into(),
            profile_name.to_owned(),
            e.to_string(),
        ),
    };
    let dir = settings
        .as_ref()
        .map(|s| s.report_dir.clone())
        .unwrap_or_else(|_| "reports".into());
    let summary = settings.as_ref().ok().and_then(|s| s.step_summary.clone());
    if let Err(e) = report::write_all(&report, &dir, summary.as_deref(), &redactor) {
        eprintln!("error: {e}");
    }
    report
        .steps
        .iter()
        .map(|s| {
            let verdict = match &s.outcome {
                StepOutcome::Passed => Verdict::Passed,
                StepOutcome::Skipped { reason } => Verdict::Ignored(redactor.redact(reason)),
                StepOutcome::Failed {
                    message,
                    expected,
                    actual,
                } => Verdict::Failed(redactor.redact(&format!(
                    "{message}\nexpected: {expected}\nactual:   {actual}\nstep: {}",
                    s.description
                ))),
                StepOutcome::Error { message } => Verdict::Failed(redactor.redact(&format!(
                    "could not check: {message}\nstep: {}",
                    s.description
                ))),
            };
            (s.full_name(), verdict)
        })
        .collect()
}

/// The nextest run this process belongs to (nextest sets `NEXTEST_RUN_ID` in each
/// test process), if any.
fn nextest_run_id() -> Option<String> {
    std::env::var("NEXTEST_RUN_ID")
        .ok()
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// The verdicts of nextest run `id`: read from its file, or, by the first process
/// to take the lock, produced by `run` and written there.
fn shared_run(
    id: &str,
    run: impl FnOnce() -> BTreeMap<String, Verdict>,
) -> Result<BTreeMap<String, Verdict>, String> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("smoke-nextest");
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let results = dir.join(format!("{id}.json"));
    let lock_path = dir.join(format!("{id}.lock"));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("open {}: {e}", lock_path.display()))?;
    // Held until this function returns: the others wait while the run runs.
    lock.lock()
        .map_err(|e| format!("lock {}: {e}", lock_path.display()))?;
    if let Ok(text) = std::fs::read_to_string(&results) {
        return serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a run's verdicts: {e}", results.display()));
    }
    remove_stale(&dir);
    let verdicts = run();
    // Whole or not at all: written aside, then renamed into place.
    let partial = dir.join(format!("{id}.json.partial"));
    let text = serde_json::to_string(&verdicts).map_err(|e| e.to_string())?;
    std::fs::File::create(&partial)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .and_then(|()| std::fs::rename(&partial, &results))
        .map_err(|e| format!("write {}: {e}", results.display()))?;
    Ok(verdicts)
}

/// Files of earlier nextest runs (older than a day).
fn remove_stale(dir: &std::path::Path) {
    let day = std::time::Duration::from_secs(86_400);
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > day);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
