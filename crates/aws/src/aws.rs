//! The AWS side of the release gates: ECR, Secrets Manager, RDS, AWS Backup and S3.
//!
//! I/O and judging are apart: the `fetch_*` functions make the (read-only) calls and
//! return plain numbers; the `judge_*` functions are pure and say pass or fail with
//! the numbers they judged ("retention 3 days, required ≥ 7"). A call that fails
//! (missing permission, missing resource, unreachable endpoint) is an
//! [`AwsCallError`]: the step reports *could not check*, naming the API call and the
//! IAM action the job's role needs.
//!
//! | gate | call (IAM action) | rule |
//! | --- | --- | --- |
//! | rollback images | `DescribeImages` (`ecr:DescribeImages`) | the previous release's tag exists in the API and the web repository |
//! | secrets rotated | `DescribeSecret` (`secretsmanager:DescribeSecret`) | `LastRotatedDate`, else `CreatedDate`, within 90 days, for the JWT and the encryption secret |
//! | RDS backups | `DescribeDBInstances` (`rds:DescribeDBInstances`) | `BackupRetentionPeriod` ≥ 7 days (0 = automated backups off) |
//! | restore tested | `ListRestoreJobs` (`backup:ListRestoreJobs`; at `backup_endpoint_url` when set) | a `COMPLETED` restore job (validation not failed) finished within 30 days |
//! | S3 versioning | `GetBucketVersioning` (`s3:GetBucketVersioning`) | status `Enabled` |
//! | S3 encryption | `GetBucketEncryption` (`s3:GetEncryptionConfiguration`) | a default encryption rule |
//!
//! Clients share one [`SdkConfig`] built by [`sdk_config`], which the CloudWatch
//! client uses too: an endpoint on loopback (an emulator such as ministack) always
//! gets fake static credentials, so a test can never reach real AWS with real ones;
//! any other endpoint uses the default AWS credential chain. Bounded: 30 s per
//! operation, 3 attempts.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecr::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

use stageos_smoke_gates::release::AwsResources;
use stageos_smoke_gates::stats::rfc3339;
use stageos_smoke_gates::verdict::Verdict;

/// Seconds per day.
pub const DAY_S: i64 = 86_400;

pub use stageos_smoke_gates::release::AwsEndpoint;

/// The HTTPS client of every AWS call: hyper on rustls with ring, the TLS
/// provider the rest of the suite uses (the SDKs' default client would build
/// aws-lc from C). The credential providers get it too (`aws_config::defaults`).
pub fn https_client() -> aws_sdk_s3::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The shared SDK configuration for `ep` (see the module doc for the credential rule).
pub async fn sdk_config(ep: &AwsEndpoint) -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .operation_timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(5))
        .build();
    let retry = RetryConfig::standard().with_max_attempts(3);
    let endpoint = ep
        .endpoint_url
        .as_ref()
        .map(|u| u.as_str().trim_end_matches('/').to_owned());
    if ep.is_loopback() {
        let mut b = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(https_client())
            .region(Region::new(ep.region.clone()))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "stageos-smoke-fake",
                "stageos-smoke-fake",
                None,
                None,
                "stageos-smoke-emulator",
            )))
            .timeout_config(timeouts)
            .retry_config(retry);
        if let Some(u) = endpoint {
            b = b.endpoint_url(u);
        }
        return b.build();
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .region(Region::new(ep.region.clone()))
        .timeout_config(timeouts)
        .retry_config(retry);
    if let Some(u) = endpoint {
        loader = loader.endpoint_url(u);
    }
    loader.load().await
}

