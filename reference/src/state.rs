//! The shared server handle, generic over the store it guards.
//!
//! The reference server needs real behaviour (sessions, rotation, lockouts,
//! audit) but no durability, so everything lives in one store guarded by one
//! `Mutex`; handlers lock it briefly and never across an `.await`. Faults,
//! variations and metrics sit beside the store so tests can flip and read them through the
//! same handle the router holds.
//!
//! This module sits *below* the domains: it does not know what the store
//! holds. Each domain owns its part of the store and declares, as a `Host`
//! trait, what it needs of the whole; [`crate::app`](mod@crate::app) composes the parts into
//! one concrete store and names the result [`crate::AppState`].

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use time::OffsetDateTime;

use crate::credentials::{Credentials, CredentialsError};
use crate::faults::{Fault, FaultSet};
use crate::metrics::Metrics;
use crate::variations::{Variation, VariationSet};

/// Configuration that cannot start a server.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Bad seed credentials.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
}

#[derive(Debug)]
struct Inner<S> {
    store: Mutex<S>,
    faults: FaultSet,
    variations: VariationSet,
    metrics: Metrics,
    jwt_key: [u8; 32],
    credentials: Credentials,
    version: String,
    commit: String,
    started_at: OffsetDateTime,
}

/// Cheaply cloneable handle to the server state: the store `S` behind one
/// mutex, plus faults, metrics, the JWT key and the seeded credentials.
pub struct Shared<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Shared<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Shared<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<S> Shared<S> {
    /// Wraps `store` with the given faults and credentials and a fresh random
    /// JWT key.
    pub(crate) fn with_store(
        store: S,
        faults: Vec<Fault>,
        variations: Vec<Variation>,
        credentials: Credentials,
        version: String,
        commit: String,
    ) -> Self {
        let mut jwt_key = [0u8; 32];
        rand::fill(&mut jwt_key);
        Self {
            inner: Arc::new(Inner {
                store: Mutex::new(store),
                faults: FaultSet::new(faults),
                variations: VariationSet::new(variations),
                metrics: Metrics::new(),
                jwt_key,
                credentials,
                version,
                commit,
                started_at: OffsetDateTime::now_utc(),
            }),
        }
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, S> {
        self.inner.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The seeded credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.inner.credentials
    }

    /// The runtime-switchable faults.
    pub fn faults(&self) -> &FaultSet {
        &self.inner.faults
    }

    /// The runtime-switchable conformance variations.
    pub fn variations(&self) -> &VariationSet {
        &self.inner.variations
    }

    /// Whether `variation` is active.
    pub fn has_variation(&self, variation: Variation) -> bool {
        self.inner.variations.has(variation)
    }

    /// The clock's offset from real time (the `clock:` condition and the clock
    /// variations), in ms.
    pub fn clock_offset_ms(&self) -> i64 {
        self.inner.faults.clock_offset_ms() + self.inner.variations.clock_offset_ms()
    }

    /// This server's idea of now: real time plus the clock offset.
    /// Used where a client can observe the clock (Date header, signed-URL expiry).
    pub fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc() + time::Duration::milliseconds(self.clock_offset_ms())
    }

    /// How PDFs are rendered: the reference's own rendering, or the one the active
    /// PDF variations choose (each counted as taking effect).
    pub fn pdf_rendering(&self) -> crate::pdf::Rendering {
        use crate::pdf::{DurationStyle, Layout, MoneyStyle};
        let mut r = crate::pdf::Rendering::default();
        let v = &self.inner.variations;
        let pick = |variation: Variation| {
            let on = v.has(variation);
            if on {
                v.hit(variation);
            }
            on
        };
        for (variation, layout) in [
            (Variation::PdfJustified, Layout::Justified),
            (Variation::PdfWords, Layout::Words),
        ] {
            if pick(variation) {
                r.layout = layout;
            }
        }
        for (variation, money) in [
            (Variation::MoneySymbolFirst, MoneyStyle::SymbolFirst),
            (Variation::MoneyGerman, MoneyStyle::German),
            (Variation::MoneyFrench, MoneyStyle::French),
            (Variation::MoneySwiss, MoneyStyle::Swiss),
            (Variation::MoneyCodeFirst, MoneyStyle::CodeFirst),
        ] {
            if pick(variation) {
                r.money = money;
            }
        }
        for (variation, duration) in [
            (Variation::DurationSeconds, DurationStyle::Seconds),
            (Variation::DurationUnits, DurationStyle::Units),
            (Variation::DurationIso8601, DurationStyle::Iso8601),
        ] {
            if pick(variation) {
                r.duration = duration;
            }
        }
        r
    }

    /// Whether `fault` is active.
    pub fn has_fault(&self, fault: &Fault) -> bool {
        self.inner.faults.has(fault)
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub(crate) fn jwt_key(&self) -> &[u8] {
        &self.inner.jwt_key
    }

    /// Version reported by `/api/health`.
    pub fn version(&self) -> &str {
        &self.inner.version
    }

    /// Commit reported by `/api/health`.
    pub fn commit(&self) -> &str {
        &self.inner.commit
    }

    /// Start time.
    pub fn started_at(&self) -> OffsetDateTime {
        self.inner.started_at
    }
}
