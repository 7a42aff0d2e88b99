//! Prometheus metrics.
//!
//! The suite's metrics gate reads the same series names production exposes,
//! so this module registers exactly those (prometheus-client, Prometheus text
//! format 0.0.4). Requests are recorded under their *route template* (axum's
//! `MatchedPath`), never the raw path, to keep cardinality bounded; the
//! recording middleware lives in [`crate::app`](mod@crate::app), above the routes it times.
//!
//! Plumbing below the state: the registry knows no handler and no store.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::cloudwatch::AlbRecorder;
use crate::faults::{Fault, FaultSet};

/// Routes the error-rate fault never breaks: the operations endpoints.
pub const OPS_ROUTES: [&str; 2] = ["/api/health", "/metrics"];

/// Route label for requests no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Queues reported by `queue_depth` and `jobs_failed_total`.
pub const QUEUES: [&str; 3] = ["pdf", "scan", "webhooks"];

/// Histogram buckets (the Prometheus client defaults), in seconds.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// `{method, route, status}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// HTTP method.
    pub method: String,
    /// Matched route template.
    pub route: String,
    /// Response status code.
    pub status: u16,
}

/// `{queue}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    /// Queue name.
    pub queue: String,
}

/// `{status}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    /// Outcome.
    pub status: String,
}

/// `{reason}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Failure reason (an error code).
    pub reason: String,
}

