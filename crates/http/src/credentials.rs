//! Who the suite logs in as: one user per StageOS role, and the Owner's TOTP seed.
//!
//! Passwords and the seed are [`SecretString`]s: their `Debug` prints `[REDACTED]`,
//! and they are registered with the run's [`crate::secrets::Redactor`] as soon as
//! they are loaded, so no reporter can print them.

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};
use totp_rs::{Secret, Totp};

use crate::secrets::Redactor;

pub use stageos_smoke_model::role::Role;

/// Environment variable holding the Owner's TOTP seed (base32).
pub const OWNER_TOTP_SECRET_VAR: &str = "STAGEOS_OWNER_TOTP_SECRET";

/// Login of one user.
#[derive(Clone, Debug)]
pub struct UserCredential {
    /// The role this user must have.
    pub role: Role,
    /// Login email (not a secret).
    pub email: String,
    /// Password.
    pub password: SecretString,
}

/// All logins the run may use.
#[derive(Clone, Debug, Default)]
pub struct SuiteCredentials {
    users: BTreeMap<Role, UserCredential>,
    owner_totp_secret: Option<SecretString>,
}

impl SuiteCredentials {
    /// Add a user, registering its password with the redactor.
    pub fn insert(&mut self, user: UserCredential, redactor: &Redactor) {
        redactor.add(user.password.expose_secret());
        self.users.insert(user.role, user);
    }

    /// Set the Owner's TOTP seed, registering it with the redactor.
    pub fn set_owner_totp_secret(&mut self, secret: SecretString, redactor: &Redactor) {
        redactor.add(secret.expose_secret());
        redactor.add(secret.expose_secret().to_lowercase());
        self.owner_totp_secret = Some(secret);
    }

    /// The user for a role, if configured.
    pub fn user(&self, role: Role) -> Option<&UserCredential> {
        self.users.get(&role)
    }

    /// The Owner's TOTP seed, if configured.
    pub fn owner_totp_secret(&self) -> Option<&SecretString> {
        self.owner_totp_secret.as_ref()
    }
}

/// Build an RFC 6238 generator (SHA-1, 6 digits, 30 s) from a base32 seed.
///
/// Lowercase, spaces and `=` padding are normalised away first (totp-rs rejects them).
pub fn totp_from_base32(seed: &str) -> Result<Totp, String> {
    let normalised: String = seed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let secret = Secret::try_from_base32(&normalised)
        .map_err(|_| "the TOTP seed is not valid base32".to_owned())?;
    totp_rs::Builder::new()
        .with_secret(secret.as_bytes().to_vec())
        .build()
        .map_err(|e| format!("the TOTP seed is unusable: {e}"))
}

/// Current unix time in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238 appendix B, SHA-1 seed "12345678901234567890", T=59 → 94287082 (8 digits);
        // the 6-digit code is its last six digits.
        let seed = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        let totp = totp_from_base32(seed).expect("valid seed");
        assert_eq!(totp.generate(59).to_string(), "287082");
        assert_eq!(
            totp_from_base32("gezdgnbvgy3tqojqgezdgnbvgy3tqojq====")
                .map(|t| t.generate(59).to_string()),
            Ok("287082".to_owned())
        );
    }

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("drummer".parse::<Role>().is_err());
    }
}
