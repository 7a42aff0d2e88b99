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
pub mod pdf_layout;
pub mod privacy;
pub mod rbac;
pub mod release;
pub mod renderings;
pub mod setlist;
pub mod sweep;
pub mod totp;
pub mod webhooks;

use futures::future::LocalBoxFuture;

use crate::flow::FlowRun;
use stageos_smoke_model::flowdef::FlowDef;

/// One registered flow: its definition and the function that runs it.
pub struct Registered {
    /// The definition (a function, so flows generated from data — the RBAC matrix —
    /// are built at first use like the static ones are read).
    pub def: fn() -> &'static FlowDef,
    /// Runs the flow's steps.
    pub run: for<'a> fn(&'a mut FlowRun) -> LocalBoxFuture<'a, ()>,
}

/// Register module `$m`: its `FLOW` (or `$def()`) and its `run`.
macro_rules! registered {
    ($m:ident) => {
        registered!($m, || &$m::FLOW)
    };
    ($m:ident, $def:expr) => {{
        fn run(flow: &mut FlowRun) -> LocalBoxFuture<'_, ()> {
            Box::pin($m::run(flow))
        }
        Registered { def: $def, run }
    }};
}

/// Every flow, in run and report order: the one place a flow is registered.
pub static REGISTRY: &[Registered] = &[
    registered!(health),
    registered!(housekeeping),
    registered!(metrics),
    registered!(baseline),
    registered!(release),
    registered!(auth),
    registered!(dossier),
    registered!(availability),
    registered!(setlist),
    registered!(invoice),
    registered!(files),
    registered!(webhooks),
    registered!(totp),
    registered!(audit),
    registered!(privacy),
    registered!(rbac, rbac::flow),
];

/// Run the flow `flow` is for (every flow of the catalogue is in [`REGISTRY`]).
pub async fn run(flow: &mut FlowRun, id: &str) {
    if let Some(r) = REGISTRY.iter().find(|r| (r.def)().id == id) {
        (r.run)(flow).await;
    }
}
