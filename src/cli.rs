//! Command-line interface (clap derive): `run` (the default), `list`, `doctor`,
//! `canary`, `sweep`.
//!
//! `--help` reads like a manual page: every flag with its `STAGEOS_*` variable and
//! its default, and each command's exit codes after the options (`-h` is the short
//! form). Defaults that the config file can override are written in the help text
//! (`[default: …]`) rather than given to clap, so a clap default never hides the file.
//!
//! Every flag has a `STAGEOS_*` variable; the library resolves flag > variable >
//! config file > default, so the help text and the behaviour cannot drift apart.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Overrides;
use crate::selection::Selection;

/// Post-deploy smoke and verification suite for StageOS.
///
/// Runs the StageOS release checklist (auth with TOTP, events, availability,
/// setlists, invoices and their PDFs, signed-URL files, webhooks, health, metrics,
/// CloudWatch gates) against a deployment, or against the embedded reference
/// StageOS when no target is given, and writes reports/junit.xml, summary.json,
/// summary.md and index.html. The exit code is the verdict.
///
/// Without a command, `stageos-smoke [OPTIONS] [FILTER]` is `stageos-smoke run`.
/// Every option can also be set by the `STAGEOS_*` variable shown beside it; a flag
/// beats its variable, which beats the config file, which beats the default.
#[derive(Debug, Parser)]
#[command(
    name = "stageos-smoke",
    version,
    args_conflicts_with_subcommands = true,
    after_help = SHORT_FOOTER,
    after_long_help = RUN_FOOTER
)]
pub struct Cli {
    /// What to do (default: run).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `run` when no subcommand is given.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the profile's flows against the target and write reports (the default).
    ///
    /// Flows run concurrently (--test-threads), each flow's steps in order. A step
    /// that fails is reported with what was expected and what came back; a step
    /// that could not check (unreachable target, bad response) is an error, not a
    /// failure; steps after a failed one are skipped with the reason. Reports go to
    /// --report-dir: junit.xml, summary.json (schema fixtures/schema/summary.schema.json),
    /// summary.md (also appended to $GITHUB_STEP_SUMMARY) and index.html, all
    /// with secrets redacted.
    #[command(after_help = SHORT_FOOTER, after_long_help = RUN_FOOTER)]
    Run(RunArgs),
    /// List the steps a run would execute, without touching the network.
    ///
    /// One `flow::step: test` line per step (libtest's --list format), after the
    /// profile and FILTER/--skip are applied. Reads only the built-in catalogue.
    #[command(after_help = SHORT_FOOTER, after_long_help = LIST_FOOTER)]
    List(ListArgs),
    /// Print the StageOS release checklist (43 items) and how each is verified, without running anything.
    ///
    /// Automated items show the testcases of the profile that verify them (or that
    /// the profile does not run them); manual items are open boxes; the rest are
    /// verified elsewhere, named. Every run's reports end with this checklist judged.
    #[command(after_help = SHORT_FOOTER, after_long_help = LIST_FOOTER)]
    Checklist(ChecklistArgs),
    /// Check a configuration without running any flow, and say what to fix.
    ///
    /// Takes the same options as `run` and checks, one line each: the
    /// configuration resolves; the credentials the selected flows need are set
    /// (values never printed); the target answers GET /api/health; this machine's
    /// clock is within the TOTP tolerance (±30 s) of the target's Date header;
    /// CloudWatch answers, when configured. Writes no report.
    #[command(after_help = SHORT_FOOTER, after_long_help = DOCTOR_FOOTER)]
    Doctor(RunArgs),
    /// Run the canary profile once or every --interval, publishing to CloudWatch StageOS/Canary.
    ///
    /// Each run writes the same reports as `run` and publishes one datum per step
    /// and a run verdict to CloudWatch (namespace --namespace, dimension
    /// Canary=--name). SIGTERM or Ctrl-C stop the loop after the current run.
    /// Takes every option of `run`; the profile defaults to `canary`.
    #[command(after_help = SHORT_FOOTER, after_long_help = CANARY_FOOTER)]
    Canary(CanaryArgs),
    /// Delete smoke-tagged leftovers (events, invoice PDFs, webhook endpoints) of earlier runs.
    ///
    /// Every object the suite creates carries the tags `smoke` and the run id, and
    /// is deleted at the end of its flow; a run that was killed can leave some
    /// behind. This deletes those older than --older-than, using the Manager, Accountant and Owner logins.
    #[command(after_help = SHORT_FOOTER, after_long_help = SWEEP_FOOTER)]
    Sweep(SweepArgs),
}

