//! Running one flow: its steps in order, each timed, bounded by a deadline, with
//! panics caught and turned into that step's error (a bug of the suite says nothing
//! about the target).
//!
//! A flow is ordinary async code that calls [`FlowRun::step`] once per declared
//! step. A step returns `Option<T>`: `None` when it did not pass, and the flow
//! decides whether later steps can still run. Steps the flow never reached are
//! reported as skipped, naming the step that stopped it — never silently dropped.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use url::Url;

use stageos_smoke_http::credentials::{Role, SuiteCredentials, UserCredential};
use stageos_smoke_http::http::{ExecError, HttpContext, Lane, Recorder, Session, StepError};
use stageos_smoke_model::event::{Event, EventSink};
use stageos_smoke_model::flowdef::{FlowDef, StepRef};
use stageos_smoke_model::outcome::{StepOutcome, StepResult, offset_ms};

use crate::embedded_cloud::RunCloud;
use crate::selection::Selection;

/// What every flow of a run shares.
#[derive(Clone, Debug)]
pub struct RunContext {
    /// Target base URL.
    pub base_url: Url,
    /// Logins.
    pub credentials: Arc<SuiteCredentials>,
    /// HTTP settings, run id and redactor.
    pub http: HttpContext,
    /// When the run started (timing origin).
    pub run_start: Instant,
    /// Deadline of one step.
    pub step_timeout: Duration,
    /// Per-request latency budget of the profile.
    pub latency_budget: Duration,
    /// Deadline of one wait for background work (jobs, scans, webhook deliveries).
    pub wait_deadline: Duration,
    /// The `respond_by` window the availability flow creates and waits out.
    pub respond_by_window: Duration,
    /// Webhook receiver settings.
    pub webhook: stageos_smoke_http::webhook_receiver::WebhookSettings,
    /// The housekeeping flow deletes smoke data older than this.
    pub sweep_older_than: Duration,
    /// Verification-gate settings (thresholds, expected release, CloudWatch).
    pub gates: Arc<stageos_smoke_gates::GateSettings>,
    /// Turns `true` once every flow that does not observe the run has finished.
    pub others_done: tokio::sync::watch::Receiver<bool>,
    /// Where step results go the moment they are known.
    pub events: EventSink,
    /// The steps the run reports (others run as prerequisites, unreported).
    pub selection: Selection,
    /// The embedded run's emulator and its seeded account, when it has one.
    pub cloud: Option<RunCloud>,
}

impl RunContext {
    /// Wait until every working flow of the run has finished (observer flows:
    /// see [`stageos_smoke_model::flowdef::FlowDef::observes_run`]). Bounded by those flows'
    /// own step timeouts; returns at once if the sender is gone.
    pub async fn other_flows_finished(&self) {
        let mut rx = self.others_done.clone();
        let _ = rx.wait_for(|done| *done).await;
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.http.run_id
    }
}

/// Where a step notes what it measured (see [`FlowRun::notes`]).
#[derive(Clone, Debug)]
pub struct Notes(stageos_smoke_http::http::Recorder);

impl Notes {
    /// Note a measurement or a warning for the running step.
    pub fn add(&self, text: impl Into<String>) {
        self.0.note(text);
    }

    /// Note a gate verdict's numbers (a pass or a warning; a failure or an
    /// inconclusive verdict carries its numbers in its own message).
    pub fn verdict(&self, v: &stageos_smoke_gates::Verdict) {
        match v {
            stageos_smoke_gates::Verdict::Pass { summary } => self.add(summary.clone()),
            stageos_smoke_gates::Verdict::Warn { summary } => {
                self.add(format!("warning: {summary}"))
            }
            _ => {}
        }
    }
}

/// A delete the flow owes the target: run at the end of the flow whether its steps
/// passed, failed or panicked, unless the flow disarmed it after deleting itself.
#[derive(Clone, Debug)]
struct PendingCleanup {
    session: Session,
    path: String,
    what: String,
}

pub use stageos_smoke_model::outcome::CleanupRecord;

/// Shared registry of cleanups of one flow; clone it into step futures so an
/// object is guarded the moment it is created.
#[derive(Clone, Debug, Default)]
pub struct Cleanups {
    pending: Arc<Mutex<Vec<PendingCleanup>>>,
}

