//! Pieces shared by the `harness = false` emulator tests (tests/gates.rs,
//! tests/aws_gates.rs): one runtime per trial and a failure-message check.
#![allow(dead_code)]

use libtest_mimic::{Completion, Failed};

/// What a trial returns: completed, ignored at run time with a reason, or failed.
pub type TestResult = Result<Completion, Failed>;

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