/// One client per service the release gates read.
#[derive(Clone, Debug)]
pub struct AwsClients {
    /// Where they point (for messages).
    pub endpoint: AwsEndpoint,
    /// ECR.
    pub ecr: aws_sdk_ecr::Client,
    /// Secrets Manager.
    pub secrets: aws_sdk_secretsmanager::Client,
    /// RDS.
    pub rds: aws_sdk_rds::Client,
    /// AWS Backup.
    pub backup: aws_sdk_backup::Client,
    /// Where the AWS Backup client points (`endpoint` unless the resources name
    /// an AWS Backup endpoint of its own), for messages.
    pub backup_endpoint: AwsEndpoint,
    /// S3 (path-style addressing when an endpoint is given: emulators serve no
    /// virtual-host buckets).
    pub s3: aws_sdk_s3::Client,
}

impl AwsClients {
    /// Clients for `ep` from one shared configuration.
    pub async fn new(ep: &AwsEndpoint) -> Self {
        let cfg = sdk_config(ep).await;
        Self::from_sdk_config(ep.clone(), &cfg)
    }

    /// Clients for the resources of `res`: every service at `res.endpoint`, AWS
    /// Backup at `res.backup_endpoint_url` when set (a stand-in that has restore
    /// jobs, where the emulator has none). Each endpoint gets its own credential
    /// rule (see the module doc).
    pub async fn for_resources(res: &AwsResources) -> Self {
        let mut clients = Self::new(&res.endpoint).await;
        if let Some(url) = &res.backup_endpoint_url {
            let ep = AwsEndpoint {
                region: res.endpoint.region.clone(),
                endpoint_url: Some(url.clone()),
            };
            clients.backup = aws_sdk_backup::Client::new(&sdk_config(&ep).await);
            clients.backup_endpoint = ep;
        }
        clients
    }

    /// Clients from an existing configuration (tests pass mocked ones).
    pub fn from_sdk_config(endpoint: AwsEndpoint, cfg: &SdkConfig) -> Self {
        let s3 = aws_sdk_s3::config::Builder::from(cfg)
            .force_path_style(endpoint.endpoint_url.is_some())
            .build();
        Self {
            ecr: aws_sdk_ecr::Client::new(cfg),
            secrets: aws_sdk_secretsmanager::Client::new(cfg),
            rds: aws_sdk_rds::Client::new(cfg),
            backup: aws_sdk_backup::Client::new(cfg),
            s3: aws_sdk_s3::Client::from_conf(s3),
            backup_endpoint: endpoint.clone(),
            endpoint,
        }
    }
}

/// An AWS call the gate depends on failed: it could not check.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("failed to call {api} on {resource} ({endpoint}): {message} (hint: {hint})")]
pub struct AwsCallError {
    /// The API call, e.g. `ecr:DescribeImages`.
    pub api: &'static str,
    /// The IAM action the job's role needs.
    pub iam_action: &'static str,
    /// What it was about (`repository stageos-api`).
    pub resource: String,
    /// Where.
    pub endpoint: String,
    /// The service's error code, if it answered.
    pub code: Option<String>,
    /// The SDK's message with its causes.
    pub message: String,
    /// What to check.
    pub hint: String,
}

/// One AWS call: the API name and the IAM action it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    /// `service:Operation` as in CloudTrail.
    pub api: &'static str,
    /// The IAM action.
    pub iam_action: &'static str,
    /// The setting that names the resource (for the not-found hint).
    pub setting: &'static str,
}

