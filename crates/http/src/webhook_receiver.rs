//! The suite's own webhook receiver: a small axum server the target delivers to.
//!
//! It records every request (headers, raw body, what it answered) and wakes the
//! steps waiting for a delivery through a `tokio::sync::watch` counter — waiting
//! is event-driven, never a retry loop. It can answer the first attempt of a
//! chosen delivery with 500, so the flow can watch the target retry.
//!
//! [`verify_signature`] checks `StageOS-Signature: t=<unix>,v1=<hex>` —
//! HMAC-SHA256 keyed with the endpoint secret over `"<t>.<raw body>"` — in
//! constant time, with a timestamp tolerance.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use url::Url;

/// How the webhooks flow observes deliveries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WebhookMode {
    /// The suite runs a receiver the target can reach.
    #[default]
    Receiver,
    /// The target cannot reach the suite: only its delivery log is checked.
    DeliveryLog,
}

/// Webhook receiver settings.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Mode.
    pub mode: WebhookMode,
    /// Why this mode (for skip reasons and `doctor`).
    pub mode_reason: String,
    /// Bind address of the receiver.
    pub bind: std::net::SocketAddr,
    /// Public URL of the receiver, if it differs from the bound address.
    pub public_url: Option<Url>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            mode: WebhookMode::Receiver,
            mode_reason: "the target runs on this machine".into(),
            bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
        }
    }
}

/// Tolerance for the signature timestamp, as the contract recommends.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    /// Unix seconds at receipt.
    pub at_unix: i64,
    /// `StageOS-Event-Id`.
    pub event_id: Option<String>,
    /// `StageOS-Delivery-Id`.
    pub delivery_id: Option<String>,
    /// `StageOS-Signature`.
    pub signature: Option<String>,
    /// The raw body.
    pub body: Bytes,
    /// The body as JSON, if it is.
    pub payload: Option<Value>,
    /// 1 for the first request with this delivery id, 2 for the next, …
    pub attempt: u32,
    /// The status the receiver answered.
    pub answered: u16,
}

impl Received {
    /// The payload's `type`.
    pub fn event_type(&self) -> Option<&str> {
        self.payload.as_ref()?.get("type")?.as_str()
    }

    /// The payload's `data.id` (the subject, e.g. the updated event).
    pub fn subject_id(&self) -> Option<&str> {
        self.payload.as_ref()?.get("data")?.get("id")?.as_str()
    }
}

#[derive(Clone)]
struct Shared {
    log: Arc<Mutex<Vec<Received>>>,
    fail_first_subjects: Arc<Mutex<HashSet<String>>>,
    changed: watch::Sender<usize>,
}

/// A running receiver; dropped or [`Receiver::shutdown`] stops it.
pub struct Receiver {
    addr: SocketAddr,
    url: Url,
    shared: Shared,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("addr", &self.addr)
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let payload: Option<Value> = serde_json::from_slice(&body).ok();
    let delivery_id = header(&headers, "stageos-delivery-id");
    let mut log = shared.log.lock().unwrap_or_else(|e| e.into_inner());
    let attempt = 1 + log
        .iter()
        .filter(|r| r.delivery_id.is_some() && r.delivery_id == delivery_id)
        .count() as u32;
    let subject = payload
        .as_ref()
        .and_then(|p| p.get("data")?.get("id")?.as_str().map(str::to_owned));
    let fail = attempt == 1
        && subject.is_some_and(|s| {
            shared
                .fail_first_subjects
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&s)
        });
    let answered = if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    log.push(Received {
        at_unix: time::OffsetDateTime::now_utc().unix_timestamp(),
        event_id: header(&headers, "stageos-event-id"),
        delivery_id,
        signature: header(&headers, "stageos-signature"),
        body,
        payload,
        attempt,
        answered: answered.as_u16(),
    });
    let n = log.len();
    drop(log);
    shared.changed.send_replace(n);
    answered
}

