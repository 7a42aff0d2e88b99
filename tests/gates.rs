//! `cargo test --test gates`: the verification gates end to end.
//!
//! Health and metrics gates run against reference servers started here, one fault
//! at a time. The CloudWatch gates and the canary need the emulator: the one at
//! `STAGEOS_TEST_CLOUDWATCH_ENDPOINT` (loopback only; fake static credentials), else
//! the pinned one this process starts on first use and stops at the end
//! (`tests/harness/mod.rs`). Where it cannot start those trials fail with the
//! reason and the fix; only `STAGEOS_TEST_SKIP_EMULATOR=1` reports them ignored —
//! never a silent pass. Each CloudWatch trial uses its own `LoadBalancer` /
//! `Canary` dimension value instead of resetting the emulator.

mod harness;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat, StandardUnit,
    Statistic,
};
use libtest_mimic::{Arguments, Completion, Failed, Trial};

use stageos_reference::cloudwatch::CloudWatchPublish;
use stageos_reference::{Fault, RunningServer, ServerOptions};
use stageos_smoke::config::{EnvSnapshot, Overrides, Settings};
use stageos_smoke::gates::Verdict;
use stageos_smoke::gates::cloudwatch::{self as cw, alarms_verdict};
use stageos_smoke::gates::settings::{AlarmRequirement, CloudWatchSettings};
use stageos_smoke::gates::stats::{WEEK_S, align_down};
use stageos_smoke::outcome::{RunReport, StepOutcome};
use stageos_smoke::runner::{self, RunOptions};
use stageos_smoke::secrets::Redactor;
use stageos_smoke::selection::Selection;

/// The emulator endpoint variable.
const ENDPOINT_VAR: &str = "STAGEOS_TEST_CLOUDWATCH_ENDPOINT";
/// Where these trials find the emulator, in order.
const EMULATOR_VARS: &[&str] = &[ENDPOINT_VAR];

use harness::{TestResult, check, runtime, summary};

/// Run `f` with the emulator endpoint (see [`harness::emulator`]), or fail or
/// ignore the trial with the reason.
fn with_emulator(f: impl FnOnce(String) -> Result<(), Failed>) -> TestResult {
    harness::with_emulator(EMULATOR_VARS, f)
}

async fn start(
    faults: Vec<Fault>,
    version: &str,
    cloudwatch: Option<CloudWatchPublish>,
) -> RunningServer {
    let _ = rustls::crypto::ring::default_provider().install_default();
    RunningServer::start(ServerOptions {
        faults,
        version: version.to_owned(),
        cloudwatch,
        ..ServerOptions::default()
    })
    .await
    .expect("reference server starts")
}

struct SuiteRun<'a> {
    base_url: String,
    profile: &'a str,
    filter: &'a str,
    env: Vec<(&'static str, String)>,
    config: Option<PathBuf>,
    environment: Option<&'a str>,
    expect_version: Option<&'a str>,
}

impl<'a> SuiteRun<'a> {
    fn new(base_url: String, filter: &'a str) -> Self {
        Self {
            base_url,
            profile: "canary",
            filter,
            env: Vec::new(),
            config: None,
            environment: None,
            expect_version: None,
        }
    }

    async fn run(self) -> Result<RunReport, Failed> {
        let dir =
            std::env::temp_dir().join(format!("stageos-gates-{}", uuid::Uuid::new_v4().simple()));
        let overrides = Overrides {
            target: Some(self.base_url),
            profile: Some(self.profile.to_owned()),
            environment: self.environment.map(str::to_owned),
            config: self.config,
            report_dir: Some(dir),
            expect_version: self.expect_version.map(str::to_owned),
            ..Overrides::default()
        };
        let env = EnvSnapshot::from_pairs(self.env);
        let settings = Settings::resolve(&overrides, &env)
            .map_err(|e| Failed::from(format!("settings: {e}")))?;
        let options = RunOptions {
            selection: Selection {
                filter: Some(self.filter.to_owned()),
                ..Selection::default()
            },
            concurrency: 4,
        };
        Ok(runner::run(&settings, &options, &env, &Redactor::new()).await)
    }
}

