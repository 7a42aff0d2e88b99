//! Organisation user management (Owner only): list, create, remove.
//!
//! The suite creates disposable users here (tagged `smoke`) for checks that
//! would otherwise change a real account: the TOTP lifecycle and the privacy
//! export/erasure. Removing a user revokes every session of theirs at once.
//!
//! The users domain owns the user records ([`UserStore`]: live and erased
//! accounts, password hashes, TOTP secrets). Sessions belong to `auth`, which
//! sits above; a removal reaches them through [`Host::user_removed`].

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit;
use crate::credentials::{Credentials, Role};
use crate::error::ApiError;
use crate::extract::{AuthUser, ClientIp, Sessions};
use crate::http;
use crate::state::Shared;

/// Shortest password `POST /api/users` accepts.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password `POST /api/users` accepts.
pub const MAX_PASSWORD_CHARS: usize = 128;

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
        password_digest(&self.password_salt, password)
            .ct_eq(&self.password_hash)
            .into()
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

/// The organisation's users.
#[derive(Debug, Default)]
pub struct UserStore {
    /// Live users by id.
    pub users: HashMap<Uuid, UserRecord>,
    /// Accounts erased with `DELETE /api/me`, kept until the retention purge.
    pub erased_users: HashMap<Uuid, UserRecord>,
}

impl UserStore {
    /// One user per seed (the owner with the seeded TOTP secret).
    pub fn seeded(credentials: &Credentials) -> Self {
        let mut store = Self::default();
        for seed in &credentials.users {
            let mut user = UserRecord::new(seed.id, &seed.email, seed.role, &seed.password);
            if seed.role == Role::Owner {
                user.totp_secret = crate::totp::decode_secret(&credentials.owner_totp_secret);
            }
            store.users.insert(user.id, user);
        }
        store
    }

    /// The live user with `email` (case-insensitive, trimmed).
    pub fn user_by_email(&self, email: &str) -> Option<&UserRecord> {
        let email = email.trim();
        self.users
            .values()
            .find(|u| u.email.eq_ignore_ascii_case(email))
    }

    /// Whether removing `user_id` would leave the organisation without an owner.
    pub fn is_last_owner(&self, user_id: Uuid) -> bool {
        let is_owner = self
            .users
            .get(&user_id)
            .is_some_and(|u| u.role == Role::Owner);
        is_owner
            && self
                .users
                .values()
                .filter(|u| u.role == Role::Owner)
                .count()
                <= 1
    }
}

/// What the users domain needs of the store.
pub trait Host: audit::Host + Sessions {
    /// The user records.
    fn users(&self) -> &UserStore;
    /// The user records, to change.
    fn users_mut(&mut self) -> &mut UserStore;
    /// Ends every session of `user_id`, who was just removed or erased.
    fn user_removed(&mut self, user_id: Uuid);
}

/// The user routes.
pub fn routes<S: Host>() -> Router<Shared<S>> {
    Router::new()
        .route("/api/users", get(list_users::<S>).post(create_user::<S>))
        .route("/api/users/{id}", delete(delete_user::<S>))
}

/// A user as `GET /api/users` shows it (schema `User`).
#[derive(Clone, Debug, Serialize)]
pub struct UserView {
    /// Id.
    pub id: Uuid,
    /// Email.
    pub email: String,
    /// Role.
    pub role: Role,
    /// Tags.
    pub tags: Vec<String>,
    /// Smoke run that created the user.
    pub smoke_run_id: Option<String>,
    /// Whether TOTP is enabled.
    pub mfa_enabled: bool,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<&UserRecord> for UserView {
    fn from(u: &UserRecord) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            role: u.role,
            tags: u.tags.clone(),
            smoke_run_id: u.smoke_run_id.clone(),
            mfa_enabled: u.totp_secret.is_some(),
            created_at: u.created_at,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserCreate {
    email: String,
    role: Role,
    password: String,
    tags: Option<Vec<String>>,
    smoke_run_id: Option<String>,
}

fn plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace())
        && email.len() <= 254
}

async fn list_users<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<UserView>>, ApiError> {
    http::require_role(&user, &[Role::Owner])?;
    let tag = http::tag_filter(q.get("tag"))?;
    let store = state.store();
    let mut users: Vec<UserView> = store
        .users()
        .users
        .values()
        .filter(|u| tag.as_ref().is_none_or(|t| u.tags.contains(t)))
        .map(UserView::from)
        .collect();
    users.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(Json(users))
}

async fn create_user<S: Host>(
    State(state): State<Shared<S>>,
    ClientIp(ip): ClientIp,
    user: AuthUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    http::require_role(&user, &[Role::Owner])?;
    let input: UserCreate = http::parse_body(&headers, &body)?;
    let (tags, smoke_run_id) = http::tagging(&headers, input.tags, input.smoke_run_id)?;
    let email = input.email.trim().to_owned();
    if !plausible_email(&email) {
        return Err(http::invalid("email", "must be an email address"));
    }
    let chars = input.password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(http::invalid(
            "password",
            &format!("must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    let mut store = state.store();
    let taken = store.users().user_by_email(&email).is_some()
        || store
            .users()
            .erased_users
            .values()
            .any(|u| u.email.eq_ignore_ascii_case(&email));
    if taken {
        return Err(http::conflict(
            "email_taken",
            "a user with this email exists",
        ));
    }
    let mut record = UserRecord::new(Uuid::new_v4(), &email, input.role, &input.password);
    record.tags = tags;
    record.smoke_run_id = smoke_run_id;
    let view = UserView::from(&record);
    store.users_mut().users.insert(record.id, record);
    store.audit(
        "user.created",
        Some(user.id),
        Some(format!("user:{}", view.id)),
        &ip,
    );
    let location = format!("/api/users/{}", view.id);
    Ok((StatusCode::CREATED, [(LOCATION, location)], Json(view)).into_response())
}

async fn delete_user<S: Host>(
    State(state): State<Shared<S>>,
    ClientIp(ip): ClientIp,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    http::require_role(&user, &[Role::Owner])?;
    let id = http::parse_id(&id, "user")?;
    let mut store = state.store();
    if !store.users().users.contains_key(&id) {
        return Err(http::not_found("user"));
    }
    if store.users().is_last_owner(id) {
        return Err(http::conflict(
            "last_owner",
            "the organisation's last owner cannot be removed",
        ));
    }
    store.users_mut().users.remove(&id);
    store.user_removed(id);
    store.audit(
        "user.deleted",
        Some(user.id),
        Some(format!("user:{id}")),
        &ip,
    );
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_plausibility() {
        assert!(plausible_email("smoke+x@stageos.test"));
        assert!(!plausible_email("nope"));
        assert!(!plausible_email("a@b"));
        assert!(!plausible_email("a b@c.de"));
    }
}
