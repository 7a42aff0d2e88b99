//! The settings of the release-readiness gates (`[environments.NAME.gates.release]`,
//! see [`crate::release`] for the file format and the judging): the previous
//! release, heartbeat ages, the AWS resources of the AWS-side gates, and the
//! release-tag grammar `vX.Y.Z-YYYYMMDD` they are resolved with.

use std::collections::BTreeMap;

use serde::Deserialize;
use url::Url;

use super::{CloudWatchSettings, is_loopback};
use stageos_smoke_model::config::{ConfigError, EnvSnapshot};

/// Where the AWS calls go.
#[derive(Clone, Debug, PartialEq)]
pub struct AwsEndpoint {
    /// Region.
    pub region: String,
    /// Endpoint override (an emulator); `None`: the AWS default.
    pub endpoint_url: Option<Url>,
}

impl AwsEndpoint {
    /// Whether the endpoint is an emulator on this machine (gets fake static credentials).
    pub fn is_loopback(&self) -> bool {
        self.endpoint_url.as_ref().is_some_and(is_loopback)
    }

    /// For messages: the endpoint URL or `AWS <region>`.
    pub fn label(&self) -> String {
        self.endpoint_url
            .as_ref()
            .map(|u| u.as_str().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("AWS {}", self.region))
    }
}

/// Variable: the previous release's tag (rollback images).
pub const PREVIOUS_RELEASE_VAR: &str = "STAGEOS_PREVIOUS_RELEASE";
/// Variable: the AWS endpoint of the release gates (an emulator).
pub const AWS_ENDPOINT_VAR: &str = "STAGEOS_AWS_ENDPOINT";
/// Variable: the AWS region of the release gates.
pub const AWS_REGION_VAR: &str = "STAGEOS_AWS_REGION";

/// Metric: unix time of the last successful retention/erasure purge run.
pub const RETENTION_PURGE_METRIC: &str = "retention_purge_last_success_timestamp_seconds";
/// Metric: unix time of the last event sent to error tracking (0: none yet).
pub const ERROR_TRACKING_METRIC: &str = "error_tracking_last_event_timestamp_seconds";

/// `[environments.NAME.gates.release.aws]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AwsFileConfig {
    /// Region (default: the CloudWatch region).
    pub region: Option<String>,
    /// Endpoint URL (an emulator).
    pub endpoint_url: Option<String>,
    /// Endpoint URL of AWS Backup alone (an emulator of its own; default:
    /// `endpoint_url`).
    pub backup_endpoint_url: Option<String>,
    /// ECR repository of the API image.
    pub ecr_api_repository: Option<String>,
    /// ECR repository of the web image.
    pub ecr_web_repository: Option<String>,
    /// Secrets Manager id of the JWT signing key.
    pub jwt_key_id: Option<String>,
    /// Secrets Manager id of the data encryption key.
    pub encryption_key_id: Option<String>,
    /// RDS DB instance identifier.
    pub rds_instance: Option<String>,
    /// Look for AWS Backup restore jobs.
    #[serde(default)]
    pub restore_tests: bool,
    /// Only restore jobs of this resource type count (`RDS`, `Aurora`).
    pub restore_resource_type: Option<String>,
    /// S3 bucket of uploaded files.
    pub files_bucket: Option<String>,
    /// The default encryption the files bucket must use (`aws:kms`; default: any).
    pub files_bucket_sse_algorithm: Option<String>,
    /// Oldest acceptable rotation, days.
    pub max_rotation_age_days: Option<i64>,
    /// Smallest acceptable backup retention, days.
    pub min_backup_retention_days: Option<i32>,
    /// Oldest acceptable restore test, days.
    pub max_restore_test_age_days: Option<i64>,
}

