//! Configuration: a TOML file of per-environment settings, `STAGEOS_*` environment
//! variables for every secret (never the file), and command-line overrides.
//!
//! The environment is read once into an [`EnvSnapshot`] so tests can pass their own.
//! Every error is one line that names what is wrong and how to fix it.
//!
//! ```toml
//! default_environment = "staging"
//!
//! [environments.staging]
//! base_url = "https://staging.stageos.example"
//! profile = "post-deploy"
//! request_timeout_ms = 10000
//! insecure_tls_hosts = []          # hosts whose TLS certificate is not verified
//! [environments.staging.users]     # login emails; passwords come from STAGEOS_<ROLE>_PASSWORD
//! owner = "smoke-owner@stageos.example"
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::catalogue::{self, Profile};
use stageos_smoke_http::credentials::{OWNER_TOTP_SECRET_VAR, Role};
use stageos_smoke_model::flowdef::FlowDef;

pub use stageos_smoke_http::http::HttpSettings;
pub use stageos_smoke_http::webhook_receiver::{WebhookMode, WebhookSettings};
pub use stageos_smoke_model::config::{CONFIG_VAR, ConfigError, ENVIRONMENT_VAR, EnvSnapshot};

/// Environment variable naming the target base URL (unset: the embedded reference).
pub const BASE_URL_VAR: &str = "STAGEOS_BASE_URL";
/// Environment variable naming the profile.
pub const PROFILE_VAR: &str = "STAGEOS_PROFILE";
/// Environment variable naming the report directory.
pub const REPORT_DIR_VAR: &str = "STAGEOS_REPORT_DIR";
/// Environment variable listing embedded-reference faults (comma separated), for demos and tests.
pub const FAULTS_VAR: &str = "STAGEOS_REFERENCE_FAULTS";
/// Environment variable listing embedded-reference conformance variations (comma separated).
pub const VARIATIONS_VAR: &str = "STAGEOS_REFERENCE_VARIATIONS";
/// `receiver` or `delivery-log` (overrides `webhook_mode`).
pub const WEBHOOK_MODE_VAR: &str = "STAGEOS_WEBHOOK_MODE";
/// Overrides the profile's (and the environment's) `latency_budget_ms`.
pub const LATENCY_BUDGET_VAR: &str = "STAGEOS_LATENCY_BUDGET_MS";
/// The URL the target reaches the receiver at (overrides `webhook_public_url`).
pub const WEBHOOK_PUBLIC_URL_VAR: &str = "STAGEOS_WEBHOOK_PUBLIC_URL";
/// Default config file name, read when present in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "stageos-smoke.toml";

/// Settings of one environment in the config file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentConfig {
    /// `embedded` or an http(s) URL.
    pub base_url: Option<String>,
    /// Profile name.
    pub profile: Option<String>,
    /// Per-request timeout.
    pub request_timeout_ms: Option<u64>,
    /// Per-step deadline.
    pub step_timeout_ms: Option<u64>,
    /// Age beyond which the `housekeeping` flow deletes smoke data left by killed
    /// runs, e.g. `1h` (the default), `30m`.
    pub sweep_older_than: Option<String>,
    /// Per-request latency budget of the auth flow, overriding the profile's (a
    /// staging environment on smaller machines than production, say).
    pub latency_budget_ms: Option<u64>,
    /// Largest response body read, in bytes.
    pub max_body_bytes: Option<u64>,
    /// Hosts whose TLS certificates are not verified (explicit, per host).
    #[serde(default)]
    pub insecure_tls_hosts: Vec<String>,
    /// Login emails per role.
    #[serde(default)]
    pub users: BTreeMap<Role, String>,
    /// Deadline of one wait for the target's background work (jobs, scans, webhook
    /// deliveries), in milliseconds.
    pub wait_deadline_ms: Option<u64>,
    /// How far ahead (by the target's clock) the availability flow sets the
    /// `respond_by` of the request whose late answer must be refused, in
    /// milliseconds: the flow waits that long. Default 2000 for a remote target
    /// (room for a slow link and an imprecise clock estimate), 500 for the
    /// embedded reference and loopback URLs.
    pub respond_by_window_ms: Option<u64>,
    /// Address the suite's webhook receiver binds (default `127.0.0.1:0`).
    pub webhook_bind: Option<String>,
    /// URL the target delivers webhooks to, when the receiver sits behind a
    /// tunnel or proxy (default: the receiver's own address).
    pub webhook_public_url: Option<String>,
    /// `receiver` (default) or `delivery-log` when the target cannot reach the suite.
    pub webhook_mode: Option<WebhookMode>,
    /// Verification gates: expected release, other services, CloudWatch, history.
    pub gates: Option<stageos_smoke_gates::settings::GatesFileConfig>,
}

