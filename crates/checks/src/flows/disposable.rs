//! Disposable users: created by the Owner for one flow (TOTP lifecycle, privacy),
//! smoke-tagged, with a random password registered as a secret, and guarded for
//! deletion by the Owner the moment the server answers with their id.
//!
//! Also the TOTP clock those flows share: codes for a user's own secret, and the
//! event-driven wait for the next 30 s step when a server refuses a code that was
//! already used in the current step.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use totp_rs::Totp;

use crate::flow::{Cleanups, FlowRun};
use stageos_smoke_http::credentials::{Role, UserCredential, totp_from_base32, unix_now};
use stageos_smoke_http::http::{ExecError, Response, Session, StepError, ensure_eq};

use super::common::{Tokens, check_smoke_tagging, login, login_with_retry};

/// TOTP step length (the contract's `period`).
pub const TOTP_STEP_SECS: u64 = 30;

/// A user created for this flow only.
#[derive(Clone, Debug)]
pub struct Disposable {
    /// Id.
    pub id: String,
    /// Its login.
    pub credential: UserCredential,
}

/// A user as `/api/users` shows it.
#[derive(Clone, Debug, Deserialize)]
pub struct UserRow {
    /// Id.
    pub id: String,
    /// Email.
    pub email: String,
    /// Role.
    pub role: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Smoke run.
    #[serde(default)]
    pub smoke_run_id: Option<String>,
}

/// What logging the Owner in needs, taken from the flow before its steps borrow it.
pub struct OwnerLogin {
    user: UserCredential,
    seed: String,
    session: Session,
}

impl OwnerLogin {
    /// The Owner's login and a new session of `flow`.
    pub fn prepare(flow: &FlowRun) -> Result<Self, ExecError> {
        let user = flow.user(Role::Owner)?;
        let seed = flow.owner_totp_seed()?;
        Ok(Self {
            user,
            seed,
            session: flow.session("owner")?,
        })
    }

    /// Log in (TOTP); the session (bearer set) and the tokens.
    pub async fn login(self) -> Result<(Session, Tokens), StepError> {
        let mut session = self.session;
        let tokens = login_with_retry(&mut session, &self.user, Some(&self.seed)).await?;
        Ok((session, tokens))
    }
}

/// What creating disposable users needs from the flow.
#[derive(Clone)]
pub struct Factory {
    run_id: String,
    tags: Vec<String>,
    cleanups: Cleanups,
    redactor: stageos_smoke_http::secrets::Redactor,
}

impl Factory {
    /// From the flow.
    pub fn new(flow: &FlowRun) -> Self {
        Self {
            run_id: flow.cx().run_id().to_owned(),
            tags: flow.smoke_tags(),
            cleanups: flow.cleanups(),
            redactor: flow.cx().http.redactor.clone(),
        }
    }

    /// The Owner creates a disposable user of `role` (`purpose` goes into the email);
    /// it is guarded for deletion by the Owner as soon as its id is known.
    pub async fn create(
        &self,
        owner: &Session,
        owner_email: &str,
        role: Role,
        purpose: &str,
    ) -> Result<Disposable, StepError> {
        let domain = owner_email
            .split_once('@')
            .map(|(_, d)| d)
            .unwrap_or("stageos.test");
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let email = format!("smoke+{purpose}-{}@{domain}", &suffix[..12]);
        let password = format!("Sm0ke-{}", uuid::Uuid::new_v4().simple());
        self.redactor.add(&password);
        let body = json!({
            "email": email,
            "role": role.as_str(),
            "password": password,
            "tags": self.tags,
            "smoke_run_id": self.run_id,
        });
        let resp = owner.post("/api/users").json(&body).send().await?;
        guard_user(&self.cleanups, owner, &resp);
        resp.expect_status(201)?;
        let row: UserRow = resp.json()?;
        super::model::ensure_same_mailbox("email of the created user", &email, &row.email)?;
        ensure_eq("role of the created user", role.as_str(), row.role.as_str())?;
        check_smoke_tagging(
            "created user",
            &row.tags,
            row.smoke_run_id.as_deref(),
            &self.run_id,
        )?;
        Ok(Disposable {
            id: row.id,
            credential: UserCredential {
                role,
                email,
                password: SecretString::from(password),
            },
        })
    }

    /// The user is gone (deleted by the flow): nothing left to clean up.
    pub fn forget(&self, user: &Disposable) {
        self.cleanups.disarm(&format!("/api/users/{}", user.id));
    }
}

/// Log `session` in as the disposable `user` and enable TOTP for it (setup, then
/// enable with a current code); the base32 secret. For flows whose deliberate
/// wrong MFA codes must land on a user of their own, never on a configured account.
pub async fn enable_totp(session: &mut Session, user: &Disposable) -> Result<String, StepError> {
    #[derive(Deserialize)]
    struct Setup {
        secret: String,
    }
    login(session, &user.credential, None).await?;
    let resp = session.post("/api/auth/totp/setup").send().await?;
    resp.expect_status(200)?;
    let setup: Setup = resp.json()?;
    let mut clock = TotpClock::new(&setup.secret)?;
    let resp = clock
        .use_code(|code| {
            session
                .post("/api/auth/totp/enable")
                .json(&json!({ "code": code }))
                .send()
        })
        .await?;
    resp.expect_status(200)?;
    Ok(setup.secret)
}

