//! The emulator process: spawned on a free loopback port, polled until its health
//! check answers, stopped on drop.
//!
//! The process runs ministack under a small launcher that exits as soon as its
//! stdin reaches end of file. Only this process holds the pipe's other end, so
//! when it ends, however it ends (drop, panic, `SIGKILL`), the OS closes the pipe
//! and the emulator follows: no orphan survives a test run or a CLI run.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::install::ensure_installed;
use crate::{EmulatorConfig, EmulatorError, SERVICES};

/// Runs ministack's `__main__` and exits (removing ministack's PID file, which its
/// own SIGTERM handler would do) once stdin closes.
const LAUNCHER: &str = r#"
import os, sys, tempfile, threading, runpy
def _exit_when_parent_is_gone():
    try:
        sys.stdin.buffer.read()
    finally:
        try:
            os.remove(os.path.join(tempfile.gettempdir(), "ministack-%s.pid" % os.environ["GATEWAY_PORT"]))
        except OSError:
            pass
        os._exit(0)
threading.Thread(target=_exit_when_parent_is_gone, daemon=True).start()
sys.argv = ["ministack"]
runpy.run_module("ministack", run_name="__main__", alter_sys=True)
"#;

/// How often the health check is polled during start-up.
const POLL: Duration = Duration::from_millis(50);
/// How long a stop waits for the process to exit after its stdin closed.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// The process, stopped when dropped.
#[derive(Debug)]
struct Guard {
    child: Child,
    log: PathBuf,
    /// Keep the log: a failed start names it in its error.
    keep_log: bool,
}

impl Guard {
    fn stop(&mut self) {
        // Closing stdin makes the launcher exit; a kill is the fallback.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + STOP_GRACE;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop();
        if !self.keep_log {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// An emulator process that has been spawned and may not answer yet.
#[derive(Debug)]
pub struct StartingEmulator {
    guard: Guard,
    port: u16,
    deadline: Instant,
    timeout: Duration,
}

impl StartingEmulator {
    /// Install the pins if needed (the slow part, once per venv) and spawn the
    /// emulator; it answers later ([`Self::wait_healthy`]).
    pub fn spawn(config: &EmulatorConfig) -> Result<Self, EmulatorError> {
        Self::spawn_with(config, &mut || {})
    }

    /// As [`Self::spawn`]; `on_install` is called before a (slow, one-time) install,
    /// once the interpreter proved usable: the place to tell a person to wait.
    pub fn spawn_with(
        config: &EmulatorConfig,
        on_install: &mut dyn FnMut(),
    ) -> Result<Self, EmulatorError> {
        ensure_installed(config, on_install)?;
        let port = free_port().map_err(|source| EmulatorError::Io {
            what: "failed to find a free port on",
            path: PathBuf::from("127.0.0.1"),
            source,
        })?;
        let log = config.dir.join(format!("ministack-{port}.log"));
        let log_file = std::fs::File::create(&log).map_err(|source| EmulatorError::Io {
            what: "failed to create",
            path: log.clone(),
            source,
        })?;
        let log_err = log_file.try_clone().map_err(|source| EmulatorError::Io {
            what: "failed to open",
            path: log.clone(),
            source,
        })?;
        let child = Command::new(config.venv_python())
            .arg("-c")
            .arg(LAUNCHER)
            .current_dir(&config.dir)
            .env("GATEWAY_PORT", port.to_string())
            .env("BIND_HOST", "127.0.0.1")
            .env("SERVICES", SERVICES.join(","))
            .env("LOG_LEVEL", "WARNING")
            .env("TMPDIR", &config.dir)
            .env_remove("PERSIST_STATE")
            .env_remove("S3_PERSIST")
            .stdin(Stdio::piped())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .map_err(|source| EmulatorError::NoPython {
                python: config.venv_python().display().to_string(),
                source,
            })?;
        Ok(Self {
            guard: Guard {
                child,
                log,
                keep_log: false,
            },
            port,
            deadline: Instant::now() + config.health_timeout,
            timeout: config.health_timeout,
        })
    }

    /// `http://127.0.0.1:PORT`, known before the emulator answers.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Block until the health check answers 200, the process exits, or the
    /// health timeout passes (then the process is stopped).
    pub fn wait_healthy(mut self) -> Result<RunningEmulator, EmulatorError> {
        loop {
            if health_ok(self.port) {
                return Ok(RunningEmulator {
                    endpoint: self.endpoint(),
                    guard: self.guard,
                });
            }
            if let Ok(Some(status)) = self.guard.child.try_wait() {
                self.guard.keep_log = true;
                return Err(EmulatorError::Exited {
                    status: status.to_string(),
                    detail: last_log_line(&self.guard.log),
                    log: self.guard.log.clone(),
                });
            }
            if Instant::now() >= self.deadline {
                self.guard.keep_log = true;
                return Err(EmulatorError::Timeout {
                    seconds: self.timeout.as_secs(),
                    log: self.guard.log.clone(),
                });
            }
            std::thread::sleep(POLL);
        }
    }
}

/// A healthy emulator; dropping it stops the process.
#[derive(Debug)]
pub struct RunningEmulator {
    endpoint: String,
    guard: Guard,
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The process id (for tests that prove it is gone).
    pub fn pid(&self) -> u32 {
        self.guard.child.id()
    }

    /// Stop the process now (as dropping it does) and remove its log.
    pub fn stop(self) {
        drop(self);
    }
}

fn free_port() -> std::io::Result<u16> {
    let l = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    Ok(l.local_addr()?.port())
}

/// `GET /_ministack/health` answers 200.
fn health_ok(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(
        s,
        "GET /_ministack/health HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )
    .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}

fn last_log_line(log: &Path) -> String {
    std::fs::read_to_string(log)
        .ok()
        .and_then(|t| {
            t.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_owned())
        })
        .unwrap_or_else(|| "no output".to_owned())
}