/// Options of `checklist`.
#[derive(Debug, Args, Clone)]
pub struct ChecklistArgs {
    /// Profile from suites/profiles.toml [default: post-deploy].
    #[arg(long, env = "STAGEOS_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
}

/// Options of `sweep`.
#[derive(Debug, Args, Clone)]
pub struct SweepArgs {
    /// Only entities created longer ago than AGE (e.g. 90s, 30m, 1h, 2d).
    #[arg(long, env = "STAGEOS_SWEEP_OLDER_THAN", value_name = "AGE", default_value = "1h", value_parser = crate::sweep::parse_age)]
    pub older_than: std::time::Duration,
    /// `embedded` or the base URL of a deployment [default: base_url of the config file's environment, else embedded].
    #[arg(long, env = "STAGEOS_BASE_URL", value_name = "embedded|URL")]
    pub target: Option<String>,
    /// Environment section of the config file [default: default_environment of the file].
    #[arg(long, env = "STAGEOS_ENVIRONMENT", value_name = "NAME")]
    pub environment: Option<String>,
    /// Config file [default: ./stageos-smoke.toml when present].
    #[arg(long, env = "STAGEOS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl SweepArgs {
    /// As configuration overrides.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            target: self.target.clone(),
            environment: self.environment.clone(),
            config: self.config.clone(),
            ..Overrides::default()
        }
    }
}

/// Options of `canary`.
#[derive(Debug, Args, Clone)]
pub struct CanaryArgs {
    /// Run every INTERVAL (e.g. 5m, 300s, 1h) until stopped; without it, run once.
    #[arg(long, env = "STAGEOS_CANARY_INTERVAL", value_name = "INTERVAL", value_parser = crate::canary::parse_interval)]
    pub interval: Option<std::time::Duration>,
    /// Stop after N runs (with --interval) [default: run until stopped].
    #[arg(long, env = "STAGEOS_CANARY_MAX_RUNS", value_name = "N")]
    pub max_runs: Option<u64>,
    /// CloudWatch namespace of the published metrics.
    #[arg(long, env = "STAGEOS_CANARY_NAMESPACE", default_value = crate::canary::NAMESPACE, value_name = "NAMESPACE")]
    pub namespace: String,
    /// Value of the `Canary` dimension (one per deployment or region).
    #[arg(
        long,
        env = "STAGEOS_CANARY_NAME",
        default_value = "stageos",
        value_name = "NAME"
    )]
    pub name: String,
    /// Do not publish to CloudWatch (dry run).
    #[arg(long, env = "STAGEOS_CANARY_NO_PUBLISH")]
    pub no_publish: bool,
    /// Options of the run [default profile: canary].
    #[command(flatten)]
    pub run: RunArgs,
}

/// Step selection, with libtest's semantics.
#[derive(Debug, Args, Clone, Default)]
pub struct SelectArgs {
    /// Only steps whose `flow::step` name contains FILTER [default: every step of the profile].
    ///
    /// As libtest's filter: `auth::` selects the auth flow, `refresh` every step
    /// with refresh in its name. A flow runs when any of its steps is selected;
    /// only selected steps are reported. No variable: it describes one invocation.
    #[arg(value_name = "FILTER")]
    pub filter: Option<String>,
    /// Match FILTER and --skip against whole `flow::step` names.
    #[arg(long)]
    pub exact: bool,
    /// Leave out steps whose name contains PATTERN (repeatable).
    #[arg(long, value_name = "PATTERN")]
    pub skip: Vec<String>,
}

impl SelectArgs {
    /// As a [`Selection`].
    pub fn selection(&self) -> Selection {
        Selection {
            filter: self.filter.clone(),
            exact: self.exact,
            skip: self.skip.clone(),
            only_ignored: false,
        }
    }
}

