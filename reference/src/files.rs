//! Files: registration, signed storage URLs, malware scan, downloads.
//!
//! Bytes never pass through the authenticated API: `POST /api/files/uploads`
//! answers a signed `PUT` URL on this server's `/storage/{key}`, and
//! `GET /api/files/{id}/download-url` a signed `GET` URL. A signature is the
//! lowercase hex HMAC-SHA256 (server secret) of `"<METHOD>\n<path>\n<expires>"`
//! and is checked in constant time (`verify_slice`) before anything else.
//! After `complete`, the scanner ([`scan_one`]) marks the file `clean` or
//! `infected` (the EICAR test string); infected files are never served.
//!
//! Extension: `download-url` takes an optional `ttl_secs` (1..=900, default
//! 900) so a client can ask for a short-lived URL and watch it expire.
//!
//! The files domain owns the files, the scan queue and the storage signing
//! key ([`FileStore`]). A file may hang off an event, a setlist, a user or an
//! invoice; invoices sit above files (they store their rendered PDFs here),
//! so the invoice check goes through [`Host::invoice_exists`].

use std::collections::{HashMap, VecDeque};

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE, ETAG};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::credentials::Role;
use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::faults::Fault;
use crate::http::{self, ALL_ROLES, OWNER_ACCOUNTANT};
use crate::state::Shared;
use crate::{setlists, webhooks, workers};

type HmacSha256 = Hmac<Sha256>;

/// Largest file accepted (100 MiB).
pub const MAX_FILE_BYTES: u64 = 104_857_600;
/// Lifetime of signed URLs (and the maximum `ttl_secs`).
pub const LINK_TTL_SECS: i64 = 900;
/// The EICAR anti-virus test string.
pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// Files by id and by storage key, the scan queue and the signing key.
#[derive(Debug)]
pub struct FileStore {
    /// Files.
    pub files: HashMap<Uuid, FileRecord>,
    /// Storage key → file id.
    pub by_key: HashMap<String, Uuid>,
    /// Files waiting for the scanner.
    pub scan_queue: VecDeque<Uuid>,
    /// Key of the storage URL signatures.
    pub(crate) storage_secret: [u8; 32],
}

impl Default for FileStore {
    fn default() -> Self {
        let mut storage_secret = [0u8; 32];
        rand::fill(&mut storage_secret);
        Self {
            files: HashMap::new(),
            by_key: HashMap::new(),
            scan_queue: VecDeque::new(),
            storage_secret,
        }
    }
}

impl FileStore {
    /// Stores `file` under its id and storage key.
    pub fn insert(&mut self, file: FileRecord) {
        self.by_key.insert(file.key.clone(), file.id);
        self.files.insert(file.id, file);
    }

    /// Removes the file `id` and its storage key.
    pub fn remove(&mut self, id: &Uuid) -> Option<FileRecord> {
        let file = self.files.remove(id)?;
        self.by_key.remove(&file.key);
        Some(file)
    }
}

/// What the files domain needs of the store.
pub trait Host: setlists::Host + workers::Host {
    /// The files.
    fn files(&self) -> &FileStore;
    /// The files, to change.
    fn files_mut(&mut self) -> &mut FileStore;
    /// Whether the invoice `id` exists (for files whose parent is an invoice).
    fn invoice_exists(&self, id: &Uuid) -> bool;
}

/// What a file belongs to.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileParent {
    /// `event|setlist|invoice|user`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Parent id.
    pub id: Uuid,
}

/// A stored file.
#[derive(Clone, Debug, Serialize)]
pub struct FileRecord {
    /// Id.
    pub id: Uuid,
    /// Storage key (one URL path segment).
    #[serde(skip)]
    pub key: String,
    /// Base name.
    pub filename: String,
    /// MIME type.
    pub content_type: String,
    /// Registered size.
    pub size_bytes: u64,
    /// Registered SHA-256 (hex).
    pub sha256: String,
    /// `awaiting_upload|completed`.
    pub upload_status: String,
    /// `pending|clean|infected`.
    pub scan_status: String,
    /// When scanned.
    #[serde(with = "time::serde::rfc3339::option")]
    pub scanned_at: Option<OffsetDateTime>,
    /// Parent.
    pub parent: FileParent,
    /// Uploader (none for rendered files).
    pub created_by: Option<Uuid>,
    /// Tags.
    pub tags: Vec<String>,
    /// Smoke run.
    pub smoke_run_id: Option<String>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Stored bytes.
    #[serde(skip)]
    pub bytes: Option<Bytes>,
}

