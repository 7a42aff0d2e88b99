//! Stand-ins for the deployment's other services, the worker and the web front
//! end: `GET /_services/{service}/api/health` answers what that service's own
//! `/api/health` would, for `worker` and `web`.
//!
//! Why: a StageOS release rolls the API, then the worker, then the web
//! (checklist item 7.3), and the suite proves it by reading each service's
//! health: the same release everywhere, start times in rollout order. The
//! reference is one process, so it answers for the other two as well: each
//! reports the release the server was started with and a start one second
//! (worker) and two seconds (web) after the API's, as a rollout in order
//! would leave them. Two faults break it: [`Fault::ServiceOnPreviousRelease`]
//! (the web still runs the previous release) and [`Fault::RolloutOutOfOrder`]
//! (the web started before the worker).
//!
//! These routes are mounted beside the API, not behind its request tracking
//! (see [`crate::app()`]): they are other processes, so the API's faults,
//! metrics and ALB traffic do not see them.
//!
//! The services domain owns only the previous release's tag ([`Services`]).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use time::Duration;
use time::format_description::well_known::Rfc3339;

use crate::error::ApiError;
use crate::faults::Fault;
use crate::ops::{self, Health};
use crate::state::Shared;

/// The services the reference answers for, in rollout order after the API.
pub const SERVICES: [&str; 2] = ["worker", "web"];

/// The commit the previous release was built from.
pub const PREVIOUS_COMMIT: &str = "1301101";

/// What the stand-ins know beyond the shared handle.
#[derive(Clone, Debug, Default)]
pub struct Services {
    /// The release before the one the server was started with.
    pub previous_version: String,
}

/// What the services need of the store.
pub trait Host: Send + 'static {
    /// The stand-ins' part of the store.
    fn services(&self) -> &Services;
}

/// The path of `service`'s `/api/health` stand-in.
pub fn health_path(service: &str) -> String {
    format!("/_services/{service}/api/health")
}

/// The stand-ins' routes.
pub fn routes<S: Host>() -> Router<Shared<S>> {
    Router::new().route(&health_path("{service}"), get(health::<S>))
}

/// Seconds after the API's start at which `service` started.
fn start_offset_s(service: &str, out_of_order: bool) -> Option<i64> {
    match (service, out_of_order) {
        ("worker", false) | ("web", true) => Some(1),
        ("web", false) | ("worker", true) => Some(2),
        _ => None,
    }
}

async fn health<S: Host>(
    State(state): State<Shared<S>>,
    Path(service): Path<String>,
) -> Result<Json<Health>, ApiError> {
    let offset = start_offset_s(&service, state.has_fault(&Fault::RolloutOutOfOrder))
        .ok_or_else(ApiError::not_found)?;
    let started_at = (state.started_at() + Duration::seconds(offset))
        .format(&Rfc3339)
        .unwrap_or_default();
    let (version, commit) = if service == "web" && state.has_fault(&Fault::ServiceOnPreviousRelease)
    {
        let previous = state.store().services().previous_version.clone();
        (previous, PREVIOUS_COMMIT.to_owned())
    } else {
        (state.version().to_owned(), state.commit().to_owned())
    };
    Ok(Json(ops::healthy(version, commit, started_at)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_then_web_unless_out_of_order() {
        assert_eq!(start_offset_s("worker", false), Some(1));
        assert_eq!(start_offset_s("web", false), Some(2));
        assert_eq!(start_offset_s("worker", true), Some(2));
        assert_eq!(start_offset_s("web", true), Some(1));
        assert_eq!(start_offset_s("api", false), None);
    }
}
