//! A compliant StageOS account, seeded into a local emulator: what the embedded
//! run's baseline and AWS-side release gates read when no real account is named.
//!
//! Why: on the embedded default target the reference server stands in for StageOS
//! and the emulator for its AWS account, so `cargo run` exercises the P95 and
//! error-budget comparisons, the alarms and the release gates end to end instead
//! of skipping them. The account holds what a healthy production account holds:
//! - the previous release's ALB traffic in CloudWatch: every minute of the hour
//!   before the deploy and of the hour from the same time a week earlier (the
//!   `previous` and `week-ago` baselines), [`BASELINE_REQUESTS_PER_MINUTE`]
//!   requests a minute with latencies spread over [`BASELINE_LATENCY_MS`], no 5xx;
//! - enabled alarms on API latency, the 5xx count, failed jobs and DB CPU;
//! - ECR repositories for the API and web images holding the previous and the
//!   deployed release; the JWT signing and encryption keys in Secrets Manager
//!   (created now, so rotated within 90 days); an RDS instance keeping 7 days of
//!   backups; a versioned files bucket encrypted with `aws:kms`.
//!
//! Restore tests go elsewhere: ministack 1.5.33 lists no restore jobs and has no
//! StartRestoreJob (see tests/aws_gates.rs), so [`seed_restore_test`] starts one
//! restore of the RDS instance's recovery point on an AWS Backup endpoint of its
//! own (the embedded reference's stand-in), the way a restore test does. Only a
//! loopback endpoint is accepted: this never writes to a real account.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, MetricDatum, StandardUnit, Statistic,
};
use url::Url;

use crate::aws::{AwsClients, AwsEndpoint};
use crate::cloudwatch;
use stageos_smoke_gates::settings::release::AwsResources;
use stageos_smoke_gates::settings::{CloudWatchSettings, is_loopback};
use stageos_smoke_gates::stats::WEEK_S;

/// Requests per minute of the seeded baseline traffic.
pub const BASELINE_REQUESTS_PER_MINUTE: u32 = 200;
/// The seeded baseline latencies, milliseconds, spread evenly (p95 ≈ 24 ms).
pub const BASELINE_LATENCY_MS: std::ops::RangeInclusive<u32> = 5..=25;
/// Minutes of baseline traffic seeded before the deploy (and from a week earlier):
/// the longest window the gates judge (`max_window_s`, 1 h by default).
const BASELINE_MINUTES: i64 = 60;

/// What to seed.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountPlan {
    /// The emulator (loopback only).
    pub endpoint: Url,
    /// The ALB's `LoadBalancer` dimension value the target publishes under.
    pub load_balancer: String,
    /// The deploy, unix seconds (a minute boundary): baselines end here.
    pub deployed_at: i64,
    /// The release the target reports (`vX.Y.Z-YYYYMMDD`).
    pub deployed_release: String,
    /// The release before it, the rollback image.
    pub previous_release: String,
}

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// Not an emulator on this machine.
    #[error("refusing to seed {0}: only an emulator on loopback is seeded")]
    NotLoopback(Url),
    /// An AWS call failed.
    #[error("failed to seed the emulator ({call}): {message}")]
    Call {
        /// The API call.
        call: &'static str,
        /// The SDK's error.
        message: String,
    },
}

fn call_err<E: std::error::Error>(call: &'static str) -> impl FnOnce(E) -> SeedError {
    move |e| SeedError::Call {
        call,
        message: aws_sdk_cloudwatch::error::DisplayErrorContext(e).to_string(),
    }
}

