//! The HTTP layer: one [`Session`] per logged-in identity, each with its own cookie
//! jar, every request carrying `X-StageOS-Smoke-Run`, bounded in time and body size,
//! and every exchange recorded as a raw timing sample.
//!
//! TLS verification is always on, except for hosts named explicitly in
//! `insecure_tls_hosts`: such a session holds a second, non-verifying client used
//! only for those hosts.

use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{
    AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderMap, HeaderName, HeaderValue, SET_COOKIE,
};
use reqwest::{Method, StatusCode};
use reqwest_cookie_store::CookieStoreMutex;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use crate::secrets::{REDACTED, Redactor};
use stageos_smoke_model::outcome::{RequestRecord, offset_ms};

/// HTTP client limits.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Largest body read.
    pub max_body_bytes: usize,
    /// Hosts whose certificates are not verified.
    pub insecure_tls_hosts: Vec<String>,
    /// How many requests may be in flight to the target at once, across every flow
    /// and step of the run (clones share the permits): the suite runs independent
    /// requests side by side but never looks like a load test.
    pub in_flight: InFlight,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_body_bytes: 16 * 1024 * 1024,
            insecure_tls_hosts: Vec::new(),
            in_flight: InFlight::new(InFlight::DEFAULT),
        }
    }
}

/// The bound on requests in flight to the target (see [`HttpSettings::in_flight`]).
#[derive(Clone, Debug)]
pub struct InFlight {
    limit: usize,
    permits: Arc<tokio::sync::Semaphore>,
}

impl InFlight {
    /// The default bound (`max_in_flight_requests` of a profile).
    pub const DEFAULT: usize = 16;

    /// At most `limit` requests at once (at least one).
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Self {
            limit,
            permits: Arc::new(tokio::sync::Semaphore::new(limit)),
        }
    }

    /// The bound.
    pub fn limit(&self) -> usize {
        self.limit
    }

    async fn acquire(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        // The semaphore is never closed; a closed one would mean "no bound".
        self.permits.acquire().await.ok()
    }
}

/// Parse an HTTP `Date` (RFC 9110 §5.6.7): the IMF-fixdate every server sends, and
/// the obsolete RFC 850 and asctime forms a recipient must still accept.
pub fn parse_http_date(text: &str) -> Option<time::OffsetDateTime> {
    httpdate::parse_http_date(text.trim())
        .ok()
        .map(time::OffsetDateTime::from)
}

/// Header carrying the run id on every request.
pub const RUN_HEADER: &str = "x-stageos-smoke-run";

pub use stageos_smoke_model::error::{
    CheckFailure, DecodeError, ExecError, StepError, ensure, ensure_eq,
};

tokio::task_local! {
    /// The step being polled, when it runs beside others of its flow.
    static LANE: Lane;
}

/// What one step recorded while it ran — its requests, retries and notes — even
/// when other steps of its flow ran at the same time on the same sessions. A step
/// future polled inside [`Lane::scope`] records into its lane as well as into the
/// flow's [`Recorder`].
///
/// A lane also carries its step's deadline: a request throttled by the target
/// waits only when the wait ends inside it (see [`crate::throttle`]).
#[derive(Clone, Debug, Default)]
pub struct Lane {
    records: Arc<Mutex<Vec<RequestRecord>>>,
    retries: Arc<Mutex<Vec<String>>>,
    notes: Arc<Mutex<Vec<String>>>,
    deadline: Option<Instant>,
}

impl Lane {
    /// A lane whose step must finish by `deadline`.
    pub fn with_deadline(deadline: Instant) -> Self {
        Self {
            deadline: Some(deadline),
            ..Self::default()
        }
    }

    /// The deadline of the step being polled, if a step is.
    pub fn current_deadline() -> Option<Instant> {
        LANE.try_with(|l| l.deadline).ok().flatten()
    }

    /// Run `fut` with this lane as its recording target.
    pub async fn scope<F: std::future::Future>(&self, fut: F) -> F::Output {
        LANE.scope(self.clone(), fut).await
    }

