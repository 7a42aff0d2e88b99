//! Health: `/api/health` says the deployment is whole (status, dependency checks,
//! migrations), it runs the release the pipeline deployed (`--expect-version`), and
//! every other service of the deployment (worker, web; from the environment's
//! `gates.services`, else the embedded reference's stand-ins) reports that same
//! release.
//!
//! The checks themselves are pure functions in [`stageos_smoke_gates::health`].

use crate::flow::FlowRun;
use stageos_smoke_gates::health::{check_health, check_release, check_same_release};
use stageos_smoke_http::http::{ExecError, Session, StepError};
use stageos_smoke_model::flowdef::{FlowDef, StepDef};

pub use stageos_smoke_gates::health::{Check, Health, Migrations};

/// The health flow's steps.
pub static FLOW: FlowDef = FlowDef {
    id: "health",
    description: "The deployment reports itself healthy and runs the expected release",
    roles: &[],
    needs_owner_totp: false,
    observes_run: false,
    steps: &[API_HEALTH_OK, RELEASE_MATCHES, SERVICES_SAME_RELEASE],
};

// The steps of `health`, each id written once: `FLOW` lists them and the
// flow's `run` names them by these constants.

/// Step `api_health_ok`.
pub const API_HEALTH_OK: StepDef = StepDef {
    id: "api_health_ok",
    description: "/api/health is ok, every dependency check is ok and migrations are in sync",
};

/// Step `release_matches`.
pub const RELEASE_MATCHES: StepDef = StepDef {
    id: "release_matches",
    description: "/api/health reports the version (and commit) the pipeline deployed (--expect-version)",
};

/// Step `services_same_release`.
pub const SERVICES_SAME_RELEASE: StepDef = StepDef {
    id: "services_same_release",
    description: "The worker and web services report the same release as the API",
};

async fn fetch(session: &Session, path_or_url: &str) -> Result<Health, StepError> {
    let resp = session.get(path_or_url).without_bearer().send().await?;
    resp.expect_status(200)?;
    Ok(resp.json::<Health>()?)
}

/// Run the health flow.
pub async fn run(flow: &mut FlowRun) {
    let session = match flow.session("anonymous") {
        Ok(s) => s,
        Err(e) => {
            flow.step(&API_HEALTH_OK, async { Err::<(), _>(StepError::from(e)) })
                .await;
            return;
        }
    };
    let gates = flow.cx().gates.clone();

    flow.step(&API_HEALTH_OK, async {
        let h = fetch(&session, "/api/health").await?;
        check_health(&h)?;
        Ok(())
    })
    .await;

    if gates.expect_version.is_none() && gates.expect_commit.is_none() {
        flow.skip(&RELEASE_MATCHES, "no expected release given (hint: pass --expect-version or set STAGEOS_EXPECT_VERSION / STAGEOS_EXPECT_COMMIT)");
    } else {
        flow.step(&RELEASE_MATCHES, async {
            let h = fetch(&session, "/api/health").await?;
            check_release(
                &h,
                gates.expect_version.as_deref(),
                gates.expect_commit.as_deref(),
            )?;
            Ok(())
        })
        .await;
    }

    if gates.services.is_empty() {
        flow.skip(&SERVICES_SAME_RELEASE, "no other services listed (hint: set [environments.NAME.gates.services] with their health URLs)");
    } else {
        flow.step(&SERVICES_SAME_RELEASE, async {
            let api = fetch(&session, "/api/health").await?;
            let mut others = Vec::new();
            for (name, url) in &gates.services {
                let h = fetch(&session, url.as_str()).await.map_err(|e| match e {
                    StepError::Exec(x) => {
                        StepError::Exec(ExecError::Other(format!("service `{name}`: {x}")))
                    }
                    other => other,
                })?;
                others.push((name.clone(), h));
            }
            check_same_release(&api, &others)?;
            Ok(())
        })
        .await;
    }
}
