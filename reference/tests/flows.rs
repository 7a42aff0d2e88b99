//! Business flows against a running reference server: events, availability,
//! setlists, invoices and PDF jobs, files with signed URLs, webhooks, smoke
//! accounting, and the effect of each business fault.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use stageos_reference::{Fault, Role, RunningServer, ServerOptions};
use totp_rs::{Algorithm, Builder, Secret};

const RUN: &str = "flows-test-run";
const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

struct T {
    server: RunningServer,
    http: reqwest::Client,
    tokens: HashMap<Role, String>,
}

fn totp_now(secret_b32: &str) -> String {
    let secret = Secret::try_from_base32(secret_b32).expect("base32");
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(secret)
        .build()
        .expect("totp")
        .generate_current()
        .to_string()
}

async fn start(faults: Vec<Fault>) -> T {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = RunningServer::start(ServerOptions {
        faults,
        ..ServerOptions::default()
    })
    .await
    .expect("server starts");
    server.set_webhook_backoff(Duration::from_millis(100));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut t = T {
        server,
        http,
        tokens: HashMap::new(),
    };
    for role in Role::ALL {
        let token = t.login(role).await;
        t.tokens.insert(role, token);
    }
    t
}

impl T {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    async fn login(&self, role: Role) -> String {
        let user = self.server.credentials().user(role).clone();
        let resp = self
            .http
            .post(self.url("/api/auth/login"))
            .json(&json!({"email": user.email, "password": user.password}))
            .send()
            .await
            .expect("login");
        assert_eq!(resp.status(), 200, "login {role}");
        let mut body: Value = resp.json().await.expect("json");
        if body["mfa_required"] == true {
            let code = totp_now(&self.server.credentials().owner_totp_secret);
            let resp = self
                .http
                .post(self.url("/api/auth/mfa/verify"))
                .json(&json!({"mfa_token": body["mfa_token"], "code": code}))
                .send()
                .await
                .expect("mfa");
            assert_eq!(resp.status(), 200, "mfa {role}");
            body = resp.json().await.expect("json");
        }
        body["access_token"].as_str().expect("token").to_owned()
    }

