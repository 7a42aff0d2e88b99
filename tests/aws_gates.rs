//! `cargo test --test aws_gates`: the release flow's AWS-side gates, each shown to pass
//! on a compliant account and to fail on its own non-compliant variant.
//!
//! Emulator trials seed ministack (endpoint from `STAGEOS_TEST_AWS_ENDPOINT`, else
//! `STAGEOS_TEST_CLOUDWATCH_ENDPOINT`, else the pinned emulator this process starts
//! on first use: `tests/harness/mod.rs`; loopback only, fake static credentials)
//! and run the release flow against it, every trial with its own resource names (a
//! fresh suffix) instead of resetting the emulator. Where the emulator cannot start
//! they fail with the reason and the fix; only `STAGEOS_TEST_SKIP_EMULATOR=1`
//! reports them ignored — never a silent pass.
//!
//! What ministack 1.5.33 lacks, and how each gap is covered instead (mock trials,
//! aws-smithy-mocks, always run):
//! - Secrets Manager `DescribeSecret` never returns `LastRotatedDate` (not even after
//!   `RotateSecret`), and `CreatedDate` cannot be back-dated: the emulator trial
//!   judges fresh secrets as of 91 days later (`STAGEOS_GATES_AT`); the mock trial
//!   shows `LastRotatedDate` is preferred over `CreatedDate`.
//! - AWS Backup `ListRestoreJobs` always answers an empty list and `StartRestoreJob`
//!   has no route: the emulator shows only the failing side (no restore job); the
//!   mock trial shows a completed restore job within 30 days passes, and the
//!   stand-in trial points `backup_endpoint_url` at the reference's AWS Backup
//!   stand-in (what the embedded run's account uses), seeds a restore test there
//!   and shows it pass, then fail once it is 45 days old.
//! - S3 `GetBucketEncryption` always reports at least the SSE-S3 default (as AWS does
//!   since 2023): the emulator's non-compliant bucket is one without `aws:kms` when
//!   the environment requires it; the mock trial covers
//!   `ServerSideEncryptionConfigurationNotFoundError`.
//! - Missing permissions (`AccessDenied…`) cannot be provoked (auth disabled): a mock
//!   trial shows the error names the API call and the IAM action.
//!
//! Rollout order and the release tag need no AWS: they run against reference
//! servers started here.

mod harness;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_mocks::{MockResponseInterceptor, RuleMode, mock};
use libtest_mimic::{Arguments, Completion, Failed, Trial};

use stageos_reference::{Fault, RunningServer, ServerOptions};
use stageos_smoke::config::{EnvSnapshot, Overrides, Settings};
use stageos_smoke::gates::Verdict;
use stageos_smoke::gates::aws::{self, AwsClients, AwsEndpoint, DAY_S};
use stageos_smoke::gates::seed;
use stageos_smoke::outcome::{RunReport, StepOutcome};
use stageos_smoke::runner::{self, RunOptions};
use stageos_smoke::secrets::Redactor;
use stageos_smoke::selection::Selection;

/// The emulator endpoint variable of these tests.
const AWS_ENDPOINT_VAR: &str = "STAGEOS_TEST_AWS_ENDPOINT";
/// The CloudWatch tests' variable: the same ministack serves both.
const CW_ENDPOINT_VAR: &str = "STAGEOS_TEST_CLOUDWATCH_ENDPOINT";
/// Where these trials find the emulator, in order.
const EMULATOR_VARS: &[&str] = &[AWS_ENDPOINT_VAR, CW_ENDPOINT_VAR];
/// The services the trials need from the emulator.
const SERVICES: [&str; 5] = ["ecr", "secretsmanager", "rds", "backup", "s3"];
/// The reference server's default release and the one before it.
const DEPLOYED: &str = "v1.4.0-20261125";
const PREVIOUS: &str = "v1.3.0-20261101";

use harness::{TestResult, check, runtime, summary};

fn fail(msg: impl std::fmt::Display) -> Failed {
    Failed::from(msg.to_string())
}

/// Run `f` with the emulator endpoint (see [`harness::emulator`]), or fail or
/// ignore the trial with the reason.
fn with_emulator(f: impl FnOnce(String) -> Result<(), Failed>) -> TestResult {
    harness::with_emulator(EMULATOR_VARS, f)
}

fn endpoint(ep: &str) -> AwsEndpoint {
    AwsEndpoint {
        region: "us-east-1".into(),
        endpoint_url: Some(url::Url::parse(ep).expect("checked URL")),
    }
}

fn suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_owned()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

// ------------------------------------------------------------------ running the flow

