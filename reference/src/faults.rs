//! Injectable faults.
//!
//! The reference server exists so the smoke suite can prove, check by check,
//! that each check *fails* when the behaviour it guards is broken. Every fault
//! here breaks exactly one behaviour of the contract and has a stable
//! kebab-case name, so it can be switched on from the command line
//! (`--fault refresh-not-rotated`) or at runtime through
//! [`crate::RunningServer::set_faults`].

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, RwLock};

/// One deliberate defect of the reference server.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// `POST /api/auth/refresh` hands back the same refresh token.
    RefreshNotRotated,
    /// An already rotated refresh token still works and nothing is revoked.
    RefreshReuseAccepted,
    /// The refresh cookie lacks `HttpOnly`.
    RefreshCookieNoHttpOnly,
    /// The refresh cookie lacks `Secure`.
    RefreshCookieNoSecure,
    /// Any MFA code is accepted.
    TotpNotChecked,
    /// `POST /api/auth/logout` answers 204 but revokes nothing.
    LogoutNotRevoking,
    /// `GET /api/me` reports another role than the token's user has.
    MeWrongRole,
    /// `GET /api/health` reports `degraded` with a degraded database check.
    HealthDegraded,
    /// Adds `ms` milliseconds to requests whose matched route is `route`
    /// (`*` matches every route).
    Latency {
        /// Route template as axum matched it, e.g. `/api/me`, or `*`.
        route: String,
        /// Added delay in milliseconds.
        ms: u64,
    },
}

const UNIT_FAULTS: [(&str, Fault); 8] = [
    ("refresh-not-rotated", Fault::RefreshNotRotated),
    ("refresh-reuse-accepted", Fault::RefreshReuseAccepted),
    ("refresh-cookie-no-httponly", Fault::RefreshCookieNoHttpOnly),
    ("refresh-cookie-no-secure", Fault::RefreshCookieNoSecure),
    ("totp-not-checked", Fault::TotpNotChecked),
    ("logout-not-revoking", Fault::LogoutNotRevoking),
    ("me-wrong-role", Fault::MeWrongRole),
    ("health-degraded", Fault::HealthDegraded),
];

impl Fault {
    /// One instance of every kind of fault (latency as `latency:/api/me:300`).
    pub fn catalogue() -> Vec<Fault> {
        let mut all: Vec<Fault> = UNIT_FAULTS.iter().map(|(_, f)| f.clone()).collect();
        all.push(Fault::Latency {
            route: "/api/me".to_owned(),
            ms: 300,
        });
        all
    }

    /// What the fault breaks, in one sentence.
    pub fn describe(&self) -> &'static str {
        match self {
            Fault::RefreshNotRotated => {
                "refresh returns the same refresh token instead of rotating it"
            }
            Fault::RefreshReuseAccepted => {
                "a rotated refresh token still works and its family is not revoked"
            }
            Fault::RefreshCookieNoHttpOnly => "the refresh cookie is set without HttpOnly",
            Fault::RefreshCookieNoSecure => "the refresh cookie is set without Secure",
            Fault::TotpNotChecked => "any MFA code is accepted",
            Fault::LogoutNotRevoking => "logout answers 204 but leaves the refresh family valid",
            Fault::MeWrongRole => "/api/me reports a different role than the token's user has",
            Fault::HealthDegraded => "health reports degraded with a degraded database check",
            Fault::Latency { .. } => "adds a fixed delay to requests of one route (or all: *)",
        }
    }

    fn kind_name(&self) -> &'static str {
        match self {
            Fault::Latency { .. } => "latency",
            other => UNIT_FAULTS
                .iter()
                .find(|(_, f)| f == other)
                .map(|(name, _)| *name)
                .unwrap_or("unknown"),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` so width/alignment flags work (`{fault:<28}`).
        match self {
            Fault::Latency { route, ms } => f.pad(&format!("latency:{route}:{ms}")),
            other => f.pad(other.kind_name()),
        }
    }
}

/// A fault name that is not in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault `{given}`; valid faults: {valid}")]
pub struct ParseFaultError {
    given: String,
    valid: String,
}

impl FromStr for Fault {
    type Err = ParseFaultError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some((_, fault)) = UNIT_FAULTS.iter().find(|(name, _)| *name == s) {
            return Ok(fault.clone());
        }
        if let Some(rest) = s.strip_prefix("latency:")
            && let Some((route, ms)) = rest.rsplit_once(':')
            && !route.is_empty()
            && let Ok(ms) = ms.parse::<u64>()
        {
            return Ok(Fault::Latency {
                route: route.to_owned(),
                ms,
            });
        }
        let mut valid: Vec<&str> = UNIT_FAULTS.iter().map(|(name, _)| *name).collect();
        valid.push("latency:<route>:<ms>");
        Err(ParseFaultError {
            given: s.to_owned(),
            valid: valid.join(", "),
        })
    }
}

/// The active faults, shared between the server and whoever holds its handle.
#[derive(Clone, Debug, Default)]
pub struct FaultSet {
    inner: Arc<RwLock<Vec<Fault>>>,
}

impl FaultSet {
    /// A set holding `faults`.
    pub fn new(faults: Vec<Fault>) -> Self {
        Self {
            inner: Arc::new(RwLock::new(faults)),
        }
    }

    /// Replaces the active faults.
    pub fn set(&self, faults: Vec<Fault>) {
        let mut guard = self.inner.write().unwrap_or_else(|e| e.into_inner());
        *guard = faults;
    }

    /// The active faults.
    pub fn get(&self) -> Vec<Fault> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether `fault` is active (exact match).
    pub fn has(&self, fault: &Fault) -> bool {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(fault)
    }

    /// The total delay the latency faults add to `route`.
    pub fn latency_for(&self, route: &str) -> u64 {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|f| match f {
                Fault::Latency { route: r, ms } if r == "*" || r == route => Some(*ms),
                _ => None,
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for fault in Fault::catalogue() {
            let name = fault.to_string();
            assert_eq!(name.parse::<Fault>(), Ok(fault.clone()), "{name}");
            assert!(!fault.describe().is_empty());
        }
        assert_eq!(Fault::catalogue().len(), 9);
    }

    #[test]
    fn latency_parses_route_with_colons_and_star() {
        assert_eq!(
            "latency:*:50".parse::<Fault>(),
            Ok(Fault::Latency {
                route: "*".into(),
                ms: 50
            })
        );
        assert_eq!(
            "latency:/api/events/{id}:7".parse::<Fault>(),
            Ok(Fault::Latency {
                route: "/api/events/{id}".into(),
                ms: 7
            })
        );
    }

    #[test]
    fn unknown_name_lists_valid_ones() {
        let err = "nope".parse::<Fault>().err().map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.contains("refresh-not-rotated"), "{err}");
        assert!(err.contains("latency:<route>:<ms>"), "{err}");
        assert!("latency:/api/me:x".parse::<Fault>().is_err());
    }

    #[test]
    fn latency_sums_matching_faults() {
        let set = FaultSet::new(vec![
            Fault::Latency {
                route: "*".into(),
                ms: 10,
            },
            Fault::Latency {
                route: "/api/me".into(),
                ms: 5,
            },
        ]);
        assert_eq!(set.latency_for("/api/me"), 15);
        assert_eq!(set.latency_for("/api/health"), 10);
    }
}