/// `ecr:DescribeImages`.
pub const DESCRIBE_IMAGES: Call = Call {
    api: "ecr:DescribeImages",
    iam_action: "ecr:DescribeImages",
    setting: "gates.release.aws.ecr_api_repository / ecr_web_repository",
};
/// `secretsmanager:DescribeSecret`.
pub const DESCRIBE_SECRET: Call = Call {
    api: "secretsmanager:DescribeSecret",
    iam_action: "secretsmanager:DescribeSecret",
    setting: "gates.release.aws.jwt_key_id / encryption_key_id",
};
/// `rds:DescribeDBInstances`.
pub const DESCRIBE_DB_INSTANCES: Call = Call {
    api: "rds:DescribeDBInstances",
    iam_action: "rds:DescribeDBInstances",
    setting: "gates.release.aws.rds_instance",
};
/// `backup:ListRestoreJobs`.
pub const LIST_RESTORE_JOBS: Call = Call {
    api: "backup:ListRestoreJobs",
    iam_action: "backup:ListRestoreJobs",
    setting: "gates.release.aws.restore_tests",
};
/// `s3:GetBucketVersioning`.
pub const GET_BUCKET_VERSIONING: Call = Call {
    api: "s3:GetBucketVersioning",
    iam_action: "s3:GetBucketVersioning",
    setting: "gates.release.aws.files_bucket",
};
/// `s3:GetBucketEncryption` (IAM: `s3:GetEncryptionConfiguration`).
pub const GET_BUCKET_ENCRYPTION: Call = Call {
    api: "s3:GetBucketEncryption",
    iam_action: "s3:GetEncryptionConfiguration",
    setting: "gates.release.aws.files_bucket",
};

/// Error codes that mean "your credentials may not do this".
const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthorizationError",
    "NotAuthorized",
];

/// Error codes that mean "no such resource".
const NOT_FOUND_CODES: &[&str] = &[
    "RepositoryNotFoundException",
    "ResourceNotFoundException",
    "DBInstanceNotFound",
    "DBInstanceNotFoundFault",
    "NoSuchBucket",
];

/// Error codes that mean "these credentials are not valid at all".
const CREDENTIAL_CODES: &[&str] = &[
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
];

/// Turn an SDK error into an [`AwsCallError`] naming the call and the IAM action.
pub fn call_error<E, R>(
    call: Call,
    resource: &str,
    endpoint: &AwsEndpoint,
    e: SdkError<E, R>,
) -> AwsCallError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = e.code().map(str::to_owned);
    // A service answer: its code and message (the SDK's full context would dump the
    // raw HTTP response); anything else (timeout, connection): the whole cause chain.
    let message = match (&code, e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.clone(),
        (None, _) => DisplayErrorContext(&e).to_string(),
    };
    let hint = match code.as_deref() {
        Some(c) if DENIED_CODES.contains(&c) => format!(
            "the job's role lacks IAM action {} on {resource}: grant it (read-only) in the role's policy",
            call.iam_action
        ),
        Some(c) if NOT_FOUND_CODES.contains(&c) => format!(
            "{resource} does not exist in {}: check {} (the job's role needs IAM action {})",
            endpoint.label(),
            call.setting,
            call.iam_action
        ),
        Some(c) if CREDENTIAL_CODES.contains(&c) => format!(
            "the job's AWS credentials are not valid for {}: check the role or keys the job runs with (it needs IAM action {})",
            endpoint.label(),
            call.iam_action
        ),
        _ if endpoint.is_loopback() => format!(
            "is the emulator running? scripts/cw-emulator.sh start (the call needs IAM action {} on real AWS)",
            call.iam_action
        ),
        _ => format!(
            "check the job's AWS credentials, region and network, and that its role has IAM action {}",
            call.iam_action
        ),
    };
    AwsCallError {
        api: call.api,
        iam_action: call.iam_action,
        resource: resource.to_owned(),
        endpoint: endpoint.label(),
        code,
        message,
        hint,
    }
}

fn days(secs: i64) -> f64 {
    secs as f64 / DAY_S as f64
}

fn fmt_days(secs: i64) -> String {
    let d = days(secs);
    if (d - d.round()).abs() < 0.05 {
        format!("{} days", d.round() as i64)
    } else {
        format!("{d:.1} days")
    }
}

// --- ECR: rollback images ------------------------------------------------------

