//! A stand-in for the deployment account's AWS Backup restore jobs, under
//! `/_aws/backup`, speaking the service's REST-JSON protocol as the AWS SDK does:
//!
//! - `PUT /_aws/backup/restore-jobs` (StartRestoreJob): body with
//!   `RecoveryPointArn`, `Metadata` and optionally `ResourceType`; answers
//!   `{"RestoreJobId": …}`. The restore completes at once, its validation
//!   succeeded (a restore test that passed).
//! - `GET /_aws/backup/restore-jobs` (ListRestoreJobs): `RestoreJobs[]` with
//!   `RestoreJobId`, `Status`, `CreationDate` and `CompletionDate` (epoch
//!   seconds), `ResourceType`, `ValidationStatus`; filtered by the `status`,
//!   `resourceType`, `completeAfter` and `completeBefore` query parameters
//!   (RFC 3339 as the SDK sends them, or epoch seconds); one page.
//!
//! Why: the release checklist's restore test (item 5.2) is judged from
//! ListRestoreJobs, and the pinned emulator answers that call with an empty list
//! and has no StartRestoreJob, so the embedded run points its AWS Backup client
//! here and seeds one restore test. Only the fields the suite reads are modelled;
//! no signature is checked (the suite signs with fake credentials on loopback).
//! [`Fault::RestoreTestStale`] makes every job 45 days old.
//!
//! Mounted beside the API, not behind its request tracking (see [`crate::app()`]):
//! it is another service. The domain owns the restore jobs ([`BackupStore`]).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::faults::Fault;
use crate::state::Shared;

/// Where the stand-in is served: the AWS Backup endpoint URL is the server's
/// base URL with this path.
pub const BASE_PATH: &str = "/_aws/backup";

/// How far back [`Fault::RestoreTestStale`] moves every restore job, seconds (45 days).
pub const STALE_BY_S: i64 = 45 * 86_400;

/// One restore job as ListRestoreJobs lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestoreJob {
    /// Job id.
    pub restore_job_id: String,
    /// The recovery point restored.
    pub recovery_point_arn: String,
    /// `COMPLETED` (the stand-in's restores finish at once).
    pub status: &'static str,
    /// Started, epoch seconds.
    pub creation_date: i64,
    /// Finished, epoch seconds.
    pub completion_date: i64,
    /// `RDS`, `S3`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// `SUCCESSFUL`: the restored resource passed validation.
    pub validation_status: &'static str,
}

/// The account's restore jobs.
#[derive(Debug, Default)]
pub struct BackupStore {
    jobs: Vec<RestoreJob>,
}

/// What the stand-in needs of the store.
pub trait Host: Send + 'static {
    /// The restore jobs.
    fn backup(&self) -> &BackupStore;
    /// The restore jobs, to add one.
    fn backup_mut(&mut self) -> &mut BackupStore;
}

/// The stand-in's routes.
pub fn routes<S: Host>() -> Router<Shared<S>> {
    Router::new().route(
        &format!("{BASE_PATH}/restore-jobs"),
        get(list_restore_jobs::<S>).put(start_restore_job::<S>),
    )
}

/// An AWS error answer: status, `x-amzn-ErrorType` and the JSON body the SDK reads.
fn aws_error(status: StatusCode, code: &'static str, message: impl Into<String>) -> Response {
    let mut r = (
        status,
        Json(json!({ "__type": code, "message": message.into() })),
    )
        .into_response();
    r.headers_mut()
        .insert("x-amzn-ErrorType", HeaderValue::from_static(code));
    r
}

