//! Each fault breaks exactly the behaviour it names.

mod common;

use std::time::{Duration, Instant};

use common::{error_code, refresh_set_cookie, start, wrong_code};
use serde_json::{Value, json};
use stageos_reference::{Fault, Role};

#[tokio::test]
async fn refresh_not_rotated() {
    let ctx = start(vec![Fault::RefreshNotRotated]).await;
    let (_, r1) = ctx.login(Role::Member).await;
    let resp = ctx.refresh(&r1).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(refresh_set_cookie(&resp).map(|c| c.0), Some(r1));
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn refresh_reuse_accepted() {
    let ctx = start(vec![Fault::RefreshReuseAccepted]).await;
    let (_, r1) = ctx.login(Role::Member).await;
    let resp = ctx.refresh(&r1).await;
    let (r2, _) = refresh_set_cookie(&resp).expect("cookie");
    assert_ne!(r1, r2);
    assert_eq!(ctx.refresh(&r1).await.status(), 200, "reuse accepted");
    assert_eq!(ctx.refresh(&r2).await.status(), 200, "family not revoked");
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn cookie_flags() {
    let ctx = start(vec![Fault::RefreshCookieNoHttpOnly]).await;
    let resp = ctx.login_raw(Role::Crew).await;
    let (_, cookie) = refresh_set_cookie(&resp).expect("cookie");
    assert!(
        !cookie.contains("HttpOnly") && cookie.contains("Secure"),
        "{cookie}"
    );

    ctx.server.set_faults(vec![Fault::RefreshCookieNoSecure]);
    let resp = ctx.login_raw(Role::Crew).await;
    let (_, cookie) = refresh_set_cookie(&resp).expect("cookie");
    assert!(
        cookie.contains("HttpOnly") && !cookie.contains("Secure"),
        "{cookie}"
    );
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn totp_not_checked() {
    let ctx = start(vec![Fault::TotpNotChecked]).await;
    let secret = ctx.server.credentials().owner_totp_secret.clone();
    let body: Value = ctx.login_raw(Role::Owner).await.json().await.expect("json");
    let resp = ctx
        .post(
            "/api/auth/mfa/verify",
            json!({"mfa_token": body["mfa_token"], "code": wrong_code(&secret)}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn logout_not_revoking() {
    let ctx = start(vec![Fault::LogoutNotRevoking]).await;
    let (access, refresh) = ctx.login(Role::Manager).await;
    let resp = ctx
        .http
        .post(ctx.url("/api/auth/logout"))
        .bearer_auth(&access)
        .header("Cookie", format!("stageos_refresh={refresh}"))
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), 204);
    assert_eq!(ctx.refresh(&refresh).await.status(), 200);
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn me_wrong_role() {
    let ctx = start(vec![Fault::MeWrongRole]).await;
    let (owner, _) = ctx.login(Role::Owner).await;
    let me: Value = ctx.me(&owner).await.json().await.expect("json");
    assert_eq!(me["role"], "member");
    let (manager, _) = ctx.login(Role::Manager).await;
    let me: Value = ctx.me(&manager).await.json().await.expect("json");
    assert_eq!(me["role"], "owner");
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn health_degraded() {
    let ctx = start(vec![Fault::HealthDegraded]).await;
    let body: Value = ctx
        .http
        .get(ctx.url("/api/health"))
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"]["database"]["status"], "degraded");
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn latency_on_one_route() {
    let ctx = start(vec!["latency:/api/me:300".parse().expect("fault")]).await;
    let (token, _) = ctx.login(Role::Crew).await;
    let t = Instant::now();
    assert_eq!(ctx.me(&token).await.status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    let t = Instant::now();
    let _ = ctx
        .http
        .get(ctx.url("/api/health"))
        .send()
        .await
        .expect("req");
    assert!(t.elapsed() < Duration::from_millis(300));
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn faults_switch_at_runtime() {
    let ctx = start(vec![]).await;
    let (token, _) = ctx.login(Role::Crew).await;
    ctx.server.set_faults(vec![Fault::MeWrongRole]);
    assert_eq!(ctx.server.faults(), vec![Fault::MeWrongRole]);
    let me: Value = ctx.me(&token).await.json().await.expect("json");
    assert_eq!(me["role"], "owner");
    ctx.server.set_faults(vec![]);
    let me: Value = ctx.me(&token).await.json().await.expect("json");
    assert_eq!(me["role"], "crew");
    // Without faults the same wrong code is refused (control for totp_not_checked).
    let secret = ctx.server.credentials().owner_totp_secret.clone();
    let body: Value = ctx.login_raw(Role::Owner).await.json().await.expect("json");
    let resp = ctx
        .post(
            "/api/auth/mfa/verify",
            json!({"mfa_token": body["mfa_token"], "code": wrong_code(&secret)}),
        )
        .await;
    assert_eq!(error_code(resp).await, "invalid_mfa_code");
    ctx.server.shutdown().await;
}