/// One run of the release flow (only its steps) with a config file holding `toml`
/// as environment `t`.
struct ReleaseRun {
    target: String,
    config: String,
    env: Vec<(&'static str, String)>,
    expect_version: Option<&'static str>,
}

impl ReleaseRun {
    fn embedded(config: String) -> Self {
        Self {
            target: "embedded".into(),
            config,
            env: Vec::new(),
            expect_version: None,
        }
    }

    async fn run(self) -> Result<RunReport, Failed> {
        let dir = std::env::temp_dir().join(format!("stageos-aws-gates-{}", suffix()));
        std::fs::create_dir_all(&dir).map_err(fail)?;
        let config = dir.join("stageos-smoke.toml");
        std::fs::write(&config, self.config).map_err(fail)?;
        let overrides = Overrides {
            target: Some(self.target),
            profile: Some("post-deploy".into()),
            environment: Some("t".into()),
            config: Some(config),
            report_dir: Some(dir.join("reports")),
            expect_version: self.expect_version.map(str::to_owned),
            ..Overrides::default()
        };
        let env = EnvSnapshot::from_pairs(self.env);
        let settings =
            Settings::resolve(&overrides, &env).map_err(|e| fail(format!("settings: {e}")))?;
        let options = RunOptions {
            selection: Selection {
                filter: Some("release::".into()),
                ..Selection::default()
            },
            concurrency: 1,
        };
        let report = runner::run(&settings, &options, &env, &Redactor::new()).await;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(report)
    }
}

fn outcomes(report: &RunReport) -> BTreeMap<String, &StepOutcome> {
    report
        .steps
        .iter()
        .map(|s| (s.step.clone(), &s.outcome))
        .collect()
}

/// `step` failed and its message holds every needle; no other step failed or errored.
fn only_failure(report: &RunReport, step: &str, needles: &[&str]) -> Result<(), Failed> {
    let all = outcomes(report);
    match all.get(step) {
        Some(StepOutcome::Failed { message, .. }) => {
            for n in needles {
                check(message.contains(n), || {
                    format!("{step}: {message:?} lacks {n:?}\n{}", summary(report))
                })?;
            }
        }
        other => {
            return Err(fail(format!(
                "{step} should fail, got {other:?}\n{}",
                summary(report)
            )));
        }
    }
    let others: Vec<&String> = all
        .iter()
        .filter(|(s, o)| {
            s.as_str() != step
                && matches!(o, StepOutcome::Failed { .. } | StepOutcome::Error { .. })
        })
        .map(|(s, _)| s)
        .collect();
    check(others.is_empty(), || {
        format!(
            "only {step} may fail, also: {others:?}\n{}",
            summary(report)
        )
    })
}

fn expect_statuses(report: &RunReport, expected: &[(&str, &str)]) -> Result<(), Failed> {
    let all = outcomes(report);
    for (step, label) in expected {
        let got = all.get(*step).map(|o| o.label()).unwrap_or("absent");
        check(got == *label, || {
            format!("{step}: expected {label}, got {got}\n{}", summary(report))
        })?;
    }
    Ok(())
}

// ------------------------------------------------------------------ seeding the emulator

fn manifest(tag: &str) -> String {
    // A distinct config digest per tag, so each tag is its own image.
    let digest = format!(
        "{:0>64}",
        tag.bytes().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let digest = &digest[digest.len() - 64..];
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:{digest}"}},"layers":[]}}"#
    )
}

async fn seed_repository(c: &AwsClients, name: &str, tags: &[&str]) -> Result<(), Failed> {
    c.ecr
        .create_repository()
        .repository_name(name)
        .send()
        .await
        .map_err(|e| fail(aws_sdk_ecr::error::DisplayErrorContext(e)))?;
    for tag in tags {
        c.ecr
            .put_image()
            .repository_name(name)
            .image_manifest(manifest(tag))
            .image_tag(*tag)
            .send()
            .await
            .map_err(|e| fail(aws_sdk_ecr::error::DisplayErrorContext(e)))?;
    }
    Ok(())
}

async fn seed_secret(c: &AwsClients, name: &str) -> Result<(), Failed> {
    c.secrets
        .create_secret()
        .name(name)
        .secret_string("smoke-test-value")
        .send()
        .await
        .map(|_| ())
        .map_err(|e| fail(aws_sdk_secretsmanager::error::DisplayErrorContext(e)))
}

async fn seed_db(c: &AwsClients, id: &str, retention_days: i32) -> Result<(), Failed> {
    c.rds
        .create_db_instance()
        .db_instance_identifier(id)
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .master_username("stageos")
        .master_user_password("Sm0ke-not-a-secret")
        .allocated_storage(20)
        .backup_retention_period(retention_days)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| fail(aws_sdk_rds::error::DisplayErrorContext(e)))
}