    /// The requests recorded in this lane.
    pub fn records(&self) -> Vec<RequestRecord> {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The retry notes recorded in this lane.
    pub fn retries(&self) -> Vec<String> {
        self.retries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The notes taken in this lane.
    pub fn notes(&self) -> Vec<String> {
        self.notes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn with_current(f: impl FnOnce(&Lane)) {
        let _ = LANE.try_with(f);
    }
}

/// Raw timing samples of one flow, shared by its sessions.
#[derive(Clone, Debug)]
pub struct Recorder {
    run_start: Instant,
    records: Arc<Mutex<Vec<RequestRecord>>>,
    retries: Arc<Mutex<Vec<String>>>,
    notes: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    /// A recorder measuring from `run_start`.
    pub fn new(run_start: Instant) -> Self {
        Self {
            run_start,
            records: Arc::default(),
            retries: Arc::default(),
            notes: Arc::default(),
        }
    }

    fn note_retry(&self, note: String) {
        Lane::with_current(|l| {
            l.retries
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(note.clone())
        });
        self.retries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(note);
    }

    /// Note what a step measured (a gate's number and threshold) or warns of; it is
    /// reported with the step that is running.
    pub fn note(&self, text: impl Into<String>) {
        let text = text.into();
        Lane::with_current(|l| {
            l.notes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(text.clone())
        });
        self.notes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(text);
    }

    /// Notes from index `from` on.
    pub fn notes_since(&self, from: usize) -> Vec<String> {
        let n = self.notes.lock().unwrap_or_else(|e| e.into_inner());
        n.get(from..).map(<[_]>::to_vec).unwrap_or_default()
    }

    /// Retry notes from index `from` on: each names the request and what went wrong.
    pub fn retries_since(&self, from: usize) -> Vec<String> {
        let r = self.retries.lock().unwrap_or_else(|e| e.into_inner());
        r.get(from..).map(<[_]>::to_vec).unwrap_or_default()
    }

    fn push(&self, r: RequestRecord) {
        Lane::with_current(|l| {
            l.records
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(r.clone())
        });
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(r);
    }

    /// Number of records so far.
    pub fn len(&self) -> usize {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records from index `from` on.
    pub fn since(&self, from: usize) -> Vec<RequestRecord> {
        let r = self.records.lock().unwrap_or_else(|e| e.into_inner());
        r.get(from..).map(<[_]>::to_vec).unwrap_or_default()
    }

    /// Milliseconds since the run started.
    pub fn offset_ms(&self, at: Instant) -> f64 {
        offset_ms(self.run_start, at)
    }
}

/// What every session of a run shares.
#[derive(Clone, Debug)]
pub struct HttpContext {
    /// Limits.
    pub settings: Arc<HttpSettings>,
    /// Run id sent on every request.
    pub run_id: String,
    /// Secret registry.
    pub redactor: Redactor,
    /// Logins shared by the run's flows.
    pub logins: LoginCache,
    /// The target's clock as its answers' `Date` headers tell it.
    pub clock: crate::clock::TargetClock,
}

/// One login per user per run, shared by the flows that only need to act as that
/// user: fewer requests, and no second TOTP login within the same 30 s step, which a
/// server with replay protection would refuse. A flow that tests login itself (or
/// changes the session: logout, TOTP set-up) logs in on its own session instead.
#[derive(Clone, Debug, Default)]
pub struct LoginCache {
    #[allow(clippy::type_complexity)]
    cells:
        Arc<Mutex<std::collections::HashMap<String, Arc<tokio::sync::OnceCell<(Session, Value)>>>>>,
}

impl LoginCache {
    /// The session logged in as `key` (an email) and its login response body,
    /// logging in with `login` the first time. The returned session records its
    /// requests into `recorder` (the calling flow's), sharing jar and token.
    pub async fn get_or_login<F, Fut, E>(
        &self,
        key: &str,
        recorder: &Recorder,
        login: F,
    ) -> Result<(Session, Value), E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(Session, Value), E>>,
    {
        let cell = self
            .cells
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.to_owned())
            .or_default()
            .clone();
        let (session, body) = cell.get_or_try_init(login).await?;
        let mut session = session.clone();
        session.recorder = recorder.clone();
        Ok((session, body.clone()))
    }
}

fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Another part of the process may have installed one already; either is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The TLS set-up of every verifying client, built once per process: reqwest
/// would otherwise build it for each client (every session has one, for its own
/// cookie jar), loading the platform's root store each time — 80–100 ms per
/// session in a debug build, which delayed each flow's first request. The same
/// verifier reqwest uses (rustls-platform-verifier, the OS roots), HTTP/1.1 ALPN.
fn verifying_tls_config() -> Result<rustls::ClientConfig, ExecError> {
    static CONFIG: std::sync::OnceLock<Result<rustls::ClientConfig, String>> =
        std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
                .map_err(|e| e.to_string())?;
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(config)
        })
        .clone()
        .map_err(|e| {
            ExecError::Other(format!(
                "failed to set up TLS (the platform's root certificates): {e}"
            ))
        })
}

fn build_client(
    settings: &HttpSettings,
    jar: Arc<CookieStoreMutex>,
    verify_tls: bool,
) -> Result<reqwest::Client, ExecError> {
    install_crypto_provider();
    let builder = reqwest::Client::builder();
    let builder = if verify_tls {
        builder.tls_backend_preconfigured(verifying_tls_config()?)
    } else {
        builder.tls_danger_accept_invalid_certs(true)
    };
    builder
        .cookie_provider(jar)
        .timeout(settings.request_timeout)
        .connect_timeout(settings.connect_timeout)
        .redirect(reqwest::redirect::Policy::limited(5))
        .user_agent(concat!("stageos-smoke/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ExecError::Other(format!("failed to build the HTTP client: {e}")))
}

/// One identity talking to the target: its own cookie jar and bearer token.
#[derive(Clone)]
pub struct Session {
    label: String,
    base: Url,
    client: reqwest::Client,
    insecure_client: Option<reqwest::Client>,
    jar: Arc<CookieStoreMutex>,
    bearer: Option<String>,
    cx: HttpContext,
    recorder: Recorder,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("label", &self.label)
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A new, anonymous session against `base`.
    pub fn new(
        label: impl Into<String>,
        base: Url,
        cx: HttpContext,
        recorder: Recorder,
    ) -> Result<Self, ExecError> {
        let jar = Arc::new(CookieStoreMutex::default());
        let client = build_client(&cx.settings, jar.clone(), true)?;
        let insecure_client = if cx.settings.insecure_tls_hosts.is_empty() {
            None
        } else {
            Some(build_client(&cx.settings, jar.clone(), false)?)
        };
        Ok(Self {
            label: label.into(),
            base,
            client,
            insecure_client,
            jar,
            bearer: None,
            cx,
            recorder,
        })
    }

    /// The run's estimate of the target's clock.
    pub fn target_clock(&self) -> &crate::clock::TargetClock {
        &self.cx.clock
    }

    /// The recorder this session writes its timings to.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// The run's shared logins.
    pub fn logins(&self) -> &LoginCache {
        &self.cx.logins
    }

    /// A new session to the same target with an empty cookie jar and no token.
    pub fn clone_fresh(&self) -> Result<Session, ExecError> {
        Session::new(
            self.label.clone(),
            self.base.clone(),
            self.cx.clone(),
            self.recorder.clone(),
        )
    }

    /// The session's label (a role name, or `anonymous`).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The target base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Use `token` as bearer from now on (registered as a secret).
    pub fn set_bearer(&mut self, token: Option<String>) {
        if let Some(t) = &token {
            self.cx.redactor.add(t);
        }
        self.bearer = token;
    }

    /// The current bearer token.
    pub fn bearer(&self) -> Option<&str> {
        self.bearer.as_deref()
    }

    /// A cookie's value in this session's jar, for the target's host.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let store = self.jar.lock().unwrap_or_else(|e| e.into_inner());
        let host = self.base.host_str()?;
        store
            .iter_unexpired()
            .find(|c| c.name() == name && c.domain().map(|d| d == host).unwrap_or(true))
            .map(|c| c.value().to_owned())
    }

    /// Start a request to a path under the base URL (or an absolute URL).
    pub fn request(&self, method: Method, path_or_url: &str) -> Req<'_> {
        let url = if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            Url::parse(path_or_url)
        } else {
            self.base.join(path_or_url)
        };
        Req {
            session: self,
            method,
            url: url.map_err(|e| ExecError::Other(format!("invalid URL `{path_or_url}`: {e}"))),
            headers: HeaderMap::new(),
            body: None,
            bearer: true,
            tests_throttling: false,
        }
    }