/// The config file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Environment used when none is named.
    pub default_environment: Option<String>,
    /// Environments by name.
    #[serde(default)]
    pub environments: BTreeMap<String, EnvironmentConfig>,
}

const SECRET_KEY_WORDS: &[&str] = &["password", "secret", "token", "totp", "cookie"];

impl ConfigFile {
    /// Parse a config file's text; `path` is for messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let value: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Malformed {
            path: path.to_owned(),
            message: one_line(&e.to_string()),
        })?;
        if let Some(key) = find_secret_key(&value, "") {
            let hint_var = if key.contains("totp") {
                OWNER_TOTP_SECRET_VAR.to_owned()
            } else {
                "STAGEOS_<ROLE>_PASSWORD".to_owned()
            };
            return Err(ConfigError::SecretInFile {
                path: path.to_owned(),
                key,
                hint_var,
            });
        }
        toml::from_str(text).map_err(|e| ConfigError::Malformed {
            path: path.to_owned(),
            message: one_line(&e.to_string()),
        })
    }

    /// Read and parse a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }
}

fn find_secret_key(table: &toml::Table, prefix: &str) -> Option<String> {
    for (k, v) in table {
        let dotted = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        let lower = k.to_lowercase();
        if SECRET_KEY_WORDS.iter().any(|w| lower.contains(w)) {
            return Some(dotted);
        }
        if let toml::Value::Table(t) = v
            && let Some(found) = find_secret_key(t, &dotted)
        {
            return Some(found);
        }
    }
    None
}

/// Collapse a multi-line parser message to one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Where the run goes.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetSpec {
    /// The in-process reference StageOS, optionally with faults.
    Embedded {
        /// Fault names, as the reference server's `--fault`.
        faults: Vec<String>,
        /// Conformance variation names, as the reference server's `--variation`.
        variations: Vec<String>,
    },
    /// A deployed StageOS.
    Remote {
        /// Its base URL.
        base_url: Url,
    },
}

/// What the caller (CLI or harness) says, above the file and the environment.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `embedded` or a URL.
    pub target: Option<String>,
    /// Profile name.
    pub profile: Option<String>,
    /// Environment section.
    pub environment: Option<String>,
    /// Config file.
    pub config: Option<PathBuf>,
    /// Report directory.
    pub report_dir: Option<PathBuf>,
    /// Faults for the embedded reference.
    pub faults: Vec<String>,
    /// Conformance variations for the embedded reference.
    pub variations: Vec<String>,
    /// Release version the target must report (`--expect-version`).
    pub expect_version: Option<String>,
}

/// Fully resolved settings of one run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where the run goes.
    pub target: TargetSpec,
    /// Profile name.
    pub profile_name: String,
    /// The profile.
    pub profile: Profile,
    /// HTTP limits.
    pub http: HttpSettings,
    /// Per-step deadline.
    pub step_timeout: Duration,
    /// Where reports go.
    pub report_dir: PathBuf,
    /// Login emails from the file (remote targets).
    pub user_emails: BTreeMap<Role, String>,
    /// `$GITHUB_STEP_SUMMARY`, if set.
    pub step_summary: Option<PathBuf>,
    /// Deadline of one wait for background work (jobs, scans, webhook deliveries).
    pub wait_deadline: Duration,
    /// The `respond_by` window the availability flow creates and waits out.
    pub respond_by_window: Duration,
    /// The housekeeping flow deletes smoke data older than this.
    pub sweep_older_than: Duration,
    /// Webhook receiver settings.
    pub webhook: WebhookSettings,
    /// Verification gates.
    pub gates: stageos_smoke_gates::GateSettings,
}

