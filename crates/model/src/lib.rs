//! The plain model of a stageos-smoke run, at the bottom of the crate graph: no
//! HTTP, no AWS, no async runtime. Everything above reads and writes these types.
//!
//! - [`outcome`]: what a run produced (steps, requests, cleanups) — reporters read it.
//! - [`error`]: a failed check ([`error::CheckFailure`]) apart from a check that
//!   could not be carried out ([`error::ExecError`]).
//! - [`exit`]: the documented exit codes.
//! - [`flowdef`]: a flow and its steps as static data (`--list` reads only this).
//! - [`role`]: the five StageOS roles.
//! - [`config`]: the environment snapshot and the configuration error.
//! - [`event`]: the run as a stream of events, for live outputs.

pub mod config;
pub mod error;
pub mod event;
pub mod exit;
pub mod flowdef;
pub mod outcome;
pub mod role;

pub use exit::ExitStatus;
pub use outcome::{RunReport, StepOutcome, StepResult};