    fn req(&self, method: Method, path: &str, role: Role) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.tokens[&role])
            .header("X-StageOS-Smoke-Run", RUN)
    }

    async fn send(&self, method: Method, path: &str, role: Role, body: Option<Value>) -> Resp {
        let mut rb = self.req(method, path, role);
        if let Some(body) = body {
            rb = rb.json(&body);
        }
        Resp::from(rb.send().await.expect("request")).await
    }

    async fn get(&self, path: &str, role: Role) -> Resp {
        self.send(Method::GET, path, role, None).await
    }

    async fn post(&self, path: &str, role: Role, body: Value) -> Resp {
        self.send(Method::POST, path, role, Some(body)).await
    }

    async fn create_event(&self) -> Value {
        let r = self
            .post(
                "/api/events",
                Role::Manager,
                json!({
                    "title": "Smoke gig",
                    "venue": {"name": "Halle", "city": "Köln", "country": "DE"},
                    "starts_at": "2030-05-01T18:00:00Z",
                    "ends_at": "2030-05-01T23:00:00+02:00",
                    "timezone": "Europe/Berlin",
                    "notes": "",
                    "tags": ["smoke"],
                }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json
    }

    async fn create_setlist(&self, event_id: &str) -> Value {
        let r = self
            .post(
                &format!("/api/events/{event_id}/setlists"),
                Role::Member,
                json!({
                    "name": "Main set",
                    "items": [
                        {"title": "Opener", "duration_s": 215, "key": "E", "notes": null},
                        {"title": "Ballad, slow", "duration_s": 260, "key": "Bb", "notes": "capo 1"},
                        {"title": "Encore", "duration_s": 300},
                    ],
                    "tags": ["smoke"],
                }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json
    }

    async fn create_invoice(&self, event_id: &str) -> Value {
        let r = self
            .post(
                "/api/invoices",
                Role::Accountant,
                json!({
                    "event_id": event_id,
                    "currency": "EUR",
                    "lines": [
                        {"description": "Stage hire", "quantity": 1, "unit_price_cents": 125000, "tax_rate_bp": 1900},
                        {"description": "Backline", "quantity": 3, "unit_price_cents": 3333, "tax_rate_bp": 700},
                        {"description": "Half cent", "quantity": 1, "unit_price_cents": 5, "tax_rate_bp": 1000},
                    ],
                    "tags": ["smoke"],
                }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json
    }

    /// Registers, uploads and completes a file; answers (file id, upload ticket).
    async fn upload(&self, role: Role, name: &str, bytes: &[u8]) -> (String, Value) {
        let r = self
            .post(
                "/api/files/uploads",
                role,
                json!({
                    "filename": name,
                    "content_type": "text/plain",
                    "size_bytes": bytes.len(),
                    "sha256": hex::encode(Sha256::digest(bytes)),
                    "tags": ["smoke"],
                }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let ticket = r.json;
        let put = self
            .http
            .put(ticket["upload_url"].as_str().expect("url"))
            .header("Content-Type", "text/plain")
            .body(bytes.to_vec())
            .send()
            .await
            .expect("put");
        assert_eq!(put.status(), 200);
        let id = ticket["file_id"].as_str().expect("id").to_owned();
        let r = self
            .post(&format!("/api/files/{id}/complete"), role, json!({}))
            .await;
        assert_eq!(r.status, 202, "{}", r.text);
        (id, ticket)
    }

    async fn wait_scanned(&self, id: &str, role: Role) -> Value {
        for _ in 0..100 {
            let r = self.get(&format!("/api/files/{id}"), role).await;
            if r.json["scan_status"] != "pending" {
                return r.json;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("file {id} never scanned");
    }

    async fn wait_job(&self, job_id: &str, role: Role, attempts: usize) -> Value {
        let mut last = Value::Null;
        for _ in 0..attempts {
            last = self.get(&format!("/api/jobs/{job_id}"), role).await.json;
            if last["status"] == "succeeded" || last["status"] == "failed" {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        last
    }

    async fn download(&self, file_id: &str, role: Role) -> (Value, reqwest::Response) {
        let r = self
            .get(&format!("/api/files/{file_id}/download-url"), role)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let resp = self
            .http
            .get(r.json["url"].as_str().expect("url"))
            .send()
            .await
            .expect("download");
        (r.json, resp)
    }

    async fn metric(&self, name: &str, label: &str) -> f64 {
        let text = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.lines()
            .find(|l| l.starts_with(name) && l.contains(label))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1.0)
    }
}

struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
    json: Value,
}

impl Resp {
    async fn from(resp: reqwest::Response) -> Resp {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            json,
        }
    }

    fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or_default()
    }

    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

fn pdf_text(bytes: &[u8]) -> String {
    let doc = lopdf::Document::load_mem(bytes).expect("a valid pdf");
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    doc.extract_text(&pages).expect("text")
}

// ---------- webhook receiver ----------

#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    async fn start(script: &[u16]) -> (Receiver, String) {
        let rx = Receiver::default();
        rx.script.lock().expect("lock").extend(script);
        let state = rx.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move {
                    state
                        .got
                        .lock()
                        .expect("lock")
                        .push(Received { headers, body });
                    let code = state
                        .script
                        .lock()
                        .expect("lock")
                        .pop_front()
                        .unwrap_or(200);
                    axum::http::StatusCode::from_u16(code).expect("status")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (rx, format!("http://{addr}/hook"))
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }
}

fn verify_webhook(secret: &str, r: &Received) -> bool {
    let header = r
        .headers
        .get("stageos-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some((t, v1)) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
    else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.").as_bytes());
    mac.update(&r.body);
    hex::decode(v1).is_ok_and(|sig| mac.verify_slice(&sig).is_ok())
}

async fn create_endpoint(t: &T, url: &str, events: &[&str]) -> (String, String) {
    let r = t
        .post(
            "/api/webhooks/endpoints",
            Role::Owner,
            json!({"url": url, "events": events, "description": "test", "tags": ["smoke"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    (
        r.json["id"].as_str().expect("id").to_owned(),
        r.json["secret"].as_str().expect("secret").to_owned(),
    )
}

async fn wait_delivery(t: &T, endpoint: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        last = t
            .get(
                &format!("/api/webhooks/endpoints/{endpoint}/deliveries"),
                Role::Owner,
            )
            .await
            .json;
        if last.as_array().is_some_and(|a| a.iter().any(&pred)) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no matching delivery: {last}");
}

// ---------- flows ----------

#[tokio::test]
async fn events_crud_etag_and_roles() {
    let t = start(vec![]).await;
    let event = t.create_event().await;
    let id = event["id"].as_str().expect("id");
    assert_eq!(event["version"], 1);
    assert_eq!(event["smoke_run_id"], RUN, "run id from the header");
    assert_eq!(event["ends_at"], "2030-05-01T21:00:00Z", "stored in UTC");
    assert!(event["created_at"].is_string());

    let r = t.get(&format!("/api/events/{id}"), Role::Crew).await;
    assert_eq!((r.status, r.header("etag")), (200, "\"1\"".to_owned()));

    let path = format!("/api/events/{id}");
    let r = t
        .send(
            Method::PATCH,
            &path,
            Role::Manager,
            Some(json!({"title": "New"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (428, "precondition_required"));
    let r = Resp::from(
        t.req(Method::PATCH, &path, Role::Manager)
            .header("If-Match", "\"1\"")
            .json(&json!({"title": "New"}))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!((r.status, r.header("etag")), (200, "\"2\"".to_owned()));
    assert_eq!(r.json["version"], 2);
    let r = Resp::from(
        t.req(Method::PATCH, &path, Role::Owner)
            .header("If-Match", "\"1\"")
            .json(&json!({"title": "Stale"}))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!((r.status, r.code()), (412, "version_conflict"));
    let r = Resp::from(
        t.req(Method::PATCH, &path, Role::Owner)
            .header("If-Match", "\"2\"")
            .json(&json!({"ends_at": "2030-04-01T00:00:00Z"}))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    let r = Resp::from(
        t.req(Method::PATCH, &path, Role::Crew)
            .header("If-Match", "\"2\"")
            .json(&json!({"title": "Crew"}))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!((r.status, r.code()), (403, "forbidden"));

    // Validation: ends before starts, unknown property, malformed JSON.
    let mut bad = json!({
        "title": "x", "venue": {"name": "a", "city": "b", "country": "DE"},
        "starts_at": "2030-05-02T00:00:00Z", "ends_at": "2030-05-01T00:00:00Z",
        "timezone": "Europe/Berlin"
    });
    let r = t.post("/api/events", Role::Owner, bad.clone()).await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    bad["ends_at"] = json!("2030-05-03T00:00:00Z");
    bad["surprise"] = json!(1);
    let r = t.post("/api/events", Role::Owner, bad).await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    let r = Resp::from(
        t.req(Method::POST, "/api/events", Role::Owner)
            .header("Content-Type", "application/json")
            .body("{nope")
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "bad_request"));
    let r = t
        .post("/api/events", Role::Member, json!({"title": "x"}))
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden"));

    let r = t.get("/api/events?tag=smoke", Role::Accountant).await;
    assert_eq!(r.json.as_array().map(Vec::len), Some(1));
    let r = t.get("/api/events?tag=other", Role::Accountant).await;
    assert_eq!(r.json.as_array().map(Vec::len), Some(0));

    let r = t.send(Method::DELETE, &path, Role::Crew, None).await;
    assert_eq!(r.status, 403);
    let r = t.send(Method::DELETE, &path, Role::Manager, None).await;
    assert_eq!(r.status, 204);
    assert_eq!(t.get(&path, Role::Owner).await.status, 404);
    assert_eq!(
        t.get("/api/events/not-a-uuid", Role::Owner).await.status,
        404
    );
    t.server.shutdown().await;
}

#[tokio::test]
async fn availability_requests() {
    let t = start(vec![]).await;
    let event = t.create_event().await;
    let creds = t.server.credentials().clone();
    let crew = creds.user(Role::Crew).id;
    let member = creds.user(Role::Member).id;
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let soon = soon
        .format(&time::format_description::well_known::Rfc3339)
        .expect("fmt");
    let path = format!(
        "/api/events/{}/availability-requests",
        event["id"].as_str().expect("id")
    );
    let body = json!({"member_ids": [crew, member], "message": "Free?", "respond_by": soon});
    let r = t.post(&path, Role::Member, body.clone()).await;
    assert_eq!(r.status, 403);
    let r = t.post(&path, Role::Manager, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["status"], "open");
    assert_eq!(r.json["responses"][0]["status"], "pending");
    let id = r.json["id"].as_str().expect("id").to_owned();

    let respond = format!("/api/availability-requests/{id}/respond");
    let r = t
        .post(
            &respond,
            Role::Crew,
            json!({"status": "available", "note": "yes"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["counts"]["available"], 1);
    assert_eq!(r.json["counts"]["pending"], 1);
    let r = t
        .post(&respond, Role::Owner, json!({"status": "available"}))
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden"));
    let r = t
        .post(&respond, Role::Member, json!({"status": "maybe"}))
        .await;
    assert_eq!(r.status, 422);
    let r = t
        .get(
            &format!("/api/availability-requests/{id}"),
            Role::Accountant,
        )
        .await;
    assert_eq!(r.json["counts"]["tentative"], 0);
    assert_eq!(r.json["responses"][0]["note"], "yes");

    // Poll (with a deadline) until the server reports the request closed.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = t
            .get(&format!("/api/availability-requests/{id}"), Role::Crew)
            .await;
        if r.json["status"] == "closed" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the request never closed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = t
        .post(&respond, Role::Member, json!({"status": "tentative"}))
        .await;
    assert_eq!((r.status, r.code()), (409, "request_closed"));
    let r = t
        .get(&format!("/api/availability-requests/{id}"), Role::Crew)
        .await;
    assert_eq!(r.json["status"], "closed");
    t.server.shutdown().await;
}

#[tokio::test]
async fn setlists_lock_and_export() {
    let t = start(vec![]).await;
    let event = t.create_event().await;
    let setlist = t.create_setlist(event["id"].as_str().expect("id")).await;
    let id = setlist["id"].as_str().expect("id");
    assert_eq!(setlist["total_duration_s"], 775);
    assert_eq!(setlist["locked"], false);
    let path = format!("/api/setlists/{id}");
    let items = json!({"items": [
        {"title": "Opener", "duration_s": 215},
        {"title": "Ballad, slow", "duration_s": 260},
        {"title": "Encore", "duration_s": 300},
        {"title": "Closer \"loud\"", "duration_s": 100},
    ]});
    let r = t
        .send(Method::PATCH, &path, Role::Member, Some(items.clone()))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["total_duration_s"], 875);

    let r = t
        .post(&format!("{path}/lock"), Role::Member, json!({}))
        .await;
    assert_eq!(r.status, 403);
    let r = t
        .post(&format!("{path}/lock"), Role::Manager, json!({}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["locked"], true);
    assert!(r.json["locked_at"].is_string());
    let r = t
        .send(Method::PATCH, &path, Role::Owner, Some(items.clone()))
        .await;
    assert_eq!((r.status, r.code()), (423, "setlist_locked"));

    let r = t
        .get(&format!("{path}/export?format=csv"), Role::Crew)
        .await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").starts_with("text/csv"));
    assert!(
        r.header("content-disposition")
            .starts_with("attachment; filename=")
    );
    assert_eq!(
        r.text,
        "position,title,duration_s,key,notes\r\n1,Opener,215,,\r\n2,\"Ballad, slow\",260,,\r\n3,Encore,300,,\r\n4,\"Closer \"\"loud\"\"\",100,,\r\n,TOTAL,875,,\r\n"
    );
    let r = t
        .get(&format!("{path}/export?format=json"), Role::Crew)
        .await;
    let titles: Vec<&str> = r.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["title"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        titles,
        ["Opener", "Ballad, slow", "Encore", "Closer \"loud\""]
    );
    assert_eq!(r.json["total_duration_s"], 875);
    assert_eq!(r.json["items"][3]["position"], 4);

    let resp = t
        .req(
            Method::GET,
            &format!("{path}/export?format=pdf"),
            Role::Crew,
        )
        .send()
        .await
        .expect("pdf");
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/pdf")
    );
    let bytes = resp.bytes().await.expect("bytes");
    assert!(bytes.starts_with(b"%PDF-"));
    let text = pdf_text(&bytes);
    let mut at = 0;
    for title in ["Opener", "Ballad, slow", "Encore", "Closer \"loud\""] {
        let pos = text[at..]
            .find(title)
            .unwrap_or_else(|| panic!("{title} in {text}"));
        at += pos + title.len();
    }
    assert!(text.contains("875"), "{text}");

    let r = t
        .get(&format!("{path}/export?format=xml"), Role::Crew)
        .await;
    assert_eq!(r.status, 422);
    let r = t
        .post(&format!("{path}/unlock"), Role::Crew, json!({}))
        .await;
    assert_eq!(r.status, 403);
    let r = t
        .post(&format!("{path}/unlock"), Role::Owner, json!({}))
        .await;
    assert_eq!(r.json["locked"], false);
    let r = t
        .send(Method::PATCH, &path, Role::Member, Some(items))
        .await;
    assert_eq!(r.status, 200);
    t.server.shutdown().await;
}

#[tokio::test]
async fn invoices_totals_and_pdf_job() {
    let t = start(vec![]).await;
    let event = t.create_event().await;
    let invoice = t.create_invoice(event["id"].as_str().expect("id")).await;
    // 125000 + 19 % = 23750; 9999 + 7 % = 699.93 -> 700; 5 + 10 % = 0.5 -> 1.
    assert_eq!(invoice["subtotal_cents"], 125000 + 9999 + 5);
    assert_eq!(invoice["tax_cents"], 23750 + 700 + 1);
    assert_eq!(invoice["total_cents"], 135004 + 24451);
    assert_eq!(invoice["lines"][1]["line_tax_cents"], 700);
    assert_eq!(invoice["status"], "draft");
    let number = invoice["number"].as_str().expect("number").to_owned();
    let year = time::OffsetDateTime::now_utc().year();
    assert_eq!(number, format!("INV-{year}-000001"));
    let id = invoice["id"].as_str().expect("id");

    for role in [Role::Manager, Role::Member, Role::Crew] {
        assert_eq!(
            t.get(&format!("/api/invoices/{id}"), role).await.status,
            403
        );
        assert_eq!(t.get("/api/invoices", role).await.status, 403);
    }
    let r = t.get("/api/invoices?tag=smoke", Role::Owner).await;
    assert_eq!(r.json.as_array().map(Vec::len), Some(1));
    let r = t
        .post(
            "/api/invoices",
            Role::Owner,
            json!({"event_id": uuid::Uuid::new_v4(), "currency": "EUR", "lines": [
                {"description": "x", "quantity": 1, "unit_price_cents": 1, "tax_rate_bp": 0}]}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));

    let r = t
        .post(
            &format!("/api/invoices/{id}/pdf"),
            Role::Accountant,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 202);
    let job_id = r.json["job_id"].as_str().expect("job").to_owned();
    assert_eq!(
        t.get(&format!("/api/jobs/{job_id}"), Role::Owner)
            .await
            .status,
        404,
        "only the starter sees the job"
    );
    let job = t.wait_job(&job_id, Role::Accountant, 200).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let file_id = job["result"]["file_id"].as_str().expect("file").to_owned();
    let r = t.get(&format!("/api/invoices/{id}"), Role::Owner).await;
    assert_eq!(r.json["pdf_file_id"], file_id.as_str());
    assert_eq!(
        t.get(&format!("/api/files/{file_id}"), Role::Crew)
            .await
            .status,
        404
    );
    let (_, resp) = t.download(&file_id, Role::Owner).await;
    assert_eq!(resp.status(), 200);
    let bytes = resp.bytes().await.expect("bytes");
    let text = pdf_text(&bytes);
    for needle in [
        number.as_str(),
        "Stage hire",
        "Backline",
        "Half cent",
        "1594.55 EUR",
    ] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
    assert_eq!(t.metric("queue_depth", "queue=\"invoice-pdf\"").await, 0.0);
    t.server.shutdown().await;
}

#[tokio::test]
async fn files_signed_urls_and_scan() {
    let t = start(vec![]).await;
    let content = b"hello, \xffbytes\n".to_vec();
    let (id, ticket) = t.upload(Role::Crew, "notes.txt", &content).await;
    assert_eq!(ticket["method"], "PUT");
    assert_eq!(ticket["headers"]["Content-Type"], "text/plain");
    let upload_url = ticket["upload_url"].as_str().expect("url").to_owned();
    assert!(upload_url.contains("/storage/") && upload_url.contains("sig="));
    let file = t.wait_scanned(&id, Role::Crew).await;
    assert_eq!(file["scan_status"], "clean");
    assert_eq!(file["upload_status"], "completed");

    // Others cannot see someone's own file; owners can.
    assert_eq!(
        t.get(&format!("/api/files/{id}"), Role::Member)
            .await
            .status,
        404
    );
    assert_eq!(
        t.get(&format!("/api/files/{id}"), Role::Owner).await.status,
        200
    );

    let (link, resp) = t.download(&id, Role::Crew).await;
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(
        h.get("content-disposition").and_then(|v| v.to_str().ok()),
        Some("attachment; filename=\"notes.txt\"")
    );
    assert_eq!(
        h.get("content-type").and_then(|v| v.to_str().ok()),
        Some("text/plain")
    );
    assert_eq!(resp.bytes().await.expect("bytes").to_vec(), content);
    let expires_at = time::OffsetDateTime::parse(
        link["expires_at"].as_str().expect("expires"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("time");
    let ttl = expires_at - time::OffsetDateTime::now_utc();
    assert!(ttl <= time::Duration::seconds(900) && ttl > time::Duration::seconds(890));

    // Tampering with signature, expiry, path or method is 403.
    let url = link["url"].as_str().expect("url").to_owned();
    let last = url.chars().last().expect("char");
    let flipped = format!(
        "{}{}",
        &url[..url.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    let exp_pos = url.find("expires=").expect("expires") + "expires=".len();
    let mut later = url.clone();
    later.replace_range(exp_pos..exp_pos + 1, "9");
    let other_key = url.replacen("/storage/o-", "/storage/o-0", 1);
    for bad in [&flipped, &later, &other_key, &upload_url] {
        let resp = t.http.get(bad.as_str()).send().await.expect("get");
        let r = Resp::from(resp).await;
        assert_eq!((r.status, r.code()), (403, "invalid_signature"), "{bad}");
    }
    let r = Resp::from(
        t.http
            .put(url.as_str())
            .header("Content-Type", "text/plain")
            .body("x")
            .send()
            .await
            .expect("put"),
    )
    .await;
    assert_eq!(r.status, 403, "a download URL does not upload");

    // A short-lived URL expires.
    let r = t
        .get(
            &format!("/api/files/{id}/download-url?ttl_secs=1"),
            Role::Crew,
        )
        .await;
    let short = r.json["url"].as_str().expect("url").to_owned();
    assert_eq!(
        t.get(
            &format!("/api/files/{id}/download-url?ttl_secs=901"),
            Role::Crew
        )
        .await
        .status,
        422
    );
    // Poll (with a deadline) until the short-lived URL stops serving.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let r = loop {
        let r = Resp::from(t.http.get(short.as_str()).send().await.expect("get")).await;
        if r.status != 200 || std::time::Instant::now() >= deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((r.status, r.code()), (403, "url_expired"));

    // Delete: 204, then 404 everywhere.
    let r = t
        .send(
            Method::DELETE,
            &format!("/api/files/{id}"),
            Role::Crew,
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        t.get(&format!("/api/files/{id}"), Role::Crew).await.status,
        404
    );
    let resp = t.http.get(url.as_str()).send().await.expect("get");
    assert_eq!(resp.status(), 404);
    t.server.shutdown().await;
}

#[tokio::test]
async fn eicar_checksum_and_pending() {
    let t = start(vec![]).await;
    let (id, _) = t.upload(Role::Member, "eicar.txt", EICAR.as_bytes()).await;
    let file = t.wait_scanned(&id, Role::Member).await;
    assert_eq!(file["scan_status"], "infected");
    let r = t
        .get(&format!("/api/files/{id}/download-url"), Role::Member)
        .await;
    assert_eq!((r.status, r.code()), (409, "file_infected"));

    // Register, upload other bytes: complete says checksum_mismatch.
    let r = t
        .post(
            "/api/files/uploads",
            Role::Member,
            json!({"filename": "a.txt", "content_type": "text/plain", "size_bytes": 3,
                   "sha256": hex::encode(Sha256::digest(b"abc"))}),
        )
        .await;
    let id = r.json["file_id"].as_str().expect("id").to_owned();
    let url = r.json["upload_url"].as_str().expect("url").to_owned();
    let r = t
        .get(&format!("/api/files/{id}/download-url"), Role::Member)
        .await;
    assert_eq!((r.status, r.code()), (409, "scan_pending"));
    let r = t
        .post(
            &format!("/api/files/{id}/complete"),
            Role::Member,
            json!({}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "upload_incomplete"));
    let put = |body: &'static str, ct: &'static str| {
        t.http
            .put(url.as_str())
            .header("Content-Type", ct)
            .body(body)
            .send()
    };
    assert_eq!(put("abcd", "text/plain").await.expect("put").status(), 413);
    assert_eq!(put("abc", "text/html").await.expect("put").status(), 403);
    assert_eq!(put("abd", "text/plain").await.expect("put").status(), 200);
    let r = t
        .post(
            &format!("/api/files/{id}/complete"),
            Role::Member,
            json!({}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "checksum_mismatch"));
    assert_eq!(put("abc", "text/plain").await.expect("put").status(), 200);
    let r = t
        .post(
            &format!("/api/files/{id}/complete"),
            Role::Member,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(
        t.wait_scanned(&id, Role::Member).await["scan_status"],
        "clean"
    );
    t.server.shutdown().await;
}

#[tokio::test]
async fn webhooks_signed_retried_and_business_events() {
    let t = start(vec![]).await;
    let (rx, url) = Receiver::start(&[500, 503]).await;
    let r = t
        .post(
            "/api/webhooks/endpoints",
            Role::Manager,
            json!({"url": url, "events": ["event.updated"]}),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = t
        .post(
            "/api/webhooks/endpoints",
            Role::Owner,
            json!({"url": "http://example.com/hook", "events": ["event.updated"]}),
        )
        .await;
    assert_eq!(r.status, 422, "plain http only for private hosts");
    let (endpoint, secret) = create_endpoint(
        &t,
        &url,
        &[
            "event.updated",
            "invoice.created",
            "setlist.locked",
            "file.scanned",
        ],
    )
    .await;
    assert!(secret.starts_with("whsec_"));
    let r = t.get("/api/webhooks/endpoints", Role::Owner).await;
    assert!(r.json[0].get("secret").is_none(), "{}", r.text);

    let r = t
        .post(
            &format!("/api/webhooks/endpoints/{endpoint}/test"),
            Role::Owner,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 202);
    let delivery_id = r.json["delivery_id"].as_str().expect("id").to_owned();
    let list = wait_delivery(&t, &endpoint, |d| {
        d["id"] == delivery_id.as_str() && d["status"] == "succeeded"
    })
    .await;
    let d = list
        .as_array()
        .and_then(|a| a.iter().find(|d| d["id"] == delivery_id.as_str()))
        .expect("delivery");
    assert_eq!(
        (d["attempts"].as_u64(), d["response_status"].as_u64()),
        (Some(3), Some(200))
    );
    let got = rx.received();
    assert_eq!(got.len(), 3);
    for r in &got {
        assert!(verify_webhook(&secret, r), "signature verifies");
        assert_eq!(
            r.headers
                .get("stageos-delivery-id")
                .and_then(|v| v.to_str().ok()),
            Some(delivery_id.as_str())
        );
    }
    let payload: Value = serde_json::from_slice(&got[0].body).expect("json");
    assert_eq!(payload["type"], "webhook.test");
    assert_eq!(
        got[0]
            .headers
            .get("stageos-event-id")
            .and_then(|v| v.to_str().ok()),
        payload["id"].as_str()
    );

    // Business events.
    let event = t.create_event().await;
    let eid = event["id"].as_str().expect("id");
    let r = Resp::from(
        t.req(Method::PATCH, &format!("/api/events/{eid}"), Role::Owner)
            .header("If-Match", "\"1\"")
            .json(&json!({"notes": "updated"}))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!(r.status, 200);
    let setlist = t.create_setlist(eid).await;
    let sid = setlist["id"].as_str().expect("id");
    t.post(&format!("/api/setlists/{sid}/lock"), Role::Owner, json!({}))
        .await;
    t.post(&format!("/api/setlists/{sid}/lock"), Role::Owner, json!({}))
        .await;
    t.create_invoice(eid).await;
    t.upload(Role::Owner, "x.txt", b"x").await;
    for kind in [
        "event.updated",
        "setlist.locked",
        "invoice.created",
        "file.scanned",
    ] {
        wait_delivery(&t, &endpoint, |d| {
            d["event_type"] == kind && d["status"] == "succeeded"
        })
        .await;
    }
    let list = t
        .get(
            &format!("/api/webhooks/endpoints/{endpoint}/deliveries"),
            Role::Owner,
        )
        .await;
    let locked = list
        .json
        .as_array()
        .expect("list")
        .iter()
        .filter(|d| d["event_type"] == "setlist.locked")
        .count();
    assert_eq!(locked, 1, "locking twice emits once");
    assert!(
        t.metric("webhook_deliveries_total", "status=\"retrying\"")
            .await
            >= 2.0
    );

    let r = t
        .send(
            Method::DELETE,
            &format!("/api/webhooks/endpoints/{endpoint}"),
            Role::Owner,
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let r = t
        .get(
            &format!("/api/webhooks/endpoints/{endpoint}/deliveries"),
            Role::Owner,
        )
        .await;
    assert_eq!(r.status, 404);
    t.server.shutdown().await;
}

#[tokio::test]
async fn webhook_gives_up_after_five_attempts() {
    let t = start(vec![]).await;
    let (rx, url) = Receiver::start(&[500; 10]).await;
    let (endpoint, _) = create_endpoint(&t, &url, &["event.updated"]).await;
    t.post(
        &format!("/api/webhooks/endpoints/{endpoint}/test"),
        Role::Owner,
        json!({}),
    )
    .await;
    let list = wait_delivery(&t, &endpoint, |d| d["status"] == "failed").await;
    assert_eq!(list[0]["attempts"], 5);
    assert_eq!(list[0]["response_status"], 500);
    assert_eq!(rx.received().len(), 5);
    t.server.shutdown().await;
}

#[tokio::test]
async fn smoke_accounting_and_cascade() {
    let t = start(vec![]).await;
    assert_eq!(t.server.smoke_entity_count(), 0);
    let event = t.create_event().await;
    let eid = event["id"].as_str().expect("id");
    t.create_setlist(eid).await;
    let crew = t.server.credentials().user(Role::Crew).id;
    let r = t
        .post(
            &format!("/api/events/{eid}/availability-requests"),
            Role::Owner,
            json!({"member_ids": [crew], "respond_by": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        t.server.smoke_entity_count(),
        3,
        "{:?}",
        t.server.smoke_entities()
    );
    let r = t
        .send(
            Method::DELETE,
            &format!("/api/events/{eid}"),
            Role::Owner,
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        t.server.smoke_entity_count(),
        0,
        "{:?}",
        t.server.smoke_entities()
    );
    t.server.shutdown().await;
}

// ---------- faults ----------

#[tokio::test]
async fn fault_lost_update_and_delete_not_deleting() {
    let t = start(vec![Fault::LostUpdate]).await;
    let event = t.create_event().await;
    let path = format!("/api/events/{}", event["id"].as_str().expect("id"));
    let r = t
        .send(
            Method::PATCH,
            &path,
            Role::Owner,
            Some(json!({"title": "A"})),
        )
        .await;
    assert_eq!(r.status, 200, "missing If-Match accepted");
    let r = Resp::from(
        t.req(Method::PATCH, &path, Role::Owner)
            .header("If-Match", "\"1\"")
            .json(&json!({"title": "B"}))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!(r.status, 200, "stale If-Match accepted");

    t.server.set_faults(vec![Fault::DeleteNotDeleting]);
    assert_eq!(
        t.send(Method::DELETE, &path, Role::Owner, None)
            .await
            .status,
        204
    );
    assert_eq!(t.get(&path, Role::Owner).await.status, 200, "still there");
    let (fid, _) = t.upload(Role::Owner, "f.txt", b"f").await;
    let fpath = format!("/api/files/{fid}");
    assert_eq!(
        t.send(Method::DELETE, &fpath, Role::Owner, None)
            .await
            .status,
        204
    );
    assert_eq!(t.get(&fpath, Role::Owner).await.status, 200);
    let (wid, _) = create_endpoint(&t, "http://127.0.0.1:9/hook", &["file.scanned"]).await;
    let wpath = format!("/api/webhooks/endpoints/{wid}");
    assert_eq!(
        t.send(Method::DELETE, &wpath, Role::Owner, None)
            .await
            .status,
        204
    );
    assert_eq!(
        t.get(&format!("{wpath}/deliveries"), Role::Owner)
            .await
            .status,
        200
    );
    t.server.shutdown().await;
}

#[tokio::test]
async fn fault_setlist_lock_and_export() {
    let t = start(vec![Fault::LockNotEnforced, Fault::ExportMissingItem]).await;
    let event = t.create_event().await;
    let setlist = t.create_setlist(event["id"].as_str().expect("id")).await;
    let path = format!("/api/setlists/{}", setlist["id"].as_str().expect("id"));
    t.post(&format!("{path}/lock"), Role::Owner, json!({}))
        .await;
    let r = t
        .send(
            Method::PATCH,
            &path,
            Role::Member,
            Some(json!({"name": "Changed while locked"})),
        )
        .await;
    assert_eq!(r.status, 200, "lock not enforced");
    let r = t
        .get(&format!("{path}/export?format=json"), Role::Crew)
        .await;
    assert_eq!(r.json["items"].as_array().map(Vec::len), Some(2));
    let r = t
        .get(&format!("{path}/export?format=csv"), Role::Crew)
        .await;
    assert!(!r.text.contains("Encore"));
    t.server.shutdown().await;
}

#[tokio::test]
async fn fault_invoice_and_pdf_jobs() {
    let t = start(vec![Fault::InvoiceTotalOffByCent, Fault::PdfMissingNumber]).await;
    let event = t.create_event().await;
    let eid = event["id"].as_str().expect("id").to_owned();
    let invoice = t.create_invoice(&eid).await;
    assert_eq!(invoice["total_cents"], 159456, "one cent too much");
    let number = invoice["number"].as_str().expect("n").to_owned();
    let id = invoice["id"].as_str().expect("id").to_owned();
    let tr = &t;
    let render = |role| {
        let path = format!("/api/invoices/{id}/pdf");
        async move { tr.post(&path, role, json!({})).await.json["job_id"].clone() }
    };
    let job = render(Role::Owner).await;
    let job = t
        .wait_job(job.as_str().expect("job"), Role::Owner, 200)
        .await;
    let file = job["result"]["file_id"].as_str().expect("file").to_owned();
    let (_, resp) = t.download(&file, Role::Owner).await;
    let text = pdf_text(&resp.bytes().await.expect("bytes"));
    assert!(
        !text.contains(&number) && text.contains("Stage hire"),
        "{text}"
    );

    t.server.set_faults(vec![Fault::PdfCorrupt]);
    let job = render(Role::Owner).await;
    let job = t
        .wait_job(job.as_str().expect("job"), Role::Owner, 200)
        .await;
    let file = job["result"]["file_id"].as_str().expect("file").to_owned();
    let (_, resp) = t.download(&file, Role::Owner).await;
    let bytes = resp.bytes().await.expect("bytes");
    assert!(lopdf::Document::load_mem(&bytes).is_err(), "corrupt pdf");

    t.server.set_faults(vec![Fault::JobNeverFinishes]);
    let job = render(Role::Owner).await;
    let job = t
        .wait_job(job.as_str().expect("job"), Role::Owner, 25)
        .await;
    assert_eq!(job["status"], "running");
    t.server.shutdown().await;
}

#[tokio::test]
async fn fault_storage_signatures_and_infected() {
    let t = start(vec![]).await;
    let (id, _) = t.upload(Role::Owner, "a.txt", b"abc").await;
    t.wait_scanned(&id, Role::Owner).await;
    let r = t
        .get(
            &format!("/api/files/{id}/download-url?ttl_secs=1"),
            Role::Owner,
        )
        .await;
    let url = r.json["url"].as_str().expect("url").to_owned();
    let tampered = format!("{}{}", &url[..url.len() - 4], "beef");

    t.server.set_faults(vec![Fault::SignatureNotChecked]);
    let resp = t.http.get(tampered.as_str()).send().await.expect("get");
    assert_eq!(resp.status(), 200, "signature not checked");

    // Poll (with a deadline, no fault) until the URL has expired.
    t.server.set_faults(vec![]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let resp = t.http.get(url.as_str()).send().await.expect("get");
        if resp.status() == 403 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the URL never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    t.server.set_faults(vec![Fault::ExpiryNotEnforced]);
    let resp = t.http.get(url.as_str()).send().await.expect("get");
    assert_eq!(resp.status(), 200, "expiry not enforced");
    t.server.set_faults(vec![]);
    let resp = t.http.get(url.as_str()).send().await.expect("get");
    assert_eq!(resp.status(), 403);

    let (bad, _) = t.upload(Role::Owner, "e.txt", EICAR.as_bytes()).await;
    assert_eq!(
        t.wait_scanned(&bad, Role::Owner).await["scan_status"],
        "infected"
    );
    t.server.set_faults(vec![Fault::InfectedDownloadable]);
    let (_, resp) = t.download(&bad, Role::Owner).await;
    assert_eq!(resp.status(), 200, "infected downloadable");
    t.server.shutdown().await;
}

#[tokio::test]
async fn fault_webhooks() {
    let t = start(vec![Fault::WebhookSignatureWrong]).await;
    let (rx, url) = Receiver::start(&[]).await;
    let (endpoint, secret) = create_endpoint(&t, &url, &["event.updated"]).await;
    let test = format!("/api/webhooks/endpoints/{endpoint}/test");
    t.post(&test, Role::Owner, json!({})).await;
    wait_delivery(&t, &endpoint, |d| d["status"] == "succeeded").await;
    assert!(
        !verify_webhook(&secret, &rx.received()[0]),
        "wrong signature"
    );

    t.server.set_faults(vec![Fault::WebhookNoRetry]);
    let (rx, url) = Receiver::start(&[500, 500]).await;
    let (endpoint, _) = create_endpoint(&t, &url, &["event.updated"]).await;
    t.post(
        &format!("/api/webhooks/endpoints/{endpoint}/test"),
        Role::Owner,
        json!({}),
    )
    .await;
    let list = wait_delivery(&t, &endpoint, |d| d["status"] == "failed").await;
    assert_eq!(list[0]["attempts"], 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.received().len(), 1, "no retry");

    t.server.set_faults(vec![Fault::DeliveryLogLies]);
    let (_rx, url) = Receiver::start(&[500, 500]).await;
    let (endpoint, _) = create_endpoint(&t, &url, &["event.updated"]).await;
    t.post(
        &format!("/api/webhooks/endpoints/{endpoint}/test"),
        Role::Owner,
        json!({}),
    )
    .await;
    let list = wait_delivery(&t, &endpoint, |d| d["status"] != "pending").await;
    assert_eq!(list[0]["status"], "succeeded");
    assert_eq!(list[0]["response_status"], 500);
    t.server.shutdown().await;
}

#[test]
fn fault_names_parse() {
    for name in [
        "lost-update",
        "lock-not-enforced",
        "export-missing-item",
        "invoice-total-off-by-cent",
        "pdf-corrupt",
        "pdf-missing-number",
        "job-never-finishes",
        "signature-not-checked",
        "expiry-not-enforced",
        "infected-downloadable",
        "webhook-signature-wrong",
        "webhook-no-retry",
        "delivery-log-lies",
        "delete-not-deleting",
    ] {
        let fault: Fault = name.parse().expect(name);
        assert_eq!(fault.to_string(), name);
        assert!(Fault::catalogue().contains(&fault));
    }
}
