//! TOTP lifecycle on a disposable user the Owner creates (and deletes): setup with
//! a parsed `otpauth://` URL, enable with 10 recovery codes, MFA login with wrong,
//! current and old codes, single-use recovery codes, disable, delete.
//!
//! A server may refuse a code that was already used in its 30 s step (replay
//! protection). Every code this flow sends goes through [`TotpClock::use_code`],
//! which then waits for the next step by its deadline and sends that step's code —
//! never a blind sleep.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::flow::FlowRun;
use stageos_smoke_http::credentials::Role;
use stageos_smoke_http::http::{ExecError, Session, StepError, ensure, ensure_eq};
use stageos_smoke_model::flowdef::{FlowDef, StepDef};

use super::common::{MfaChallenge, Tokens, login, post_login, wrong_totp};
use super::disposable::{Disposable, Factory, OwnerLogin, TotpClock};

/// The TOTP flow's steps.
pub static FLOW: FlowDef = FlowDef {
    id: "totp",
    description: "TOTP lifecycle on a disposable user: setup, enable, MFA login, old and wrong codes, recovery codes, disable, delete",
    roles: &[Role::Owner],
    needs_owner_totp: true,
    observes_run: false,
    steps: &[
        OWNER_CREATES_DISPOSABLE_USER,
        DISPOSABLE_USER_LOGS_IN,
        SETUP_RETURNS_OTPAUTH_URL,
        ENABLE_RETURNS_TEN_RECOVERY_CODES,
        LOGIN_REQUIRES_MFA,
        WRONG_CODE_REFUSED,
        CURRENT_CODE_LOGS_IN,
        OLD_CODE_REFUSED,
        RECOVERY_CODE_LOGS_IN,
        RECOVERY_CODE_SINGLE_USE,
        DISABLE_TOTP,
        OWNER_DELETES_USER,
    ],
};

// The steps of `totp`, each id written once: `FLOW` lists them and the
// flow's `run` names them by these constants.

/// Step `owner_creates_disposable_user`.
pub const OWNER_CREATES_DISPOSABLE_USER: StepDef = StepDef {
    id: "owner_creates_disposable_user",
    description: "The Owner creates a disposable, smoke-tagged Member (POST /api/users answers 201)",
};

/// Step `disposable_user_logs_in`.
pub const DISPOSABLE_USER_LOGS_IN: StepDef = StepDef {
    id: "disposable_user_logs_in",
    description: "The disposable user logs in with its password alone (no MFA yet)",
};

/// Step `setup_returns_otpauth_url`.
pub const SETUP_RETURNS_OTPAUTH_URL: StepDef = StepDef {
    id: "setup_returns_otpauth_url",
    description: "TOTP setup answers a base32 secret and an otpauth://totp URL with that secret, issuer StageOS, SHA1, 6 digits, period 30",
};

/// Step `enable_returns_ten_recovery_codes`.
pub const ENABLE_RETURNS_TEN_RECOVERY_CODES: StepDef = StepDef {
    id: "enable_returns_ten_recovery_codes",
    description: "Enabling TOTP with a generated code answers 10 distinct recovery codes of the form xxxxx-xxxxx",
};

/// Step `login_requires_mfa`.
pub const LOGIN_REQUIRES_MFA: StepDef = StepDef {
    id: "login_requires_mfa",
    description: "Login now answers mfa_required with an mfa_token, and no access token",
};

/// Step `wrong_code_refused`.
pub const WRONG_CODE_REFUSED: StepDef = StepDef {
    id: "wrong_code_refused",
    description: "A wrong TOTP code is refused with 401 invalid_mfa_code",
};

/// Step `current_code_logs_in`.
pub const CURRENT_CODE_LOGS_IN: StepDef = StepDef {
    id: "current_code_logs_in",
    description: "The current TOTP code logs in as the disposable user",
};

/// Step `old_code_refused`.
pub const OLD_CODE_REFUSED: StepDef = StepDef {
    id: "old_code_refused",
    description: "A code from two steps (60 s) ago is refused with 401 invalid_mfa_code",
};

/// Step `recovery_code_logs_in`.
pub const RECOVERY_CODE_LOGS_IN: StepDef = StepDef {
    id: "recovery_code_logs_in",
    description: "A recovery code logs in",
};

/// Step `recovery_code_single_use`.
pub const RECOVERY_CODE_SINGLE_USE: StepDef = StepDef {
    id: "recovery_code_single_use",
    description: "The same recovery code is refused the second time with 401 invalid_mfa_code",
};

