//! Release: the release checklist's items that the deployment and its AWS account
//! can answer — release tag, rollout order, rollback images, secret rotation, RDS
//! backups and restore tests, the files bucket's versioning and encryption, and the
//! retention purge and error-tracking heartbeats.
//!
//! Every gate is its own step. The AWS-side ones run only when their resources are
//! named in `[environments.NAME.gates.release.aws]` (see [`stageos_smoke_gates::release`])
//! or, on the embedded target, in the account the run seeds in its emulator (its
//! AWS Backup the reference's stand-in: [`crate::embedded_cloud`]); otherwise they
//! are skipped with the setting to add. The rollout order reads the worker's and
//! web's health URLs (`gates.services`, else the embedded reference's stand-ins). The judging is in [`stageos_smoke_gates::release`] and
//! [`stageos_smoke_aws::aws`]; alarms are the baseline flow's `alarms_present`.

use std::sync::Arc;

use crate::flow::{FlowRun, Notes};
use stageos_smoke_aws::aws::{self, AwsCallError, AwsClients};
use stageos_smoke_gates::release::{self as rel, AwsResources, ServiceRelease};
use stageos_smoke_gates::{GateSettings, OnInconclusive, Verdict};
use stageos_smoke_http::http::{ExecError, Session, StepError};
use stageos_smoke_model::flowdef::{FlowDef, StepDef};

use super::metrics::report_verdict;

/// The release flow's steps.
pub static FLOW: FlowDef = FlowDef {
    id: "release",
    description: "Release readiness: release tag, rollout order, rollback images, secret rotation, backups, bucket settings, purge and error-tracking heartbeats",
    roles: &[],
    needs_owner_totp: false,
    observes_run: false,
    steps: &[
        RELEASE_TAG,
        ROLLOUT_ORDER,
        ROLLBACK_IMAGES,
        SECRETS_ROTATED,
        RDS_BACKUP_RETENTION,
        RESTORE_TESTED,
        FILES_BUCKET_VERSIONED,
        FILES_BUCKET_ENCRYPTED,
        RETENTION_PURGE_OBSERVED,
        ERROR_TRACKING_INGESTING,
    ],
};

// The steps of `release`, each id written once: `FLOW` lists them and the
// flow's `run` names them by these constants.

/// Step `release_tag`.
pub const RELEASE_TAG: StepDef = StepDef {
    id: "release_tag",
    description: "/api/health reports a release tag vX.Y.Z plus a date suffix (and the --expect-version one when given)",
};

/// Step `rollout_order`.
pub const ROLLOUT_ORDER: StepDef = StepDef {
    id: "rollout_order",
    description: "API, worker and web report the same release and started in that order (started_at API ≤ worker ≤ web)",
};

/// Step `rollback_images`.
pub const ROLLBACK_IMAGES: StepDef = StepDef {
    id: "rollback_images",
    description: "ECR DescribeImages finds the previous release's tag in the API and web repositories",
};

/// Step `secrets_rotated`.
pub const SECRETS_ROTATED: StepDef = StepDef {
    id: "secrets_rotated",
    description: "Secrets Manager: the JWT and encryption secrets were rotated (or created) within 90 days",
};

/// Step `rds_backup_retention`.
pub const RDS_BACKUP_RETENTION: StepDef = StepDef {
    id: "rds_backup_retention",
    description: "RDS DescribeDBInstances: automated backups on with a retention of at least 7 days",
};

/// Step `restore_tested`.
pub const RESTORE_TESTED: StepDef = StepDef {
    id: "restore_tested",
    description: "AWS Backup ListRestoreJobs: a restore job completed within 30 days",
};

/// Step `files_bucket_versioned`.
pub const FILES_BUCKET_VERSIONED: StepDef = StepDef {
    id: "files_bucket_versioned",
    description: "S3 GetBucketVersioning: the files bucket has versioning Enabled",
};

/// Step `files_bucket_encrypted`.
pub const FILES_BUCKET_ENCRYPTED: StepDef = StepDef {
    id: "files_bucket_encrypted",
    description: "S3 GetBucketEncryption: the files bucket has a default encryption rule",
};

/// Step `retention_purge_observed`.
pub const RETENTION_PURGE_OBSERVED: StepDef = StepDef {
    id: "retention_purge_observed",
    description: "/metrics: the retention purge job last succeeded within its maximum age (26 h)",
};

/// Step `error_tracking_ingesting`.
pub const ERROR_TRACKING_INGESTING: StepDef = StepDef {
    id: "error_tracking_ingesting",
    description: "/metrics: the last event reached error tracking within its maximum age (1 h)",
};

fn exec(msg: impl Into<String>) -> StepError {
    StepError::Exec(ExecError::Other(msg.into()))
}

