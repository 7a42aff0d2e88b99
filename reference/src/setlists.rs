//! Setlists of an event: items, locking, and export as JSON, CSV or PDF.
//!
//! Owner, manager and member edit setlists; only owner and manager lock and
//! unlock them. A locked setlist refuses edits with 423 (the
//! `lock-not-enforced` fault lets them through). Exports carry every title in
//! order plus the total duration (`export-missing-item` drops the last item).
//!
//! The setlists domain owns the setlists ([`SetlistStore`]); it sits above
//! events (a setlist belongs to one) and below files (which may hang off one).

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::credentials::Role;
use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::faults::Fault;
use crate::http::{self, ALL_ROLES, OWNER_MANAGER};
use crate::state::Shared;
use crate::{events, webhooks};

const EDITORS: &[Role] = &[Role::Owner, Role::Manager, Role::Member];

/// Setlists by id.
#[derive(Debug, Default)]
pub struct SetlistStore {
    /// Setlists.
    pub setlists: HashMap<Uuid, Setlist>,
}

impl SetlistStore {
    /// Drops the setlists of the event `event_id` (deleted).
    pub fn remove_for_event(&mut self, event_id: Uuid) {
        self.setlists.retain(|_, s| s.event_id != event_id);
    }
}

/// What the setlists domain needs of the store.
pub trait Host: events::Host {
    /// The setlists.
    fn setlists(&self) -> &SetlistStore;
    /// The setlists, to change.
    fn setlists_mut(&mut self) -> &mut SetlistStore;
}

/// One song (or other item) of a setlist.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetlistItem {
    /// Title.
    pub title: String,
    /// Duration in seconds.
    pub duration_s: u32,
    /// Musical key.
    #[serde(default)]
    pub key: Option<String>,
    /// Notes.
    #[serde(default)]
    pub notes: Option<String>,
}

/// A setlist.
#[derive(Clone, Debug)]
pub struct Setlist {
    /// Id.
    pub id: Uuid,
    /// Event.
    pub event_id: Uuid,
    /// Name.
    pub name: String,
    /// Items in order.
    pub items: Vec<SetlistItem>,
    /// When locked.
    pub locked_at: Option<OffsetDateTime>,
    /// Who locked it.
    pub locked_by: Option<Uuid>,
    /// Tags.
    pub tags: Vec<String>,
    /// Smoke run.
    pub smoke_run_id: Option<String>,
    /// Creator.
    pub created_by: Uuid,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

impl Setlist {
    fn total(items: &[SetlistItem]) -> u64 {
        items.iter().map(|i| u64::from(i.duration_s)).sum()
    }