/// A fresh random storage key.
pub fn new_key() -> String {
    let mut b = [0u8; 24];
    rand::fill(&mut b);
    format!("o-{}", hex::encode(b))
}

/// The file routes and the storage endpoints.
pub fn routes<S: Host>() -> Router<Shared<S>> {
    let storage = Router::new()
        .route(
            "/storage/{key}",
            get(storage_get::<S>).put(storage_put::<S>),
        )
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .route("/api/files/uploads", post(create_upload::<S>))
        .route(
            "/api/files/{id}",
            get(get_file::<S>).delete(delete_file::<S>),
        )
        .route("/api/files/{id}/complete", post(complete_upload::<S>))
        .route("/api/files/{id}/download-url", get(download_url::<S>))
        .merge(storage)
}

// ---------- signing ----------

fn mac(secret: &[u8], method: &Method, path: &str, expires: &str) -> Option<HmacSha256> {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret).ok()?;
    mac.update(format!("{}\n{path}\n{expires}", method.as_str()).as_bytes());
    Some(mac)
}

/// Signs `method` + `path` + `expires`.
pub fn sign(secret: &[u8], method: &Method, path: &str, expires: i64) -> String {
    mac(secret, method, path, &expires.to_string())
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default()
}

/// Constant-time check of a signature (hex) over the raw `expires` string.
pub fn verify(secret: &[u8], method: &Method, path: &str, expires: &str, sig: &str) -> bool {
    let Ok(sig) = hex::decode(sig) else {
        return false;
    };
    mac(secret, method, path, expires).is_some_and(|m| m.verify_slice(&sig).is_ok())
}

fn signed_url<S: Host>(store: &S, base: &str, method: &Method, key: &str, expires: i64) -> String {
    let path = format!("/storage/{key}");
    let sig = sign(&store.files().storage_secret, method, &path, expires);
    format!("{base}{path}?expires={expires}&sig={sig}")
}

// ---------- access ----------

/// Whether `user` may read `parent`: `Err` is 403 (role) or 404 (absent).
fn can_read_parent<S: Host>(
    store: &S,
    user: &AuthUser,
    parent: &FileParent,
) -> Result<(), ApiError> {
    match parent.kind.as_str() {
        "event" => store
            .events()
            .events
            .contains_key(&parent.id)
            .then_some(())
            .ok_or_else(|| http::not_found("event")),
        "setlist" => store
            .setlists()
            .setlists
            .contains_key(&parent.id)
            .then_some(())
            .ok_or_else(|| http::not_found("setlist")),
        "invoice" => {
            http::require_role(user, OWNER_ACCOUNTANT)?;
            store
                .invoice_exists(&parent.id)
                .then_some(())
                .ok_or_else(|| http::not_found("invoice"))
        }
        "user" => {
            if parent.id != user.id && user.role != Role::Owner {
                return Err(http::forbidden());
            }
            store
                .users()
                .users
                .contains_key(&parent.id)
                .then_some(())
                .ok_or_else(|| http::not_found("user"))
        }
        _ => Err(http::invalid(
            "parent.type",
            "must be event, setlist, invoice or user",
        )),
    }
}

/// The file `id` if `user` may read it (404 otherwise: no existence leak).
fn readable<'a, S: Host>(
    state: &Shared<S>,
    store: &'a S,
    user: &AuthUser,
    id: &Uuid,
) -> Result<&'a FileRecord, ApiError> {
    let file = store
        .files()
        .files
        .get(id)
        .ok_or_else(|| http::not_found("file"))?;
    let unchecked = file.parent.kind == "invoice" && state.has_fault(&Fault::InvoiceFilesAnyRole);
    if !unchecked {
        can_read_parent(store, user, &file.parent).map_err(|_| http::not_found("file"))?;
    }
    Ok(file)
}

