//! Plugins (Owner only): install and remove, each with an audit entry.
//!
//! The reference knows a small fixed catalogue; an unknown key is 404. Install
//! is idempotent (200 and no second audit entry when already installed).
//!
//! The plugins domain owns the installed plugins ([`PluginStore`]).

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit;
use crate::credentials::Role;
use crate::error::ApiError;
use crate::extract::{AuthUser, ClientIp, Sessions};
use crate::http;
use crate::state::Shared;

/// Plugin keys the reference server can install.
pub const CATALOGUE: &[&str] = &[
    "google-calendar",
    "slack",
    "dropbox",
    "quickbooks",
    "stripe",
];

/// An installed plugin (schema `Plugin`).
#[derive(Clone, Debug, Serialize)]
pub struct PluginRecord {
    /// Catalogue key.
    pub key: String,
    /// When installed.
    #[serde(with = "time::serde::rfc3339")]
    pub installed_at: OffsetDateTime,
    /// Who installed it.
    pub installed_by: Uuid,
    /// Plugin settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginInstall {
    config: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Installed plugins by key.
#[derive(Debug, Default)]
pub struct PluginStore {
    /// Installed plugins.
    pub plugins: HashMap<String, PluginRecord>,
}

/// What the plugins domain needs of the store.
pub trait Host: audit::Host + Sessions {
    /// The installed plugins.
    fn plugins(&self) -> &PluginStore;
    /// The installed plugins, to change.
    fn plugins_mut(&mut self) -> &mut PluginStore;
}

/// The plugin routes.
pub fn routes<S: Host>() -> Router<Shared<S>> {
    Router::new()
        .route("/api/plugins/{key}/install", post(install::<S>))
        .route("/api/plugins/{key}", delete(remove::<S>))
}

fn known_key(key: &str) -> Result<(), ApiError> {
    if CATALOGUE.contains(&key) {
        Ok(())
    } else {
        Err(http::not_found("plugin"))
    }
}

async fn install<S: Host>(
    State(state): State<Shared<S>>,
    ClientIp(ip): ClientIp,
    user: AuthUser,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    http::require_role(&user, &[Role::Owner])?;
    known_key(&key)?;
    let input = if body.iter().all(u8::is_ascii_whitespace) {
        PluginInstall { config: None }
    } else {
        http::parse_body::<PluginInstall>(&headers, &body)?
    };
    let mut store = state.store();
    if let Some(existing) = store.plugins().plugins.get(&key) {
        return Ok((StatusCode::OK, Json(existing.clone())).into_response());
    }
    let record = PluginRecord {
        key: key.clone(),
        installed_at: http::now(),
        installed_by: user.id,
        config: input.config,
    };
    store
        .plugins_mut()
        .plugins
        .insert(key.clone(), record.clone());
    store.audit(
        "plugin.installed",
        Some(user.id),
        Some(format!("plugin:{key}")),
        &ip,
    );
    Ok((StatusCode::CREATED, Json(record)).into_response())
}

async fn remove<S: Host>(
    State(state): State<Shared<S>>,
    ClientIp(ip): ClientIp,
    user: AuthUser,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    http::require_role(&user, &[Role::Owner])?;
    known_key(&key)?;
    let mut store = state.store();
    if store.plugins_mut().plugins.remove(&key).is_none() {
        return Err(http::not_found("plugin"));
    }
    store.audit(
        "plugin.removed",
        Some(user.id),
        Some(format!("plugin:{key}")),
        &ip,
    );
    Ok(StatusCode::NO_CONTENT)
}
