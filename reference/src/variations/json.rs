//! JSON bodies re-rendered the ways RFC 8259 allows, and rewritten the ways the
//! contract allows (unknown members, other time offsets, mailbox case, URL forms).
//!
//! serde_json always writes one form (members sorted, compact, only the
//! mandatory escapes); a client that compares strings rather than values would
//! never notice. This module writes the other forms, so the suite's readers
//! meet them.

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use super::Variation;

/// The active variations that touch JSON.
pub(crate) struct JsonStyle {
    reversed: bool,
    pretty: bool,
    unicode_escapes: bool,
    escaped_solidus: bool,
    unknown_fields: bool,
    offset: bool,
    fractional: bool,
    email_case: bool,
    url_order: bool,
    otpauth: bool,
}

impl JsonStyle {
    /// The style of `active`, or `None` when no variation touches JSON.
    pub(crate) fn of(active: &[Variation]) -> Option<Self> {
        let has = |v| active.contains(&v);
        let style = Self {
            reversed: has(Variation::JsonReversedKeys),
            pretty: has(Variation::JsonPretty),
            unicode_escapes: has(Variation::JsonUnicodeEscapes),
            escaped_solidus: has(Variation::JsonEscapedSolidus),
            unknown_fields: has(Variation::JsonUnknownFields),
            offset: has(Variation::TimesWithOffset),
            fractional: has(Variation::TimesFractional),
            email_case: has(Variation::EmailDomainCase),
            url_order: has(Variation::SignedUrlQueryOrder),
            otpauth: has(Variation::OtpauthUriForm),
        };
        let any = style.reversed
            || style.pretty
            || style.unicode_escapes
            || style.escaped_solidus
            || style.unknown_fields
            || style.offset
            || style.fractional
            || style.email_case
            || style.url_order
            || style.otpauth;
        any.then_some(style)
    }

    /// `body` rewritten and re-rendered; `None` when it is not JSON.
    pub(crate) fn apply(&self, body: &[u8]) -> Option<Vec<u8>> {
        let mut value: Value = serde_json::from_slice(body).ok()?;
        if self.unknown_fields {
            add_unknown_fields(&mut value);
        }
        self.rewrite(&mut value, None);
        let mut out = String::with_capacity(body.len() * 2);
        self.write(&value, 0, &mut out);
        Some(out.into_bytes())
    }

