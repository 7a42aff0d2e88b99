//! Event dossiers (optimistic concurrency with `ETag`/`If-Match`) and the
//! availability requests sent to members for an event.
//!
//! Every role reads events; owner and manager write them. A `PATCH` must
//! carry the current version in `If-Match` (428 without it, 412 when stale);
//! the `lost-update` fault ignores it. Deleting an event deletes its setlists
//! and availability requests too.
//!
//! The events domain owns events and availability requests ([`EventStore`]).
//! Setlists sit above it; a deletion reaches them through
//! [`Host::event_deleted`].

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::{ETAG, LOCATION};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{AuthUser, ClientIp};
use crate::faults::Fault;
use crate::http::{self, ALL_ROLES, IfMatch, OWNER_MANAGER};
use crate::state::Shared;
use crate::{users, webhooks};

/// Events and availability requests.
#[derive(Debug, Default)]
pub struct EventStore {
    /// Events by id.
    pub events: HashMap<Uuid, Event>,
    /// Availability requests by id.
    pub availability: HashMap<Uuid, AvailabilityRequest>,
}

/// What the events domain needs of the store.
pub trait Host: users::Host + webhooks::Host {
    /// Events and availability requests.
    fn events(&self) -> &EventStore;
    /// Events and availability requests, to change.
    fn events_mut(&mut self) -> &mut EventStore;
    /// Removes what hangs off the event `id`, which was just deleted.
    fn event_deleted(&mut self, id: Uuid);
}

/// Where an event takes place.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Venue {
    /// Venue name.
    pub name: String,
    /// City.
    pub city: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

/// An event dossier.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// Id.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// Venue.
    pub venue: Venue,
    /// Start (UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    /// End (UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    /// IANA zone of the venue.
    pub timezone: String,
    /// Notes.
    pub notes: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Smoke run that created it.
    pub smoke_run_id: Option<String>,
    /// Version, from 1.
    pub version: u64,
    /// Creator.
    pub created_by: Uuid,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// One invited member's answer.
#[derive(Clone, Debug, Serialize)]
pub struct MemberResponse {
    /// Invited user.
    pub member_id: Uuid,
    /// `pending|available|unavailable|tentative`.
    pub status: String,
    /// Note.
    pub note: Option<String>,
    /// When answered.
    #[serde(with = "time::serde::rfc3339::option")]
    pub responded_at: Option<OffsetDateTime>,
}

/// An availability request.
#[derive(Clone, Debug)]
pub struct AvailabilityRequest {
    /// Id.
    pub id: Uuid,
    /// Event.
    pub event_id: Uuid,
    /// Message to the members.
    pub message: String,
    /// Deadline.
    pub respond_by: OffsetDateTime,
    /// One per invited member, in invitation order.
    pub responses: Vec<MemberResponse>,
    /// Tags.
    pub tags: Vec<String>,
    /// Smoke run.
    pub smoke_run_id: Option<String>,
    /// Creator.
    pub created_by: Uuid,
    /// Created.
    pub created_at: OffsetDateTime,
}

impl AvailabilityRequest {
    /// The JSON view at `now` (the server's clock); `tentative_as_pending` is the
    /// `availability-counts-wrong` fault.
    fn view(&self, now: OffsetDateTime, tentative_as_pending: bool) -> serde_json::Value {
        let mut counts: HashMap<&str, usize> = ["pending", "available", "unavailable", "tentative"]
            .into_iter()
            .map(|s| (s, 0))
            .collect();
        for r in &self.responses {
            let status = match r.status.as_str() {
                "tentative" if tentative_as_pending => "pending",
                s => s,
            };
            *counts.entry(status).or_default() += 1;
        }
        let status = if now > self.respond_by {
            "closed"
        } else {
            "open"
        };
        json!({
            "id": self.id,
            "event_id": self.event_id,
            "message": self.message,
            "respond_by": http::fmt_time(self.respond_by),
            "status": status,
            "responses": self.responses,
            "counts": counts,
            "tags": self.tags,
            "smoke_run_id": self.smoke_run_id,
            "created_by": self.created_by,
            "created_at": http::fmt_time(self.created_at),
        })
    }
}

