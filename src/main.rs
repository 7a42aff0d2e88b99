//! `stageos-smoke`: thin binary. Capture the environment, parse options, run,
//! write reports, map the verdict to a documented exit code.

/// `print!` that ignores a closed stdout (`stageos-smoke run | head`): the reports
/// are already on disk and the exit code must stay the verdict's, not a panic's.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($t)*);
    }};
}

/// `println!` that ignores a closed stdout (see [`out!`]).
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

use std::process::ExitCode;

use clap::Parser;

use stageos_smoke::ExitStatus;
use stageos_smoke::catalogue;
use stageos_smoke::cli::{CanaryArgs, ChecklistArgs, Cli, Command, ListArgs, RunArgs, SweepArgs};
use stageos_smoke::config::{EnvSnapshot, REPORT_DIR_VAR, Settings};
use stageos_smoke::report;
use stageos_smoke::runner::{self, RunOptions};
use stageos_smoke::secrets::Redactor;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::List(args)) => list(&args),
        Some(Command::Checklist(args)) => checklist(&args),
        Some(Command::Run(args)) => run(&args),
        Some(Command::Doctor(args)) => doctor(&args),
        Some(Command::Canary(args)) => canary(&args),
        Some(Command::Sweep(args)) => sweep(&args),
        None => run(&cli.run),
    }
}

/// Print the release checklist for a profile; offline, like `list`.
fn checklist(args: &ChecklistArgs) -> ExitCode {
    let name = args
        .profile
        .clone()
        .unwrap_or_else(|| catalogue::default_profile().to_owned());
    match catalogue::profile(&name) {
        Ok(profile) => {
            out!("{}", stageos_smoke::checklist::render_plan(&name, profile));
            ExitStatus::Passed.into()
        }
        Err(e) => {
            eprintln!("error: {e} (hint: fix --profile or STAGEOS_PROFILE)");
            ExitStatus::CouldNotCheck.into()
        }
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
        outln!("{}::{}: test", f.id, s.id);
    }
    ExitStatus::Passed.into()
}

fn run(args: &RunArgs) -> ExitCode {
    let env = EnvSnapshot::capture();
    let redactor = Redactor::new();
    let selection = args.select.selection();
    let overrides = args.overrides();
    // The `flow::step` names whose line the live output already printed.
    let mut printed = stageos_smoke::progress::Printed::new();
    let (report, report_dir, step_summary, baseline) = match Settings::resolve(&overrides, &env) {
        Ok(settings) => 'resolved: {
            let profile_flows = catalogue::profile_flows(&settings.profile);
            if runner::planned_steps(&profile_flows, &selection).is_empty() {
                // A filter that matches nothing (a typo) checked nothing: that is
                // never a pass, or a release goes out unverified.
                let report = runner::could_not_start(
                    &profile_flows,
                    &selection,
                    settings.target_label(),
                    settings.profile_name.clone(),
                    format!(
                        "no step of profile `{}` matches the filters (hint: `stageos-smoke list --profile {}` with the same FILTER/--skip shows what they select)",
                        settings.profile_name, settings.profile_name
                    ),
                );
                break 'resolved (
                    report,
                    settings.report_dir.clone(),
                    settings.step_summary.clone(),
                    None,
                );
            }
            // First, so a run without the emulator says why before anything else.
            let cloud = embedded_cloud(&settings, &selection, &env);
            let rust_log = std::env::var("RUST_LOG").ok();
            if let Some(path) = stageos_smoke::debug_log::install(
                args.verbose,
                rust_log.as_deref(),
                &settings.report_dir,
            ) {
                eprintln!("debug output: stderr and {}", path.display());
            }
            let Some(runtime) = runtime() else {
                return ExitStatus::CouldNotCheck.into();
            };
            let options = RunOptions {
                selection,
                concurrency: args.test_threads,
            };
            let style = terminal_style(&env);
            let (events, received) = stageos_smoke::event::EventSink::channel();
            // Step lines as steps finish (and the progress line on a terminal).
            let live =
                stageos_smoke::progress::spawn(received, redactor.clone(), style, style.color);
            let report = runtime.block_on(async {
                stageos_smoke::interrupt::install_signal_handlers();
                runner::run_with_cloud(&settings, &options, &env, &redactor, events, cloud).await
            });
            printed = live.join().unwrap_or_default();
            let baseline = stageos_smoke::gates::history::baseline_p95(
                &report.target,
                &settings.gates,
                &settings.report_dir,
            );
            suite_latency_vs_history(&report, &settings);
            (
                report,
                settings.report_dir.clone(),
                settings.step_summary.clone(),
                Some(baseline),
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
            (
                report,
                dir,
                env.get("GITHUB_STEP_SUMMARY").map(Into::into),
                None,
            )
        }
    };
    print_outcome(&report, &printed, &redactor, terminal_style(&env));
    outln!(
        "release checklist: {}",
        stageos_smoke::checklist::evaluate(&report).headline
    );
    match report::write_all_with_baseline(
        &report,
        &report_dir,
        step_summary.as_deref(),
        &redactor,
        baseline.as_ref(),
    ) {
        Ok(paths) => {
            let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            outln!("reports: {}", names.join(", "));
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitStatus::CouldNotCheck.into();
        }
    }
    report.exit_status().into()
}

