//! Roles and the seeded organisation's credentials.
//!
//! The reference server seeds one organisation with one user per role. The
//! credentials are random per start (unless given), so no password is ever
//! committed; the suite reads them from the handle or from the `STAGEOS_*`
//! lines the binary prints.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};

pub use crate::totp::normalise_totp_secret;

/// A StageOS role (one organisation, five roles).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Owns the organisation; the only role with users, webhooks, audit logs.
    Owner,
    /// Runs events and setlists.
    Manager,
    /// Band member.
    Member,
    /// Crew.
    Crew,
    /// Invoices only.
    Accountant,
}

impl Role {
    /// Every role, in seeding order.
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Manager,
        Role::Member,
        Role::Crew,
        Role::Accountant,
    ];

    /// The lowercase wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Manager => "manager",
            Role::Member => "member",
            Role::Crew => "crew",
            Role::Accountant => "accountant",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of the five.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`; valid roles: owner, manager, member, crew, accountant")]
pub struct ParseRoleError(String);

impl FromStr for Role {
    type Err = ParseRoleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == lower)
            .ok_or_else(|| ParseRoleError(s.to_owned()))
    }
}

/// One seeded user and its password.
#[derive(Clone, Debug)]
pub struct SeedUser {
    /// User id.
    pub id: uuid::Uuid,
    /// Role.
    pub role: Role,
    /// Login email, e.g. `owner@stageos.test`.
    pub email: String,
    /// Plain password (the server only keeps a salted hash).
    pub password: String,
}

/// The seeded users and the owner's TOTP secret.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// One user per role, in [`Role::ALL`] order.
    pub users: Vec<SeedUser>,
    /// Owner's TOTP secret: base32, uppercase, no padding.
    pub owner_totp_secret: String,
}

/// Credentials that cannot seed the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// A role has no user.
    #[error("failed to seed users: no user for role {0}")]
    MissingRole(Role),
    /// The TOTP secret is not base32 or shorter than 128 bits.
    #[error("failed to seed users: owner TOTP secret is not base32 of at least 128 bits")]
    BadTotpSecret,
}

fn random_password() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

impl Credentials {
    /// Random passwords and a random 160-bit owner TOTP secret.
    pub fn generate() -> Self {
        let users = Role::ALL
            .into_iter()
            .map(|role| SeedUser {
                id: uuid::Uuid::new_v4(),
                role,
                email: format!("{}@stageos.test", role.as_str()),
                password: random_password(),
            })
            .collect();
        Self {
            users,
            owner_totp_secret: crate::totp::generate_secret(),
        }
    }

    /// The seeded user of `role`.
    ///
    /// # Panics
    /// If the credentials hold no user of that role; [`Credentials::generate`]
    /// always holds all five, and the server refuses to start without them.
    pub fn user(&self, role: Role) -> &SeedUser {
        match self.users.iter().find(|u| u.role == role) {
            Some(user) => user,
            None => panic!("credentials hold no {role} user"),
        }
    }

    /// `STAGEOS_<ROLE>_EMAIL`, `STAGEOS_<ROLE>_PASSWORD` for each role, then
    /// `STAGEOS_OWNER_TOTP_SECRET`.
    pub fn env_lines(&self) -> Vec<(String, String)> {
        let mut lines = Vec::with_capacity(self.users.len() * 2 + 1);
        for user in &self.users {
            let role = user.role.as_str().to_ascii_uppercase();
            lines.push((format!("STAGEOS_{role}_EMAIL"), user.email.clone()));
            lines.push((format!("STAGEOS_{role}_PASSWORD"), user.password.clone()));
        }
        lines.push((
            "STAGEOS_OWNER_TOTP_SECRET".to_owned(),
            self.owner_totp_secret.clone(),
        ));
        lines
    }

    /// Checks that every role has a user and the TOTP secret is usable.
    pub fn validate(&self) -> Result<(), CredentialsError> {
        for role in Role::ALL {
            if !self.users.iter().any(|u| u.role == role) {
                return Err(CredentialsError::MissingRole(role));
            }
        }
        crate::totp::decode_secret(&self.owner_totp_secret)
            .map(|_| ())
            .ok_or(CredentialsError::BadTotpSecret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_credentials_are_complete() {
        let creds = Credentials::generate();
        assert_eq!(creds.validate(), Ok(()));
        assert_eq!(creds.user(Role::Crew).email, "crew@stageos.test");
        assert_eq!(creds.owner_totp_secret.len(), 32);
        assert!(
            creds
                .owner_totp_secret
                .chars()
                .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))
        );
        let lines = creds.env_lines();
        assert_eq!(lines.len(), 11);
        assert_eq!(lines[0].0, "STAGEOS_OWNER_EMAIL");
        assert_eq!(lines[10].0, "STAGEOS_OWNER_TOTP_SECRET");
    }

    #[test]
    fn roles_parse_and_print() {
        for role in Role::ALL {
            assert_eq!(role.to_string().parse::<Role>(), Ok(role));
        }
        assert_eq!("Owner".parse::<Role>(), Ok(Role::Owner));
        assert!("admin".parse::<Role>().is_err());
        assert_eq!(
            serde_json::to_string(&Role::Accountant).ok().as_deref(),
            Some("\"accountant\"")
        );
    }
}