/// `[environments.NAME.gates.release]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReleaseFileConfig {
    /// The previous release's tag.
    pub previous_release: Option<String>,
    /// Oldest acceptable retention purge, seconds.
    pub retention_purge_max_age_s: Option<f64>,
    /// Oldest acceptable error-tracking event, seconds.
    pub error_tracking_max_age_s: Option<f64>,
    /// The AWS resources.
    pub aws: Option<AwsFileConfig>,
}

/// Resolved AWS resources (each `None`: its gate is skipped).
#[derive(Clone, Debug, PartialEq)]
pub struct AwsResources {
    /// Where the calls go.
    pub endpoint: AwsEndpoint,
    /// Where the AWS Backup calls go instead, when set (same region).
    pub backup_endpoint_url: Option<Url>,
    /// ECR repositories (API, web).
    pub ecr: Option<(String, String)>,
    /// Secrets Manager ids by purpose.
    pub secrets: BTreeMap<String, String>,
    /// RDS instance.
    pub rds_instance: Option<String>,
    /// Look for restore jobs.
    pub restore_tests: bool,
    /// Only restores of this type count.
    pub restore_resource_type: Option<String>,
    /// Files bucket.
    pub files_bucket: Option<String>,
    /// Required default encryption of the files bucket.
    pub files_bucket_sse_algorithm: Option<String>,
    /// Rotation limit, days.
    pub max_rotation_age_days: i64,
    /// Retention minimum, days.
    pub min_backup_retention_days: i32,
    /// Restore-test limit, days.
    pub max_restore_test_age_days: i64,
}

/// Resolved release-gate settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ReleaseSettings {
    /// The previous release's tag, when given.
    pub previous_release: Option<String>,
    /// Oldest acceptable retention purge, seconds.
    pub retention_purge_max_age_s: f64,
    /// Oldest acceptable error-tracking event, seconds.
    pub error_tracking_max_age_s: f64,
    /// AWS resources; `None`: no `[gates.release.aws]` section.
    pub aws: Option<AwsResources>,
}

impl Default for ReleaseSettings {
    fn default() -> Self {
        Self {
            previous_release: None,
            retention_purge_max_age_s: 26.0 * 3600.0,
            error_tracking_max_age_s: 3600.0,
            aws: None,
        }
    }
}

/// The reason an AWS-side gate is skipped when `setting` is not configured.
pub fn not_configured(setting: &str) -> String {
    format!(
        "no AWS resource configured for this gate (hint: set {setting} in [environments.NAME.gates.release.aws])"
    )
}

/// The reason every AWS-side gate is skipped when the environment names no AWS resources.
pub fn no_aws_configured() -> String {
    "no AWS resources configured for this environment (hint: add [environments.NAME.gates.release.aws] naming the ECR repositories, secrets, RDS instance and files bucket; see README)".to_owned()
}

