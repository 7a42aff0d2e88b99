//! Sweeping what earlier runs left behind (a run killed mid-flow cannot run its
//! cleanup guards): smoke-tagged events, draft invoices (with their PDFs) and
//! webhook endpoints older than an age are deleted. Data without the `smoke` tag is never touched, even if
//! the target's tag filter were broken: every entity is checked again here.
//!
//! Files cannot be listed, so uploads are only reachable through their parents
//! (an invoice's PDF is deleted explicitly before its invoice); setlists and availability requests go with their event.
//!
//! The housekeeping flow runs it at the start of each run; `stageos-smoke sweep
//! [--older-than 1h]` runs it on its own (see `crate::sweep`).

use std::time::Duration;

use serde::Deserialize;
use time::OffsetDateTime;

use super::model::parse_time;
use stageos_smoke_http::http::{ExecError, Session};

/// Logged-in sessions, one per role the sweep acts as.
#[derive(Clone, Debug)]
pub struct SweepSessions {
    /// Deletes events.
    pub manager: Session,
    /// Lists invoices, deletes their PDFs.
    pub accountant: Session,
    /// Deletes webhook endpoints.
    pub owner: Session,
}

/// What the sweep did with one entity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Deleted.
    Deleted,
    /// Left in place, with why.
    Kept(String),
    /// The delete failed.
    Failed(String),
}

/// One swept entity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepItem {
    /// `event`, `invoice`, `file`, `webhook_endpoint`.
    pub kind: &'static str,
    /// Its id.
    pub id: String,
    /// What happened.
    pub action: Action,
}

/// The result of a sweep.
#[derive(Clone, Debug, Default)]
pub struct SweepReport {
    /// Every old smoke entity found.
    pub items: Vec<SweepItem>,
}

impl SweepReport {
    /// Whether any delete failed.
    pub fn has_failures(&self) -> bool {
        self.items
            .iter()
            .any(|i| matches!(i.action, Action::Failed(_)))
    }
}

#[derive(Deserialize)]
struct Tagged {
    id: String,
    tags: Vec<String>,
    created_at: String,
    #[serde(default)]
    pdf_file_id: Option<String>,
}

/// Parse an age: `90s`, `30m`, `1h`, `2d`, or combinations like `1h30m`
/// (humantime's duration syntax).
pub fn parse_age(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("invalid age `{text}`: {e} (hint: 90s, 30m, 1h, 2d or 1h30m)"))
}

/// Whether an entity may be swept: tagged `smoke` and created before `cutoff`.
fn sweepable(e: &Tagged, cutoff: OffsetDateTime) -> Result<bool, ExecError> {
    Ok(e.tags.iter().any(|t| t == "smoke") && parse_time("created_at", &e.created_at)? < cutoff)
}

async fn list(session: &Session, path: &str) -> Result<Vec<Tagged>, ExecError> {
    let resp = session.get(path).send().await?;
    if !resp.status.is_success() {
        return Err(ExecError::Other(format!(
            "GET {path} answered {}",
            resp.status.as_u16()
        )));
    }
    resp.json()
}

async fn delete(session: &Session, path: &str) -> Action {
    match session.delete(path).send().await {
        Ok(r) if r.status.as_u16() == 204 || r.status.as_u16() == 404 => Action::Deleted,
        Ok(r) => Action::Failed(format!("DELETE {path} answered {}", r.status.as_u16())),
        Err(e) => Action::Failed(e.to_string()),
    }
}

/// Delete smoke-tagged events, invoices (drafts, with their PDFs) and webhook
/// endpoints created more than `older_than` ago on `base`; what cannot be deleted
/// is reported as kept with the reason.
pub async fn sweep(
    base: &url::Url,
    sessions: &SweepSessions,
    older_than: Duration,
) -> Result<SweepReport, ExecError> {
    for s in [&sessions.manager, &sessions.accountant, &sessions.owner] {
        if s.base() != base {
            return Err(ExecError::Other(format!(
                "session `{}` talks to {}, not {base}",
                s.label(),
                s.base()
            )));
        }
    }
    let cutoff = OffsetDateTime::now_utc() - older_than;
    let mut report = SweepReport::default();

    for e in list(&sessions.manager, "/api/events?tag=smoke").await? {
        if sweepable(&e, cutoff)? {
            let action = delete(&sessions.manager, &format!("/api/events/{}", e.id)).await;
            report.items.push(SweepItem {
                kind: "event",
                id: e.id,
                action,
            });
        }
    }
    for i in list(&sessions.accountant, "/api/invoices?tag=smoke").await? {
        if sweepable(&i, cutoff)? {
            if let Some(file) = &i.pdf_file_id {
                let action = delete(&sessions.accountant, &format!("/api/files/{file}")).await;
                report.items.push(SweepItem {
                    kind: "file",
                    id: file.clone(),
                    action,
                });
            }
            let action = delete(&sessions.accountant, &format!("/api/invoices/{}", i.id)).await;
            report.items.push(SweepItem {
                kind: "invoice",
                id: i.id,
                action,
            });
        }
    }
    for w in list(&sessions.owner, "/api/webhooks/endpoints?tag=smoke").await? {
        if sweepable(&w, cutoff)? {
            let action = delete(
                &sessions.owner,
                &format!("/api/webhooks/endpoints/{}", w.id),
            )
            .await;
            report.items.push(SweepItem {
                kind: "webhook_endpoint",
                id: w.id,
                action,
            });
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(parse_age("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_age("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_age("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_age("90s"), Ok(Duration::from_secs(90)));
        assert!(parse_age("90").is_err());
        assert!(parse_age("h").is_err());
        assert!(parse_age("1x").is_err());
    }

    #[test]
    fn only_old_smoke_data_is_sweepable() {
        let cutoff = OffsetDateTime::now_utc();
        let old = |tags: &[&str]| Tagged {
            id: "x".into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            created_at: "2020-01-01T00:00:00Z".into(),
            pdf_file_id: None,
        };
        assert!(sweepable(&old(&["smoke", "run-1"]), cutoff).unwrap());
        assert!(!sweepable(&old(&["customer"]), cutoff).unwrap());
        let new = Tagged {
            created_at: "2999-01-01T00:00:00Z".into(),
            ..old(&["smoke"])
        };
        assert!(!sweepable(&new, cutoff).unwrap());
    }
}