fn invalid(message: impl Into<String>) -> Response {
    aws_error(
        StatusCode::BAD_REQUEST,
        "InvalidParameterValueException",
        message,
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StartRestoreJob {
    recovery_point_arn: Option<String>,
    metadata: Option<HashMap<String, String>>,
    resource_type: Option<String>,
}

async fn start_restore_job<S: Host>(State(state): State<Shared<S>>, body: Bytes) -> Response {
    let input: StartRestoreJob = match serde_json::from_slice(&body) {
        Ok(i) => i,
        Err(e) => return invalid(format!("malformed StartRestoreJob body: {e}")),
    };
    let (Some(arn), Some(_)) = (input.recovery_point_arn, input.metadata) else {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "MissingParameterValueException",
            "RecoveryPointArn and Metadata are required",
        );
    };
    let now = crate::unix_now();
    let job = RestoreJob {
        restore_job_id: Uuid::new_v4().to_string().to_uppercase(),
        recovery_point_arn: arn,
        status: "COMPLETED",
        creation_date: now,
        completion_date: now,
        resource_type: input.resource_type,
        validation_status: "SUCCESSFUL",
    };
    let id = job.restore_job_id.clone();
    state.store().backup_mut().jobs.push(job);
    Json(json!({ "RestoreJobId": id })).into_response()
}

/// RFC 3339 (what the SDK sends) or epoch seconds.
fn parse_time(text: &str) -> Option<i64> {
    if let Ok(n) = text.parse::<f64>() {
        return Some(n as i64);
    }
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// The jobs `query` selects, as listed (moved back by [`STALE_BY_S`] when `stale`).
fn select(
    jobs: &[RestoreJob],
    query: &HashMap<String, String>,
    stale: bool,
) -> Result<Vec<RestoreJob>, String> {
    let time_param = |name: &str| -> Result<Option<i64>, String> {
        query
            .get(name)
            .map(|v| parse_time(v).ok_or_else(|| format!("{name} is not a timestamp: {v:?}")))
            .transpose()
    };
    let after = time_param("completeAfter")?;
    let before = time_param("completeBefore")?;
    let shift = if stale { STALE_BY_S } else { 0 };
    Ok(jobs
        .iter()
        .map(|j| RestoreJob {
            creation_date: j.creation_date - shift,
            completion_date: j.completion_date - shift,
            ..j.clone()
        })
        .filter(|j| query.get("status").is_none_or(|s| s == j.status))
        .filter(|j| {
            query
                .get("resourceType")
                .is_none_or(|t| j.resource_type.as_deref() == Some(t.as_str()))
        })
        .filter(|j| after.is_none_or(|t| j.completion_date >= t))
        .filter(|j| before.is_none_or(|t| j.completion_date <= t))
        .collect())
}

async fn list_restore_jobs<S: Host>(
    State(state): State<Shared<S>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let stale = state.has_fault(&Fault::RestoreTestStale);
    let selected = select(&state.store().backup().jobs, &query, stale);
    match selected {
        Ok(jobs) => Json(json!({ "RestoreJobs": jobs })).into_response(),
        Err(message) => invalid(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(completed: i64, ty: &str) -> RestoreJob {
        RestoreJob {
            restore_job_id: format!("job-{completed}"),
            recovery_point_arn: "arn:aws:rds:us-east-1:000000000000:snapshot:s".into(),
            status: "COMPLETED",
            creation_date: completed - 60,
            completion_date: completed,
            resource_type: Some(ty.into()),
            validation_status: "SUCCESSFUL",
        }
    }

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn filters_by_status_type_and_completion_window() {
        let jobs = [job(1_000_000, "RDS"), job(2_000_000, "S3")];
        let q = query(&[
            ("status", "COMPLETED"),
            ("completeAfter", "1970-01-13T00:00:00Z"),
        ]);
        let got = select(&jobs, &q, false).unwrap();
        assert_eq!(got, vec![jobs[1].clone()], "only the one after 12 days");
        let q = query(&[("resourceType", "RDS"), ("completeBefore", "1500000")]);
        assert_eq!(select(&jobs, &q, false).unwrap(), vec![jobs[0].clone()]);
        assert!(
            select(&jobs, &query(&[("status", "FAILED")]), false)
                .unwrap()
                .is_empty()
        );
        assert!(select(&jobs, &query(&[("completeAfter", "soon")]), false).is_err());
    }

    #[test]
    fn stale_moves_every_job_back_45_days() {
        let now = 10_000_000;
        let jobs = [job(now, "RDS")];
        let got = select(&jobs, &query(&[]), true).unwrap();
        assert_eq!(got[0].completion_date, now - STALE_BY_S);
        let within_30_days = (now - 30 * 86_400).to_string();
        assert!(
            select(&jobs, &query(&[("completeAfter", &within_30_days)]), true)
                .unwrap()
                .is_empty()
        );
    }
}
