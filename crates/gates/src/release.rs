//! Release-readiness gates of the release checklist that are not CloudWatch's: the
//! release tag, the rollout order, the retention purge and error-tracking
//! heartbeats from `/metrics`, and the settings of the AWS-side gates
//! ([`crate::aws`]).
//!
//! ```toml
//! [environments.production.gates.release]
//! previous_release = "v1.3.2-20261111"     # or STAGEOS_PREVIOUS_RELEASE; default: the newest
//!                                          # release tag below the deployed one in the API repository
//! retention_purge_max_age_s = 93600        # 26 h: the purge runs daily
//! error_tracking_max_age_s = 3600          # the error-tracking heartbeat
//! [environments.production.gates.release.aws]   # absent: every AWS-side gate is skipped
//! region = "eu-west-1"                     # default: the CloudWatch region (STAGEOS_AWS_REGION)
//! # endpoint_url = "http://127.0.0.1:4566" # an emulator (STAGEOS_AWS_ENDPOINT; default: the
//! #                                        # CloudWatch endpoint); loopback gets fake credentials
//! # backup_endpoint_url = "http://127.0.0.1:8080/_aws/backup"  # AWS Backup alone elsewhere
//! #                                        # (an emulator with restore jobs; default: endpoint_url)
//! ecr_api_repository = "stageos-api"
//! ecr_web_repository = "stageos-web"
//! jwt_key_id = "stageos/production/jwt-signing"          # Secrets Manager ids (names or ARNs)
//! encryption_key_id = "stageos/production/data-encryption"
//! rds_instance = "stageos-production"
//! files_bucket = "stageos-production-files"
//! files_bucket_sse_algorithm = "aws:kms"   # default: any default encryption (every bucket
//!                                          # has AES256 since 2023)
//! restore_tests = true                     # look for AWS Backup restore jobs
//! restore_resource_type = "RDS"            # only restores of this type count (default: any)
//! max_rotation_age_days = 90
//! min_backup_retention_days = 7
//! max_restore_test_age_days = 30
//! ```
//!
//! Each AWS-side gate runs only when its resource is named; otherwise its step is
//! skipped with the setting to add, so the default embedded run makes no AWS call.

use serde::Deserialize;

use crate::prom::Snapshot;
use crate::verdict::Verdict;

pub use crate::settings::release::*;

/// The deployed version is a release tag, and the expected one when given.
pub fn judge_release_tag(version: &str, expected: Option<&str>) -> Verdict {
    if parse_release(version).is_none() {
        return Verdict::fail(
            "release tag (/api/health version)",
            "vX.Y.Z plus a date suffix, e.g. v1.4.0-20261125",
            format!("{version:?}"),
        );
    }
    match expected {
        Some(e) if e != version => Verdict::fail(
            "release tag (/api/health version)",
            format!("{e:?} (--expect-version)"),
            format!("{version:?}"),
        ),
        Some(_) => Verdict::Pass {
            summary: format!("{version} is a release tag and the expected one"),
        },
        None => Verdict::Pass {
            summary: format!("{version} is a release tag (no --expect-version given)"),
        },
    }
}

/// The previous release: the newest release tag strictly below `deployed` among `tags`.
pub fn previous_release<'a>(
    deployed: &str,
    tags: impl IntoIterator<Item = &'a String>,
) -> Option<String> {
    let current = parse_release(deployed)?;
    tags.into_iter()
        .filter_map(|t| parse_release(t).map(|r| (r, t)))
        .filter(|(r, _)| *r < current)
        .max_by_key(|(r, _)| *r)
        .map(|(_, t)| t.clone())
}

// --- rollout order -------------------------------------------------------------

/// One service's `/api/health` release facts.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ServiceRelease {
    /// Deployed version.
    pub version: String,
    /// Deployed commit.
    pub commit: String,
    /// Process start, RFC 3339.
    #[serde(default)]
    pub started_at: Option<String>,
}