async fn seed_bucket(c: &AwsClients, name: &str, versioned: bool, kms: bool) -> Result<(), Failed> {
    use aws_sdk_s3::types::{
        BucketVersioningStatus, ServerSideEncryption, ServerSideEncryptionByDefault,
        ServerSideEncryptionConfiguration, ServerSideEncryptionRule, VersioningConfiguration,
    };
    let err = |e: aws_sdk_s3::error::BuildError| fail(e);
    c.s3.create_bucket()
        .bucket(name)
        .send()
        .await
        .map_err(|e| fail(aws_sdk_s3::error::DisplayErrorContext(e)))?;
    if versioned {
        c.s3.put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| fail(aws_sdk_s3::error::DisplayErrorContext(e)))?;
    }
    if kms {
        let by_default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::AwsKms)
            .build()
            .map_err(err)?;
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(by_default)
            .build();
        c.s3.put_bucket_encryption()
            .bucket(name)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(rule)
                    .build()
                    .map_err(err)?,
            )
            .send()
            .await
            .map_err(|e| fail(aws_sdk_s3::error::DisplayErrorContext(e)))?;
    }
    Ok(())
}

/// `[environments.t]` with the given `[…gates.release.aws]` keys.
fn aws_config(ep: &str, keys: &str) -> String {
    format!(
        "[environments.t.gates.release.aws]\nendpoint_url = \"{ep}\"\nregion = \"us-east-1\"\n{keys}"
    )
}

// ------------------------------------------------------------------ emulator trials

