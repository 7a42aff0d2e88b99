//! Pieces several flows use: logging in as a role (with TOTP where the user has it).

use serde::Deserialize;
use serde_json::{Value, json};

use secrecy::ExposeSecret;

use crate::flow::Cleanups;
use stageos_smoke_http::credentials::{UserCredential, totp_from_base32, unix_now};
use stageos_smoke_http::http::{ExecError, Response, Session, StepError, ensure};

use super::model::Event;

/// The token response of login, MFA verify and refresh.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
pub struct Tokens {
    /// The JWT.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds.
    pub expires_in: u64,
    /// Who.
    pub user: UserInfo,
}

/// A user as the API shows it.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
pub struct UserInfo {
    /// UUID.
    pub id: String,
    /// Email.
    pub email: String,
    /// Lowercase role.
    pub role: String,
}

/// The MFA challenge of a TOTP user's login.
#[derive(Clone, Debug, Deserialize)]
pub struct MfaChallenge {
    /// Must be true.
    pub mfa_required: bool,
    /// Opaque token for `/api/auth/mfa/verify`.
    pub mfa_token: String,
}

/// `POST /api/auth/login`.
pub async fn post_login(
    session: &Session,
    email: &str,
    password: &str,
) -> Result<Response, ExecError> {
    session
        .post("/api/auth/login")
        .without_bearer()
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
}

/// Log `session` in as `user` (answering the TOTP challenge when `totp_seed` is given)
/// and keep the bearer token on it.
pub async fn login(
    session: &mut Session,
    user: &UserCredential,
    totp_seed: Option<&str>,
) -> Result<Tokens, StepError> {
    let resp = post_login(session, &user.email, user.password.expose_secret()).await?;
    resp.expect_status(200)?;
    let tokens = if let Some(seed) = totp_seed {
        let challenge: MfaChallenge = resp.json()?;
        ensure(
            challenge.mfa_required,
            "login of a TOTP user",
            "mfa_required: true",
            "false",
        )?;
        let code = current_totp(seed)?;
        let resp = session
            .post("/api/auth/mfa/verify")
            .without_bearer()
            .json(&json!({ "mfa_token": challenge.mfa_token, "code": code }))
            .send()
            .await?;
        resp.expect_status(200)?;
        resp.json::<Tokens>()?
    } else {
        resp.json::<Tokens>()?
    };
    session.set_bearer(Some(tokens.access_token.clone()));
    Ok(tokens)
}

/// The current TOTP code for a base32 seed.
pub fn current_totp(seed: &str) -> Result<String, ExecError> {
    let totp = totp_from_base32(seed)
        .map_err(|e| ExecError::Other(format!("{e} (hint: check STAGEOS_OWNER_TOTP_SECRET)")))?;
    Ok(totp.generate(unix_now()).to_string())
}

/// A 6-digit code that is valid in none of the steps a ±1-step verifier accepts.
pub fn wrong_totp(seed: &str) -> Result<String, ExecError> {
    let totp = totp_from_base32(seed)
        .map_err(|e| ExecError::Other(format!("{e} (hint: check STAGEOS_OWNER_TOTP_SECRET)")))?;
    let now = unix_now();
    let valid: Vec<String> = [
        now.saturating_sub(60),
        now.saturating_sub(30),
        now,
        now + 30,
        now + 60,
    ]
    .iter()
    .map(|t| totp.generate(*t).to_string())
    .collect();
    let base: u32 = valid[2].parse().unwrap_or(0);
    let candidate = (1..10u32)
        .map(|i| format!("{:06}", (base + i * 111_111) % 1_000_000))
        .find(|c| !valid.contains(c))
        .unwrap_or_else(|| "000000".into());
    Ok(candidate)
}

/// Log in as `user`; with a TOTP seed, a code the target rejects as already used
/// (another flow of this run logged the same user in within the same 30 s step) is
/// followed by the next step's code, which a ±1-step verifier accepts.
pub async fn login_with_retry(
    session: &mut Session,
    user: &UserCredential,
    totp_seed: Option<&str>,
) -> Result<Tokens, StepError> {
    let Some(seed) = totp_seed else {
        return login(session, user, None).await;
    };
    let totp = totp_from_base32(seed)
        .map_err(|e| ExecError::Other(format!("{e} (hint: check STAGEOS_OWNER_TOTP_SECRET)")))?;
    let mut last = None;
    for offset in [0u64, 30, 60] {
        let resp = post_login(session, &user.email, user.password.expose_secret()).await?;
        resp.expect_status(200)?;
        let challenge: MfaChallenge = resp.json()?;
        ensure(
            challenge.mfa_required,
            "login of a TOTP user",
            "mfa_required: true",
            "false",
        )?;
        let code = totp.generate(unix_now() + offset).to_string();
        let resp = session
            .post("/api/auth/mfa/verify")
            .without_bearer()
            .json(&json!({ "mfa_token": challenge.mfa_token, "code": code }))
            .send()
            .await?;
        if resp.status.as_u16() == 401 && resp.error_code().as_deref() == Some("invalid_mfa_code") {
            last = Some(resp);
            continue;
        }
        resp.expect_status(200)?;
        let tokens: Tokens = resp.json()?;
        session.set_bearer(Some(tokens.access_token.clone()));
        return Ok(tokens);
    }
    match last {
        Some(resp) => {
            resp.expect_status(200)?;
            Err(ExecError::Other("TOTP login failed".into()).into())
        }
        None => Err(ExecError::Other("TOTP login failed".into()).into()),
    }
}