fn outcome<'r>(report: &'r RunReport, name: &str) -> Result<&'r StepOutcome, Failed> {
    report
        .steps
        .iter()
        .find(|s| s.full_name() == name)
        .map(|s| &s.outcome)
        .ok_or_else(|| {
            Failed::from(format!(
                "step {name} not in the report: {:?}",
                report
                    .steps
                    .iter()
                    .map(|s| s.full_name())
                    .collect::<Vec<_>>()
            ))
        })
}

fn is_passed(o: &StepOutcome) -> bool {
    matches!(o, StepOutcome::Passed)
}

// ---------------------------------------------------------------- health and metrics

fn metrics_gates_pass_on_a_healthy_reference() -> TestResult {
    runtime().block_on(async {
        let server = start(vec![], "v1", None).await;
        let report = SuiteRun::new(server.base_url(), "metrics::").run().await?;
        server.shutdown().await;
        check(
            report.steps.len() == 7 && report.steps.iter().all(|s| is_passed(&s.outcome)),
            || summary(&report),
        )?;
        Ok(Completion::Completed)
    })
}

/// `fault` fails exactly the steps in `failing`; every other metrics step passes.
fn metrics_fault_fails_its_gate(
    fault: &'static str,
    failing: &'static [&'static str],
) -> TestResult {
    runtime().block_on(async {
        let server = start(
            vec![fault.parse().map_err(|e| Failed::from(format!("{e}")))?],
            "v1",
            None,
        )
        .await;
        let report = SuiteRun::new(server.base_url(), "metrics::").run().await?;
        server.shutdown().await;
        for s in &report.steps {
            let name = s.full_name();
            if failing.contains(&name.as_str()) {
                check(matches!(s.outcome, StepOutcome::Failed { .. }), || {
                    format!("{fault}: {name} should fail:\n{}", summary(&report))
                })?;
            } else {
                check(is_passed(&s.outcome), || {
                    format!("{fault}: {name} should pass:\n{}", summary(&report))
                })?;
            }
        }
        Ok(Completion::Completed)
    })
}

fn malformed_exposition_is_an_error_not_a_crash() -> TestResult {
    runtime().block_on(async {
        let server = start(vec![Fault::MetricsMalformed], "v1", None).await;
        let report = SuiteRun::new(server.base_url(), "metrics::").run().await?;
        server.shutdown().await;
        match outcome(&report, "metrics::metrics_scraped")? {
            StepOutcome::Error { message } => check(
                message.contains("malformed Prometheus exposition at line"),
                || message.clone(),
            )?,
            other => return Err(Failed::from(format!("expected an error, got {other:?}"))),
        }
        check(
            report
                .steps
                .iter()
                .skip(1)
                .all(|s| matches!(s.outcome, StepOutcome::Skipped { .. })),
            || summary(&report),
        )?;
        Ok(Completion::Completed)
    })
}

