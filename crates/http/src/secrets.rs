//! Secret hygiene: every secret the run knows is registered here, and every string
//! that leaves the process (terminal, JUnit, JSON, Markdown) goes through
//! [`Redactor::redact`] at the point of writing.
//!
//! Secrets come from configuration (passwords, TOTP seeds) and from responses
//! (access/refresh tokens, MFA tokens, recovery codes, webhook secrets, signed-URL
//! signatures). [`Redactor::learn_from_json`] registers the values of secret-looking
//! fields automatically, so a flow cannot forget to.

use std::sync::{Arc, RwLock};

use serde_json::Value;

/// Replacement text for a redacted secret.
pub const REDACTED: &str = "[REDACTED]";

/// JSON field names whose string values are secrets.
const SECRET_FIELDS: &[&str] = &[
    "access_token",
    "refresh_token",
    "mfa_token",
    "secret",
    "otpauth_url",
    "recovery_codes",
    "recovery_code",
    "password",
    "token",
];

/// Shared, append-only set of secret values.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    known: Arc<RwLock<Vec<String>>>,
}

impl Redactor {
    /// An empty redactor.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register a secret value. Very short values (< 4 chars) are ignored: they
    /// would shred ordinary text and cannot be meaningfully leaked.
    pub fn add(&self, secret: impl AsRef<str>) {
        let s = secret.as_ref();
        if s.len() < 4 {
            return;
        }
        // A secret holding `"` or `\` also travels JSON-escaped (a login body, an
        // answer excerpt in the debug log): register that form too.
        let json = serde_json::to_string(s).unwrap_or_default();
        let json = json.get(1..json.len().saturating_sub(1)).unwrap_or("");
        let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
        for form in [s, json] {
            if !form.is_empty() && !known.iter().any(|k| k == form) {
                known.push(form.to_owned());
            }
        }
        // Longest first, so a secret that contains another is replaced whole.
        known.sort_by_key(|k| std::cmp::Reverse(k.len()));
    }

    /// Register the values of secret-looking fields anywhere in a JSON document.
    pub fn learn_from_json(&self, value: &Value) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    if SECRET_FIELDS.contains(&k.as_str()) {
                        self.add_all_strings(v);
                    } else {
                        self.learn_from_json(v);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| self.learn_from_json(v)),
            _ => {}
        }
    }

    fn add_all_strings(&self, value: &Value) {
        match value {
            Value::String(s) => self.add(s),
            Value::Array(items) => items.iter().for_each(|v| self.add_all_strings(v)),
            Value::Object(map) => map.values().for_each(|v| self.add_all_strings(v)),
            _ => {}
        }
    }

    /// Replace every known secret in `text`.
    pub fn redact(&self, text: &str) -> String {
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_owned();
        for k in known.iter() {
            if out.contains(k.as_str()) {
                out = out.replace(k.as_str(), REDACTED);
            }
        }
        out
    }

    /// All registered values (for tests that scan artifacts).
    pub fn known(&self) -> Vec<String> {
        self.known.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_also_redacted_in_its_json_escaped_form() {
        let r = Redactor::new();
        r.add(r#"pa"ss\w0rd"#);
        let body = serde_json::json!({ "password": r#"pa"ss\w0rd"# }).to_string();
        assert_eq!(r.redact(&body), format!(r#"{{"password":"{REDACTED}"}}"#));
    }

    #[test]
    fn redacts_learned_json_secrets_longest_first() {
        let r = Redactor::new();
        r.add("abcd");
        r.learn_from_json(&serde_json::json!({
            "access_token": "abcdefgh",
            "user": {"email": "a@b.c"},
            "recovery_codes": ["1111-2222", "3333-4444"]
        }));
        assert_eq!(r.redact("t=abcdefgh x=abcd"), "t=[REDACTED] x=[REDACTED]");
        assert_eq!(r.redact("codes 3333-4444"), "codes [REDACTED]");
        assert_eq!(r.redact("a@b.c"), "a@b.c");
    }

    #[test]
    fn ignores_tiny_values() {
        let r = Redactor::new();
        r.add("ok");
        assert_eq!(r.redact("ok fine"), "ok fine");
    }
}