// ---------- API ----------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadCreate {
    filename: String,
    content_type: String,
    size_bytes: u64,
    sha256: String,
    #[serde(default)]
    parent: Option<FileParent>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    smoke_run_id: Option<String>,
}

fn valid_content_type(ct: &str) -> bool {
    let ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$&^_.+-".contains(&b))
    };
    ct.split_once('/').is_some_and(|(a, b)| ok(a) && ok(b))
}

async fn create_upload<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    http::require_role(&user, ALL_ROLES)?;
    let input: UploadCreate = http::parse_body(&headers, &body)?;
    let (tags, smoke_run_id) = http::tagging(&headers, input.tags, input.smoke_run_id)?;
    http::check_len("filename", &input.filename, 1, 255)?;
    if input.filename.contains(['/', '\\']) || input.filename.chars().any(char::is_control) {
        return Err(http::invalid("filename", "must be a base name"));
    }
    if !valid_content_type(&input.content_type) {
        return Err(http::invalid(
            "content_type",
            "must be a lowercase MIME type",
        ));
    }
    if input.size_bytes > MAX_FILE_BYTES {
        return Err(http::invalid("size_bytes", "must be at most 104857600"));
    }
    if input.sha256.len() != 64
        || !input
            .sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(http::invalid("sha256", "must be lowercase hex SHA-256"));
    }
    let mut store = state.store();
    let parent = input.parent.unwrap_or(FileParent {
        kind: "user".to_owned(),
        id: user.id,
    });
    can_read_parent(&*store, &user, &parent)?;
    let now = http::now();
    let file = FileRecord {
        id: Uuid::new_v4(),
        key: new_key(),
        filename: input.filename,
        content_type: input.content_type,
        size_bytes: input.size_bytes,
        sha256: input.sha256,
        upload_status: "awaiting_upload".to_owned(),
        scan_status: "pending".to_owned(),
        scanned_at: None,
        parent,
        created_by: Some(user.id),
        tags,
        smoke_run_id,
        created_at: now,
        updated_at: now,
        bytes: None,
    };
    let expires = now.unix_timestamp() + LINK_TTL_SECS;
    let url = signed_url(
        &*store,
        &http::base_url(&headers),
        &Method::PUT,
        &file.key,
        expires,
    );
    let body = json!({
        "file_id": file.id,
        "upload_url": url,
        "method": "PUT",
        "headers": { "Content-Type": file.content_type },
        "expires_at": http::fmt_time(OffsetDateTime::from_unix_timestamp(expires).unwrap_or(now)),
    });
    store.audit(
        "file.uploaded",
        Some(user.id),
        Some(format!("file:{}", file.id)),
        "unknown",
    );
    store.files_mut().insert(file);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn get_file<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<FileRecord>, ApiError> {
    http::require_role(&user, ALL_ROLES)?;
    let id = http::parse_id(&id, "file")?;
    let store = state.store();
    Ok(Json(readable(&state, &*store, &user, &id)?.clone()))
}

async fn delete_file<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    http::require_role(&user, ALL_ROLES)?;
    let id = http::parse_id(&id, "file")?;
    let mut store = state.store();
    let file = readable(&state, &*store, &user, &id)?;
    let allowed = match file.created_by {
        Some(uploader) => uploader == user.id || user.role == Role::Owner,
        None => true,
    };
    if !allowed {
        return Err(http::forbidden());
    }
    store.audit(
        "file.deleted",
        Some(user.id),
        Some(format!("file:{id}")),
        "unknown",
    );
    if state.has_fault(&Fault::DeleteNotDeleting) {
        return Ok(StatusCode::NO_CONTENT);
    }
    let files = store.files_mut();
    if files.remove(&id).is_some() {
        files.scan_queue.retain(|f| *f != id);
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn complete_upload<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    http::require_role(&user, ALL_ROLES)?;
    let id = http::parse_id(&id, "file")?;
    let mut store = state.store();
    let file = store
        .files_mut()
        .files
        .get_mut(&id)
        .filter(|f| f.created_by == Some(user.id))
        .ok_or_else(|| http::not_found("file"))?;
    if file.upload_status == "completed" {
        let view = file.clone();
        return Ok((StatusCode::ACCEPTED, Json(view)).into_response());
    }
    let Some(bytes) = &file.bytes else {
        return Err(http::conflict(
            "upload_incomplete",
            "nothing has been uploaded yet",
        ));
    };
    let digest = hex::encode(Sha256::digest(bytes));
    if bytes.len() as u64 != file.size_bytes || digest != file.sha256 {
        file.bytes = None;
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "checksum_mismatch",
            "uploaded bytes do not match size_bytes and sha256",
        ));
    }
    file.upload_status = "completed".to_owned();
    file.scan_status = "pending".to_owned();
    file.updated_at = http::now();
    let view = file.clone();
    store.files_mut().scan_queue.push_back(id);
    workers::ensure_started(&state, &mut store);
    workers::update_gauges(&state, &store);
    store.workers().scan_notify.notify_one();
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}