fn new_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Every metric the server exposes.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `http_request_duration_seconds`.
    pub request_duration: Family<HttpLabels, Histogram, fn() -> Histogram>,
    /// `http_requests_total`.
    pub requests: Family<HttpLabels, Counter>,
    /// `queue_depth`.
    pub queue_depth: Family<QueueLabels, Gauge>,
    /// `jobs_failed_total`.
    pub jobs_failed: Family<QueueLabels, Counter>,
    /// `webhook_deliveries_total`.
    pub webhook_deliveries: Family<StatusLabels, Counter>,
    /// `stripe_webhook_events_total`.
    pub stripe_webhook_events: Family<StatusLabels, Counter>,
    /// `analytics_aggregation_last_success_timestamp_seconds`.
    pub analytics_last_success: Gauge<f64, AtomicU64>,
    /// `retention_purge_last_success_timestamp_seconds`.
    pub retention_purge_last_success: Gauge<f64, AtomicU64>,
    /// `error_tracking_last_event_timestamp_seconds` (the error-tracking heartbeat).
    pub error_tracking_last_event: Gauge<f64, AtomicU64>,
    /// `auth_failures_total`.
    pub auth_failures: Family<ReasonLabels, Counter>,
    /// `ip_anomaly_events_total`.
    pub ip_anomaly_events: Counter,
    /// Per-minute ALB-like samples for CloudWatch (recording only while publishing).
    pub alb: AlbRecorder,
    /// Sequence of requests the error-rate fault judges.
    error_seq: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric and seeds the series a fresh deployment has.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let request_duration =
            Family::<HttpLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                new_histogram as fn() -> Histogram,
            );
        let requests = Family::<HttpLabels, Counter>::default();
        let queue_depth = Family::<QueueLabels, Gauge>::default();
        let jobs_failed = Family::<QueueLabels, Counter>::default();
        let webhook_deliveries = Family::<StatusLabels, Counter>::default();
        let stripe_webhook_events = Family::<StatusLabels, Counter>::default();
        let analytics_last_success = Gauge::<f64, AtomicU64>::default();
        let retention_purge_last_success = Gauge::<f64, AtomicU64>::default();
        let error_tracking_last_event = Gauge::<f64, AtomicU64>::default();
        let auth_failures = Family::<ReasonLabels, Counter>::default();
        let ip_anomaly_events = Counter::default();

        // Counter names omit `_total`: prometheus-client appends it.
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method, route template and status",
            request_duration.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by method, route template and status",
            requests.clone(),
        );
        registry.register("queue_depth", "Jobs waiting per queue", queue_depth.clone());
        registry.register(
            "jobs_failed",
            "Jobs that failed for good per queue",
            jobs_failed.clone(),
        );
        registry.register(
            "webhook_deliveries",
            "Outgoing webhook deliveries by outcome",
            webhook_deliveries.clone(),
        );
        registry.register(
            "stripe_webhook_events",
            "Incoming Stripe webhook events by outcome",
            stripe_webhook_events.clone(),
        );
        registry.register(
            "analytics_aggregation_last_success_timestamp_seconds",
            "Unix time of the last successful analytics aggregation",
            analytics_last_success.clone(),
        );
        registry.register(
            "retention_purge_last_success_timestamp_seconds",
            "Unix time of the last successful retention/erasure purge run",
            retention_purge_last_success.clone(),
        );
        registry.register(
            "error_tracking_last_event_timestamp_seconds",
            "Unix time of the last event sent to error tracking (0 when none yet)",
            error_tracking_last_event.clone(),
        );
        registry.register(
            "auth_failures",
            "Authentication failures by reason",
            auth_failures.clone(),
        );
        registry.register(
            "ip_anomaly_events",
            "Logins flagged as coming from an anomalous IP",
            ip_anomaly_events.clone(),
        );

        for queue in QUEUES {
            let labels = QueueLabels {
                queue: queue.to_owned(),
            };
            queue_depth.get_or_create(&labels).set(0);
            // Create the zero series so dashboards see it before the first failure.
            let _ = jobs_failed.get_or_create(&labels);
        }
        for status in ["succeeded", "failed"] {
            let _ = webhook_deliveries.get_or_create(&StatusLabels {
                status: status.to_owned(),
            });
        }
        stripe_webhook_events
            .get_or_create(&StatusLabels {
                status: "succeeded".to_owned(),
            })
            .inc_by(3);
        let _ = stripe_webhook_events.get_or_create(&StatusLabels {
            status: "failed".to_owned(),
        });
        for reason in ["invalid_credentials", "invalid_mfa_code", "rate_limited"] {
            let _ = auth_failures.get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            });
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        analytics_last_success.set(now);
        retention_purge_last_success.set(now);
        error_tracking_last_event.set(now);

        Self {
            registry,
            request_duration,
            requests,
            queue_depth,
            jobs_failed,
            webhook_deliveries,
            stripe_webhook_events,
            analytics_last_success,
            retention_purge_last_success,
            error_tracking_last_event,
            auth_failures,
            ip_anomaly_events,
            alb: AlbRecorder::default(),
            error_seq: AtomicU64::new(0),
        }
    }

    /// Background activity a live StageOS shows between two scrapes, simulated at
    /// each `/metrics` scrape: one Stripe webhook event arrives (and fails under
    /// `stripe-failures`), the hourly analytics aggregation keeps its timestamp
    /// fresh; and the metrics faults take effect.
    pub fn on_scrape(&self, faults: &FaultSet) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        let stripe_status = if faults.has(&Fault::StripeFailures) {
            "failed"
        } else {
            "succeeded"
        };
        self.stripe_webhook_events
            .get_or_create(&StatusLabels {
                status: stripe_status.to_owned(),
            })
            .inc();
        if faults.has(&Fault::AnalyticsStale) {
            self.analytics_last_success.set(now - 3.0 * 86_400.0);
        } else if now - self.analytics_last_success.get() > 3600.0 {
            self.analytics_last_success.set(now);
        }
        // The daily purge and the error-tracking heartbeat, kept fresh the same way.
        for (gauge, fault, stale_s) in [
            (
                &self.retention_purge_last_success,
                Fault::RetentionPurgeStale,
                3.0 * 86_400.0,
            ),
            (
                &self.error_tracking_last_event,
                Fault::ErrorTrackingSilent,
                2.0 * 86_400.0,
            ),
        ] {
            if faults.has(&fault) {
                gauge.set(now - stale_s);
            } else if now - gauge.get() > 600.0 {
                gauge.set(now);
            }
        }
        let pdf = QueueLabels {
            queue: "pdf".to_owned(),
        };
        if faults.has(&Fault::QueueDepthHigh) {
            self.queue_depth.get_or_create(&pdf).set(5000);
        }
        if faults.has(&Fault::JobsFailedRising) {
            self.jobs_failed.get_or_create(&pdf).inc();
        }
        if faults.has(&Fault::AuthFailureSpike) {
            self.auth_failures
                .get_or_create(&ReasonLabels {
                    reason: "invalid_credentials".to_owned(),
                })
                .inc_by(500);
            self.ip_anomaly_events.inc_by(50);
        }
    }

    /// Whether the next request fails under an error rate of `percent` %: failures
    /// are spread evenly (request n fails when ⌊(n+1)·p/100⌋ > ⌊n·p/100⌋), so any
    /// 100 consecutive requests hold exactly `percent` failures.
    pub fn error_rate_hit(&self, percent: u8) -> bool {
        let n = self.error_seq.fetch_add(1, Ordering::Relaxed);
        let p = u64::from(percent.min(100));
        (n + 1) * p / 100 > n * p / 100
    }

    /// Counts one authentication failure.
    pub fn auth_failure(&self, reason: &str) {
        self.auth_failures
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Records one finished request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let labels = HttpLabels {
            method: method.to_owned(),
            route: route.to_owned(),
            status,
        };
        self.request_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        self.requests.get_or_create(&labels).inc();
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// `Content-Type` of [`Metrics::encode`].
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
