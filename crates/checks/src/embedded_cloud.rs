//! The embedded run's AWS account: the pinned emulator started beside the
//! embedded reference server and seeded with a compliant account, so that the
//! default run (`cargo run --release`) judges the baseline and AWS-side release
//! gates instead of skipping them.
//!
//! Why here: the emulator is part of the embedded *target* (like the reference
//! server it stands in for a real deployment's account), and the flows that read it
//! (`baseline`, `release`) ask [`RunCloud`] for their settings when the
//! environment names none. A remote target never gets one.
//!
//! Start-up is split so it delays the run as little as it can: [`prepare`] does
//! the part that can fail fast (the one-time install, spawning the process) before
//! the run, so a run that cannot have the emulator says why first; the health
//! check and the seeding then run beside the run's other flows, and only the steps
//! that read the account wait for them ([`RunCloud::account`]). The emulator stops
//! when the run's last handle on it is dropped (and with the process in any case:
//! see `stageos-smoke-emulator`).
//!
//! The emulator lists no AWS Backup restore jobs, so the account's AWS Backup is
//! the embedded reference's stand-in (`/_aws/backup`): [`RunCloud::aws`] points the
//! release flow there and seeds one restore test of the RDS instance first.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use url::Url;

use stageos_smoke_aws::seed::{self, AccountPlan};
use stageos_smoke_emulator::{EmulatorConfig, RunningEmulator, StartingEmulator};
use stageos_smoke_gates::settings::CloudWatchSettings;
use stageos_smoke_gates::settings::release::AwsResources;

/// Variable: `off` keeps the embedded run from starting the emulator.
pub const EMULATOR_VAR: &str = "STAGEOS_EMULATOR";

/// The `LoadBalancer` dimension the embedded reference publishes under.
pub const LOAD_BALANCER: &str = "app/stageos-embedded/0001";

/// Where the embedded reference serves its AWS Backup stand-in (the emulator
/// lists no restore jobs): the seeded account's AWS Backup endpoint (the
/// reference's `aws_backup::BASE_PATH`; a test checks they agree).
pub const BACKUP_STAND_IN_PATH: &str = "/_aws/backup";

/// The resource type of the seeded restore test (the RDS instance's).
pub const RESTORE_TEST_RESOURCE_TYPE: &str = "RDS";

/// The flows that read the account.
pub const FLOWS: [&str; 2] = ["baseline", "release"];

/// The seeded account, ready; holds the emulator (dropped last = stopped).
#[derive(Debug)]
pub struct CloudAccount {
    /// What the baseline flow reads.
    pub cloudwatch: CloudWatchSettings,
    /// What the release flow's AWS-side gates read.
    pub aws: AwsResources,
    _emulator: RunningEmulator,
}

type Ready = Shared<BoxFuture<'static, Result<Arc<CloudAccount>, String>>>;

/// An emulator spawned for an embedded run; healthy and seeded later.
#[derive(Clone)]
pub struct EmbeddedCloud {
    endpoint: Url,
    ready: Ready,
}

impl std::fmt::Debug for EmbeddedCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EmbeddedCloud({})", self.endpoint)
    }
}

impl EmbeddedCloud {
    /// The emulator's endpoint.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// Begin the health check and the seeding now, on the current runtime.
    pub fn start_in_background(&self) {
        tokio::spawn(self.ready.clone().map(|_| ()));
    }

    /// The seeded account, or why there is none (the emulator did not come up).
    pub async fn account(&self) -> Result<Arc<CloudAccount>, String> {
        self.ready.clone().await
    }
}

/// Spawn the emulator of an embedded run (the install, once, happens here) and
/// begin its health check on a thread; the seeding follows on first use. Errors
/// are one line with the fix.
pub fn spawn(
    config: &EmulatorConfig,
    on_install: &mut dyn FnMut(),
) -> Result<EmbeddedCloud, String> {
    spawn_inner(config, on_install).map_err(|e| {
        format!(
            "the baseline and AWS release gates are skipped: the CloudWatch/AWS emulator could not start: {e} (or set {EMULATOR_VAR}=off to run without it)"
        )
    })
}