    /// GET.
    pub fn get(&self, path: &str) -> Req<'_> {
        self.request(Method::GET, path)
    }
    /// POST.
    pub fn post(&self, path: &str) -> Req<'_> {
        self.request(Method::POST, path)
    }
    /// PATCH.
    pub fn patch(&self, path: &str) -> Req<'_> {
        self.request(Method::PATCH, path)
    }
    /// PUT.
    pub fn put(&self, path: &str) -> Req<'_> {
        self.request(Method::PUT, path)
    }
    /// DELETE.
    pub fn delete(&self, path: &str) -> Req<'_> {
        self.request(Method::DELETE, path)
    }

    fn client_for(&self, url: &Url) -> &reqwest::Client {
        match (&self.insecure_client, url.host_str()) {
            (Some(c), Some(h)) if self.cx.settings.insecure_tls_hosts.iter().any(|x| x == h) => c,
            _ => &self.client,
        }
    }
}

/// A request being built.
pub struct Req<'a> {
    session: &'a Session,
    method: Method,
    url: Result<Url, ExecError>,
    headers: HeaderMap,
    body: Option<(Bytes, &'static str)>,
    bearer: bool,
    tests_throttling: bool,
}

impl Req<'_> {
    /// A JSON body.
    pub fn json(mut self, value: &Value) -> Self {
        self.body = Some((Bytes::from(value.to_string()), "application/json"));
        self
    }

    /// A raw body with its content type.
    pub fn bytes(mut self, body: impl Into<Bytes>, content_type: &'static str) -> Self {
        self.body = Some((body.into(), content_type));
        self
    }

    /// An extra header. Invalid names/values are ignored by construction of the callers
    /// (constants), so this never fails.
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(HeaderName::from_static(name), v);
        }
        self
    }

    /// Send a raw `Cookie` header instead of the jar's (e.g. replaying an old token).
    pub fn cookie_header(mut self, value: &str) -> Self {
        if let Ok(mut v) = HeaderValue::from_str(value) {
            v.set_sensitive(true);
            self.headers.insert(COOKIE, v);
        }
        self
    }

    /// Do not send the session's bearer token.
    pub fn without_bearer(mut self) -> Self {
        self.bearer = false;
        self
    }

    /// The step tests throttling itself: a 429 (or 503 with `Retry-After`) is its
    /// answer to judge, neither waited out nor turned into [`ExecError::Throttled`].
    pub fn tests_throttling(mut self) -> Self {
        self.tests_throttling = true;
        self
    }

    /// Send, read the body within the limit, record the timing.
    pub async fn send(self) -> Result<Response, ExecError> {
        let s = self.session;
        let url = self.url?;
        let method_s = self.method.to_string();
        let url_no_query = strip_query(&url);
        let mut headers = self.headers;
        if let Ok(v) = HeaderValue::from_str(&s.cx.run_id) {
            headers.insert(HeaderName::from_static(RUN_HEADER), v);
        }
        if let (true, Some(token)) = (self.bearer, &s.bearer)
            && let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {token}"))
        {
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        if let Some((_, ct)) = &self.body {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        let idempotent = is_idempotent(&self.method);
        let repeatable = crate::throttle::safe_to_repeat(&self.method, url.path(), &headers);
        let mut attempt = 1;
        let mut sent_at;
        let mut throttle_waits = 0;
        let (result, elapsed) = loop {
            let mut rb = s
                .client_for(&url)
                .request(self.method.clone(), url.clone())
                .headers(headers.clone());
            if let Some((body, _)) = &self.body {
                rb = rb.body(body.clone());
            }
            let permit = s.cx.settings.in_flight.acquire().await;
            let started = Instant::now();
            sent_at = time::OffsetDateTime::now_utc();
            let result = read_response(
                rb,
                s.cx.settings.max_body_bytes,
                &method_s,
                &url_no_query,
                s.cx.settings.request_timeout,
            )
            .await;
            let elapsed = started.elapsed();
            drop(permit);
            // Only the target's own answers teach its clock: another service's
            // host (a health URL of the gates) may keep another one.
            if let Ok((_, headers, _)) = &result
                && url.origin() == s.base.origin()
                && let Some(date) = headers
                    .get(reqwest::header::DATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_http_date)
            {
                s.cx.clock.observe(sent_at, sent_at + elapsed, date);
            }
            s.recorder.push(RequestRecord {
                method: method_s.clone(),
                path: url.path().to_owned(),
                status: result.as_ref().ok().map(|(st, _, _)| st.as_u16()),
                start_ms: s.recorder.offset_ms(started),
                duration_ms: elapsed.as_secs_f64() * 1000.0,
            });
            let throttle = match (&result, self.tests_throttling) {
                (Ok((status, headers, _)), false) => {
                    crate::throttle::Throttle::of(*status, headers, std::time::SystemTime::now())
                }
                _ => None,
            };
            if let Some(t) = throttle {
                match t.decide(
                    repeatable,
                    throttle_waits,
                    Instant::now(),
                    Lane::current_deadline(),
                ) {
                    Ok(wait) => {
                        // A note, not a retry: a rate limit waited out is not a
                        // flaky target, and the step is not reported as flaky.
                        s.recorder.note(format!(
                            "{method_s} {}: the target throttled the suite ({}, {}); waited {} ms and sent it again",
                            url.path(),
                            t.status,
                            t.describe_retry_after(),
                            wait.as_millis()
                        ));
                        tokio::time::sleep(wait).await;
                        throttle_waits += 1;
                        continue;
                    }
                    Err(why) => break (Err(t.error(&method_s, url.path(), why)), elapsed),
                }
            }
            let retry_in = if idempotent && attempt < MAX_ATTEMPTS {
                retry_delay(&result, attempt)
            } else {
                None
            };
            match retry_in {
                Some((delay, why)) => {
                    s.recorder.note_retry(format!(
                        "{method_s} {}: attempt {attempt} {why}; retried after {} ms",
                        url.path(),
                        delay.as_millis()
                    ));
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                None => break (result, elapsed),
            }
        };
        let request_headers = headers;
        let result = result.inspect_err(|e| {
            tracing::debug!(
                target: "stageos_smoke::http",
                "{method_s} {} → no answer after {} ms: {}",
                url.path(),
                elapsed.as_millis(),
                s.cx.redactor.redact(&e.to_string())
            );
        });
        let (status, headers, body) = result?;
        let response = Response {
            method: method_s,
            path: url.path().to_owned(),
            status,
            headers,
            body,
            elapsed,
        };
        response.learn_secrets(&s.cx.redactor);
        if response.status == StatusCode::CREATED && url.origin() == s.base.origin() {
            learn_clock_from_created(&s.cx.clock, &response, sent_at);
        }
        if tracing::enabled!(target: "stageos_smoke::http", tracing::Level::DEBUG) {
            tracing::debug!(
                target: "stageos_smoke::http",
                "{}",
                debug_exchange(&response, &request_headers, &s.cx.redactor)
            );
        }
        Ok(response)
    }
}

/// A 201 Created's `created_at` is the target's clock while it handled the
/// request: with fractional seconds it pins the clock far closer than the `Date`
/// header's whole second (see [`crate::clock::TargetClock::narrow_with_stamp`]).
fn learn_clock_from_created(
    clock: &crate::clock::TargetClock,
    response: &Response,
    sent_at: time::OffsetDateTime,
) {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&response.body) else {
        return;
    };
    let Some(text) = body.get("created_at").and_then(Value::as_str) else {
        return;
    };
    let Ok(stamp) =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
    else {
        return;
    };
    let digits = text
        .split_once('.')
        .map(|(_, frac)| frac.bytes().take_while(u8::is_ascii_digit).count())
        .unwrap_or(0)
        .min(9) as u32;
    let precision = time::Duration::nanoseconds(10i64.pow(9 - digits));
    clock.narrow_with_stamp(sent_at, sent_at + response.elapsed, stamp, precision);
}

/// Headers whose values are credentials: shown as `[REDACTED]` in debug output
/// whatever the redactor knows.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "set-cookie",
    "proxy-authorization",
    "x-stageos-signature",
];