/// Step `disable_totp`.
pub const DISABLE_TOTP: StepDef = StepDef {
    id: "disable_totp",
    description: "TOTP disable with a current code answers 204, and login no longer asks for MFA",
};

/// Step `owner_deletes_user`.
pub const OWNER_DELETES_USER: StepDef = StepDef {
    id: "owner_deletes_user",
    description: "The Owner deletes the disposable user (204); its login then answers 401",
};

#[derive(Debug, Deserialize)]
struct TotpSetup {
    secret: String,
    otpauth_url: String,
}

#[derive(Debug, Deserialize)]
struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Check an `otpauth://` URL against the contract; `Ok` when it names `secret` for `email`.
pub fn check_otpauth_url(raw: &str, secret: &str, email: &str) -> Result<(), StepError> {
    let url = url::Url::parse(raw).map_err(|e| stageos_smoke_http::http::CheckFailure {
        what: "otpauth_url".into(),
        expected: "a URL".into(),
        actual: format!("unparseable: {e}"),
    })?;
    ensure_eq("otpauth_url scheme", "otpauth", url.scheme())?;
    ensure_eq("otpauth_url type (host)", Some("totp"), url.host_str())?;
    let label = percent_decode(url.path().trim_start_matches('/'));
    ensure_eq(
        "otpauth_url label",
        format!("StageOS:{email}").to_lowercase(),
        label.to_lowercase(),
    )?;
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let normalise = |s: &str| s.trim_end_matches('=').to_ascii_uppercase();
    ensure_eq(
        "otpauth_url secret",
        Some(normalise(secret)),
        param("secret").map(|s| normalise(&s)),
    )?;
    ensure_eq(
        "otpauth_url issuer",
        Some("StageOS".to_owned()),
        param("issuer"),
    )?;
    ensure_eq(
        "otpauth_url algorithm",
        Some("SHA1".to_owned()),
        param("algorithm"),
    )?;
    ensure_eq("otpauth_url digits", Some("6".to_owned()), param("digits"))?;
    ensure_eq("otpauth_url period", Some("30".to_owned()), param("period"))?;
    Ok(())
}

/// Whether `code` has the contract's recovery-code form `^[a-z2-7]{5}-[a-z2-7]{5}$`.
pub fn is_recovery_code(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 11
        && b[5] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 5 || matches!(c, b'a'..=b'z' | b'2'..=b'7'))
}

async fn challenge(session: &Session, user: &Disposable) -> Result<MfaChallenge, StepError> {
    use secrecy::ExposeSecret;
    let resp = post_login(
        session,
        &user.credential.email,
        user.credential.password.expose_secret(),
    )
    .await?;
    resp.expect_status(200)?;
    let body: Value = resp.json()?;
    ensure(
        body.get("access_token").is_none(),
        "login of a TOTP user",
        "no access token before MFA",
        "an access token",
    )?;
    let c: MfaChallenge = resp.json()?;
    ensure_eq("mfa_required", true, c.mfa_required)?;
    Ok(c)
}

async fn verify(
    session: &Session,
    body: Value,
) -> Result<stageos_smoke_http::http::Response, ExecError> {
    session
        .post("/api/auth/mfa/verify")
        .without_bearer()
        .json(&body)
        .send()
        .await
}

