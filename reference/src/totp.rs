//! TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps, ±1 step of skew).
//!
//! Thin wrappers over totp-rs so the rest of the server handles secrets as
//! raw bytes and never builds a `Totp` by hand.

use totp_rs::{Algorithm, Builder, Secret, Totp};

/// Issuer shown in authenticator apps.
pub const ISSUER: &str = "StageOS";

/// A random 160-bit secret as base32 (uppercase, no padding).
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::fill(&mut bytes);
    Secret::from(bytes).to_base32()
}

/// Decodes a base32 secret (case, spaces and padding tolerated); `None` when
/// it is not base32 or shorter than 128 bits.
pub fn decode_secret(secret: &str) -> Option<Vec<u8>> {
    let normalised = normalise_totp_secret(secret);
    let bytes = Secret::try_from_base32(&normalised).ok()?.as_ref().to_vec();
    (bytes.len() >= 16).then_some(bytes)
}

/// Normalises a base32 TOTP secret: uppercase, no spaces, no padding.
pub fn normalise_totp_secret(secret: &str) -> String {
    secret
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn build(secret: &[u8], account: Option<&str>) -> Option<Totp> {
    let mut builder = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_skew(1)
        .with_secret(secret.to_vec());
    if let Some(account) = account {
        builder = builder.with_account_name(account).with_issuer(Some(ISSUER));
    }
    builder.build().ok()
}

/// Whether `code` is valid for `secret` at unix time `now` (±1 step).
pub fn check(secret: &[u8], code: &str, now: u64) -> bool {
    let code = code.trim();
    build(secret, None).is_some_and(|totp| totp.check(code, now).is_some())
}

/// The code for `secret` at unix time `now` (used by tests and the CLI).
pub fn generate(secret: &[u8], now: u64) -> Option<String> {
    build(secret, None).map(|totp| totp.generate(now).to_string())
}

/// The `otpauth://totp/...` URL for an authenticator app, with every parameter
/// spelled out as the contract shows it (totp-rs leaves out the defaults).
pub fn otpauth_url(secret: &[u8], account: &str) -> Option<String> {
    let totp = build(secret, Some(account))?;
    let account: String = account
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    Some(format!(
        "otpauth://totp/{ISSUER}:{account}?secret={}&issuer={ISSUER}&algorithm=SHA1&digits=6&period=30",
        totp.secret().to_base32()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238 appendix B, SHA-1, T = 59 -> 94287082 (8 digits); 6 digits: 287082.
        let secret = b"12345678901234567890";
        assert_eq!(generate(secret, 59).as_deref(), Some("287082"));
        assert!(check(secret, "287082", 59));
        assert!(check(secret, "287082", 59 + 30), "one step of skew");
        assert!(!check(secret, "287082", 59 + 90));
        assert!(!check(secret, "000000x", 59));
    }

    #[test]
    fn generated_secret_decodes() {
        let secret = generate_secret();
        assert_eq!(decode_secret(&secret).map(|b| b.len()), Some(20));
        assert_eq!(
            decode_secret(&secret.to_ascii_lowercase()).map(|b| b.len()),
            Some(20)
        );
        assert!(decode_secret("AAAA").is_none());
        let url = otpauth_url(&decode_secret(&secret).unwrap_or_default(), "a@b.test");
        assert!(url.is_some_and(|u| u.starts_with("otpauth://totp/") && u.contains(&secret)));
    }
}
