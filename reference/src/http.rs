//! Helpers every route handler borrows: body parsing with the contract's
//! 400/422 split, role checks, the common error responses, smoke tagging,
//! ids, timestamps and `ETag`/`If-Match`.
//!
//! Plumbing below the domains: it knows requests and responses, no store and
//! no route, so any domain can use it without the domains knowing each other.
//!
//! The contract checks authorisation before existence and existence before
//! the body, so handlers take the body as raw bytes and parse it with
//! [`parse_body`] only once the caller is known to be allowed.

use axum::body::Bytes;
use axum::http::header::{CONTENT_TYPE, HOST, IF_MATCH};
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use time::UtcOffset;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::credentials::Role;
use crate::error::ApiError;
use crate::extract::AuthUser;

/// Header the suite puts on every request.
pub const SMOKE_RUN_HEADER: &str = "x-stageos-smoke-run";

/// Roles that may write events and lock setlists.
pub const OWNER_MANAGER: &[Role] = &[Role::Owner, Role::Manager];
/// Roles that may read and write invoices.
pub const OWNER_ACCOUNTANT: &[Role] = &[Role::Owner, Role::Accountant];
/// Every role.
pub const ALL_ROLES: &[Role] = &Role::ALL;

/// 403 `forbidden` unless the caller has one of `roles`.
pub fn require_role(user: &AuthUser, roles: &[Role]) -> Result<(), ApiError> {
    if user.role_check_bypassed || roles.contains(&user.role) {
        Ok(())
    } else {
        Err(forbidden())
    }
}

/// 403 `forbidden`.
pub fn forbidden() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "your role does not allow this action",
    )
}

/// 404 `not_found` naming the kind of entity.
pub fn not_found(kind: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("{kind} not found"),
    )
}

/// 422 `validation_failed` for `field`.
pub fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        format!("{field}: {message}"),
    )
}

/// 409 with `code`.
pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, code, message)
}

/// A path id; a malformed one is 404 (the contract's decision).
pub fn parse_id(raw: &str, kind: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| not_found(kind))
}

/// Parses a JSON body: malformed JSON or a non-JSON content type is 400
/// `bad_request`; well-formed JSON of the wrong shape (unknown or missing
/// properties, wrong types) is 422 `validation_failed`.
pub fn parse_body<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<T, ApiError> {
    if let Some(ct) = headers.get(CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
        if !ct.contains("json") {
            return Err(bad_request("content type must be application/json"));
        }
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            e.to_string(),
        ),
        _ => bad_request(&format!("request body is not valid JSON: {e}")),
    })
}

/// 400 `bad_request`.
pub fn bad_request(message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
}

fn is_run_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// The `X-StageOS-Smoke-Run` header; a malformed one is 422.
pub fn smoke_run_header(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get(SMOKE_RUN_HEADER) {
        None => Ok(None),
        Some(v) => match v.to_str() {
            Ok(s) if is_run_id(s) => Ok(Some(s.to_owned())),
            _ => Err(invalid(
                "X-StageOS-Smoke-Run",
                "must be 1-64 characters of [A-Za-z0-9._-]",
            )),
        },
    }
}

/// Whether `tag` matches `^[a-z0-9][a-z0-9_.:-]{0,62}$`.
pub fn is_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b':' | b'-')
        })
}

/// Validates tags (pattern, unique, at most 20).
pub fn validate_tags(tags: &[String]) -> Result<(), ApiError> {
    if tags.len() > 20 {
        return Err(invalid("tags", "at most 20 tags"));
    }
    for (i, tag) in tags.iter().enumerate() {
        if !is_tag(tag) {
            return Err(invalid(&format!("tags[{i}]"), "must be a lowercase tag"));
        }
        if tags[..i].contains(tag) {
            return Err(invalid(&format!("tags[{i}]"), "duplicate tag"));
        }
    }
    Ok(())
}

/// Stored tagging of a new entity: the body's tags and run id, falling back
/// to the `X-StageOS-Smoke-Run` header for the run id.
pub fn tagging(
    headers: &HeaderMap,
    tags: Option<Vec<String>>,
    run_id: Option<String>,
) -> Result<(Vec<String>, Option<String>), ApiError> {
    let header_run = smoke_run_header(headers)?;
    let tags = tags.unwrap_or_default();
    validate_tags(&tags)?;
    if let Some(run) = &run_id
        && !is_run_id(run)
    {
        return Err(invalid(
            "smoke_run_id",
            "must be 1-64 characters of [A-Za-z0-9._-]",
        ));
    }
    Ok((tags, run_id.or(header_run)))
}

