//! Auth routes: login, MFA, TOTP enrolment, refresh rotation, logout, `/api/me`.
//!
//! Sessions follow the usual refresh-token-family design: login starts a
//! family, each refresh rotates the token inside it, presenting a rotated
//! token again is treated as theft and revokes the whole family (and the
//! access tokens of that session, whose `sid` claim names it). Refresh
//! tokens are opaque and stored by SHA-256 digest only. Faults from
//! [`crate::Fault`] are consulted exactly where the behaviour they break lives.
//!
//! The auth domain owns the sessions ([`SessionStore`]: refresh tokens,
//! revoked families, MFA challenges, login failures); it reads the user
//! records of [`crate::users`], which sits below it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::header::{CACHE_CONTROL, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, extract::State};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::credentials::Role;
use crate::error::{ApiError, ApiJson};
use crate::extract::{
    AuthUser, ClientIp, REFRESH_COOKIE, bearer_token, refresh_cookie, verify_access_token,
};
use crate::faults::Fault;
use crate::jwt::{self, ACCESS_TTL_SECS, Claims};
use crate::state::Shared;
use crate::unix_now;
use crate::users::{self, UserRecord};

/// Failed logins and MFA codes per (account, client IP) in the window before 429
/// (the contract's limit).
pub const EMAIL_FAILURE_LIMIT: usize = 5;
/// Failed logins and MFA codes per client IP in the window before every login
/// from that address answers 429 — the correct ones too, as many deployments do. Higher than per account so one locked-out account does not
/// lock out a whole office; a smoke run's deliberate failures count here.
pub const IP_FAILURE_LIMIT: usize = 20;
/// The failure-counting window.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Refresh-token lifetime.
pub const REFRESH_TTL_SECS: i64 = 14 * 24 * 3600;
/// MFA challenge lifetime.
pub const MFA_TTL_SECS: i64 = 300;
/// Wrong codes allowed per MFA challenge before it is dropped.
const MFA_MAX_FAILURES: u32 = 5;
/// Recovery codes handed out by `totp/enable`.
pub const RECOVERY_CODE_COUNT: usize = 10;

/// SHA-256 hex of an opaque token; the store never keeps tokens in clear.
pub(crate) fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
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

/// Sessions and the login rate limiter.
#[derive(Debug, Default)]
pub struct SessionStore {
    pub(crate) refresh_tokens: HashMap<String, RefreshRecord>,
    pub(crate) revoked_families: HashSet<Uuid>,
    pub(crate) mfa_challenges: HashMap<String, MfaChallenge>,
    pub(crate) login_failures: HashMap<String, VecDeque<Instant>>,
    /// Every failed login or MFA code since start, by account email (lowercase):
    /// what tests read to prove the suite spares the configured accounts.
    pub(crate) failures_by_account: HashMap<String, u64>,
}

impl SessionStore {
    /// Revokes a refresh-token family (and with it the access tokens of that session).
    pub fn revoke_family(&mut self, family: Uuid) {
        self.revoked_families.insert(family);
    }

    /// Whether the session `family` was revoked.
    pub fn is_revoked(&self, family: &Uuid) -> bool {
        self.revoked_families.contains(family)
    }

    /// Revokes every refresh family and pending MFA challenge of `user_id`.
    pub fn end_sessions(&mut self, user_id: Uuid) {
        let families: Vec<Uuid> = self
            .refresh_tokens
            .values()
            .filter(|r| r.user_id == user_id)
            .map(|r| r.family)
            .collect();
        for family in families {
            self.revoke_family(family);
        }
        self.mfa_challenges.retain(|_, c| c.user_id != user_id);
    }
}

/// What the auth domain needs of the store: the sessions, beside the users.
pub trait Host: users::Host {
    /// The sessions.
    fn sessions(&self) -> &SessionStore;
    /// The sessions, to change.
    fn sessions_mut(&mut self) -> &mut SessionStore;
}

