//! When the target throttles the suite: a 429, or a 503 with `Retry-After`
//! (RFC 9110 §10.2.3, RFC 6585 §4), says "not now", not "broken". A step that does
//! not test throttling waits for the `Retry-After` (delta-seconds or an HTTP-date)
//! and sends again — when the request is safe to repeat and the wait ends inside
//! the step's deadline. Otherwise the step could not be checked:
//! [`ExecError::Throttled`] (`<error>`, exit 3), never a failed check, because a
//! rate limit a run every minute from one address meets is not a defect a release
//! should be rolled back for.
//!
//! Safe to repeat: the idempotent methods (RFC 9110 §9.2.2: GET, HEAD, OPTIONS,
//! PUT, DELETE), a POST that carries an `Idempotency-Key`, and the password login
//! (at most one more session; a refused login changed nothing). Never a PATCH, a
//! refresh (a repeated refresh token reads as theft) or an MFA verify (it spends
//! the challenge and the code).

use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{DATE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};

use stageos_smoke_model::error::ExecError;

/// The login route: a POST that is safe to repeat.
pub const LOGIN_PATH: &str = "/api/auth/login";

/// Room left after a wait for the repeated exchange itself.
pub const REPEAT_MARGIN: Duration = Duration::from_millis(500);

/// How many times one request waits for the target's rate limit at most.
pub const MAX_WAITS: u32 = 10;

/// A 429 without `Retry-After` is tried again after this long.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(1);

/// A throttling answer: its status and how long the target asked to wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttle {
    /// 429 or 503.
    pub status: u16,
    /// The `Retry-After`, if the target sent a readable one.
    pub retry_after: Option<Duration>,
}

impl Throttle {
    /// The answer throttles the suite: any 429, or a 503 with a readable
    /// `Retry-After` (a 503 without one is an outage, not a rate limit).
    pub fn of(status: StatusCode, headers: &HeaderMap, now: SystemTime) -> Option<Throttle> {
        let retry_after = retry_after(headers, now);
        match status.as_u16() {
            429 => Some(Throttle {
                status: 429,
                retry_after,
            }),
            503 if retry_after.is_some() => Some(Throttle {
                status: 503,
                retry_after,
            }),
            _ => None,
        }
    }

    /// How long to wait before the next attempt.
    pub fn wait(&self) -> Duration {
        self.retry_after.unwrap_or(DEFAULT_WAIT)
    }

    /// `Retry-After 37 s` (rounded up), or `no Retry-After`.
    pub fn describe_retry_after(&self) -> String {
        match self.retry_after {
            Some(d) => format!("Retry-After {} s", secs_ceil(d)),
            None => "no Retry-After".to_owned(),
        }
    }

    /// Whether to wait `self.wait()` and repeat, at `now`, for a step whose
    /// deadline is `deadline`; `Err(why)` when not.
    pub fn decide(
        &self,
        safe_to_repeat: bool,
        waits_so_far: u32,
        now: Instant,
        deadline: Option<Instant>,
    ) -> Result<Duration, String> {
        if !safe_to_repeat {
            return Err("the request is not safe to repeat".to_owned());
        }
        if waits_so_far >= MAX_WAITS {
            return Err(format!("still throttled after {MAX_WAITS} waits"));
        }
        let Some(deadline) = deadline else {
            return Err("outside a step, there is no deadline to wait within".to_owned());
        };
        let wait = self.wait();
        let left = deadline.saturating_duration_since(now);
        if wait + REPEAT_MARGIN <= left {
            Ok(wait)
        } else {
            Err(format!(
                "longer than the {} s left of the step's deadline",
                secs_ceil(left.saturating_sub(REPEAT_MARGIN))
            ))
        }
    }

    /// The step's error once the suite does not wait (any more).
    pub fn error(&self, method: &str, path: &str, why: String) -> ExecError {
        ExecError::Throttled {
            method: method.to_owned(),
            path: path.to_owned(),
            status: self.status,
            retry_after: self.describe_retry_after(),
            why,
        }
    }
}

fn secs_ceil(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// `Retry-After` (RFC 9110 §10.2.3): delta-seconds, or an HTTP-date — measured
/// from the answer's own `Date` when it has one, so a target whose clock is off
/// from ours is still waited for as long as it asked.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let from = headers
        .get(DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v.trim()).ok())
        .unwrap_or(now);
    Some(at.duration_since(from).unwrap_or(Duration::ZERO))
}