/// Every tag of every image in `repository` (all pages).
pub async fn fetch_image_tags(
    c: &AwsClients,
    repository: &str,
) -> Result<Vec<String>, AwsCallError> {
    let mut tags = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let resp = c
            .ecr
            .describe_images()
            .repository_name(repository)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| {
                call_error(
                    DESCRIBE_IMAGES,
                    &format!("repository {repository}"),
                    &c.endpoint,
                    e,
                )
            })?;
        for d in resp.image_details() {
            tags.extend(d.image_tags().iter().cloned());
        }
        match resp.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok(tags)
}

/// The rollback images: the previous release's tag is in both repositories.
/// `previous` is the tag judged (configured, or the newest release tag below the
/// deployed one, see [`super::release::previous_release`]).
pub fn judge_rollback_images(
    previous: &str,
    (api_repo, api_tags): (&str, &[String]),
    (web_repo, web_tags): (&str, &[String]),
) -> Verdict {
    let missing: Vec<String> = [(api_repo, api_tags), (web_repo, web_tags)]
        .iter()
        .filter(|(_, tags)| !tags.iter().any(|t| t == previous))
        .map(|(repo, tags)| format!("{repo} lacks {previous} ({} tags there)", tags.len()))
        .collect();
    if missing.is_empty() {
        Verdict::Pass {
            summary: format!("rollback tag {previous} present in {api_repo} and {web_repo}"),
        }
    } else {
        Verdict::fail(
            "rollback image tags (ECR DescribeImages)",
            format!("the previous release's tag {previous} in {api_repo} and {web_repo}"),
            missing.join("; "),
        )
    }
}

// --- Secrets Manager: rotation -------------------------------------------------

/// What `DescribeSecret` says about one secret's age.
#[derive(Clone, Debug, PartialEq)]
pub struct SecretAge {
    /// What it is (`JWT signing key`).
    pub purpose: String,
    /// Its id (name or ARN).
    pub id: String,
    /// `LastRotatedDate`, unix seconds.
    pub last_rotated: Option<i64>,
    /// `CreatedDate`, unix seconds.
    pub created: Option<i64>,
}

/// `DescribeSecret` of `id`.
pub async fn fetch_secret_age(
    c: &AwsClients,
    purpose: &str,
    id: &str,
) -> Result<SecretAge, AwsCallError> {
    let resp = c
        .secrets
        .describe_secret()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| call_error(DESCRIBE_SECRET, &format!("secret {id}"), &c.endpoint, e))?;
    Ok(SecretAge {
        purpose: purpose.to_owned(),
        id: id.to_owned(),
        last_rotated: resp.last_rotated_date().map(|d| d.secs()),
        created: resp.created_date().map(|d| d.secs()),
    })
}

/// Each secret was rotated (or, never rotated, created) within `max_days` of `now`.
pub fn judge_secrets_rotated(secrets: &[SecretAge], now: i64, max_days: i64) -> Verdict {
    if secrets.is_empty() {
        return Verdict::inconclusive("no secrets to judge");
    }
    let mut lines = Vec::new();
    let mut stale = Vec::new();
    for s in secrets {
        let (when, what) = match (s.last_rotated, s.created) {
            (Some(t), _) => (t, "rotated"),
            (None, Some(t)) => (t, "created (never rotated)"),
            (None, None) => {
                stale.push(format!(
                    "{} ({}): neither LastRotatedDate nor CreatedDate reported",
                    s.purpose, s.id
                ));
                continue;
            }
        };
        let age = now - when;
        let line = format!(
            "{} ({}) {what} {} ago, on {}",
            s.purpose,
            s.id,
            fmt_days(age.max(0)),
            rfc3339(when)
        );
        if age > max_days * DAY_S {
            stale.push(line);
        } else {
            lines.push(line);
        }
    }
    if stale.is_empty() {
        Verdict::Pass {
            summary: format!("{}; required within {max_days} days", lines.join("; ")),
        }
    } else {
        Verdict::fail(
            "secret rotation (Secrets Manager DescribeSecret)",
            format!("LastRotatedDate (or CreatedDate) within {max_days} days"),
            stale.join("; "),
        )
    }
}

