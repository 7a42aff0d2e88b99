//! Shared server state: an in-memory store behind one mutex.
//!
//! The reference server needs real behaviour (sessions, rotation, lockouts,
//! audit) but no durability, so everything lives in one [`Store`] guarded by
//! a `Mutex`; handlers lock it briefly and never across an `.await`. Faults
//! and metrics sit beside the store so tests can flip and read them through
//! the same [`AppState`] handle the router holds.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::credentials::{Credentials, CredentialsError, Role};
use crate::faults::{Fault, FaultSet};
use crate::metrics::Metrics;
use crate::server::ServerOptions;

/// A user of the organisation.
#[derive(Clone, Debug)]
pub struct UserRecord {
    /// Id.
    pub id: Uuid,
    /// Email (compared case-insensitively).
    pub email: String,
    /// Role.
    pub role: Role,
    pub(crate) password_salt: [u8; 16],
    pub(crate) password_hash: [u8; 32],
    /// Active TOTP secret (raw bytes) when MFA is enabled.
    pub(crate) totp_secret: Option<Vec<u8>>,
    /// Secret from `totp/setup`, waiting for `totp/enable`.
    pub(crate) pending_totp_secret: Option<Vec<u8>>,
    /// SHA-256 hex of unused recovery codes.
    pub(crate) recovery_codes: Vec<String>,
    /// Tags (`smoke` on users the suite creates).
    pub tags: Vec<String>,
    /// Smoke run that created the user.
    pub smoke_run_id: Option<String>,
    /// When the user was created.
    pub created_at: OffsetDateTime,
}

impl UserRecord {
    pub(crate) fn new(id: Uuid, email: &str, role: Role, password: &str) -> Self {
        let mut salt = [0u8; 16];
        rand::fill(&mut salt);
        Self {
            id,
            email: email.to_owned(),
            role,
            password_salt: salt,
            password_hash: password_digest(&salt, password),
            totp_secret: None,
            pending_totp_secret: None,
            recovery_codes: Vec::new(),
            tags: Vec::new(),
            smoke_run_id: None,
            created_at: OffsetDateTime::now_utc(),
        }
    }

    /// Constant-time password check.
    pub(crate) fn password_matches(&self, password: &str) -> bool {
        ct_eq(
            &password_digest(&self.password_salt, password),
            &self.password_hash,
        )
    }
}

/// Salted SHA-256. Not a password KDF: the reference server holds throwaway
/// random passwords in memory only; production StageOS uses a real KDF.
fn password_digest(salt: &[u8], password: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(password.as_bytes());
    hasher.finalize().into()
}

/// SHA-256 hex of an opaque token; the store never keeps tokens in clear.
pub(crate) fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// State of one refresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RefreshStatus {
    /// May be exchanged once.
    Active,
    /// Already exchanged; presenting it again is reuse.
    Rotated,
}

/// A refresh token (stored by digest).
#[derive(Clone, Debug)]
pub(crate) struct RefreshRecord {
    pub user_id: Uuid,
    pub family: Uuid,
    pub expires_at: i64,
    pub status: RefreshStatus,
}

/// A pending second factor after a correct password.
#[derive(Clone, Debug)]
pub(crate) struct MfaChallenge {
    pub user_id: Uuid,
    pub expires_at: i64,
    pub failures: u32,
}

/// One audit-log entry, as `GET /api/audit-logs` will return it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AuditEntry {
    /// Entry id.
    pub id: Uuid,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Acting user, if known.
    pub actor_id: Option<Uuid>,
    /// Action, e.g. `auth.login`.
    pub action: String,
    /// Affected entity, e.g. `user:<id>`.
    pub target: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
}

/// Everything the handlers mutate.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub users: HashMap<Uuid, UserRecord>,
    pub refresh_tokens: HashMap<String, RefreshRecord>,
    pub revoked_families: HashSet<Uuid>,
    pub mfa_challenges: HashMap<String, MfaChallenge>,
    pub login_failures: HashMap<String, VecDeque<Instant>>,
    pub audit: Vec<AuditEntry>,
    /// Installed plugins by key.
    pub plugins: HashMap<String, crate::plugins::PluginRecord>,
    /// Accounts erased with `DELETE /api/me`, kept until the retention purge.
    pub erased_users: HashMap<Uuid, UserRecord>,
    pub events: crate::events::EventStore,
    pub setlists: crate::setlists::SetlistStore,
    pub invoices: crate::invoices::InvoiceStore,
    pub files: crate::files::FileStore,
    pub webhooks: crate::webhooks::WebhookStore,
    pub workers: crate::workers::WorkerState,
}

impl Store {
    pub fn user_by_email(&self, email: &str) -> Option<&UserRecord> {
        let email = email.trim();
        self.users
            .values()
            .find(|u| u.email.eq_ignore_ascii_case(email))
    }

    pub fn audit(&mut self, action: &str, actor: Option<Uuid>, target: Option<String>, ip: &str) {
        self.audit.push(AuditEntry {
            id: Uuid::new_v4(),
            at: OffsetDateTime::now_utc(),
            actor_id: actor,
            action: action.to_owned(),
            target,
            ip: Some(ip.to_owned()),
        });
    }

    /// Revokes a refresh-token family (and with it the access tokens of that session).
    pub fn revoke_family(&mut self, family: Uuid) {
        self.revoked_families.insert(family);
    }
}

/// Configuration that cannot start a server.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Bad seed credentials.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
}

#[derive(Debug)]
struct Inner {
    store: Mutex<Store>,
    faults: FaultSet,
    metrics: Metrics,
    jwt_key: [u8; 32],
    credentials: Credentials,
    version: String,
    commit: String,
    started_at: OffsetDateTime,
}

/// Cheaply cloneable handle to the server state.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl AppState {
    /// Seeds the organisation from `opts` (generating credentials when none
    /// are given) with a fresh random JWT key.
    pub fn new(opts: &ServerOptions) -> Result<Self, StateError> {
        let credentials = opts
            .credentials
            .clone()
            .unwrap_or_else(Credentials::generate);
        credentials.validate()?;
        let mut store = Store::default();
        for seed in &credentials.users {
            let mut user = UserRecord::new(seed.id, &seed.email, seed.role, &seed.password);
            if seed.role == Role::Owner {
                user.totp_secret = crate::totp::decode_secret(&credentials.owner_totp_secret);
            }
            store.users.insert(user.id, user);
        }
        let mut jwt_key = [0u8; 32];
        rand::fill(&mut jwt_key);
        Ok(Self {
            inner: Arc::new(Inner {
                store: Mutex::new(store),
                faults: FaultSet::new(opts.faults.clone()),
                metrics: Metrics::new(),
                jwt_key,
                credentials,
                version: opts.version.clone(),
                commit: opts.commit.clone(),
                started_at: OffsetDateTime::now_utc(),
            }),
        })
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
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

    /// This server's idea of now: real time plus the `clock:` condition's offset.
    /// Used where a client can observe the clock (Date header, signed-URL expiry).
    pub fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc()
            + time::Duration::milliseconds(self.inner.faults.clock_offset_ms())
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

    /// A copy of the audit log, oldest first.
    pub fn audit_log(&self) -> Vec<AuditEntry> {
        self.store().audit.clone()
    }
}
