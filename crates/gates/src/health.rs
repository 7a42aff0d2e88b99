//! The health gate's checks on parsed `/api/health` bodies: status, dependency
//! checks, migrations, and the release every service reports.

use std::collections::BTreeMap;

use serde::Deserialize;

use stageos_smoke_model::error::CheckFailure;

/// `/api/health` body.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Health {
    /// ok | degraded | down.
    pub status: String,
    /// Deployed version.
    pub version: String,
    /// Deployed commit.
    pub commit: String,
    /// Dependency checks.
    pub checks: BTreeMap<String, Check>,
    /// Migration state.
    pub migrations: Migrations,
}

/// One dependency check.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Check {
    /// ok | degraded | down.
    pub status: String,
}

/// Migration state.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Migrations {
    /// in_sync | pending.
    pub status: String,
    /// Pending count.
    pub pending: u64,
}

/// Dependency checks every StageOS health report must have.
pub const REQUIRED_CHECKS: [&str; 3] = ["database", "queue", "storage"];

fn fail(
    what: impl Into<String>,
    expected: impl Into<String>,
    actual: impl Into<String>,
) -> CheckFailure {
    CheckFailure {
        what: what.into(),
        expected: expected.into(),
        actual: actual.into(),
    }
}

/// Status ok, every check ok (and the required ones present), migrations in sync,
/// version and commit set.
pub fn check_health(h: &Health) -> Result<(), CheckFailure> {
    if h.status != "ok" {
        return Err(fail("health status", "\"ok\"", format!("{:?}", h.status)));
    }
    let bad: Vec<String> = h
        .checks
        .iter()
        .filter(|(_, c)| c.status != "ok")
        .map(|(k, c)| format!("{k}={}", c.status))
        .collect();
    if !bad.is_empty() {
        return Err(fail("dependency checks", "all ok", bad.join(", ")));
    }
    let missing: Vec<&str> = REQUIRED_CHECKS
        .iter()
        .copied()
        .filter(|d| !h.checks.contains_key(*d))
        .collect();
    if !missing.is_empty() {
        return Err(fail(
            "dependency checks",
            format!("checks for {}", REQUIRED_CHECKS.join(", ")),
            format!("missing {}", missing.join(", ")),
        ));
    }
    if h.migrations.status != "in_sync" || h.migrations.pending != 0 {
        return Err(fail(
            "migrations",
            "in_sync with 0 pending",
            format!(
                "{} with {} pending",
                h.migrations.status, h.migrations.pending
            ),
        ));
    }
    if h.version.is_empty() || h.commit.is_empty() {
        return Err(fail(
            "version and commit",
            "both set",
            format!("version={:?} commit={:?}", h.version, h.commit),
        ));
    }
    Ok(())
}

/// The deployed release matches what the pipeline deployed. A commit expectation
/// matches a prefix either way (short and long SHAs).
pub fn check_release(
    h: &Health,
    expect_version: Option<&str>,
    expect_commit: Option<&str>,
) -> Result<(), CheckFailure> {
    if let Some(v) = expect_version
        && h.version != v
    {
        return Err(fail(
            "deployed version (/api/health version)",
            format!("{v:?} (--expect-version)"),
            format!("{:?} at commit {}", h.version, h.commit),
        ));
    }
    if let Some(c) = expect_commit
        && !(h.commit.starts_with(c) || c.starts_with(&h.commit))
    {
        return Err(fail(
            "deployed commit (/api/health commit)",
            format!("{c:?}"),
            format!("{:?}", h.commit),
        ));
    }
    Ok(())
}

/// Every service reports the same version and commit as the API.
pub fn check_same_release(api: &Health, others: &[(String, Health)]) -> Result<(), CheckFailure> {
    let differing: Vec<String> = others
        .iter()
        .filter(|(_, h)| h.version != api.version || h.commit != api.commit)
        .map(|(name, h)| format!("{name} reports {} ({})", h.version, h.commit))
        .collect();
    if differing.is_empty() {
        Ok(())
    } else {
        Err(fail(
            "release of every service",
            format!("{} ({}) like the API", api.version, api.commit),
            differing.join("; "),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(version: &str) -> Health {
        serde_json::from_value(serde_json::json!({
            "status": "ok", "version": version, "commit": "abc1234",
            "checks": {"database": {"status": "ok"}, "queue": {"status": "ok"}, "storage": {"status": "ok"}},
            "migrations": {"status": "in_sync", "pending": 0}
        }))
        .unwrap()
    }

    #[test]
    fn healthy_passes_and_each_defect_fails() {
        check_health(&health("v1")).unwrap();
        let mut h = health("v1");
        h.checks.insert(
            "database".into(),
            Check {
                status: "degraded".into(),
            },
        );
        assert!(
            check_health(&h)
                .unwrap_err()
                .actual
                .contains("database=degraded")
        );
        let mut h = health("v1");
        h.migrations = Migrations {
            status: "pending".into(),
            pending: 2,
        };
        assert!(check_health(&h).unwrap_err().actual.contains("2 pending"));
        let mut h = health("v1");
        h.checks.remove("storage");
        assert!(check_health(&h).unwrap_err().actual.contains("storage"));
    }

    #[test]
    fn release_expectations() {
        let h = health("v1.4.0");
        check_release(&h, None, None).unwrap();
        check_release(&h, Some("v1.4.0"), Some("abc1234def")).unwrap();
        let e = check_release(&h, Some("v1.5.0"), None).unwrap_err();
        assert!(
            e.expected.contains("v1.5.0") && e.actual.contains("v1.4.0"),
            "{e}"
        );
        assert!(check_release(&h, None, Some("fff")).is_err());
    }

    #[test]
    fn services_agree() {
        let api = health("v2");
        check_same_release(&api, &[("worker".into(), health("v2"))]).unwrap();
        let e = check_same_release(
            &api,
            &[
                ("worker".into(), health("v2")),
                ("web".into(), health("v1")),
            ],
        )
        .unwrap_err();
        assert!(
            e.actual.contains("web reports v1") && !e.actual.contains("worker"),
            "{e}"
        );
    }
}
