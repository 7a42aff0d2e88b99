//! stageos-smoke: the StageOS release checklist as executable gates.
//!
//! One runner, three ways in: the libtest-mimic harness (`cargo test --test smoke`),
//! the `stageos-smoke` CLI (post-deploy CI stage) and the canary. All of them go
//! through [`runner::run`], which emits the run as events and returns one plain
//! [`outcome::RunReport`]; the reporters in [`report`] consume them.
//!
//! This crate is the top of the workspace (docs/architecture.md): the CLI, the
//! canary, `doctor` and the live progress line. The modules below are re-exported
//! from the crates beneath it under the paths the suite has always had.

pub mod canary;
pub mod cli;
pub mod debug_log;
pub mod doctor;
pub mod progress;

pub use stageos_smoke_checks::{
    catalogue, config, embedded_cloud, flow, flows, interrupt, runner, selection, sweep, target,
};
pub use stageos_smoke_emulator as emulator;
pub use stageos_smoke_http::{credentials, http, secrets, throttle, wait, webhook_receiver};
pub use stageos_smoke_model::{event, exit, flowdef, outcome};
pub use stageos_smoke_report as report;
pub use stageos_smoke_report::checklist;

/// The verification gates: judging in `stageos-smoke-gates`, the AWS-backed ones in
/// `stageos-smoke-aws`.
pub mod gates {
    pub use stageos_smoke_aws::{aws, cloudwatch, seed};
    pub use stageos_smoke_gates::*;
}

pub use exit::ExitStatus;
pub use outcome::{RunReport, StepOutcome, StepResult};