fn services_available() -> TestResult {
    with_emulator(|ep| {
        let url = url::Url::parse(&ep).map_err(fail)?;
        let addr = format!(
            "{}:{}",
            url.host_str().unwrap_or("127.0.0.1"),
            url.port_or_known_default().unwrap_or(80)
        );
        let mut s = std::net::TcpStream::connect(&addr)
            .map_err(|e| fail(format!("emulator at {ep}: {e}")))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(fail)?;
        write!(s, "GET /_ministack/health HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(fail)?;
        let mut body = String::new();
        s.read_to_string(&mut body).map_err(fail)?;
        for svc in SERVICES {
            check(body.contains(&format!("\"{svc}\": \"available\"")), || {
                format!(
                    "the emulator at {ep} does not serve {svc} (hint: restart it: scripts/cw-emulator.sh stop && scripts/cw-emulator.sh start): {body}"
                )
            })?;
        }
        Ok(())
    })
}

fn compliant_account_passes() -> TestResult {
    with_emulator(|ep| {
        runtime().block_on(async {
            let s = suffix();
            let c = AwsClients::new(&endpoint(&ep)).await;
            seed_repository(&c, &format!("ok-api-{s}"), &[PREVIOUS, DEPLOYED]).await?;
            seed_repository(&c, &format!("ok-web-{s}"), &[PREVIOUS, DEPLOYED]).await?;
            seed_secret(&c, &format!("ok/jwt-{s}")).await?;
            seed_secret(&c, &format!("ok/enc-{s}")).await?;
            seed_db(&c, &format!("ok-db-{s}"), 7).await?;
            seed_bucket(&c, &format!("ok-files-{s}"), true, true).await?;
            let report = ReleaseRun::embedded(aws_config(
                &ep,
                &format!(
                    "ecr_api_repository = \"ok-api-{s}\"\necr_web_repository = \"ok-web-{s}\"\njwt_key_id = \"ok/jwt-{s}\"\nencryption_key_id = \"ok/enc-{s}\"\nrds_instance = \"ok-db-{s}\"\nfiles_bucket = \"ok-files-{s}\"\nfiles_bucket_sse_algorithm = \"aws:kms\"\n"
                ),
            ))
            .run()
            .await?;
            expect_statuses(
                &report,
                &[
                    ("release_tag", "passed"),
                    ("rollback_images", "passed"),
                    ("secrets_rotated", "passed"),
                    ("rds_backup_retention", "passed"),
                    ("files_bucket_versioned", "passed"),
                    ("files_bucket_encrypted", "passed"),
                    ("retention_purge_observed", "passed"),
                    ("error_tracking_ingesting", "passed"),
                    // Not configured here: ministack lists no restore jobs (mock
                    // trial; the stand-in trial reads them elsewhere).
                    ("restore_tested", "skipped"),
                    // The embedded reference's worker and web stand-ins.
                    ("rollout_order", "passed"),
                ],
            )
        })
    })
}

fn rollback_tag_missing_in_web_fails() -> TestResult {
    with_emulator(|ep| {
        runtime().block_on(async {
            let s = suffix();
            let c = AwsClients::new(&endpoint(&ep)).await;
            seed_repository(&c, &format!("rb-api-{s}"), &[PREVIOUS, DEPLOYED]).await?;
            seed_repository(&c, &format!("rb-web-{s}"), &[DEPLOYED]).await?;
            let cfg = aws_config(
                &ep,
                &format!(
                    "ecr_api_repository = \"rb-api-{s}\"\necr_web_repository = \"rb-web-{s}\"\n"
                ),
            );
            let report = ReleaseRun::embedded(cfg.clone()).run().await?;
            only_failure(
                &report,
                "rollback_images",
                &[&format!("rb-web-{s} lacks {PREVIOUS}")],
            )?;
            // No release below the deployed one at all: fails too, naming the count.
            seed_repository(&c, &format!("rb-new-{s}"), &[DEPLOYED]).await?;
            let cfg = aws_config(
                &ep,
                &format!(
                    "ecr_api_repository = \"rb-new-{s}\"\necr_web_repository = \"rb-new-{s}\"\n"
                ),
            );
            let report = ReleaseRun::embedded(cfg).run().await?;
            only_failure(
                &report,
                "rollback_images",
                &["a release tag older than the deployed", "none among 1 tags"],
            )
        })
    })
}

fn secrets_older_than_90_days_fail() -> TestResult {
    with_emulator(|ep| {
        runtime().block_on(async {
            let s = suffix();
            let c = AwsClients::new(&endpoint(&ep)).await;
            seed_secret(&c, &format!("old/jwt-{s}")).await?;
            seed_secret(&c, &format!("old/enc-{s}")).await?;
            let cfg = aws_config(
                &ep,
                &format!("jwt_key_id = \"old/jwt-{s}\"\nencryption_key_id = \"old/enc-{s}\"\n"),
            );
            // Judged today: created just now, within 90 days.
            let report = ReleaseRun::embedded(cfg.clone()).run().await?;
            expect_statuses(&report, &[("secrets_rotated", "passed")])?;
            // The same secrets judged 91 days from now (CreatedDate cannot be back-dated
            // in the emulator, and it reports no LastRotatedDate).
            let mut run = ReleaseRun::embedded(cfg);
            run.env
                .push(("STAGEOS_GATES_AT", (now() + 91 * DAY_S).to_string()));
            let report = run.run().await?;
            only_failure(
                &report,
                "secrets_rotated",
                &[
                    "created (never rotated) 91 days ago",
                    "within 90 days",
                    &format!("old/jwt-{s}"),
                ],
            )
        })
    })
}

fn rds_retention_below_7_days_fails() -> TestResult {
    with_emulator(|ep| {
        runtime().block_on(async {
            let s = suffix();
            let c = AwsClients::new(&endpoint(&ep)).await;
            seed_db(&c, &format!("short-db-{s}"), 3).await?;
            seed_db(&c, &format!("off-db-{s}"), 0).await?;
            let report = ReleaseRun::embedded(aws_config(
                &ep,
                &format!("rds_instance = \"short-db-{s}\"\n"),
            ))
            .run()
            .await?;
            only_failure(
                &report,
                "rds_backup_retention",
                &["retention 3 days, required ≥ 7"],
            )?;
            let report =
                ReleaseRun::embedded(aws_config(&ep, &format!("rds_instance = \"off-db-{s}\"\n")))
                    .run()
                    .await?;
            only_failure(&report, "rds_backup_retention", &["automated backups off"])
        })
    })
}

fn no_restore_job_fails() -> TestResult {
    with_emulator(|ep| {
        runtime().block_on(async {
            let report = ReleaseRun::embedded(aws_config(
                &ep,
                "restore_tests = true\nrestore_resource_type = \"RDS\"\n",
            ))
            .run()
            .await?;
            only_failure(
                &report,
                "restore_tested",
                &[
                    "a completed RDS restore job within 30 days",
                    "none: 0 completed restore jobs",
                ],
            )
        })
    })
}

fn bucket_versioning_off_fails() -> TestResult {
    with_emulator(|ep| {
        runtime().block_on(async {
            let s = suffix();
            let c = AwsClients::new(&endpoint(&ep)).await;
            seed_bucket(&c, &format!("nover-{s}"), false, true).await?;
            let report = ReleaseRun::embedded(aws_config(
                &ep,
                &format!(
                    "files_bucket = \"nover-{s}\"\nfiles_bucket_sse_algorithm = \"aws:kms\"\n"
                ),
            ))
            .run()
            .await?;
            only_failure(&report, "files_bucket_versioned", &["never enabled"])?;
            expect_statuses(&report, &[("files_bucket_encrypted", "passed")])
        })
    })
}

fn bucket_without_kms_fails() -> TestResult {
    with_emulator(|ep| {
        runtime().block_on(async {
            let s = suffix();
            let c = AwsClients::new(&endpoint(&ep)).await;
            seed_bucket(&c, &format!("nokms-{s}"), true, false).await?;
            let report = ReleaseRun::embedded(aws_config(
                &ep,
                &format!(
                    "files_bucket = \"nokms-{s}\"\nfiles_bucket_sse_algorithm = \"aws:kms\"\n"
                ),
            ))
            .run()
            .await?;
            only_failure(
                &report,
                "files_bucket_encrypted",
                &["default encryption AES256"],
            )?;
            expect_statuses(&report, &[("files_bucket_versioned", "passed")])?;
            // Without a required algorithm, the default SSE-S3 encryption is enough.
            let report =
                ReleaseRun::embedded(aws_config(&ep, &format!("files_bucket = \"nokms-{s}\"\n")))
                    .run()
                    .await?;
            expect_statuses(&report, &[("files_bucket_encrypted", "passed")])
        })
    })
}

fn missing_resources_are_errors_naming_the_iam_action() -> TestResult {
    with_emulator(|ep| {
        runtime().block_on(async {
            let s = suffix();
            let report = ReleaseRun::embedded(aws_config(
                &ep,
                &format!(
                    "ecr_api_repository = \"gone-api-{s}\"\necr_web_repository = \"gone-web-{s}\"\njwt_key_id = \"gone/jwt-{s}\"\nrds_instance = \"gone-db-{s}\"\nfiles_bucket = \"gone-files-{s}\"\n"
                ),
            ))
            .run()
            .await?;
            let all = outcomes(&report);
            for (step, action) in [
                ("rollback_images", "ecr:DescribeImages"),
                ("secrets_rotated", "secretsmanager:DescribeSecret"),
                ("rds_backup_retention", "rds:DescribeDBInstances"),
                ("files_bucket_versioned", "s3:GetBucketVersioning"),
                ("files_bucket_encrypted", "s3:GetEncryptionConfiguration"),
            ] {
                match all.get(step) {
                    Some(StepOutcome::Error { message }) => check(
                        message.contains(action) && message.contains("does not exist") && message.contains(&s),
                        || format!("{step}: {message}"),
                    )?,
                    other => return Err(fail(format!("{step} should be an error, got {other:?}\n{}", summary(&report)))),
                }
            }
            check(!all.values().any(|o| matches!(o, StepOutcome::Failed { .. })), || summary(&report))
        })
    })
}

// ------------------------------------------------------------------ mock trials (no emulator)

fn mock_sdk() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "mock", "mock", None, None, "mock",
        )))
        .http_client(aws_smithy_mocks::create_mock_http_client())
        .build()
}