impl Receiver {
    /// Bind `bind` (port 0 picks one) and serve. Deliveries are accepted on any path;
    /// the URL to register is `public_url` when given, else
    /// `http://<bound address>/stageos-smoke/<run id>`.
    pub async fn start(
        bind: SocketAddr,
        public_url: Option<Url>,
        run_id: &str,
    ) -> std::io::Result<Receiver> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let (changed, _) = watch::channel(0usize);
        let shared = Shared {
            log: Arc::default(),
            fail_first_subjects: Arc::default(),
            changed,
        };
        let app = Router::new().fallback(receive).with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
        });
        let url = match public_url {
            Some(u) => u,
            None => Url::parse(&format!("http://{addr}/stageos-smoke/{run_id}"))
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
        };
        Ok(Receiver {
            addr,
            url,
            shared,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to register with the target.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Answer the first attempt of any delivery whose `data.id` is `subject` with 500.
    pub fn fail_first_attempt_for(&self, subject: &str) {
        self.shared
            .fail_first_subjects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(subject.to_owned());
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Wait until `pick` finds what it looks for in the log, or `deadline` passes
    /// (`None`). Woken by each arrival; no polling.
    pub async fn wait_for<T>(
        &self,
        deadline: Duration,
        mut pick: impl FnMut(&[Received]) -> Option<T>,
    ) -> Option<T> {
        let mut rx = self.shared.changed.subscribe();
        let until = tokio::time::Instant::now() + deadline;
        loop {
            rx.borrow_and_update();
            {
                let log = self.shared.log.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(v) = pick(&log) {
                    return Some(v);
                }
            }
            match tokio::time::timeout_at(until, rx.changed()).await {
                Ok(Ok(())) => continue,
                _ => return None,
            }
        }
    }

    /// Stop serving and wait for the server task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is not `t=<unix>,v1=<hex>`.
    #[error("malformed StageOS-Signature header `{0}`")]
    Malformed(String),
    /// `t` is too far from the receiver's clock.
    #[error("timestamp t={t} is {skew} s away from the receiver's clock (tolerance {tolerance} s)")]
    Stale {
        /// The header's time.
        t: i64,
        /// Distance from now (unsigned: `now - t` of a hostile `t` overflows `i64`).
        skew: u64,
        /// Allowed distance.
        tolerance: i64,
    },
    /// No `v1` matches HMAC-SHA256(secret, "t.body").
    #[error("no v1 signature matches HMAC-SHA256(secret, \"<t>.<body>\")")]
    Mismatch,
}

/// Verify a `StageOS-Signature` header for `body` with `secret` at time `now`.
pub fn verify_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance: i64,
) -> Result<(), SignatureError> {
    let malformed = || SignatureError::Malformed(header.chars().take(20).collect::<String>() + "…");
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse::<i64>().map_err(|_| malformed())?),
            Some(("v1", v)) => sigs.push(hex::decode(v).map_err(|_| malformed())?),
            Some(_) => {}
            None => return Err(malformed()),
        }
    }
    let t = t.ok_or_else(malformed)?;
    if sigs.is_empty() {
        return Err(malformed());
    }
    // `abs_diff`: a hostile `t=-9223372036854775808` must be refused as stale, not
    // overflow (a panic in debug, a wrapped "fresh" skew in release).
    let skew = now.abs_diff(t);
    if skew > tolerance.unsigned_abs() {
        return Err(SignatureError::Stale { t, skew, tolerance });
    }
    for sig in sigs {
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
            .map_err(|_| SignatureError::Mismatch)?;
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        if mac.verify_slice(&sig).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, body: &[u8]) -> String {
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn known_vector() {
        // python3: hmac.new(b"whsec_test", b"1700000000.{}", hashlib.sha256).hexdigest()
        let h = "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91";
        assert_eq!(sign("whsec_test", 1_700_000_000, b"{}"), h);
        assert!(verify_signature("whsec_test", h, b"{}", 1_700_000_100, 300).is_ok());
    }

    #[test]
    fn rejects_wrong_secret_body_time_and_junk() {
        let h = sign("whsec_a", 1000, b"{\"x\":1}");
        assert_eq!(
            verify_signature("whsec_b", &h, b"{\"x\":1}", 1000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature("whsec_a", &h, b"{\"x\":2}", 1000, 300),
            Err(SignatureError::Mismatch)
        );
        assert!(matches!(
            verify_signature("whsec_a", &h, b"{\"x\":1}", 1400, 300),
            Err(SignatureError::Stale { skew: 400, .. })
        ));
        assert!(matches!(
            verify_signature("whsec_a", "v1=zz", b"", 0, 300),
            Err(SignatureError::Malformed(_))
        ));
        assert!(matches!(
            verify_signature("whsec_a", "t=5", b"", 5, 300),
            Err(SignatureError::Malformed(_))
        ));
        // A signature over the body alone (no "t." prefix) is not accepted.
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(b"whsec_a").unwrap();
        mac.update(b"{}");
        let body_only = format!("t=1000,v1={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(
            verify_signature("whsec_a", &body_only, b"{}", 1000, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn hostile_timestamps_are_stale_not_an_overflow() {
        for t in [i64::MIN, i64::MAX, -1] {
            let h = format!("t={t},v1={}", "00".repeat(32));
            match verify_signature("whsec_a", &h, b"{}", 1_700_000_000, 300) {
                Err(SignatureError::Stale { skew, .. }) => {
                    assert_eq!(skew, 1_700_000_000i64.abs_diff(t), "t={t}")
                }
                other => panic!("t={t}: {other:?}"),
            }
        }
        // The receiver's own clock at an extreme is no overflow either.
        let h = sign("whsec_a", i64::MIN, b"x");
        assert!(matches!(
            verify_signature("whsec_a", &h, b"x", i64::MAX, 300),
            Err(SignatureError::Stale { skew: u64::MAX, .. })
        ));
    }

    #[test]
    fn any_matching_v1_is_enough() {
        let good = sign("whsec_a", 1000, b"b");
        let v1 = good.split_once("v1=").unwrap().1;
        let h = format!("t=1000,v1={},v1={v1}", "00".repeat(32));
        assert!(verify_signature("whsec_a", &h, b"b", 1000, 300).is_ok());
    }

    #[tokio::test]
    async fn records_fails_first_attempt_and_wakes_waiters() {
        let r = Receiver::start(SocketAddr::from(([127, 0, 0, 1], 0)), None, "run-1")
            .await
            .unwrap();
        r.fail_first_attempt_for("subj");
        let url = r.url().to_string();
        let client = reqwest_client();
        let send = |d: &'static str| {
            let client = client.clone();
            let url = url.clone();
            async move {
                client
                    .post(&url)
                    .header("StageOS-Delivery-Id", d)
                    .header("StageOS-Event-Id", "e1")
                    .body(r#"{"id":"e1","type":"event.updated","data":{"id":"subj"}}"#)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        let waiter = r.wait_for(Duration::from_secs(5), |log| {
            log.iter().find(|x| x.attempt == 2).map(|x| x.answered)
        });
        let (got, first, second) = tokio::join!(waiter, send("d1"), async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            send("d1").await
        });
        assert_eq!((first, second), (500, 200));
        assert_eq!(got, Some(200));
        assert_eq!(r.received().len(), 2);
        assert_eq!(r.received()[0].subject_id(), Some("subj"));
        assert!(
            r.wait_for(Duration::from_millis(30), |log| log
                .iter()
                .find(|x| x.attempt == 3)
                .map(|_| ()))
                .await
                .is_none()
        );
        r.shutdown().await;
    }

    fn reqwest_client() -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::new()
    }
}
