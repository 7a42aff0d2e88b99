//! The one runner behind the harness, the CLI and the canary.
//!
//! It resolves the target, checks it is reachable, runs the selected flows
//! concurrently (bounded), and returns a [`RunReport`] in every case: a run that
//! could not start reports each selected step as an error with the cause, so the
//! JUnit file is always there and always whole.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::stream::{self, StreamExt};
use std::panic::AssertUnwindSafe;

use stageos_smoke_model::event::{Event, EventSink};
use stageos_smoke_model::flowdef::{FlowDef, StepDef};

use crate::catalogue;
use crate::config::{EnvSnapshot, Settings};
use crate::embedded_cloud::{self, EmbeddedCloud, RunCloud};
use crate::flow::{CleanupRecord, FlowRun, RunContext};
use crate::selection::Selection;
use crate::target::{self, EmbeddedServer};
use stageos_smoke_http::http::{HttpContext, Recorder, Session};
use stageos_smoke_http::secrets::Redactor;
use stageos_smoke_model::outcome::{RunReport, StepOutcome, StepResult, offset_ms};

/// A fresh random run id.
pub fn new_run_id() -> String {
    format!("smoke-{}", uuid::Uuid::new_v4().simple())
}

/// RFC 3339 now.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Which steps.
    pub selection: Selection,
    /// How many flows at once (≥ 1).
    pub concurrency: usize,
}