fn mock_endpoint() -> AwsEndpoint {
    AwsEndpoint {
        region: "us-east-1".into(),
        endpoint_url: None,
    }
}

fn interceptor(rules: &[&aws_smithy_mocks::Rule]) -> MockResponseInterceptor {
    rules.iter().fold(
        MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny),
        |i, r| i.with_rule(r),
    )
}

fn mock_secrets_prefer_last_rotated_date() -> TestResult {
    use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
    use aws_sdk_secretsmanager::primitives::DateTime;
    runtime()
        .block_on(async {
            let t = now();
            let recent = mock!(aws_sdk_secretsmanager::Client::describe_secret)
                .match_requests(|r| r.secret_id() == Some("rotated"))
                .then_output(move || {
                    DescribeSecretOutput::builder()
                        .name("rotated")
                        .created_date(DateTime::from_secs(t - 400 * DAY_S))
                        .last_rotated_date(DateTime::from_secs(t - 10 * DAY_S))
                        .build()
                });
            let stale = mock!(aws_sdk_secretsmanager::Client::describe_secret)
                .match_requests(|r| r.secret_id() == Some("stale"))
                .then_output(move || {
                    DescribeSecretOutput::builder()
                        .name("stale")
                        .created_date(DateTime::from_secs(t - 5 * DAY_S))
                        .last_rotated_date(DateTime::from_secs(t - 120 * DAY_S))
                        .build()
                });
            let sdk = mock_sdk();
            let mut c = AwsClients::from_sdk_config(mock_endpoint(), &sdk);
            c.secrets = aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(&sdk)
                    .interceptor(interceptor(&[&recent, &stale]))
                    .build(),
            );
            let a = aws::fetch_secret_age(&c, "JWT signing key", "rotated")
                .await
                .map_err(fail)?;
            let b = aws::fetch_secret_age(&c, "encryption key", "stale")
                .await
                .map_err(fail)?;
            check(a.last_rotated == Some(t - 10 * DAY_S), || format!("{a:?}"))?;
            match aws::judge_secrets_rotated(std::slice::from_ref(&a), t, 90) {
                Verdict::Pass { summary } => {
                    check(summary.contains("rotated 10 days ago"), || summary.clone())?
                }
                other => return Err(fail(format!("{other:?}"))),
            }
            match aws::judge_secrets_rotated(&[a, b], t, 90) {
                Verdict::Fail { actual, .. } => check(
                    actual.contains("encryption key (stale) rotated 120 days ago")
                        && !actual.contains("JWT"),
                    || actual.clone(),
                ),
                other => Err(fail(format!("{other:?}"))),
            }
        })
        .map(|()| Completion::Completed)
}