fn release_gates() -> TestResult {
    runtime().block_on(async {
        let api = start(vec![], "v2.0.0", None).await;
        let worker = start(vec![], "v2.0.0", None).await;
        let web = start(vec![Fault::VersionMismatch], "v2.0.0", None).await;
        let dir = std::env::temp_dir().join(format!("stageos-gates-cfg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).map_err(|e| Failed::from(e.to_string()))?;
        let config = dir.join("stageos-smoke.toml");
        let write = |web_url: &str| {
            std::fs::write(
                &config,
                format!("[environments.t.gates.services]\nworker = \"{}/api/health\"\nweb = \"{web_url}/api/health\"\n", worker.base_url()),
            )
        };
        // Same release everywhere, expected version given: both pass.
        write(&worker.base_url()).map_err(|e| Failed::from(e.to_string()))?;
        let mut run = SuiteRun::new(api.base_url(), "health::");
        run.config = Some(config.clone());
        run.environment = Some("t");
        run.expect_version = Some("v2.0.0");
        let ok = run.run().await?;
        check(ok.steps.iter().all(|s| is_passed(&s.outcome)), || summary(&ok))?;
        // The web service reports another release; the API another version than expected.
        write(&web.base_url()).map_err(|e| Failed::from(e.to_string()))?;
        let mut run = SuiteRun::new(api.base_url(), "health::");
        run.config = Some(config.clone());
        run.environment = Some("t");
        run.expect_version = Some("v2.0.1");
        let bad = run.run().await?;
        match outcome(&bad, "health::release_matches")? {
            StepOutcome::Failed { expected, actual, .. } => check(expected.contains("v2.0.1") && actual.contains("v2.0.0"), || format!("{expected} / {actual}"))?,
            other => return Err(Failed::from(format!("release_matches: {other:?}"))),
        }
        match outcome(&bad, "health::services_same_release")? {
            StepOutcome::Failed { actual, .. } => check(actual.contains("web reports v2.0.0-previous") && !actual.contains("worker"), || actual.clone())?,
            other => return Err(Failed::from(format!("services_same_release: {other:?}"))),
        }
        check(is_passed(outcome(&bad, "health::api_health_ok")?), || summary(&bad))?;
        // Without an expectation or services, the two release steps are skipped with a reason.
        let plain = SuiteRun::new(web.base_url(), "health::").run().await?;
        for step in ["health::release_matches", "health::services_same_release"] {
            check(matches!(outcome(&plain, step)?, StepOutcome::Skipped { reason } if reason.contains("hint")), || summary(&plain))?;
        }
        for s in [api, worker, web] {
            s.shutdown().await;
        }
        let _ = std::fs::remove_dir_all(dir);
        Ok(Completion::Completed)
    })
}

fn cloudwatch_gates_skip_without_configuration() -> TestResult {
    runtime().block_on(async {
        let server = start(vec![], "v1", None).await;
        let report = SuiteRun::new(server.base_url(), "baseline::").run().await?;
        server.shutdown().await;
        check(report.steps.len() == 4, || summary(&report))?;
        for s in &report.steps {
            check(matches!(&s.outcome, StepOutcome::Skipped { reason } if reason.contains("no CloudWatch configured")), || summary(&report))?;
        }
        Ok(Completion::Completed)
    })
}

// ---------------------------------------------------------------- CloudWatch (emulator)

fn cw_settings(endpoint: &str, load_balancer: &str) -> CloudWatchSettings {
    CloudWatchSettings {
        region: "us-east-1".into(),
        endpoint_url: Some(url::Url::parse(endpoint).expect("endpoint URL")),
        load_balancer: load_balancer.into(),
        namespace: "AWS/ApplicationELB".into(),
        deployed_at: None,
    }
}

fn now_s() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// One healthy minute as an ALB publishes it: 200 requests, latency spread evenly
/// over 5–25 ms (p95 ≈ 24 ms), no 5xx.
fn healthy_minute(lb: &str, minute: i64) -> Vec<MetricDatum> {
    let dim = Dimension::builder().name("LoadBalancer").value(lb).build();
    let ts = DateTime::from_secs(minute);
    vec![
        MetricDatum::builder()
            .metric_name("TargetResponseTime")
            .dimensions(dim.clone())
            .timestamp(ts)
            .unit(StandardUnit::Seconds)
            .set_values(Some((5..=25).map(|ms| f64::from(ms) / 1000.0).collect()))
            .set_counts(Some(vec![200.0 / 21.0; 21]))
            .build(),
        MetricDatum::builder()
            .metric_name("RequestCount")
            .dimensions(dim)
            .timestamp(ts)
            .unit(StandardUnit::Count)
            .value(200.0)
            .build(),
    ]
}

/// Seed a healthy baseline week before `deploy` (aligned): every 30 minutes over the
/// week, and every minute of the 30 minutes before the deploy and around the same
/// time a week earlier.
async fn seed_baseline_week(
    client: &Client,
    cws: &CloudWatchSettings,
    deploy: i64,
) -> Result<(), Failed> {
    let mut minutes: Vec<i64> = (1..=30).map(|i| deploy - 60 * i).collect();
    minutes.extend((-30..30).map(|i| deploy - WEEK_S + 60 * i));
    minutes.extend((1..(WEEK_S / 1800)).map(|i| deploy - 1800 * i));
    minutes.sort_unstable();
    minutes.dedup();
    let data: Vec<MetricDatum> = minutes
        .iter()
        .filter(|m| **m < deploy)
        .flat_map(|m| healthy_minute(&cws.load_balancer, *m))
        .collect();
    cw::put_metric_data(client, cws, &cws.namespace, data)
        .await
        .map_err(|e| Failed::from(e.to_string()))
}

/// Reference server publishing to the emulator under a fresh load balancer; traffic
/// of `requests` requests (half `/api/me`, half `/api/health`); the suite's
/// baseline flow judged as of the end of the traffic's last minute.
async fn cloudwatch_scenario(
    endpoint: &str,
    faults: Vec<Fault>,
    requests: usize,
) -> Result<RunReport, Failed> {
    let lb = format!("app/gates-test-{}/0001", uuid::Uuid::new_v4().simple());
    let cws = cw_settings(endpoint, &lb);
    let client = cw::client(&cws).await;
    let mut publish = CloudWatchPublish::emulator(endpoint, &lb);
    publish.flush_interval = Duration::from_millis(200);
    let server = start(faults, "v1", Some(publish)).await;
    let deploy = align_down(now_s(), 60);
    seed_baseline_week(&client, &cws, deploy).await?;
    let http = reqwest::Client::new();
    let base = server.base_url();
    let sends = (0..requests).map(|i| {
        let http = http.clone();
        let url = if i % 2 == 0 {
            format!("{base}/api/me")
        } else {
            format!("{base}/api/health")
        };
        async move { http.get(url).send().await.map(|r| r.status().as_u16()) }
    });
    let statuses: Vec<_> = futures::stream::iter(sends)
        .buffer_unordered(16)
        .collect()
        .await;
    check(statuses.iter().all(Result::is_ok), || {
        "traffic could not reach the reference".into()
    })?;
    server.flush_cloudwatch().await.map_err(Failed::from)?;
    let evaluate_at = align_down(now_s(), 60) + 60;
    let mut run = SuiteRun::new(base, "baseline::");
    run.env = vec![
        ("STAGEOS_CLOUDWATCH_ENDPOINT", endpoint.to_owned()),
        ("STAGEOS_CLOUDWATCH_LOAD_BALANCER", lb.clone()),
        ("STAGEOS_DEPLOYED_AT", deploy.to_string()),
        ("STAGEOS_GATES_AT", evaluate_at.to_string()),
    ];
    let report = run.run().await;
    server.shutdown().await;
    if let Ok(r) = &report {
        eprintln!("cloudwatch scenario ({lb}):\n{}", summary(r));
    }
    report
}

use futures::StreamExt;

fn cloudwatch_gates_pass_on_healthy_traffic() -> TestResult {
    with_emulator(|endpoint| {
        runtime().block_on(async {
            let report = cloudwatch_scenario(&endpoint, vec![], 160).await?;
            for step in [
                "baseline::alb_metrics_read",
                "baseline::p95_latency_vs_baseline",
                "baseline::error_budget_burn_rate",
            ] {
                check(is_passed(outcome(&report, step)?), || summary(&report))?;
            }
            Ok(())
        })
    })
}

fn latency_fault_fails_the_p95_gate() -> TestResult {
    with_emulator(|endpoint| {
        runtime().block_on(async {
            let fault = Fault::Latency {
                route: "/api/me".into(),
                ms: 300,
            };
            let report = cloudwatch_scenario(&endpoint, vec![fault], 160).await?;
            match outcome(&report, "baseline::p95_latency_vs_baseline")? {
                StepOutcome::Failed {
                    message,
                    expected,
                    actual,
                } => {
                    // Baseline, threshold and current all named.
                    check(
                        expected.contains("baseline p95")
                            && expected.contains("ms slack")
                            && expected.starts_with("≤ "),
                        || message.clone(),
                    )?;
                    let current: f64 = actual
                        .split(" ms")
                        .next()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0.0);
                    check(current >= 300.0, || {
                        format!("current p95 should be ≥ 300 ms: {actual}")
                    })?;
                }
                other => {
                    return Err(Failed::from(format!(
                        "p95 gate should fail: {other:?}\n{}",
                        summary(&report)
                    )));
                }
            }
            check(
                is_passed(outcome(&report, "baseline::error_budget_burn_rate")?),
                || summary(&report),
            )?;
            Ok(())
        })
    })
}

fn error_rate_fault_fails_the_error_budget_gate() -> TestResult {
    with_emulator(|endpoint| {
        runtime().block_on(async {
            let report =
                cloudwatch_scenario(&endpoint, vec![Fault::ErrorRate { percent: 5 }], 200).await?;
            match outcome(&report, "baseline::error_budget_burn_rate")? {
                StepOutcome::Failed {
                    expected, actual, ..
                } => {
                    check(expected.contains("14.4×"), || expected.clone())?;
                    let burn: f64 = actual
                        .strip_prefix("burn rate ")
                        .and_then(|r| r.split('×').next())
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0.0);
                    check(burn >= 14.4, || {
                        format!("burn rate should be ≥ 14.4: {actual}")
                    })?;
                }
                other => {
                    return Err(Failed::from(format!(
                        "error budget gate should fail: {other:?}\n{}",
                        summary(&report)
                    )));
                }
            }
            Ok(())
        })
    })
}

