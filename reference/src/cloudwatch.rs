//! ALB-like CloudWatch metrics, published to a local emulator.
//!
//! In production the load balancer in front of StageOS publishes, per minute,
//! `TargetResponseTime` (every request's latency, seconds), `RequestCount` and
//! `HTTPCode_Target_5XX_Count` (only for minutes with 5xx answers) under
//! `AWS/ApplicationELB` with the `LoadBalancer` dimension. The reference server
//! does the same when given an emulator endpoint, so its latency and error-rate
//! faults move the numbers the suite's CloudWatch gates read.
//!
//! Every request is recorded into its minute bucket ([`AlbRecorder`]); a flush
//! publishes what was recorded since the previous flush, each datum timestamped with
//! its minute. CloudWatch (and ministack) aggregate several datums of one minute, so
//! flushing every few hundred milliseconds (tests) gives the same per-minute numbers
//! as flushing once a minute. Latencies are sent as `Values`/`Counts` (rounded to
//! 0.1 ms, at most 150 distinct values per datum, as the API requires), so
//! percentiles are computed from the raw samples.
//!
//! Only loopback endpoints are accepted, with fake static credentials: the
//! reference server never talks to real AWS.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

/// Where and how to publish.
#[derive(Clone, Debug, PartialEq)]
pub struct CloudWatchPublish {
    /// The emulator, e.g. `http://127.0.0.1:4566` (loopback only).
    pub endpoint_url: String,
    /// Region.
    pub region: String,
    /// `LoadBalancer` dimension value, e.g. `app/stageos-reference/0001`.
    pub load_balancer: String,
    /// Namespace (`AWS/ApplicationELB`).
    pub namespace: String,
    /// How often recorded requests are published.
    pub flush_interval: Duration,
}

impl CloudWatchPublish {
    /// Defaults for an emulator at `endpoint_url`.
    pub fn emulator(endpoint_url: impl Into<String>, load_balancer: impl Into<String>) -> Self {
        Self {
            endpoint_url: endpoint_url.into(),
            region: "us-east-1".to_owned(),
            load_balancer: load_balancer.into(),
            namespace: "AWS/ApplicationELB".to_owned(),
            flush_interval: Duration::from_secs(10),
        }
    }

    /// Refuses anything but a loopback http(s) URL.
    pub fn validate(&self) -> Result<(), String> {
        let rest = self
            .endpoint_url
            .strip_prefix("http://")
            .or_else(|| self.endpoint_url.strip_prefix("https://"))
            .ok_or_else(|| {
                format!(
                    "CloudWatch endpoint `{}` is not an http(s) URL",
                    self.endpoint_url
                )
            })?;
        let host_port = rest.split('/').next().unwrap_or_default();
        let host = if let Some(v6) = host_port.strip_prefix('[') {
            v6.split(']').next().unwrap_or_default()
        } else {
            host_port
                .rsplit_once(':')
                .map(|(h, _)| h)
                .unwrap_or(host_port)
        };
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if loopback {
            Ok(())
        } else {
            Err(format!(
                "CloudWatch endpoint `{}` is not on loopback: the reference server publishes only to a local emulator",
                self.endpoint_url
            ))
        }
    }
}

#[derive(Debug, Default)]
struct MinuteAgg {
    /// Latency in tenths of a millisecond → count.
    latencies: BTreeMap<u64, u32>,
    requests: u64,
    errors_5xx: u64,
}

/// Requests per minute since the last flush.
#[derive(Debug, Default)]
pub struct AlbRecorder {
    enabled: AtomicBool,
    minutes: Mutex<BTreeMap<i64, MinuteAgg>>,
}

