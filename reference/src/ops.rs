//! Operations routes: `GET /api/health` and `GET /metrics`.
//!
//! These are what the suite's first gate reads after a deploy: health says
//! whether the dependencies answer and the migrations are in sync; metrics
//! are the Prometheus series the error-rate and latency gates compare.
//!
//! Owns no store: it reads the shared handle's faults, metrics and version,
//! so it works over any store.

use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

use crate::error::ApiError;
use crate::faults::Fault;
use crate::metrics;
use crate::state::Shared;

/// The operations routes.
pub fn routes<S: Send + 'static>() -> Router<Shared<S>> {
    Router::new()
        .route("/api/health", get(health::<S>))
        .route("/metrics", get(metrics_text::<S>))
}

/// One dependency check.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// `ok`, `degraded` or `down`.
    pub status: &'static str,
    /// How long the check took.
    pub latency_ms: u64,
}

#[derive(Debug, Serialize)]
struct Checks {
    database: Check,
    queue: Check,
    storage: Check,
}

#[derive(Debug, Serialize)]
struct Migrations {
    status: &'static str,
    pending: u32,
}

/// The `/api/health` body of a StageOS service.
#[derive(Debug, Serialize)]
pub struct Health {
    status: &'static str,
    version: String,
    commit: String,
    started_at: String,
    checks: Checks,
    migrations: Migrations,
}

/// A healthy service's body: every check ok, migrations in sync (the stand-ins
/// of the other services, [`crate::services`], answer with it).
pub(crate) fn healthy(version: String, commit: String, started_at: String) -> Health {
    let ok = || Check {
        status: "ok",
        latency_ms: 0,
    };
    Health {
        status: "ok",
        version,
        commit,
        started_at,
        checks: Checks {
            database: ok(),
            queue: ok(),
            storage: ok(),
        },
        migrations: Migrations {
            status: "in_sync",
            pending: 0,
        },
    }
}

async fn health<S: Send + 'static>(State(state): State<Shared<S>>) -> Json<Health> {
    // The "database" is the in-memory store: time how long its lock takes.
    let started = Instant::now();
    drop(state.store());
    let db_ms = started.elapsed().as_millis() as u64;
    let database = if state.has_fault(&Fault::HealthDegraded) {
        Check {
            status: "degraded",
            latency_ms: db_ms.max(1200),
        }
    } else {
        Check {
            status: "ok",
            latency_ms: db_ms,
        }
    };
    let checks = Checks {
        database,
        queue: Check {
            status: "ok",
            latency_ms: 0,
        },
        storage: Check {
            status: "ok",
            latency_ms: 0,
        },
    };
    let worst = [&checks.database, &checks.queue, &checks.storage]
        .iter()
        .map(|c| c.status)
        .fold("ok", |acc, s| match (acc, s) {
            ("down", _) | (_, "down") => "down",
            ("degraded", _) | (_, "degraded") => "degraded",
            _ => "ok",
        });
    let (version, commit) = if state.has_fault(&Fault::VersionMismatch) {
        (
            format!("{}-previous", state.version()),
            "fffffff".to_owned(),
        )
    } else {
        (state.version().to_owned(), state.commit().to_owned())
    };
    let body = Health {
        status: worst,
        version,
        commit,
        started_at: state.started_at().format(&Rfc3339).unwrap_or_default(),
        checks,
        migrations: Migrations {
            status: "in_sync",
            pending: 0,
        },
    };
    Json(body)
}

async fn metrics_text<S: Send + 'static>(
    State(state): State<Shared<S>>,
) -> Result<Response, ApiError> {
    state.metrics().on_scrape(state.faults());
    let mut text = state
        .metrics()
        .encode()
        .map_err(|_| ApiError::internal("failed to encode metrics"))?;
    if state.has_fault(&Fault::MetricsMalformed) {
        // A truncated write: the label set is never closed.
        text.push_str("queue_depth{queue=\"pdf\" 3\n");
    }
    Ok((
        StatusCode::OK,
        [(CONTENT_TYPE, metrics::CONTENT_TYPE)],
        text,
    )
        .into_response())
}
