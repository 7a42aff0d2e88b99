//! The target of a run: the embedded reference StageOS (started in-process on a
//! loopback port, its generated credentials handed over directly) or a deployed
//! StageOS whose credentials come from `STAGEOS_*` variables.
//!
//! The embedded reference is behind the `reference` cargo feature (on by default):
//! a production build without it (`--no-default-features`) links no reference
//! server and can only go to a URL.

use std::collections::BTreeMap;

use secrecy::SecretString;
use url::Url;

use crate::config::{ConfigError, EnvSnapshot, Settings, TargetSpec, required_secrets};
use crate::embedded_cloud::PublishOwnTraffic;
use stageos_smoke_http::credentials::{OWNER_TOTP_SECRET_VAR, SuiteCredentials, UserCredential};
use stageos_smoke_http::secrets::Redactor;
use stageos_smoke_model::flowdef::FlowDef;

/// A prepared target.
pub struct Target {
    /// Base URL.
    pub base_url: Url,
    /// Logins.
    pub credentials: SuiteCredentials,
    /// The embedded server, when there is one (dropped = stopped).
    pub server: Option<EmbeddedServer>,
    /// Publishes the embedded server's ALB metrics, when it records them
    /// ([`prepare_recording`]).
    pub own_traffic: Option<PublishOwnTraffic>,
    /// Health URLs of the deployment's other services that the target knows
    /// itself (name → URL): the embedded reference's stand-ins for the worker and
    /// web; none for a URL (the environment's `gates.services` name them).
    pub services: BTreeMap<String, Url>,
}

/// The embedded reference server of a run.
#[cfg(feature = "reference")]
pub type EmbeddedServer = stageos_reference::RunningServer;

/// The embedded reference server of a run: none in a build without the
/// `reference` feature.
#[cfg(not(feature = "reference"))]
#[derive(Debug)]
pub enum EmbeddedServer {}

#[cfg(not(feature = "reference"))]
impl EmbeddedServer {
    /// Stop the server (there is none).
    pub async fn shutdown(self) {
        match self {}
    }
}

/// Why the target could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// Configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The embedded server could not start.
    #[error(
        "failed to start the embedded reference server: {0} (hint: is a loopback address available?)"
    )]
    Start(std::io::Error),
}

/// Prepare the target named by `settings` for `flows`.
pub async fn prepare(
    settings: &Settings,
    flows: &[&FlowDef],
    env: &EnvSnapshot,
    redactor: &Redactor,
) -> Result<Target, TargetError> {
    prepare_recording(settings, flows, env, redactor, false).await
}

/// As [`prepare`]; with `record_alb_metrics` the embedded server records its
/// ALB-like metrics from its first request, to be published to the run's emulator
/// ([`Target::own_traffic`]; see [`crate::embedded_cloud`]).
pub async fn prepare_recording(
    settings: &Settings,
    flows: &[&FlowDef],
    env: &EnvSnapshot,
    redactor: &Redactor,
    record_alb_metrics: bool,
) -> Result<Target, TargetError> {
    match &settings.target {
        TargetSpec::Embedded { faults, variations } => {
            embedded(faults, variations, redactor, record_alb_metrics).await
        }
        TargetSpec::Remote { base_url } => {
            let (roles, needs_totp) = required_secrets(flows);
            let mut credentials = SuiteCredentials::default();
            for role in roles {
                let email = env
                    .get(&role.email_var())
                    .map(str::to_owned)
                    .or_else(|| settings.user_emails.get(&role).cloned())
                    .ok_or_else(|| ConfigError::MissingSecret {
                        var: role.email_var(),
                        purpose: format!("login email of the {role} test user (or set users.{role} in the config file)"),
                    })?;
                let password =
                    env.get(&role.password_var())
                        .ok_or_else(|| ConfigError::MissingSecret {
                            var: role.password_var(),
                            purpose: format!("password of the {role} test user"),
                        })?;
                credentials.insert(
                    UserCredential {
                        role,
                        email,
                        password: SecretString::from(password.to_owned()),
                    },
                    redactor,
                );
            }
            if needs_totp {
                let seed =
                    env.get(OWNER_TOTP_SECRET_VAR)
                        .ok_or_else(|| ConfigError::MissingSecret {
                            var: OWNER_TOTP_SECRET_VAR.into(),
                            purpose: "base32 TOTP seed of the owner test user".into(),
                        })?;
                credentials.set_owner_totp_secret(SecretString::from(seed.to_owned()), redactor);
            }
            Ok(Target {
                base_url: base_url.clone(),
                credentials,
                server: None,
                own_traffic: None,
                services: BTreeMap::new(),
            })
        }
    }
}

