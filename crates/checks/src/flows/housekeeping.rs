//! Housekeeping: at the start of every run, delete the smoke data earlier runs
//! left behind when they were killed (SIGKILL, a lost CI runner: no cleanup guard
//! could run). It runs beside the other flows: it only touches smoke-tagged data
//! older than `sweep_older_than` (default 1 h), never this run's or a concurrent
//! run's fresh data, and never anything untagged (see [`crate::sweep`]).

use std::fmt::Write as _;

use crate::flow::FlowRun;
use crate::flows::sweep::{Action, SweepSessions};
use stageos_smoke_http::credentials::Role;
use stageos_smoke_http::http::{ExecError, StepError};
use stageos_smoke_model::flowdef::{FlowDef, StepDef};

use super::common::session_as;

/// The housekeeping flow's steps.
pub static FLOW: FlowDef = FlowDef {
    id: "housekeeping",
    description: "Delete smoke data that killed runs left behind",
    roles: &[Role::Owner, Role::Manager, Role::Accountant],
    needs_owner_totp: true,
    observes_run: false,
    steps: &[OLD_SMOKE_DATA_SWEPT],
};

/// Step `old_smoke_data_swept`.
pub const OLD_SMOKE_DATA_SWEPT: StepDef = StepDef {
    id: "old_smoke_data_swept",
    description: "Smoke-tagged events, draft invoices (with their PDFs) and webhook endpoints older than sweep_older_than (default 1 h) are deleted; untagged data is never touched",
};

/// Run the housekeeping flow.
pub async fn run(flow: &mut FlowRun) {
    let cx = flow.cx().clone();
    let notes = flow.notes();
    let setup = (|| {
        let seed = flow.owner_totp_seed()?;
        let logins = [Role::Manager, Role::Accountant, Role::Owner]
            .map(|role| Ok::<_, ExecError>((flow.user(role)?, flow.session(role.as_str())?)));
        Ok::<_, ExecError>((seed, logins))
    })();
    flow.step(&OLD_SMOKE_DATA_SWEPT, async move {
        let (seed, [manager, accountant, owner]) = setup?;
        let (manager_user, manager) = manager?;
        let (accountant_user, accountant) = accountant?;
        let (owner_user, owner) = owner?;
        let sessions = SweepSessions {
            manager: session_as(manager, &manager_user, None).await?.0,
            accountant: session_as(accountant, &accountant_user, None).await?.0,
            owner: session_as(owner, &owner_user, Some(&seed)).await?.0,
        };
        let report = crate::flows::sweep::sweep(&cx.base_url, &sessions, cx.sweep_older_than).await?;
        let (mut deleted, mut kept, mut failed) = (0, Vec::new(), Vec::new());
        for item in &report.items {
            match &item.action {
                Action::Deleted => deleted += 1,
                Action::Kept(why) => kept.push(format!("{} {}: {why}", item.kind, item.id)),
                Action::Failed(why) => failed.push(format!("{} {}: {why}", item.kind, item.id)),
            }
        }
        let mut summary = format!(
            "{deleted} leftover(s) older than {} s deleted",
            cx.sweep_older_than.as_secs()
        );
        if !kept.is_empty() {
            let _ = write!(summary, "; kept: {}", kept.join("; "));
        }
        notes.add(summary);
        if failed.is_empty() {
            Ok(())
        } else {
            Err(StepError::Exec(ExecError::Other(format!(
                "could not delete {} leftover(s) of earlier runs: {} (hint: `stageos-smoke sweep` retries; check the target's DELETE endpoints)",
                failed.len(),
                failed.join("; ")
            ))))
        }
    })
    .await;
}
