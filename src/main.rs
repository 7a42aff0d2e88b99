//! `stageos-smoke`: thin binary. Capture the environment, parse options, run,
//! write reports, map the verdict to a documented exit code.

use std::process::ExitCode;

use clap::Parser;

use stageos_smoke::ExitStatus;
use stageos_smoke::catalogue;
use stageos_smoke::cli::{Cli, Command, ListArgs, RunArgs};
use stageos_smoke::config::{EnvSnapshot, REPORT_DIR_VAR, Settings};
use stageos_smoke::report;
use stageos_smoke::runner::{self, RunOptions};
use stageos_smoke::secrets::Redactor;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::List(args)) => list(&args),
        Some(Command::Run(args)) => run(&args),
        None => run(&cli.run),
    }
}

fn list(args: &ListArgs) -> ExitCode {
    let name = args
        .profile
        .clone()
        .unwrap_or_else(|| catalogue::default_profile().to_owned());
    let profile = match catalogue::profile(&name) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e} (hint: fix --profile or STAGEOS_PROFILE)");
            return ExitStatus::CouldNotCheck.into();
        }
    };
    let flows = catalogue::profile_flows(profile);
    for (f, s) in runner::planned_steps(&flows, &args.select.selection()) {
        println!("{}::{}: test", f.id, s.id);
    }
    ExitStatus::Passed.into()
}

fn run(args: &RunArgs) -> ExitCode {
    let env = EnvSnapshot::capture();
    let redactor = Redactor::new();
    let selection = args.select.selection();
    let overrides = args.overrides();
    let (report, report_dir, step_summary) = match Settings::resolve(&overrides, &env) {
        Ok(settings) => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: failed to start the async runtime: {e}");
                    return ExitStatus::CouldNotCheck.into();
                }
            };
            let options = RunOptions {
                selection,
                concurrency: args.test_threads,
            };
            let report = runtime.block_on(runner::run(&settings, &options, &env, &redactor));
            (
                report,
                settings.report_dir.clone(),
                settings.step_summary.clone(),
            )
        }
        Err(e) => {
            // Could not even resolve the configuration: report every step of the
            // default (or named, if known) profile as could-not-check.
            let name = overrides
                .profile
                .clone()
                .unwrap_or_else(|| catalogue::default_profile().to_owned());
            let profile = catalogue::profile(&name).unwrap_or_else(|_| {
                catalogue::profile(catalogue::default_profile())
                    .expect("the default profile exists (tested)")
            });
            let flows = catalogue::profile_flows(profile);
            let report = runner::could_not_start(
                &flows,
                &selection,
                overrides
                    .target
                    .clone()
                    .unwrap_or_else(|| "embedded".into()),
                name,
                e.to_string(),
            );
            let dir = overrides
                .report_dir
                .clone()
                .or_else(|| env.get(REPORT_DIR_VAR).map(Into::into))
                .unwrap_or_else(|| "reports".into());
            (report, dir, env.get("GITHUB_STEP_SUMMARY").map(Into::into))
        }
    };
    print!("{}", report::terminal::render(&report, &redactor));
    if let Some(e) = &report.run_error {
        eprintln!("error: {}", redactor.redact(e));
    }
    match report::write_all(&report, &report_dir, step_summary.as_deref(), &redactor) {
        Ok(paths) => {
            let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            println!("reports: {}", names.join(", "));
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitStatus::CouldNotCheck.into();
        }
    }
    report.exit_status().into()
}