// --- RDS: automated backups ----------------------------------------------------

/// `BackupRetentionPeriod` of `instance`, days (0: automated backups off).
pub async fn fetch_backup_retention(c: &AwsClients, instance: &str) -> Result<i32, AwsCallError> {
    let resp = c
        .rds
        .describe_db_instances()
        .db_instance_identifier(instance)
        .send()
        .await
        .map_err(|e| {
            call_error(
                DESCRIBE_DB_INSTANCES,
                &format!("DB instance {instance}"),
                &c.endpoint,
                e,
            )
        })?;
    let db = resp
        .db_instances()
        .iter()
        .find(|d| d.db_instance_identifier() == Some(instance))
        .or_else(|| resp.db_instances().first())
        .ok_or_else(|| AwsCallError {
            api: DESCRIBE_DB_INSTANCES.api,
            iam_action: DESCRIBE_DB_INSTANCES.iam_action,
            resource: format!("DB instance {instance}"),
            endpoint: c.endpoint.label(),
            code: None,
            message: "the answer lists no DB instance".into(),
            hint: format!("check {}", DESCRIBE_DB_INSTANCES.setting),
        })?;
    Ok(db.backup_retention_period().unwrap_or(0))
}

/// Automated backups on, retention at least `min_days`.
pub fn judge_backup_retention(instance: &str, retention_days: i32, min_days: i32) -> Verdict {
    if retention_days >= min_days {
        Verdict::Pass {
            summary: format!(
                "{instance}: automated backups on, retention {retention_days} days, required ≥ {min_days}"
            ),
        }
    } else if retention_days == 0 {
        Verdict::fail(
            format!(
                "RDS automated backups of {instance} (DescribeDBInstances BackupRetentionPeriod)"
            ),
            format!("automated backups on, retention ≥ {min_days} days"),
            "automated backups off (retention 0 days)",
        )
    } else {
        Verdict::fail(
            format!(
                "RDS backup retention of {instance} (DescribeDBInstances BackupRetentionPeriod)"
            ),
            format!("retention ≥ {min_days} days"),
            format!("retention {retention_days} days, required ≥ {min_days}"),
        )
    }
}

// --- AWS Backup: restore tests -------------------------------------------------

/// One restore job as `ListRestoreJobs` lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct RestoreJob {
    /// Job id.
    pub id: String,
    /// `COMPLETED`, `FAILED`, …
    pub status: String,
    /// Completion time, unix seconds.
    pub completed: Option<i64>,
    /// `RDS`, `Aurora`, …
    pub resource_type: Option<String>,
    /// `SUCCESSFUL`, `FAILED`, … (restore testing validation), if any.
    pub validation: Option<String>,
}

/// Restore jobs completed after `since` (all pages; filtered here as well, since
/// not every endpoint honours the filters).
pub async fn fetch_restore_jobs(
    c: &AwsClients,
    since: i64,
) -> Result<Vec<RestoreJob>, AwsCallError> {
    use aws_sdk_backup::primitives::DateTime;
    use aws_sdk_backup::types::RestoreJobStatus;
    let mut jobs = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let resp = c
            .backup
            .list_restore_jobs()
            .by_status(RestoreJobStatus::Completed)
            .by_complete_after(DateTime::from_secs(since))
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| {
                call_error(
                    LIST_RESTORE_JOBS,
                    "the account's restore jobs",
                    &c.backup_endpoint,
                    e,
                )
            })?;
        for j in resp.restore_jobs() {
            jobs.push(RestoreJob {
                id: j.restore_job_id().unwrap_or("?").to_owned(),
                status: j
                    .status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                completed: j.completion_date().map(|d| d.secs()),
                resource_type: j.resource_type().map(str::to_owned),
                validation: j.validation_status().map(|v| v.as_str().to_owned()),
            });
        }
        match resp.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok(jobs)
}