/// API, worker and web report the same release and started in that order
/// (API ≤ worker ≤ web).
pub fn judge_rollout(services: &[(&str, &ServiceRelease)]) -> Verdict {
    let Some((first_name, first)) = services.first() else {
        return Verdict::inconclusive("no services to compare");
    };
    let differing: Vec<String> = services
        .iter()
        .filter(|(_, s)| s.version != first.version || s.commit != first.commit)
        .map(|(n, s)| format!("{n} reports {} ({})", s.version, s.commit))
        .collect();
    if !differing.is_empty() {
        return Verdict::fail(
            "release of every service",
            format!("{} ({}) like the {first_name}", first.version, first.commit),
            differing.join("; "),
        );
    }
    let mut times = Vec::new();
    for (n, s) in services {
        let Some(t) = s
            .started_at
            .as_deref()
            .and_then(crate::settings::parse_time)
        else {
            return Verdict::fail(
                "service start times (/api/health started_at)",
                format!("an RFC 3339 started_at from {n}"),
                format!("{:?}", s.started_at),
            );
        };
        times.push((*n, t, s.started_at.clone().unwrap_or_default()));
    }
    let line = times
        .iter()
        .map(|(n, _, raw)| format!("{n} {raw}"))
        .collect::<Vec<_>>()
        .join(" ≤ ");
    let order = services
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", then ");
    if times.windows(2).all(|w| w[0].1 <= w[1].1) {
        Verdict::Pass {
            summary: format!("all on {}; started {line}", first.version),
        }
    } else {
        let out_of_order: Vec<String> = times
            .windows(2)
            .filter(|w| w[0].1 > w[1].1)
            .map(|w| format!("{} started {} s after {}", w[0].0, w[0].1 - w[1].1, w[1].0))
            .collect();
        Verdict::fail(
            "rollout order (/api/health started_at)",
            format!("{order} (start times non-decreasing)"),
            format!(
                "{}: {}",
                out_of_order.join("; "),
                times
                    .iter()
                    .map(|(n, _, raw)| format!("{n} {raw}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    }
}

// --- heartbeats from /metrics --------------------------------------------------

/// A unix-time gauge is at most `max_age_s` old. A value of 0 is inconclusive (the
/// event has not happened since the process started); a missing metric is an error.
pub fn judge_heartbeat(
    snapshot: &Snapshot,
    name: &str,
    what: &str,
    now: f64,
    max_age_s: f64,
) -> Result<Verdict, String> {
    if !snapshot.has(name) {
        return Err(format!(
            "/metrics has no {name} (hint: the StageOS contract requires it; is the target older than the contract?)"
        ));
    }
    let value = snapshot
        .series(name)
        .iter()
        .map(|(_, v)| *v)
        .fold(f64::MIN, f64::max);
    if value <= 0.0 {
        return Ok(Verdict::inconclusive(format!(
            "{name} is 0: no {what} since the process started"
        )));
    }
    let age = now - value;
    let expected = format!("≤ {} old", fmt_age(max_age_s));
    let actual = format!("last {what} {} ago", fmt_age(age.max(0.0)));
    if age > max_age_s {
        Ok(Verdict::fail(format!("{what} ({name})"), expected, actual))
    } else {
        Ok(Verdict::Pass {
            summary: format!("{actual}, required {expected}"),
        })
    }
}

fn fmt_age(s: f64) -> String {
    if s >= 2.0 * 3600.0 {
        format!("{:.1} h", s / 3600.0)
    } else if s >= 120.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{s:.0} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::CloudWatchSettings;
    use stageos_smoke_model::config::EnvSnapshot;
    use url::Url;

    #[test]
    fn release_tags_parse_and_order() {
        let r = parse_release("v1.4.0-20261125").unwrap();
        assert_eq!((r.major, r.minor, r.patch, r.date), (1, 4, 0, 20_261_125));
        for bad in [
            "1.4.0-20261125",
            "v1.4-20261125",
            "v1.4.0",
            "v1.4.0-2026112",
            "v1.4.0-20261332",
            "v1.04.0-20261125",
            "v1.4.0-20261125-rc1",
            "v1.4.0-20260230",
        ] {
            assert!(parse_release(bad).is_none(), "{bad}");
        }
        assert!(parse_release("v1.10.0-20260101") > parse_release("v1.9.9-20261231"));
        let tags: Vec<String> = [
            "v1.4.0-20261125",
            "v1.3.2-20261111",
            "v1.3.10-20261101",
            "latest",
            "v1.5.0-20261201",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        assert_eq!(
            previous_release("v1.4.0-20261125", &tags).as_deref(),
            Some("v1.3.10-20261101")
        );
        assert_eq!(previous_release("v1.0.0-20260101", &tags), None);
        assert_eq!(previous_release("dev", &tags), None);
    }

    #[test]
    fn release_tag_gate() {
        assert!(matches!(
            judge_release_tag("v1.4.0-20261125", None),
            Verdict::Pass { .. }
        ));
        assert!(matches!(
            judge_release_tag("v1.4.0-20261125", Some("v1.4.0-20261125")),
            Verdict::Pass { .. }
        ));
        assert!(matches!(
            judge_release_tag("v1.4.0-20261125", Some("v1.4.1-20261126")),
            Verdict::Fail { .. }
        ));
        let Verdict::Fail {
            actual, expected, ..
        } = judge_release_tag("1.4.2", None)
        else {
            panic!()
        };
        assert!(actual.contains("1.4.2") && expected.contains("vX.Y.Z"));
    }

    fn svc(version: &str, started: &str) -> ServiceRelease {
        ServiceRelease {
            version: version.into(),
            commit: "abc1234".into(),
            started_at: Some(started.into()),
        }
    }

    #[test]
    fn rollout_order() {
        let api = svc("v2", "2026-11-25T14:00:00Z");
        let worker = svc("v2", "2026-11-25T14:02:00Z");
        let web = svc("v2", "2026-11-25T14:05:00Z");
        assert!(matches!(
            judge_rollout(&[("api", &api), ("worker", &worker), ("web", &web)]),
            Verdict::Pass { .. }
        ));
        let early_web = svc("v2", "2026-11-25T13:59:00Z");
        let Verdict::Fail { actual, .. } =
            judge_rollout(&[("api", &api), ("worker", &worker), ("web", &early_web)])
        else {
            panic!()
        };
        assert!(
            actual.contains("worker started 180 s after web"),
            "{actual}"
        );
        let old = svc("v1", "2026-11-25T14:05:00Z");
        let Verdict::Fail { actual, .. } =
            judge_rollout(&[("api", &api), ("worker", &worker), ("web", &old)])
        else {
            panic!()
        };
        assert!(actual.contains("web reports v1"), "{actual}");
        let no_time = ServiceRelease {
            started_at: None,
            ..svc("v2", "")
        };
        assert!(matches!(
            judge_rollout(&[("api", &api), ("worker", &no_time)]),
            Verdict::Fail { .. }
        ));
    }

    #[test]
    fn heartbeats() {
        let s = Snapshot::parse(&format!(
            "{RETENTION_PURGE_METRIC} 1000\n{ERROR_TRACKING_METRIC} 0\n"
        ))
        .unwrap();
        assert!(matches!(
            judge_heartbeat(
                &s,
                RETENTION_PURGE_METRIC,
                "retention purge",
                1000.0 + 3600.0,
                93_600.0
            ),
            Ok(Verdict::Pass { .. })
        ));
        let Ok(Verdict::Fail { actual, .. }) = judge_heartbeat(
            &s,
            RETENTION_PURGE_METRIC,
            "retention purge",
            1000.0 + 3.0 * 86_400.0,
            93_600.0,
        ) else {
            panic!()
        };
        assert_eq!(actual, "last retention purge 72.0 h ago");
        assert!(matches!(
            judge_heartbeat(&s, ERROR_TRACKING_METRIC, "error-tracking event", 5.0, 60.0),
            Ok(Verdict::Inconclusive { .. })
        ));
        assert!(
            judge_heartbeat(&Snapshot::default(), ERROR_TRACKING_METRIC, "x", 0.0, 1.0).is_err()
        );
    }

    #[test]
    fn settings_resolve() {
        let cw = CloudWatchSettings {
            region: "eu-west-1".into(),
            endpoint_url: Some(Url::parse("http://127.0.0.1:4566").unwrap()),
            load_balancer: String::new(),
            namespace: String::new(),
            deployed_at: None,
        };
        let s = resolve(None, &EnvSnapshot::default(), &cw).unwrap();
        assert!(s.aws.is_none());
        let file: ReleaseFileConfig = toml::from_str(
            "previous_release = \"v1.3.0-20261101\"\n[aws]\necr_api_repository = \"a\"\necr_web_repository = \"w\"\njwt_key_id = \"j\"\n",
        )
        .unwrap();
        let s = resolve(Some(&file), &EnvSnapshot::default(), &cw).unwrap();
        let aws = s.aws.unwrap();
        assert_eq!(aws.endpoint.region, "eu-west-1");
        assert!(aws.endpoint.is_loopback());
        assert_eq!(aws.ecr, Some(("a".into(), "w".into())));
        assert_eq!(aws.secrets.len(), 1);
        assert_eq!(aws.min_backup_retention_days, 7);
        let half: ReleaseFileConfig =
            toml::from_str("[aws]\necr_api_repository = \"a\"\n").unwrap();
        assert!(resolve(Some(&half), &EnvSnapshot::default(), &cw).is_err());
        let env = EnvSnapshot::from_pairs([(PREVIOUS_RELEASE_VAR, "latest")]);
        assert!(
            resolve(None, &env, &cw)
                .unwrap_err()
                .to_string()
                .contains(PREVIOUS_RELEASE_VAR)
        );
    }
}