/// The auth routes.
pub fn routes<S: Host>() -> Router<Shared<S>> {
    Router::new()
        .route("/api/auth/login", post(login::<S>))
        .route("/api/auth/mfa/verify", post(mfa_verify::<S>))
        .route("/api/auth/totp/setup", post(totp_setup::<S>))
        .route("/api/auth/totp/enable", post(totp_enable::<S>))
        .route("/api/auth/totp/disable", post(totp_disable::<S>))
        .route("/api/auth/refresh", post(refresh::<S>))
        .route("/api/auth/logout", post(logout::<S>))
        .route("/api/me", get(me::<S>))
}

/// `{id, email, role}`.
#[derive(Clone, Debug, Serialize)]
pub struct UserView {
    /// Id.
    pub id: Uuid,
    /// Email.
    pub email: String,
    /// Role.
    pub role: Role,
}

#[derive(Serialize)]
struct TokenBody {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    user: UserView,
}

#[derive(Deserialize)]
struct LoginBody {
    email: String,
    password: String,
}

#[derive(Deserialize)]
struct MfaVerifyBody {
    mfa_token: String,
    code: Option<String>,
    recovery_code: Option<String>,
}

#[derive(Deserialize)]
struct CodeBody {
    code: String,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn err(status: StatusCode, code: &'static str, message: &str) -> ApiError {
    ApiError::new(status, code, message)
}

fn invalid_mfa_code() -> ApiError {
    err(
        StatusCode::UNAUTHORIZED,
        "invalid_mfa_code",
        "the MFA code is wrong",
    )
}

fn invalid_refresh() -> ApiError {
    err(
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
        "missing, unknown, expired or revoked refresh token",
    )
}

// ---------- rate limiting ----------

fn prune(failures: &mut VecDeque<Instant>, now: Instant) {
    while failures
        .front()
        .is_some_and(|t| now.duration_since(*t) >= FAILURE_WINDOW)
    {
        failures.pop_front();
    }
}

/// Seconds until the caller may try again, if any key is over its limit.
fn retry_after(store: &mut SessionStore, keys: &[(String, usize)], now: Instant) -> Option<u64> {
    keys.iter()
        .filter_map(|(key, limit)| {
            let failures = store.login_failures.get_mut(key)?;
            prune(failures, now);
            if failures.len() < *limit {
                return None;
            }
            let oldest = failures.front()?;
            let left = FAILURE_WINDOW.saturating_sub(now.duration_since(*oldest));
            Some(left.as_secs_f64().ceil().max(1.0) as u64)
        })
        .max()
}

/// The rate-limit keys of an attempt on `email` from `ip`: the contract's
/// (account, address) pair and the reference's per-address limit.
fn limit_keys(email: &str, ip: &str) -> [(String, usize); 2] {
    [
        (format!("email:{email}|ip:{ip}"), EMAIL_FAILURE_LIMIT),
        (format!("ip:{ip}"), IP_FAILURE_LIMIT),
    ]
}

fn record_failure(store: &mut SessionStore, email: &str, keys: &[(String, usize)], now: Instant) {
    *store
        .failures_by_account
        .entry(email.to_owned())
        .or_default() += 1;
    for (key, _) in keys {
        store
            .login_failures
            .entry(key.clone())
            .or_default()
            .push_back(now);
    }
}

// ---------- sessions ----------

fn user_view(user: &UserRecord) -> UserView {
    UserView {
        id: user.id,
        email: user.email.clone(),
        role: user.role,
    }
}

fn access_token<S>(state: &Shared<S>, user: &UserRecord, family: Uuid) -> Result<String, ApiError> {
    let now = unix_now();
    let claims = Claims {
        sub: user.id,
        role: user.role,
        exp: now + ACCESS_TTL_SECS,
        iat: now,
        jti: Uuid::new_v4(),
        sid: family,
    };
    jwt::encode(state.jwt_key(), &claims).map_err(|e| ApiError::internal(e.to_string()))
}

fn new_refresh_token(store: &mut SessionStore, user_id: Uuid, family: Uuid) -> String {
    let token = random_token();
    store.refresh_tokens.insert(
        token_digest(&token),
        RefreshRecord {
            user_id,
            family,
            expires_at: unix_now() + REFRESH_TTL_SECS,
            status: RefreshStatus::Active,
        },
    );
    token
}

fn refresh_cookie_header<S>(state: &Shared<S>, value: &str, max_age: i64) -> Option<HeaderValue> {
    let mut cookie = format!("{REFRESH_COOKIE}={value}");
    if !state.has_fault(&Fault::RefreshCookieNoHttpOnly) {
        cookie.push_str("; HttpOnly");
    }
    if !state.has_fault(&Fault::RefreshCookieNoSecure) {
        cookie.push_str("; Secure");
    }
    cookie.push_str(&format!(
        "; SameSite=Strict; Path=/api/auth; Max-Age={max_age}"
    ));
    HeaderValue::from_str(&cookie).ok()
}

fn tokens_response<S>(
    state: &Shared<S>,
    user: &UserRecord,
    family: Uuid,
    refresh: &str,
) -> Result<Response, ApiError> {
    let body = TokenBody {
        access_token: access_token(state, user, family)?,
        token_type: "Bearer",
        expires_in: ACCESS_TTL_SECS,
        user: user_view(user),
    };
    let cookie = refresh_cookie_header(state, refresh, REFRESH_TTL_SECS)
        .ok_or_else(|| ApiError::internal("failed to build the refresh cookie"))?;
    let mut response = Json(body).into_response();
    response.headers_mut().insert(SET_COOKIE, cookie);
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Starts a new session (refresh family) for `user`.
fn start_session(store: &mut SessionStore, user: &UserRecord) -> (Uuid, String) {
    let family = Uuid::new_v4();
    let refresh = new_refresh_token(store, user.id, family);
    (family, refresh)
}

// ---------- handlers ----------

async fn login<S: Host>(
    State(state): State<Shared<S>>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    let now = Instant::now();
    let email = body.email.trim().to_ascii_lowercase();
    let keys = limit_keys(&email, &ip);
    let mut store = state.store();
    if let Some(secs) = retry_after(store.sessions_mut(), &keys, now) {
        state.metrics().auth_failure("rate_limited");
        store.audit(
            "auth.login_blocked",
            None,
            Some(format!("email:{email}")),
            &ip,
        );
        return Err(ApiError::rate_limited(secs));
    }
    let user = store
        .users()
        .user_by_email(&email)
        .filter(|u| u.password_matches(&body.password))
        .cloned()
        .or_else(|| {
            // Fault: an erased account still passes the password check.
            state
                .has_fault(&Fault::DeletedUserCanLogin)
                .then(|| {
                    store.users().erased_users.values().find(|u| {
                        u.email.eq_ignore_ascii_case(&email) && u.password_matches(&body.password)
                    })
                })
                .flatten()
                .cloned()
        });
    let Some(user) = user else {
        record_failure(store.sessions_mut(), &email, &keys, now);
        state.metrics().auth_failure("invalid_credentials");
        store.audit(
            "auth.login_failed",
            None,
            Some(format!("email:{email}")),
            &ip,
        );
        return Err(err(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "email or password is wrong",
        ));
    };
    // No reset on success: the contract counts failures in the window whatever
    // succeeded in between.
    if user.totp_secret.is_some() {
        let mfa_token = random_token();
        store.sessions_mut().mfa_challenges.insert(
            token_digest(&mfa_token),
            MfaChallenge {
                user_id: user.id,
                expires_at: unix_now() + MFA_TTL_SECS,
                failures: 0,
            },
        );
        return Ok(Json(json!({"mfa_required": true, "mfa_token": mfa_token})).into_response());
    }
    let (family, refresh) = start_session(store.sessions_mut(), &user);
    if !state.has_fault(&Fault::AuditMissingLogin) {
        store.audit(
            "auth.login",
            Some(user.id),
            Some(format!("user:{}", user.id)),
            &ip,
        );
    }
    drop(store);
    tokens_response(&state, &user, family, &refresh)
}

fn normalise_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn generate_recovery_codes() -> Vec<String> {
    // Lowercase base32 (RFC 4648), as the contract's `RecoveryCode` pattern says.
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut rng = rand::rng();
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let mut code: String = (0..10)
                .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                .collect();
            code.insert(5, '-');
            code
        })
        .collect()
}

