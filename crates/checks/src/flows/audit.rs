//! The audit log write path: the Owner performs the auth, invoice and plugin
//! actions the release checklist names, then reads `GET /api/audit-logs` filtered
//! by actor, action and time and finds an entry for each — with the Owner as actor
//! and a client IP (and, for invoice and plugin entries, the
//! right target). The target of an `auth.*` entry is not checked: the contract
//! leaves it open (a user, a session or null; "Decisions" in the OpenAPI
//! description). The one deliberate failure, a wrong MFA code, goes to a
//! disposable user with TOTP of this flow's own: wrong codes for the configured
//! Owner would count against its rate limit on every run.
//!
//! A plugin someone already installed in the organisation is theirs: the flow
//! neither removes it nor fails, but installs the next plugin of
//! [`PLUGIN_KEYS`] that is free.
//!
//! Audit entries may lag behind the action, so each lookup polls until its
//! deadline. The flow performs every action itself (flows run concurrently, so it
//! cannot rely on another flow's order). Everything it creates (event, draft
//! invoice with its PDF, plugin) is deleted at the end.

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::flow::{FlowRun, Steps};
use stageos_smoke_http::credentials::Role;
use stageos_smoke_http::http::{ExecError, Session, StepError, ensure, ensure_eq};
use stageos_smoke_http::wait::{Backoff, Poll, poll_until};
use stageos_smoke_model::flowdef::{FlowDef, StepDef};

use super::common::{MfaChallenge, Tokens, post_login, smoke_event_body, wrong_totp};
use super::disposable::{Factory, OwnerLogin, enable_totp, wait_for_job};
use super::model::format_time;

/// The plugins this flow may install and remove, in order of preference (other
/// keys than the RBAC matrix's `slack`): the first one nobody else installed.
pub const PLUGIN_KEYS: &[&str] = &["google-calendar", "dropbox", "quickbooks", "stripe"];

/// Longest wait for one audit entry to appear.
pub const AUDIT_LAG: Duration = Duration::from_secs(10);

/// The audit flow's steps.
pub static FLOW: FlowDef = FlowDef {
    id: "audit",
    description: "Audit log write path: auth, invoice and plugin actions each leave an entry with actor, target and client IP",
    roles: &[Role::Owner],
    needs_owner_totp: true,
    observes_run: false,
    steps: &[
        OWNER_LOGS_IN,
        OWNER_REFRESHES_SESSION,
        WRONG_MFA_CODE_REFUSED,
        OWNER_CREATES_INVOICE,
        OWNER_RENDERS_INVOICE_PDF,
        OWNER_INSTALLS_PLUGIN,
        OWNER_REMOVES_PLUGIN,
        AUTH_LOGIN_AUDITED,
        AUTH_REFRESH_AUDITED,
        AUTH_MFA_FAILED_AUDITED,
        INVOICE_CREATED_AUDITED,
        INVOICE_PDF_RENDERED_AUDITED,
        PLUGIN_INSTALLED_AUDITED,
        PLUGIN_REMOVED_AUDITED,
    ],
};

// The steps of `audit`, each id written once: `FLOW` lists them and the
// flow's `run` names them by these constants.

/// Step `owner_logs_in`.
pub const OWNER_LOGS_IN: StepDef = StepDef {
    id: "owner_logs_in",
    description: "The Owner logs in with TOTP (action auth.login)",
};

/// Step `owner_refreshes_session`.
pub const OWNER_REFRESHES_SESSION: StepDef = StepDef {
    id: "owner_refreshes_session",
    description: "The Owner refreshes the session with the refresh cookie (action auth.refresh)",
};

/// Step `wrong_mfa_code_refused`.
pub const WRONG_MFA_CODE_REFUSED: StepDef = StepDef {
    id: "wrong_mfa_code_refused",
    description: "A wrong TOTP code for a disposable TOTP user is refused with 401 invalid_mfa_code (action auth.mfa_failed)",
};

/// Step `owner_creates_invoice`.
pub const OWNER_CREATES_INVOICE: StepDef = StepDef {
    id: "owner_creates_invoice",
    description: "The Owner creates a smoke-tagged invoice for a smoke event (action invoice.created)",
};