fn aws_err(e: AwsCallError) -> StepError {
    exec(e.to_string())
}

async fn fetch_release(session: &Session, path_or_url: &str) -> Result<ServiceRelease, StepError> {
    let resp = session.get(path_or_url).without_bearer().send().await?;
    resp.expect_status(200)?;
    Ok(resp.json::<ServiceRelease>()?)
}

/// A verdict as the step's result (inconclusive per the profile).
fn verdict_step(notes: &Notes, v: Verdict, on: OnInconclusive) -> Result<(), StepError> {
    notes.verdict(&v);
    match v.into_step(on)? {
        None => Ok(()),
        // Inconclusive inside a step that already ran: a could-not-check, never a pass.
        Some(reason) => Err(exec(reason)),
    }
}

/// Run the release flow.
pub async fn run(flow: &mut FlowRun) {
    let notes = flow.notes();
    let gates: Arc<GateSettings> = flow.cx().gates.clone();
    let on = gates.thresholds.on_inconclusive;
    let session = match flow.session("release") {
        Ok(s) => s,
        Err(e) => {
            flow.step(&RELEASE_TAG, async { Err::<(), _>(StepError::from(e)) })
                .await;
            return;
        }
    };

    let deployed = flow
        .step(&RELEASE_TAG, async {
            let api = fetch_release(&session, "/api/health").await?;
            verdict_step(
                &notes,
                rel::judge_release_tag(&api.version, gates.expect_version.as_deref()),
                on,
            )?;
            Ok(api.version)
        })
        .await;

    rollout_order(flow, &session, &gates).await;
    aws_gates(flow, &session, &gates, deployed).await;
    heartbeats(flow, &session, &gates).await;
}

async fn rollout_order(flow: &mut FlowRun, session: &Session, gates: &GateSettings) {
    let notes = flow.notes();
    let (Some(worker), Some(web)) = (gates.services.get("worker"), gates.services.get("web"))
    else {
        flow.skip(&ROLLOUT_ORDER,
            "the worker and web health URLs are not both configured (hint: set worker and web in [environments.NAME.gates.services])",
        );
        return;
    };
    flow.step(&ROLLOUT_ORDER, async {
        let api = fetch_release(session, "/api/health").await?;
        let worker_h = fetch_release(session, worker.as_str())
            .await
            .map_err(|e| exec(format!("service `worker`: {e}")))?;
        let web_h = fetch_release(session, web.as_str())
            .await
            .map_err(|e| exec(format!("service `web`: {e}")))?;
        verdict_step(
            &notes,
            rel::judge_rollout(&[("api", &api), ("worker", &worker_h), ("web", &web_h)]),
            gates.thresholds.on_inconclusive,
        )
    })
    .await;
}

