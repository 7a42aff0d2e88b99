//! The pinned local CloudWatch/AWS emulator (ministack) as a child process.
//!
//! Why a crate of its own: the emulator tests (`tests/gates.rs`,
//! `tests/aws_gates.rs`) and the CLI's embedded run both need to install, start
//! and stop the same pinned emulator, and `scripts/cw-emulator.sh` shows the steps
//! in shell. This crate is the one Rust implementation of those steps, std only (no
//! AWS SDK, no async runtime), at the bottom of the crate graph so the checks crate
//! and the tests can both use it without either growing a dependency on the other.
//!
//! What it guarantees:
//! - **Pinned**: `ministack==1.5.33` and `cbor2==6.3.0` ([`PINS`]), installed once
//!   into a venv ([`EmulatorConfig::dir`]; by default the cargo `target/` directory
//!   the running binary was built in, as the script does), guarded by a file lock
//!   so parallel test processes install it once.
//! - **Loopback only**: bound to `127.0.0.1` on a free port.
//! - **No orphans**: [`RunningEmulator`] stops the process when dropped (also while
//!   a panic unwinds), and the process itself exits when its stdin closes, which
//!   the OS does when the parent dies by any means (a signal, `abort`).
//! - **Errors in one line with the fix** ([`EmulatorError`]).

mod config;
mod install;
mod process;

pub use config::{DIR_VAR, EmulatorConfig, PINS, PYTHON_VAR, SERVICES, default_dir};
pub use process::{RunningEmulator, StartingEmulator};

use std::path::PathBuf;

/// Why the emulator could not start; each message names the cause and the fix.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The interpreter could not be run at all.
    #[error(
        "`{python}` could not be run: {source} (hint: install Python 3 with venv, e.g. `apt-get install python3 python3-venv`, or set {PYTHON_VAR} to a python3 binary)"
    )]
    NoPython {
        /// The interpreter.
        python: String,
        /// Why it could not be run.
        source: std::io::Error,
    },
    /// `python -m venv` failed.
    #[error(
        "`{python} -m venv {}` failed: {detail} (hint: install the venv module, e.g. `apt-get install python3-venv`)",
        venv.display()
    )]
    Venv {
        /// The interpreter.
        python: String,
        /// The venv directory.
        venv: PathBuf,
        /// The last line of its output.
        detail: String,
    },
    /// pip could not install the pins.
    #[error(
        "pip could not install {pins}: {detail} (hint: this needs the Python package index once, or a mirror in PIP_INDEX_URL)",
        pins = PINS.join(" ")
    )]
    Pip {
        /// The last line of pip's output.
        detail: String,
    },
    /// A file or directory of the emulator could not be used.
    #[error("{what} {}: {source} (hint: check its permissions, or set {DIR_VAR} to a writable directory)", path.display())]
    Io {
        /// What was done.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The process exited before it answered its health check.
    #[error("ministack exited during start-up ({status}): {detail} (hint: see {})", log.display())]
    Exited {
        /// Its exit status.
        status: String,
        /// The last line of its log.
        detail: String,
        /// Its log file.
        log: PathBuf,
    },
    /// No healthy answer in time.
    #[error("ministack did not answer /_ministack/health within {seconds} s (hint: see {}; a busy machine may need a larger {})", log.display(), config::TIMEOUT_VAR)]
    Timeout {
        /// The limit.
        seconds: u64,
        /// Its log file.
        log: PathBuf,
    },
}

/// Whether the pins are installed for `config` (the next start is a warm one).
pub fn is_installed(config: &EmulatorConfig) -> bool {
    install::is_installed(config)
}

/// Install (once) and start the emulator, and wait until it is healthy.
pub fn start(config: &EmulatorConfig) -> Result<RunningEmulator, EmulatorError> {
    StartingEmulator::spawn(config)?.wait_healthy()
}