/// Step `owner_renders_invoice_pdf`.
pub const OWNER_RENDERS_INVOICE_PDF: StepDef = StepDef {
    id: "owner_renders_invoice_pdf",
    description: "The Owner renders the invoice's PDF and the job succeeds (action invoice.pdf_rendered)",
};

/// Step `owner_installs_plugin`.
pub const OWNER_INSTALLS_PLUGIN: StepDef = StepDef {
    id: "owner_installs_plugin",
    description: "The Owner installs a plugin (the first of PLUGIN_KEYS nobody else installed): 201 (action plugin.installed)",
};

/// Step `owner_removes_plugin`.
pub const OWNER_REMOVES_PLUGIN: StepDef = StepDef {
    id: "owner_removes_plugin",
    description: "The Owner removes the plugin: 204 (action plugin.removed)",
};

/// Step `auth_login_audited`.
pub const AUTH_LOGIN_AUDITED: StepDef = StepDef {
    id: "auth_login_audited",
    description: "The audit log has auth.login by the Owner (any target: the contract leaves it open), with a client IP",
};

/// Step `auth_refresh_audited`.
pub const AUTH_REFRESH_AUDITED: StepDef = StepDef {
    id: "auth_refresh_audited",
    description: "The audit log has auth.refresh by the Owner (any target), with a client IP",
};

/// Step `auth_mfa_failed_audited`.
pub const AUTH_MFA_FAILED_AUDITED: StepDef = StepDef {
    id: "auth_mfa_failed_audited",
    description: "The audit log has auth.mfa_failed by the disposable user (any target), with a client IP",
};

/// Step `invoice_created_audited`.
pub const INVOICE_CREATED_AUDITED: StepDef = StepDef {
    id: "invoice_created_audited",
    description: "The audit log has invoice.created by the Owner, target the invoice, with a client IP",
};

/// Step `invoice_pdf_rendered_audited`.
pub const INVOICE_PDF_RENDERED_AUDITED: StepDef = StepDef {
    id: "invoice_pdf_rendered_audited",
    description: "The audit log has invoice.pdf_rendered by the Owner, target the invoice, with the requesting client's IP",
};

/// Step `plugin_installed_audited`.
pub const PLUGIN_INSTALLED_AUDITED: StepDef = StepDef {
    id: "plugin_installed_audited",
    description: "The audit log has plugin.installed by the Owner, target the plugin, with a client IP",
};

/// Step `plugin_removed_audited`.
pub const PLUGIN_REMOVED_AUDITED: StepDef = StepDef {
    id: "plugin_removed_audited",
    description: "The audit log has plugin.removed by the Owner, target the plugin, with a client IP",
};

/// One entry of `GET /api/audit-logs`.
#[derive(Clone, Debug, Deserialize)]
pub struct AuditEntry {
    /// Entry id.
    pub id: String,
    /// When.
    pub at: String,
    /// Actor.
    pub actor_id: Option<String>,
    /// Action.
    pub action: String,
    /// `{type, id}` or null.
    pub target: Option<AuditTarget>,
    /// Client IP.
    pub ip: Option<String>,
}

/// What an entry is about.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct AuditTarget {
    /// e.g. `invoice`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Entity id or plugin key.
    pub id: String,
}

/// Which targets satisfy an expectation.
#[derive(Clone, Debug)]
pub enum TargetRule {
    /// Exactly this `{type, id}`.
    Exactly(&'static str, String),
    /// Any target or none: what the contract leaves open (`auth.*` entries).
    Any,
}

impl TargetRule {
    fn matches(&self, t: Option<&AuditTarget>) -> bool {
        match (self, t) {
            (TargetRule::Exactly(kind, id), Some(t)) => {
                t.kind == *kind && t.id.eq_ignore_ascii_case(id)
            }
            (TargetRule::Any, _) => true,
            (TargetRule::Exactly(..), None) => false,
        }
    }