fn mock_restore_job_within_30_days() -> TestResult {
    use aws_sdk_backup::operation::list_restore_jobs::ListRestoreJobsOutput;
    use aws_sdk_backup::primitives::DateTime;
    use aws_sdk_backup::types::{RestoreJobStatus, RestoreJobsListMember};
    runtime()
        .block_on(async {
            let t = now();
            let job = |id: &str, days_ago: i64| {
                RestoreJobsListMember::builder()
                    .restore_job_id(id)
                    .status(RestoreJobStatus::Completed)
                    .completion_date(DateTime::from_secs(t - days_ago * DAY_S))
                    .resource_type("RDS")
                    .build()
            };
            for (jobs, pass) in [
                (vec![job("recent", 5), job("old", 40)], true),
                (vec![job("old", 40)], false),
                (vec![], false),
            ] {
                let rule =
                    mock!(aws_sdk_backup::Client::list_restore_jobs).then_output(move || {
                        ListRestoreJobsOutput::builder()
                            .set_restore_jobs(Some(jobs.clone()))
                            .build()
                    });
                let sdk = mock_sdk();
                let mut c = AwsClients::from_sdk_config(mock_endpoint(), &sdk);
                c.backup = aws_sdk_backup::Client::from_conf(
                    aws_sdk_backup::config::Builder::from(&sdk)
                        .interceptor(interceptor(&[&rule]))
                        .build(),
                );
                let listed = aws::fetch_restore_jobs(&c, t - 30 * DAY_S)
                    .await
                    .map_err(fail)?;
                let v = aws::judge_restore_tested(&listed, Some("RDS"), t, 30);
                match (&v, pass) {
                    (Verdict::Pass { summary }, true) => check(
                        summary.contains("restore job recent completed 5 days ago"),
                        || summary.clone(),
                    )?,
                    (Verdict::Fail { expected, .. }, false) => {
                        check(expected.contains("within 30 days"), || expected.clone())?
                    }
                    _ => return Err(fail(format!("pass={pass}: {v:?}"))),
                }
            }
            Ok(())
        })
        .map(|()| Completion::Completed)
}

fn mock_missing_permission_names_api_and_iam_action() -> TestResult {
    runtime().block_on(async {
        let denied_ecr = mock!(aws_sdk_ecr::Client::describe_images)
            .sequence()
            .http_status(
                400,
                Some(r#"{"__type":"AccessDeniedException","message":"User: arn:aws:sts::123456789012:assumed-role/ci/smoke is not authorized to perform: ecr:DescribeImages"}"#.into()),
            )
            .build();
        let denied_s3 = mock!(aws_sdk_s3::Client::get_bucket_encryption)
            .sequence()
            .http_status(403, Some("<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>".into()))
            .build();
        let sdk = mock_sdk();
        let mut c = AwsClients::from_sdk_config(mock_endpoint(), &sdk);
        c.ecr = aws_sdk_ecr::Client::from_conf(aws_sdk_ecr::config::Builder::from(&sdk).interceptor(interceptor(&[&denied_ecr])).build());
        c.s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).interceptor(interceptor(&[&denied_s3])).build());
        let e = aws::fetch_image_tags(&c, "stageos-api").await.err().ok_or_else(|| fail("DescribeImages should fail"))?;
        let text = e.to_string();
        check(e.code.as_deref() == Some("AccessDeniedException"), || text.clone())?;
        check(
            text.starts_with("failed to call ecr:DescribeImages on repository stageos-api (AWS us-east-1)")
                && text.contains("lacks IAM action ecr:DescribeImages"),
            || text.clone(),
        )?;
        let e = aws::fetch_bucket_encryption(&c, "files").await.err().ok_or_else(|| fail("GetBucketEncryption should fail"))?;
        let text = e.to_string();
        check(text.contains("s3:GetBucketEncryption") && text.contains("lacks IAM action s3:GetEncryptionConfiguration"), || text.clone())?;
        Ok(())
    })
    .map(|()| Completion::Completed)
}