/// `session` logged in as `user` (with TOTP when a seed is given): the run's one
/// login of that user, shared with the other flows (see [`stageos_smoke_http::http::LoginCache`]).
pub async fn session_as(
    session: Session,
    user: &UserCredential,
    totp_seed: Option<&str>,
) -> Result<(Session, Tokens), StepError> {
    let recorder = session.recorder().clone();
    let logins = session.logins().clone();
    let (session, body) = logins
        .get_or_login(&user.email, &recorder, || async move {
            let mut session = session;
            let tokens = login_with_retry(&mut session, user, totp_seed).await?;
            let body = serde_json::to_value(&tokens)
                .map_err(|e| ExecError::Other(format!("failed to keep the login: {e}")))?;
            Ok::<_, StepError>((session, body))
        })
        .await?;
    let tokens: Tokens = serde_json::from_value(body)
        .map_err(|e| ExecError::Other(format!("failed to reuse the login: {e}")))?;
    Ok((session, tokens))
}

/// The body of a smoke event: far in the future, tagged `smoke` + run id.
pub fn smoke_event_body(run_id: &str, title: &str) -> Value {
    json!({
        "title": title,
        "venue": { "name": "Smoke Hall", "city": "Berlin", "country": "DE" },
        "starts_at": "2031-05-01T19:00:00Z",
        "ends_at": "2031-05-01T23:00:00Z",
        "timezone": "Europe/Berlin",
        "notes": format!("created by the StageOS smoke suite, run {run_id}"),
        "tags": ["smoke", run_id],
        "smoke_run_id": run_id,
    })
}

/// Register `path` for deletion the moment a create answered with an `id`, even a
/// body that is otherwise not what the contract promises.
pub fn guard_created(
    cleanups: &Cleanups,
    session: &Session,
    resp: &Response,
    collection: &str,
    what: &str,
) {
    if !resp.status.is_success() {
        return;
    }
    let id = serde_json::from_slice::<Value>(&resp.body)
        .ok()
        .and_then(|v| {
            v.get("id")
                .or_else(|| v.get("file_id"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    if let Some(id) = id {
        cleanups.delete_later(
            session,
            format!("{collection}/{id}"),
            format!("{what} {id}"),
        );
    }
}

/// `POST /api/events` with `body`, guarded for deletion at the end of the flow.
pub async fn create_event(
    session: &Session,
    cleanups: &Cleanups,
    body: &Value,
) -> Result<(Event, Response), StepError> {
    let resp = session.post("/api/events").json(body).send().await?;
    guard_created(cleanups, session, &resp, "/api/events", "event");
    resp.expect_status(201)?;
    let event: Event = resp.json()?;
    Ok((event, resp))
}

/// Whether an entity's tagging marks it as this run's smoke data.
pub fn check_smoke_tagging(
    what: &str,
    tags: &[String],
    smoke_run_id: Option<&str>,
    run_id: &str,
) -> Result<(), StepError> {
    ensure(
        tags.iter().any(|t| t == "smoke") && tags.iter().any(|t| t == run_id),
        format!("{what} tags"),
        format!("[\"smoke\", \"{run_id}\"]"),
        format!("{tags:?}"),
    )?;
    ensure(
        smoke_run_id == Some(run_id),
        format!("{what} smoke_run_id"),
        run_id,
        format!("{smoke_run_id:?}"),
    )
}

/// Register the `sig` query value of a signed URL with the run's redactor, so the
/// signature never reaches a report.
pub fn redact_signature(redactor: &stageos_smoke_http::secrets::Redactor, url: &str) {
    if let Ok(u) = url::Url::parse(url) {
        for (k, v) in u.query_pairs() {
            if k == "sig" {
                redactor.add(v.as_ref());
            }
        }
    }
}

/// Register the signature of the signed URL in JSON field `field` of `body`, if any.
pub fn redact_signed_url_field(
    redactor: &stageos_smoke_http::secrets::Redactor,
    body: &[u8],
    field: &str,
) {
    if let Ok(v) = serde_json::from_slice::<Value>(body)
        && let Some(u) = v.get(field).and_then(Value::as_str)
    {
        redact_signature(redactor, u);
    }
}

/// `GET /api/files/{id}/download-url` (with an optional query, e.g. `ttl_secs=1`);
/// the signature is registered with the redactor before anything else happens.
pub async fn download_url(
    session: &Session,
    redactor: &stageos_smoke_http::secrets::Redactor,
    file_id: &str,
    query: &str,
) -> Result<(super::model::DownloadUrl, Response), StepError> {
    let path = if query.is_empty() {
        format!("/api/files/{file_id}/download-url")
    } else {
        format!("/api/files/{file_id}/download-url?{query}")
    };
    let resp = session.get(&path).send().await?;
    redact_signed_url_field(redactor, &resp.body, "url");
    resp.expect_status(200)?;
    let link: super::model::DownloadUrl = resp.json()?;
    Ok((link, resp))
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
