//! Verification gates: numbers from the deployment, thresholds from the profile,
//! a verdict that shows both.
//!
//! - [`health`]: `/api/health` status, dependency checks, migrations, release.
//! - [`prom`]: Prometheus `/metrics` gates over two scrapes.
//! - [`cloudwatch`]: the ALB series and alarms in CloudWatch.
//! - [`aws`]: ECR, Secrets Manager, RDS, AWS Backup and S3 for the release gates.
//! - [`release`]: release tag, rollout order, heartbeats; the release gates' settings.
//! - [`stats`]: the statistics (pure functions, documented there).
//! - [`history`]: the suite's own step latency against its history file.
//! - [`settings`]: thresholds per profile, deployment facts per environment.
//! - [`verdict`]: pass / warn / fail / inconclusive and how each is reported.
//!
//! The flows that run these gates are `health`, `metrics`, `baseline` and `release`
//! in [`crate::flows`]; the canary in [`crate::canary`].

pub mod aws;
pub mod cloudwatch;
pub mod health;
pub mod history;
pub mod prom;
pub mod release;
pub mod settings;
pub mod stats;
pub mod verdict;

pub use settings::{GateSettings, Thresholds};
pub use verdict::{OnInconclusive, Verdict};