fn mock_bucket_without_encryption_fails() -> TestResult {
    runtime().block_on(async {
        let none = mock!(aws_sdk_s3::Client::get_bucket_encryption)
            .sequence()
            .http_status(
                404,
                Some("<Error><Code>ServerSideEncryptionConfigurationNotFoundError</Code><Message>The server side encryption configuration was not found</Message></Error>".into()),
            )
            .build();
        let sdk = mock_sdk();
        let mut c = AwsClients::from_sdk_config(mock_endpoint(), &sdk);
        c.s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).interceptor(interceptor(&[&none])).build());
        let algorithms = aws::fetch_bucket_encryption(&c, "files").await.map_err(fail)?;
        check(algorithms.is_empty(), || format!("{algorithms:?}"))?;
        match aws::judge_encryption("files", &algorithms, None) {
            Verdict::Fail { actual, .. } => check(actual == "no default encryption configured", || actual.clone()),
            other => Err(fail(format!("{other:?}"))),
        }
    })
    .map(|()| Completion::Completed)
}

// ------------------------------------------------------------------ no AWS at all

fn without_aws_every_aws_gate_is_skipped_with_the_reason() -> TestResult {
    runtime()
        .block_on(async {
            let report = ReleaseRun::embedded(String::from("[environments.t]\n"))
                .run()
                .await?;
            for step in [
                "rollback_images",
                "secrets_rotated",
                "rds_backup_retention",
                "restore_tested",
                "files_bucket_versioned",
                "files_bucket_encrypted",
            ] {
                match outcomes(&report).get(step) {
                    Some(StepOutcome::Skipped { reason }) => check(
                        reason.contains("no AWS resources configured")
                            && reason.contains("gates.release.aws"),
                        || reason.clone(),
                    )?,
                    other => return Err(fail(format!("{step}: {other:?}"))),
                }
            }
            // Some resources named: the others say which setting is missing.
            let report =
                ReleaseRun::embedded(aws_config("http://127.0.0.1:9", "rds_instance = \"x\"\n"))
                    .run()
                    .await?;
            match outcomes(&report).get("files_bucket_versioned") {
                Some(StepOutcome::Skipped { reason }) => {
                    check(reason.contains("set files_bucket"), || reason.clone())
                }
                other => Err(fail(format!("{other:?}"))),
            }
        })
        .map(|()| Completion::Completed)
}

// ------------------------------------------------------------------ release tag and rollout order

async fn reference(version: &str) -> RunningServer {
    let _ = rustls::crypto::ring::default_provider().install_default();
    RunningServer::start(ServerOptions {
        version: version.to_owned(),
        ..ServerOptions::default()
    })
    .await
    .expect("reference server starts")
}

fn release_tag_and_expected_version() -> TestResult {
    runtime()
        .block_on(async {
            let report = ReleaseRun::embedded("[environments.t]\n".into())
                .run()
                .await?;
            expect_statuses(&report, &[("release_tag", "passed")])?;
            let mut run = ReleaseRun::embedded("[environments.t]\n".into());
            run.expect_version = Some("v1.4.1-20261126");
            only_failure(
                &run.run().await?,
                "release_tag",
                &["v1.4.1-20261126", DEPLOYED],
            )?;
            let plain = reference("1.4.2").await;
            let mut run = ReleaseRun::embedded("[environments.t]\n".into());
            run.target = plain.base_url();
            let report = run.run().await?;
            plain.shutdown().await;
            only_failure(
                &report,
                "release_tag",
                &["vX.Y.Z plus a date suffix", "\"1.4.2\""],
            )
        })
        .map(|()| Completion::Completed)
}

fn rollout_order() -> TestResult {
    runtime().block_on(async {
        let pause = || tokio::time::sleep(Duration::from_millis(1100));
        // Compliant: API, then worker, then web (start times a second apart).
        let api = reference(DEPLOYED).await;
        pause().await;
        let worker = reference(DEPLOYED).await;
        pause().await;
        let web = reference(DEPLOYED).await;
        let services = |w: &RunningServer, v: &RunningServer| {
            format!("[environments.t.gates.services]\nworker = \"{}/api/health\"\nweb = \"{}/api/health\"\n", w.base_url(), v.base_url())
        };
        let mut run = ReleaseRun::embedded(services(&worker, &web));
        run.target = api.base_url();
        expect_statuses(&run.run().await?, &[("rollout_order", "passed")])?;
        // Web rolled before the worker.
        let mut run = ReleaseRun::embedded(services(&web, &worker));
        run.target = api.base_url();
        only_failure(&run.run().await?, "rollout_order", &["worker started", "s after web"])?;
        // The worker is still on the previous release.
        let old = reference(PREVIOUS).await;
        let mut run = ReleaseRun::embedded(services(&old, &web));
        run.target = api.base_url();
        only_failure(&run.run().await?, "rollout_order", &[&format!("worker reports {PREVIOUS}")])?;
        for s in [api, worker, web, old] {
            s.shutdown().await;
        }
        Ok(())
    })
    .map(|()| Completion::Completed)
}