/// The optional `?tag=` filter; a malformed tag is 422.
pub fn tag_filter(tag: Option<&String>) -> Result<Option<String>, ApiError> {
    match tag {
        None => Ok(None),
        Some(t) if is_tag(t) => Ok(Some(t.clone())),
        Some(_) => Err(invalid("tag", "must be a lowercase tag")),
    }
}

/// Whether an entity counts as smoke data.
pub fn is_smoke(tags: &[String], run_id: &Option<String>) -> bool {
    run_id.is_some() || tags.iter().any(|t| t == "smoke")
}

/// Now, UTC.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// RFC 3339 in UTC.
pub fn fmt_time(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// Parses an RFC 3339 time (any offset) into UTC; 422 otherwise.
pub fn parse_time(field: &str, raw: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(raw, &Rfc3339)
        .map(|t| t.to_offset(UtcOffset::UTC))
        .map_err(|_| invalid(field, "must be an RFC 3339 date-time"))
}

/// `"<version>"`.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// What an `If-Match` header asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMatch {
    /// No header.
    Missing,
    /// `*`.
    Any,
    /// A version (`"3"`, `W/"3"` or `3`); `None` when unparseable.
    Version(Option<u64>),
}

/// Reads `If-Match`.
pub fn if_match(headers: &HeaderMap) -> IfMatch {
    let Some(value) = headers.get(IF_MATCH) else {
        return IfMatch::Missing;
    };
    let raw = value.to_str().unwrap_or_default().trim();
    if raw == "*" {
        return IfMatch::Any;
    }
    let raw = raw.strip_prefix("W/").unwrap_or(raw);
    IfMatch::Version(raw.trim_matches('"').parse::<u64>().ok())
}

/// 412 unless `wanted` allows `current` (a missing header allows anything).
pub fn check_if_match(wanted: IfMatch, current: u64, kind: &str) -> Result<(), ApiError> {
    match wanted {
        IfMatch::Missing | IfMatch::Any => Ok(()),
        IfMatch::Version(Some(v)) if v == current => Ok(()),
        IfMatch::Version(_) => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "version_conflict",
            format!("{kind} was modified (current version {current})"),
        )),
    }
}

/// 428 `precondition_required`.
pub fn precondition_required() -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_REQUIRED,
        "precondition_required",
        "If-Match header is required",
    )
}

/// `scheme://host` of the request, for absolute URLs (signed storage URLs).
pub fn base_url(headers: &HeaderMap) -> String {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or(v).trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let scheme = header("x-forwarded-proto")
        .filter(|s| s == "http" || s == "https")
        .unwrap_or_else(|| "http".to_owned());
    let host = header("x-forwarded-host")
        .or_else(|| header(HOST.as_str()))
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{scheme}://{host}")
}

/// Validates a string length in characters.
pub fn check_len(field: &str, value: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(invalid(
            field,
            &format!("must be {min} to {max} characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn tags_and_run_ids() {
        assert!(is_tag("smoke"));
        assert!(is_tag("run:2025.01-x_y"));
        assert!(!is_tag("Smoke"));
        assert!(!is_tag("-x"));
        assert!(!is_tag(""));
        assert!(is_run_id("20250101T120000Z-ab12cd"));
        assert!(!is_run_id("a b"));
        assert!(validate_tags(&["a".into(), "a".into()]).is_err());
    }

    #[test]
    fn if_match_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(if_match(&h), IfMatch::Missing);
        h.insert(IF_MATCH, HeaderValue::from_static("\"3\""));
        assert_eq!(if_match(&h), IfMatch::Version(Some(3)));
        h.insert(IF_MATCH, HeaderValue::from_static("W/\"4\""));
        assert_eq!(if_match(&h), IfMatch::Version(Some(4)));
        h.insert(IF_MATCH, HeaderValue::from_static("*"));
        assert_eq!(if_match(&h), IfMatch::Any);
        assert!(check_if_match(IfMatch::Version(Some(2)), 3, "event").is_err());
        assert!(check_if_match(IfMatch::Version(None), 3, "event").is_err());
        assert!(check_if_match(IfMatch::Version(Some(3)), 3, "event").is_ok());
    }

    #[test]
    fn body_errors_split_400_and_422() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct B {
            #[allow(dead_code)]
            a: u32,
        }
        let h = HeaderMap::new();
        let e = parse_body::<B>(&h, &Bytes::from_static(b"{")).err();
        assert_eq!(e.map(|e| e.code), Some("bad_request"));
        let e = parse_body::<B>(&h, &Bytes::from_static(b"{\"a\":1,\"b\":2}")).err();
        assert_eq!(e.map(|e| e.code), Some("validation_failed"));
        assert!(parse_body::<B>(&h, &Bytes::from_static(b"{\"a\":1}")).is_ok());
    }
}
