//! The five StageOS roles, as the contract names them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The five StageOS roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Organisation owner (TOTP enabled).
    Owner,
    /// Tour manager.
    Manager,
    /// Band member.
    Member,
    /// Crew.
    Crew,
    /// Accountant.
    Accountant,
}

impl Role {
    /// Every role, in seniority order.
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Manager,
        Role::Member,
        Role::Crew,
        Role::Accountant,
    ];

    /// Lowercase name as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Manager => "manager",
            Role::Member => "member",
            Role::Crew => "crew",
            Role::Accountant => "accountant",
        }
    }

    /// Environment variable holding this role's login email.
    pub fn email_var(self) -> String {
        format!("STAGEOS_{}_EMAIL", self.as_str().to_uppercase())
    }

    /// Environment variable holding this role's password.
    pub fn password_var(self) -> String {
        format!("STAGEOS_{}_PASSWORD", self.as_str().to_uppercase())
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown role `{s}` (expected owner, manager, member, crew or accountant)")
            })
    }
}
