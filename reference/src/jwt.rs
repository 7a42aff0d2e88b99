//! HS256 JSON Web Tokens with hmac + sha2 + base64.
//!
//! Access tokens are short-lived JWTs as in production StageOS. A JWT crate
//! would bring a second crypto stack (see crates.md); HS256 is 30 lines. The
//! verifier pins `alg` to HS256 (no `none`, no key confusion) and compares the
//! MAC in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::credentials::Role;

type HmacSha256 = Hmac<Sha256>;

/// Access-token lifetime in seconds (the contract allows at most 15 minutes).
pub const ACCESS_TTL_SECS: i64 = 900;

/// Claims of a StageOS access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: Uuid,
    /// Role at issue time.
    pub role: Role,
    /// Expiry, unix seconds.
    pub exp: i64,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Token id.
    pub jti: Uuid,
    /// Session (refresh-token family) the token belongs to; logout revokes it.
    pub sid: Uuid,
}

/// Why a token was rejected (never shown to clients beyond `unauthorized`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url parts of JSON.
    #[error("malformed token")]
    Malformed,
    /// Header `alg` is not HS256.
    #[error("unsupported algorithm")]
    Algorithm,
    /// MAC mismatch.
    #[error("bad signature")]
    Signature,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// The key could not be used.
    #[error("failed to initialise hmac")]
    Key,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: Option<String>,
}

fn mac(key: &[u8], signing_input: &str) -> Result<HmacSha256, JwtError> {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).map_err(|_| JwtError::Key)?;
    mac.update(signing_input.as_bytes());
    Ok(mac)
}

/// Signs `claims` with `key`.
pub fn encode(key: &[u8], claims: &Claims) -> Result<String, JwtError> {
    let header = serde_json::to_vec(&Header {
        alg: "HS256".into(),
        typ: Some("JWT".into()),
    })
    .map_err(|_| JwtError::Malformed)?;
    let payload = serde_json::to_vec(claims).map_err(|_| JwtError::Malformed)?;
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = mac(key, &signing_input)?.finalize().into_bytes();
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// Verifies `token` with `key` at unix time `now` and returns its claims.
pub fn decode(key: &[u8], token: &str, now: i64) -> Result<Claims, JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header: Header = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Malformed)?;
    if header.alg != "HS256" {
        return Err(JwtError::Algorithm);
    }
    let signature = URL_SAFE_NO_PAD.decode(s).map_err(|_| JwtError::Malformed)?;
    mac(key, &format!("{h}.{p}"))?
        .verify_slice(&signature)
        .map_err(|_| JwtError::Signature)?;
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Malformed)?;
    if claims.exp <= now {
        return Err(JwtError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: Uuid::new_v4(),
            role: Role::Crew,
            exp,
            iat: 0,
            jti: Uuid::new_v4(),
            sid: Uuid::new_v4(),
        }
    }

    #[test]
    fn round_trip_and_rejections() {
        let key = b"0123456789abcdef0123456789abcdef";
        let c = claims(1000);
        let token = encode(key, &c).unwrap_or_default();
        assert_eq!(decode(key, &token, 10), Ok(c));
        assert_eq!(decode(key, &token, 1000), Err(JwtError::Expired));
        assert_eq!(decode(b"other key", &token, 10), Err(JwtError::Signature));
        let mut tampered = token.clone();
        tampered.push('A');
        assert!(decode(key, &tampered, 10).is_err());
        assert_eq!(decode(key, "a.b", 10), Err(JwtError::Malformed));
        // alg=none is refused even with an empty signature.
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let payload = token.split('.').nth(1).unwrap_or_default();
        assert_eq!(
            decode(key, &format!("{none_header}.{payload}."), 10),
            Err(JwtError::Algorithm)
        );
    }

    #[test]
    fn hs256_matches_rfc7515_example() {
        // RFC 7515 appendix A.1 signing input and key.
        let key = URL_SAFE_NO_PAD
            .decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
            .unwrap_or_default();
        let input = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
        let sig = mac(&key, input)
            .map(|m| URL_SAFE_NO_PAD.encode(m.finalize().into_bytes()))
            .unwrap_or_default();
        assert_eq!(sig, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    }
}