impl Settings {
    /// Resolve flags > environment > file > defaults.
    pub fn resolve(overrides: &Overrides, env: &EnvSnapshot) -> Result<Self, ConfigError> {
        let config_path = overrides
            .config
            .clone()
            .or_else(|| env.get(CONFIG_VAR).map(PathBuf::from));
        let file = match &config_path {
            Some(p) => ConfigFile::load(p)?,
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                ConfigFile::load(Path::new(DEFAULT_CONFIG_FILE))?
            }
            None => ConfigFile::default(),
        };
        let env_name = overrides
            .environment
            .clone()
            .or_else(|| env.get(ENVIRONMENT_VAR).map(str::to_owned))
            .or_else(|| file.default_environment.clone());
        let section = match env_name {
            Some(name) => file.environments.get(&name).cloned().ok_or_else(|| {
                ConfigError::UnknownEnvironment {
                    known: file
                        .environments
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", "),
                    name,
                }
            })?,
            None => EnvironmentConfig::default(),
        };

        if overrides.target.is_none() && env.is_set_but_empty(BASE_URL_VAR) {
            // Unset means "the embedded reference"; an empty value is a pipeline
            // whose secret did not resolve, and must not turn into a green run
            // against the in-process server.
            return Err(ConfigError::Invalid {
                what: BASE_URL_VAR.into(),
                value: String::new(),
                reason: "set but empty (hint: set it to the deployed StageOS URL, or unset it to run against the embedded reference)".into(),
            });
        }
        let target_text = overrides
            .target
            .clone()
            .or_else(|| env.get(BASE_URL_VAR).map(str::to_owned))
            .or_else(|| section.base_url.clone())
            .unwrap_or_else(|| "embedded".to_owned());
        let mut faults = overrides.faults.clone();
        if let Some(list) = env.get(FAULTS_VAR) {
            faults.extend(
                list.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty()),
            );
        }
        let mut variations = overrides.variations.clone();
        if let Some(list) = env.get(VARIATIONS_VAR) {
            variations.extend(
                list.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty()),
            );
        }
        let target = parse_target(&target_text, faults, variations)?;

        let profile_name = overrides
            .profile
            .clone()
            .or_else(|| env.get(PROFILE_VAR).map(str::to_owned))
            .or_else(|| section.profile.clone())
            .unwrap_or_else(|| catalogue::default_profile().to_owned());
        let mut profile = catalogue::profile(&profile_name)
            .map_err(|reason| ConfigError::Invalid {
                what: "profile".into(),
                value: profile_name.clone(),
                reason: format!("{reason} (hint: fix --profile or {PROFILE_VAR})"),
            })?
            .clone();
        if let Some(text) = env.get(LATENCY_BUDGET_VAR) {
            profile.latency_budget_ms =
                text.parse()
                    .ok()
                    .filter(|ms| *ms > 0)
                    .ok_or_else(|| ConfigError::Invalid {
                        what: LATENCY_BUDGET_VAR.into(),
                        value: text.to_owned(),
                        reason: "not a positive number of milliseconds (hint: e.g. 1500)".into(),
                    })?;
        } else if let Some(ms) = section.latency_budget_ms {
            profile.latency_budget_ms = ms;
        }

        let defaults = HttpSettings::default();
        let http = HttpSettings {
            request_timeout: section
                .request_timeout_ms
                .map(Duration::from_millis)
                .unwrap_or(defaults.request_timeout),
            connect_timeout: defaults.connect_timeout,
            max_body_bytes: section
                .max_body_bytes
                .map(|b| b as usize)
                .unwrap_or(defaults.max_body_bytes),
            insecure_tls_hosts: section.insecure_tls_hosts.clone(),
            in_flight: stageos_smoke_http::http::InFlight::new(profile.max_in_flight_requests),
        };
        let step_timeout = Duration::from_millis(section.step_timeout_ms.unwrap_or(60_000));
        let webhook = webhook_settings(&section, &target, env)?;
        let gates = stageos_smoke_gates::settings::resolve(
            section.gates.as_ref(),
            &profile.gates,
            env,
            overrides.expect_version.as_deref(),
        )?;
        let wait_deadline = Duration::from_millis(section.wait_deadline_ms.unwrap_or(45_000));
        let near = match &target {
            TargetSpec::Embedded { .. } => true,
            TargetSpec::Remote { base_url } => stageos_smoke_gates::settings::is_loopback(base_url),
        };
        let respond_by_window =
            Duration::from_millis(section.respond_by_window_ms.unwrap_or(if near {
                500
            } else {
                2000
            }));
        let report_dir = overrides
            .report_dir
            .clone()
            .or_else(|| env.get(REPORT_DIR_VAR).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("reports"));
        let sweep_older_than = match &section.sweep_older_than {
            None => Duration::from_secs(3600),
            Some(text) => {
                crate::flows::sweep::parse_age(text).map_err(|reason| ConfigError::Invalid {
                    what: "sweep_older_than".into(),
                    value: text.clone(),
                    reason,
                })?
            }
        };
        Ok(Settings {
            target,
            profile_name,
            profile,
            http,
            step_timeout,
            report_dir,
            user_emails: section.users,
            step_summary: env.get("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            wait_deadline,
            respond_by_window,
            sweep_older_than,
            webhook,
            gates,
        })
    }

    /// A printable target name (never holds credentials).
    pub fn target_label(&self) -> String {
        match &self.target {
            TargetSpec::Embedded { .. } => "embedded".to_owned(),
            TargetSpec::Remote { base_url } => base_url.to_string(),
        }
    }
}