/// The event and availability routes.
pub fn routes<S: Host>() -> Router<Shared<S>> {
    Router::new()
        .route("/api/events", get(list_events::<S>).post(create_event::<S>))
        .route(
            "/api/events/{id}",
            get(get_event::<S>)
                .patch(update_event::<S>)
                .delete(delete_event::<S>),
        )
        .route(
            "/api/events/{id}/availability-requests",
            post(create_availability::<S>),
        )
        .route(
            "/api/availability-requests/{id}",
            get(get_availability::<S>),
        )
        .route(
            "/api/availability-requests/{id}/respond",
            post(respond_availability::<S>),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventCreate {
    title: String,
    venue: Venue,
    starts_at: String,
    ends_at: String,
    timezone: String,
    #[serde(default)]
    notes: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    smoke_run_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventUpdate {
    title: Option<String>,
    venue: Option<Venue>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    timezone: Option<String>,
    notes: Option<String>,
    tags: Option<Vec<String>>,
}

fn validate_venue(v: &Venue) -> Result<(), ApiError> {
    http::check_len("venue.name", &v.name, 1, 200)?;
    http::check_len("venue.city", &v.city, 1, 120)?;
    if v.country.len() != 2 || !v.country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(http::invalid(
            "venue.country",
            "must be an ISO 3166-1 alpha-2 code",
        ));
    }
    Ok(())
}

fn validate_event(e: &Event) -> Result<(), ApiError> {
    http::check_len("title", &e.title, 1, 200)?;
    validate_venue(&e.venue)?;
    http::check_len("timezone", &e.timezone, 1, 64)?;
    http::check_len("notes", &e.notes, 0, 20000)?;
    if e.ends_at < e.starts_at {
        return Err(http::invalid("ends_at", "must not be before starts_at"));
    }
    Ok(())
}

fn with_etag(status: StatusCode, event: &Event, location: bool) -> Response {
    let mut resp = (status, Json(event)).into_response();
    if let Ok(v) = http::etag(event.version).parse() {
        resp.headers_mut().insert(ETAG, v);
    }
    if location && let Ok(v) = format!("/api/events/{}", event.id).parse() {
        resp.headers_mut().insert(LOCATION, v);
    }
    resp
}

async fn list_events<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Event>>, ApiError> {
    http::require_role(&user, ALL_ROLES)?;
    let tag = http::tag_filter(q.get("tag"))?;
    let store = state.store();
    let mut events: Vec<Event> = store
        .events()
        .events
        .values()
        .filter(|e| tag.as_ref().is_none_or(|t| e.tags.contains(t)))
        .cloned()
        .collect();
    events.sort_by(|a, b| a.starts_at.cmp(&b.starts_at).then(a.id.cmp(&b.id)));
    Ok(Json(events))
}

async fn create_event<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    http::require_role(&user, OWNER_MANAGER)?;
    let input: EventCreate = http::parse_body(&headers, &body)?;
    let (tags, smoke_run_id) = http::tagging(&headers, input.tags, input.smoke_run_id)?;
    let now = http::now();
    let event = Event {
        id: Uuid::new_v4(),
        title: input.title,
        venue: input.venue,
        starts_at: http::parse_time("starts_at", &input.starts_at)?,
        ends_at: http::parse_time("ends_at", &input.ends_at)?,
        timezone: input.timezone,
        notes: input.notes.unwrap_or_default(),
        tags,
        smoke_run_id,
        version: 1,
        created_by: user.id,
        created_at: now,
        updated_at: now,
    };
    validate_event(&event)?;
    let mut store = state.store();
    store.events_mut().events.insert(event.id, event.clone());
    store.audit(
        "event.created",
        Some(user.id),
        Some(format!("event:{}", event.id)),
        &ip,
    );
    Ok(with_etag(StatusCode::CREATED, &event, true))
}

/// The event `id` (404 when absent).
pub(crate) fn find_event<'a, S: Host>(store: &'a S, id: &Uuid) -> Result<&'a Event, ApiError> {
    store
        .events()
        .events
        .get(id)
        .ok_or_else(|| http::not_found("event"))
}

