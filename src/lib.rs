//! stageos-smoke: the StageOS release checklist as executable gates.
//!
//! One runner, three ways in: the libtest-mimic harness (`cargo test --test smoke`),
//! the `stageos-smoke` CLI (post-deploy CI stage) and, later, the canary. All of them
//! go through [`runner::run`], which produces one plain [`outcome::RunReport`]; the
//! reporters in [`report`] consume that report and nothing else.

pub mod canary;
pub mod catalogue;
pub mod checklist;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod doctor;
pub mod exit;
pub mod flow;
pub mod flows;
pub mod gates;
pub mod http;
pub mod interrupt;
pub mod outcome;
pub mod progress;
pub mod report;
pub mod runner;
pub mod secrets;
pub mod selection;
pub mod sweep;
pub mod target;
pub mod wait;
pub mod webhook_receiver;

pub use exit::ExitStatus;
pub use outcome::{RunReport, StepOutcome, StepResult};