async fn download_url<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    http::require_role(&user, ALL_ROLES)?;
    let id = http::parse_id(&id, "file")?;
    let ttl = match q.get("ttl_secs") {
        None => LINK_TTL_SECS,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|t| (1..=LINK_TTL_SECS).contains(t))
            .ok_or_else(|| http::invalid("ttl_secs", "must be 1 to 900"))?,
    };
    let store = state.store();
    let file = readable(&state, &*store, &user, &id)?;
    downloadable(&state, file)?;
    let now = state.now();
    let expires = now.unix_timestamp() + ttl;
    let url = signed_url(
        &*store,
        &http::base_url(&headers),
        &Method::GET,
        &file.key,
        expires,
    );
    Ok(Json(json!({
        "url": url,
        "expires_at": http::fmt_time(OffsetDateTime::from_unix_timestamp(expires).unwrap_or(now)),
    })))
}

/// 409 unless the file is completed and clean.
fn downloadable<S>(state: &Shared<S>, file: &FileRecord) -> Result<(), ApiError> {
    if file.upload_status != "completed" || file.scan_status == "pending" {
        return Err(http::conflict(
            "scan_pending",
            "file has not been scanned yet",
        ));
    }
    if file.scan_status == "infected" && !state.has_fault(&Fault::InfectedDownloadable) {
        return Err(http::conflict(
            "file_infected",
            "file failed the malware scan and cannot be downloaded",
        ));
    }
    Ok(())
}

// ---------- storage ----------

fn signature_rejected(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, message)
}

/// Checks signature, then expiry, of a storage request.
fn check_signature<S: Host>(
    state: &Shared<S>,
    method: &Method,
    key: &str,
    q: &HashMap<String, String>,
) -> Result<(), ApiError> {
    let invalid = || signature_rejected("invalid_signature", "signature does not match");
    let expires_raw = q.get("expires").ok_or_else(invalid)?;
    let sig = q.get("sig").ok_or_else(invalid)?;
    if !state.has_fault(&Fault::SignatureNotChecked) {
        let secret = state.store().files().storage_secret;
        if !verify(
            &secret,
            method,
            &format!("/storage/{key}"),
            expires_raw,
            sig,
        ) {
            return Err(invalid());
        }
    }
    let expires: i64 = expires_raw.parse().map_err(|_| invalid())?;
    // Expired from the instant `expires` on (not through the whole second after
    // it): a URL asked for with ttl_secs=1 is refused within a second.
    if expires <= state.now().unix_timestamp() && !state.has_fault(&Fault::ExpiryNotEnforced) {
        return Err(signature_rejected("url_expired", "signed URL has expired"));
    }
    Ok(())
}

async fn storage_put<S: Host>(
    State(state): State<Shared<S>>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    check_signature(&state, &Method::PUT, &key, &q)?;
    let (id, size, content_type, completed) = {
        let store = state.store();
        let id = *store
            .files()
            .by_key
            .get(&key)
            .ok_or_else(|| http::not_found("file"))?;
        let file = store
            .files()
            .files
            .get(&id)
            .ok_or_else(|| http::not_found("file"))?;
        (
            id,
            file.size_bytes,
            file.content_type.clone(),
            file.upload_status == "completed" || file.created_by.is_none(),
        )
    };
    let sent_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !sent_type.eq_ignore_ascii_case(&content_type) {
        return Err(signature_rejected(
            "invalid_signature",
            "Content-Type differs from the registered one",
        ));
    }
    if completed {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "upload already completed; stored bytes are immutable",
        ));
    }
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "body exceeds registered size_bytes",
        )
    };
    if headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > size)
    {
        return Err(too_large());
    }
    let limit = usize::try_from(size).unwrap_or(usize::MAX);
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())?;
    let digest = hex::encode(Sha256::digest(&bytes));
    let mut store = state.store();
    let file = store
        .files_mut()
        .files
        .get_mut(&id)
        .ok_or_else(|| http::not_found("file"))?;
    file.bytes = Some(bytes);
    file.updated_at = http::now();
    Ok((StatusCode::OK, [(ETAG, format!("\"{digest}\""))]).into_response())
}