fn too_little_traffic_is_inconclusive() -> TestResult {
    with_emulator(|endpoint| {
        runtime().block_on(async {
            // Even with a broken target: 20 requests are not enough to judge.
            let report =
                cloudwatch_scenario(&endpoint, vec![Fault::ErrorRate { percent: 50 }], 20).await?;
            check(
                is_passed(outcome(&report, "baseline::alb_metrics_read")?),
                || summary(&report),
            )?;
            for step in [
                "baseline::p95_latency_vs_baseline",
                "baseline::error_budget_burn_rate",
            ] {
                match outcome(&report, step)? {
                    StepOutcome::Skipped { reason } => check(
                        reason.starts_with("inconclusive:")
                            && reason.contains("fewer than the 100 required"),
                        || reason.clone(),
                    )?,
                    other => {
                        return Err(Failed::from(format!(
                            "{step} should be inconclusive, got {other:?}"
                        )));
                    }
                }
            }
            Ok(())
        })
    })
}

fn alarms_gate_reads_describe_alarms() -> TestResult {
    with_emulator(|endpoint| {
        runtime().block_on(async {
            let prefix = format!("gates-test-{}-", uuid::Uuid::new_v4().simple());
            let cws = cw_settings(&endpoint, "unused");
            let client = cw::client(&cws).await;
            let reqs: Vec<AlarmRequirement> = [
                ("API latency", "AWS/ApplicationELB", "TargetResponseTime"),
                (
                    "5xx rate",
                    "AWS/ApplicationELB",
                    "HTTPCode_Target_5XX_Count",
                ),
                ("queue failures", "StageOS", "JobsFailed"),
                ("DB CPU", "AWS/RDS", "CPUUtilization"),
            ]
            .into_iter()
            .map(|(p, ns, m)| AlarmRequirement {
                purpose: p.into(),
                namespace: ns.into(),
                metric: m.into(),
                name_prefix: Some(prefix.clone()),
            })
            .collect();
            let list = |c: Client| {
                let cws = cws.clone();
                async move {
                    cw::describe_alarms(&c, &cws)
                        .await
                        .map_err(|e| Failed::from(e.to_string()))
                }
            };
            check(
                matches!(
                    alarms_verdict(&list(client.clone()).await?, &reqs),
                    Verdict::Fail { .. }
                ),
                || "no alarms yet: must fail".into(),
            )?;
            for (i, r) in reqs.iter().enumerate() {
                client
                    .put_metric_alarm()
                    .alarm_name(format!("{prefix}{i}"))
                    .namespace(&r.namespace)
                    .metric_name(&r.metric)
                    .statistic(Statistic::Average)
                    .period(60)
                    .evaluation_periods(1)
                    .threshold(1.0)
                    .comparison_operator(ComparisonOperator::GreaterThanThreshold)
                    .actions_enabled(i != 3)
                    .send()
                    .await
                    .map_err(|e| {
                        Failed::from(format!(
                            "{}",
                            aws_sdk_cloudwatch::error::DisplayErrorContext(&e)
                        ))
                    })?;
            }
            match alarms_verdict(&list(client.clone()).await?, &reqs) {
                Verdict::Fail { actual, .. } => check(
                    actual.contains("DB CPU")
                        && actual.contains("actions disabled")
                        && !actual.contains("API latency"),
                    || actual.clone(),
                )?,
                other => {
                    return Err(Failed::from(format!(
                        "a disabled alarm must fail: {other:?}"
                    )));
                }
            }
            client
                .put_metric_alarm()
                .alarm_name(format!("{prefix}3"))
                .namespace("AWS/RDS")
                .metric_name("CPUUtilization")
                .statistic(Statistic::Average)
                .period(60)
                .evaluation_periods(1)
                .threshold(80.0)
                .comparison_operator(ComparisonOperator::GreaterThanThreshold)
                .actions_enabled(true)
                .send()
                .await
                .map_err(|e| {
                    Failed::from(format!(
                        "{}",
                        aws_sdk_cloudwatch::error::DisplayErrorContext(&e)
                    ))
                })?;
            let v = alarms_verdict(&list(client.clone()).await?, &reqs);
            check(matches!(v, Verdict::Pass { .. }), || format!("{v:?}"))?;
            Ok(())
        })
    })
}