impl Cleanups {
    /// Delete `path` with `session` at the end of the flow.
    pub fn delete_later(
        &self,
        session: &Session,
        path: impl Into<String>,
        what: impl Into<String>,
    ) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(PendingCleanup {
                session: session.clone(),
                path: path.into(),
                what: what.into(),
            });
    }

    /// The flow deleted `path` itself: nothing left to do.
    pub fn disarm(&self, path: &str) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|c| c.path != path);
    }

    /// Run every pending delete, children before parents: in waves — objects
    /// that are never a parent (files, setlists, webhook endpoints, users,
    /// plugins), then invoices (a PDF file is their child), then events (setlists,
    /// invoices and uploads hang off them) — each wave's deletes side by side, and
    /// anything else one by one, newest first, as before. A 404 counts as already
    /// gone. Records come back newest first whatever order the deletes ended in.
    ///
    /// Each record carries when its delete started and how long it took, by the
    /// run's clock (`run_start`): the deletes are the flow's last dependent work,
    /// and the critical path counts them.
    pub async fn run(&self, flow: &str, run_start: Instant) -> Vec<CleanupRecord> {
        let pending: Vec<PendingCleanup> =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let newest_first: Vec<(usize, PendingCleanup)> =
            pending.into_iter().rev().enumerate().collect();
        let mut waves: [Vec<(usize, PendingCleanup)>; 3] = Default::default();
        let mut one_by_one = Vec::new();
        for (i, c) in newest_first {
            match cleanup_wave(&c.path) {
                Some(w) => waves[w].push((i, c)),
                None => one_by_one.push((i, c)),
            }
        }
        let mut out: Vec<(usize, CleanupRecord)> = Vec::new();
        for wave in waves {
            let done = futures::future::join_all(
                wave.into_iter()
                    .map(|(i, c)| async move { (i, delete_one(flow, c, run_start).await) }),
            )
            .await;
            out.extend(done);
        }
        for (i, c) in one_by_one {
            out.push((i, delete_one(flow, c, run_start).await));
        }
        out.sort_by_key(|(i, _)| *i);
        out.into_iter().map(|(_, r)| r).collect()
    }
}

/// The wave of a cleanup (see [`Cleanups::run`]), by the collection in its path;
/// `None`: an unknown kind, deleted one by one after the waves.
fn cleanup_wave(path: &str) -> Option<usize> {
    match path.trim_start_matches('/').split('/').nth(1)? {
        "files" | "setlists" | "webhooks" | "users" | "plugins" => Some(0),
        "invoices" => Some(1),
        "events" => Some(2),
        _ => None,
    }
}

async fn delete_one(flow: &str, c: PendingCleanup, run_start: Instant) -> CleanupRecord {
    let started = Instant::now();
    let result = match c.session.delete(&c.path).send().await {
        Ok(r) if r.status.is_success() || r.status.as_u16() == 404 => "deleted".to_owned(),
        Ok(r) => format!("DELETE {} answered {}", c.path, r.status.as_u16()),
        Err(e) => e.to_string(),
    };
    CleanupRecord {
        flow: flow.to_owned(),
        what: c.what,
        result,
        start_ms: offset_ms(run_start, started),
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
    }
}

/// One flow in progress.
pub struct FlowRun {
    def: &'static FlowDef,
    cx: Arc<RunContext>,
    recorder: Recorder,
    steps: Steps,
    cleanups: Cleanups,
}

/// The steps of one flow as they are reported: cheap to clone, so independent steps
/// can run at the same time ([`Steps::step`] takes `&self`), each recording its own
/// requests, retries and notes through a [`Lane`].
#[derive(Clone)]
pub struct Steps(Arc<StepsInner>);

struct StepsInner {
    def: &'static FlowDef,
    cx: Arc<RunContext>,
    recorder: Recorder,
    results: Mutex<Vec<StepResult>>,
    stopped_by: Mutex<Option<String>>,
}

