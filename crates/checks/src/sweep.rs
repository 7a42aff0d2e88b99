//! The `sweep` command: prepare the configured target, log in and sweep what
//! earlier runs left behind (the sweep itself is [`crate::flows::sweep`], which the
//! housekeeping flow also runs at the start of every run).

use std::time::{Duration, Instant};

use stageos_smoke_http::credentials::Role;
use stageos_smoke_http::http::{HttpContext, Recorder, Session, StepError};
use stageos_smoke_http::secrets::Redactor;
use stageos_smoke_model::flowdef::FlowDef;

use crate::config::{EnvSnapshot, Settings};
use crate::flows::common::login_with_retry;
pub use crate::flows::sweep::{Action, SweepItem, SweepReport, SweepSessions, parse_age, sweep};

/// The logins a sweep needs (for the credential check of the target).
pub static NEEDS: FlowDef = FlowDef {
    id: "sweep",
    description: "Delete smoke-tagged leftovers of earlier runs",
    roles: &[Role::Owner, Role::Manager, Role::Accountant],
    needs_owner_totp: true,
    observes_run: false,
    steps: &[],
};

/// Prepare the configured target, log in and sweep (the `sweep` subcommand).
pub async fn run(
    settings: &Settings,
    env: &EnvSnapshot,
    redactor: &Redactor,
    older_than: Duration,
) -> Result<SweepReport, String> {
    let target = crate::target::prepare(settings, &[&NEEDS], env, redactor)
        .await
        .map_err(|e| e.to_string())?;
    let http = HttpContext {
        settings: std::sync::Arc::new(settings.http.clone()),
        run_id: format!("{}-sweep", crate::runner::new_run_id()),
        redactor: redactor.clone(),
        logins: Default::default(),
        clock: Default::default(),
    };
    let result = async {
        let recorder = Recorder::new(Instant::now());
        let seed = target
            .credentials
            .owner_totp_secret()
            .map(|s| secrecy::ExposeSecret::expose_secret(s).to_owned());
        let login = |role: Role| {
            let base = target.base_url.clone();
            let user = target.credentials.user(role).cloned();
            let session = Session::new(role.as_str(), base, http.clone(), recorder.clone());
            let seed = if role == Role::Owner {
                seed.clone()
            } else {
                None
            };
            async move {
                let user = user.ok_or_else(|| format!("no login configured for role {role}"))?;
                let mut session = session.map_err(|e| e.to_string())?;
                login_with_retry(&mut session, &user, seed.as_deref())
                    .await
                    .map_err(|e: StepError| format!("failed to log in as {role}: {e}"))?;
                Ok::<_, String>(session)
            }
        };
        let sessions = SweepSessions {
            manager: login(Role::Manager).await?,
            accountant: login(Role::Accountant).await?,
            owner: login(Role::Owner).await?,
        };
        sweep(&target.base_url, &sessions, older_than)
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    if let Some(server) = target.server {
        server.shutdown().await;
    }
    result
}