fn invalid(what: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        what: what.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

/// Resolve flag > variable > file; the endpoint and region fall back to CloudWatch's.
pub fn resolve(
    file: Option<&ReleaseFileConfig>,
    env: &EnvSnapshot,
    cloudwatch: &CloudWatchSettings,
) -> Result<ReleaseSettings, ConfigError> {
    let file = file.cloned().unwrap_or_default();
    let defaults = ReleaseSettings::default();
    let previous_release = env
        .get(PREVIOUS_RELEASE_VAR)
        .map(str::to_owned)
        .or(file.previous_release);
    if let Some(p) = &previous_release
        && parse_release(p).is_none()
    {
        return Err(invalid(
            "previous release",
            p,
            format!(
                "not a release tag like v1.3.2-20261111 (hint: fix {PREVIOUS_RELEASE_VAR} or gates.release.previous_release)"
            ),
        ));
    }
    let aws = match file.aws {
        None => None,
        Some(a) => {
            let endpoint_url = match env.get(AWS_ENDPOINT_VAR).map(str::to_owned).or(a.endpoint_url) {
                None => cloudwatch.endpoint_url.clone(),
                Some(t) => Some(
                    Url::parse(&t)
                        .ok()
                        .filter(|u| matches!(u.scheme(), "http" | "https"))
                        .ok_or_else(|| invalid("AWS endpoint", &t, format!("not an http(s) URL (hint: fix {AWS_ENDPOINT_VAR} or gates.release.aws.endpoint_url)")))?,
                ),
            };
            let backup_endpoint_url = a
                .backup_endpoint_url
                .map(|t| {
                    Url::parse(&t)
                        .ok()
                        .filter(|u| matches!(u.scheme(), "http" | "https"))
                        .ok_or_else(|| {
                            invalid(
                                "AWS Backup endpoint",
                                &t,
                                "not an http(s) URL (hint: fix gates.release.aws.backup_endpoint_url)",
                            )
                        })
                })
                .transpose()?;
            let region = env
                .get(AWS_REGION_VAR)
                .map(str::to_owned)
                .or(a.region)
                .unwrap_or_else(|| cloudwatch.region.clone());
            let ecr = match (a.ecr_api_repository, a.ecr_web_repository) {
                (Some(api), Some(web)) => Some((api, web)),
                (None, None) => None,
                (Some(r), None) | (None, Some(r)) => {
                    return Err(invalid(
                        "ECR repositories",
                        &r,
                        "both ecr_api_repository and ecr_web_repository are needed (hint: name both in gates.release.aws)",
                    ));
                }
            };
            let mut secrets = BTreeMap::new();
            if let Some(id) = a.jwt_key_id {
                secrets.insert("JWT signing key".to_owned(), id);
            }
            if let Some(id) = a.encryption_key_id {
                secrets.insert("encryption key".to_owned(), id);
            }
            Some(AwsResources {
                endpoint: AwsEndpoint {
                    region,
                    endpoint_url,
                },
                backup_endpoint_url,
                ecr,
                secrets,
                rds_instance: a.rds_instance,
                restore_tests: a.restore_tests,
                restore_resource_type: a.restore_resource_type,
                files_bucket: a.files_bucket,
                files_bucket_sse_algorithm: a.files_bucket_sse_algorithm,
                max_rotation_age_days: a.max_rotation_age_days.unwrap_or(90),
                min_backup_retention_days: a.min_backup_retention_days.unwrap_or(7),
                max_restore_test_age_days: a.max_restore_test_age_days.unwrap_or(30),
            })
        }
    };
    Ok(ReleaseSettings {
        previous_release,
        retention_purge_max_age_s: file
            .retention_purge_max_age_s
            .unwrap_or(defaults.retention_purge_max_age_s),
        error_tracking_max_age_s: file
            .error_tracking_max_age_s
            .unwrap_or(defaults.error_tracking_max_age_s),
        aws,
    })
}

// --- release tags ------------------------------------------------------------

/// A release tag `vX.Y.Z-YYYYMMDD`, ordered by version then date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Release {
    /// X.
    pub major: u32,
    /// Y.
    pub minor: u32,
    /// Z.
    pub patch: u32,
    /// The date suffix as YYYYMMDD.
    pub date: u32,
}

/// Parse `vX.Y.Z-YYYYMMDD` (the date must be a real calendar date).
pub fn parse_release(tag: &str) -> Option<Release> {
    let rest = tag.strip_prefix('v')?;
    let (version, date) = rest.split_once('-')?;
    let mut parts = version.split('.');
    let mut num = || -> Option<u32> {
        let p = parts.next()?;
        if p.is_empty()
            || !p.bytes().all(|b| b.is_ascii_digit())
            || (p.len() > 1 && p.starts_with('0'))
        {
            return None;
        }
        p.parse().ok()
    };
    let (major, minor, patch) = (num()?, num()?, num()?);
    if parts.next().is_some() || date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: i32 = date[..4].parse().ok()?;
    let m: u8 = date[4..6].parse().ok()?;
    let d: u8 = date[6..].parse().ok()?;
    time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()?;
    Some(Release {
        major,
        minor,
        patch,
        date: date.parse().ok()?,
    })
}
