//! SIGINT/SIGTERM handling: the binary turns a signal into [`request`]; the runner
//! stops in-flight flows at the next await ([`requested`]), still runs their
//! cleanup guards (bounded), and reports the unfinished steps as errors with the
//! exit code "interrupted".
//!
//! Process-wide on purpose: a signal is process-wide too.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

static REQUESTED: AtomicBool = AtomicBool::new(false);
static NOTIFY: Notify = Notify::const_new();

/// Message given to every step an interruption stopped.
pub const INTERRUPTED: &str = "interrupted (SIGINT/SIGTERM) before this step finished; cleanup guards ran (hint: rerun the suite)";

/// Ask every running flow to stop.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
    NOTIFY.notify_waiters();
}

/// Whether an interruption was requested.
pub fn is_requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Resolves once an interruption is requested (at once if it already was).
pub async fn requested() {
    let notified = NOTIFY.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    if is_requested() {
        return;
    }
    notified.await;
}

/// Turn SIGINT and SIGTERM into [`request`]. Call once, inside the runtime.
pub fn install_signal_handlers() {
    tokio::spawn(async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut term) = signal(SignalKind::terminate()) else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        eprintln!("interrupted: stopping flows and running cleanup guards…");
        request();
    });
}
