//! Shared helpers: start a server on port 0, log in, read cookies.
#![allow(dead_code)]

use reqwest::header::SET_COOKIE;
use serde_json::{Value, json};
use stageos_reference::{Fault, Role, RunningServer, ServerOptions};
use totp_rs::{Algorithm, Builder, Secret};

pub struct Ctx {
    pub server: RunningServer,
    pub http: reqwest::Client,
}

pub async fn start(faults: Vec<Fault>) -> Ctx {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = RunningServer::start(ServerOptions {
        faults,
        ..ServerOptions::default()
    })
    .await
    .expect("server starts");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client builds");
    Ctx { server, http }
}

/// The `stageos_refresh` Set-Cookie: (value, full header).
pub fn refresh_set_cookie(resp: &reqwest::Response) -> Option<(String, String)> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("stageos_refresh="))
        .map(|v| {
            let value = v
                .split(';')
                .next()
                .and_then(|kv| kv.split_once('='))
                .map(|(_, value)| value.to_owned())
                .unwrap_or_default();
            (value, v.to_owned())
        })
}

pub fn totp_now(secret_b32: &str) -> String {
    let secret = Secret::try_from_base32(secret_b32).expect("base32");
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(secret)
        .build()
        .expect("totp");
    totp.generate_current().to_string()
}

/// A code that is valid for none of the steps the server accepts.
pub fn wrong_code(secret_b32: &str) -> String {
    let secret = Secret::try_from_base32(secret_b32).expect("base32");
    let totp = Builder::new().with_secret(secret).build().expect("totp");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    (0..1_000_000u32)
        .map(|n| format!("{n:06}"))
        .find(|c| (0..=4).all(|k| totp.check(c, now + k * 30 - 60).is_none()))
        .expect("a wrong code exists")
}

impl Ctx {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header("X-StageOS-Smoke-Run", "test-run")
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_auth(&self, path: &str, token: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn refresh(&self, refresh: &str) -> reqwest::Response {
        self.http
            .post(self.url("/api/auth/refresh"))
            .header("Cookie", format!("stageos_refresh={refresh}"))
            .send()
            .await
            .expect("request")
    }

    pub async fn me(&self, token: &str) -> reqwest::Response {
        self.http
            .get(self.url("/api/me"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn login_raw(&self, role: Role) -> reqwest::Response {
        let user = self.server.credentials().user(role).clone();
        self.post(
            "/api/auth/login",
            json!({"email": user.email, "password": user.password}),
        )
        .await
    }

    /// Logs in (answering MFA for the owner): (access token, refresh token).
    pub async fn login(&self, role: Role) -> (String, String) {
        let resp = self.login_raw(role).await;
        assert_eq!(resp.status(), 200, "login as {role}");
        let resp = if role == Role::Owner {
            let body: Value = resp.json().await.expect("json");
            assert_eq!(body["mfa_required"], true);
            let code = totp_now(&self.server.credentials().owner_totp_secret);
            let resp = self
                .post(
                    "/api/auth/mfa/verify",
                    json!({"mfa_token": body["mfa_token"], "code": code}),
                )
                .await;
            assert_eq!(resp.status(), 200, "mfa verify");
            resp
        } else {
            resp
        };
        let (refresh, _) = refresh_set_cookie(&resp).expect("refresh cookie");
        let body: Value = resp.json().await.expect("json");
        let access = body["access_token"].as_str().expect("access").to_owned();
        (access, refresh)
    }
}

pub async fn error_code(resp: reqwest::Response) -> String {
    let body: Value = resp.json().await.expect("json error body");
    body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
