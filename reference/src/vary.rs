//! The middleware that applies the active [`Variation`]s to every response:
//! other JSON forms, media-type spellings, header values, cookies, reason
//! phrases, content codings, chunked transfer and `Connection: close`.
//!
//! It sits outermost, so the handlers and the other middleware stay unaware
//! of variations; with none active it costs one read lock per request. It is
//! generic over the store ([`Shared<S>`]), so it sits below the composition.

use std::io::Write;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{
    ACCEPT_ENCODING, CONNECTION, CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_LENGTH,
    CONTENT_TYPE, DATE, SET_COOKIE, VARY,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::Shared;
use crate::variations::json::JsonStyle;
use crate::variations::{Variation, documents};

/// Largest body the middleware buffers to rewrite.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Applies the active variations to the response of `request`.
pub(crate) async fn vary<S: Send + Sync + 'static>(
    State(state): State<Shared<S>>,
    request: Request,
    next: Next,
) -> Response {
    let active = state.variations().get();
    if active.is_empty() {
        return next.run(request).await;
    }
    let accept = request
        .headers()
        .get(ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let head = request.method() == Method::HEAD;
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let (mut parts, body) = response.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let has = |v: Variation| active.contains(&v);
    // Marks the active ones of `group` as having changed this answer.
    let hit = |group: &[Variation]| {
        for v in group.iter().filter(|v| active.contains(v)) {
            state.variations().hit(*v);
        }
    };

    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let original = body.clone();
    let mut body = rewrite_body(&content_type, &path, body, &active, &state);
    if body != original {
        hit(BODY_VARIATIONS);
    }

    if !content_type.is_empty() {
        let new = documents::media_type(&content_type, &active);
        if new != content_type {
            hit(&[Variation::MediaTypeCase, Variation::MediaTypeParameters]);
        }
        set(&mut parts.headers, CONTENT_TYPE, &new);
    }
    if let Some(cd) = parts
        .headers
        .get(CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    {
        let new = documents::disposition(&cd, &active);
        if new != cd {
            hit(&[Variation::DispositionToken, Variation::DispositionExtended]);
        }
        set(&mut parts.headers, CONTENT_DISPOSITION, &new);
    }
    if has(Variation::CookieAttributeCase) {
        let cookies: Vec<String> = parts
            .headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|c| cookie_other_case(c, state.now()))
            .collect();
        parts.headers.remove(SET_COOKIE);
        if !cookies.is_empty() {
            hit(&[Variation::CookieAttributeCase]);
        }
        for c in cookies {
            append(&mut parts.headers, SET_COOKIE, &c);
        }
    }
    if has(Variation::LoadBalancerCookies) {
        let expires = httpdate::fmt_http_date((state.now() + time::Duration::days(7)).into());
        let sticky = format!("{:032x}", rand::random::<u128>());
        append(
            &mut parts.headers,
            SET_COOKIE,
            &format!("AWSALB={sticky}; Expires={expires}; Path=/"),
        );
        append(
            &mut parts.headers,
            SET_COOKIE,
            &format!("AWSALBCORS={sticky}; Expires={expires}; Path=/; SameSite=None; Secure"),
        );
        hit(&[Variation::LoadBalancerCookies]);
    }
    if has(Variation::ExtraHeaders) {
        for (name, value) in [
            ("x-vendor-trace", "4bf92f3577b34da6"),
            ("via", "1.1 edge-proxy (stageos)"),
            ("server", "stageos-edge/9.1"),
            ("x-cache", "Miss from cloudfront"),
        ] {
            append(&mut parts.headers, HeaderName::from_static(name), value);
        }
        hit(&[Variation::ExtraHeaders]);
    }
    if has(Variation::DateRfc850) || has(Variation::DateAsctime) {
        let date = other_date_form(state.now(), has(Variation::DateAsctime));
        set(&mut parts.headers, DATE, &date);
        hit(&[Variation::DateRfc850, Variation::DateAsctime]);
    } else if state.clock_offset_ms() != 0 {
        let date = httpdate::fmt_http_date(state.now().into());
        set(&mut parts.headers, DATE, &date);
    }
    if state.variations().clock_offset_ms() != 0 {
        hit(&[Variation::ClockAhead, Variation::ClockBehind]);
    }
    if has(Variation::ReasonPhrases) {
        let phrase: &'static [u8] = match parts.status.as_u16() {
            200 => b"Fine",
            201 => b"Made It",
            202 => b"Will Do",
            204 => b"Done, Nothing To Say",
            s if s >= 400 => b"Not Today",
            _ => b"As You Wish",
        };
        parts
            .extensions
            .insert(hyper::ext::ReasonPhrase::from_static(phrase));
        hit(&[Variation::ReasonPhrases]);
    }
    if has(Variation::ConnectionClose) {
        set(&mut parts.headers, CONNECTION, "close");
        hit(&[Variation::ConnectionClose]);
    }

    let no_body = head
        || body.is_empty()
        || parts.status == StatusCode::NO_CONTENT
        || parts.status == StatusCode::NOT_MODIFIED;
    if !no_body && !parts.headers.contains_key(CONTENT_ENCODING) {
        let coding = if has(Variation::Gzip) && accepts(&accept, "gzip") {
            Some("gzip")
        } else if has(Variation::Deflate) && accepts(&accept, "deflate") {
            Some("deflate")
        } else {
            None
        };
        if let Some(coding) = coding
            && let Some(encoded) = encode(coding, &body)
        {
            body = Bytes::from(encoded);
            set(&mut parts.headers, CONTENT_ENCODING, coding);
            append(&mut parts.headers, VARY, "Accept-Encoding");
            hit(&[if coding == "gzip" {
                Variation::Gzip
            } else {
                Variation::Deflate
            }]);
        }
    }
    if no_body {
        return Response::from_parts(parts, Body::from(body));
    }
    parts.headers.remove(CONTENT_LENGTH);
    if has(Variation::Chunked) {
        let chunks: Vec<Result<Bytes, std::io::Error>> = body
            .chunks(997)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        hit(&[Variation::Chunked]);
        return Response::from_parts(parts, Body::from_stream(futures::stream::iter(chunks)));
    }
    Response::from_parts(parts, Body::from(body))
}

