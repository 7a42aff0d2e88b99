//! Health: `/api/health` says the deployment is whole (status, dependency checks,
//! migrations). The verification gates extend this with metrics and baselines.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::catalogue::{FlowDef, StepDef};
use crate::flow::FlowRun;
use crate::http::{StepError, ensure, ensure_eq};

/// The health flow's steps.
pub static FLOW: FlowDef = FlowDef {
    id: "health",
    description: "The deployment reports itself healthy",
    roles: &[],
    needs_owner_totp: false,
    steps: &[StepDef {
        id: "api_health_ok",
        description: "/api/health is ok, every dependency check is ok and migrations are in sync",
    }],
};

/// `/api/health` body.
#[derive(Debug, Deserialize)]
pub struct Health {
    /// ok | degraded | down.
    pub status: String,
    /// Deployed version.
    pub version: String,
    /// Deployed commit.
    pub commit: String,
    /// Dependency checks.
    pub checks: BTreeMap<String, Check>,
    /// Migration state.
    pub migrations: Migrations,
}

/// One dependency check.
#[derive(Debug, Deserialize)]
pub struct Check {
    /// ok | degraded | down.
    pub status: String,
}

/// Migration state.
#[derive(Debug, Deserialize)]
pub struct Migrations {
    /// in_sync | pending.
    pub status: String,
    /// Pending count.
    pub pending: u64,
}

/// Run the health flow.
pub async fn run(flow: &mut FlowRun) {
    let session = match flow.session("anonymous") {
        Ok(s) => s,
        Err(e) => {
            flow.step("api_health_ok", async { Err::<(), _>(StepError::from(e)) })
                .await;
            return;
        }
    };
    flow.step("api_health_ok", async {
        let resp = session.get("/api/health").without_bearer().send().await?;
        resp.expect_status(200)?;
        let h: Health = resp.json()?;
        ensure_eq("health status", "ok", h.status.as_str())?;
        let bad: Vec<String> = h
            .checks
            .iter()
            .filter(|(_, c)| c.status != "ok")
            .map(|(k, c)| format!("{k}={}", c.status))
            .collect();
        ensure(
            bad.is_empty(),
            "dependency checks",
            "all ok",
            bad.join(", "),
        )?;
        for dep in ["database", "queue", "storage"] {
            ensure(
                h.checks.contains_key(dep),
                "dependency checks",
                format!("a `{dep}` check"),
                "none",
            )?;
        }
        ensure_eq("migrations status", "in_sync", h.migrations.status.as_str())?;
        ensure_eq("pending migrations", 0, h.migrations.pending)?;
        ensure(
            !h.version.is_empty() && !h.commit.is_empty(),
            "version and commit",
            "both set",
            format!("version={:?} commit={:?}", h.version, h.commit),
        )?;
        Ok(())
    })
    .await;
}
