//! Outgoing webhooks: endpoints, signed deliveries, retries with backoff.
//!
//! Business events (`event.updated`, `invoice.created`, `setlist.locked`,
//! `file.scanned`) are fanned out by [`emit`] to the endpoints subscribed to
//! them; `POST …/test` sends `webhook.test`. Each delivery runs as its own
//! task: it POSTs `{id, type, created_at, data}` with `StageOS-Event-Id`,
//! `StageOS-Delivery-Id` and `StageOS-Signature: t=<unix>,v1=<hex
//! HMAC-SHA256(secret, "<t>.<body>")>`, and retries non-2xx answers and
//! timeouts up to [`MAX_ATTEMPTS`] times, waiting base × 2^(n-1) (+ ≤10 %
//! jitter) between attempts. The base is 1 s
//! ([`crate::RunningServer::set_webhook_backoff`] changes it).
//!
//! The webhooks domain owns endpoints, deliveries and the delivery client
//! ([`WebhookStore`]). The domains that emit events (events, setlists,
//! invoices, files) sit above it and call [`emit`]; it knows none of them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit;
use crate::credentials::Role;
use crate::error::ApiError;
use crate::extract::{AuthUser, Sessions};
use crate::faults::Fault;
use crate::http;
use crate::metrics::StatusLabels;
use crate::state::Shared;
use crate::workers;

/// Attempts per delivery before it is `failed`.
pub const MAX_ATTEMPTS: u32 = 5;
/// Event types endpoints can subscribe to.
pub const EVENT_TYPES: [&str; 4] = [
    "event.updated",
    "invoice.created",
    "setlist.locked",
    "file.scanned",
];
const OWNER: &[Role] = &[Role::Owner];

type HmacSha256 = Hmac<Sha256>;

/// Endpoints, deliveries and the delivery settings.
#[derive(Debug)]
pub struct WebhookStore {
    /// Endpoints by id.
    pub endpoints: HashMap<Uuid, Endpoint>,
    /// Deliveries by id.
    pub deliveries: HashMap<Uuid, Delivery>,
    /// Base of the retry backoff (attempt n waits base × 2^(n-1)).
    pub(crate) backoff: Duration,
    /// Per-attempt timeout.
    pub(crate) timeout: Duration,
    /// The delivery client, built on first use.
    pub(crate) http: Option<reqwest::Client>,
}

impl Default for WebhookStore {
    fn default() -> Self {
        Self {
            endpoints: HashMap::new(),
            deliveries: HashMap::new(),
            backoff: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            http: None,
        }
    }
}

impl WebhookStore {
    /// Deliveries still `pending` (the depth of the webhook queue).
    pub fn pending(&self) -> usize {
        self.deliveries
            .values()
            .filter(|d| d.status == "pending")
            .count()
    }
}

/// What the webhooks domain needs of the store.
pub trait Host: audit::Host + workers::Host + Sessions {
    /// Endpoints and deliveries.
    fn webhooks(&self) -> &WebhookStore;
    /// Endpoints and deliveries, to change.
    fn webhooks_mut(&mut self) -> &mut WebhookStore;
}

/// A registered endpoint.
#[derive(Clone, Debug, Serialize)]
pub struct Endpoint {
    /// Id.
    pub id: Uuid,
    /// Target URL.
    pub url: String,
    /// Subscribed event types.
    pub events: Vec<String>,
    /// Description.
    pub description: String,
    /// Signing secret (`whsec_…`), shown once.
    #[serde(skip)]
    pub secret: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Smoke run.
    pub smoke_run_id: Option<String>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// One event sent to one endpoint (with its retries).
#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    /// Id.
    pub id: Uuid,
    /// Endpoint.
    pub endpoint_id: Uuid,
    /// Business event id (same across endpoints and retries).
    pub event_id: Uuid,
    /// Event type.
    pub event_type: String,
    /// `pending|succeeded|failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// Status of the last attempt.
    pub response_status: Option<u16>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last attempt.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_attempt_at: Option<OffsetDateTime>,
    /// Next retry.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    /// The exact body sent on every attempt.
    #[serde(skip)]
    pub body: Bytes,
}

