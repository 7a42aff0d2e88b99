//! Pieces several flows use: logging in as a role (with TOTP where the user has it).

use serde::Deserialize;
use serde_json::json;

use secrecy::ExposeSecret;

use crate::credentials::{UserCredential, totp_from_base32, unix_now};
use crate::http::{ExecError, Response, Session, StepError, ensure};

/// The token response of login, MFA verify and refresh.
#[derive(Clone, Debug, Deserialize)]
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
#[derive(Clone, Debug, Deserialize, PartialEq)]
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