async fn get_event<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    http::require_role(&user, ALL_ROLES)?;
    let id = http::parse_id(&id, "event")?;
    let store = state.store();
    let event = find_event(&*store, &id)?;
    Ok(with_etag(StatusCode::OK, event, false))
}

async fn update_event<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    http::require_role(&user, OWNER_MANAGER)?;
    let id = http::parse_id(&id, "event")?;
    find_event(&*state.store(), &id)?;
    let lost_update = state.has_fault(&Fault::LostUpdate);
    let wanted = http::if_match(&headers);
    if !lost_update && wanted == IfMatch::Missing {
        return Err(http::precondition_required());
    }
    let input: EventUpdate = http::parse_body(&headers, &body)?;
    if input.title.is_none()
        && input.venue.is_none()
        && input.starts_at.is_none()
        && input.ends_at.is_none()
        && input.timezone.is_none()
        && input.notes.is_none()
        && input.tags.is_none()
    {
        return Err(http::invalid("body", "at least one property is required"));
    }
    if let Some(tags) = &input.tags {
        http::validate_tags(tags)?;
    }
    let starts_at = input
        .starts_at
        .as_deref()
        .map(|s| http::parse_time("starts_at", s))
        .transpose()?;
    let ends_at = input
        .ends_at
        .as_deref()
        .map(|s| http::parse_time("ends_at", s))
        .transpose()?;

    let mut store = state.store();
    let Some(event) = store.events().events.get(&id) else {
        return Err(http::not_found("event"));
    };
    if !lost_update {
        http::check_if_match(wanted, event.version, "event")?;
    }
    let mut next = event.clone();
    if let Some(v) = input.title {
        next.title = v;
    }
    if let Some(v) = input.venue {
        next.venue = v;
    }
    if let Some(v) = starts_at {
        next.starts_at = v;
    }
    if let Some(v) = ends_at {
        next.ends_at = v;
    }
    if let Some(v) = input.timezone {
        next.timezone = v;
    }
    if let Some(v) = input.notes {
        next.notes = v;
    }
    if let Some(v) = input.tags {
        next.tags = v;
    }
    validate_event(&next)?;
    next.version += 1;
    next.updated_at = http::now();
    store.events_mut().events.insert(id, next.clone());
    store.audit(
        "event.updated",
        Some(user.id),
        Some(format!("event:{id}")),
        &ip,
    );
    let data = serde_json::to_value(&next).unwrap_or_default();
    webhooks::emit(&state, &mut store, "event.updated", data);
    Ok(with_etag(StatusCode::OK, &next, false))
}

async fn delete_event<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    http::require_role(&user, OWNER_MANAGER)?;
    let id = http::parse_id(&id, "event")?;
    let mut store = state.store();
    let version = find_event(&*store, &id)?.version;
    http::check_if_match(http::if_match(&headers), version, "event")?;
    store.audit(
        "event.deleted",
        Some(user.id),
        Some(format!("event:{id}")),
        &ip,
    );
    if state.has_fault(&Fault::DeleteNotDeleting) {
        return Ok(StatusCode::NO_CONTENT);
    }
    let events = store.events_mut();
    events.events.remove(&id);
    events.availability.retain(|_, r| r.event_id != id);
    store.event_deleted(id);
    Ok(StatusCode::NO_CONTENT)
}

// ---------- availability ----------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AvailabilityCreate {
    member_ids: Vec<Uuid>,
    #[serde(default)]
    message: Option<String>,
    respond_by: String,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    smoke_run_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AvailabilityAnswer {
    status: String,
    #[serde(default)]
    note: Option<String>,
}