    /// The `Setlist` schema.
    pub fn view(&self) -> serde_json::Value {
        json!({
            "id": self.id,
            "event_id": self.event_id,
            "name": self.name,
            "items": self.items,
            "total_duration_s": Self::total(&self.items),
            "locked": self.locked_at.is_some(),
            "locked_at": self.locked_at.map(http::fmt_time),
            "locked_by": self.locked_by,
            "tags": self.tags,
            "smoke_run_id": self.smoke_run_id,
            "created_by": self.created_by,
            "created_at": http::fmt_time(self.created_at),
            "updated_at": http::fmt_time(self.updated_at),
        })
    }
}

/// The setlist routes.
pub fn routes<S: Host>() -> Router<Shared<S>> {
    Router::new()
        .route("/api/events/{id}/setlists", post(create_setlist::<S>))
        .route(
            "/api/setlists/{id}",
            get(get_setlist::<S>).patch(update_setlist::<S>),
        )
        .route("/api/setlists/{id}/lock", post(lock_setlist::<S>))
        .route("/api/setlists/{id}/unlock", post(unlock_setlist::<S>))
        .route("/api/setlists/{id}/export", get(export_setlist::<S>))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetlistCreate {
    name: String,
    items: Vec<SetlistItem>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    smoke_run_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetlistUpdate {
    name: Option<String>,
    items: Option<Vec<SetlistItem>>,
}

fn validate_items(items: &[SetlistItem]) -> Result<(), ApiError> {
    if items.len() > 500 {
        return Err(http::invalid("items", "at most 500 items"));
    }
    for (i, item) in items.iter().enumerate() {
        http::check_len(&format!("items[{i}].title"), &item.title, 1, 200)?;
        if item.duration_s > 86400 {
            return Err(http::invalid(
                &format!("items[{i}].duration_s"),
                "must be 0 to 86400",
            ));
        }
        if let Some(key) = &item.key {
            http::check_len(&format!("items[{i}].key"), key, 0, 16)?;
        }
        if let Some(notes) = &item.notes {
            http::check_len(&format!("items[{i}].notes"), notes, 0, 2000)?;
        }
    }
    Ok(())
}

fn setlist_id(raw: &str) -> Result<Uuid, ApiError> {
    http::parse_id(raw, "setlist")
}

async fn create_setlist<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    http::require_role(&user, EDITORS)?;
    let event_id = http::parse_id(&id, "event")?;
    events::find_event(&*state.store(), &event_id)?;
    let input: SetlistCreate = http::parse_body(&headers, &body)?;
    let (tags, smoke_run_id) = http::tagging(&headers, input.tags, input.smoke_run_id)?;
    http::check_len("name", &input.name, 1, 200)?;
    validate_items(&input.items)?;
    let now = http::now();
    let setlist = Setlist {
        id: Uuid::new_v4(),
        event_id,
        name: input.name,
        items: input.items,
        locked_at: None,
        locked_by: None,
        tags,
        smoke_run_id,
        created_by: user.id,
        created_at: now,
        updated_at: now,
    };
    let mut store = state.store();
    events::find_event(&*store, &event_id)?;
    let view = setlist.view();
    let location = format!("/api/setlists/{}", setlist.id);
    store.setlists_mut().setlists.insert(setlist.id, setlist);
    Ok((StatusCode::CREATED, [(LOCATION, location)], Json(view)).into_response())
}

fn find<S: Host>(state: &Shared<S>, id: &Uuid) -> Result<Setlist, ApiError> {
    state
        .store()
        .setlists()
        .setlists
        .get(id)
        .cloned()
        .ok_or_else(|| http::not_found("setlist"))
}

async fn get_setlist<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    http::require_role(&user, ALL_ROLES)?;
    Ok(Json(find(&state, &setlist_id(&id)?)?.view()))
}

async fn update_setlist<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    http::require_role(&user, EDITORS)?;
    let id = setlist_id(&id)?;
    let enforce_lock = !state.has_fault(&Fault::LockNotEnforced);
    if enforce_lock && find(&state, &id)?.locked_at.is_some() {
        return Err(locked());
    }
    let input: SetlistUpdate = http::parse_body(&headers, &body)?;
    if input.name.is_none() && input.items.is_none() {
        return Err(http::invalid("body", "at least one property is required"));
    }
    if let Some(name) = &input.name {
        http::check_len("name", name, 1, 200)?;
    }
    if let Some(items) = &input.items {
        validate_items(items)?;
    }
    let mut store = state.store();
    let setlist = store
        .setlists_mut()
        .setlists
        .get_mut(&id)
        .ok_or_else(|| http::not_found("setlist"))?;
    if enforce_lock && setlist.locked_at.is_some() {
        return Err(locked());
    }
    if let Some(name) = input.name {
        setlist.name = name;
    }
    if let Some(items) = input.items {
        setlist.items = items;
    }
    setlist.updated_at = http::now();
    Ok(Json(setlist.view()))
}

fn locked() -> ApiError {
    ApiError::new(StatusCode::LOCKED, "setlist_locked", "setlist is locked")
}

async fn lock_setlist<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !(user.role == Role::Crew && state.has_fault(&Fault::CrewLocksSetlist)) {
        http::require_role(&user, OWNER_MANAGER)?;
    }
    let id = setlist_id(&id)?;
    let mut store = state.store();
    let setlist = store
        .setlists_mut()
        .setlists
        .get_mut(&id)
        .ok_or_else(|| http::not_found("setlist"))?;
    if setlist.locked_at.is_some() {
        return Ok(Json(setlist.view()));
    }
    let now = http::now();
    setlist.locked_at = Some(now);
    setlist.locked_by = Some(user.id);
    setlist.updated_at = now;
    let view = setlist.view();
    store.audit(
        "setlist.locked",
        Some(user.id),
        Some(format!("setlist:{id}")),
        "unknown",
    );
    webhooks::emit(&state, &mut store, "setlist.locked", view.clone());
    Ok(Json(view))
}