/// `attachment; filename="…"` plus `filename*` for non-ASCII names.
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_ascii() && ascii == name {
        return format!("attachment; filename=\"{ascii}\"");
    }
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

async fn storage_get<S: Host>(
    State(state): State<Shared<S>>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    check_signature(&state, &Method::GET, &key, &q)?;
    let store = state.store();
    let id = store
        .files()
        .by_key
        .get(&key)
        .ok_or_else(|| http::not_found("file"))?;
    let file = store
        .files()
        .files
        .get(id)
        .ok_or_else(|| http::not_found("file"))?;
    downloadable(&state, file)?;
    let bytes = file.bytes.clone().ok_or_else(|| http::not_found("file"))?;
    Ok((
        StatusCode::OK,
        [
            (CONTENT_TYPE, file.content_type.clone()),
            (
                CONTENT_DISPOSITION,
                if state.has_fault(&Fault::DownloadWrongFilename) {
                    content_disposition(&format!("renamed-{}", file.filename))
                } else {
                    content_disposition(&file.filename)
                },
            ),
            (CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

// ---------- scanner ----------

/// Whether `bytes` contain the EICAR test string.
pub fn is_infected(bytes: &[u8]) -> bool {
    bytes.windows(EICAR.len()).any(|w| w == EICAR)
}

/// Scans one queued file; `false` when the queue is empty.
pub(crate) async fn scan_one<S: Host>(state: Shared<S>) -> bool {
    let (id, bytes) = {
        let mut store = state.store();
        let Some(id) = store.files_mut().scan_queue.pop_front() else {
            return false;
        };
        workers::update_gauges(&state, &store);
        match store.files().files.get(&id) {
            Some(f) => (id, f.bytes.clone().unwrap_or_default()),
            None => return true,
        }
    };
    let infected = tokio::task::spawn_blocking(move || is_infected(&bytes))
        .await
        .unwrap_or(true);
    let mut store = state.store();
    let Some(file) = store.files_mut().files.get_mut(&id) else {
        return true;
    };
    let now = http::now();
    file.scan_status = if infected { "infected" } else { "clean" }.to_owned();
    file.scanned_at = Some(now);
    file.updated_at = now;
    let data = serde_json::to_value(&*file).unwrap_or_default();
    webhooks::emit(&state, &mut store, "file.scanned", data);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_method_path_and_expiry() {
        let secret = [7u8; 32];
        let sig = sign(&secret, &Method::GET, "/storage/k", 100);
        assert_eq!(sig.len(), 64);
        assert!(verify(&secret, &Method::GET, "/storage/k", "100", &sig));
        assert!(!verify(&secret, &Method::PUT, "/storage/k", "100", &sig));
        assert!(!verify(&secret, &Method::GET, "/storage/j", "100", &sig));
        assert!(!verify(&secret, &Method::GET, "/storage/k", "101", &sig));
        assert!(!verify(&secret, &Method::GET, "/storage/k", "0100", &sig));
        assert!(!verify(&secret, &Method::GET, "/storage/k", "100", "zz"));
    }

    #[test]
    fn eicar_and_dispositions() {
        let mut body = b"hello ".to_vec();
        body.extend_from_slice(EICAR);
        assert!(is_infected(&body));
        assert!(!is_infected(b"hello"));
        assert_eq!(
            content_disposition("a.txt"),
            "attachment; filename=\"a.txt\""
        );
        assert_eq!(
            content_disposition("ü.txt"),
            "attachment; filename=\"_.txt\"; filename*=UTF-8''%C3%BC.txt"
        );
    }
}
