//! Background workers: the invoice PDF renderer and the malware scanner,
//! each a tokio task fed by a queue in the store and woken by a `Notify`.
//!
//! Plumbing below the domains that own the queues: this module holds the
//! wake-ups and the stop flag ([`Workers`]), the worker loop ([`run`]) and the
//! `queue_depth` gauges, and asks the store (through [`Host`]) for the queue
//! lengths and for spawning the domain's work steps, so it names no domain.
//!
//! A worker sleeps until its `Notify` fires (an enqueue or [`stop`]); it
//! registers for the wake-up before it looks at the queue, so none is lost.
//!
//! Workers start lazily on the first enqueue (so `app(state)` alone needs no
//! runtime at construction) and stop on [`stop`], which
//! [`crate::RunningServer::shutdown`] calls. Webhook deliveries run as one
//! task per delivery (see [`crate::webhooks`]), since each sleeps through its
//! own backoff.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::metrics::QueueLabels;
use crate::state::Shared;

/// Queue of invoice PDF jobs (`queue_depth{queue="invoice-pdf"}`).
pub const PDF_QUEUE: &str = "invoice-pdf";
/// Queue of malware scans.
pub const SCAN_QUEUE: &str = "file-scan";
/// Queue of webhook deliveries.
pub const WEBHOOK_QUEUE: &str = "webhooks";
/// Earlier names of the PDF and scan queues, kept in step until
/// `metrics::QUEUES` is renamed to the contract's names.
const LEGACY_QUEUES: [(&str, &str); 2] = [(PDF_QUEUE, "pdf"), (SCAN_QUEUE, "scan")];

/// Worker bookkeeping that lives beside the store.
#[derive(Debug)]
pub struct Workers {
    /// Wakes the PDF renderer.
    pub pdf_notify: Arc<Notify>,
    /// Wakes the scanner.
    pub scan_notify: Arc<Notify>,
    pub(crate) spawned: bool,
    pub(crate) stopped: bool,
}

impl Default for Workers {
    fn default() -> Self {
        Self {
            pdf_notify: Arc::new(Notify::new()),
            scan_notify: Arc::new(Notify::new()),
            spawned: false,
            stopped: false,
        }
    }
}

impl Workers {
    /// Whether [`stop`] was called.
    pub fn stopped(&self) -> bool {
        self.stopped
    }
}

/// What the workers need of the store.
pub trait Host: Send + Sync + 'static {
    /// The worker bookkeeping.
    fn workers(&self) -> &Workers;
    /// The worker bookkeeping, to change.
    fn workers_mut(&mut self) -> &mut Workers;
    /// Current depth of each business queue ([`PDF_QUEUE`], [`SCAN_QUEUE`],
    /// [`WEBHOOK_QUEUE`]).
    fn queue_depths(&self) -> [(&'static str, usize); 3];
    /// Spawns the PDF and scan workers (each with [`run`], woken by the
    /// notifies of `workers`). Called with the store locked.
    fn spawn_workers(state: &Shared<Self>, workers: &Workers)
    where
        Self: Sized;
}

/// Starts the workers once (needs a tokio runtime; a no-op without one).
pub(crate) fn ensure_started<S: Host>(state: &Shared<S>, store: &mut S) {
    if store.workers().spawned || tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    store.workers_mut().spawned = true;
    S::spawn_workers(state, store.workers());
}

/// Stops the workers (they finish the item in hand).
pub fn stop<S: Host>(state: &Shared<S>) {
    let mut store = state.store();
    let workers = store.workers_mut();
    workers.stopped = true;
    workers.pdf_notify.notify_waiters();
    workers.scan_notify.notify_waiters();
}

/// Worker loop: `step` handles one queued item and answers whether there was one.
pub(crate) async fn run<S, F, Fut>(state: Shared<S>, notify: Arc<Notify>, step: F)
where
    S: Host,
    F: Fn(Shared<S>) -> Fut,
    Fut: Future<Output = bool>,
{
    loop {
        // Registered before the stop check and the queue check, so neither a
        // `stop` nor an enqueue that happens after them can be missed: no
        // periodic re-check is needed.
        let woken = notify.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if state.store().workers().stopped {
            return;
        }
        if step(state.clone()).await {
            continue;
        }
        woken.await;
    }
}

/// Sets `queue_depth` for the business queues from the store.
pub(crate) fn update_gauges<S: Host>(state: &Shared<S>, store: &S) {
    for (queue, depth) in store.queue_depths() {
        let mut names = vec![queue];
        names.extend(
            LEGACY_QUEUES
                .iter()
                .filter(|(q, _)| *q == queue)
                .map(|(_, legacy)| *legacy),
        );
        for name in names {
            state
                .metrics()
                .queue_depth
                .get_or_create(&QueueLabels {
                    queue: name.to_owned(),
                })
                .set(depth as i64);
        }
    }
}

/// Counts a job that failed for good on `queue`.
pub(crate) fn job_failed<S>(state: &Shared<S>, queue: &str) {
    state
        .metrics()
        .jobs_failed
        .get_or_create(&QueueLabels {
            queue: queue.to_owned(),
        })
        .inc();
}
