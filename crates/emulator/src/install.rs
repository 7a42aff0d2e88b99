//! Install the pins into the venv once: `python -m venv`, then `pip install`, under
//! an exclusive file lock (parallel test processes share one venv), recorded in a
//! stamp file so a warm start runs no Python before the emulator itself.

use std::fs::{File, OpenOptions};
use std::process::{Command, Output, Stdio};

use crate::{EmulatorConfig, EmulatorError, PINS};

/// The stamp in the venv recording what was installed.
const STAMP: &str = ".stageos-smoke-pins";

/// Whether the venv of `config` holds exactly [`PINS`] (a warm start).
pub(crate) fn is_installed(config: &EmulatorConfig) -> bool {
    config.venv_python().exists()
        && std::fs::read_to_string(config.venv().join(STAMP))
            .is_ok_and(|s| s.trim() == PINS.join("\n"))
}

/// Make sure the venv of `config` holds exactly [`PINS`]; `on_install` is called
/// once the interpreter proved usable, before the slow part (the install).
pub(crate) fn ensure_installed(
    config: &EmulatorConfig,
    on_install: &mut dyn FnMut(),
) -> Result<(), EmulatorError> {
    let io = |what: &'static str, path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| EmulatorError::Io { what, path, source }
    };
    let stamp = config.venv().join(STAMP);
    let wanted = PINS.join("\n");
    if is_installed(config) {
        return Ok(());
    }
    std::fs::create_dir_all(&config.dir).map_err(io("failed to create", &config.dir))?;
    let lock_path = config.dir.join("install.lock");
    let lock: File = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io("failed to open", &lock_path))?;
    lock.lock().map_err(io("failed to lock", &lock_path))?;
    // Another process may have installed it while this one waited for the lock.
    if is_installed(config) {
        return Ok(());
    }
    if !config.venv_python().exists() {
        check_python(config)?;
    }
    on_install();
    if !config.venv_python().exists() {
        let out = Command::new(&config.python)
            .arg("-m")
            .arg("venv")
            .arg(config.venv())
            .stdin(Stdio::null())
            .output()
            .map_err(|source| EmulatorError::NoPython {
                python: config.python.clone(),
                source,
            })?;
        if !out.status.success() {
            return Err(EmulatorError::Venv {
                python: config.python.clone(),
                venv: config.venv(),
                detail: last_line(&out),
            });
        }
    }
    let out = Command::new(config.venv_python())
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(PINS)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| EmulatorError::NoPython {
            python: config.venv_python().display().to_string(),
            source,
        })?;
    if !out.status.success() {
        return Err(EmulatorError::Pip {
            detail: last_line(&out),
        });
    }
    std::fs::write(&stamp, wanted).map_err(io("failed to write", &stamp))?;
    Ok(())
}

/// The interpreter runs and has the venv module (a fast check, so a machine that
/// cannot install says so before anything slow starts).
fn check_python(config: &EmulatorConfig) -> Result<(), EmulatorError> {
    let out = Command::new(&config.python)
        .args([
            "-c",
            "import sys, venv, ensurepip; assert sys.version_info >= (3, 10), sys.version",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| EmulatorError::NoPython {
            python: config.python.clone(),
            source,
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(EmulatorError::Venv {
            python: config.python.clone(),
            venv: config.venv(),
            detail: last_line(&out),
        })
    }
}

/// The last non-empty line of a command's stderr (else stdout, else its status).
pub(crate) fn last_line(out: &Output) -> String {
    [&out.stderr, &out.stdout]
        .iter()
        .find_map(|b| {
            String::from_utf8_lossy(b)
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_owned())
        })
        .unwrap_or_else(|| out.status.to_string())
}
