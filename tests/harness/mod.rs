//! Pieces shared by the `harness = false` emulator tests (tests/gates.rs,
//! tests/aws_gates.rs): the emulator endpoint (loopback only), one runtime per
//! trial and a failure-message check.
//!
//! The emulator: the endpoint in the first of the trial's `STAGEOS_TEST_*`
//! variables that is set; otherwise the pinned emulator this process starts itself
//! on first use ([`stageos_smoke::emulator`], installed once into `target/`) and
//! stops when `main` returns ([`EmulatorGuard`]; a killed process takes it along).
//! Where it cannot start, the emulator trials **fail** with the reason and the fix;
//! only `STAGEOS_TEST_SKIP_EMULATOR=1` reports them ignored, and
//! `STAGEOS_TEST_REQUIRE_EMULATOR=1` (CI) turns that ignoring into a failure too.
#![allow(dead_code)]

use std::sync::Mutex;
use std::time::Instant;

use libtest_mimic::{Completion, Failed};

use stageos_smoke::emulator::{EmulatorConfig, RunningEmulator};

/// What a trial returns: completed, ignored at run time with a reason, or failed.
pub type TestResult = Result<Completion, Failed>;

/// Variable: report the emulator trials ignored instead of starting the emulator.
pub const SKIP_VAR: &str = "STAGEOS_TEST_SKIP_EMULATOR";
/// Variable: no emulator trial may be ignored (CI).
pub const REQUIRE_VAR: &str = "STAGEOS_TEST_REQUIRE_EMULATOR";

/// The emulator this process started: `None` until first use, then the running
/// emulator or why it could not start (asked once, not once per trial).
static STARTED: Mutex<Option<Result<RunningEmulator, String>>> = Mutex::new(None);

/// Stops the emulator this process started when dropped: the first local of
/// `main`, so it outlives every trial and runs also when `main` unwinds.
pub struct EmulatorGuard;

impl Drop for EmulatorGuard {
    fn drop(&mut self) {
        let started = STARTED.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(Ok(emulator)) = started {
            emulator.stop();
        }
    }
}

/// Why an emulator trial does not run.
#[derive(Debug)]
pub enum NoEmulator {
    /// Ignored on request (`STAGEOS_TEST_SKIP_EMULATOR=1`).
    Skip(String),
    /// The trial fails with this reason.
    Fail(String),
}

fn flag(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}

/// The emulator endpoint from the first of `vars` that is set (loopback only:
/// these tests never talk to real AWS), else the one this process starts.
pub fn emulator(vars: &[&str]) -> Result<String, NoEmulator> {
    let set = vars.iter().find_map(|v| {
        std::env::var(v)
            .ok()
            .filter(|x| !x.is_empty())
            .map(|x| (*v, x))
    });
    if let Some((var, value)) = set {
        let url = url::Url::parse(&value)
            .map_err(|e| NoEmulator::Fail(format!("{var}={value} is not a URL: {e}")))?;
        if !stageos_smoke::gates::settings::is_loopback(&url) {
            return Err(NoEmulator::Fail(format!(
                "{var}={value} is not on loopback: these tests never talk to real AWS (hint: unset it to let the tests start the emulator)"
            )));
        }
        return Ok(value.trim_end_matches('/').to_owned());
    }
    if flag(SKIP_VAR) {
        let reason = format!("{SKIP_VAR}=1: the emulator trials are not run");
        return Err(if flag(REQUIRE_VAR) {
            NoEmulator::Fail(format!(
                "{reason}, but {REQUIRE_VAR}=1 requires them (hint: unset {SKIP_VAR})"
            ))
        } else {
            NoEmulator::Skip(reason)
        });
    }
    let mut started = STARTED.lock().unwrap_or_else(|e| e.into_inner());
    let started = started.get_or_insert_with(|| {
        let config = EmulatorConfig::from_process_env();
        let clock = Instant::now();
        let result = stageos_smoke::emulator::start(&config).map_err(|e| e.to_string());
        match &result {
            Ok(e) => eprintln!(
                "emulator: ministack at {} ready in {:.2} s (venv {})",
                e.endpoint(),
                clock.elapsed().as_secs_f64(),
                config.venv().display()
            ),
            Err(e) => eprintln!("emulator: could not start: {e}"),
        }
        result
    });
    match started {
        Ok(e) => Ok(e.endpoint().to_owned()),
        Err(e) => Err(NoEmulator::Fail(format!(
            "the emulator could not start: {e}; or set one of {} to a running emulator, or {SKIP_VAR}=1 to report these trials ignored",
            vars.join(", ")
        ))),
    }
}

/// Run `f` with the endpoint of [`emulator`]`(vars)`; ignored or failed with the
/// reason when there is none.
pub fn with_emulator(vars: &[&str], f: impl FnOnce(String) -> Result<(), Failed>) -> TestResult {
    match emulator(vars) {
        Ok(e) => f(e).map(|()| Completion::Completed),
        Err(NoEmulator::Skip(reason)) => {
            eprintln!("SKIPPED (emulator): {reason}");
            Ok(Completion::ignored_with(reason))
        }
        Err(NoEmulator::Fail(reason)) => Err(Failed::from(reason)),
    }
}

/// A small multi-thread runtime for one trial.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Fail the trial with `msg` unless `cond` holds.
pub fn check(cond: bool, msg: impl FnOnce() -> String) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(Failed::from(msg()))
    }
}

/// One line per step (`outcome flow::step: message`), for failure messages.
pub fn summary(report: &stageos_smoke::outcome::RunReport) -> String {
    report
        .steps
        .iter()
        .map(|s| {
            format!(
                "{} {}: {}",
                s.outcome.label(),
                s.full_name(),
                s.outcome.message().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