/// The resource names of the seeded account.
pub mod names {
    /// ECR repository of the API image.
    pub const ECR_API: &str = "stageos-api";
    /// ECR repository of the web image.
    pub const ECR_WEB: &str = "stageos-web";
    /// Secrets Manager id of the JWT signing key.
    pub const JWT_KEY: &str = "stageos/jwt-signing-key";
    /// Secrets Manager id of the data encryption key.
    pub const ENCRYPTION_KEY: &str = "stageos/encryption-key";
    /// RDS instance.
    pub const RDS_INSTANCE: &str = "stageos-db";
    /// S3 bucket of uploaded files.
    pub const FILES_BUCKET: &str = "stageos-files";
    /// Prefix of the seeded alarms.
    pub const ALARM_PREFIX: &str = "stageos-";
}

/// Seed the account of `plan`; returns the CloudWatch settings and AWS resources
/// that name it, as a config file would.
pub async fn seed(plan: &AccountPlan) -> Result<(CloudWatchSettings, AwsResources), SeedError> {
    if !is_loopback(&plan.endpoint) {
        return Err(SeedError::NotLoopback(plan.endpoint.clone()));
    }
    let cw = CloudWatchSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(plan.endpoint.clone()),
        load_balancer: plan.load_balancer.clone(),
        namespace: "AWS/ApplicationELB".into(),
        deployed_at: Some(plan.deployed_at),
    };
    let endpoint = AwsEndpoint {
        region: cw.region.clone(),
        endpoint_url: Some(plan.endpoint.clone()),
    };
    let cw_client = cloudwatch::client(&cw).await;
    let clients = AwsClients::new(&endpoint).await;
    let tags = [
        plan.previous_release.as_str(),
        plan.deployed_release.as_str(),
    ];
    // Independent resources, seeded side by side.
    let (baseline, alarms, api, web, jwt, enc, db, bucket) = tokio::join!(
        seed_baseline(&cw_client, &cw, plan.deployed_at),
        seed_alarms(&cw_client),
        seed_repository(&clients, names::ECR_API, &tags),
        seed_repository(&clients, names::ECR_WEB, &tags),
        seed_secret(&clients, names::JWT_KEY),
        seed_secret(&clients, names::ENCRYPTION_KEY),
        seed_db(&clients, names::RDS_INSTANCE, 7),
        seed_bucket(&clients, names::FILES_BUCKET),
    );
    baseline?;
    alarms?;
    api?;
    web?;
    jwt?;
    enc?;
    db?;
    bucket?;
    let mut secrets = BTreeMap::new();
    secrets.insert("JWT signing key".to_owned(), names::JWT_KEY.to_owned());
    secrets.insert(
        "encryption key".to_owned(),
        names::ENCRYPTION_KEY.to_owned(),
    );
    let resources = AwsResources {
        endpoint,
        ecr: Some((names::ECR_API.into(), names::ECR_WEB.into())),
        secrets,
        backup_endpoint_url: None,
        rds_instance: Some(names::RDS_INSTANCE.into()),
        restore_tests: false,
        restore_resource_type: None,
        files_bucket: Some(names::FILES_BUCKET.into()),
        files_bucket_sse_algorithm: Some("aws:kms".into()),
        max_rotation_age_days: 90,
        min_backup_retention_days: 7,
        max_restore_test_age_days: 30,
    };
    Ok((cw, resources))
}

/// Start one restore test on the AWS Backup endpoint `endpoint` (loopback only)
/// in `region`: a restore of the seeded RDS instance's recovery point into a
/// scratch instance. Returns the restore job's id.
pub async fn seed_restore_test(endpoint: &Url, region: &str) -> Result<String, SeedError> {
    if !is_loopback(endpoint) {
        return Err(SeedError::NotLoopback(endpoint.clone()));
    }
    let backup = AwsEndpoint {
        region: region.to_owned(),
        endpoint_url: Some(endpoint.clone()),
    };
    let client = aws_sdk_backup::Client::new(&crate::aws::sdk_config(&backup).await);
    let out = client
        .start_restore_job()
        .recovery_point_arn(format!(
            "arn:aws:rds:{}:000000000000:snapshot:awsbackup:{}",
            region,
            names::RDS_INSTANCE
        ))
        .metadata(
            "DBInstanceIdentifier",
            format!("{}-restore-test", names::RDS_INSTANCE),
        )
        .resource_type("RDS")
        .send()
        .await
        .map_err(call_err("backup:StartRestoreJob"))?;
    Ok(out.restore_job_id().unwrap_or_default().to_owned())
}