/// The webhook receiver settings for `target`.
///
/// Without an explicit mode the suite decides: a target on this machine (the
/// embedded reference, a loopback URL) or a configured `webhook_public_url` /
/// `webhook_bind` means the receiver; a remote target that was told nowhere to
/// deliver means delivery-log mode, since it cannot reach 127.0.0.1 and the
/// receiver steps would fail on a healthy deploy. An explicit `receiver` that the
/// target cannot reach is a configuration error, for the same reason.
fn webhook_settings(
    section: &EnvironmentConfig,
    target: &TargetSpec,
    env: &EnvSnapshot,
) -> Result<WebhookSettings, ConfigError> {
    let mut w = WebhookSettings::default();
    let bind_given = section.webhook_bind.is_some();
    if let Some(b) = &section.webhook_bind {
        w.bind = b
            .parse()
            .map_err(|e: std::net::AddrParseError| ConfigError::Invalid {
                what: "webhook_bind".into(),
                value: b.clone(),
                reason: format!("{e} (hint: give an address like 0.0.0.0:8099)"),
            })?;
    }
    let (public_text, public_what) = match env.get(WEBHOOK_PUBLIC_URL_VAR) {
        Some(u) => (Some(u.to_owned()), WEBHOOK_PUBLIC_URL_VAR),
        None => (section.webhook_public_url.clone(), "webhook_public_url"),
    };
    if let Some(u) = public_text {
        let url = Url::parse(&u)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"));
        w.public_url =
            Some(
                url.ok_or_else(|| ConfigError::Invalid {
                    what: public_what.into(),
                    value: u.clone(),
                    reason:
                        "not an http(s) URL (hint: the URL the target can reach the receiver at)"
                            .into(),
                })?,
            );
    }
    let explicit = match env.get(WEBHOOK_MODE_VAR) {
        Some("receiver") => Some(WebhookMode::Receiver),
        Some("delivery-log") => Some(WebhookMode::DeliveryLog),
        Some(other) => {
            return Err(ConfigError::Invalid {
                what: WEBHOOK_MODE_VAR.into(),
                value: other.to_owned(),
                reason: "not a webhook mode (hint: receiver or delivery-log)".into(),
            });
        }
        None => section.webhook_mode,
    };
    let remote = match target {
        TargetSpec::Embedded { .. } => None,
        TargetSpec::Remote { base_url } => {
            (!stageos_smoke_gates::settings::is_loopback(base_url)).then_some(base_url)
        }
    };
    let reachable_receiver = w.public_url.is_some() || bind_given;
    (w.mode, w.mode_reason) = match (explicit, remote) {
        (Some(WebhookMode::DeliveryLog), _) => (
            WebhookMode::DeliveryLog,
            "webhook_mode = \"delivery-log\"".to_owned(),
        ),
        (Some(WebhookMode::Receiver), Some(url)) if !reachable_receiver => {
            return Err(ConfigError::Invalid {
                what: "webhook_mode".into(),
                value: "receiver".into(),
                reason: format!(
                    "{} cannot deliver to a receiver on {} (hint: set webhook_public_url / {WEBHOOK_PUBLIC_URL_VAR} and webhook_bind, or use webhook_mode = \"delivery-log\")",
                    url.origin().ascii_serialization(),
                    w.bind
                ),
            });
        }
        (Some(WebhookMode::Receiver), _) => (
            WebhookMode::Receiver,
            "webhook_mode = \"receiver\"".to_owned(),
        ),
        (None, None) => (
            WebhookMode::Receiver,
            "the target runs on this machine".to_owned(),
        ),
        (None, Some(_)) if reachable_receiver => (
            WebhookMode::Receiver,
            "webhook_public_url or webhook_bind is set".to_owned(),
        ),
        (None, Some(url)) => (
            WebhookMode::DeliveryLog,
            format!(
                "{} is not on this machine and no webhook_public_url is set, so it cannot reach the suite's receiver",
                url.origin().ascii_serialization()
            ),
        ),
    };
    Ok(w)
}