/// Options of `run`.
#[derive(Debug, Args, Clone, Default)]
pub struct RunArgs {
    /// `embedded` (the in-process reference StageOS) or the base URL of a deployment [default: base_url of the config file's environment, else embedded].
    ///
    /// A URL must be http(s) and must not hold credentials; logins come from
    /// STAGEOS_<ROLE>_EMAIL / STAGEOS_<ROLE>_PASSWORD and STAGEOS_OWNER_TOTP_SECRET.
    #[arg(long, env = "STAGEOS_BASE_URL", value_name = "embedded|URL")]
    pub target: Option<String>,
    /// Profile from suites/profiles.toml: which flows run and the thresholds they judge by [default: the environment's profile, else post-deploy].
    #[arg(long, env = "STAGEOS_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// Environment section of the config file [default: default_environment of the file].
    #[arg(long, env = "STAGEOS_ENVIRONMENT", value_name = "NAME")]
    pub environment: Option<String>,
    /// Config file [default: ./stageos-smoke.toml when present].
    #[arg(long, env = "STAGEOS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where junit.xml, summary.json, summary.md and index.html go [default: reports].
    #[arg(long, env = "STAGEOS_REPORT_DIR", value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Inject a fault into the embedded reference server (repeatable) [default: none].
    ///
    /// For demos and tests of the suite itself; `stageos-reference --help` lists
    /// the faults. The variable STAGEOS_REFERENCE_FAULTS adds a comma-separated list.
    /// Only in builds with the `reference` feature (the default).
    #[cfg(feature = "reference")]
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<String>,
    /// Give the embedded reference server a conformance variation (repeatable)
    /// [default: none].
    ///
    /// A contract-conforming difference from its defaults (`gzip`, `csv-bom`, …) under
    /// which every check must stay green; `stageos-reference --list-variations` lists
    /// them. The variable STAGEOS_REFERENCE_VARIATIONS adds a comma-separated list.
    /// Only in builds with the `reference` feature (the default).
    #[cfg(feature = "reference")]
    #[arg(long = "variation", value_name = "NAME")]
    pub variations: Vec<String>,
    /// Release version the target must report in /api/health (health::release_matches).
    #[arg(long, env = "STAGEOS_EXPECT_VERSION", value_name = "VERSION")]
    pub expect_version: Option<String>,
    /// How many flows run at once; 1 runs them one after another.
    #[arg(
        long,
        env = "STAGEOS_TEST_THREADS",
        value_name = "N",
        default_value_t = 16
    )]
    pub test_threads: usize,
    /// Print each request and answer (method, path, status, duration, headers and
    /// the start of the body, every secret redacted) to stderr and to
    /// `debug.log` in the report directory. `RUST_LOG=stageos_smoke=debug` does the
    /// same; `RUST_LOG` takes any tracing filter.
    #[arg(short, long, env = "STAGEOS_VERBOSE", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Which steps.
    #[command(flatten)]
    pub select: SelectArgs,
}

impl RunArgs {
    /// As configuration overrides (clap already folded in the environment).
    pub fn overrides(&self) -> Overrides {
        Overrides {
            target: self.target.clone(),
            profile: self.profile.clone(),
            environment: self.environment.clone(),
            config: self.config.clone(),
            report_dir: self.report_dir.clone(),
            faults: self.fault_names(),
            variations: self.variation_names(),
            expect_version: self.expect_version.clone(),
        }
    }
}

impl RunArgs {
    /// The `--fault`s given (none in a build without the reference server).
    fn fault_names(&self) -> Vec<String> {
        #[cfg(feature = "reference")]
        return self.faults.clone();
        #[cfg(not(feature = "reference"))]
        Vec::new()
    }

    /// The `--variation`s given (none in a build without the reference server).
    fn variation_names(&self) -> Vec<String> {
        #[cfg(feature = "reference")]
        return self.variations.clone();
        #[cfg(not(feature = "reference"))]
        Vec::new()
    }
}