/// One exchange for `-v` / `RUST_LOG=stageos_smoke=debug`: method, path, status,
/// duration, the headers both ways and the start of the answer, every credential
/// header masked and every known secret redacted (the answer's secret-looking
/// fields were learned before this is written), JWT-shaped words masked too.
fn debug_exchange(resp: &Response, sent: &HeaderMap, redactor: &Redactor) -> String {
    let show = |h: &HeaderMap| {
        h.iter()
            .map(|(k, v)| {
                let value = if SECRET_HEADERS.contains(&k.as_str()) {
                    REDACTED.to_owned()
                } else {
                    v.to_str().unwrap_or("(binary)").to_owned()
                };
                format!("{k}: {value}")
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let text = format!(
        "{} {} → {} in {:.1} ms\n  sent: {}\n  received: {}\n  body: {}",
        resp.method,
        resp.path,
        resp.status.as_u16(),
        resp.elapsed.as_secs_f64() * 1000.0,
        show(sent),
        show(&resp.headers),
        resp.excerpt()
    );
    mask_jwts(&redactor.redact(&text))
}

/// Mask every word that looks like a JWT (`eyJ…`): a token the redactor has not
/// seen yet is still never printed.
fn mask_jwts(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("eyJ") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=')))
            .unwrap_or(tail.len());
        out.push_str(REDACTED);
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Attempts per idempotent request (the first one included).
pub const MAX_ATTEMPTS: u32 = 3;
/// The longest `Retry-After` the suite honours; a longer one is not waited for.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(2);

/// Only requests that may be repeated safely are retried: never a POST or PATCH.
fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    )
}

/// Whether (and after how long) an attempt's outcome is worth another try:
/// network-level failures (no response at all) with exponential backoff, and a
/// 502/503/504 whose `Retry-After` (or the backoff) fits under [`RETRY_AFTER_CAP`].
/// Timeouts are not retried: the deadline was already spent once.
fn retry_delay(
    result: &Result<(StatusCode, HeaderMap, Bytes), ExecError>,
    attempt: u32,
) -> Option<(Duration, String)> {
    let backoff = Duration::from_millis(100u64 << (attempt - 1).min(4));
    match result {
        Err(ExecError::Transport { cause, .. }) => {
            Some((backoff, format!("got no response ({cause})")))
        }
        Ok((status, headers, _)) if matches!(status.as_u16(), 502..=504) => {
            let after = headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
                .unwrap_or(backoff);
            (after <= RETRY_AFTER_CAP).then(|| (after, format!("answered {}", status.as_u16())))
        }
        _ => None,
    }
}

fn strip_query(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

async fn read_response(
    rb: reqwest::RequestBuilder,
    limit: usize,
    method: &str,
    url: &str,
    timeout: Duration,
) -> Result<(StatusCode, HeaderMap, Bytes), ExecError> {
    let classify = |e: reqwest::Error| classify_transport(e, method, url, timeout);
    let mut resp = rb.send().await.map_err(classify)?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let too_large = || ExecError::BodyTooLarge {
        method: method.to_owned(),
        url: url.to_owned(),
        limit,
    };
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, headers, Bytes::from(body)))
}

fn classify_transport(e: reqwest::Error, method: &str, url: &str, timeout: Duration) -> ExecError {
    if e.is_timeout() {
        return ExecError::Timeout {
            method: method.to_owned(),
            url: url.to_owned(),
            after_ms: timeout.as_millis(),
        };
    }
    let is_redirect = e.is_redirect();
    // Without the URL: a host named `tls-staging…` or `dns…` must not steer the
    // classification (the URL is in the message already).
    let chain = error_chain(&e.without_url());
    let (cause, hint) = classify_cause(&chain, is_redirect);
    ExecError::Transport {
        method: method.to_owned(),
        url: url.to_owned(),
        cause: format!("{cause} ({})", one_line(&chain)),
        hint: hint.to_owned(),
    }
}

/// The cause and the fix of a transport error, from its source chain (URL removed).
///
/// TLS is tested before DNS: rustls names a certificate's subject `DnsName(…)`,
/// which must not read as a resolver failure.
fn classify_cause(chain: &str, is_redirect: bool) -> (&'static str, &'static str) {
    let lower = chain.to_lowercase();
    if lower.contains("connection refused") {
        (
            "connection refused",
            "is the target up and the URL right? check --target / STAGEOS_BASE_URL",
        )
    } else if lower.contains("certificate")
        || lower.contains("invalid peer")
        || lower.contains("tls")
        || lower.contains("handshake")
    {
        (
            "TLS certificate not accepted",
            "fix the certificate, or name the host in insecure_tls_hosts for a test environment",
        )
    } else if lower.contains("dns error")
        || lower.contains("failed to lookup address")
        || lower.contains("name or service not known")
        || lower.contains("name resolution")
    {
        (
            "DNS lookup failed",
            "check the host name in --target / STAGEOS_BASE_URL and the resolver of this machine",
        )
    } else if is_redirect || lower.contains("redirect") {
        (
            "too many redirects",
            "the target redirects in a loop; check its routing",
        )
    } else {
        (
            "connection failed",
            "check network reachability of the target",
        )
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A whole response, body read.
#[derive(Clone, Debug)]
pub struct Response {
    /// Method of the request.
    pub method: String,
    /// Path of the request (no query).
    pub path: String,
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
    /// Time to the last body byte.
    pub elapsed: Duration,
}

impl Response {
    fn learn_secrets(&self, redactor: &Redactor) {
        for c in self.set_cookies() {
            redactor.add(c.value());
        }
        if self.is_json()
            && let Ok(v) = serde_json::from_slice::<Value>(&self.body)
        {
            redactor.learn_from_json(&v);
        }
    }

    /// The Content-Type header, or empty.
    pub fn content_type(&self) -> &str {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The Content-Type parsed as a media type (RFC 9110 §8.3.1), if it is one.
    pub fn media_type(&self) -> Option<mime::Mime> {
        self.content_type().trim().parse().ok()
    }

    /// Whether the Content-Type is the media type `essence` (`type/subtype`), in any
    /// case and with any parameters (RFC 9110 §8.3.1: `Application/JSON; Charset=UTF-8`
    /// is `application/json`).
    pub fn has_media_type(&self, essence: &str) -> bool {
        self.media_type()
            .is_some_and(|m| m.essence_str().eq_ignore_ascii_case(essence))
    }

    /// JSON: `application/json` or any `+json` structured syntax suffix (RFC 6839).
    fn is_json(&self) -> bool {
        self.media_type().is_some_and(|m| {
            (m.type_() == mime::APPLICATION && m.subtype() == mime::JSON)
                || m.suffix() == Some(mime::JSON)
        })
    }

    /// The first 120 characters of the body, for messages.
    pub fn excerpt(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let mut s: String = text.chars().take(120).collect();
        if text.chars().count() > 120 {
            s.push('…');
        }
        s
    }

    /// A could-not-check error: this body is not the `expected` kind of document
    /// (e.g. an HTML error page where JSON or a PDF was due).
    pub fn decode_error(&self, expected: &str, detail: String) -> ExecError {
        ExecError::Decode(Box::new(DecodeError {
            method: self.method.clone(),
            path: self.path.clone(),
            status: self.status.as_u16(),
            content_type: if self.content_type().is_empty() {
                "no content type".into()
            } else {
                self.content_type().to_owned()
            },
            expected: expected.to_owned(),
            detail,
            excerpt: self.excerpt(),
        }))
    }

    /// Parse a JSON body into `T`; a non-JSON or mis-shaped body is an [`ExecError`].
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ExecError> {
        if !self.is_json() {
            return Err(self.decode_error("application/json", "wrong content type".into()));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| self.decode_error("JSON of the contract's shape", e.to_string()))
    }

    /// The `error.code` of a contract error body, if any.
    pub fn error_code(&self) -> Option<String> {
        let v: Value = serde_json::from_slice(&self.body).ok()?;
        v.get("error")?.get("code")?.as_str().map(str::to_owned)
    }

    /// `Set-Cookie` headers, parsed.
    pub fn set_cookies(&self) -> Vec<cookie::Cookie<'static>> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|s| cookie::Cookie::parse(s.to_owned()).ok())
            .collect()
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// An unexpected 5xx says the target could not serve the request, not that it
    /// broke the contract in the way the step checks: that is "could not check".
    fn server_error_is_not_a_verdict(&self, expected: u16) -> Result<(), StepError> {
        let status = self.status.as_u16();
        if !(500..=599).contains(&status) || (500..=599).contains(&expected) {
            return Ok(());
        }
        let retry = self
            .header("retry-after")
            .map(|r| format!(", Retry-After: {r}"))
            .unwrap_or_default();
        let code = self
            .error_code()
            .map(|c| format!(" {c}"))
            .unwrap_or_default();
        Err(ExecError::Other(format!(
            "{} {} answered {status}{code}{retry} where {expected} was expected: the target failed to serve the request (hint: check the target's health and logs; body starts: {:?})",
            self.method,
            self.path,
            self.excerpt()
        ))
        .into())
    }

    /// Fail the check unless the status is `expected`; the message names the
    /// request, the status and the contract error code that came back.
    pub fn expect_status(&self, expected: u16) -> Result<&Self, StepError> {
        if self.status.as_u16() == expected {
            return Ok(self);
        }
        self.server_error_is_not_a_verdict(expected)?;
        let code = self
            .error_code()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        Err(CheckFailure {
            what: format!("{} {} status", self.method, self.path),
            expected: expected.to_string(),
            actual: format!("{}{code}", self.status.as_u16()),
        }
        .into())
    }

    /// Fail unless the status is `expected` and the error code is `code`.
    pub fn expect_error(&self, expected: u16, code: &str) -> Result<&Self, StepError> {
        if self.status.as_u16() != expected {
            self.server_error_is_not_a_verdict(expected)?;
        }
        let actual_code = self.error_code();
        let ok = self.status.as_u16() == expected && actual_code.as_deref() == Some(code);
        ensure(
            ok,
            format!("{} {} refusal", self.method, self.path),
            format!("{expected} {code}"),
            format!(
                "{} {}",
                self.status.as_u16(),
                actual_code.unwrap_or_else(|| "(no error code)".into())
            ),
        )?;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_content_type(ct: &str) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        Response {
            method: "GET".into(),
            path: "/".into(),
            status: reqwest::StatusCode::OK,
            headers,
            body: Bytes::new(),
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn media_types_are_read_by_rfc_9110() {
        for ct in [
            "application/json",
            "Application/JSON; Charset=UTF-8",
            "application/json; charset=\"utf-8\"; x-vendor=1",
            "application/problem+json",
        ] {
            assert!(with_content_type(ct).is_json(), "{ct}");
        }
        for ct in ["text/html", "application/jsonp", "text/json-ish", ""] {
            assert!(!with_content_type(ct).is_json(), "{ct}");
        }
        assert!(with_content_type("Text/CSV; Charset=UTF-8").has_media_type("text/csv"));
        assert!(with_content_type("Application/PDF").has_media_type("application/pdf"));
        assert!(!with_content_type("text/csvx").has_media_type("text/csv"));
    }

    #[test]
    fn jwt_shaped_words_are_masked_in_debug_output() {
        assert_eq!(
            super::mask_jwts("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-_x= ok"),
            "token [REDACTED] ok"
        );
        assert_eq!(super::mask_jwts("no token here"), "no token here");
    }

    use super::classify_cause;

    #[test]
    fn transport_causes_are_named_from_the_chain() {
        // Shapes of hyper-util / rustls / std error chains, URL already removed.
        let cases = [
            (
                "error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)",
                "connection refused",
            ),
            (
                "error sending request: client error (Connect): dns error: failed to lookup address information: Temporary failure in name resolution",
                "DNS lookup failed",
            ),
            (
                "error sending request: client error (Connect): dns error: failed to lookup address information: Name or service not known",
                "DNS lookup failed",
            ),
            (
                "error sending request: client error (Connect): invalid peer certificate: UnknownIssuer",
                "TLS certificate not accepted",
            ),
            // rustls names the certificate's subject `DnsName(…)`: still TLS.
            (
                "error sending request: client error (Connect): invalid peer certificate: certificate not valid for name \"10.0.0.1\"; certificate is only valid for DnsName(\"stageos.example\")",
                "TLS certificate not accepted",
            ),
            (
                "error sending request: client error (Connect): received corrupt message of type InvalidContentType",
                "connection failed",
            ),
        ];
        for (chain, want) in cases {
            assert_eq!(classify_cause(chain, false).0, want, "{chain}");
        }
        assert_eq!(
            classify_cause("error following redirect", true).0,
            "too many redirects"
        );
    }
}
#[cfg(test)]
mod tls_tests {
    #[test]
    fn clients_share_one_tls_setup_and_still_build() {
        let s = super::HttpSettings::default();
        for verify in [true, false, true] {
            let jar = std::sync::Arc::new(reqwest_cookie_store::CookieStoreMutex::default());
            super::build_client(&s, jar, verify).expect("client");
        }
        assert!(super::verifying_tls_config().is_ok());
    }
}