/// Parse `embedded` or an http(s) URL.
pub fn parse_target(
    text: &str,
    faults: Vec<String>,
    variations: Vec<String>,
) -> Result<TargetSpec, ConfigError> {
    if text == "embedded" {
        return Ok(TargetSpec::Embedded { faults, variations });
    }
    let invalid = |reason: &str| ConfigError::Invalid {
        what: "target".into(),
        value: text.to_owned(),
        reason: format!(
            "{reason} (hint: give `embedded` or an http(s) URL via --target or {BASE_URL_VAR})"
        ),
    };
    let url = Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("credentials in the URL are not allowed"));
    }
    if !faults.is_empty() {
        return Err(ConfigError::Invalid {
            what: "fault".into(),
            value: faults.join(","),
            reason: "faults can only be injected into the embedded reference target (hint: drop --fault or use --target embedded)".into(),
        });
    }
    if !variations.is_empty() {
        return Err(ConfigError::Invalid {
            what: "variation".into(),
            value: variations.join(","),
            reason: "variations can only be given to the embedded reference target (hint: drop --variation or use --target embedded)".into(),
        });
    }
    Ok(TargetSpec::Remote { base_url: url })
}

/// The roles and secrets the selected flows need, for early, complete errors.
pub fn required_secrets(flows: &[&FlowDef]) -> (BTreeSet<Role>, bool) {
    let roles = flows.iter().flat_map(|f| f.roles.iter().copied()).collect();
    let totp = flows.iter().any(|f| f.needs_owner_totp);
    (roles, totp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_in_file_is_refused_with_the_variable_to_use() {
        let text = "[environments.staging]\nbase_url = \"https://x\"\n[environments.staging.users]\nowner_password = \"hunter2\"\n";
        let err = ConfigFile::parse(text, Path::new("c.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("environments.staging.users.owner_password"),
            "{msg}"
        );
        assert!(msg.contains("STAGEOS_<ROLE>_PASSWORD"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn malformed_file_is_one_line() {
        let err = ConfigFile::parse("[environments\nx=", Path::new("c.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("malformed config file c.toml"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn unknown_key_is_malformed() {
        let err = ConfigFile::parse("[environments.a]\nbase_urll = \"x\"\n", Path::new("c.toml"))
            .unwrap_err();
        assert!(err.to_string().contains("base_urll"), "{err}");
    }

    #[test]
    fn target_parsing() {
        assert_eq!(
            parse_target("embedded", vec![], vec![]).unwrap(),
            TargetSpec::Embedded {
                faults: vec![],
                variations: vec![]
            }
        );
        assert!(parse_target("ftp://x", vec![], vec![]).is_err());
        assert!(parse_target("https://u:p@x", vec![], vec![]).is_err());
        assert!(parse_target("https://x", vec!["health-degraded".into()], vec![]).is_err());
        assert!(parse_target("https://x", vec![], vec!["gzip".into()]).is_err());
    }

    #[test]
    fn flags_beat_env_beat_defaults() {
        let env =
            EnvSnapshot::from_pairs([(BASE_URL_VAR, "http://127.0.0.1:9"), (PROFILE_VAR, "full")]);
        let s = Settings::resolve(&Overrides::default(), &env).unwrap();
        assert_eq!(s.profile_name, "full");
        assert_eq!(s.target_label(), "http://127.0.0.1:9/");
        let o = Overrides {
            target: Some("embedded".into()),
            ..Overrides::default()
        };
        let s = Settings::resolve(&o, &env).unwrap();
        assert_eq!(s.target_label(), "embedded");
    }

    #[test]
    fn empty_base_url_is_an_error_not_the_embedded_reference() {
        let env = EnvSnapshot::from_pairs([(BASE_URL_VAR, "")]);
        let msg = Settings::resolve(&Overrides::default(), &env)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains(BASE_URL_VAR) && msg.contains("set but empty"),
            "{msg}"
        );
        let s = Settings::resolve(&Overrides::default(), &EnvSnapshot::default()).unwrap();
        assert_eq!(s.target_label(), "embedded", "unset still means embedded");
    }

    #[test]
    fn webhook_mode_follows_whether_the_target_can_reach_the_receiver() {
        let mode = |pairs: &[(&str, &str)]| {
            Settings::resolve(
                &Overrides::default(),
                &EnvSnapshot::from_pairs(pairs.to_vec()),
            )
            .map(|s| (s.webhook.mode, s.webhook.mode_reason))
            .map_err(|e| e.to_string())
        };
        assert_eq!(mode(&[]).unwrap().0, WebhookMode::Receiver, "embedded");
        assert_eq!(
            mode(&[(BASE_URL_VAR, "http://127.0.0.1:8080")]).unwrap().0,
            WebhookMode::Receiver
        );
        let (m, why) = mode(&[(BASE_URL_VAR, "https://staging.stageos.example")]).unwrap();
        assert_eq!(m, WebhookMode::DeliveryLog);
        assert!(why.contains("https://staging.stageos.example"), "{why}");
        assert_eq!(
            mode(&[
                (BASE_URL_VAR, "https://staging.stageos.example"),
                (WEBHOOK_PUBLIC_URL_VAR, "https://hooks.ci.example/x"),
            ])
            .unwrap()
            .0,
            WebhookMode::Receiver
        );
        let err = mode(&[
            (BASE_URL_VAR, "https://staging.stageos.example"),
            (WEBHOOK_MODE_VAR, "receiver"),
        ])
        .unwrap_err();
        assert!(err.contains("cannot deliver to a receiver"), "{err}");
        assert_eq!(
            mode(&[(WEBHOOK_MODE_VAR, "delivery-log")]).unwrap().0,
            WebhookMode::DeliveryLog
        );
        assert!(mode(&[(WEBHOOK_MODE_VAR, "sometimes")]).is_err());
    }

    #[test]
    fn latency_budget_env_beats_environment_beats_profile() {
        let budget = |pairs: &[(&str, &str)]| {
            Settings::resolve(
                &Overrides::default(),
                &EnvSnapshot::from_pairs(pairs.to_vec()),
            )
            .map(|s| s.profile.latency_budget_ms)
            .map_err(|e| e.to_string())
        };
        assert_eq!(budget(&[]).unwrap(), 1000, "the post-deploy profile's");
        assert_eq!(budget(&[(LATENCY_BUDGET_VAR, "2500")]).unwrap(), 2500);
        let err = budget(&[(LATENCY_BUDGET_VAR, "fast")]).unwrap_err();
        assert!(err.contains(LATENCY_BUDGET_VAR), "{err}");
    }
}