/// Options of `list`.
#[derive(Debug, Args, Clone)]
pub struct ListArgs {
    /// Profile from suites/profiles.toml [default: post-deploy].
    #[arg(long, env = "STAGEOS_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// Which steps.
    #[command(flatten)]
    pub select: SelectArgs,
}

/// Shown after the options with `-h`.
const SHORT_FOOTER: &str = "Exit codes: 0 passed · 1 a check failed · 2 usage · 3 could not check · 130 interrupted. More with --help.";

/// Variables that are not flags, shared by the commands that run flows.
macro_rules! environment_help {
    () => {
        "ENVIRONMENT (besides the variables shown beside each option):
  STAGEOS_<ROLE>_EMAIL        login email of the ROLE test user (ROLE: OWNER, MANAGER,
                              MEMBER, CREW, ACCOUNTANT); or users.<role> in the config file
  STAGEOS_<ROLE>_PASSWORD     its password (never read from the config file)
  STAGEOS_OWNER_TOTP_SECRET   the Owner's base32 TOTP seed
  STAGEOS_WEBHOOK_MODE        receiver | delivery-log (default: receiver for a target on this
                              machine or with webhook_public_url set, else delivery-log)
  STAGEOS_WEBHOOK_PUBLIC_URL  the URL the target reaches the suite's receiver at
  STAGEOS_LATENCY_BUDGET_MS   per-request budget of auth::latency_within_budget (default:
                              the environment's latency_budget_ms, else the profile's)
  GITHUB_STEP_SUMMARY         when set, summary.md is appended to it
  NO_COLOR, CI                when set (non-empty), the terminal output has no colour
Only the credentials of the selected flows are required."
    };
}

/// `run`'s manual footer.
const RUN_FOOTER: &str = concat!(
    environment_help!(),
    "

EXIT CODES:
  0    every selected check passed (flaky passes included)         → promote
  1    a check failed: the target does not behave as the contract says → roll back
  2    usage error (bad flag)                                       → fix the pipeline
  3    could not check: unreachable target, bad config, missing secret → investigate
  130  interrupted (SIGINT/SIGTERM); reports of the finished steps are written
A failed check wins over a could-not-check.

EXAMPLES:
  stageos-smoke                                   the whole suite against the embedded reference
  stageos-smoke run --target https://staging.stageos.example --profile post-deploy
  stageos-smoke run auth:: --skip owner           only the auth flow, without its owner steps"
);

/// `list`'s and `checklist`'s manual footer (both offline).
const LIST_FOOTER: &str = "EXIT CODES:
  0    printed
  2    usage error
  3    unknown profile

EXAMPLES:
  stageos-smoke list --profile canary auth::
  stageos-smoke checklist --profile post-deploy";

/// `doctor`'s manual footer.
const DOCTOR_FOOTER: &str = concat!(
    environment_help!(),
    "

EXIT CODES:
  0    every check is ok (warnings and skipped checks allowed)
  2    usage error
  3    at least one check failed: fix what its line says, then run doctor again

EXAMPLE:
  stageos-smoke doctor --target https://staging.stageos.example --profile post-deploy"
);

/// `canary`'s manual footer.
const CANARY_FOOTER: &str = concat!(
    environment_help!(),
    "
AWS credentials for publishing come from the default chain (AWS_* variables,
web identity / IRSA, instance profile).

EXIT CODES (of the last run):
  0    passed and published
  1    a check failed
  2    usage error
  3    could not check, or could not publish
  130  interrupted

EXAMPLE:
  stageos-smoke canary --target https://stageos.example --interval 5m"
);

/// `sweep`'s manual footer.
const SWEEP_FOOTER: &str = "Logs in as the roles whose objects it deletes: STAGEOS_<ROLE>_EMAIL and
STAGEOS_<ROLE>_PASSWORD (ROLE: MANAGER, ACCOUNTANT, OWNER) and STAGEOS_OWNER_TOTP_SECRET.

EXIT CODES:
  0    every leftover older than --older-than was deleted (or there were none)
  2    usage error
  3    could not sweep: bad config, unreachable target, or a delete failed

EXAMPLE:
  stageos-smoke sweep --target https://staging.stageos.example --older-than 2h";