/// The emulator beside the embedded reference (see
/// `stageos_smoke::embedded_cloud`), saying on stderr what stands in for the AWS
/// account, or why nothing does.
fn embedded_cloud(
    settings: &Settings,
    selection: &stageos_smoke::selection::Selection,
    env: &EnvSnapshot,
) -> Option<stageos_smoke::embedded_cloud::EmbeddedCloud> {
    let mut on_install = |venv: &std::path::Path| {
        eprintln!(
            "emulator: installing {} into {} (once; needs the Python package index)",
            stageos_smoke::emulator::PINS.join(" "),
            venv.display()
        );
    };
    match runner::prepare_cloud(settings, selection, env, &mut on_install)? {
        Ok(cloud) => {
            eprintln!(
                "emulator: {} at {} stands in for the AWS account of the baseline and release gates ({}=off: without it)",
                stageos_smoke::emulator::PINS[0],
                cloud.endpoint().as_str().trim_end_matches('/'),
                stageos_smoke::embedded_cloud::EMULATOR_VAR
            );
            Some(cloud)
        }
        Err(reason) => {
            eprintln!("emulator: {reason}");
            None
        }
    }
}

/// What the terminal shows once a run ended: for a run that could not start, its
/// cause once, first, then the verdict (the reports keep one `<error>` per step, as
/// their consumers expect); otherwise the step lines `printed` does not hold yet
/// (the live output printed the rest as they finished), in report order, then the
/// summary.
fn print_outcome(
    report: &stageos_smoke::RunReport,
    printed: &stageos_smoke::progress::Printed,
    redactor: &Redactor,
    style: report::terminal::Style,
) {
    if let Some(e) = &report.run_error {
        eprintln!("error: {}", redactor.redact(e));
        out!("{}", report::terminal::verdict_line(report, style));
        return;
    }
    for s in report
        .steps
        .iter()
        .filter(|s| !printed.contains(&s.full_name()))
    {
        out!("{}", report::terminal::step_line(s, redactor, style));
    }
    out!(
        "{}",
        report::terminal::render_summary(report, redactor, style)
    );
}

fn doctor(args: &RunArgs) -> ExitCode {
    let env = EnvSnapshot::capture();
    let redactor = Redactor::new();
    let Some(runtime) = runtime() else {
        return ExitStatus::CouldNotCheck.into();
    };
    let report = runtime.block_on(stageos_smoke::doctor::run(
        &args.overrides(),
        &args.select.selection(),
        &env,
        &redactor,
    ));
    out!("{}", report.render(&redactor, terminal_style(&env)));
    report.exit_status().into()
}

/// Colour on a terminal unless `NO_COLOR` or `CI` is set.
fn terminal_style(env: &EnvSnapshot) -> report::terminal::Style {
    use std::io::IsTerminal;
    report::terminal::Style::detect(env, std::io::stdout().is_terminal())
}