/// Whether a request may be sent again without changing more than once what it
/// changes (see the module docs).
pub fn safe_to_repeat(method: &Method, path: &str, headers: &HeaderMap) -> bool {
    match *method {
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE => true,
        Method::POST => headers.contains_key("idempotency-key") || path.ends_with(LOGIN_PATH),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Wed, 02 Dec 2026 16:00:00 GMT").unwrap();
        assert_eq!(
            retry_after(&headers(&[("retry-after", " 37 ")]), now),
            Some(Duration::from_secs(37))
        );
        // An HTTP-date, judged by the answer's Date (the target's clock 90 s ahead).
        let h = headers(&[
            ("retry-after", "Wed, 02 Dec 2026 16:02:00 GMT"),
            ("date", "Wed, 02 Dec 2026 16:01:30 GMT"),
        ]);
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        // Without Date, by our clock; a date in the past is "now".
        let h = headers(&[("retry-after", "Wed, 02 Dec 2026 16:00:12 GMT")]);
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(12)));
        let h = headers(&[("retry-after", "Wed, 02 Dec 2026 15:00:00 GMT")]);
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&headers(&[]), now), None);
    }

    #[test]
    fn only_429_and_503_with_retry_after_throttle() {
        let now = SystemTime::now();
        let ra = headers(&[("retry-after", "5")]);
        let s = |n| StatusCode::from_u16(n).unwrap();
        assert_eq!(Throttle::of(s(429), &ra, now).map(|t| t.status), Some(429));
        assert_eq!(
            Throttle::of(s(429), &headers(&[]), now).map(|t| t.wait()),
            Some(DEFAULT_WAIT)
        );
        assert_eq!(Throttle::of(s(503), &ra, now).map(|t| t.status), Some(503));
        assert_eq!(Throttle::of(s(503), &headers(&[]), now), None);
        assert_eq!(Throttle::of(s(500), &ra, now), None);
        assert_eq!(Throttle::of(s(200), &ra, now), None);
    }

    #[test]
    fn waits_only_within_the_deadline_and_for_requests_safe_to_repeat() {
        let t = Throttle {
            status: 429,
            retry_after: Some(Duration::from_secs(2)),
        };
        let now = Instant::now();
        let far = Some(now + Duration::from_secs(10));
        assert_eq!(t.decide(true, 0, now, far), Ok(Duration::from_secs(2)));
        let near = Some(now + Duration::from_secs(2));
        let why = t.decide(true, 0, now, near).unwrap_err();
        assert!(why.contains("left of the step's deadline"), "{why}");
        assert!(t.decide(false, 0, now, far).is_err());
        assert!(t.decide(true, MAX_WAITS, now, far).is_err());
        assert!(t.decide(true, 0, now, None).is_err());
    }

    #[test]
    fn the_error_names_status_and_retry_after() {
        let t = Throttle {
            status: 429,
            retry_after: Some(Duration::from_millis(36_200)),
        };
        let e = t.error("POST", "/api/auth/login", "longer than the 9 s left".into());
        assert!(
            e.to_string()
                .starts_with("the target throttled the suite: 429, Retry-After 37 s on POST /api/auth/login; longer than the 9 s left"),
            "{e}"
        );
    }

    #[test]
    fn which_requests_are_safe_to_repeat() {
        let none = HeaderMap::new();
        assert!(safe_to_repeat(&Method::GET, "/api/events", &none));
        assert!(safe_to_repeat(&Method::PUT, "/api/x", &none));
        assert!(safe_to_repeat(&Method::DELETE, "/api/events/1", &none));
        assert!(safe_to_repeat(&Method::POST, LOGIN_PATH, &none));
        assert!(!safe_to_repeat(&Method::POST, "/api/invoices", &none));
        assert!(!safe_to_repeat(&Method::POST, "/api/auth/refresh", &none));
        assert!(!safe_to_repeat(
            &Method::POST,
            "/api/auth/mfa/verify",
            &none
        ));
        assert!(!safe_to_repeat(&Method::PATCH, "/api/events/1", &none));
        let keyed = headers(&[("idempotency-key", "k-1")]);
        assert!(safe_to_repeat(&Method::POST, "/api/invoices", &keyed));
    }
}