/// Start the embedded reference StageOS with `faults`, and hand over its logins.
#[cfg(feature = "reference")]
async fn embedded(
    faults: &[String],
    variations: &[String],
    redactor: &Redactor,
    record_alb_metrics: bool,
) -> Result<Target, TargetError> {
    use std::str::FromStr;

    use stageos_reference::{Fault, RunningServer, ServerOptions, Variation};
    use stageos_smoke_http::credentials::Role;

    let faults = faults
        .iter()
        .map(|f| {
            Fault::from_str(f).map_err(|e| ConfigError::Invalid {
                what: "fault".into(),
                value: f.clone(),
                reason: e.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let variations = variations
        .iter()
        .map(|v| {
            Variation::from_str(v).map_err(|e| ConfigError::Invalid {
                what: "variation".into(),
                value: v.clone(),
                reason: e.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let server = RunningServer::start(ServerOptions {
        faults,
        variations,
        record_alb_metrics,
        ..ServerOptions::default()
    })
    .await
    .map_err(TargetError::Start)?;
    let own_traffic = record_alb_metrics.then(|| {
        let alb = server.alb_metrics();
        let publish: PublishOwnTraffic = std::sync::Arc::new(move |cw| {
            let mut to = stageos_reference::cloudwatch::CloudWatchPublish::emulator(
                cw.endpoint_url
                    .as_ref()
                    .map(|u| u.as_str().trim_end_matches('/').to_owned())
                    .unwrap_or_default(),
                cw.load_balancer.clone(),
            );
            to.region = cw.region.clone();
            to.namespace = cw.namespace.clone();
            let alb = alb.clone();
            Box::pin(async move { alb.publish(to).await })
        });
        publish
    });
    let base_url = Url::parse(&server.base_url()).map_err(|e| ConfigError::Invalid {
        what: "embedded base URL".into(),
        value: server.base_url(),
        reason: e.to_string(),
    })?;
    let creds = server.credentials();
    let mut credentials = SuiteCredentials::default();
    for role in Role::ALL {
        let seed = creds.user(role.as_str().parse().map_err(
            |e: <stageos_reference::Role as FromStr>::Err| ConfigError::Invalid {
                what: "role".into(),
                value: role.to_string(),
                reason: e.to_string(),
            },
        )?);
        credentials.insert(
            UserCredential {
                role,
                email: seed.email.clone(),
                password: SecretString::from(seed.password.clone()),
            },
            redactor,
        );
    }
    credentials.set_owner_totp_secret(
        SecretString::from(creds.owner_totp_secret.clone()),
        redactor,
    );
    let services = stageos_reference::services::SERVICES
        .iter()
        .map(|name| {
            let mut url = base_url.clone();
            url.set_path(&stageos_reference::services::health_path(name));
            ((*name).to_owned(), url)
        })
        .collect();
    Ok(Target {
        base_url,
        credentials,
        server: Some(server),
        own_traffic,
        services,
    })
}

/// Without the `reference` feature there is no embedded target: say how to name one.
#[cfg(not(feature = "reference"))]
async fn embedded(
    _faults: &[String],
    _variations: &[String],
    _redactor: &Redactor,
    _record_alb_metrics: bool,
) -> Result<Target, TargetError> {
    Err(ConfigError::Invalid {
        what: "target".into(),
        value: "embedded".into(),
        reason: "this build has no embedded reference server (built without the `reference` feature) (hint: set STAGEOS_BASE_URL or --target to the deployment's URL)".into(),
    }
    .into())
}