async fn mfa_verify<S: Host>(
    State(state): State<Shared<S>>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<MfaVerifyBody>,
) -> Result<Response, ApiError> {
    let mut store = state.store();
    let digest = token_digest(&body.mfa_token);
    let now = unix_now();
    let challenge = store
        .sessions()
        .mfa_challenges
        .get(&digest)
        .filter(|c| c.expires_at > now)
        .cloned();
    let Some(challenge) = challenge else {
        state.metrics().auth_failure("invalid_mfa_token");
        return Err(err(
            StatusCode::UNAUTHORIZED,
            "invalid_mfa_token",
            "the MFA token is unknown or expired; log in again",
        ));
    };
    let Some(user) = store.users().users.get(&challenge.user_id).cloned() else {
        store.sessions_mut().mfa_challenges.remove(&digest);
        return Err(ApiError::unauthorized());
    };
    // A wrong code counts against the login limits of the account and the
    // address (the next login answers 429); the challenge itself is dropped after
    // MFA_MAX_FAILURES wrong codes.
    let email = user.email.to_ascii_lowercase();
    let keys = limit_keys(&email, &ip);
    let started = Instant::now();
    let accepted = if state.has_fault(&Fault::TotpNotChecked) {
        true
    } else if let Some(code) = body.code.as_deref() {
        let old_accepted = state.has_fault(&Fault::OldTotpAccepted);
        user.totp_secret.as_deref().is_some_and(|secret| {
            crate::totp::check(secret, code, now as u64)
                // Fault: codes from 2 to 10 steps ago pass too.
                || (old_accepted
                    && (2..=10u64).any(|k| {
                        crate::totp::check(secret, code, (now as u64).saturating_sub(30 * k))
                    }))
        })
    } else if let Some(recovery) = body.recovery_code.as_deref() {
        let wanted = token_digest(&normalise_recovery_code(recovery));
        match store.users_mut().users.get_mut(&user.id) {
            // Fault: the code stays valid after use.
            Some(record) if state.has_fault(&Fault::RecoveryCodeReusable) => {
                record.recovery_codes.contains(&wanted)
            }
            Some(record) => {
                let before = record.recovery_codes.len();
                record.recovery_codes.retain(|c| *c != wanted);
                record.recovery_codes.len() < before
            }
            None => false,
        }
    } else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "send either code or recovery_code",
        ));
    };
    if !accepted {
        let challenges = &mut store.sessions_mut().mfa_challenges;
        if let Some(c) = challenges.get_mut(&digest) {
            c.failures += 1;
            if c.failures >= MFA_MAX_FAILURES {
                challenges.remove(&digest);
            }
        }
        record_failure(store.sessions_mut(), &email, &keys, started);
        state.metrics().auth_failure("invalid_mfa_code");
        store.audit(
            "auth.mfa_failed",
            Some(user.id),
            Some(format!("user:{}", user.id)),
            &ip,
        );
        return Err(invalid_mfa_code());
    }
    store.sessions_mut().mfa_challenges.remove(&digest);
    let (family, refresh) = start_session(store.sessions_mut(), &user);
    if !state.has_fault(&Fault::AuditMissingLogin) {
        store.audit(
            "auth.login",
            Some(user.id),
            Some(format!("user:{}", user.id)),
            &ip,
        );
    }
    drop(store);
    tokens_response(&state, &user, family, &refresh)
}