/// Run the TOTP flow.
pub async fn run(flow: &mut FlowRun) {
    let factory = Factory::new(flow);
    let prepared = OwnerLogin::prepare(flow).and_then(|o| Ok((o, flow.session("disposable")?)));
    let created = flow
        .step(&OWNER_CREATES_DISPOSABLE_USER, async {
            let (owner_login, user_session) = prepared?;
            let (owner, tokens) = owner_login.login().await?;
            let user = factory
                .create(&owner, &tokens.user.email, Role::Member, "totp")
                .await?;
            Ok((owner, user, user_session))
        })
        .await;
    let Some((owner, user, mut session)) = created else {
        return;
    };

    let logged_in = flow
        .step(&DISPOSABLE_USER_LOGS_IN, async {
            let tokens = login(&mut session, &user.credential, None).await?;
            ensure_eq(
                "user of the login",
                user.id.as_str(),
                tokens.user.id.as_str(),
            )?;
            Ok(())
        })
        .await;
    if logged_in.is_none() {
        return;
    }

    let setup = flow
        .step(&SETUP_RETURNS_OTPAUTH_URL, async {
            let resp = session.post("/api/auth/totp/setup").send().await?;
            resp.expect_status(200)?;
            let setup: TotpSetup = resp.json()?;
            ensure(
                setup.secret.len() >= 26
                    && setup
                        .secret
                        .trim_end_matches('=')
                        .bytes()
                        .all(|b| matches!(b, b'A'..=b'Z' | b'2'..=b'7')),
                "TOTP secret",
                "uppercase base32 of at least 128 bits",
                format!("{} characters, not all base32", setup.secret.len()),
            )?;
            check_otpauth_url(&setup.otpauth_url, &setup.secret, &user.credential.email)?;
            Ok(setup.secret)
        })
        .await;
    let Some(secret) = setup else { return };
    let mut clock = match TotpClock::new(&secret) {
        Ok(c) => c,
        Err(e) => {
            flow.step(&ENABLE_RETURNS_TEN_RECOVERY_CODES, async {
                Err::<(), _>(StepError::from(e))
            })
            .await;
            return;
        }
    };

    let codes = flow
        .step(&ENABLE_RETURNS_TEN_RECOVERY_CODES, async {
            let resp = clock
                .use_code(|code| {
                    session
                        .post("/api/auth/totp/enable")
                        .json(&json!({ "code": code }))
                        .send()
                })
                .await?;
            resp.expect_status(200)?;
            let codes: RecoveryCodes = resp.json()?;
            ensure_eq("number of recovery codes", 10, codes.recovery_codes.len())?;
            let mut unique = codes.recovery_codes.clone();
            unique.sort_unstable();
            unique.dedup();
            ensure_eq("distinct recovery codes", 10, unique.len())?;
            let bad: Vec<&String> = codes
                .recovery_codes
                .iter()
                .filter(|c| !is_recovery_code(c))
                .collect();
            ensure(
                bad.is_empty(),
                "recovery code format",
                "xxxxx-xxxxx of lowercase base32 (a-z, 2-7)",
                format!("{} codes do not match", bad.len()),
            )?;
            Ok(codes.recovery_codes)
        })
        .await;
    let Some(codes) = codes else { return };

    let anonymous = match session.clone_fresh() {
        Ok(s) => s,
        Err(e) => {
            flow.step(&LOGIN_REQUIRES_MFA, async {
                Err::<(), _>(StepError::from(e))
            })
            .await;
            return;
        }
    };
    let first = flow
        .step(&LOGIN_REQUIRES_MFA, challenge(&anonymous, &user))
        .await;
    let Some(first) = first else { return };

    // After the first challenge the remaining logins are independent of each
    // other (each has its own MFA challenge): a wrong code, the current code, an
    // old code, and a recovery code followed by its reuse run side by side. The
    // number of deliberate failures (three) is what it was one after another.
    let steps = flow.steps();
    let old_code = clock.old_code();
    let wrong = steps.step(&WRONG_CODE_REFUSED, async {
        let code = wrong_totp(&secret)?;
        let resp = verify(
            &anonymous,
            json!({ "mfa_token": first.mfa_token, "code": code }),
        )
        .await?;
        resp.expect_error(401, "invalid_mfa_code")?;
        Ok(())
    });
    let current = steps.step(&CURRENT_CODE_LOGS_IN, async {
        let mut s = anonymous.clone_fresh()?;
        let c = challenge(&s, &user).await?;
        let resp = clock
            .use_code(|code| verify(&s, json!({ "mfa_token": c.mfa_token, "code": code })))
            .await?;
        resp.expect_status(200)?;
        let tokens: Tokens = resp.json()?;
        ensure_eq("user after MFA", user.id.as_str(), tokens.user.id.as_str())?;
        s.set_bearer(Some(tokens.access_token));
        Ok(s)
    });
    let old = steps.step(&OLD_CODE_REFUSED, async {
        let anonymous = anonymous.clone_fresh()?;
        let c = challenge(&anonymous, &user).await?;
        let resp = verify(
            &anonymous,
            json!({ "mfa_token": c.mfa_token, "code": old_code }),
        )
        .await?;
        let status = resp.status.as_u16();
        ensure(
            status == 401 && resp.error_code().as_deref() == Some("invalid_mfa_code"),
            "MFA verify with a code from two steps ago",
            "401 invalid_mfa_code",
            format!(
                "{status} {}",
                resp.error_code()
                    .unwrap_or_else(|| "(no error code: the old code was accepted)".into())
            ),
        )?;
        Ok(())
    });
    let recovery = codes[0].clone();
    let recovery_chain = async {
        let recovered = steps
            .step(&RECOVERY_CODE_LOGS_IN, async {
                let mut s = anonymous.clone_fresh()?;
                let c = challenge(&s, &user).await?;
                let resp = verify(
                    &s,
                    json!({ "mfa_token": c.mfa_token, "recovery_code": recovery }),
                )
                .await?;
                resp.expect_status(200)?;
                let tokens: Tokens = resp.json()?;
                ensure_eq(
                    "user after a recovery code",
                    user.id.as_str(),
                    tokens.user.id.as_str(),
                )?;
                s.set_bearer(Some(tokens.access_token));
                Ok(s)
            })
            .await;
        if recovered.is_some() {
            steps
                .step(&RECOVERY_CODE_SINGLE_USE, async {
                    let c = challenge(&anonymous, &user).await?;
                    let resp = verify(
                        &anonymous,
                        json!({ "mfa_token": c.mfa_token, "recovery_code": recovery }),
                    )
                    .await?;
                    let status = resp.status.as_u16();
                    ensure(
                        status == 401 && resp.error_code().as_deref() == Some("invalid_mfa_code"),
                        "MFA verify with a recovery code used before",
                        "401 invalid_mfa_code",
                        format!(
                            "{status} {}",
                            resp.error_code().unwrap_or_else(|| {
                                "(no error code: the used code logged in again)".into()
                            })
                        ),
                    )?;
                    Ok(())
                })
                .await;
        } else {
            steps.skip(&RECOVERY_CODE_SINGLE_USE, "not run: step `totp::recovery_code_logs_in` did not pass, so no recovery code was used once");
        }
        recovered
    };
    let ((), current, (), recovered) = futures::join!(
        async {
            wrong.await;
        },
        current,
        async {
            old.await;
        },
        recovery_chain
    );
    let authed: Option<Session> = current.or(recovered);

    match authed {
        Some(s) => {
            flow.step(&DISABLE_TOTP, async {
                let resp = clock.use_code(|code| s.post("/api/auth/totp/disable").json(&json!({ "code": code })).send()).await?;
                resp.expect_status(204)?;
                let plain = anonymous.clone_fresh()?;
                use secrecy::ExposeSecret;
                let resp = post_login(&plain, &user.credential.email, user.credential.password.expose_secret()).await?;
                resp.expect_status(200)?;
                let body: Value = resp.json()?;
                ensure(body.get("access_token").is_some(), "login after TOTP disable", "tokens without an MFA challenge", resp.excerpt())?;
                Ok(())
            })
            .await;
        }
        None => flow.skip(&DISABLE_TOTP, "not run: neither a TOTP code nor a recovery code logged the user in, so there is no session to disable TOTP with"),
    }

    flow.step(&OWNER_DELETES_USER, async {
        let path = format!("/api/users/{}", user.id);
        let resp = owner.delete(&path).send().await?;
        resp.expect_status(204)?;
        factory.forget(&user);
        use secrecy::ExposeSecret;
        let resp = post_login(
            &anonymous,
            &user.credential.email,
            user.credential.password.expose_secret(),
        )
        .await?;
        ensure_eq(
            "login of the deleted user, status",
            401,
            resp.status.as_u16(),
        )?;
        Ok(())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otpauth_url_is_checked_parameter_by_parameter() {
        let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
        let good = format!(
            "otpauth://totp/StageOS:a%40b.test?secret={secret}&issuer=StageOS&algorithm=SHA1&digits=6&period=30"
        );
        assert!(check_otpauth_url(&good, secret, "a@b.test").is_ok());
        let no_period = good.replace("&period=30", "");
        let err = check_otpauth_url(&no_period, secret, "a@b.test")
            .unwrap_err()
            .to_string();
        assert!(err.contains("period"), "{err}");
        let other_secret = good.replace(secret, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        assert!(check_otpauth_url(&other_secret, secret, "a@b.test").is_err());
        assert!(check_otpauth_url("https://x/totp", secret, "a@b.test").is_err());
    }

    #[test]
    fn recovery_code_form() {
        assert!(is_recovery_code("abcde-fg234"));
        assert!(!is_recovery_code("abcde-fg89a"));
        assert!(!is_recovery_code("ABCDE-FGHIJ"));
        assert!(!is_recovery_code("abcdefghij"));
    }

    #[test]
    fn old_code_is_outside_the_window() {
        let clock = TotpClock::new("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").expect("valid");
        let now = TotpClock::step_now();
        let window: Vec<String> = [now - 1, now, now + 1]
            .iter()
            .map(|s| clock.code_at_step(*s))
            .collect();
        assert!(!window.contains(&clock.old_code()));
    }
}