/// The steps a run would report, for `--list` and for runs that fail before starting.
pub fn planned_steps(
    profile_flows: &[&'static FlowDef],
    selection: &Selection,
) -> Vec<(&'static FlowDef, &'static StepDef)> {
    profile_flows
        .iter()
        .flat_map(|f| f.steps.iter().map(move |s| (*f, s)))
        .filter(|(f, s)| selection.matches(&format!("{}::{}", f.id, s.id)))
        .collect()
}

/// A report in which every selected step is an error with `message`: the run
/// could not check anything.
pub fn could_not_start(
    profile_flows: &[&'static FlowDef],
    selection: &Selection,
    target: String,
    profile: String,
    message: String,
) -> RunReport {
    let steps = planned_steps(profile_flows, selection)
        .into_iter()
        .map(|(f, s)| StepResult {
            flow: f.id.to_owned(),
            step: s.id.to_owned(),
            description: s.description.to_owned(),
            outcome: StepOutcome::Error {
                message: message.clone(),
            },
            start_ms: 0.0,
            duration_ms: 0.0,
            requests: Vec::new(),
            retries: Vec::new(),
            notes: Vec::new(),
        })
        .collect();
    RunReport {
        run_id: new_run_id(),
        target,
        profile,
        started_at: now_rfc3339(),
        wall_ms: 0.0,
        steps,
        run_error: Some(message),
        cleanups: Vec::new(),
        interrupted: false,
    }
}

/// Run the selected flows of `settings.profile` and return the report.
pub async fn run(
    settings: &Settings,
    options: &RunOptions,
    env: &EnvSnapshot,
    redactor: &Redactor,
) -> RunReport {
    run_with_events(settings, options, env, redactor, EventSink::none()).await
}

/// As [`run`], sending the run's [`Event`]s to `events` as they happen (the CLI's
/// step lines and progress line read them), the last one
/// [`Event::RunFinished`] with the report.
pub async fn run_with_events(
    settings: &Settings,
    options: &RunOptions,
    env: &EnvSnapshot,
    redactor: &Redactor,
    events: EventSink,
) -> RunReport {
    run_with_cloud(settings, options, env, redactor, events, None).await
}

/// As [`run_with_events`], with the emulator of an embedded run ([`prepare_cloud`]):
/// the embedded server records its requests, and the baseline and release flows
/// read the seeded account when the environment names none. The emulator stops
/// when the run ends.
pub async fn run_with_cloud(
    settings: &Settings,
    options: &RunOptions,
    env: &EnvSnapshot,
    redactor: &Redactor,
    events: EventSink,
    cloud: Option<EmbeddedCloud>,
) -> RunReport {
    let (report, server) = run_inner(settings, options, env, redactor, events.clone(), cloud).await;
    if let Some(server) = server {
        server.shutdown().await;
    }
    events.emit(Event::RunFinished(Box::new(report.clone())));
    report
}

/// Whether the run of `settings` and `selection` gets an emulator beside the
/// embedded reference, and if so the spawned one (see [`crate::embedded_cloud`]):
/// `None` when it needs none (a remote target, no baseline or release step
/// selected, both configured by the environment, or `STAGEOS_EMULATOR=off`);
/// `Some(Err(reason))` when it cannot have one (one line with the fix). Call it
/// before the run, so a reason can be said first; `on_install(venv)` is called
/// before a one-time install of the emulator (the place to tell a person to wait).
pub fn prepare_cloud(
    settings: &Settings,
    selection: &Selection,
    env: &EnvSnapshot,
    on_install: &mut dyn FnMut(&std::path::Path),
) -> Option<Result<EmbeddedCloud, String>> {
    let off = env
        .get(embedded_cloud::EMULATOR_VAR)
        .is_some_and(|v| v.eq_ignore_ascii_case("off"));
    let configured = settings.gates.cloudwatch.is_some() && settings.gates.release.aws.is_some();
    if !cfg!(feature = "reference")
        || !matches!(settings.target, crate::config::TargetSpec::Embedded { .. })
        || off
        || configured
    {
        return None;
    }
    let flows = catalogue::profile_flows(&settings.profile);
    let needed = planned_steps(&flows, selection)
        .iter()
        .any(|(f, _)| embedded_cloud::FLOWS.contains(&f.id));
    if !needed {
        return None;
    }
    let config =
        stageos_smoke_emulator::EmulatorConfig::from_env(|k| env.get(k).map(str::to_owned));
    let venv = config.venv();
    Some(embedded_cloud::spawn(&config, &mut || on_install(&venv)))
}

/// As [`run`], but hand the embedded reference server (if any) back still running,
/// after every flow and cleanup finished, so a test can inspect what the run left
/// behind. The caller shuts it down.
pub async fn run_keeping_server(
    settings: &Settings,
    options: &RunOptions,
    env: &EnvSnapshot,
    redactor: &Redactor,
) -> (RunReport, Option<EmbeddedServer>) {
    run_inner(settings, options, env, redactor, EventSink::none(), None).await
}

async fn run_inner(
    settings: &Settings,
    options: &RunOptions,
    env: &EnvSnapshot,
    redactor: &Redactor,
    events: EventSink,
    cloud: Option<EmbeddedCloud>,
) -> (RunReport, Option<EmbeddedServer>) {
    let run_start = Instant::now();
    if let Some(c) = &cloud {
        // Health check and seeding beside the run; only their readers wait.
        c.start_in_background();
    }
    let started_at = now_rfc3339();
    let run_id = new_run_id();
    let profile_flows = catalogue::profile_flows(&settings.profile);
    let flows = options.selection.selected_flows(&profile_flows);
    let fail = |message: String| {
        could_not_start(
            &profile_flows,
            &options.selection,
            settings.target_label(),
            settings.profile_name.clone(),
            message,
        )
    };

    let target =
        match target::prepare_recording(settings, &flows, env, redactor, cloud.is_some()).await {
            Ok(t) => t,
            Err(e) => return (fail(e.to_string()), None),
        };
    let http = HttpContext {
        settings: Arc::new(settings.http.clone()),
        run_id: run_id.clone(),
        redactor: redactor.clone(),
        logins: Default::default(),
        clock: Default::default(),
    };
    // The preflight request (is the target there at all?) goes out beside the
    // flows' first requests rather than before them: a run that can start loses
    // no round trip to it. Until it answers, the flows' events are held back, so
    // a target that is not there gives one cause, not a line per step.
    let preflight_http = http.clone();
    let (flow_events, hold) = events.held();

    // The environment's service health URLs, else the ones the target knows
    // (the embedded reference's stand-ins for the worker and web).
    let mut gates = settings.gates.clone();
    if gates.services.is_empty() {
        gates.services = target.services.clone();
    }
    let (others_done_tx, others_done) = tokio::sync::watch::channel(false);
    let cx = Arc::new(RunContext {
        base_url: target.base_url.clone(),
        credentials: Arc::new(target.credentials),
        http,
        run_start,
        step_timeout: settings.step_timeout,
        latency_budget: Duration::from_millis(settings.profile.latency_budget_ms),
        wait_deadline: settings.wait_deadline,
        respond_by_window: settings.respond_by_window,
        sweep_older_than: settings.sweep_older_than,
        webhook: settings.webhook.clone(),
        gates: Arc::new(gates),
        others_done,
        events: flow_events.clone(),
        selection: options.selection.clone(),
        cloud: cloud
            .zip(target.own_traffic.clone())
            .map(|(cloud, publish)| RunCloud::new(cloud, publish, &target.base_url)),
    });
    flow_events.emit(Event::RunStarted {
        run_id: run_id.clone(),
        target: settings.target_label(),
        profile: settings.profile_name.clone(),
        flows: flows.len(),
    });
    // Working flows share the concurrency limit; observer flows (the metrics
    // flow) run beside them from the start and are told when the rest is done.
    let (observers, workers): (Vec<_>, Vec<_>) = flows
        .iter()
        .copied()
        .enumerate()
        .partition(|(_, d)| d.observes_run);
    let work = async {
        let done: Vec<_> = stream::iter(workers)
            .map(|(i, def)| {
                let cx = cx.clone();
                async move { (i, run_flow(def, cx).await) }
            })
            .buffered(options.concurrency.max(1))
            .collect()
            .await;
        let _ = others_done_tx.send(true);
        done
    };
    let watch = futures::future::join_all(observers.into_iter().map(|(i, def)| {
        let cx = cx.clone();
        async move { (i, run_flow(def, cx).await) }
    }));
    let flows_done = async { tokio::join!(work, watch) };
    let mut flows_done = std::pin::pin!(flows_done);
    let mut reachable = std::pin::pin!(preflight(&target.base_url, &preflight_http, run_start));
    // `Some` when the flows finished before the preflight answered.
    let early = tokio::select! {
        answer = &mut reachable => answer.map(|()| None),
        done = &mut flows_done => reachable.await.map(|()| Some(done)),
    };
    let (worked, watched) = match early {
        Ok(done) => {
            hold.release();
            match done {
                Some(done) => done,
                None => flows_done.await,
            }
        }
        Err(e) => {
            // Nothing the flows did reached a target that is not there; they
            // are dropped with their held events.
            hold.discard();
            return (fail(format!("target unreachable: {e}")), target.server);
        }
    };
    let mut indexed: Vec<_> = worked.into_iter().chain(watched).collect();
    indexed.sort_by_key(|(i, _)| *i);
    let results: Vec<(Vec<StepResult>, Vec<CleanupRecord>)> =
        indexed.into_iter().map(|(_, r)| r).collect();
    let (steps, cleanups): (Vec<_>, Vec<_>) = results.into_iter().unzip();
    let steps = steps
        .into_iter()
        .flatten()
        .filter(|r| options.selection.matches(&r.full_name()))
        .collect();
    let cleanups = cleanups.into_iter().flatten().collect();
    let report = RunReport {
        run_id,
        target: settings.target_label(),
        profile: settings.profile_name.clone(),
        started_at,
        wall_ms: run_start.elapsed().as_secs_f64() * 1000.0,
        steps,
        run_error: None,
        cleanups,
        interrupted: crate::interrupt::is_requested(),
    };
    (report, target.server)
}

/// How long the cleanup guards of one flow may take.
const CLEANUP_DEADLINE: Duration = Duration::from_secs(20);

async fn run_flow(
    def: &'static FlowDef,
    cx: Arc<RunContext>,
) -> (Vec<StepResult>, Vec<CleanupRecord>) {
    cx.events.emit(Event::FlowStarted {
        flow: def.id.to_owned(),
    });
    let events = cx.events.clone();
    let mut flow = FlowRun::new(def, cx);
    let cleanups = flow.cleanups();
    let run_start = flow.cx().run_start;
    let aborted = tokio::select! {
        outcome = AssertUnwindSafe(crate::flows::run(&mut flow, def.id)).catch_unwind() => outcome.err().map(|p| {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "unknown panic".into());
            format!("the flow broke outside a step: {msg}")
        }),
        _ = crate::interrupt::requested() => Some(crate::interrupt::INTERRUPTED.to_owned()),
    };
    // Guards run whatever happened above: a failed, panicked or interrupted flow
    // still cleans up, within a bound so a dead target cannot hold the exit.
    let cleanup_start = std::time::Instant::now();
    let cleaned =
        match tokio::time::timeout(CLEANUP_DEADLINE, cleanups.run(def.id, run_start)).await {
            Ok(records) => records,
            Err(_) => vec![CleanupRecord {
                flow: def.id.to_owned(),
                what: "remaining cleanup guards".into(),
                result: format!(
                    "not finished within {} s; the next run's sweep removes leftovers",
                    CLEANUP_DEADLINE.as_secs()
                ),
                start_ms: offset_ms(run_start, cleanup_start),
                duration_ms: cleanup_start.elapsed().as_secs_f64() * 1000.0,
            }],
        };
    let results = flow.finish(aborted);
    for record in &cleaned {
        events.emit(Event::CleanupDone(record.clone()));
    }
    events.emit(Event::FlowFinished {
        flow: def.id.to_owned(),
    });
    (results, cleaned)
}

/// One cheap request to learn whether the target answers at all; any HTTP status counts.
async fn preflight(
    base: &url::Url,
    http: &HttpContext,
    run_start: Instant,
) -> Result<(), stageos_smoke_http::http::ExecError> {
    let session = Session::new(
        "preflight",
        base.clone(),
        http.clone(),
        Recorder::new(run_start),
    )?;
    session
        .get("/api/health")
        .without_bearer()
        // Any status counts, a 429 too: it answered.
        .tests_throttling()
        .send()
        .await
        .map(|_| ())
}
