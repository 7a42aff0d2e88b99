//! Auth: password login, TOTP login, `/api/me`, refresh rotation with reuse
//! detection, logout, refusals, cookie flags.
//!
//! Each check is its own step, and each step works from a state it set up itself
//! where a previous check could have consumed it (a fresh login for logout, a fresh
//! MFA challenge for the correct code), so one broken behaviour fails one step.
//!
//! The wrong password goes to a disposable user the Owner creates for it, never to
//! a configured account: deliberate failures count against the target's login
//! limits (5 per account and address in 60 s), and the configured accounts must
//! stay usable for the next run a minute later. Wrong TOTP codes are the TOTP
//! flow's, on its own disposable user.

use secrecy::ExposeSecret;
use serde_json::json;

use crate::flow::FlowRun;
use stageos_smoke_http::credentials::Role;
use stageos_smoke_http::http::{ExecError, StepError, ensure, ensure_eq};
use stageos_smoke_model::flowdef::{FlowDef, StepDef};

use super::common::{MfaChallenge, Tokens, UserInfo, current_totp, login, post_login, session_as};
use super::disposable::Factory;
use super::model::ensure_same_mailbox;

/// Name of the refresh cookie.
pub const REFRESH_COOKIE: &str = "stageos_refresh";

/// The auth flow's steps.
pub static FLOW: FlowDef = FlowDef {
    id: "auth",
    description: "Login with password and TOTP, /api/me, refresh rotation and reuse detection, logout",
    roles: &[Role::Owner, Role::Manager, Role::Member],
    needs_owner_totp: true,
    observes_run: false,
    steps: &[
        LOGIN_WITH_PASSWORD,
        REFRESH_COOKIE_FLAGS,
        ME_REPORTS_ROLE,
        REFRESH_ROTATES_TOKENS,
        REUSED_REFRESH_TOKEN_REFUSED,
        LOGOUT_REVOKES_SESSION,
        WRONG_PASSWORD_REFUSED,
        OWNER_LOGIN_REQUIRES_MFA,
        OWNER_LOGIN_WITH_TOTP,
        LATENCY_WITHIN_BUDGET,
    ],
};

// The steps of `auth`, each id written once: `FLOW` lists them and the
// flow's `run` names them by these constants.

/// Step `login_with_password`.
pub const LOGIN_WITH_PASSWORD: StepDef = StepDef {
    id: "login_with_password",
    description: "A user without TOTP logs in with email and password and gets a bearer token and a refresh cookie",
};

/// Step `refresh_cookie_flags`.
pub const REFRESH_COOKIE_FLAGS: StepDef = StepDef {
    id: "refresh_cookie_flags",
    description: "The refresh cookie is HttpOnly, Secure, SameSite=Strict and scoped to /api/auth",
};

/// Step `me_reports_role`.
pub const ME_REPORTS_ROLE: StepDef = StepDef {
    id: "me_reports_role",
    description: "/api/me names the logged-in user with its role",
};

/// Step `refresh_rotates_tokens`.
pub const REFRESH_ROTATES_TOKENS: StepDef = StepDef {
    id: "refresh_rotates_tokens",
    description: "Refresh returns a new access token and rotates the refresh cookie",
};

/// Step `reused_refresh_token_refused`.
pub const REUSED_REFRESH_TOKEN_REFUSED: StepDef = StepDef {
    id: "reused_refresh_token_refused",
    description: "Replaying an already rotated refresh token is refused (401 refresh_token_reused)",
};

/// Step `logout_revokes_session`.
pub const LOGOUT_REVOKES_SESSION: StepDef = StepDef {
    id: "logout_revokes_session",
    description: "After logout the refresh cookie no longer refreshes (401)",
};

/// Step `wrong_password_refused`.
pub const WRONG_PASSWORD_REFUSED: StepDef = StepDef {
    id: "wrong_password_refused",
    description: "A wrong password for a disposable user is refused with 401 invalid_credentials",
};

/// Step `owner_login_requires_mfa`.
pub const OWNER_LOGIN_REQUIRES_MFA: StepDef = StepDef {
    id: "owner_login_requires_mfa",
    description: "The Owner, who has TOTP enabled, gets an MFA challenge instead of tokens",
};

/// Step `owner_login_with_totp`.
pub const OWNER_LOGIN_WITH_TOTP: StepDef = StepDef {
    id: "owner_login_with_totp",
    description: "The Owner completes login with a current TOTP code and gets an owner token",
};

/// Step `latency_within_budget`.
pub const LATENCY_WITHIN_BUDGET: StepDef = StepDef {
    id: "latency_within_budget",
    description: "Every auth request answered within the profile's latency budget",
};