fn code_ok<S>(state: &Shared<S>, secret: &[u8], code: &str) -> bool {
    state.has_fault(&Fault::TotpNotChecked) || crate::totp::check(secret, code, unix_now() as u64)
}

async fn totp_setup<S: Host>(
    State(state): State<Shared<S>>,
    auth: AuthUser,
) -> Result<Response, ApiError> {
    let mut store = state.store();
    let user = store
        .users_mut()
        .users
        .get_mut(&auth.id)
        .ok_or_else(ApiError::unauthorized)?;
    if user.totp_secret.is_some() {
        return Err(err(
            StatusCode::CONFLICT,
            "totp_already_enabled",
            "TOTP is already enabled; disable it first",
        ));
    }
    let secret = crate::totp::generate_secret();
    let bytes = crate::totp::decode_secret(&secret)
        .ok_or_else(|| ApiError::internal("failed to generate a TOTP secret"))?;
    let url = crate::totp::otpauth_url(&bytes, &user.email)
        .ok_or_else(|| ApiError::internal("failed to build the otpauth URL"))?;
    user.pending_totp_secret = Some(bytes);
    Ok(Json(json!({"secret": secret, "otpauth_url": url})).into_response())
}

async fn totp_enable<S: Host>(
    State(state): State<Shared<S>>,
    ClientIp(ip): ClientIp,
    auth: AuthUser,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<Response, ApiError> {
    let mut store = state.store();
    let user = store
        .users_mut()
        .users
        .get_mut(&auth.id)
        .ok_or_else(ApiError::unauthorized)?;
    let Some(pending) = user.pending_totp_secret.clone() else {
        return Err(err(
            StatusCode::CONFLICT,
            "totp_setup_required",
            "call /api/auth/totp/setup first",
        ));
    };
    if !code_ok(&state, &pending, &body.code) {
        state.metrics().auth_failure("invalid_mfa_code");
        store.audit(
            "auth.mfa_failed",
            Some(auth.id),
            Some(format!("user:{}", auth.id)),
            &ip,
        );
        return Err(invalid_mfa_code());
    }
    let codes = generate_recovery_codes();
    user.totp_secret = Some(pending);
    user.pending_totp_secret = None;
    user.recovery_codes = codes
        .iter()
        .map(|c| token_digest(&normalise_recovery_code(c)))
        .collect();
    store.audit(
        "auth.totp_enabled",
        Some(auth.id),
        Some(format!("user:{}", auth.id)),
        &ip,
    );
    Ok(Json(json!({"recovery_codes": codes})).into_response())
}

async fn totp_disable<S: Host>(
    State(state): State<Shared<S>>,
    ClientIp(ip): ClientIp,
    auth: AuthUser,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<StatusCode, ApiError> {
    let mut store = state.store();
    let user = store
        .users_mut()
        .users
        .get_mut(&auth.id)
        .ok_or_else(ApiError::unauthorized)?;
    let Some(secret) = user.totp_secret.clone() else {
        return Err(err(
            StatusCode::CONFLICT,
            "totp_not_enabled",
            "TOTP is not enabled",
        ));
    };
    if !code_ok(&state, &secret, &body.code) {
        state.metrics().auth_failure("invalid_mfa_code");
        store.audit(
            "auth.mfa_failed",
            Some(auth.id),
            Some(format!("user:{}", auth.id)),
            &ip,
        );
        return Err(invalid_mfa_code());
    }
    user.totp_secret = None;
    user.recovery_codes.clear();
    store.audit(
        "auth.totp_disabled",
        Some(auth.id),
        Some(format!("user:{}", auth.id)),
        &ip,
    );
    Ok(StatusCode::NO_CONTENT)
}

async fn refresh<S: Host>(
    State(state): State<Shared<S>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(token) = refresh_cookie(&headers) else {
        state.metrics().auth_failure("invalid_refresh_token");
        return Err(invalid_refresh());
    };
    let digest = token_digest(&token);
    let mut store = state.store();
    let sessions = store.sessions();
    let record = sessions
        .refresh_tokens
        .get(&digest)
        .filter(|r| r.expires_at > unix_now())
        .filter(|r| !sessions.revoked_families.contains(&r.family))
        .cloned();
    let Some(record) = record else {
        state.metrics().auth_failure("invalid_refresh_token");
        return Err(invalid_refresh());
    };
    if record.status == RefreshStatus::Rotated && !state.has_fault(&Fault::RefreshReuseAccepted) {
        store.sessions_mut().revoke_family(record.family);
        state.metrics().auth_failure("refresh_token_reused");
        store.audit(
            "auth.refresh_reused",
            Some(record.user_id),
            Some(format!("session:{}", record.family)),
            &ip,
        );
        return Err(err(
            StatusCode::UNAUTHORIZED,
            "refresh_token_reused",
            "this refresh token was already used; the session is revoked",
        ));
    }
    let Some(user) = store.users().users.get(&record.user_id).cloned() else {
        return Err(invalid_refresh());
    };
    let next = if state.has_fault(&Fault::RefreshNotRotated) {
        token
    } else {
        if let Some(old) = store.sessions_mut().refresh_tokens.get_mut(&digest) {
            old.status = RefreshStatus::Rotated;
        }
        new_refresh_token(store.sessions_mut(), user.id, record.family)
    };
    store.audit(
        "auth.refresh",
        Some(user.id),
        Some(format!("session:{}", record.family)),
        &ip,
    );
    drop(store);
    tokens_response(&state, &user, record.family, &next)
}

async fn logout<S: Host>(
    State(state): State<Shared<S>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let bearer = bearer_token(&headers).and_then(|t| verify_access_token(&state, t).ok());
    let mut store = state.store();
    let cookie_record = refresh_cookie(&headers).and_then(|t| {
        store
            .sessions()
            .refresh_tokens
            .get(&token_digest(&t))
            .cloned()
    });
    let families: Vec<(Uuid, Uuid)> = bearer
        .iter()
        .map(|c| (c.sub, c.sid))
        .chain(cookie_record.iter().map(|r| (r.user_id, r.family)))
        .collect();
    if families.is_empty() {
        return Err(ApiError::unauthorized());
    }
    if !state.has_fault(&Fault::LogoutNotRevoking) {
        for (_, family) in &families {
            store.sessions_mut().revoke_family(*family);
        }
    }
    for (user, family) in &families {
        store.audit(
            "auth.logout",
            Some(*user),
            Some(format!("session:{family}")),
            &ip,
        );
    }
    drop(store);
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Some(cookie) = refresh_cookie_header(&state, "", 0) {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    Ok(response)
}

/// The role `/api/me` reports under the `me-wrong-role` fault.
fn wrong_role(role: Role) -> Role {
    match role {
        Role::Owner => Role::Member,
        _ => Role::Owner,
    }
}

async fn me<S: Host>(State(state): State<Shared<S>>, auth: AuthUser) -> Json<UserView> {
    let role = if state.has_fault(&Fault::MeWrongRole) {
        wrong_role(auth.role)
    } else {
        auth.role
    };
    Json(UserView {
        id: auth.id,
        email: auth.email,
        role,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_distinct_and_normalise() {
        let codes = generate_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODE_COUNT);
        assert_eq!(normalise_recovery_code(" ABCDE-fghij "), "abcdefghij");
    }

    #[test]
    fn rate_limit_window() {
        let mut store = SessionStore::default();
        let keys = [("email:x".to_owned(), 2)];
        let t0 = Instant::now();
        assert_eq!(retry_after(&mut store, &keys, t0), None);
        record_failure(&mut store, "x", &keys, t0);
        record_failure(&mut store, "x", &keys, t0);
        assert_eq!(retry_after(&mut store, &keys, t0), Some(60));
        assert_eq!(store.failures_by_account.get("x"), Some(&2));
        let later = t0 + Duration::from_secs(59);
        assert_eq!(retry_after(&mut store, &keys, later), Some(1));
        assert_eq!(retry_after(&mut store, &keys, t0 + FAILURE_WINDOW), None);
    }

    #[test]
    fn the_address_limit_counts_every_account_and_the_account_limit_one_address() {
        let mut store = SessionStore::default();
        let t0 = Instant::now();
        // Twenty failures spread over many accounts from one address close it to all.
        for i in 0..IP_FAILURE_LIMIT {
            let email = format!("user{i}@x");
            record_failure(&mut store, &email, &limit_keys(&email, "10.0.0.1"), t0);
        }
        assert!(retry_after(&mut store, &limit_keys("fresh@x", "10.0.0.1"), t0).is_some());
        assert_eq!(
            retry_after(&mut store, &limit_keys("fresh@x", "10.0.0.2"), t0),
            None
        );
        // Five on one account from one address lock that pair only.
        let mut store = SessionStore::default();
        for _ in 0..EMAIL_FAILURE_LIMIT {
            record_failure(&mut store, "a@x", &limit_keys("a@x", "10.0.0.1"), t0);
        }
        assert!(retry_after(&mut store, &limit_keys("a@x", "10.0.0.1"), t0).is_some());
        assert_eq!(
            retry_after(&mut store, &limit_keys("a@x", "10.0.0.2"), t0),
            None
        );
        assert_eq!(
            retry_after(&mut store, &limit_keys("b@x", "10.0.0.1"), t0),
            None
        );
    }

    #[test]
    fn wrong_role_always_differs() {
        for role in Role::ALL {
            assert_ne!(wrong_role(role), role);
        }
    }
}
