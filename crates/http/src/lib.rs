//! The HTTP client layer of stageos-smoke, above the model: one [`http::Session`]
//! per logged-in identity, the credentials it logs in with, the redactor every
//! output passes through, polling with a deadline, and the webhook receiver.
//!
//! - [`http`]: sessions, requests, responses, timing records.
//! - [`disposition`]: `Content-Disposition` by RFC 6266 / 8187.
//! - [`credentials`]: the configured logins and the Owner's TOTP seed.
//! - [`secrets`]: redaction of every secret the run has seen.
//! - [`throttle`]: a 429 / 503 with `Retry-After` waited out within the step's deadline.
//! - [`wait`]: poll until a condition holds or a deadline passes.
//! - [`webhook_receiver`]: a loopback receiver that verifies signed deliveries.

pub mod clock;
pub mod credentials;
pub mod disposition;
pub mod http;
pub mod secrets;
pub mod throttle;
pub mod wait;
pub mod webhook_receiver;