impl Steps {
    fn declared(&self, id: &str) -> &'static stageos_smoke_model::flowdef::StepDef {
        let def = self.0.def;
        def.step(id)
            .unwrap_or_else(|| panic!("step `{id}` is not declared in flow `{}`", def.id))
    }

    /// Run `step`: time it, bound it by the step deadline, catch a panic.
    /// Returns the step's value when it passed.
    pub async fn step<T, F>(&self, step: impl StepRef, fut: F) -> Option<T>
    where
        F: Future<Output = Result<T, StepError>>,
    {
        let id = step.step_id();
        let def = self.declared(id);
        let started = Instant::now();
        let deadline = self.0.cx.step_timeout;
        let lane = Lane::with_deadline(started + deadline);
        let result =
            tokio::time::timeout(deadline, lane.scope(AssertUnwindSafe(fut).catch_unwind())).await;
        let duration = started.elapsed();
        let (outcome, value) = match result {
            Ok(Ok(Ok(v))) => (StepOutcome::Passed, Some(v)),
            Ok(Ok(Err(StepError::Check(c)))) => (
                StepOutcome::Failed {
                    message: c.to_string(),
                    expected: c.expected,
                    actual: c.actual,
                },
                None,
            ),
            Ok(Ok(Err(StepError::Exec(e)))) => (
                StepOutcome::Error {
                    message: e.to_string(),
                },
                None,
            ),
            Ok(Err(panic)) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "unknown panic".to_owned());
                // A panic is a bug of the suite, not a verdict on the target: the
                // step could not be checked (`<error>`, exit 3), never `<failure>`.
                (
                    StepOutcome::Error {
                        message: format!(
                            "the step panicked, a bug of the suite, not of the target: {msg} (hint: report it with the run's debug log)"
                        ),
                    },
                    None,
                )
            }
            Err(_) => (
                StepOutcome::Error {
                    message: format!(
                        "the step did not finish within its deadline of {} ms (hint: the target is hanging; raise step_timeout_ms only if that is expected)",
                        deadline.as_millis()
                    ),
                },
                None,
            ),
        };
        if value.is_none() {
            self.stopped(id);
        }
        self.push(StepResult {
            flow: self.0.def.id.to_owned(),
            step: id.to_owned(),
            description: def.description.to_owned(),
            outcome,
            start_ms: self.0.recorder.offset_ms(started),
            duration_ms: duration.as_secs_f64() * 1000.0,
            requests: lane.records(),
            retries: lane.retries(),
            notes: lane.notes(),
        });
        value
    }

    /// Record `step` as skipped with a reason.
    pub fn skip(&self, step: impl StepRef, reason: impl Into<String>) {
        self.conclude(
            step.step_id(),
            StepOutcome::Skipped {
                reason: reason.into(),
            },
        );
    }

    /// Record `id` with `outcome` and no work done: skipped, or an error found
    /// before the step could run (a failed prologue, a flow that broke).
    fn conclude(&self, id: &str, outcome: StepOutcome) {
        let def = self.declared(id);
        self.push(StepResult {
            flow: self.0.def.id.to_owned(),
            step: def.id.to_owned(),
            description: def.description.to_owned(),
            outcome,
            start_ms: self.0.recorder.offset_ms(Instant::now()),
            duration_ms: 0.0,
            requests: Vec::new(),
            retries: Vec::new(),
            notes: Vec::new(),
        });
    }

    /// The first step that did not pass stops what depends on it.
    fn stopped(&self, id: &str) {
        let mut s = self.0.stopped_by.lock().unwrap_or_else(|e| e.into_inner());
        if s.is_none() {
            *s = Some(id.to_owned());
        }
    }

    /// Keep a step's result and tell the run's event stream, if the run reports it.
    fn push(&self, result: StepResult) {
        if self.0.cx.selection.matches(&result.full_name()) {
            self.0
                .cx
                .events
                .emit(Event::StepFinished(Box::new(result.clone())));
        }
        self.0
            .results
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(result);
    }

    fn reported(&self, id: &str) -> bool {
        self.0
            .results
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|r| r.step == id)
    }
}

impl FlowRun {
    /// Start a flow.
    pub fn new(def: &'static FlowDef, cx: Arc<RunContext>) -> Self {
        let recorder = Recorder::new(cx.run_start);
        let steps = Steps(Arc::new(StepsInner {
            def,
            cx: cx.clone(),
            recorder: recorder.clone(),
            results: Mutex::default(),
            stopped_by: Mutex::default(),
        }));
        Self {
            def,
            cx,
            recorder,
            steps,
            cleanups: Cleanups::default(),
        }
    }

    /// The flow's steps as a handle that runs steps side by side (clone it into
    /// the futures of independent steps).
    pub fn steps(&self) -> Steps {
        self.steps.clone()
    }

