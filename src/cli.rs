//! Command-line interface (clap derive): `run` (the default), `list`, `canary`.
//!
//! Every flag has a `STAGEOS_*` variable; the library resolves flag > variable >
//! config file > default, so the help text and the behaviour cannot drift apart.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Overrides;
use crate::selection::Selection;

/// Post-deploy smoke and verification suite for StageOS.
///
/// Exit codes: 0 all checks passed; 1 a check failed (the target is wrong: roll back);
/// 2 usage error; 3 the run could not check (unreachable target, bad config, missing
/// secret); 130 interrupted.
#[derive(Debug, Parser)]
#[command(name = "stageos-smoke", version, args_conflicts_with_subcommands = true)]
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
    Run(RunArgs),
    /// List the steps a run would execute, without touching the network.
    List(ListArgs),
    /// Run the canary profile once or every --interval, publishing to CloudWatch StageOS/Canary.
    Canary(CanaryArgs),
    /// Delete smoke-tagged leftovers (events, invoice PDFs, webhook endpoints) of earlier runs.
    Sweep(SweepArgs),
}

/// Options of `sweep`.
#[derive(Debug, Args, Clone)]
pub struct SweepArgs {
    /// Only entities created longer ago than AGE (e.g. 90s, 30m, 1h, 2d).
    #[arg(long, value_name = "AGE", default_value = "1h", value_parser = crate::sweep::parse_age)]
    pub older_than: std::time::Duration,
    /// `embedded` or the base URL of a deployment.
    #[arg(long, env = "STAGEOS_BASE_URL", value_name = "embedded|URL")]
    pub target: Option<String>,
    /// Environment section of the config file.
    #[arg(long, env = "STAGEOS_ENVIRONMENT", value_name = "NAME")]
    pub environment: Option<String>,
    /// Config file [default: ./stageos-smoke.toml when present].
    #[arg(long, env = "STAGEOS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl SweepArgs {
    /// As configuration overrides.
    pub fn overrides(&self) -> Overrides {
        Overrides { target: self.target.clone(), environment: self.environment.clone(), config: self.config.clone(), ..Overrides::default() }
    }
}

/// Options of `canary`.
#[derive(Debug, Args, Clone)]
pub struct CanaryArgs {
    /// Run every INTERVAL (e.g. 5m, 300s, 1h) until stopped; without it, run once.
    #[arg(long, env = "STAGEOS_CANARY_INTERVAL", value_name = "INTERVAL", value_parser = crate::canary::parse_interval)]
    pub interval: Option<std::time::Duration>,
    /// Stop after N runs (with --interval).
    #[arg(long, value_name = "N")]
    pub max_runs: Option<u64>,
    /// CloudWatch namespace of the published metrics.
    #[arg(long, env = "STAGEOS_CANARY_NAMESPACE", default_value = crate::canary::NAMESPACE, value_name = "NAMESPACE")]
    pub namespace: String,
    /// Value of the `Canary` dimension (one per deployment or region).
    #[arg(long, env = "STAGEOS_CANARY_NAME", default_value = "stageos", value_name = "NAME")]
    pub name: String,
    /// Do not publish (dry run).
    #[arg(long)]
    pub no_publish: bool,
    /// Options of the run [default profile: canary].
    #[command(flatten)]
    pub run: RunArgs,
}

/// Step selection, with libtest's semantics.
#[derive(Debug, Args, Clone, Default)]
pub struct SelectArgs {
    /// Only steps whose `flow::step` name contains FILTER.
    #[arg(value_name = "FILTER")]
    pub filter: Option<String>,
    /// Match FILTER and --skip against whole names.
    #[arg(long)]
    pub exact: bool,
    /// Leave out steps whose name contains PATTERN (repeatable).
    #[arg(long, value_name = "PATTERN")]
    pub skip: Vec<String>,
}

impl SelectArgs {
    /// As a [`Selection`].
    pub fn selection(&self) -> Selection {
        Selection { filter: self.filter.clone(), exact: self.exact, skip: self.skip.clone(), only_ignored: false }
    }
}

/// Options of `run`.
#[derive(Debug, Args, Clone, Default)]
pub struct RunArgs {
    /// `embedded` (the in-process reference StageOS) or the base URL of a deployment.
    #[arg(long, env = "STAGEOS_BASE_URL", value_name = "embedded|URL")]
    pub target: Option<String>,
    /// Profile from suites/profiles.toml [default: post-deploy].
    #[arg(long, env = "STAGEOS_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// Environment section of the config file.
    #[arg(long, env = "STAGEOS_ENVIRONMENT", value_name = "NAME")]
    pub environment: Option<String>,
    /// Config file [default: ./stageos-smoke.toml when present].
    #[arg(long, env = "STAGEOS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where junit.xml, summary.json and summary.md go [default: reports].
    #[arg(long, env = "STAGEOS_REPORT_DIR", value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Inject a fault into the embedded reference server (repeatable; see `stageos-reference --help`).
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<String>,
    /// Release version the target must report in /api/health (health::release_matches).
    #[arg(long, env = "STAGEOS_EXPECT_VERSION", value_name = "VERSION")]
    pub expect_version: Option<String>,
    /// How many flows run at once [default: 4].
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub test_threads: usize,
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
            faults: self.faults.clone(),
            expect_version: self.expect_version.clone(),
        }
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
