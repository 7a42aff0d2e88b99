//! Reference StageOS server with fault injection.
//!
//! The smoke suite needs a target it can run against anywhere (CI, a laptop)
//! that behaves like StageOS — real JWTs, real TOTP, refresh rotation with
//! reuse detection, lockouts, Prometheus metrics — and that can be broken on
//! purpose, one [`Fault`] at a time, so every check is proven to fail when
//! the behaviour it guards is broken, and can differ from its own defaults in
//! ways the contract allows, one [`Variation`] at a time, so every check is
//! proven to stay green on any conforming target. State is in memory; nothing persists.
//!
//! This file only declares modules and re-exports the public API.

pub mod app;
pub mod audit;
pub mod auth;
pub mod aws_backup;
pub mod cloudwatch;
pub mod credentials;
pub mod error;
pub mod events;
pub mod extract;
pub mod faults;
pub mod files;
pub mod http;
pub mod invoices;
pub mod jwt;
pub mod metrics;
pub mod ops;
pub mod pdf;
pub mod planted;
pub mod plugins;
pub mod privacy;
pub mod server;
pub mod services;
pub mod setlists;
pub mod smoke;
pub mod state;
pub mod totp;
pub mod users;
pub mod variations;
pub(crate) mod vary;
pub mod webhooks;
pub mod workers;

pub use app::{AppState, app};
pub use audit::AuditEntry;
pub use credentials::{Credentials, Role, SeedUser};
pub use faults::Fault;
pub use server::{AlbMetrics, RunningServer, ServerOptions};
pub use variations::Variation;

/// Current unix time in seconds.
pub(crate) fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
