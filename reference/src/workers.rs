//! Background workers: the invoice PDF renderer and the malware scanner,
//! each a tokio task fed by a queue in the store and woken by a `Notify`.
//!
//! Workers start lazily on the first enqueue (so `app(state)` alone needs no
//! runtime at construction) and stop on [`stop`], which
//! [`crate::RunningServer::shutdown`] calls. Webhook deliveries run as one
//! task per delivery (see [`crate::webhooks`]), since each sleeps through its
//! own backoff.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::metrics::QueueLabels;
use crate::state::{AppState, Store};

/// Queue of invoice PDF jobs (`queue_depth{queue="invoice-pdf"}`).
pub const PDF_QUEUE: &str = "invoice-pdf";
/// Queue of malware scans.
pub const SCAN_QUEUE: &str = "file-scan";
/// Queue of webhook deliveries.
pub const WEBHOOK_QUEUE: &str = "webhooks";
/// Earlier names of the PDF and scan queues, kept in step until
/// `metrics::QUEUES` is renamed to the contract's names.
const LEGACY_QUEUES: [(&str, &str); 2] = [(PDF_QUEUE, "pdf"), (SCAN_QUEUE, "scan")];

/// Worker bookkeeping and secrets that live beside the store.
#[derive(Debug)]
pub struct WorkerState {
    pub(crate) pdf_notify: Arc<Notify>,
    pub(crate) scan_notify: Arc<Notify>,
    pub(crate) spawned: bool,
    pub(crate) stopped: bool,
    /// Base of the webhook retry backoff (attempt n waits base × 2^(n-1)).
    pub(crate) webhook_backoff: Duration,
    /// Per-attempt webhook timeout.
    pub(crate) webhook_timeout: Duration,
    /// Key of the storage URL signatures.
    pub(crate) storage_secret: [u8; 32],
    pub(crate) http: Option<reqwest::Client>,
}

impl Default for WorkerState {
    fn default() -> Self {
        let mut storage_secret = [0u8; 32];
        rand::fill(&mut storage_secret);
        Self {
            pdf_notify: Arc::new(Notify::new()),
            scan_notify: Arc::new(Notify::new()),
            spawned: false,
            stopped: false,
            webhook_backoff: Duration::from_secs(1),
            webhook_timeout: Duration::from_secs(10),
            storage_secret,
            http: None,
        }
    }
}

/// Starts the workers once (needs a tokio runtime; a no-op without one).
pub(crate) fn ensure_started(state: &AppState, store: &mut Store) {
    if store.workers.spawned || tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    store.workers.spawned = true;
    let pdf = store.workers.pdf_notify.clone();
    let scan = store.workers.scan_notify.clone();
    tokio::spawn(run(state.clone(), pdf, crate::invoices::work_one));
    tokio::spawn(run(state.clone(), scan, crate::files::scan_one));
}

/// Stops the workers (they finish the item in hand).
pub fn stop(state: &AppState) {
    let mut store = state.store();
    store.workers.stopped = true;
    store.workers.pdf_notify.notify_waiters();
    store.workers.scan_notify.notify_waiters();
}

/// Worker loop: `step` handles one queued item and answers whether there was one.
async fn run<F, Fut>(state: AppState, notify: Arc<Notify>, step: F)
where
    F: Fn(AppState) -> Fut,
    Fut: Future<Output = bool>,
{
    loop {
        if state.store().workers.stopped {
            return;
        }
        if step(state.clone()).await {
            continue;
        }
        tokio::select! {
            () = notify.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// Sets `queue_depth` for the business queues from the store.
pub(crate) fn update_gauges(state: &AppState, store: &Store) {
    let pending_webhooks = store
        .webhooks
        .deliveries
        .values()
        .filter(|d| d.status == "pending")
        .count();
    let depths = [
        (PDF_QUEUE, store.invoices.queue.len()),
        (SCAN_QUEUE, store.files.scan_queue.len()),
        (WEBHOOK_QUEUE, pending_webhooks),
    ];
    for (queue, depth) in depths {
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
pub(crate) fn job_failed(state: &AppState, queue: &str) {
    state
        .metrics()
        .jobs_failed
        .get_or_create(&QueueLabels {
            queue: queue.to_owned(),
        })
        .inc();
}
