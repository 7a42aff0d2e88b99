//! `GET /api/audit-logs` (Owner only): the audit log, newest first, filtered
//! by actor, action and time.
//!
//! The store keeps each entry's target as `"<type>:<id>"`; the API shows it as
//! the contract's `{type, id}` object.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api;
use crate::credentials::Role;
use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::state::{AppState, AuditEntry};

/// Entries returned when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest `limit`.
pub const MAX_LIMIT: usize = 1000;

/// The audit route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/audit-logs", get(list))
}

/// `"invoice:5f…"` → `{"type": "invoice", "id": "5f…"}`.
fn target_view(target: Option<&str>) -> Value {
    match target.and_then(|t| t.split_once(':')) {
        Some((kind, id)) => json!({"type": kind, "id": id}),
        None => Value::Null,
    }
}

fn view(entry: &AuditEntry) -> Value {
    json!({
        "id": entry.id,
        "at": api::fmt_time(entry.at),
        "actor_id": entry.actor_id,
        "action": entry.action,
        "target": target_view(entry.target.as_deref()),
        "ip": entry.ip,
    })
}

fn is_action(s: &str) -> bool {
    s.split_once('.').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && s.bytes()
                .all(|c| c.is_ascii_lowercase() || c == b'_' || c == b'.')
    })
}

async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Value>>, ApiError> {
    api::require_role(&user, &[Role::Owner])?;
    let actor = match q.get("actor_id") {
        None => None,
        Some(raw) => {
            Some(Uuid::parse_str(raw).map_err(|_| api::invalid("actor_id", "must be a UUID"))?)
        }
    };
    let action = match q.get("action") {
        None => None,
        Some(a) if is_action(a) => Some(a.clone()),
        Some(_) => return Err(api::invalid("action", "must be an audit action")),
    };
    let since = q
        .get("since")
        .map(|raw| api::parse_time("since", raw))
        .transpose()?;
    let limit = match q.get("limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(api::invalid(
                    "limit",
                    &format!("must be an integer from 1 to {MAX_LIMIT}"),
                ));
            }
        },
    };
    let store = state.store();
    let entries = store
        .audit
        .iter()
        .rev()
        .filter(|e| actor.is_none_or(|a| e.actor_id == Some(a)))
        .filter(|e| action.as_ref().is_none_or(|a| e.action == *a))
        .filter(|e| since.is_none_or(|s| e.at >= s))
        .take(limit)
        .map(view)
        .collect();
    Ok(Json(entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_become_objects() {
        assert_eq!(
            target_view(Some("plugin:google-calendar")),
            json!({"type": "plugin", "id": "google-calendar"})
        );
        assert_eq!(target_view(None), Value::Null);
        assert!(is_action("invoice.pdf_rendered"));
        assert!(!is_action("Invoice"));
        assert!(!is_action("x."));
    }
}