fn canary_publishes_and_reads_back() -> TestResult {
    with_emulator(|endpoint| {
        let name = format!("gates-test-{}", uuid::Uuid::new_v4().simple());
        let reports =
            std::env::temp_dir().join(format!("stageos-canary-{}", uuid::Uuid::new_v4().simple()));
        let started = now_s();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_stageos-smoke"))
            .env_clear()
            .env("STAGEOS_CLOUDWATCH_ENDPOINT", &endpoint)
            .env("STAGEOS_CANARY_NAME", &name)
            .env("STAGEOS_REPORT_DIR", &reports)
            .env("NO_COLOR", "1")
            .args([
                "canary",
                "--target",
                "embedded",
                "--interval",
                "1s",
                "--max-runs",
                "2",
            ])
            .output()
            .map_err(|e| Failed::from(format!("failed to run stageos-smoke canary: {e}")))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        check(out.status.code() == Some(0), || {
            format!("canary exit {:?}\n{stdout}\n{stderr}", out.status.code())
        })?;
        check(stdout.matches("canary: published").count() == 2, || {
            stdout.to_string()
        })?;
        let _ = std::fs::remove_dir_all(reports);
        runtime().block_on(async {
            let cws = cw_settings(&endpoint, "unused");
            let client = cw::client(&cws).await;
            let q = |id: &str, metric: &str, dims: &[(&str, &str)], stat: &str| {
                let mut m = Metric::builder()
                    .namespace("StageOS/Canary")
                    .metric_name(metric);
                for (k, v) in dims {
                    m = m.dimensions(Dimension::builder().name(*k).value(*v).build());
                }
                MetricDataQuery::builder()
                    .id(id)
                    .metric_stat(
                        MetricStat::builder()
                            .metric(m.build())
                            .period(3600)
                            .stat(stat)
                            .build(),
                    )
                    .build()
            };
            let resp = client
                .get_metric_data()
                .metric_data_queries(q(
                    "health",
                    "FlowSuccess",
                    &[("Canary", &name), ("Flow", "health")],
                    "SampleCount",
                ))
                .metric_data_queries(q(
                    "healthmin",
                    "FlowSuccess",
                    &[("Canary", &name), ("Flow", "health")],
                    "Minimum",
                ))
                .metric_data_queries(q("failed", "FailedSteps", &[("Canary", &name)], "Maximum"))
                .metric_data_queries(q("run", "RunSuccess", &[("Canary", &name)], "Minimum"))
                .metric_data_queries(q(
                    "step",
                    "StepDuration",
                    &[
                        ("Canary", &name),
                        ("Flow", "health"),
                        ("Step", "api_health_ok"),
                    ],
                    "SampleCount",
                ))
                .start_time(DateTime::from_secs(align_down(started, 3600) - 3600))
                .end_time(DateTime::from_secs(align_down(now_s(), 3600) + 3600))
                .send()
                .await
                .map_err(|e| {
                    Failed::from(format!(
                        "{}",
                        aws_sdk_cloudwatch::error::DisplayErrorContext(&e)
                    ))
                })?;
            let got: BTreeMap<String, f64> = resp
                .metric_data_results()
                .iter()
                .map(|r| {
                    (
                        r.id().unwrap_or_default().to_owned(),
                        r.values().iter().sum(),
                    )
                })
                .collect();
            check(got.get("health") == Some(&2.0), || {
                format!("two FlowSuccess samples for health: {got:?}")
            })?;
            check(got.get("healthmin") == Some(&1.0), || {
                format!("health succeeded: {got:?}")
            })?;
            check(got.get("failed") == Some(&0.0), || {
                format!("no failed steps: {got:?}")
            })?;
            check(got.get("run") == Some(&1.0), || {
                format!("runs passed: {got:?}")
            })?;
            check(got.get("step") == Some(&2.0), || {
                format!("a StepDuration per run: {got:?}")
            })?;
            Ok(())
        })
    })
}

