//! `cargo test --test smoke`: the suite as a libtest-mimic harness.
//!
//! Runs against the embedded reference StageOS when `STAGEOS_BASE_URL` is unset,
//! against the target otherwise. `--list` touches no network. The selected flows
//! run once, up front, through the same runner as the CLI; each trial then reports
//! its step's recorded outcome, and the reports land in `reports/` as with the CLI.

use std::process::ExitCode;

use libtest_mimic::{Arguments, Completion, Failed, Trial};

use stageos_smoke::catalogue;
use stageos_smoke::config::{EnvSnapshot, Overrides, Settings};
use stageos_smoke::outcome::{RunReport, StepOutcome};
use stageos_smoke::report;
use stageos_smoke::runner::{self, RunOptions};
use stageos_smoke::secrets::Redactor;
use stageos_smoke::selection::Selection;

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

    let selection = Selection::from_libtest(&args);
    let redactor = Redactor::new();
    let report: RunReport = match &settings {
        Ok(s) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            let options = RunOptions {
                selection: selection.clone(),
                concurrency: args.test_threads.unwrap_or(16),
            };
            runtime.block_on(runner::run(s, &options, &env, &redactor))
        }
        Err(e) => runner::could_not_start(
            &flows,
            &selection,
            "unknown".into(),
            profile_name.clone(),
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

    let trials = names
        .into_iter()
        .map(|name| {
            let result = report
                .steps
                .iter()
                .find(|s| s.full_name() == name)
                .map(|s| (s.outcome.clone(), s.description.clone()));
            let redactor = redactor.clone();
            Trial::ignorable_test(name, move || match result {
                Some((StepOutcome::Passed, _)) => Ok(Completion::Completed),
                Some((StepOutcome::Skipped { reason }, _)) => {
                    Ok(Completion::ignored_with(redactor.redact(&reason)))
                }
                Some((
                    StepOutcome::Failed {
                        message,
                        expected,
                        actual,
                    },
                    d,
                )) => Err(Failed::from(redactor.redact(&format!(
                    "{message}\nexpected: {expected}\nactual:   {actual}\nstep: {d}"
                )))),
                Some((StepOutcome::Error { message }, d)) => Err(Failed::from(
                    redactor.redact(&format!("could not check: {message}\nstep: {d}")),
                )),
                None => Err(Failed::from(
                    "the step was selected but the run did not report it",
                )),
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}