    /// A handle for steps to note what they measured (clone it into step futures):
    /// notes taken while a step runs are reported with it.
    pub fn notes(&self) -> Notes {
        Notes(self.recorder.clone())
    }

    /// The flow's cleanup registry (clone it into step futures).
    pub fn cleanups(&self) -> Cleanups {
        self.cleanups.clone()
    }

    /// Tags every object the flow creates carries: `smoke` and the run id.
    pub fn smoke_tags(&self) -> Vec<String> {
        vec!["smoke".to_owned(), self.cx.run_id().to_owned()]
    }

    /// The run context.
    pub fn cx(&self) -> &Arc<RunContext> {
        &self.cx
    }

    /// A new anonymous session with its own cookie jar.
    pub fn session(&self, label: &str) -> Result<Session, ExecError> {
        Session::new(
            label,
            self.cx.base_url.clone(),
            self.cx.http.clone(),
            self.recorder.clone(),
        )
    }

    /// The Owner's TOTP seed, or an error naming the variable to set.
    pub fn owner_totp_seed(&self) -> Result<String, ExecError> {
        self.cx
            .credentials
            .owner_totp_secret()
            .map(|s| secrecy::ExposeSecret::expose_secret(s).to_owned())
            .ok_or_else(|| {
                ExecError::Other(
                    "no TOTP seed for the Owner (hint: set STAGEOS_OWNER_TOTP_SECRET)".into(),
                )
            })
    }

    /// The configured login of a role.
    pub fn user(&self, role: Role) -> Result<UserCredential, ExecError> {
        self.cx.credentials.user(role).cloned().ok_or_else(|| {
            ExecError::Other(format!(
                "no login configured for role {role} (hint: set {} and {})",
                role.email_var(),
                role.password_var()
            ))
        })
    }

    /// The configured login of `role` and a fresh session labelled with it.
    pub fn user_session(&self, role: Role) -> Result<(UserCredential, Session), ExecError> {
        Ok((self.user(role)?, self.session(role.as_str())?))
    }

    /// The flow's prologue: gather what its steps need (logins, sessions,
    /// fixtures). When that fails, the flow's first step reports why — the run
    /// could not check, an `<error>` — and `None` tells the flow to stop; the
    /// steps it never reached are reported as skipped by [`FlowRun::finish`].
    pub fn setup<T>(&mut self, make: impl FnOnce(&Self) -> Result<T, ExecError>) -> Option<T> {
        match make(self) {
            Ok(v) => Some(v),
            Err(e) => {
                if let Some(first) = self.def.steps.first() {
                    self.steps.stopped(first.id);
                    self.steps.conclude(
                        first.id,
                        StepOutcome::Error {
                            message: e.to_string(),
                        },
                    );
                }
                None
            }
        }
    }

    /// Run `step`: time it, bound it by the step deadline, catch a panic.
    /// Returns the step's value when it passed.
    pub async fn step<T, F>(&mut self, step: impl StepRef, fut: F) -> Option<T>
    where
        F: Future<Output = Result<T, StepError>>,
    {
        self.steps.step(step, fut).await
    }

    /// Record `step` as skipped with a reason.
    pub fn skip(&mut self, step: impl StepRef, reason: impl Into<String>) {
        self.steps.skip(step, reason);
    }

    /// Every request recorded by this flow so far.
    pub fn requests(&self) -> Vec<stageos_smoke_model::outcome::RequestRecord> {
        self.recorder.since(0)
    }

    /// Close the flow: every declared step not reported gets a skipped result that
    /// names why, in declaration order.
    pub fn finish(self, aborted: Option<String>) -> Vec<StepResult> {
        let stopped_by = self
            .steps
            .0
            .stopped_by
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let reason = match (&aborted, &stopped_by) {
            (Some(a), _) => a.clone(),
            (None, Some(s)) => format!("not run: step `{}::{s}` did not pass", self.def.id),
            (None, None) => "not run: the flow ended before this step".to_owned(),
        };
        for def in self.def.steps {
            if self.steps.reported(def.id) {
                continue;
            }
            if aborted.is_some() {
                // The flow broke outside any step: what follows could not be checked.
                self.steps.conclude(
                    def.id,
                    StepOutcome::Error {
                        message: reason.clone(),
                    },
                );
            } else {
                self.steps.skip(def.id, reason.clone());
            }
        }
        let order = |id: &str| {
            self.def
                .steps
                .iter()
                .position(|s| s.id == id)
                .unwrap_or(usize::MAX)
        };
        let mut results = std::mem::take(
            &mut *self
                .steps
                .0
                .results
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        results.sort_by_key(|r| order(&r.step));
        results
    }
}

#[cfg(test)]
mod tests {
    use super::Notes;
    use stageos_smoke_gates::Verdict;
    use stageos_smoke_http::http::Recorder;