/// A completed restore job (of `resource_type`, when given) whose validation did not
/// fail finished within `max_days` of `now`.
pub fn judge_restore_tested(
    jobs: &[RestoreJob],
    resource_type: Option<&str>,
    now: i64,
    max_days: i64,
) -> Verdict {
    let since = now - max_days * DAY_S;
    let good = jobs
        .iter()
        .filter(|j| j.status == "COMPLETED")
        .filter(|j| !matches!(j.validation.as_deref(), Some("FAILED" | "TIMED_OUT")))
        .filter(|j| resource_type.is_none_or(|t| j.resource_type.as_deref() == Some(t)))
        .filter_map(|j| {
            j.completed
                .filter(|&t| t >= since && t <= now + DAY_S)
                .map(|t| (t, j))
        })
        .max_by_key(|(t, _)| *t);
    let kind = resource_type.map(|t| format!("{t} ")).unwrap_or_default();
    match good {
        Some((t, j)) => Verdict::Pass {
            summary: format!(
                "{kind}restore job {} completed {} ago ({}); required within {max_days} days",
                j.id,
                fmt_days((now - t).max(0)),
                rfc3339(t)
            ),
        },
        None => {
            let completed = jobs.iter().filter(|j| j.status == "COMPLETED").count();
            let actual = if completed == 0 {
                format!("none: 0 completed restore jobs since {}", rfc3339(since))
            } else {
                format!(
                    "none: {completed} completed restore jobs since {}, but none a {kind}restore that passed validation",
                    rfc3339(since)
                )
            };
            Verdict::fail(
                "restore test (AWS Backup ListRestoreJobs)",
                format!("a completed {kind}restore job within {max_days} days"),
                actual,
            )
        }
    }
}

// --- S3: versioning and default encryption --------------------------------------

/// The versioning status of `bucket` (`Enabled`, `Suspended`; `None`: never enabled).
pub async fn fetch_bucket_versioning(
    c: &AwsClients,
    bucket: &str,
) -> Result<Option<String>, AwsCallError> {
    let resp =
        c.s3.get_bucket_versioning()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| {
                call_error(
                    GET_BUCKET_VERSIONING,
                    &format!("bucket {bucket}"),
                    &c.endpoint,
                    e,
                )
            })?;
    Ok(resp.status().map(|s| s.as_str().to_owned()))
}

/// Versioning is `Enabled`.
pub fn judge_versioning(bucket: &str, status: Option<&str>) -> Verdict {
    match status {
        Some("Enabled") => Verdict::Pass {
            summary: format!("{bucket}: versioning Enabled"),
        },
        other => Verdict::fail(
            format!("S3 versioning of {bucket} (GetBucketVersioning)"),
            "Enabled",
            other
                .map(str::to_owned)
                .unwrap_or_else(|| "never enabled (no status)".into()),
        ),
    }
}

/// The default encryption algorithms of `bucket` (empty: no default encryption).
pub async fn fetch_bucket_encryption(
    c: &AwsClients,
    bucket: &str,
) -> Result<Vec<String>, AwsCallError> {
    match c.s3.get_bucket_encryption().bucket(bucket).send().await {
        Ok(resp) => Ok(resp
            .server_side_encryption_configuration()
            .map(|cfg| {
                cfg.rules()
                    .iter()
                    .filter_map(|r| r.apply_server_side_encryption_by_default())
                    .map(|d| d.sse_algorithm().as_str().to_owned())
                    .collect()
            })
            .unwrap_or_default()),
        Err(e) if e.code() == Some("ServerSideEncryptionConfigurationNotFoundError") => {
            Ok(Vec::new())
        }
        Err(e) => Err(call_error(
            GET_BUCKET_ENCRYPTION,
            &format!("bucket {bucket}"),
            &c.endpoint,
            e,
        )),
    }
}