async fn aws_gates(
    flow: &mut FlowRun,
    session: &Session,
    gates: &GateSettings,
    deployed: Option<String>,
) {
    let notes = flow.notes();
    // The environment's account, else the embedded run's seeded one.
    let res = match (gates.release.aws.clone(), flow.cx().cloud.clone()) {
        (Some(res), _) => Ok(res),
        (None, Some(cloud)) => cloud
            .aws()
            .await
            .map_err(|e| crate::embedded_cloud::unavailable(&e)),
        (None, None) => Err(rel::no_aws_configured()),
    };
    let res = match res {
        Ok(res) => res,
        Err(reason) => {
            for id in [
                ROLLBACK_IMAGES.id,
                SECRETS_ROTATED.id,
                RDS_BACKUP_RETENTION.id,
                RESTORE_TESTED.id,
                FILES_BUCKET_VERSIONED.id,
                FILES_BUCKET_ENCRYPTED.id,
            ] {
                flow.skip(id, reason.clone());
            }
            return;
        }
    };
    let clients = AwsClients::for_resources(&res).await;
    let on = gates.thresholds.on_inconclusive;
    let now = gates.now();
    let previous = gates.release.previous_release.clone();
    rollback_images(flow, session, &clients, &res, deployed, previous, on).await;

    if res.secrets.is_empty() {
        flow.skip(
            &SECRETS_ROTATED,
            rel::not_configured("jwt_key_id and encryption_key_id"),
        );
    } else {
        flow.step(&SECRETS_ROTATED, async {
            let mut ages = Vec::new();
            for (purpose, id) in &res.secrets {
                ages.push(
                    aws::fetch_secret_age(&clients, purpose, id)
                        .await
                        .map_err(aws_err)?,
                );
            }
            verdict_step(
                &notes,
                aws::judge_secrets_rotated(&ages, now, res.max_rotation_age_days),
                on,
            )
        })
        .await;
    }

    match &res.rds_instance {
        None => flow.skip(&RDS_BACKUP_RETENTION, rel::not_configured("rds_instance")),
        Some(db) => {
            flow.step(&RDS_BACKUP_RETENTION, async {
                let days = aws::fetch_backup_retention(&clients, db)
                    .await
                    .map_err(aws_err)?;
                verdict_step(
                    &notes,
                    aws::judge_backup_retention(db, days, res.min_backup_retention_days),
                    on,
                )
            })
            .await;
        }
    }

    if res.restore_tests {
        flow.step(&RESTORE_TESTED, async {
            let since = now - res.max_restore_test_age_days * aws::DAY_S;
            let jobs = aws::fetch_restore_jobs(&clients, since)
                .await
                .map_err(aws_err)?;
            verdict_step(
                &notes,
                aws::judge_restore_tested(
                    &jobs,
                    res.restore_resource_type.as_deref(),
                    now,
                    res.max_restore_test_age_days,
                ),
                on,
            )
        })
        .await;
    } else {
        flow.skip(&RESTORE_TESTED, rel::not_configured("restore_tests = true"));
    }

    match &res.files_bucket {
        None => {
            flow.skip(&FILES_BUCKET_VERSIONED, rel::not_configured("files_bucket"));
            flow.skip(&FILES_BUCKET_ENCRYPTED, rel::not_configured("files_bucket"));
        }
        Some(bucket) => {
            flow.step(&FILES_BUCKET_VERSIONED, async {
                let status = aws::fetch_bucket_versioning(&clients, bucket)
                    .await
                    .map_err(aws_err)?;
                verdict_step(&notes, aws::judge_versioning(bucket, status.as_deref()), on)
            })
            .await;
            flow.step(&FILES_BUCKET_ENCRYPTED, async {
                let algorithms = aws::fetch_bucket_encryption(&clients, bucket)
                    .await
                    .map_err(aws_err)?;
                verdict_step(
                    &notes,
                    aws::judge_encryption(
                        bucket,
                        &algorithms,
                        res.files_bucket_sse_algorithm.as_deref(),
                    ),
                    on,
                )
            })
            .await;
        }
    }
}

async fn rollback_images(
    flow: &mut FlowRun,
    session: &Session,
    clients: &AwsClients,
    res: &AwsResources,
    deployed: Option<String>,
    previous: Option<String>,
    on: OnInconclusive,
) {
    let notes = flow.notes();
    let Some((api_repo, web_repo)) = res.ecr.clone() else {
        flow.skip(
            &ROLLBACK_IMAGES,
            rel::not_configured("ecr_api_repository and ecr_web_repository"),
        );
        return;
    };
    flow.step(&ROLLBACK_IMAGES, async {
        let api_tags = aws::fetch_image_tags(clients, &api_repo)
            .await
            .map_err(aws_err)?;
        let web_tags = aws::fetch_image_tags(clients, &web_repo)
            .await
            .map_err(aws_err)?;
        let previous = match previous {
            Some(p) => p,
            None => {
                let deployed = match deployed {
                    Some(d) => d,
                    None => fetch_release(session, "/api/health").await?.version,
                };
                rel::previous_release(&deployed, &api_tags).ok_or_else(|| {
                    StepError::from(stageos_smoke_http::http::CheckFailure {
                        what: format!("rollback image tags in {api_repo} (ECR DescribeImages)"),
                        expected: format!("a release tag older than the deployed {deployed}"),
                        actual: format!(
                            "none among {} tags (hint: or name it: {})",
                            api_tags.len(),
                            rel::PREVIOUS_RELEASE_VAR
                        ),
                    })
                })?
            }
        };
        verdict_step(
            &notes,
            aws::judge_rollback_images(&previous, (&api_repo, &api_tags), (&web_repo, &web_tags)),
            on,
        )
    })
    .await;
}

async fn heartbeats(flow: &mut FlowRun, session: &Session, gates: &GateSettings) {
    let scrape = super::metrics::scrape(session).await;
    // A live scrape is judged against the clock, like the metrics flow's analytics gate.
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as f64;
    let on = gates.thresholds.on_inconclusive;
    let judged = |name: &str, what: &str, max_age: f64| match &scrape {
        Ok(s) => rel::judge_heartbeat(s, name, what, now, max_age),
        Err(e) => Err(e.to_string()),
    };
    let purge = judged(
        rel::RETENTION_PURGE_METRIC,
        "retention purge",
        gates.release.retention_purge_max_age_s,
    );
    let tracking = judged(
        rel::ERROR_TRACKING_METRIC,
        "error-tracking event",
        gates.release.error_tracking_max_age_s,
    );
    report_verdict(flow, RETENTION_PURGE_OBSERVED.id, purge, on).await;
    report_verdict(flow, ERROR_TRACKING_INGESTING.id, tracking, on).await;
}