/// The suite's own step latency against its history file: informative lines on
/// stderr (slower steps), never a change of the run's verdict.
fn suite_latency_vs_history(report: &stageos_smoke::RunReport, settings: &Settings) {
    match stageos_smoke::gates::history::apply(report, &settings.gates, &settings.report_dir) {
        Ok(lines) => {
            for l in lines {
                eprintln!("suite latency vs history: {l}");
            }
        }
        Err(e) => eprintln!("warning: {e}"),
    }
}

fn canary(args: &CanaryArgs) -> ExitCode {
    let env = EnvSnapshot::capture();
    let redactor = Redactor::new();
    let mut overrides = args.run.overrides();
    if overrides.profile.is_none() {
        overrides.profile = Some("canary".into());
    }
    let settings = match Settings::resolve(&overrides, &env) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitStatus::CouldNotCheck.into();
        }
    };
    let Some(runtime) = runtime() else {
        return ExitStatus::CouldNotCheck.into();
    };
    let options = RunOptions {
        selection: args.run.select.selection(),
        concurrency: args.run.test_threads,
    };
    let status = runtime.block_on(async {
        // SIGINT/SIGTERM stop the current run (cleanup guards still run) and the loop.
        stageos_smoke::interrupt::install_signal_handlers();
        let mut stop = std::pin::pin!(stageos_smoke::interrupt::requested());
        let mut runs: u64 = 0;
        loop {
            let started = std::time::Instant::now();
            let report = runner::run(&settings, &options, &env, &redactor).await;
            print_outcome(
                &report,
                &stageos_smoke::progress::Printed::new(),
                &redactor,
                terminal_style(&env),
            );
            let mut status = report.exit_status();
            if let Err(e) = report::write_all(
                &report,
                &settings.report_dir,
                settings.step_summary.as_deref(),
                &redactor,
            ) {
                eprintln!("error: {e}");
            }
            if args.no_publish {
                outln!("canary: not published (--no-publish)");
            } else {
                match stageos_smoke::canary::publish(
                    &report,
                    &settings.gates.publish_to,
                    &args.namespace,
                    &args.name,
                )
                .await
                {
                    Ok(n) => outln!(
                        "canary: published {n} datums to {} (Canary={})",
                        args.namespace,
                        args.name
                    ),
                    Err(e) => {
                        // Reported, and never hiding the run's own verdict.
                        eprintln!("error: {e}");
                        if status == ExitStatus::Passed {
                            status = ExitStatus::CouldNotCheck;
                        }
                    }
                }
            }
            runs += 1;
            if stageos_smoke::interrupt::is_requested() {
                eprintln!("canary: stopped after {runs} runs");
                return status;
            }
            let Some(interval) = args.interval else {
                return status;
            };
            if args.max_runs.is_some_and(|m| runs >= m) {
                return status;
            }
            if stageos_smoke::canary::wait_until(started + interval, &mut stop).await {
                eprintln!("canary: stopped after {runs} runs");
                return status;
            }
        }
    });
    status.into()
}

fn sweep(args: &SweepArgs) -> ExitCode {
    let env = EnvSnapshot::capture();
    let redactor = Redactor::new();
    let settings = match Settings::resolve(&args.overrides(), &env) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitStatus::CouldNotCheck.into();
        }
    };
    let Some(runtime) = runtime() else {
        return ExitStatus::CouldNotCheck.into();
    };
    match runtime.block_on(stageos_smoke::sweep::run(
        &settings,
        &env,
        &redactor,
        args.older_than,
    )) {
        Ok(report) => {
            for item in &report.items {
                outln!("{} {}: {:?}", item.kind, item.id, item.action);
            }
            outln!(
                "swept {} smoke entities older than {} s on {}",
                report.items.len(),
                args.older_than.as_secs(),
                settings.target_label()
            );
            if report.has_failures() {
                ExitStatus::CouldNotCheck.into()
            } else {
                ExitStatus::Passed.into()
            }
        }
        Err(e) => {
            eprintln!("error: {}", redactor.redact(&e));
            ExitStatus::CouldNotCheck.into()
        }
    }
}

/// The one async runtime of a command; `None` (after saying why) when it cannot start.
fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            None
        }
    }
}
