//! Organisation user management (Owner only): list, create, remove.
//!
//! The suite creates disposable users here (tagged `smoke`) for checks that
//! would otherwise change a real account: the TOTP lifecycle and the privacy
//! export/erasure. Removing a user revokes every session of theirs at once.

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
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api;
use crate::credentials::Role;
use crate::error::ApiError;
use crate::extract::{AuthUser, ClientIp};
use crate::state::{AppState, Store, UserRecord};

/// Shortest password `POST /api/users` accepts.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password `POST /api/users` accepts.
pub const MAX_PASSWORD_CHARS: usize = 128;

/// The user routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/users", get(list_users).post(create_user))
        .route("/api/users/{id}", delete(delete_user))
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

async fn list_users(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<UserView>>, ApiError> {
    api::require_role(&user, &[Role::Owner])?;
    let tag = api::tag_filter(q.get("tag"))?;
    let store = state.store();
    let mut users: Vec<UserView> = store
        .users
        .values()
        .filter(|u| tag.as_ref().is_none_or(|t| u.tags.contains(t)))
        .map(UserView::from)
        .collect();
    users.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(Json(users))
}

async fn create_user(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    user: AuthUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    api::require_role(&user, &[Role::Owner])?;
    let input: UserCreate = api::parse_body(&headers, &body)?;
    let (tags, smoke_run_id) = api::tagging(&headers, input.tags, input.smoke_run_id)?;
    let email = input.email.trim().to_owned();
    if !plausible_email(&email) {
        return Err(api::invalid("email", "must be an email address"));
    }
    let chars = input.password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(api::invalid(
            "password",
            &format!("must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    let mut store = state.store();
    let taken = store.user_by_email(&email).is_some()
        || store
            .erased_users
            .values()
            .any(|u| u.email.eq_ignore_ascii_case(&email));
    if taken {
        return Err(api::conflict(
            "email_taken",
            "a user with this email exists",
        ));
    }
    let mut record = UserRecord::new(Uuid::new_v4(), &email, input.role, &input.password);
    record.tags = tags;
    record.smoke_run_id = smoke_run_id;
    let view = UserView::from(&record);
    store.users.insert(record.id, record);
    store.audit(
        "user.created",
        Some(user.id),
        Some(format!("user:{}", view.id)),
        &ip,
    );
    let location = format!("/api/users/{}", view.id);
    Ok((StatusCode::CREATED, [(LOCATION, location)], Json(view)).into_response())
}

/// Revokes every refresh family and pending MFA challenge of `user_id`.
pub(crate) fn end_sessions(store: &mut Store, user_id: Uuid) {
    let families: Vec<Uuid> = store
        .refresh_tokens
        .values()
        .filter(|r| r.user_id == user_id)
        .map(|r| r.family)
        .collect();
    for family in families {
        store.revoke_family(family);
    }
    store.mfa_challenges.retain(|_, c| c.user_id != user_id);
}

/// Whether removing `user_id` would leave the organisation without an owner.
pub(crate) fn is_last_owner(store: &Store, user_id: Uuid) -> bool {
    let is_owner = store
        .users
        .get(&user_id)
        .is_some_and(|u| u.role == Role::Owner);
    is_owner
        && store
            .users
            .values()
            .filter(|u| u.role == Role::Owner)
            .count()
            <= 1
}

async fn delete_user(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    api::require_role(&user, &[Role::Owner])?;
    let id = api::parse_id(&id, "user")?;
    let mut store = state.store();
    if !store.users.contains_key(&id) {
        return Err(api::not_found("user"));
    }
    if is_last_owner(&store, id) {
        return Err(api::conflict(
            "last_owner",
            "the organisation's last owner cannot be removed",
        ));
    }
    store.users.remove(&id);
    end_sessions(&mut store, id);
    store.audit(
        "user.deleted",
        Some(user.id),
        Some(format!("user:{id}")),
        &ip,
    );
    Ok(StatusCode::NO_CONTENT)
}

impl crate::server::RunningServer {
    /// `user:<email>` of every live user tagged `smoke` or carrying a smoke run id
    /// (disposable users the suite failed to remove), sorted.
    pub fn smoke_users(&self) -> Vec<String> {
        let store = self.state().store();
        let mut out: Vec<String> = store
            .users
            .values()
            .filter(|u| api::is_smoke(&u.tags, &u.smoke_run_id))
            .map(|u| format!("user:{}", u.email))
            .collect();
        out.sort();
        out
    }

    /// Installed plugin keys, sorted.
    pub fn installed_plugins(&self) -> Vec<String> {
        let mut out: Vec<String> = self.state().store().plugins.keys().cloned().collect();
        out.sort();
        out
    }
    /// Install `key` as the user with `role`, out of band (tests: what an
    /// interrupted run, or a person, left behind). Returns the user's id.
    pub fn install_plugin_as(&self, key: &str, role: crate::Role) -> Option<uuid::Uuid> {
        let mut store = self.state().store();
        let by = store.users.values().find(|u| u.role == role)?.id;
        store.plugins.insert(
            key.to_owned(),
            crate::plugins::PluginRecord {
                key: key.to_owned(),
                installed_at: time::OffsetDateTime::now_utc(),
                installed_by: by,
                config: None,
            },
        );
        Some(by)
    }
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
