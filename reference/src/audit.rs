//! `GET /api/audit-logs` (Owner only): the audit log, newest first, filtered
//! by actor, action and time.
//!
//! The store keeps each entry's target as `"<type>:<id>"`; the API shows it as
//! the contract's `{type, id}` object.
//!
//! The audit domain owns the log ([`AuditLog`]); every other domain writes to
//! it through [`Host::audit`], so it sits low in the stack and knows none of
//! them.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::credentials::Role;
use crate::error::ApiError;
use crate::extract::{AuthUser, Sessions};
use crate::http;
use crate::state::Shared;

/// Entries returned when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest `limit`.
pub const MAX_LIMIT: usize = 1000;

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

/// The audit log, oldest first.
#[derive(Debug, Default)]
pub struct AuditLog {
    /// Entries in the order they were written.
    pub entries: Vec<AuditEntry>,
}

/// What the audit domain needs of the store: its log.
pub trait Host: Send + Sync + 'static {
    /// The audit log.
    fn audit_log(&self) -> &AuditLog;
    /// The audit log, to append to.
    fn audit_log_mut(&mut self) -> &mut AuditLog;

    /// Appends an entry stamped now.
    fn audit(&mut self, action: &str, actor: Option<Uuid>, target: Option<String>, ip: &str) {
        self.audit_log_mut().entries.push(AuditEntry {
            id: Uuid::new_v4(),
            at: OffsetDateTime::now_utc(),
            actor_id: actor,
            action: action.to_owned(),
            target,
            ip: Some(ip.to_owned()),
        });
    }
}

impl<S: Host> Shared<S> {
    /// A copy of the audit log, oldest first.
    pub fn audit_log(&self) -> Vec<AuditEntry> {
        self.store().audit_log().entries.clone()
    }
}

/// The audit route.
pub fn routes<S: Host + Sessions>() -> Router<Shared<S>> {
    Router::new().route("/api/audit-logs", get(list::<S>))
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
        "at": http::fmt_time(entry.at),
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

async fn list<S: Host + Sessions>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Value>>, ApiError> {
    http::require_role(&user, &[Role::Owner])?;
    let actor = match q.get("actor_id") {
        None => None,
        Some(raw) => {
            Some(Uuid::parse_str(raw).map_err(|_| http::invalid("actor_id", "must be a UUID"))?)
        }
    };
    let action = match q.get("action") {
        None => None,
        Some(a) if is_action(a) => Some(a.clone()),
        Some(_) => return Err(http::invalid("action", "must be an audit action")),
    };
    let since = q
        .get("since")
        .map(|raw| http::parse_time("since", raw))
        .transpose()?;
    let limit = match q.get("limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(http::invalid(
                    "limit",
                    &format!("must be an integer from 1 to {MAX_LIMIT}"),
                ));
            }
        },
    };
    // The lagging-audit variation: entries become visible 1.5 s after they are written.
    let visible_until = if state.has_variation(crate::variations::Variation::LaggingAudit) {
        OffsetDateTime::now_utc() - time::Duration::milliseconds(1500)
    } else {
        OffsetDateTime::now_utc() + time::Duration::days(1)
    };
    let store = state.store();
    if store
        .audit_log()
        .entries
        .iter()
        .any(|e| e.at > visible_until)
    {
        state
            .variations()
            .hit(crate::variations::Variation::LaggingAudit);
    }
    let entries = store
        .audit_log()
        .entries
        .iter()
        .rev()
        .filter(|e| e.at <= visible_until)
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