/// The webhook routes.
pub fn routes<S: Host>() -> Router<Shared<S>> {
    Router::new()
        .route(
            "/api/webhooks/endpoints",
            get(list_endpoints::<S>).post(create_endpoint::<S>),
        )
        .route("/api/webhooks/endpoints/{id}", delete(delete_endpoint::<S>))
        .route(
            "/api/webhooks/endpoints/{id}/test",
            post(test_endpoint::<S>),
        )
        .route(
            "/api/webhooks/endpoints/{id}/deliveries",
            get(list_deliveries::<S>),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointCreate {
    url: String,
    events: Vec<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    smoke_run_id: Option<String>,
}

fn is_private(host: &url_host::Host) -> bool {
    match host {
        url_host::Host::Domain(d) => *d == "localhost" || d.ends_with(".localhost"),
        url_host::Host::Ip(IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private(),
        url_host::Host::Ip(IpAddr::V6(ip)) => {
            ip.is_loopback() || (ip.segments()[0] & 0xfe00) == 0xfc00
        }
    }
}

/// Host parsing on top of `reqwest::Url`.
mod url_host {
    use std::net::IpAddr;

    /// A URL host.
    pub enum Host<'a> {
        /// A name.
        Domain(&'a str),
        /// An address.
        Ip(IpAddr),
    }

    /// The host of `url`.
    pub fn of(url: &reqwest::Url) -> Option<Host<'_>> {
        let host = url.host_str()?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        Some(match bare.parse::<IpAddr>() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => Host::Domain(host),
        })
    }
}

fn validate_url(raw: &str) -> Result<(), ApiError> {
    if raw.len() > 2048 {
        return Err(http::invalid("url", "at most 2048 characters"));
    }
    let url = reqwest::Url::parse(raw).map_err(|_| http::invalid("url", "must be a URL"))?;
    let host = url_host::of(&url).ok_or_else(|| http::invalid("url", "must have a host"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_private(&host) => Ok(()),
        _ => Err(http::invalid(
            "url",
            "must be https (http only for loopback and private hosts)",
        )),
    }
}

fn new_secret() -> String {
    let mut b = [0u8; 32];
    rand::fill(&mut b);
    format!("whsec_{}", URL_SAFE_NO_PAD.encode(b))
}

async fn create_endpoint<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    http::require_role(&user, OWNER)?;
    let input: EndpointCreate = http::parse_body(&headers, &body)?;
    let (tags, smoke_run_id) = http::tagging(&headers, input.tags, input.smoke_run_id)?;
    validate_url(&input.url)?;
    if input.events.is_empty() {
        return Err(http::invalid("events", "at least one event type"));
    }
    for (i, e) in input.events.iter().enumerate() {
        if !EVENT_TYPES.contains(&e.as_str()) {
            return Err(http::invalid(&format!("events[{i}]"), "unknown event type"));
        }
        if input.events[..i].contains(e) {
            return Err(http::invalid(
                &format!("events[{i}]"),
                "duplicate event type",
            ));
        }
    }
    let description = input.description.unwrap_or_default();
    http::check_len("description", &description, 0, 500)?;
    let endpoint = Endpoint {
        id: Uuid::new_v4(),
        url: input.url,
        events: input.events,
        description,
        secret: new_secret(),
        tags,
        smoke_run_id,
        created_at: http::now(),
    };
    let mut view = serde_json::to_value(&endpoint).unwrap_or_default();
    view["secret"] = json!(endpoint.secret);
    let location = format!("/api/webhooks/endpoints/{}", endpoint.id);
    let mut store = state.store();
    store.audit(
        "webhook.endpoint_created",
        Some(user.id),
        Some(format!("webhook_endpoint:{}", endpoint.id)),
        "unknown",
    );
    store.webhooks_mut().endpoints.insert(endpoint.id, endpoint);
    Ok((StatusCode::CREATED, [(LOCATION, location)], Json(view)).into_response())
}

async fn list_endpoints<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Endpoint>>, ApiError> {
    http::require_role(&user, OWNER)?;
    let tag = http::tag_filter(q.get("tag"))?;
    let store = state.store();
    let mut list: Vec<Endpoint> = store
        .webhooks()
        .endpoints
        .values()
        .filter(|e| tag.as_ref().is_none_or(|t| e.tags.contains(t)))
        .cloned()
        .collect();
    list.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(Json(list))
}

async fn delete_endpoint<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    http::require_role(&user, OWNER)?;
    let id = http::parse_id(&id, "webhook endpoint")?;
    let mut store = state.store();
    if !store.webhooks().endpoints.contains_key(&id) {
        return Err(http::not_found("webhook endpoint"));
    }
    store.audit(
        "webhook.endpoint_deleted",
        Some(user.id),
        Some(format!("webhook_endpoint:{id}")),
        "unknown",
    );
    if state.has_fault(&Fault::DeleteNotDeleting) {
        return Ok(StatusCode::NO_CONTENT);
    }
    store.webhooks_mut().endpoints.remove(&id);
    store
        .webhooks_mut()
        .deliveries
        .retain(|_, d| d.endpoint_id != id);
    workers::update_gauges(&state, &store);
    Ok(StatusCode::NO_CONTENT)
}