/// The variations that rewrite bodies (JSON, CSV, Prometheus text).
const BODY_VARIATIONS: &[Variation] = &[
    Variation::JsonReversedKeys,
    Variation::JsonPretty,
    Variation::JsonUnknownFields,
    Variation::JsonUnicodeEscapes,
    Variation::JsonEscapedSolidus,
    Variation::TimesWithOffset,
    Variation::TimesFractional,
    Variation::EmailDomainCase,
    Variation::SignedUrlQueryOrder,
    Variation::OtpauthUriForm,
    Variation::CsvBom,
    Variation::CsvQuoteAll,
    Variation::CsvNoFinalLineBreak,
    Variation::PromLabelOrder,
    Variation::PromTimestamps,
    Variation::PromExtraFamilies,
    Variation::PromEscapes,
];

fn rewrite_body<S>(
    content_type: &str,
    path: &str,
    body: Bytes,
    active: &[Variation],
    state: &Shared<S>,
) -> Bytes {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        if let Some(style) = JsonStyle::of(active)
            && let Some(out) = style.apply(&body)
        {
            return Bytes::from(out);
        }
        return body;
    }
    if essence == "text/csv" {
        return Bytes::from(documents::csv(&body, active));
    }
    if path == "/metrics"
        && let Ok(text) = std::str::from_utf8(&body)
    {
        let now_ms = state.now().unix_timestamp() * 1000;
        return Bytes::from(documents::prometheus(text, active, now_ms));
    }
    body
}

fn set(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

fn append(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.append(name, v);
    }
}