fn guard_user(cleanups: &Cleanups, owner: &Session, resp: &Response) {
    if !resp.status.is_success() {
        return;
    }
    if let Some(id) = serde_json::from_slice::<serde_json::Value>(&resp.body)
        .ok()
        .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_owned))
    {
        cleanups.delete_later(
            owner,
            format!("/api/users/{id}"),
            format!("disposable user {id}"),
        );
    }
}

/// TOTP codes of one secret, remembering which steps were used, so a server that
/// refuses a code already used in its step can be answered with the next step's
/// code — waiting for that step by its deadline, never by a blind sleep.
#[derive(Debug)]
pub struct TotpClock {
    totp: Totp,
    used_steps: Vec<u64>,
}

impl TotpClock {
    /// A clock for a base32 secret.
    pub fn new(secret: &str) -> Result<Self, ExecError> {
        let totp = totp_from_base32(secret).map_err(|e| {
            ExecError::Other(format!("the TOTP secret from setup is unusable: {e}"))
        })?;
        Ok(Self {
            totp,
            used_steps: Vec::new(),
        })
    }

    /// The code of TOTP step `step`.
    pub fn code_at_step(&self, step: u64) -> String {
        self.totp.generate(step * TOTP_STEP_SECS).to_string()
    }

    /// The current step.
    pub fn step_now() -> u64 {
        unix_now() / TOTP_STEP_SECS
    }

    /// A code from `k ≥ 2` steps ago that differs from every code a ±1-step verifier
    /// accepts now (equal codes of different steps are rare but possible).
    pub fn old_code(&self) -> String {
        let now = Self::step_now();
        let valid: Vec<String> = [now - 1, now, now + 1]
            .iter()
            .map(|s| self.code_at_step(*s))
            .collect();
        (2..12u64)
            .map(|k| self.code_at_step(now - k))
            .find(|c| !valid.contains(c))
            .unwrap_or_else(|| self.code_at_step(now - 2))
    }

    /// Send `send(code)` with the current code; when the server refuses it with
    /// 401 `invalid_mfa_code` and that step's code was already used in this flow,
    /// wait for the next step (by its deadline) and send that step's code once more.
    pub async fn use_code<F, Fut>(&mut self, mut send: F) -> Result<Response, StepError>
    where
        F: FnMut(String) -> Fut,
        Fut: std::future::Future<Output = Result<Response, ExecError>>,
    {
        let step = Self::step_now();
        let resp = send(self.code_at_step(step)).await?;
        let refused =
            resp.status.as_u16() == 401 && resp.error_code().as_deref() == Some("invalid_mfa_code");
        if !(refused && self.used_steps.contains(&step)) {
            if resp.status.is_success() {
                self.used_steps.push(step);
            }
            return Ok(resp);
        }
        let next = step + 1;
        let wait = (next * TOTP_STEP_SECS).saturating_sub(unix_now());
        // Event-driven: until the next step begins (plus a little clock margin).
        stageos_smoke_http::wait::sleep_until(
            Instant::now() + Duration::from_secs(wait) + Duration::from_millis(300),
        )
        .await;
        let resp = send(self.code_at_step(next)).await?;
        if resp.status.is_success() {
            self.used_steps.push(next);
        }
        Ok(resp)
    }
}

/// Poll `GET /api/jobs/{id}` until the job succeeds (its `result.file_id`) or fails,
/// within `deadline`. A failed job or a missed deadline is a failed check.
pub async fn wait_for_job(
    session: &Session,
    job_id: &str,
    deadline: Duration,
) -> Result<String, StepError> {
    use stageos_smoke_http::wait::{Backoff, Poll, poll_until};
    let path = format!("/api/jobs/{job_id}");
    let job = poll_until(deadline, Backoff::default(), || async {
        let resp = session.get(&path).send().await?;
        resp.expect_status(200)?;
        let job: super::model::Job = resp.json()?;
        Ok::<_, StepError>(match job.status.as_str() {
            "succeeded" | "failed" => Poll::Ready(job),
            other => Poll::Pending(format!("`{other}`")),
        })
    })
    .await
    .map_err(|e| e.into_step(&format!("job {job_id}"), "status succeeded"))?;
    stageos_smoke_http::http::ensure(
        job.status == "succeeded",
        format!("job {job_id}"),
        "status succeeded",
        format!(
            "status failed: {}",
            job.error.map(|e| e.to_string()).unwrap_or_default()
        ),
    )?;
    job.result.map(|r| r.file_id).ok_or_else(|| {
        stageos_smoke_http::http::CheckFailure {
            what: format!("job {job_id} result"),
            expected: "result.file_id".into(),
            actual: "no result".into(),
        }
        .into()
    })
}