async fn test_endpoint<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    http::require_role(&user, OWNER)?;
    let id = http::parse_id(&id, "webhook endpoint")?;
    let mut store = state.store();
    if !store.webhooks().endpoints.contains_key(&id) {
        return Err(http::not_found("webhook endpoint"));
    }
    let event_id = Uuid::new_v4();
    let delivery_id = enqueue(
        &state,
        &mut store,
        id,
        event_id,
        "webhook.test",
        &json!({ "endpoint_id": id }),
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "delivery_id": delivery_id })),
    )
        .into_response())
}

async fn list_deliveries<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    if !state.has_fault(&Fault::DeliveriesAnyRole) {
        http::require_role(&user, OWNER)?;
    }
    let id = http::parse_id(&id, "webhook endpoint")?;
    let store = state.store();
    if !store.webhooks().endpoints.contains_key(&id) {
        return Err(http::not_found("webhook endpoint"));
    }
    let mut list: Vec<Delivery> = store
        .webhooks()
        .deliveries
        .values()
        .filter(|d| d.endpoint_id == id)
        .cloned()
        .collect();
    list.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    Ok(Json(list))
}

// ---------- delivery ----------

/// Fans a business event out to the endpoints subscribed to `event_type`.
pub(crate) fn emit<S: Host>(
    state: &Shared<S>,
    store: &mut S,
    event_type: &str,
    data: serde_json::Value,
) {
    let event_id = Uuid::new_v4();
    let targets: Vec<Uuid> = store
        .webhooks()
        .endpoints
        .values()
        .filter(|e| e.events.iter().any(|t| t == event_type))
        .map(|e| e.id)
        .collect();
    for endpoint_id in targets {
        enqueue(state, store, endpoint_id, event_id, event_type, &data);
    }
}

fn enqueue<S: Host>(
    state: &Shared<S>,
    store: &mut S,
    endpoint_id: Uuid,
    event_id: Uuid,
    event_type: &str,
    data: &serde_json::Value,
) -> Uuid {
    let now = http::now();
    let payload = json!({
        "id": event_id,
        "type": event_type,
        "created_at": http::fmt_time(now),
        "data": data,
    });
    let delivery = Delivery {
        id: Uuid::new_v4(),
        endpoint_id,
        event_id,
        event_type: event_type.to_owned(),
        status: "pending".to_owned(),
        attempts: 0,
        response_status: None,
        created_at: now,
        last_attempt_at: None,
        next_attempt_at: Some(now),
        body: Bytes::from(serde_json::to_vec(&payload).unwrap_or_default()),
    };
    let id = delivery.id;
    store.webhooks_mut().deliveries.insert(id, delivery);
    workers::update_gauges(state, store);
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::spawn(deliver(state.clone(), id));
    }
    id
}

