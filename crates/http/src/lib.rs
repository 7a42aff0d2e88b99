//! The HTTP client layer of stageos-smoke, above the model: one [`http::Session`]
//! per logged-in identity, the credentials it logs in with, the redactor every
//! output passes through, polling with a deadline, and the webhook receiver.
//!
//! - [`http`]: sessions, requests, responses, timing records.
//! - [`disposition`]: `Content-Disposition` by RFC 6266 / 8187.
//! - [`credentials`]: the configured logins and the Owner's TOTP seed.
//! - [`secrets`]: redaction of every secret the run has seen.
//! - [`wait`]: poll until a condition holds or a deadline passes.
//! - [`webhook_receiver`]: a loopback receiver that verifies signed deliveries.

pub mod credentials;
pub mod disposition;
pub mod http;
pub mod secrets;
pub mod wait;
pub mod webhook_receiver;