async fn unlock_setlist<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    http::require_role(&user, OWNER_MANAGER)?;
    let id = setlist_id(&id)?;
    let mut store = state.store();
    let setlist = store
        .setlists_mut()
        .setlists
        .get_mut(&id)
        .ok_or_else(|| http::not_found("setlist"))?;
    if setlist.locked_at.is_some() {
        setlist.locked_at = None;
        setlist.locked_by = None;
        setlist.updated_at = http::now();
    }
    Ok(Json(setlist.view()))
}

/// `"<name>.<ext>"` made safe for a quoted header value.
pub(crate) fn attachment(name: &str, ext: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.' | '(' | ')') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = safe.trim();
    let safe = if safe.is_empty() { "setlist" } else { safe };
    format!("attachment; filename=\"{safe}.{ext}\"")
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

async fn export_setlist<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    http::require_role(&user, ALL_ROLES)?;
    let setlist = find(&state, &setlist_id(&id)?)?;
    let format = q.get("format").map(String::as_str).unwrap_or_default();
    let mut items = setlist.items.clone();
    if state.has_fault(&Fault::ExportMissingItem) {
        items.pop();
    }
    let total = Setlist::total(&items);
    let (content_type, body): (&str, Vec<u8>) = match format {
        "json" => {
            let items: Vec<serde_json::Value> = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    json!({
                        "position": i + 1,
                        "title": item.title,
                        "duration_s": item.duration_s,
                        "key": item.key,
                        "notes": item.notes,
                    })
                })
                .collect();
            let doc = json!({
                "id": setlist.id,
                "event_id": setlist.event_id,
                "name": setlist.name,
                "items": items,
                "total_duration_s": total,
                "locked": setlist.locked_at.is_some(),
                "exported_at": http::fmt_time(http::now()),
            });
            (
                "application/json",
                serde_json::to_vec_pretty(&doc).unwrap_or_default(),
            )
        }
        "csv" => {
            let mut out = String::from("position,title,duration_s,key,notes\r\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&format!(
                    "{},{},{},{},{}\r\n",
                    i + 1,
                    csv_field(&item.title),
                    item.duration_s,
                    csv_field(item.key.as_deref().unwrap_or_default()),
                    csv_field(item.notes.as_deref().unwrap_or_default()),
                ));
            }
            out.push_str(&format!(",TOTAL,{total},,\r\n"));
            ("text/csv; charset=utf-8", out.into_bytes())
        }
        "pdf" => {
            // The renderings a conformance variation may choose (the default is
            // the reference's own: one Tj per line, `m:ss`, `m:ss (N s)`).
            let rendering = state.pdf_rendering();
            let mut lines: Vec<String> = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let key = item
                        .key
                        .as_deref()
                        .map(|k| format!(" [{k}]"))
                        .unwrap_or_default();
                    format!(
                        "{}. {}{} ({})",
                        i + 1,
                        item.title,
                        key,
                        crate::pdf::duration(u64::from(item.duration_s), rendering.duration)
                    )
                })
                .collect();
            lines.push(String::new());
            let shown_total = if state.has_fault(&Fault::ExportPdfWrongDuration) {
                total + 1
            } else {
                total
            };
            lines.push(format!(
                "Total duration: {}",
                crate::pdf::total_duration(shown_total, rendering.duration)
            ));
            // CPU work: off the runtime's workers so requests keep being served.
            let title = format!("Setlist: {}", setlist.name);
            let layout = rendering.layout;
            let bytes = tokio::task::spawn_blocking(move || {
                crate::pdf::render_with(&title, &lines, layout)
            })
            .await
            .map_err(|e| ApiError::internal(format!("the renderer crashed: {e}")))?
            .map_err(|e| ApiError::internal(format!("failed to render pdf: {e}")))?;
            ("application/pdf", bytes)
        }
        _ => {
            return Err(http::invalid("format", "must be pdf, csv or json"));
        }
    };
    Ok((
        StatusCode::OK,
        [
            (CONTENT_TYPE, content_type.to_owned()),
            (CONTENT_DISPOSITION, attachment(&setlist.name, format)),
        ],
        body,
    )
        .into_response())
}
