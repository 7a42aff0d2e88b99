//! Pieces shared by the `harness = false` emulator tests (tests/gates.rs,
//! tests/aws_gates.rs): the emulator endpoint (loopback only), one runtime per
//! trial and a failure-message check.
#![allow(dead_code)]

use libtest_mimic::{Completion, Failed};

/// What a trial returns: completed, ignored at run time with a reason, or failed.
pub type TestResult = Result<Completion, Failed>;

/// The emulator endpoint from the first of `vars` that is set, without a trailing
/// `/`; an error (the reason the trials are ignored) when none is set, or when it
/// is not on loopback: these tests never talk to real AWS.
pub fn emulator(vars: &[&str]) -> Result<String, String> {
    let (var, value) = vars
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|x| !x.is_empty()).map(|x| (*v, x)))
        .ok_or_else(|| {
            format!(
                "{} is not set: the emulator is not running (hint: scripts/cw-emulator.sh start && eval \"$(scripts/cw-emulator.sh env)\")",
                vars.join(" or ")
            )
        })?;
    let url = url::Url::parse(&value).map_err(|e| format!("{var}={value} is not a URL: {e}"))?;
    if !stageos_smoke::gates::settings::is_loopback(&url) {
        return Err(format!(
            "{var}={value} is not on loopback: these tests never talk to real AWS"
        ));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

/// Run `f` with the endpoint of [`emulator`]`(vars)`, or report the trial ignored
/// with the reason.
pub fn with_emulator(vars: &[&str], f: impl FnOnce(String) -> Result<(), Failed>) -> TestResult {
    match emulator(vars) {
        Ok(e) => f(e).map(|()| Completion::Completed),
        Err(reason) => {
            eprintln!("SKIPPED (emulator): {reason}");
            Ok(Completion::ignored_with(reason))
        }
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