    fn describe(&self) -> String {
        match self {
            TargetRule::Exactly(kind, id) => format!("{{type: {kind}, id: {id}}}"),
            TargetRule::Any => "of any kind (or none)".to_owned(),
        }
    }
}

/// Find the entry for `action` by `actor` since `since` whose target matches;
/// poll until `deadline`. A matching entry without a client IP is a failure at once.
pub async fn find_entry(
    owner: &Session,
    actor: &str,
    action: &str,
    since: OffsetDateTime,
    rule: &TargetRule,
    deadline: Duration,
) -> Result<AuditEntry, StepError> {
    let query = format!(
        "/api/audit-logs?actor_id={actor}&action={action}&since={}&limit=1000",
        format_time(since).replace('+', "%2B")
    );
    let found = poll_until(deadline, Backoff::default(), || async {
        let resp = owner.get(&query).send().await?;
        resp.expect_status(200)?;
        let entries: Vec<AuditEntry> = resp.json()?;
        let seen = entries.len();
        Ok::<_, StepError>(
            match entries
                .into_iter()
                .find(|e| e.action == action && rule.matches(e.target.as_ref()))
            {
                Some(e) => Poll::Ready(e),
                None => Poll::Pending(format!(
                    "{seen} `{action}` entries by the actor since {}, none with target {}",
                    format_time(since),
                    rule.describe()
                )),
            },
        )
    })
    .await
    .map_err(|e| {
        e.into_step(
            &format!("audit entry `{action}` by {actor}"),
            &format!("an entry with target {}", rule.describe()),
        )
    })?;
    ensure_eq(
        format!("actor of the `{action}` entry"),
        Some(actor.to_owned()),
        found.actor_id.clone(),
    )?;
    let ip = found.ip.clone().unwrap_or_default();
    ensure(
        ip.parse::<IpAddr>().is_ok(),
        format!("client IP of the `{action}` entry {}", found.id),
        "an IPv4 or IPv6 address",
        if ip.is_empty() { "null".to_owned() } else { ip },
    )?;
    Ok(found)
}

/// Install the first plugin of [`PLUGIN_KEYS`] nobody but the smoke Owner
/// installed; returns its key. One the smoke Owner left installed (an interrupted
/// earlier run) is removed and installed afresh; one someone else installed, or
/// that this deployment's catalogue lacks (404), is left alone and the next key
/// tried. None free is could-not-check, not a failure: the organisation's own use
/// is not a defect of the target.
async fn install_free_plugin(
    owner: &Session,
    me: &str,
    notes: &crate::flow::Notes,
) -> Result<&'static str, StepError> {
    #[derive(serde::Deserialize)]
    struct Installed {
        installed_by: String,
        installed_at: String,
    }
    let mut taken = Vec::new();
    for key in PLUGIN_KEYS {
        let path = format!("/api/plugins/{key}/install");
        let mut resp = owner.post(&path).send().await?;
        match resp.status.as_u16() {
            404 => {
                taken.push(format!("`{key}` is not in this deployment's catalogue"));
                continue;
            }
            200 => {
                let existing: Installed = resp.json()?;
                if existing.installed_by != me {
                    notes.add(format!("plugin `{key}` was installed by user {} at {}: left alone, trying the next one", existing.installed_by, existing.installed_at));
                    taken.push(format!(
                        "`{key}` installed by user {}",
                        existing.installed_by
                    ));
                    continue;
                }
                notes.add(format!("warning: plugin `{key}` left installed by an earlier run of the smoke Owner (at {}): removed first", existing.installed_at));
                owner
                    .delete(&format!("/api/plugins/{key}"))
                    .send()
                    .await?
                    .expect_status(204)?;
                resp = owner.post(&path).send().await?;
            }
            _ => {}
        }
        resp.expect_status(201)?;
        return Ok(key);
    }
    Err(ExecError::Other(format!(
        "no plugin free to install and remove: {} (hint: remove one of them from the organisation, or run the audit flow in another)",
        taken.join(", ")
    ))
    .into())
}

/// The audit lookups of one run: each polls for its entry once the action it
/// looks for was done, or is skipped naming the step that did not pass.
struct Lookups<'a> {
    steps: &'a Steps,
    owner: &'a Session,
    since: OffsetDateTime,
    lag: Duration,
}

impl Lookups<'_> {
    /// Look for `action` by the actor with the target rule in `expected` (`None`:
    /// the step `after`, which performs the action, did not pass).
    async fn check(
        &self,
        step: &'static StepDef,
        action: &'static str,
        expected: Option<(String, TargetRule)>,
        after: &'static StepDef,
    ) {
        match expected {
            Some((actor, rule)) => {
                self.steps
                    .step(step, async {
                        find_entry(self.owner, &actor, action, self.since, &rule, self.lag).await?;
                        Ok(())
                    })
                    .await;
            }
            None => self.steps.skip(
                step,
                format!(
                    "not run: step `audit::{}` did not pass, so there is no `{action}` to look for",
                    after.id
                ),
            ),
        }
    }
}