    fn rewrite(&self, value: &mut Value, key: Option<&str>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    self.rewrite(v, Some(k));
                }
            }
            Value::Array(items) => {
                for v in items {
                    self.rewrite(v, key);
                }
            }
            Value::String(s) => {
                if let Some(new) = self.rewrite_string(s, key) {
                    *s = new;
                }
            }
            _ => {}
        }
    }

    fn rewrite_string(&self, s: &str, key: Option<&str>) -> Option<String> {
        if (self.offset || self.fractional)
            && s.len() >= 20
            && let Ok(t) = OffsetDateTime::parse(s, &Rfc3339)
        {
            return Some(self.time(t));
        }
        if self.email_case && key.is_some_and(|k| k == "email" || k.ends_with("_email")) {
            return upper_domain(s);
        }
        if self.otpauth && key == Some("otpauth_url") {
            return otpauth_form(s);
        }
        if self.url_order && key == Some("url") && s.contains("sig=") {
            return reversed_query(s);
        }
        None
    }

    fn time(&self, t: OffsetDateTime) -> String {
        let t = if self.offset {
            t.to_offset(UtcOffset::from_hms(2, 0, 0).unwrap_or(UtcOffset::UTC))
        } else {
            t
        };
        let mut s = t.format(&Rfc3339).unwrap_or_default();
        if self.fractional && t.nanosecond() == 0 && s.len() >= 19 {
            s.insert_str(19, ".000");
        }
        s
    }

    fn write(&self, value: &Value, depth: usize, out: &mut String) {
        match value {
            Value::Null | Value::Bool(_) | Value::Number(_) => out.push_str(&value.to_string()),
            Value::String(s) => self.write_string(s, out),
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.newline(depth + 1, out);
                    self.write(v, depth + 1, out);
                }
                if !items.is_empty() {
                    self.newline(depth, out);
                }
                out.push(']');
            }
            Value::Object(map) => {
                out.push('{');
                let members: Vec<(&String, &Value)> = if self.reversed {
                    map.iter().rev().collect()
                } else {
                    map.iter().collect()
                };
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.newline(depth + 1, out);
                    self.write_string(k, out);
                    out.push_str(if self.pretty { ": " } else { ":" });
                    self.write(v, depth + 1, out);
                }
                if !map.is_empty() {
                    self.newline(depth, out);
                }
                out.push('}');
            }
        }
    }

    fn newline(&self, depth: usize, out: &mut String) {
        if self.pretty {
            out.push('\n');
            for _ in 0..depth {
                out.push_str("  ");
            }
        }
    }

    fn write_string(&self, s: &str, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '/' if self.escaped_solidus => out.push_str("\\/"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 || (self.unicode_escapes && !c.is_ascii()) => {
                    let mut buf = [0u16; 2];
                    for unit in c.encode_utf16(&mut buf) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

/// Extra members in the top-level object, or in each object of a top-level array
/// (the response schemas are open; nested `Venue` and `SetlistItem` are not).
fn add_unknown_fields(value: &mut Value) {
    fn add(map: &mut Map<String, Value>) {
        map.insert(
            "x_vendor".to_owned(),
            serde_json::json!({ "trace_id": "4bf92f3577b34da6", "region": "eu-west-1", "tags": ["é", "/"] }),
        );
        map.insert("x_served_by".to_owned(), Value::from("edge-2"));
    }
    match value {
        Value::Object(map) => add(map),
        Value::Array(items) => {
            for item in items {
                if let Value::Object(map) = item {
                    add(map);
                }
            }
        }
        _ => {}
    }
}

fn upper_domain(s: &str) -> Option<String> {
    let (local, domain) = s.rsplit_once('@')?;
    Some(format!("{local}@{}", domain.to_ascii_uppercase()))
}

fn reversed_query(s: &str) -> Option<String> {
    let (base, query) = s.split_once('?')?;
    let mut pairs: Vec<&str> = query.split('&').collect();
    pairs.reverse();
    Some(format!("{base}?{}", pairs.join("&")))
}

/// Parameters reversed, the secret in lower case, the label's colon percent-encoded.
fn otpauth_form(s: &str) -> Option<String> {
    let (base, query) = s.split_once('?')?;
    let mut pairs: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some(("secret", v)) => format!("secret={}", v.to_ascii_lowercase()),
            _ => p.to_owned(),
        })
        .collect();
    pairs.reverse();
    let (scheme_host, label) = base.rsplit_once('/')?;
    let label = label.replacen(':', "%3A", 1);
    Some(format!("{scheme_host}/{label}?{}", pairs.join("&")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn style(active: &[Variation]) -> JsonStyle {
        JsonStyle::of(active).expect("a JSON variation")
    }

    #[test]
    fn rendered_forms_parse_to_the_same_value() {
        let body =
            br#"{"a":1,"b":{"c":"caf\u00e9 / x","d":[1,2]},"starts_at":"2026-12-02T10:00:00Z"}"#;
        let original: Value = serde_json::from_slice(body).unwrap_or_default();
        for v in [
            Variation::JsonReversedKeys,
            Variation::JsonPretty,
            Variation::JsonUnicodeEscapes,
            Variation::JsonEscapedSolidus,
        ] {
            let out = style(&[v]).apply(body).unwrap_or_default();
            let back: Value = serde_json::from_slice(&out).unwrap_or_default();
            assert_eq!(back, original, "{v}: {}", String::from_utf8_lossy(&out));
        }
        let out = style(&[Variation::JsonUnicodeEscapes, Variation::JsonEscapedSolidus])
            .apply(body)
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("caf\\u00e9 \\/ x"), "{text}");
    }

    #[test]
    fn times_keep_their_instant() {
        let out = style(&[Variation::TimesWithOffset, Variation::TimesFractional])
            .apply(br#"{"at":"2026-12-02T10:00:00Z"}"#)
            .unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&out),
            r#"{"at":"2026-12-02T12:00:00.000+02:00"}"#
        );
    }

    #[test]
    fn url_forms() {
        assert_eq!(
            otpauth_form("otpauth://totp/StageOS:a@b.c?secret=ABC&issuer=StageOS").as_deref(),
            Some("otpauth://totp/StageOS%3Aa@b.c?issuer=StageOS&secret=abc")
        );
        assert_eq!(
            reversed_query("http://x/f?expires=1&sig=2").as_deref(),
            Some("http://x/f?sig=2&expires=1")
        );
        assert_eq!(upper_domain("a@b.c").as_deref(), Some("a@B.C"));
    }
}
