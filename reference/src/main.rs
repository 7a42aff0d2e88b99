//! `stageos-reference`: run the reference StageOS server locally.
//!
//! Prints `STAGEOS_BASE_URL=...` and the seeded credentials as `KEY=value`
//! lines on stdout — the one place secrets are printed, on purpose, so a
//! developer can `eval` them or paste them into the suite's environment —
//! then serves until Ctrl-C or SIGTERM. Logs go to stderr.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use stageos_reference::credentials::normalise_totp_secret;
use stageos_reference::{Credentials, Fault, Role, RunningServer, ServerOptions, Variation};

/// Reference StageOS server with fault injection.
#[derive(Debug, Parser)]
#[command(name = "stageos-reference", version)]
struct Cli {
    /// Address to listen on.
    #[arg(
        long,
        default_value = "127.0.0.1:8080",
        env = "STAGEOS_REFERENCE_LISTEN"
    )]
    listen: SocketAddr,
    /// Fault to inject (repeatable), e.g. `refresh-not-rotated`, `latency:/api/me:300`.
    #[arg(long = "fault", value_name = "NAME")]
    faults: Vec<Fault>,
    /// Conformance variation (repeatable): a contract-conforming difference from the
    /// defaults, e.g. `gzip`, `csv-bom` (`--list-variations` names them all).
    #[arg(long = "variation", value_name = "NAME")]
    variations: Vec<Variation>,
    /// Owner password instead of a random one.
    #[arg(long)]
    owner_password: Option<String>,
    /// Owner TOTP secret (base32) instead of a random one.
    #[arg(long)]
    owner_totp_secret: Option<String>,
    /// Version reported by /api/health.
    #[arg(long, default_value = "v1.4.0-20261125")]
    version_label: String,
    /// Commit reported by /api/health.
    #[arg(long, default_value = "0000000")]
    commit: String,
    /// List the fault names and exit.
    #[arg(long)]
    list_faults: bool,
    /// List the variation names, with what allows each, and exit.
    #[arg(long)]
    list_variations: bool,
    /// Publish ALB-like per-minute metrics to this CloudWatch emulator (loopback only).
    #[arg(
        long,
        env = "STAGEOS_REFERENCE_CLOUDWATCH_ENDPOINT",
        value_name = "URL"
    )]
    cloudwatch_endpoint: Option<String>,
    /// `LoadBalancer` dimension value of the published metrics.
    #[arg(long, default_value = "app/stageos-reference/0000000000000000")]
    cloudwatch_load_balancer: String,
    /// How often recorded requests are published, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    cloudwatch_flush_ms: u64,
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Writes `lines` to stdout without panicking on a closed pipe.
/// Prints the lines in one write: stdout is line-buffered, and a script that
/// sources the file as soon as `STAGEOS_BASE_URL=` appears must not read the
/// credentials of a half-written block.
fn print_lines(lines: impl IntoIterator<Item = String>) -> std::io::Result<()> {
    let block: String = lines.into_iter().map(|line| line + "\n").collect();
    let mut out = std::io::stdout().lock();
    out.write_all(block.as_bytes())?;
    out.flush()
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    if cli.list_faults {
        let catalogue = Fault::catalogue();
        let lines = catalogue
            .iter()
            .map(|fault| format!("{fault:<28} {}", fault.describe()));
        return match print_lines(lines) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }

    if cli.list_variations {
        let lines = Variation::catalogue()
            .into_iter()
            .map(|v| format!("{v:<28} {} ({})", v.describe(), v.allowed_by()));
        return match print_lines(lines) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }

    let mut credentials = Credentials::generate();
    if let Some(password) = cli.owner_password {
        for user in credentials
            .users
            .iter_mut()
            .filter(|u| u.role == Role::Owner)
        {
            user.password = password.clone();
        }
    }
    if let Some(secret) = cli.owner_totp_secret {
        credentials.owner_totp_secret = normalise_totp_secret(&secret);
    }

    let opts = ServerOptions {
        listen: cli.listen,
        faults: cli.faults,
        variations: cli.variations,
        credentials: Some(credentials),
        version: cli.version_label,
        commit: cli.commit,
        previous_version: ServerOptions::default().previous_version,
        cloudwatch: cli.cloudwatch_endpoint.map(|endpoint| {
            let mut c = stageos_reference::cloudwatch::CloudWatchPublish::emulator(
                endpoint,
                cli.cloudwatch_load_balancer,
            );
            c.flush_interval = std::time::Duration::from_millis(cli.cloudwatch_flush_ms);
            c
        }),
        record_alb_metrics: false,
    };
    let server = match RunningServer::start(opts).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: failed to start the reference server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let lines = std::iter::once(format!("STAGEOS_BASE_URL={}", server.base_url())).chain(
        server
            .credentials()
            .env_lines()
            .into_iter()
            .map(|(key, value)| format!("{key}={value}")),
    );
    if let Err(e) = print_lines(lines) {
        tracing::warn!(error = %e, "failed to print the environment lines");
    }
    let faults = server.faults();
    if !faults.is_empty() {
        let names: Vec<String> = faults.iter().map(ToString::to_string).collect();
        tracing::warn!(faults = %names.join(","), "faults active");
    }
    let variations = server.variations();
    if !variations.is_empty() {
        let names: Vec<String> = variations.iter().map(ToString::to_string).collect();
        tracing::info!(variations = %names.join(","), "variations active");
    }
    tracing::info!(addr = %server.addr(), "listening");
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    ExitCode::SUCCESS
}