/// Run the auth flow.
pub async fn run(flow: &mut FlowRun) {
    let Some((manager, owner, mut session, attacker, owner_for_factory)) = flow.setup(|f| {
        Ok::<_, ExecError>((
            f.user(Role::Manager)?,
            f.user(Role::Owner)?,
            f.session("manager")?,
            f.session("attacker")?,
            f.session("owner")?,
        ))
    }) else {
        return;
    };
    let factory = Factory::new(flow);
    let owner_seed = flow
        .cx()
        .credentials
        .owner_totp_secret()
        .map(|s| s.expose_secret().to_owned());

    // Password login of a non-MFA user.
    let login_resp = flow
        .step(&LOGIN_WITH_PASSWORD, async {
            let resp =
                post_login(&session, &manager.email, manager.password.expose_secret()).await?;
            resp.expect_status(200)?;
            let tokens: Tokens = resp.json()?;
            ensure_eq("token_type", "Bearer", tokens.token_type.as_str())?;
            ensure(
                tokens.expires_in > 0 && tokens.expires_in <= 900,
                "access token lifetime (expires_in)",
                "1..=900 seconds",
                tokens.expires_in.to_string(),
            )?;
            ensure_eq(
                "role in the login response",
                "manager",
                tokens.user.role.as_str(),
            )?;
            ensure(
                session.cookie(REFRESH_COOKIE).is_some(),
                "refresh cookie after login",
                format!("a `{REFRESH_COOKIE}` cookie stored"),
                "none (missing or rejected Set-Cookie)",
            )?;
            Ok((tokens, resp))
        })
        .await;
    let Some((tokens, resp)) = login_resp else {
        return;
    };
    session.set_bearer(Some(tokens.access_token.clone()));

    flow.step(&REFRESH_COOKIE_FLAGS, async {
        let cookies = resp.set_cookies();
        let c = cookies.iter().find(|c| c.name() == REFRESH_COOKIE);
        let Some(c) = c else {
            return ensure(false, "refresh Set-Cookie", REFRESH_COOKIE, "absent");
        };
        let flag = |on: Option<bool>| if on == Some(true) { "set" } else { "missing" };
        ensure(
            c.http_only() == Some(true),
            "refresh cookie HttpOnly attribute",
            "set",
            flag(c.http_only()),
        )?;
        ensure(
            c.secure() == Some(true),
            "refresh cookie Secure attribute",
            "set",
            flag(c.secure()),
        )?;
        let same_site = c
            .same_site()
            .map(|s| s.to_string())
            .unwrap_or_else(|| "missing".into());
        ensure(
            c.same_site() == Some(cookie::SameSite::Strict),
            "refresh cookie SameSite attribute",
            "Strict",
            same_site,
        )?;
        ensure(
            c.path() == Some("/api/auth"),
            "refresh cookie Path attribute",
            "/api/auth",
            c.path().unwrap_or("missing"),
        )?;
        Ok(())
    })
    .await;

    flow.step(&ME_REPORTS_ROLE, async {
        let resp = session.get("/api/me").send().await?;
        resp.expect_status(200)?;
        let me: UserInfo = resp.json()?;
        ensure_eq("/api/me role", "manager", me.role.as_str())?;
        ensure_same_mailbox("/api/me email", &manager.email, &me.email)?;
        ensure_eq("/api/me id", tokens.user.id.as_str(), me.id.as_str())?;
        Ok(())
    })
    .await;

    let rotated = flow
        .step(&REFRESH_ROTATES_TOKENS, async {
            let old_refresh = session
                .cookie(REFRESH_COOKIE)
                .ok_or_else(|| ExecError::Other("no refresh cookie in the session".into()))?;
            let resp = session
                .post("/api/auth/refresh")
                .without_bearer()
                .send()
                .await?;
            resp.expect_status(200)?;
            let new_tokens: Tokens = resp.json()?;
            let new_refresh = session.cookie(REFRESH_COOKIE).unwrap_or_default();
            ensure(
                new_tokens.access_token != tokens.access_token,
                "access token after refresh",
                "a new access token",
                "the same access token",
            )?;
            ensure(
                !new_refresh.is_empty() && new_refresh != old_refresh,
                "refresh cookie after refresh",
                "a rotated refresh token",
                "the same refresh token",
            )?;
            Ok((old_refresh, new_tokens))
        })
        .await;

    match rotated {
        Some((old_refresh, _)) => {
            flow.step(&REUSED_REFRESH_TOKEN_REFUSED, async {
                let replay = attacker.post("/api/auth/refresh").without_bearer().cookie_header(&format!("{REFRESH_COOKIE}={old_refresh}")).send().await?;
                replay.expect_error(401, "refresh_token_reused")?;
                Ok(())
            })
            .await;
        }
        None => flow.skip(&REUSED_REFRESH_TOKEN_REFUSED, "not run: step `auth::refresh_rotates_tokens` did not pass, so there is no rotated token to replay"),
    }

    flow.step(&LOGOUT_REVOKES_SESSION, async {
        // A fresh login: the reuse check above may have revoked the first family.
        let mut fresh = session.clone_fresh()?;
        login(&mut fresh, &manager, None).await?;
        let token = fresh
            .cookie(REFRESH_COOKIE)
            .ok_or_else(|| ExecError::Other("no refresh cookie after login".into()))?;
        let resp = fresh.post("/api/auth/logout").send().await?;
        resp.expect_status(204)?;
        // Replay the token explicitly: a server that only clears the browser's cookie
        // but keeps the token valid has not logged anyone out.
        let after = fresh
            .post("/api/auth/refresh")
            .without_bearer()
            .cookie_header(&format!("{REFRESH_COOKIE}={token}"))
            .send()
            .await?;
        ensure_eq("refresh after logout, status", 401, after.status.as_u16())?;
        Ok(())
    })
    .await;

    flow.step(&WRONG_PASSWORD_REFUSED, async {
        let seed = owner_seed.as_deref().ok_or_else(|| {
            ExecError::Other(
                "no TOTP seed for the Owner, who creates the disposable user (hint: set STAGEOS_OWNER_TOTP_SECRET)".into(),
            )
        })?;
        let (admin, tokens) = session_as(owner_for_factory, &owner, Some(seed)).await?;
        let user = factory
            .create(&admin, &tokens.user.email, Role::Member, "wrong-password")
            .await?;
        let wrong = format!("{}-wrong", user.credential.password.expose_secret());
        let resp = post_login(&attacker, &user.credential.email, &wrong).await?;
        resp.expect_error(401, "invalid_credentials")?;
        Ok(())
    })
    .await;

    let Some(seed) = owner_seed else {
        flow.step(&OWNER_LOGIN_REQUIRES_MFA, async {
            Err::<(), _>(
                ExecError::Other(
                    "no TOTP seed for the Owner (hint: set STAGEOS_OWNER_TOTP_SECRET)".into(),
                )
                .into(),
            )
        })
        .await;
        return;
    };
    let owner_session = match flow.session("owner") {
        Ok(s) => s,
        Err(e) => {
            flow.step(&OWNER_LOGIN_REQUIRES_MFA, async {
                Err::<(), _>(StepError::from(e))
            })
            .await;
            return;
        }
    };

    let challenge = flow
        .step(&OWNER_LOGIN_REQUIRES_MFA, async {
            let resp =
                post_login(&owner_session, &owner.email, owner.password.expose_secret()).await?;
            resp.expect_status(200)?;
            let body: serde_json::Value = resp.json()?;
            ensure(
                body.get("access_token").is_none(),
                "Owner login response",
                "no access token before MFA",
                "an access token",
            )?;
            let challenge: MfaChallenge = resp.json()?;
            ensure_eq("mfa_required", true, challenge.mfa_required)?;
            Ok(challenge)
        })
        .await;
    if challenge.is_none() {
        return;
    }

    flow.step(&OWNER_LOGIN_WITH_TOTP, async {
        let resp = post_login(&owner_session, &owner.email, owner.password.expose_secret()).await?;
        resp.expect_status(200)?;
        let fresh: MfaChallenge = resp.json()?;
        let code = current_totp(&seed)?;
        let resp = owner_session
            .post("/api/auth/mfa/verify")
            .without_bearer()
            .json(&json!({ "mfa_token": fresh.mfa_token, "code": code }))
            .send()
            .await?;
        resp.expect_status(200)?;
        let tokens: Tokens = resp.json()?;
        ensure_eq("role after MFA", "owner", tokens.user.role.as_str())?;
        ensure_same_mailbox("email after MFA", &owner.email, &tokens.user.email)?;
        Ok(())
    })
    .await;

    let budget = flow.cx().latency_budget;
    let requests = flow.requests();
    flow.step(&LATENCY_WITHIN_BUDGET, async {
        let slowest = requests
            .iter()
            .max_by(|a, b| a.duration_ms.total_cmp(&b.duration_ms));
        if let Some(r) = slowest {
            ensure(
                r.duration_ms <= budget.as_secs_f64() * 1000.0,
                format!("slowest auth request ({} {})", r.method, r.path),
                format!("≤ {} ms", budget.as_millis()),
                format!("{:.0} ms", r.duration_ms),
            )?;
        }
        Ok(())
    })
    .await;
}
