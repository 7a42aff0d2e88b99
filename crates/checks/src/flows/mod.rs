//! The flows: each module declares its steps (a [`FlowDef`]) and runs them.

pub mod audit;
pub mod auth;
pub mod availability;
pub mod baseline;
pub mod common;
pub mod disposable;
pub mod dossier;
pub mod files;
pub mod health;
pub mod housekeeping;
pub mod invoice;
pub mod metrics;
pub mod model;
pub mod pdf;
pub mod privacy;
pub mod rbac;
pub mod release;
pub mod setlist;
pub mod totp;
pub mod webhooks;

use crate::catalogue::FlowDef;
use crate::flow::FlowRun;

/// Every flow, in run and report order.
pub static ALL: &[&FlowDef] = &[
    &health::FLOW,
    &housekeeping::FLOW,
    &metrics::FLOW,
    &baseline::FLOW,
    &release::FLOW,
    &auth::FLOW,
    &dossier::FLOW,
    &availability::FLOW,
    &setlist::FLOW,
    &invoice::FLOW,
    &files::FLOW,
    &webhooks::FLOW,
    &totp::FLOW,
    &audit::FLOW,
    &privacy::FLOW,
];

/// Flows whose steps are generated from data at first use (the RBAC matrix),
/// reported after [`ALL`].
pub fn generated() -> [&'static FlowDef; 1] {
    [rbac::flow()]
}

/// Run the flow `flow` is for.
pub async fn run(flow: &mut FlowRun, id: &str) {
    match id {
        "health" => health::run(flow).await,
        "housekeeping" => housekeeping::run(flow).await,
        "metrics" => metrics::run(flow).await,
        "baseline" => baseline::run(flow).await,
        "release" => release::run(flow).await,
        "auth" => auth::run(flow).await,
        "dossier" => dossier::run(flow).await,
        "availability" => availability::run(flow).await,
        "setlist" => setlist::run(flow).await,
        "invoice" => invoice::run(flow).await,
        "files" => files::run(flow).await,
        "webhooks" => webhooks::run(flow).await,
        "rbac" => rbac::run(flow).await,
        "totp" => totp::run(flow).await,
        "audit" => audit::run(flow).await,
        "privacy" => privacy::run(flow).await,
        other => unreachable!("flow `{other}` is in the catalogue but has no runner"),
    }
}