impl AlbRecorder {
    /// Start (or stop) recording.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// Record one request answered at `at_unix` (seconds).
    pub fn record(&self, at_unix: i64, elapsed: Duration, status: u16) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        let minute = at_unix.div_euclid(60) * 60;
        let tenths = (elapsed.as_secs_f64() * 10_000.0).round() as u64;
        let mut m = self.minutes.lock().unwrap_or_else(|e| e.into_inner());
        let agg = m.entry(minute).or_default();
        *agg.latencies.entry(tenths).or_insert(0) += 1;
        agg.requests += 1;
        if (500..600).contains(&status) {
            agg.errors_5xx += 1;
        }
    }

    fn take(&self) -> BTreeMap<i64, MinuteAgg> {
        std::mem::take(&mut *self.minutes.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn put_back(&self, data: BTreeMap<i64, MinuteAgg>) {
        let mut m = self.minutes.lock().unwrap_or_else(|e| e.into_inner());
        for (minute, agg) in data {
            let into = m.entry(minute).or_default();
            for (v, c) in agg.latencies {
                *into.latencies.entry(v).or_insert(0) += c;
            }
            into.requests += agg.requests;
            into.errors_5xx += agg.errors_5xx;
        }
    }
}

fn datums(load_balancer: &str, data: &BTreeMap<i64, MinuteAgg>) -> Vec<MetricDatum> {
    let dim = Dimension::builder()
        .name("LoadBalancer")
        .value(load_balancer)
        .build();
    let mut out = Vec::new();
    for (minute, agg) in data {
        let ts = DateTime::from_secs(*minute);
        let pairs: Vec<(&u64, &u32)> = agg.latencies.iter().collect();
        for chunk in pairs.chunks(150) {
            out.push(
                MetricDatum::builder()
                    .metric_name("TargetResponseTime")
                    .dimensions(dim.clone())
                    .timestamp(ts)
                    .unit(StandardUnit::Seconds)
                    .set_values(Some(
                        chunk.iter().map(|(v, _)| **v as f64 / 10_000.0).collect(),
                    ))
                    .set_counts(Some(chunk.iter().map(|(_, c)| f64::from(**c)).collect()))
                    .build(),
            );
        }
        out.push(
            MetricDatum::builder()
                .metric_name("RequestCount")
                .dimensions(dim.clone())
                .timestamp(ts)
                .unit(StandardUnit::Count)
                .value(agg.requests as f64)
                .build(),
        );
        if agg.errors_5xx > 0 {
            out.push(
                MetricDatum::builder()
                    .metric_name("HTTPCode_Target_5XX_Count")
                    .dimensions(dim.clone())
                    .timestamp(ts)
                    .unit(StandardUnit::Count)
                    .value(agg.errors_5xx as f64)
                    .build(),
            );
        }
    }
    out
}

/// Publishes an [`AlbRecorder`] to CloudWatch.
#[derive(Debug)]
pub struct Publisher {
    client: Client,
    config: CloudWatchPublish,
}

impl Publisher {
    /// A publisher for `config` (validated: loopback only).
    pub fn new(config: CloudWatchPublish) -> Result<Self, String> {
        config.validate()?;
        // The SDK's default HTTPS client would build aws-lc from C; the emulator
        // is plain HTTP on loopback, and rustls + ring is what the rest uses.
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let conf = aws_sdk_cloudwatch::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(http)
            .region(Region::new(config.region.clone()))
            .endpoint_url(config.endpoint_url.trim_end_matches('/'))
            .credentials_provider(Credentials::new(
                "stageos-reference-fake",
                "stageos-reference-fake",
                None,
                None,
                "stageos-reference-emulator",
            ))
            .build();
        Ok(Self {
            client: Client::from_conf(conf),
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &CloudWatchPublish {
        &self.config
    }

    /// Publish what `recorder` holds; on failure the data goes back for the next try.
    /// Returns the number of requests published.
    pub async fn flush(&self, recorder: &AlbRecorder) -> Result<u64, String> {
        let data = recorder.take();
        if data.is_empty() {
            return Ok(0);
        }
        let requests = data.values().map(|a| a.requests).sum();
        let all = datums(&self.config.load_balancer, &data);
        for chunk in all.chunks(500) {
            if let Err(e) = self
                .client
                .put_metric_data()
                .namespace(&self.config.namespace)
                .set_metric_data(Some(chunk.to_vec()))
                .send()
                .await
            {
                recorder.put_back(data);
                return Err(format!(
                    "failed to publish ALB metrics to {}: {}",
                    self.config.endpoint_url,
                    aws_sdk_cloudwatch::error::DisplayErrorContext(&e)
                ));
            }
        }
        Ok(requests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only() {
        let ok = |u: &str| CloudWatchPublish::emulator(u, "lb").validate();
        assert!(ok("http://127.0.0.1:4566").is_ok());
        assert!(ok("http://localhost:4566/").is_ok());
        assert!(ok("http://[::1]:4566").is_ok());
        assert!(ok("https://monitoring.us-east-1.amazonaws.com").is_err());
        assert!(ok("http://10.0.0.1:4566").is_err());
        assert!(ok("ftp://127.0.0.1").is_err());
    }

    #[test]
    fn recorder_buckets_per_minute_and_counts_5xx() {
        let r = AlbRecorder::default();
        r.record(120, Duration::from_millis(5), 200);
        assert!(r.take().is_empty(), "disabled: nothing recorded");
        r.set_enabled(true);
        r.record(121, Duration::from_millis(5), 200);
        r.record(179, Duration::from_millis(5), 503);
        r.record(180, Duration::from_millis(300), 200);
        let d = datums("lb", &r.take());
        let names: Vec<_> = d.iter().filter_map(|x| x.metric_name()).collect();
        assert_eq!(
            names,
            [
                "TargetResponseTime",
                "RequestCount",
                "HTTPCode_Target_5XX_Count",
                "TargetResponseTime",
                "RequestCount"
            ]
        );
        assert_eq!(d[0].values(), [0.005]);
        assert_eq!(d[0].counts(), [2.0]);
        assert_eq!(d[1].value(), Some(2.0));
        assert_eq!(d[3].values(), [0.3]);
    }
}
