//! Verification gates: numbers from the deployment, thresholds from the profile,
//! a verdict that shows both.
//!
//! - [`health`]: `/api/health` status, dependency checks, migrations, release.
//! - [`prom`]: Prometheus `/metrics` gates over two scrapes.
//! - `stageos_smoke_aws::cloudwatch` and `::aws`: the AWS-backed gates (a crate of
//!   their own, so the SDKs are not rebuilt when a gate's judging changes).
//! - [`release`]: release tag, rollout order, heartbeats; the release gates' settings.
//! - [`stats`]: the statistics (pure functions, documented there).
//! - [`history`]: the suite's own step latency against its history file.
//! - [`settings`]: thresholds per profile, deployment facts per environment.
//! - [`verdict`]: pass / warn / fail / inconclusive and how each is reported.
//!
//! The flows that run these gates are `health`, `metrics`, `baseline` and `release`
//! in `stageos_smoke_checks::flows`; the canary in the `stageos-smoke` binary crate.

pub mod health;
pub mod history;
pub mod prom;
pub mod release;
pub mod settings;
pub mod stats;
pub mod verdict;

pub use settings::{GateSettings, Thresholds};
pub use verdict::{OnInconclusive, Verdict};