    static PANICKY: stageos_smoke_model::flowdef::FlowDef = stageos_smoke_model::flowdef::FlowDef {
        id: "panicky",
        description: "a flow whose step panics",
        roles: &[],
        needs_owner_totp: false,
        observes_run: false,
        steps: &[stageos_smoke_model::flowdef::StepDef {
            id: "boom",
            description: "panics",
        }],
    };

    fn test_cx() -> std::sync::Arc<super::RunContext> {
        let (_tx, others_done) = tokio::sync::watch::channel(true);
        std::sync::Arc::new(super::RunContext {
            base_url: url::Url::parse("http://127.0.0.1:9/").unwrap(),
            credentials: Default::default(),
            http: stageos_smoke_http::http::HttpContext {
                settings: Default::default(),
                run_id: "run-test".into(),
                redactor: Default::default(),
                logins: Default::default(),
                clock: Default::default(),
            },
            run_start: std::time::Instant::now(),
            step_timeout: std::time::Duration::from_secs(5),
            latency_budget: std::time::Duration::from_secs(1),
            wait_deadline: std::time::Duration::from_secs(1),
            respond_by_window: std::time::Duration::from_millis(500),
            webhook: Default::default(),
            sweep_older_than: std::time::Duration::from_secs(1),
            gates: Default::default(),
            others_done,
            events: Default::default(),
            selection: Default::default(),
            cloud: None,
        })
    }

    #[tokio::test]
    async fn a_panic_in_a_step_is_an_error_of_the_suite_not_a_failure() {
        use stageos_smoke_model::outcome::StepOutcome;
        let mut flow = super::FlowRun::new(&PANICKY, test_cx());
        let value: Option<()> = flow
            .step("boom", async {
                if std::hint::black_box(true) {
                    panic!("index out of bounds");
                }
                Ok(())
            })
            .await;
        assert!(value.is_none());
        let results = flow.finish(None);
        match &results[0].outcome {
            StepOutcome::Error { message } => {
                assert!(message.contains("index out of bounds"), "{message}");
                assert!(message.contains("a bug of the suite"), "{message}");
            }
            other => panic!("a panic must be an <error>, got {other:?}"),
        }
    }

    #[test]
    fn cleanup_waves_delete_children_before_parents() {
        use super::cleanup_wave;
        assert_eq!(cleanup_wave("/api/files/f1"), Some(0));
        assert_eq!(cleanup_wave("/api/webhooks/endpoints/w1"), Some(0));
        assert_eq!(cleanup_wave("/api/plugins/setlist-sync"), Some(0));
        assert_eq!(cleanup_wave("/api/invoices/i1"), Some(1));
        assert_eq!(cleanup_wave("/api/events/e1"), Some(2));
        // A kind the waves do not know is deleted one by one, after them.
        assert_eq!(cleanup_wave("/api/tours/t1"), None);
        assert!(cleanup_wave("/api/files/f").unwrap() < cleanup_wave("/api/invoices/i").unwrap());
        assert!(cleanup_wave("/api/invoices/i").unwrap() < cleanup_wave("/api/events/e").unwrap());
    }

    #[test]
    fn verdicts_leave_their_numbers_and_warnings_on_the_step() {
        let recorder = Recorder::new(std::time::Instant::now());
        let notes = Notes(recorder.clone());
        notes.verdict(&Verdict::Pass {
            summary: "p95 24.1 ms ≤ 78.8 ms".into(),
        });
        notes.verdict(&Verdict::Warn {
            summary: "burn rate 7.2× ≥ 6× slow burn".into(),
        });
        // Failures and inconclusive verdicts carry their numbers in their message.
        notes.verdict(&Verdict::inconclusive("12 requests < 100"));
        assert_eq!(
            recorder.notes_since(0),
            vec![
                "p95 24.1 ms ≤ 78.8 ms".to_owned(),
                "warning: burn rate 7.2× ≥ 6× slow burn".to_owned()
            ]
        );
    }
}
