//! Auth behaviour of the reference server, over real HTTP.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{error_code, refresh_set_cookie, start, totp_now, wrong_code};
use serde_json::{Value, json};
use stageos_reference::Role;

#[tokio::test]
async fn login_returns_tokens_cookie_and_jwt() {
    let ctx = start(vec![]).await;
    let resp = ctx.login_raw(Role::Manager).await;
    assert_eq!(resp.status(), 200);
    let (_, cookie) = refresh_set_cookie(&resp).expect("cookie");
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/api/auth"] {
        assert!(cookie.contains(attr), "{attr} missing in {cookie}");
    }
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        body["expires_in"]
            .as_i64()
            .is_some_and(|e| e > 0 && e <= 900)
    );
    let manager = ctx.server.credentials().user(Role::Manager).clone();
    assert_eq!(body["user"]["role"], "manager");
    assert_eq!(body["user"]["email"], manager.email);
    assert_eq!(body["user"]["id"], manager.id.to_string());

    let token = body["access_token"].as_str().expect("token");
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("b64")).expect("json");
    assert_eq!(header["alg"], "HS256");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    for claim in ["sub", "role", "exp", "iat", "jti"] {
        assert!(claims.get(claim).is_some(), "claim {claim}");
    }
    assert!(claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0) <= 900);

    let me: Value = ctx.me(token).await.json().await.expect("json");
    assert_eq!(me["role"], "manager");
    assert_eq!(me["email"], manager.email);
    assert!(
        ctx.server
            .state()
            .audit_log()
            .iter()
            .any(|e| e.action == "auth.login"
                && e.actor_id == Some(manager.id)
                && e.ip.as_deref() == Some("127.0.0.1"))
    );
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn protected_routes_reject_bad_tokens() {
    let ctx = start(vec![]).await;
    let resp = ctx.http.get(ctx.url("/api/me")).send().await.expect("req");
    assert_eq!(resp.status(), 401);
    assert_eq!(error_code(resp).await, "unauthorized");
    let resp = ctx.me("not.a.jwt").await;
    assert_eq!(resp.status(), 401);
    let (token, _) = ctx.login(Role::Crew).await;
    // Flip one character in the middle of the signature (not the last one,
    // whose low bits are padding).
    let mut chars: Vec<char> = token.chars().collect();
    let i = chars.len() - 10;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    assert_eq!(ctx.me(&tampered).await.status(), 401);
    assert_eq!(ctx.me(&token).await.status(), 200);
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn wrong_password_then_rate_limit() {
    let ctx = start(vec![]).await;
    let email = ctx.server.credentials().user(Role::Member).email.clone();
    for _ in 0..5 {
        let resp = ctx
            .post(
                "/api/auth/login",
                json!({"email": email, "password": "wrong"}),
            )
            .await;
        assert_eq!(resp.status(), 401);
        assert_eq!(error_code(resp).await, "invalid_credentials");
    }
    // Even the right password is refused now.
    let resp = ctx.login_raw(Role::Member).await;
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry));
    assert_eq!(error_code(resp).await, "rate_limited");
    // Another account from the same IP is not locked out.
    assert_eq!(ctx.login_raw(Role::Crew).await.status(), 200);
    let metrics = ctx
        .http
        .get(ctx.url("/metrics"))
        .send()
        .await
        .expect("req")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("auth_failures_total{reason=\"invalid_credentials\"} 5"));
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn owner_needs_mfa() {
    let ctx = start(vec![]).await;
    let secret = ctx.server.credentials().owner_totp_secret.clone();
    let resp = ctx.login_raw(Role::Owner).await;
    assert_eq!(resp.status(), 200);
    assert!(refresh_set_cookie(&resp).is_none(), "no session before MFA");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["mfa_required"], true);
    assert!(body.get("access_token").is_none());
    let mfa_token = body["mfa_token"].clone();

    let resp = ctx
        .post(
            "/api/auth/mfa/verify",
            json!({"mfa_token": mfa_token, "code": wrong_code(&secret)}),
        )
        .await;
    assert_eq!(resp.status(), 401);
    assert_eq!(error_code(resp).await, "invalid_mfa_code");
    assert!(
        ctx.server
            .state()
            .audit_log()
            .iter()
            .any(|e| e.action == "auth.mfa_failed")
    );

    let resp = ctx
        .post(
            "/api/auth/mfa/verify",
            json!({"mfa_token": mfa_token, "code": totp_now(&secret)}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["user"]["role"], "owner");
    // The MFA token is single use.
    let resp = ctx
        .post(
            "/api/auth/mfa/verify",
            json!({"mfa_token": mfa_token, "code": totp_now(&secret)}),
        )
        .await;
    assert_eq!(resp.status(), 401);
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn totp_enrolment_and_recovery_codes() {
    let ctx = start(vec![]).await;
    let (token, _) = ctx.login(Role::Manager).await;
    let resp = ctx
        .post_auth("/api/auth/totp/setup", &token, json!({}))
        .await;
    assert_eq!(resp.status(), 200);
    let setup: Value = resp.json().await.expect("json");
    let secret = setup["secret"].as_str().expect("secret").to_owned();
    assert!(
        setup["otpauth_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("otpauth://totp/") && u.contains(&secret))
    );
    let resp = ctx
        .post_auth(
            "/api/auth/totp/enable",
            &token,
            json!({"code": wrong_code(&secret)}),
        )
        .await;
    assert_eq!(resp.status(), 401);
    let resp = ctx
        .post_auth(
            "/api/auth/totp/enable",
            &token,
            json!({"code": totp_now(&secret)}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let codes: Vec<String> =
        serde_json::from_value(resp.json::<Value>().await.expect("json")["recovery_codes"].clone())
            .expect("codes");
    assert_eq!(codes.len(), 10);

    // Login now needs MFA; a recovery code works once.
    let mut results = Vec::new();
    for _ in 0..2 {
        let body: Value = ctx
            .login_raw(Role::Manager)
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(body["mfa_required"], true);
        let resp = ctx
            .post(
                "/api/auth/mfa/verify",
                json!({"mfa_token": body["mfa_token"], "recovery_code": codes[0]}),
            )
            .await;
        results.push(resp.status().as_u16());
    }
    assert_eq!(results, vec![200, 401]);

    let resp = ctx
        .post_auth(
            "/api/auth/totp/disable",
            &token,
            json!({"code": totp_now(&secret)}),
        )
        .await;
    assert_eq!(resp.status(), 204);
    let body: Value = ctx
        .login_raw(Role::Manager)
        .await
        .json()
        .await
        .expect("json");
    assert!(body.get("access_token").is_some(), "no MFA after disable");
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn refresh_rotates_and_detects_reuse() {
    let ctx = start(vec![]).await;
    let (access, r1) = ctx.login(Role::Member).await;
    let resp = ctx.refresh(&r1).await;
    assert_eq!(resp.status(), 200);
    let (r2, _) = refresh_set_cookie(&resp).expect("rotated cookie");
    assert_ne!(r1, r2);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["user"]["role"], "member");
    let resp = ctx.refresh(&r2).await;
    assert_eq!(resp.status(), 200);
    let (r3, _) = refresh_set_cookie(&resp).expect("rotated cookie");

    let resp = ctx.refresh(&r1).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(error_code(resp).await, "refresh_token_reused");
    // The whole family is gone, including the newest token and its access tokens.
    assert_eq!(ctx.refresh(&r3).await.status(), 401);
    assert_eq!(ctx.me(&access).await.status(), 401);
    assert!(
        ctx.server
            .state()
            .audit_log()
            .iter()
            .any(|e| e.action == "auth.refresh")
    );
    // Without a cookie: 401.
    let resp = ctx
        .http
        .post(ctx.url("/api/auth/refresh"))
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), 401);
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn logout_revokes_the_family() {
    let ctx = start(vec![]).await;
    let (access, refresh) = ctx.login(Role::Accountant).await;
    let resp = ctx
        .http
        .post(ctx.url("/api/auth/logout"))
        .bearer_auth(&access)
        .header("Cookie", format!("stageos_refresh={refresh}"))
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), 204);
    let (cleared, _) = refresh_set_cookie(&resp).expect("cleared cookie");
    assert!(cleared.is_empty());
    assert_eq!(ctx.refresh(&refresh).await.status(), 401);
    assert_eq!(ctx.me(&access).await.status(), 401);

    // Bearer only also ends the session.
    let (access, refresh) = ctx.login(Role::Crew).await;
    let resp = ctx.post_auth("/api/auth/logout", &access, json!({})).await;
    assert_eq!(resp.status(), 204);
    assert_eq!(ctx.refresh(&refresh).await.status(), 401);
    // Nothing at all: 401.
    let resp = ctx.post("/api/auth/logout", json!({})).await;
    assert_eq!(resp.status(), 401);
    ctx.server.shutdown().await;
}