fn canary_publish_failure_does_not_hide_the_verdict() -> TestResult {
    // A closed port on loopback: publishing fails; a passing run then exits 3, never 0.
    let reports =
        std::env::temp_dir().join(format!("stageos-canary-{}", uuid::Uuid::new_v4().simple()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stageos-smoke"))
        .env_clear()
        .env("STAGEOS_CLOUDWATCH_ENDPOINT", "http://127.0.0.1:9")
        .env("STAGEOS_REPORT_DIR", &reports)
        .env("NO_COLOR", "1")
        .args([
            "canary",
            "--target",
            "embedded",
            "health::api_health_ok",
            "--exact",
        ])
        .output()
        .map_err(|e| Failed::from(format!("failed to run stageos-smoke canary: {e}")))?;
    let _ = std::fs::remove_dir_all(reports);
    let stderr = String::from_utf8_lossy(&out.stderr);
    check(out.status.code() == Some(3), || {
        format!("exit {:?}\n{stderr}", out.status.code())
    })?;
    check(stderr.contains("PutMetricData"), || stderr.to_string())?;
    Ok(Completion::Completed)
}

fn main() -> ExitCode {
    let _emulator = harness::EmulatorGuard;
    let args = Arguments::from_args();
    let trials = vec![
        Trial::ignorable_test(
            "metrics::healthy_reference_passes",
            metrics_gates_pass_on_a_healthy_reference,
        ),
        Trial::ignorable_test("metrics::queue_depth_high_fails", || {
            metrics_fault_fails_its_gate(
                "queue-depth-high",
                &["metrics::queue_depth_within_limits"],
            )
        }),
        Trial::ignorable_test("metrics::jobs_failed_rising_fails", || {
            metrics_fault_fails_its_gate("jobs-failed-rising", &["metrics::no_new_failed_jobs"])
        }),
        Trial::ignorable_test("metrics::stripe_failures_fail", || {
            metrics_fault_fails_its_gate(
                "stripe-failures",
                &["metrics::stripe_webhook_success_ratio"],
            )
        }),
        Trial::ignorable_test("metrics::analytics_stale_fails", || {
            metrics_fault_fails_its_gate(
                "analytics-stale",
                &["metrics::analytics_aggregation_fresh"],
            )
        }),
        Trial::ignorable_test("metrics::auth_failure_spike_fails", || {
            metrics_fault_fails_its_gate(
                "auth-failure-spike",
                &[
                    "metrics::auth_failures_not_spiking",
                    "metrics::ip_anomalies_not_spiking",
                ],
            )
        }),
        Trial::ignorable_test(
            "metrics::malformed_exposition_is_an_error",
            malformed_exposition_is_an_error_not_a_crash,
        ),
        Trial::ignorable_test("health::release_and_services", release_gates),
        Trial::ignorable_test(
            "cloudwatch::skipped_without_configuration",
            cloudwatch_gates_skip_without_configuration,
        ),
        Trial::ignorable_test(
            "cloudwatch::healthy_traffic_passes",
            cloudwatch_gates_pass_on_healthy_traffic,
        ),
        Trial::ignorable_test(
            "cloudwatch::latency_fault_fails_p95",
            latency_fault_fails_the_p95_gate,
        ),
        Trial::ignorable_test(
            "cloudwatch::error_rate_fault_fails_error_budget",
            error_rate_fault_fails_the_error_budget_gate,
        ),
        Trial::ignorable_test(
            "cloudwatch::too_little_traffic_is_inconclusive",
            too_little_traffic_is_inconclusive,
        ),
        Trial::ignorable_test(
            "cloudwatch::alarms_present",
            alarms_gate_reads_describe_alarms,
        ),
        Trial::ignorable_test(
            "canary::publishes_and_reads_back",
            canary_publishes_and_reads_back,
        ),
        Trial::ignorable_test(
            "canary::publish_failure_keeps_the_verdict",
            canary_publish_failure_does_not_hide_the_verdict,
        ),
    ];
    libtest_mimic::run(&args, trials).exit_code()
}
