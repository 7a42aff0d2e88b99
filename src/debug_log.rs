//! Debug output a person can use against a red staging run (Hurl's `--verbose`,
//! k6's `--http-debug`): with `-v` or `RUST_LOG=stageos_smoke=debug`, every
//! request and its answer — method, path, status, duration, headers both ways and
//! the start of the body — goes to stderr and to `debug.log` in the report
//! directory. The lines are built in `stageos_smoke_http::http` with credential
//! headers masked and every known secret redacted; third-party crates are capped
//! at `info` whatever `RUST_LOG` says, because their trace output carries raw
//! headers.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The debug log's file name inside the report directory.
pub const DEBUG_LOG_FILE: &str = "debug.log";

/// Crates whose own debug/trace output may print raw headers or bodies.
const CAPPED: &[&str] = &[
    "hyper",
    "hyper_util",
    "reqwest",
    "h2",
    "rustls",
    "tower",
    "aws_smithy_runtime",
    "aws_smithy_http_client",
    "aws_config",
    "aws_sigv4",
    "axum",
];

/// Install the subscriber when `-v` was given (`verbose` > 0) or `rust_log` is set;
/// returns the debug log's path, or `None` when debug output is off. A report
/// directory that cannot be written is said on stderr; the run goes on.
pub fn install(verbose: u8, rust_log: Option<&str>, report_dir: &Path) -> Option<PathBuf> {
    let spec = match (rust_log.filter(|s| !s.trim().is_empty()), verbose) {
        (Some(spec), _) => spec.to_owned(),
        (None, 0) => return None,
        (None, 1) => "stageos_smoke=debug".to_owned(),
        (None, _) => "stageos_smoke=trace".to_owned(),
    };
    let mut filter = EnvFilter::try_new(&spec).unwrap_or_else(|e| {
        eprintln!(
            "warning: RUST_LOG `{spec}` is not a tracing filter ({e}); using stageos_smoke=debug"
        );
        EnvFilter::new("stageos_smoke=debug")
    });
    for c in CAPPED {
        if let Ok(d) = format!("{c}=info").parse() {
            filter = filter.add_directive(d);
        }
    }
    let path = report_dir.join(DEBUG_LOG_FILE);
    let file = std::fs::create_dir_all(report_dir)
        .and_then(|()| std::fs::File::create(&path))
        .map_err(|e| {
            eprintln!(
                "warning: failed to create {}: {e}; debug output goes to stderr only",
                path.display()
            )
        })
        .ok();
    let to_file = file.map(|f| {
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(Mutex::new(f))
    });
    let written = to_file.is_some();
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(to_file)
        .try_init()
        .is_ok();
    (installed && written).then_some(path)
}