/// Whether `accept` (lower case) names `coding` without `q=0`.
fn accepts(accept: &str, coding: &str) -> bool {
    accept.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        parts.next() == Some(coding)
            && !parts.any(|p| p.replace(' ', "") == "q=0" || p.replace(' ', "") == "q=0.0")
    })
}

fn encode(coding: &str, body: &[u8]) -> Option<Vec<u8>> {
    let level = flate2::Compression::default();
    match coding {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
            e.write_all(body).ok()?;
            e.finish().ok()
        }
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), level);
            e.write_all(body).ok()?;
            e.finish().ok()
        }
        _ => None,
    }
}

/// `name=value; A; B=c` with the attribute names in other case and reverse order,
/// and an `Expires` beside a `Max-Age` (which wins, RFC 6265 §5.3).
fn cookie_other_case(cookie: &str, now: time::OffsetDateTime) -> String {
    let mut parts = cookie.split(';').map(str::trim);
    let Some(pair) = parts.next() else {
        return cookie.to_owned();
    };
    let mut attrs: Vec<String> = Vec::new();
    let mut expires = None;
    for (i, a) in parts.enumerate() {
        let (name, value) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (a, None),
        };
        if name.eq_ignore_ascii_case("max-age")
            && let Some(secs) = value.and_then(|v| v.parse::<i64>().ok())
        {
            expires = Some(if secs <= 0 {
                time::OffsetDateTime::UNIX_EPOCH
            } else {
                now + time::Duration::seconds(secs)
            });
        }
        let name = if i % 2 == 0 {
            name.to_ascii_lowercase()
        } else {
            name.to_ascii_uppercase()
        };
        attrs.push(match value {
            Some(v) if name.eq_ignore_ascii_case("samesite") => {
                format!("{name}={}", v.to_ascii_lowercase())
            }
            Some(v) => format!("{name}={v}"),
            None => name,
        });
    }
    attrs.reverse();
    if let Some(at) = expires {
        attrs.push(format!("expires={}", httpdate::fmt_http_date(at.into())));
    }
    attrs.push("Priority=High".to_owned());
    std::iter::once(pair.to_owned())
        .chain(attrs)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The obsolete `Date` forms of RFC 9110 §5.6.7: rfc850 or asctime.
fn other_date_form(now: time::OffsetDateTime, asctime: bool) -> String {
    let t = now.to_offset(time::UtcOffset::UTC);
    let weekday = t.weekday();
    let month = t.month();
    let mon = &format!("{month}")[..3];
    if asctime {
        let wd = &format!("{weekday}")[..3];
        format!(
            "{wd} {mon} {:>2} {:02}:{:02}:{:02} {}",
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.year()
        )
    } else {
        format!(
            "{weekday}, {:02}-{mon}-{:02} {:02}:{:02}:{:02} GMT",
            t.day(),
            t.year() % 100,
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn obsolete_date_forms_parse() {
        let now = time::OffsetDateTime::from_unix_timestamp(1_764_680_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        for asctime in [false, true] {
            let s = other_date_form(now, asctime);
            let back = httpdate::parse_http_date(&s).map(time::OffsetDateTime::from);
            assert_eq!(back.ok(), Some(now), "{s}");
        }
    }

    #[test]
    fn cookie_keeps_its_flags() {
        let c = cookie_other_case(
            "stageos_refresh=abc; HttpOnly; Secure; SameSite=Strict; Path=/api/auth; Max-Age=60",
            time::OffsetDateTime::UNIX_EPOCH,
        );
        assert!(c.starts_with("stageos_refresh=abc; "), "{c}");
        for part in [
            "httponly",
            "SECURE",
            "samesite=strict",
            "PATH=/api/auth",
            "max-age=60",
            "expires=",
        ] {
            assert!(c.contains(part), "{part} in {c}");
        }
    }

    #[test]
    fn accept_encoding() {
        assert!(accepts("gzip, deflate", "gzip"));
        assert!(accepts("br;q=1, deflate", "deflate"));
        assert!(!accepts("gzip;q=0", "gzip"));
        assert!(!accepts("", "gzip"));
    }
}
