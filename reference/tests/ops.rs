//! Health and metrics of the reference server.

mod common;

use common::start;
use serde_json::Value;
use stageos_reference::Role;

#[tokio::test]
async fn health_reports_ok() {
    let ctx = start(vec![]).await;
    let resp = ctx
        .http
        .get(ctx.url("/api/health"))
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], "v1.4.0-20261125");
    assert_eq!(body["commit"], "0000000");
    assert!(
        body["started_at"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z'))
    );
    for check in ["database", "queue", "storage"] {
        assert_eq!(body["checks"][check]["status"], "ok", "{check}");
        assert!(body["checks"][check]["latency_ms"].is_u64());
    }
    assert_eq!(body["migrations"]["status"], "in_sync");
    assert_eq!(body["migrations"]["pending"], 0);
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn unknown_route_is_json_404() {
    let ctx = start(vec![]).await;
    let resp = ctx
        .http
        .get(ctx.url("/api/nope"))
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), 404);
    assert_eq!(common::error_code(resp).await, "not_found");
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn metrics_parse_and_use_route_templates() {
    let ctx = start(vec![]).await;
    let (token, _) = ctx.login(Role::Crew).await;
    assert_eq!(ctx.me(&token).await.status(), 200);
    let _ = ctx
        .http
        .get(ctx.url("/api/nope/123"))
        .send()
        .await
        .expect("req");
    let resp = ctx.http.get(ctx.url("/metrics")).send().await.expect("req");
    assert_eq!(resp.status(), 200);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = resp.text().await.expect("text");
    let scrape =
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parses");
    let find = |name: &str, label: &str, value: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && s.labels.get(label) == Some(value))
    };
    let me = find("http_requests_total", "route", "/api/me").expect("me counted");
    assert_eq!(me.labels.get("method"), Some("GET"));
    assert_eq!(me.labels.get("status"), Some("200"));
    assert!(matches!(me.value, prometheus_parse::Value::Counter(v) if v == 1.0));
    assert!(find("http_requests_total", "route", "unmatched").is_some());
    assert!(
        !text.contains("/api/nope/123"),
        "raw paths never become labels"
    );
    let hist =
        find("http_request_duration_seconds", "route", "/api/auth/login").expect("histogram");
    assert!(matches!(hist.value, prometheus_parse::Value::Histogram(_)));
    for queue in ["pdf", "scan", "webhooks"] {
        let depth = find("queue_depth", "queue", queue).expect("queue depth");
        assert!(matches!(depth.value, prometheus_parse::Value::Gauge(v) if v == 0.0));
        assert!(find("jobs_failed_total", "queue", queue).is_some());
    }
    let stripe = find("stripe_webhook_events_total", "status", "succeeded").expect("stripe");
    assert!(matches!(stripe.value, prometheus_parse::Value::Counter(v) if v >= 1.0));
    assert!(find("webhook_deliveries_total", "status", "succeeded").is_some());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let analytics = scrape
        .samples
        .iter()
        .find(|s| s.metric == "analytics_aggregation_last_success_timestamp_seconds")
        .expect("analytics");
    assert!(
        matches!(analytics.value, prometheus_parse::Value::Gauge(v) if (now - v).abs() < 120.0)
    );
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric == "ip_anomaly_events_total")
    );
    assert!(find("auth_failures_total", "reason", "invalid_mfa_code").is_some());
    ctx.server.shutdown().await;
}
