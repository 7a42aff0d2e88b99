//! Privacy: the signed-in user's data export and account erasure.
//!
//! `POST /api/me/export` queues an `account_export` job; a background task
//! gathers the user's profile, the entities they created, their availability
//! responses and the audit entries they acted in, and stores the JSON as a
//! clean file whose parent is the user (so only they, or an owner, can read
//! it). `DELETE /api/me` disables the account at once: it leaves the user
//! list, every session is revoked, and login answers 401 from then on; the
//! record waits in `erased_users` for the retention purge.
//!
//! Privacy owns no store of its own: it reads across every domain (the
//! export) and acts on users, sessions and files (the erasure), so it sits
//! at the top of the domain stack, above invoices (whose job list it shares).

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::Duration;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{AuthUser, ClientIp, REFRESH_COOKIE};
use crate::faults::Fault;
use crate::files::{self, FileParent, FileRecord};
use crate::http;
use crate::invoices::{self, Job};
use crate::state::Shared;
use crate::users;

/// How long erased personal data may be kept before the purge.
pub const PURGE_AFTER_DAYS: i64 = 30;

/// What privacy needs of the store: every domain it exports from.
pub trait Host: invoices::Host {}

impl<S: invoices::Host> Host for S {}

/// The privacy routes.
pub fn routes<S: Host>() -> Router<Shared<S>> {
    Router::new()
        .route("/api/me/export", post(export::<S>))
        .route("/api/me", axum::routing::delete(erase::<S>))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteMe {
    confirm: String,
}

fn serialised<'a, T: serde::Serialize + 'a>(items: impl Iterator<Item = &'a T>) -> Vec<Value> {
    items.filter_map(|i| serde_json::to_value(i).ok()).collect()
}

/// The export document of `user_id` (`None` when the user is gone).
fn export_document<S: Host>(store: &S, user_id: Uuid, with_objects: bool) -> Option<Value> {
    let user = store.users().users.get(&user_id)?;
    let profile = serde_json::to_value(users::UserView::from(user)).ok()?;
    let created = if with_objects {
        let setlists: Vec<Value> = store
            .setlists()
            .setlists
            .values()
            .filter(|s| s.created_by == user_id)
            .map(|s| {
                json!({
                    "id": s.id,
                    "event_id": s.event_id,
                    "name": s.name,
                    "tags": s.tags,
                    "smoke_run_id": s.smoke_run_id,
                    "created_at": http::fmt_time(s.created_at),
                })
            })
            .collect();
        json!({
            "events": serialised(store.events().events.values().filter(|e| e.created_by == user_id)),
            "setlists": setlists,
            "invoices": serialised(store.invoices().invoices.values().filter(|i| i.created_by == user_id)),
            "files": serialised(store.files().files.values().filter(|f| f.created_by == Some(user_id))),
        })
    } else {
        json!({"events": [], "setlists": [], "invoices": [], "files": []})
    };
    let responses: Vec<Value> = store
        .events()
        .availability
        .values()
        .flat_map(|r| {
            r.responses
                .iter()
                .filter(|m| m.member_id == user_id)
                .map(move |m| json!({"request_id": r.id, "event_id": r.event_id, "response": m}))
        })
        .collect();
    let audit = serialised(
        store
            .audit_log()
            .entries
            .iter()
            .filter(|e| e.actor_id == Some(user_id)),
    );
    Some(json!({
        "exported_at": http::fmt_time(http::now()),
        "user": profile,
        "created": created,
        "availability_responses": responses,
        "audit": audit,
    }))
}

/// Runs an export job to completion (a background task).
async fn run_export<S: Host>(
    state: Shared<S>,
    job_id: Uuid,
    user_id: Uuid,
    smoke_run_id: Option<String>,
) {
    tokio::task::yield_now().await;
    let with_objects = !state.has_fault(&Fault::ExportMissingObjects);
    let mut store = state.store();
    let now = http::now();
    if let Some(job) = store.invoices_mut().jobs.get_mut(&job_id) {
        job.status = "running".to_owned();
        job.started_at = Some(now);
    }
    let document = export_document(&*store, user_id, with_objects);
    let bytes = document.and_then(|d| serde_json::to_vec_pretty(&d).ok());
    let Some(bytes) = bytes else {
        if let Some(job) = store.invoices_mut().jobs.get_mut(&job_id) {
            job.status = "failed".to_owned();
            job.error =
                Some(json!({"code": "user_not_found", "message": "the user no longer exists"}));
            job.finished_at = Some(http::now());
        }
        return;
    };
    let tags = if smoke_run_id.is_some() {
        vec!["smoke".to_owned()]
    } else {
        Vec::new()
    };
    let file = FileRecord {
        id: Uuid::new_v4(),
        key: files::new_key(),
        filename: format!("stageos-export-{user_id}.json"),
        content_type: "application/json".to_owned(),
        size_bytes: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
        upload_status: "completed".to_owned(),
        scan_status: "clean".to_owned(),
        scanned_at: Some(now),
        parent: FileParent {
            kind: "user".to_owned(),
            id: user_id,
        },
        created_by: None,
        tags,
        smoke_run_id,
        created_at: now,
        updated_at: now,
        bytes: Some(Bytes::from(bytes)),
    };
    let file_id = file.id;
    store.files_mut().insert(file);
    if let Some(job) = store.invoices_mut().jobs.get_mut(&job_id) {
        job.status = "succeeded".to_owned();
        job.result = Some(json!({"file_id": file_id}));
        job.finished_at = Some(http::now());
    }
}

async fn export<S: Host>(
    State(state): State<Shared<S>>,
    ClientIp(ip): ClientIp,
    user: AuthUser,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let smoke_run_id = http::smoke_run_header(&headers)?;
    let now = http::now();
    let job = Job {
        id: Uuid::new_v4(),
        kind: "account_export".to_owned(),
        status: "queued".to_owned(),
        result: None,
        error: None,
        created_at: now,
        started_at: None,
        finished_at: None,
        owner: user.id,
        invoice_id: Uuid::nil(),
        ip: Some(ip.clone()),
    };
    let job_id = job.id;
    {
        let mut store = state.store();
        store.invoices_mut().jobs.insert(job_id, job);
        store.audit(
            "privacy.export_requested",
            Some(user.id),
            Some(format!("user:{}", user.id)),
            &ip,
        );
    }
    tokio::spawn(run_export::<S>(
        state.clone(),
        job_id,
        user.id,
        smoke_run_id,
    ));
    let location = format!("/api/jobs/{job_id}");
    Ok((
        StatusCode::ACCEPTED,
        [(LOCATION, location)],
        Json(json!({"job_id": job_id})),
    )
        .into_response())
}

async fn erase<S: Host>(
    State(state): State<Shared<S>>,
    ClientIp(ip): ClientIp,
    user: AuthUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let input: DeleteMe = http::parse_body(&headers, &body)?;
    if !input.confirm.trim().eq_ignore_ascii_case(&user.email) {
        return Err(http::invalid("confirm", "must equal your email"));
    }
    let mut store = state.store();
    if store.users().is_last_owner(user.id) {
        return Err(http::conflict(
            "last_owner",
            "the organisation's last owner cannot erase their account",
        ));
    }
    let Some(record) = store.users_mut().users.remove(&user.id) else {
        return Err(ApiError::unauthorized());
    };
    store.users_mut().erased_users.insert(record.id, record);
    store.user_removed(user.id);
    // Files that belong to the user (their exports) are personal data: gone at once.
    let theirs: Vec<Uuid> = store
        .files()
        .files
        .values()
        .filter(|f| f.parent.kind == "user" && f.parent.id == user.id)
        .map(|f| f.id)
        .collect();
    for id in theirs {
        store.files_mut().remove(&id);
    }
    store.audit(
        "privacy.account_deleted",
        Some(user.id),
        Some(format!("user:{}", user.id)),
        &ip,
    );
    drop(store);
    let purge_after = http::now() + Duration::days(PURGE_AFTER_DAYS);
    let mut response = (
        StatusCode::ACCEPTED,
        Json(json!({"status": "scheduled", "purge_after": http::fmt_time(purge_after)})),
    )
        .into_response();
    let clear =
        format!("{REFRESH_COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=/api/auth; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&clear) {
        response.headers_mut().insert(SET_COOKIE, v);
    }
    Ok(response)
}