/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature_header(secret: &str, t: i64, body: &[u8]) -> String {
    let Ok(mut mac) = <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature-wrong` defect: the MAC leaves out `"<t>."`.
fn body_only_signature(secret: &str, t: i64, body: &[u8]) -> String {
    let Ok(mut mac) = <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn client<S: Host>(state: &Shared<S>) -> Option<reqwest::Client> {
    let mut store = state.store();
    let webhooks = store.webhooks_mut();
    if webhooks.http.is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let built = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("StageOS-Webhooks/1.0")
            .build();
        match built {
            Ok(c) => webhooks.http = Some(c),
            Err(e) => {
                tracing::warn!(error = %e, "failed to build the webhook http client");
                return None;
            }
        }
    }
    webhooks.http.clone()
}

fn count<S>(state: &Shared<S>, status: &str) {
    state
        .metrics()
        .webhook_deliveries
        .get_or_create(&StatusLabels {
            status: status.to_owned(),
        })
        .inc();
}

/// Runs one delivery to completion (all its attempts).
async fn deliver<S: Host>(state: Shared<S>, id: Uuid) {
    let Some(http) = client(&state) else {
        return;
    };
    if state.has_variation(crate::variations::Variation::SlowDeliveries) {
        state
            .variations()
            .hit(crate::variations::Variation::SlowDeliveries);
        tokio::time::sleep(Duration::from_millis(1500)).await; // slow on purpose: slow-deliveries
    }
    loop {
        let (url, secret, body, event_id, timeout, backoff) = {
            let store = state.store();
            let webhooks = store.webhooks();
            let Some(d) = webhooks.deliveries.get(&id) else {
                return;
            };
            let Some(e) = webhooks.endpoints.get(&d.endpoint_id) else {
                return;
            };
            if d.status != "pending" || store.workers().stopped() {
                return;
            }
            (
                e.url.clone(),
                e.secret.clone(),
                d.body.clone(),
                d.event_id,
                webhooks.timeout,
                webhooks.backoff,
            )
        };
        let t = crate::unix_now();
        let signature = if state.has_fault(&Fault::WebhookSignatureWrong) {
            body_only_signature(&secret, t, &body)
        } else {
            signature_header(&secret, t, &body)
        };
        let result = http
            .post(&url)
            .timeout(timeout)
            .header("content-type", "application/json")
            .header("StageOS-Event-Id", event_id.to_string())
            .header("StageOS-Delivery-Id", id.to_string())
            .header("StageOS-Signature", signature)
            .body(body)
            .send()
            .await;
        let status = result.ok().map(|r| r.status().as_u16());
        match record_attempt(&state, id, status, backoff) {
            Some(wait) => tokio::time::sleep(wait).await,
            None => return,
        }
    }
}

/// Records one attempt; answers the wait before the next one, if any.
fn record_attempt<S: Host>(
    state: &Shared<S>,
    id: Uuid,
    status: Option<u16>,
    backoff: Duration,
) -> Option<Duration> {
    let ok = status.is_some_and(|s| (200..300).contains(&s));
    let now = http::now();
    let mut store = state.store();
    let d = store.webhooks_mut().deliveries.get_mut(&id)?;
    d.attempts += 1;
    d.last_attempt_at = Some(now);
    d.response_status = status;
    let lies = status.is_some() && state.has_fault(&Fault::DeliveryLogLies);
    let no_retry = status.is_some() && state.has_fault(&Fault::WebhookNoRetry);
    let wait = if ok || lies {
        d.status = "succeeded".to_owned();
        d.next_attempt_at = None;
        count(state, "succeeded");
        None
    } else if d.attempts >= MAX_ATTEMPTS || no_retry {
        d.status = "failed".to_owned();
        d.next_attempt_at = None;
        count(state, "failed");
        None
    } else {
        let base = backoff.saturating_mul(1 << (d.attempts - 1).min(16));
        let wait = base + base.mul_f64(rand::random::<f64>() * 0.1);
        d.next_attempt_at = Some(now + wait);
        count(state, "retrying");
        Some(wait)
    };
    workers::update_gauges(state, &store);
    wait
}

/// Sets the base of the retry backoff (tests use a short one).
pub(crate) fn set_backoff<S: Host>(state: &Shared<S>, base: Duration) {
    state.store().webhooks_mut().backoff = base;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_header_shape() {
        let h = signature_header("whsec_x", 1700000000, b"{}");
        assert!(h.starts_with("t=1700000000,v1="));
        assert_eq!(h.len(), "t=1700000000,v1=".len() + 64);
    }

    #[test]
    fn urls_need_https_unless_private() {
        assert!(validate_url("https://example.com/hook").is_ok());
        assert!(validate_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(validate_url("http://localhost/hook").is_ok());
        assert!(validate_url("http://10.1.2.3/hook").is_ok());
        assert!(validate_url("http://example.com/hook").is_err());
        assert!(validate_url("ftp://127.0.0.1/").is_err());
        assert!(validate_url("not a url").is_err());
    }
}