fn spawn_inner(
    config: &EmulatorConfig,
    on_install: &mut dyn FnMut(),
) -> Result<EmbeddedCloud, String> {
    let starting = StartingEmulator::spawn_with(config, on_install).map_err(|e| e.to_string())?;
    let endpoint = Url::parse(&starting.endpoint()).map_err(|e| e.to_string())?;
    // The deploy of the embedded release: the start of this minute, before the
    // server answers its first request, so the run's own traffic is all after it.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let plan = AccountPlan {
        endpoint: endpoint.clone(),
        load_balancer: LOAD_BALANCER.to_owned(),
        deployed_at: stageos_smoke_gates::stats::align_down(now, 60),
        deployed_release: embedded_release(),
        previous_release: previous_release(),
    };
    // The health check blocks: on a thread of its own, so no runtime is needed yet.
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("emulator-start".into())
        .spawn(move || {
            let _ = tx.send(starting.wait_healthy());
        })
        .map_err(|e| format!("failed to start a thread: {e}"))?;
    let ready = async move {
        let emulator = rx
            .await
            .map_err(|_| "the emulator start-up thread ended".to_owned())?
            .map_err(|e| e.to_string())?;
        let (cloudwatch, aws) = seed::seed(&plan).await.map_err(|e| e.to_string())?;
        Ok(Arc::new(CloudAccount {
            cloudwatch,
            aws,
            _emulator: emulator,
        }))
    }
    .boxed()
    .shared();
    Ok(EmbeddedCloud { endpoint, ready })
}

/// Publishes the embedded server's recorded ALB metrics to an emulator, as the
/// load balancer in front of a deployment publishes its requests.
pub type PublishOwnTraffic =
    Arc<dyn Fn(&CloudWatchSettings) -> BoxFuture<'static, Result<u64, String>> + Send + Sync>;

/// The release the embedded reference server reports.
#[cfg(feature = "reference")]
pub fn embedded_release() -> String {
    stageos_reference::ServerOptions::default().version
}

/// The release the embedded reference server reports (none in this build).
#[cfg(not(feature = "reference"))]
pub fn embedded_release() -> String {
    String::new()
}

/// The release before the embedded one (its rollback image, and what a service
/// the rollout missed reports).
#[cfg(feature = "reference")]
pub fn previous_release() -> String {
    stageos_reference::ServerOptions::default().previous_version
}

/// The release before the embedded one (none in this build).
#[cfg(not(feature = "reference"))]
pub fn previous_release() -> String {
    String::new()
}

/// What the flows of an embedded run with an emulator share.
#[derive(Clone)]
pub struct RunCloud {
    /// The emulator and its account.
    pub cloud: EmbeddedCloud,
    /// Publishes the run's own requests, as the load balancer would.
    pub publish_own_traffic: PublishOwnTraffic,
    /// The account's AWS Backup: the embedded server's stand-in.
    backup_endpoint: Url,
    /// The restore test seeded there, once per run.
    restore_test: Arc<tokio::sync::OnceCell<Result<String, String>>>,
}

impl std::fmt::Debug for RunCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RunCloud({:?}, backup {})",
            self.cloud, self.backup_endpoint
        )
    }
}

impl RunCloud {
    /// The run's emulator beside the embedded server at `server`.
    pub fn new(cloud: EmbeddedCloud, publish_own_traffic: PublishOwnTraffic, server: &Url) -> Self {
        let mut backup_endpoint = server.clone();
        backup_endpoint.set_path(BACKUP_STAND_IN_PATH);
        Self {
            cloud,
            publish_own_traffic,
            backup_endpoint,
            restore_test: Arc::default(),
        }
    }

    /// The seeded account, or why there is none.
    pub async fn account(&self) -> Result<Arc<CloudAccount>, String> {
        self.cloud.account().await
    }

    /// What the release flow's AWS-side gates read: the seeded account, with its
    /// AWS Backup at the embedded server's stand-in, where one restore test of the
    /// RDS instance is seeded (once) on first use.
    pub async fn aws(&self) -> Result<AwsResources, String> {
        let account = self.account().await?;
        let region = account.aws.endpoint.region.clone();
        self.restore_test
            .get_or_init(|| async {
                seed::seed_restore_test(&self.backup_endpoint, &region)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
            .clone()?;
        Ok(AwsResources {
            backup_endpoint_url: Some(self.backup_endpoint.clone()),
            restore_tests: true,
            restore_resource_type: Some(RESTORE_TEST_RESOURCE_TYPE.to_owned()),
            ..account.aws.clone()
        })
    }
}

/// The skip reason of a gate whose emulator did not come up.
pub fn unavailable(reason: &str) -> String {
    format!(
        "the embedded run's CloudWatch/AWS emulator is not available: {reason} (or set {EMULATOR_VAR}=off)"
    )
}

#[cfg(all(test, feature = "reference"))]
mod tests {
    use super::*;

    #[test]
    fn the_stand_in_and_the_releases_are_the_reference_servers() {
        assert_eq!(
            BACKUP_STAND_IN_PATH,
            stageos_reference::aws_backup::BASE_PATH
        );
        let previous = stageos_smoke_gates::release::parse_release(&previous_release());
        let current = stageos_smoke_gates::release::parse_release(&embedded_release());
        assert!(previous.is_some() && previous < current);
    }
}