/// One minute of the previous release's traffic.
fn baseline_minute(load_balancer: &str, minute: i64) -> [MetricDatum; 2] {
    let dim = Dimension::builder()
        .name("LoadBalancer")
        .value(load_balancer)
        .build();
    let ts = DateTime::from_secs(minute);
    let values: Vec<f64> = BASELINE_LATENCY_MS
        .map(|ms| f64::from(ms) / 1000.0)
        .collect();
    let per_value = f64::from(BASELINE_REQUESTS_PER_MINUTE) / values.len() as f64;
    [
        MetricDatum::builder()
            .metric_name("TargetResponseTime")
            .dimensions(dim.clone())
            .timestamp(ts)
            .unit(StandardUnit::Seconds)
            .set_counts(Some(vec![per_value; values.len()]))
            .set_values(Some(values))
            .build(),
        MetricDatum::builder()
            .metric_name("RequestCount")
            .dimensions(dim)
            .timestamp(ts)
            .unit(StandardUnit::Count)
            .value(f64::from(BASELINE_REQUESTS_PER_MINUTE))
            .build(),
    ]
}

/// The minutes of baseline traffic for a deploy at `deployed_at`.
fn baseline_minutes(deployed_at: i64) -> impl Iterator<Item = i64> {
    let before = (1..=BASELINE_MINUTES).map(move |i| deployed_at - 60 * i);
    let week_ago = (0..BASELINE_MINUTES).map(move |i| deployed_at - WEEK_S + 60 * i);
    before.chain(week_ago)
}

async fn seed_baseline(
    client: &aws_sdk_cloudwatch::Client,
    cw: &CloudWatchSettings,
    deployed_at: i64,
) -> Result<(), SeedError> {
    let data: Vec<MetricDatum> = baseline_minutes(deployed_at)
        .flat_map(|m| baseline_minute(&cw.load_balancer, m))
        .collect();
    cloudwatch::put_metric_data(client, cw, &cw.namespace, data)
        .await
        .map_err(|e| SeedError::Call {
            call: "PutMetricData",
            message: e.to_string(),
        })
}

async fn seed_alarms(client: &aws_sdk_cloudwatch::Client) -> Result<(), SeedError> {
    let alarms = [
        (
            "api-latency",
            "AWS/ApplicationELB",
            "TargetResponseTime",
            1.0,
        ),
        (
            "5xx-rate",
            "AWS/ApplicationELB",
            "HTTPCode_Target_5XX_Count",
            10.0,
        ),
        ("queue-failures", "StageOS", "JobsFailed", 5.0),
        ("db-cpu", "AWS/RDS", "CPUUtilization", 80.0),
    ];
    for (name, namespace, metric, threshold) in alarms {
        client
            .put_metric_alarm()
            .alarm_name(format!("{}{name}", names::ALARM_PREFIX))
            .namespace(namespace)
            .metric_name(metric)
            .statistic(Statistic::Average)
            .period(60)
            .evaluation_periods(1)
            .threshold(threshold)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .actions_enabled(true)
            .send()
            .await
            .map_err(call_err("PutMetricAlarm"))?;
    }
    Ok(())
}

/// An image manifest with a config digest of its own per tag.
fn manifest(tag: &str) -> String {
    let hex: String = tag.bytes().map(|b| format!("{b:02x}")).collect();
    let digest = format!("{hex:0>64}");
    let digest = &digest[digest.len() - 64..];
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:{digest}"}},"layers":[]}}"#
    )
}

