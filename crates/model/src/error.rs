//! The step error model: a check that did not hold ([`CheckFailure`], the target is
//! wrong: JUnit `<failure>`, exit 1) kept apart in the type system from a check that
//! could not be carried out ([`ExecError`]: transport, timeout, undecodable body,
//! missing setting: JUnit `<error>`, exit 3). Everything that judges a response
//! uses these types and nothing of the HTTP client, so it sits at the bottom.

use thiserror::Error;

/// Why a request could not be checked.
#[derive(Debug, Error, Clone)]
pub enum ExecError {
    /// No response: connection refused, DNS failure, TLS failure, reset.
    #[error("failed to reach {method} {url}: {cause} (hint: {hint})")]
    Transport {
        /// Method.
        method: String,
        /// URL without query.
        url: String,
        /// Classified cause.
        cause: String,
        /// What to check.
        hint: String,
    },
    /// The request did not complete in time.
    #[error(
        "{method} {url} did not answer within {after_ms} ms (hint: the target is hanging or overloaded; raise request_timeout_ms only if that is expected)"
    )]
    Timeout {
        /// Method.
        method: String,
        /// URL without query.
        url: String,
        /// The limit.
        after_ms: u128,
    },
    /// The body exceeded the configured limit.
    #[error(
        "{method} {url} sent a body larger than {limit} bytes (hint: raise max_body_bytes if that is expected)"
    )]
    BodyTooLarge {
        /// Method.
        method: String,
        /// URL without query.
        url: String,
        /// The limit.
        limit: usize,
    },
    /// The target answered 429 (or 503 with `Retry-After`) and the suite could not
    /// wait it out within the step's deadline, or the request was not safe to
    /// repeat. The target's rate limit is not a defect of the deployment: could not
    /// check, never a failed check.
    #[error(
        "the target throttled the suite: {status}, {retry_after} on {method} {path}; {why} (hint: the target's rate limit, not a defect: run the suite less often from this address, or raise step_timeout_ms)"
    )]
    Throttled {
        /// Method.
        method: String,
        /// Path without query.
        path: String,
        /// 429 or 503.
        status: u16,
        /// `Retry-After 37 s`, or `no Retry-After`.
        retry_after: String,
        /// Why the suite did not (or no longer) wait.
        why: String,
    },
    /// The body could not be read as what the contract promises.
    #[error(transparent)]
    Decode(Box<DecodeError>),
    /// Anything else that stops a check (e.g. a missing credential).
    #[error("{0}")]
    Other(String),
}

/// A response body that is not what the contract promises (boxed in
/// [`ExecError`] to keep results small).
#[derive(Debug, Error, Clone)]
#[error(
    "{method} {path} answered {status} with {content_type} that is not the expected {expected}: {detail}; body starts: {excerpt:?}"
)]
pub struct DecodeError {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Status.
    pub status: u16,
    /// Content-Type received.
    pub content_type: String,
    /// What was expected.
    pub expected: String,
    /// Parser message.
    pub detail: String,
    /// Start of the body.
    pub excerpt: String,
}

/// A check that did not hold, with what was expected and what came back.
#[derive(Debug, Error, Clone, PartialEq)]
#[error("{what}: expected {expected}, got {actual}")]
pub struct CheckFailure {
    /// What was checked.
    pub what: String,
    /// What the contract requires.
    pub expected: String,
    /// What the target did.
    pub actual: String,
}

/// The error of a step: the target is wrong, or we could not check.
#[derive(Debug, Error, Clone)]
pub enum StepError {
    /// The check failed.
    #[error(transparent)]
    Check(#[from] CheckFailure),
    /// The check could not be carried out.
    #[error(transparent)]
    Exec(#[from] ExecError),
}

/// Fail the check unless `cond` holds.
pub fn ensure(
    cond: bool,
    what: impl Into<String>,
    expected: impl Into<String>,
    actual: impl Into<String>,
) -> Result<(), StepError> {
    if cond {
        Ok(())
    } else {
        Err(CheckFailure {
            what: what.into(),
            expected: expected.into(),
            actual: actual.into(),
        }
        .into())
    }
}

/// Fail the check unless `expected == actual`.
pub fn ensure_eq<T: PartialEq + std::fmt::Debug>(
    what: impl Into<String>,
    expected: T,
    actual: T,
) -> Result<(), StepError> {
    let ok = expected == actual;
    ensure(ok, what, format!("{expected:?}"), format!("{actual:?}"))
}