/// Run the audit flow. After the login and the refresh (a refresh may end the
/// session's previous access token, so nothing else runs across it) four
/// independent chains — the login and refresh lookups, the wrong MFA code, the
/// invoice and its PDF, the plugin installed and removed — run side by side, and
/// each lookup starts the moment its action is done: the flow costs its longest
/// chain, not the sum of its steps.
pub async fn run(flow: &mut FlowRun) {
    // A little before now: the target's clock may differ slightly from ours.
    let since = OffsetDateTime::now_utc() - Duration::from_secs(5);
    let run_id = flow.cx().run_id().to_owned();
    let cleanups = flow.cleanups();
    let job_deadline = flow.cx().wait_deadline;
    let lag = AUDIT_LAG.min(flow.cx().wait_deadline);
    let factory = Factory::new(flow);
    let disposable_session = flow.session("disposable");
    let prepared = OwnerLogin::prepare(flow);
    let notes = flow.notes();
    let steps = flow.steps();

    let login = steps
        .step(&OWNER_LOGS_IN, async {
            let (session, tokens) = prepared?.login().await?;
            Ok((session, tokens))
        })
        .await;
    let Some((mut owner, tokens)) = login else {
        return;
    };
    let me = tokens.user.id.clone();
    let by_owner = |rule: TargetRule| (me.clone(), rule);

    let refreshed = steps
        .step(&OWNER_REFRESHES_SESSION, async {
            let resp = owner
                .post("/api/auth/refresh")
                .without_bearer()
                .send()
                .await?;
            resp.expect_status(200)?;
            let t: Tokens = resp.json()?;
            ensure_eq(
                "user of the refreshed session",
                me.as_str(),
                t.user.id.as_str(),
            )?;
            Ok(t.access_token)
        })
        .await;
    let refresh_passed = refreshed.is_some();
    if let Some(token) = refreshed {
        owner.set_bearer(Some(token));
    }
    let owner = owner;
    let lookups = Lookups {
        steps: &steps,
        owner: &owner,
        since,
        lag,
    };

    let auth_entries = async {
        futures::join!(
            lookups.check(
                &AUTH_LOGIN_AUDITED,
                "auth.login",
                Some(by_owner(TargetRule::Any)),
                &OWNER_LOGS_IN,
            ),
            lookups.check(
                &AUTH_REFRESH_AUDITED,
                "auth.refresh",
                refresh_passed.then(|| by_owner(TargetRule::Any)),
                &OWNER_REFRESHES_SESSION,
            ),
        );
    };

    let mfa_chain = async {
        let mfa_failed = steps
            .step(&WRONG_MFA_CODE_REFUSED, async {
                let mut session = disposable_session?;
                let user = factory
                    .create(&owner, &tokens.user.email, Role::Member, "audit-mfa")
                    .await?;
                let secret = enable_totp(&mut session, &user).await?;
                let anonymous = session.clone_fresh()?;
                let resp = post_login(
                    &anonymous,
                    &user.credential.email,
                    secrecy::ExposeSecret::expose_secret(&user.credential.password),
                )
                .await?;
                resp.expect_status(200)?;
                let c: MfaChallenge = resp.json()?;
                let resp = anonymous
                    .post("/api/auth/mfa/verify")
                    .without_bearer()
                    .json(&json!({ "mfa_token": c.mfa_token, "code": wrong_totp(&secret)? }))
                    .send()
                    .await?;
                resp.expect_error(401, "invalid_mfa_code")?;
                Ok(user.id)
            })
            .await;
        lookups
            .check(
                &AUTH_MFA_FAILED_AUDITED,
                "auth.mfa_failed",
                mfa_failed.map(|id| (id, TargetRule::Any)),
                &WRONG_MFA_CODE_REFUSED,
            )
            .await;
    };

    let invoice_chain = async {
        let invoice = steps
            .step(&OWNER_CREATES_INVOICE, async {
                let body = smoke_event_body(&run_id, "Audit smoke event");
                let (event, _) = super::common::create_event(&owner, &cleanups, &body).await?;
                let resp = owner
                    .post("/api/invoices")
                    .json(&json!({
                        "event_id": event.id,
                        "currency": "EUR",
                        "lines": [{ "description": "Audit smoke line", "quantity": 1, "unit_price_cents": 1000, "tax_rate_bp": 1900 }],
                        "tags": ["smoke", run_id],
                        "smoke_run_id": run_id,
                    }))
                    .send()
                    .await?;
                super::common::guard_created(&cleanups, &owner, &resp, "/api/invoices", "invoice");
                resp.expect_status(201)?;
                let v: Value = resp.json()?;
                v.get("id").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| StepError::from(ExecError::Other("POST /api/invoices answered no id".into())))
            })
            .await;
        let rendered_entry = async {
            let rendered = match &invoice {
                Some(id) => {
                    steps
                        .step(&OWNER_RENDERS_INVOICE_PDF, async {
                            let resp = owner
                                .post(&format!("/api/invoices/{id}/pdf"))
                                .send()
                                .await?;
                            resp.expect_status(202)?;
                            let accepted: super::model::JobAccepted = resp.json()?;
                            let file = wait_for_job(&owner, &accepted.job_id, job_deadline).await?;
                            cleanups.delete_later(
                                &owner,
                                format!("/api/files/{file}"),
                                format!("invoice PDF file {file}"),
                            );
                            Ok(())
                        })
                        .await
                }
                None => {
                    steps.skip(
                        &OWNER_RENDERS_INVOICE_PDF,
                        "not run: step `audit::owner_creates_invoice` did not pass",
                    );
                    None
                }
            };
            lookups
                .check(
                    &INVOICE_PDF_RENDERED_AUDITED,
                    "invoice.pdf_rendered",
                    rendered
                        .and(invoice.clone())
                        .map(|id| by_owner(TargetRule::Exactly("invoice", id))),
                    &OWNER_RENDERS_INVOICE_PDF,
                )
                .await;
        };
        futures::join!(
            lookups.check(
                &INVOICE_CREATED_AUDITED,
                "invoice.created",
                invoice
                    .clone()
                    .map(|id| by_owner(TargetRule::Exactly("invoice", id))),
                &OWNER_CREATES_INVOICE,
            ),
            rendered_entry,
        );
    };

    let plugin_chain = async {
        let installed = steps
            .step(&OWNER_INSTALLS_PLUGIN, async {
                let key = install_free_plugin(&owner, &me, &notes).await?;
                cleanups.delete_later(
                    &owner,
                    format!("/api/plugins/{key}"),
                    format!("plugin {key}"),
                );
                Ok(key)
            })
            .await;
        let removed_entry = async {
            let removed = match installed {
                Some(key) => {
                    steps
                        .step(&OWNER_REMOVES_PLUGIN, async {
                            let path = format!("/api/plugins/{key}");
                            let resp = owner.delete(&path).send().await?;
                            resp.expect_status(204)?;
                            cleanups.disarm(&path);
                            Ok(key)
                        })
                        .await
                }
                None => {
                    steps.skip(
                        &OWNER_REMOVES_PLUGIN,
                        "not run: step `audit::owner_installs_plugin` did not pass",
                    );
                    None
                }
            };
            lookups
                .check(
                    &PLUGIN_REMOVED_AUDITED,
                    "plugin.removed",
                    removed.map(|key| by_owner(TargetRule::Exactly("plugin", key.to_owned()))),
                    &OWNER_REMOVES_PLUGIN,
                )
                .await;
        };
        futures::join!(
            lookups.check(
                &PLUGIN_INSTALLED_AUDITED,
                "plugin.installed",
                installed.map(|key| by_owner(TargetRule::Exactly("plugin", key.to_owned()))),
                &OWNER_INSTALLS_PLUGIN,
            ),
            removed_entry,
        );
    };

    futures::join!(auth_entries, mfa_chain, invoice_chain, plugin_chain);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_rules() {
        let t = |k: &str, i: &str| AuditTarget {
            kind: k.into(),
            id: i.into(),
        };
        assert!(TargetRule::Exactly("invoice", "A".into()).matches(Some(&t("invoice", "a"))));
        assert!(!TargetRule::Exactly("invoice", "a".into()).matches(Some(&t("user", "a"))));
        assert!(!TargetRule::Exactly("invoice", "a".into()).matches(None));
        assert!(TargetRule::Any.matches(Some(&t("session", "f"))));
        assert!(TargetRule::Any.matches(None));
    }
}