/// A default encryption rule is set, with the `required` algorithm when given
/// (`aws:kms` is met by `aws:kms:dsse` too). Since January 2023 every S3 bucket has
/// SSE-S3 (`AES256`) by default, so requiring `aws:kms` is what tells a bucket set up
/// for StageOS's files from a default one.
pub fn judge_encryption(bucket: &str, algorithms: &[String], required: Option<&str>) -> Verdict {
    let what = format!("S3 default encryption of {bucket} (GetBucketEncryption)");
    if algorithms.is_empty() {
        return Verdict::fail(
            what,
            format!(
                "a default encryption rule ({})",
                required.unwrap_or("AES256 or aws:kms")
            ),
            "no default encryption configured",
        );
    }
    let meets =
        |a: &str| required.is_none_or(|r| a == r || (r == "aws:kms" && a == "aws:kms:dsse"));
    if algorithms.iter().any(|a| meets(a)) {
        Verdict::Pass {
            summary: format!(
                "{bucket}: default encryption {}{}",
                algorithms.join(", "),
                required
                    .map(|r| format!(", required {r}"))
                    .unwrap_or_default()
            ),
        }
    } else {
        Verdict::fail(
            what,
            format!(
                "default encryption {} (gates.release.aws.files_bucket_sse_algorithm)",
                required.unwrap_or_default()
            ),
            format!("default encryption {}", algorithms.join(", ")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_615_200; // 2026-11-25T14:00:00Z

    #[test]
    fn rollback_needs_the_tag_in_both_repositories() {
        let api = vec!["v1.3.0-20261101".to_owned(), "v1.4.0-20261125".to_owned()];
        let web = vec!["v1.4.0-20261125".to_owned()];
        assert!(matches!(
            judge_rollback_images("v1.3.0-20261101", ("api", &api), ("api", &api)),
            Verdict::Pass { .. }
        ));
        let Verdict::Fail { actual, .. } =
            judge_rollback_images("v1.3.0-20261101", ("api", &api), ("web", &web))
        else {
            panic!("expected a failure")
        };
        assert!(
            actual.contains("web lacks v1.3.0-20261101") && !actual.contains("api lacks"),
            "{actual}"
        );
    }

    #[test]
    fn rotation_prefers_last_rotated_and_shows_the_numbers() {
        let s = |rot: Option<i64>, created: Option<i64>| SecretAge {
            purpose: "JWT signing key".into(),
            id: "stageos/jwt".into(),
            last_rotated: rot,
            created,
        };
        // Created long ago, rotated 10 days ago: pass.
        let v = judge_secrets_rotated(
            &[s(Some(NOW - 10 * DAY_S), Some(NOW - 400 * DAY_S))],
            NOW,
            90,
        );
        assert!(
            matches!(&v, Verdict::Pass { summary } if summary.contains("rotated 10 days ago")),
            "{v:?}"
        );
        // Never rotated, created 91 days ago: fail.
        let v = judge_secrets_rotated(&[s(None, Some(NOW - 91 * DAY_S))], NOW, 90);
        assert!(
            matches!(&v, Verdict::Fail { actual, expected, .. } if actual.contains("created (never rotated) 91 days ago") && expected.contains("90 days")),
            "{v:?}"
        );
        // Rotated 120 days ago: fail even though a newer creation date would pass.
        assert!(matches!(
            judge_secrets_rotated(&[s(Some(NOW - 120 * DAY_S), Some(NOW))], NOW, 90),
            Verdict::Fail { .. }
        ));
        // Exactly 90 days: still within.
        assert!(matches!(
            judge_secrets_rotated(&[s(Some(NOW - 90 * DAY_S), None)], NOW, 90),
            Verdict::Pass { .. }
        ));
        assert!(matches!(
            judge_secrets_rotated(&[s(None, None)], NOW, 90),
            Verdict::Fail { .. }
        ));
    }

    #[test]
    fn backup_retention_numbers() {
        assert!(matches!(
            judge_backup_retention("db", 7, 7),
            Verdict::Pass { .. }
        ));
        let Verdict::Fail { actual, .. } = judge_backup_retention("db", 3, 7) else {
            panic!()
        };
        assert_eq!(actual, "retention 3 days, required ≥ 7");
        let Verdict::Fail { actual, .. } = judge_backup_retention("db", 0, 7) else {
            panic!()
        };
        assert!(actual.contains("automated backups off"));
    }

    #[test]
    fn restore_jobs_within_the_window() {
        let job = |status: &str, days_ago: i64, ty: &str, validation: Option<&str>| RestoreJob {
            id: format!("job-{days_ago}"),
            status: status.into(),
            completed: Some(NOW - days_ago * DAY_S),
            resource_type: Some(ty.into()),
            validation: validation.map(str::to_owned),
        };
        assert!(matches!(
            judge_restore_tested(&[job("COMPLETED", 12, "RDS", None)], Some("RDS"), NOW, 30),
            Verdict::Pass { .. }
        ));
        assert!(matches!(
            judge_restore_tested(&[job("COMPLETED", 31, "RDS", None)], None, NOW, 30),
            Verdict::Fail { .. }
        ));
        assert!(matches!(
            judge_restore_tested(&[job("FAILED", 2, "RDS", None)], None, NOW, 30),
            Verdict::Fail { .. }
        ));
        assert!(matches!(
            judge_restore_tested(&[job("COMPLETED", 2, "S3", None)], Some("RDS"), NOW, 30),
            Verdict::Fail { .. }
        ));
        assert!(matches!(
            judge_restore_tested(&[job("COMPLETED", 2, "RDS", Some("FAILED"))], None, NOW, 30),
            Verdict::Fail { .. }
        ));
        let Verdict::Pass { summary } = judge_restore_tested(
            &[
                job("COMPLETED", 20, "RDS", None),
                job("COMPLETED", 3, "RDS", Some("SUCCESSFUL")),
            ],
            None,
            NOW,
            30,
        ) else {
            panic!()
        };
        assert!(
            summary.contains("job-3") && summary.contains("3 days ago"),
            "{summary}"
        );
        assert!(matches!(
            judge_restore_tested(&[], None, NOW, 30),
            Verdict::Fail { .. }
        ));
    }

    #[test]
    fn bucket_settings() {
        assert!(matches!(
            judge_versioning("b", Some("Enabled")),
            Verdict::Pass { .. }
        ));
        assert!(matches!(
            judge_versioning("b", Some("Suspended")),
            Verdict::Fail { .. }
        ));
        assert!(matches!(judge_versioning("b", None), Verdict::Fail { .. }));
        assert!(matches!(
            judge_encryption("b", &["aws:kms".into()], None),
            Verdict::Pass { .. }
        ));
        assert!(matches!(
            judge_encryption("b", &["AES256".into()], None),
            Verdict::Pass { .. }
        ));
        assert!(matches!(
            judge_encryption("b", &["aws:kms:dsse".into()], Some("aws:kms")),
            Verdict::Pass { .. }
        ));
        let Verdict::Fail { actual, .. } =
            judge_encryption("b", &["AES256".into()], Some("aws:kms"))
        else {
            panic!()
        };
        assert_eq!(actual, "default encryption AES256");
        assert!(matches!(
            judge_encryption("b", &[], None),
            Verdict::Fail { .. }
        ));
    }

    #[test]
    fn endpoint_labels() {
        let ep = AwsEndpoint {
            region: "eu-west-1".into(),
            endpoint_url: None,
        };
        assert_eq!(ep.label(), "AWS eu-west-1");
        assert!(!ep.is_loopback());
        let ep = AwsEndpoint {
            region: "us-east-1".into(),
            endpoint_url: Some(url::Url::parse("http://127.0.0.1:4566/").unwrap()),
        };
        assert_eq!(ep.label(), "http://127.0.0.1:4566");
        assert!(ep.is_loopback());
    }
}