async fn seed_repository(c: &AwsClients, name: &str, tags: &[&str]) -> Result<(), SeedError> {
    c.ecr
        .create_repository()
        .repository_name(name)
        .send()
        .await
        .map_err(call_err("ecr:CreateRepository"))?;
    for tag in tags {
        c.ecr
            .put_image()
            .repository_name(name)
            .image_manifest(manifest(tag))
            .image_tag(*tag)
            .send()
            .await
            .map_err(call_err("ecr:PutImage"))?;
    }
    Ok(())
}

async fn seed_secret(c: &AwsClients, name: &str) -> Result<(), SeedError> {
    c.secrets
        .create_secret()
        .name(name)
        // A placeholder: the gate reads only the secret's dates.
        .secret_string("seeded-placeholder")
        .send()
        .await
        .map(|_| ())
        .map_err(call_err("secretsmanager:CreateSecret"))
}

async fn seed_db(c: &AwsClients, id: &str, retention_days: i32) -> Result<(), SeedError> {
    c.rds
        .create_db_instance()
        .db_instance_identifier(id)
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .master_username("stageos")
        // Not a secret: an emulator's placeholder the gates never read.
        .master_user_password("Emulator-placeholder-1")
        .allocated_storage(20)
        .backup_retention_period(retention_days)
        .send()
        .await
        .map(|_| ())
        .map_err(call_err("rds:CreateDBInstance"))
}

async fn seed_bucket(c: &AwsClients, name: &str) -> Result<(), SeedError> {
    use aws_sdk_s3::types::{
        BucketVersioningStatus, ServerSideEncryption, ServerSideEncryptionByDefault,
        ServerSideEncryptionConfiguration, ServerSideEncryptionRule, VersioningConfiguration,
    };
    let build = |e: aws_sdk_s3::error::BuildError| SeedError::Call {
        call: "s3:PutBucketEncryption",
        message: e.to_string(),
    };
    c.s3.create_bucket()
        .bucket(name)
        .send()
        .await
        .map_err(call_err("s3:CreateBucket"))?;
    c.s3.put_bucket_versioning()
        .bucket(name)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(call_err("s3:PutBucketVersioning"))?;
    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::AwsKms)
        .build()
        .map_err(build)?;
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(by_default)
        .build();
    c.s3.put_bucket_encryption()
        .bucket(name)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()
                .map_err(build)?,
        )
        .send()
        .await
        .map_err(call_err("s3:PutBucketEncryption"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baselines_cover_the_hour_before_the_deploy_and_a_week_earlier() {
        let deploy = 1_800_000_020 - 1_800_000_020 % 60;
        let minutes: Vec<i64> = baseline_minutes(deploy).collect();
        assert_eq!(minutes.len(), 120);
        assert!(minutes.iter().all(|m| m % 60 == 0 && *m < deploy));
        assert!(minutes.contains(&(deploy - 60)) && minutes.contains(&(deploy - 3600)));
        assert!(
            minutes.contains(&(deploy - WEEK_S)) && minutes.contains(&(deploy - WEEK_S + 3540))
        );
    }

    #[tokio::test]
    async fn a_real_backup_endpoint_is_refused() {
        let real = Url::parse("https://backup.us-east-1.amazonaws.com").unwrap();
        assert!(matches!(
            seed_restore_test(&real, "us-east-1").await,
            Err(SeedError::NotLoopback(_))
        ));
    }

    #[tokio::test]
    async fn a_real_endpoint_is_refused() {
        let plan = AccountPlan {
            endpoint: Url::parse("https://monitoring.us-east-1.amazonaws.com").unwrap(),
            load_balancer: "lb".into(),
            deployed_at: 0,
            deployed_release: "v1.4.0-20261125".into(),
            previous_release: "v1.3.0-20261101".into(),
        };
        assert!(matches!(seed(&plan).await, Err(SeedError::NotLoopback(_))));
    }
}