fn restore_test_on_its_own_backup_endpoint() -> TestResult {
    runtime()
        .block_on(async {
            let api = reference(DEPLOYED).await;
            let backup = format!("{}{}", api.base_url(), stageos_reference::aws_backup::BASE_PATH);
            let url = url::Url::parse(&backup).map_err(fail)?;
            seed::seed_restore_test(&url, "us-east-1").await.map_err(fail)?;
            // Only AWS Backup is named: every other AWS gate is skipped, so the
            // (unreachable) endpoint_url of the rest is never called.
            let config = aws_config(
                "http://127.0.0.1:9",
                &format!("backup_endpoint_url = \"{backup}\"\nrestore_tests = true\nrestore_resource_type = \"RDS\"\n"),
            );
            let mut run = ReleaseRun::embedded(config.clone());
            run.target = api.base_url();
            let report = run.run().await?;
            expect_statuses(&report, &[("restore_tested", "passed"), ("rds_backup_retention", "skipped")])?;
            let notes = report.steps.iter().find(|s| s.step == "restore_tested").map(|s| s.notes.join(" ")).unwrap_or_default();
            check(notes.contains("RDS restore job") && notes.contains("completed 0 days ago"), || notes.clone())?;
            // The same account 45 days later: the newest restore test is too old.
            api.set_faults(vec![Fault::RestoreTestStale]);
            let mut run = ReleaseRun::embedded(config);
            run.target = api.base_url();
            only_failure(&run.run().await?, "restore_tested", &["a completed RDS restore job within 30 days", "0 completed restore jobs since"])?;
            api.shutdown().await;
            Ok(())
        })
        .map(|()| Completion::Completed)
}

fn main() -> ExitCode {
    let _emulator = harness::EmulatorGuard;
    let args = Arguments::from_args();
    let trials = vec![
        Trial::ignorable_test(
            "mock::secrets_prefer_last_rotated_date",
            mock_secrets_prefer_last_rotated_date,
        ),
        Trial::ignorable_test(
            "mock::restore_job_within_30_days",
            mock_restore_job_within_30_days,
        ),
        Trial::ignorable_test(
            "mock::missing_permission_names_api_and_iam_action",
            mock_missing_permission_names_api_and_iam_action,
        ),
        Trial::ignorable_test(
            "mock::bucket_without_encryption_fails",
            mock_bucket_without_encryption_fails,
        ),
        Trial::ignorable_test(
            "release::without_aws_every_aws_gate_is_skipped",
            without_aws_every_aws_gate_is_skipped_with_the_reason,
        ),
        Trial::ignorable_test(
            "release::release_tag_and_expected_version",
            release_tag_and_expected_version,
        ),
        Trial::ignorable_test("release::rollout_order", rollout_order),
        Trial::ignorable_test(
            "release::restore_test_on_its_own_backup_endpoint",
            restore_test_on_its_own_backup_endpoint,
        ),
        Trial::ignorable_test("emulator::services_available", services_available),
        Trial::ignorable_test(
            "emulator::compliant_account_passes",
            compliant_account_passes,
        ),
        Trial::ignorable_test(
            "emulator::rollback_tag_missing_in_web_fails",
            rollback_tag_missing_in_web_fails,
        ),
        Trial::ignorable_test(
            "emulator::secrets_older_than_90_days_fail",
            secrets_older_than_90_days_fail,
        ),
        Trial::ignorable_test(
            "emulator::rds_retention_below_7_days_fails",
            rds_retention_below_7_days_fails,
        ),
        Trial::ignorable_test("emulator::no_restore_job_fails", no_restore_job_fails),
        Trial::ignorable_test(
            "emulator::bucket_versioning_off_fails",
            bucket_versioning_off_fails,
        ),
        Trial::ignorable_test(
            "emulator::bucket_without_kms_fails",
            bucket_without_kms_fails,
        ),
        Trial::ignorable_test(
            "emulator::missing_resources_are_errors_naming_the_iam_action",
            missing_resources_are_errors_naming_the_iam_action,
        ),
    ];
    libtest_mimic::run(&args, trials).exit_code()
}
