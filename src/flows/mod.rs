//! The flows: each module declares its steps (a [`FlowDef`]) and runs them.

pub mod auth;
pub mod common;
pub mod health;

use crate::catalogue::FlowDef;
use crate::flow::FlowRun;

/// Every flow, in run and report order.
pub static ALL: &[&FlowDef] = &[&health::FLOW, &auth::FLOW];

/// Run the flow `flow` is for.
pub async fn run(flow: &mut FlowRun, id: &str) {
    match id {
        "health" => health::run(flow).await,
        "auth" => auth::run(flow).await,
        other => unreachable!("flow `{other}` is in the catalogue but has no runner"),
    }
}
