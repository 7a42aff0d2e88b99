//! What every layer needs to know of configuration without depending on the
//! config parser: the process environment read once ([`EnvSnapshot`]) and the
//! error a bad setting gives ([`ConfigError`]: one line naming what is wrong and
//! how to fix it).

use std::collections::HashMap;
use std::path::PathBuf;

use thiserror::Error;

/// Environment variable naming the config file.
pub const CONFIG_VAR: &str = "STAGEOS_CONFIG";
/// Environment variable naming the environment section of the config file.
pub const ENVIRONMENT_VAR: &str = "STAGEOS_ENVIRONMENT";

/// A configuration problem: the run cannot check anything.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error(
        "failed to read config file {path}: {source} (hint: fix the path given by --config or {CONFIG_VAR})"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys.
    #[error(
        "malformed config file {path}: {message} (hint: see the configuration reference in README.md)"
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What the parser said, on one line.
        message: String,
    },
    /// A secret was written into the file.
    #[error(
        "config file {path} holds a secret at `{key}`: secrets are never read from the file (hint: remove it and set {hint_var} instead)"
    )]
    SecretInFile {
        /// The file.
        path: PathBuf,
        /// Dotted key.
        key: String,
        /// The variable to use instead.
        hint_var: String,
    },
    /// A required secret is missing from the environment.
    #[error("missing secret {var}: the {purpose} (hint: export {var}=… in the job's secret store)")]
    MissingSecret {
        /// The variable.
        var: String,
        /// What it is for.
        purpose: String,
    },
    /// A setting has an invalid value.
    #[error("invalid {what} `{value}`: {reason}")]
    Invalid {
        /// Which setting.
        what: String,
        /// Its value.
        value: String,
        /// Why and how to fix.
        reason: String,
    },
    /// The environment named does not exist in the file.
    #[error(
        "unknown environment `{name}` (known: {known}; hint: fix --environment or {ENVIRONMENT_VAR})"
    )]
    UnknownEnvironment {
        /// The name.
        name: String,
        /// The known names.
        known: String,
    },
}

/// The process environment, read once.
#[derive(Clone, Debug, Default)]
pub struct EnvSnapshot {
    vars: HashMap<String, String>,
}

impl EnvSnapshot {
    /// Capture the relevant variables of the current process.
    pub fn capture() -> Self {
        let vars = std::env::vars()
            .filter(|(k, _)| {
                k.starts_with("STAGEOS_")
                    || matches!(k.as_str(), "GITHUB_STEP_SUMMARY" | "CI" | "NO_COLOR")
            })
            .collect();
        Self { vars }
    }

    /// From explicit pairs (tests).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Whether a variable is set to the empty string (a CI secret that did not
    /// resolve, typically): never silently the same as unset.
    pub fn is_set_but_empty(&self, key: &str) -> bool {
        self.vars.get(key).is_some_and(|v| v.is_empty())
    }

    /// A variable, if set and non-empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}