async fn create_availability<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    http::require_role(&user, OWNER_MANAGER)?;
    let event_id = http::parse_id(&id, "event")?;
    find_event(&*state.store(), &event_id)?;
    let input: AvailabilityCreate = http::parse_body(&headers, &body)?;
    let (tags, smoke_run_id) = http::tagging(&headers, input.tags, input.smoke_run_id)?;
    if input.member_ids.is_empty() || input.member_ids.len() > 500 {
        return Err(http::invalid("member_ids", "must hold 1 to 500 ids"));
    }
    let message = input.message.unwrap_or_default();
    http::check_len("message", &message, 0, 5000)?;
    let respond_by = http::parse_time("respond_by", &input.respond_by)?;
    // respond_by is judged by the server's clock (the `clock:` condition moves it).
    let now = state.now();
    if respond_by <= now {
        return Err(http::invalid("respond_by", "must be in the future"));
    }
    let mut store = state.store();
    for (i, member) in input.member_ids.iter().enumerate() {
        if input.member_ids[..i].contains(member) {
            return Err(http::invalid(&format!("member_ids[{i}]"), "duplicate id"));
        }
        if !store.users().users.contains_key(member) {
            return Err(http::invalid(&format!("member_ids[{i}]"), "unknown user"));
        }
    }
    if !store.events().events.contains_key(&event_id) {
        return Err(http::not_found("event"));
    }
    let request = AvailabilityRequest {
        id: Uuid::new_v4(),
        event_id,
        message,
        respond_by,
        responses: input
            .member_ids
            .iter()
            .map(|m| MemberResponse {
                member_id: *m,
                status: "pending".to_owned(),
                note: None,
                responded_at: None,
            })
            .collect(),
        tags,
        smoke_run_id,
        created_by: user.id,
        created_at: now,
    };
    let view = request.view(
        state.now(),
        state.has_fault(&Fault::AvailabilityCountsWrong),
    );
    let location = format!("/api/availability-requests/{}", request.id);
    store.events_mut().availability.insert(request.id, request);
    Ok((StatusCode::CREATED, [(LOCATION, location)], Json(view)).into_response())
}

async fn get_availability<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    http::require_role(&user, ALL_ROLES)?;
    let id = http::parse_id(&id, "availability request")?;
    let store = state.store();
    let request = store
        .events()
        .availability
        .get(&id)
        .ok_or_else(|| http::not_found("availability request"))?;
    Ok(Json(request.view(
        state.now(),
        state.has_fault(&Fault::AvailabilityCountsWrong),
    )))
}

async fn respond_availability<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    http::require_role(&user, ALL_ROLES)?;
    let id = http::parse_id(&id, "availability request")?;
    {
        let store = state.store();
        let request = store
            .events()
            .availability
            .get(&id)
            .ok_or_else(|| http::not_found("availability request"))?;
        let invited = request.responses.iter().any(|r| r.member_id == user.id);
        if !invited && !state.has_fault(&Fault::NonInviteeAnswers) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "only invited members may respond",
            ));
        }
        if state.now() > request.respond_by && !state.has_fault(&Fault::LateAnswerAccepted) {
            return Err(http::conflict(
                "request_closed",
                format!("responses closed at {}", http::fmt_time(request.respond_by)),
            ));
        }
    }
    let input: AvailabilityAnswer = http::parse_body(&headers, &body)?;
    if !["available", "unavailable", "tentative"].contains(&input.status.as_str()) {
        return Err(http::invalid(
            "status",
            "must be available, unavailable or tentative",
        ));
    }
    if let Some(note) = &input.note {
        http::check_len("note", note, 0, 2000)?;
    }
    let mut store = state.store();
    let request = store
        .events_mut()
        .availability
        .get_mut(&id)
        .ok_or_else(|| http::not_found("availability request"))?;
    let now = state.now();
    if now > request.respond_by && !state.has_fault(&Fault::LateAnswerAccepted) {
        return Err(http::conflict("request_closed", "responses are closed"));
    }
    for r in request
        .responses
        .iter_mut()
        .filter(|r| r.member_id == user.id)
    {
        r.status = input.status.clone();
        r.note = input.note.clone();
        r.responded_at = Some(now);
    }
    Ok(Json(request.view(
        state.now(),
        state.has_fault(&Fault::AvailabilityCountsWrong),
    )))
}
