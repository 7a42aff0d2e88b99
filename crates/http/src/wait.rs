//! Waiting for the target's background work without blind sleeps.
//!
//! [`poll_until`] asks a probe again and again, with exponential backoff, until it
//! reports [`Poll::Ready`] or a deadline passes, its pauses never longer than
//! [`MAX_SLICE`] (so a poll ends within a slice of its deadline); [`sleep_until`]
//! waits for an exact instant (an expiry, a `respond_by`) on one timer.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::http::{CheckFailure, StepError};

/// Longest single sleep of any wait.
pub const MAX_SLICE: Duration = Duration::from_millis(500);

/// What a probe saw.
#[derive(Clone, Debug, PartialEq)]
pub enum Poll<T> {
    /// Done: the value waited for.
    Ready(T),
    /// Not yet; the text describes the state seen (for the deadline message).
    Pending(String),
}

/// Exponential backoff between probes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// First pause.
    pub initial: Duration,
    /// Largest pause (clamped to [`MAX_SLICE`]).
    pub max: Duration,
    /// Growth factor per probe.
    pub factor: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(50),
            max: MAX_SLICE,
            factor: 2,
        }
    }
}

impl Backoff {
    /// The same pause between every probe: for a wait whose earliest moment is
    /// known, where the change should be seen as it happens.
    pub fn steady(every: Duration) -> Self {
        Self {
            initial: every,
            max: every,
            factor: 1,
        }
    }

    /// The pause after the pause `prev`.
    pub fn next(&self, prev: Duration) -> Duration {
        (prev * self.factor.max(1)).min(self.max).min(MAX_SLICE)
    }
}

/// Why a wait ended without the value.
#[derive(Debug, Clone, PartialEq)]
pub enum WaitError<E> {
    /// The deadline passed while the probe still said `Pending`.
    Deadline {
        /// How long was waited.
        waited: Duration,
        /// How many probes ran.
        probes: u32,
        /// The last state seen.
        last: String,
    },
    /// The probe itself failed.
    Probe(E),
}

impl WaitError<StepError> {
    /// As a step error: a missed deadline means the target did not do its work in
    /// time (a failed check, described by `what` and `expected`); a probe error
    /// stays what it was.
    pub fn into_step(self, what: &str, expected: &str) -> StepError {
        match self {
            WaitError::Deadline {
                waited,
                probes,
                last,
            } => CheckFailure {
                what: what.to_owned(),
                expected: expected.to_owned(),
                actual: format!(
                    "still {last} after {} ms ({probes} polls)",
                    waited.as_millis()
                ),
            }
            .into(),
            WaitError::Probe(e) => e,
        }
    }
}

/// Run `probe` until it is ready or `deadline` (from now) passes, pausing with
/// `backoff` between probes. The probe always runs at least once, and once more
/// at the deadline if the last pause reached it.
pub async fn poll_until<T, E, F, Fut>(
    deadline: Duration,
    backoff: Backoff,
    mut probe: F,
) -> Result<T, WaitError<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, E>>,
{
    let start = Instant::now();
    let end = start + deadline;
    let mut pause = backoff.initial.min(MAX_SLICE);
    let mut probes = 0u32;
    loop {
        probes += 1;
        let last = match probe().await.map_err(WaitError::Probe)? {
            Poll::Ready(v) => return Ok(v),
            Poll::Pending(state) => state,
        };
        let now = Instant::now();
        if now >= end {
            return Err(WaitError::Deadline {
                waited: now - start,
                probes,
                last,
            });
        }
        tokio::time::sleep(pause.min(end - now)).await;
        pause = backoff.next(pause);
    }
}

/// Sleep until `at` (one timer: `tokio::time::sleep_until`, which wakes at the
/// instant, not in slices).
pub async fn sleep_until(at: Instant) {
    tokio::time::sleep_until(at.into()).await;
}

/// Sleep until the wall-clock time `at` has passed (by this machine's clock), plus `margin`.
pub async fn sleep_until_utc(at: time::OffsetDateTime, margin: Duration) {
    let remaining = at - time::OffsetDateTime::now_utc();
    let remaining = Duration::try_from(remaining).unwrap_or(Duration::ZERO);
    sleep_until(Instant::now() + remaining + margin).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn backoff_doubles_and_caps_below_one_second() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            factor: 2,
        };
        assert_eq!(
            b.next(Duration::from_millis(100)),
            Duration::from_millis(200)
        );
        assert_eq!(b.next(Duration::from_millis(400)), MAX_SLICE);
        let small = Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(30),
            factor: 3,
        };
        assert_eq!(
            small.next(Duration::from_millis(20)),
            Duration::from_millis(30)
        );
    }

    #[tokio::test]
    async fn ready_after_some_probes() {
        let n = AtomicU32::new(0);
        let b = Backoff {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(4),
            factor: 2,
        };
        let v: Result<u32, WaitError<()>> = poll_until(Duration::from_secs(2), b, || {
            let k = n.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                Ok(if k >= 3 {
                    Poll::Ready(k)
                } else {
                    Poll::Pending(format!("probe {k}"))
                })
            }
        })
        .await;
        assert_eq!(v, Ok(3));
    }

    #[tokio::test]
    async fn deadline_reports_the_last_state() {
        let b = Backoff {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(20),
            factor: 2,
        };
        let started = Instant::now();
        let r: Result<(), WaitError<()>> = poll_until(Duration::from_millis(60), b, || async {
            Ok(Poll::Pending("queued".into()))
        })
        .await;
        let elapsed = started.elapsed();
        match r {
            Err(WaitError::Deadline {
                probes,
                last,
                waited,
            }) => {
                assert_eq!(last, "queued");
                assert!(probes >= 3, "{probes}");
                assert!(waited >= Duration::from_millis(60));
            }
            other => panic!("expected a deadline, got {other:?}"),
        }
        assert!(elapsed < Duration::from_millis(600), "{elapsed:?}");
    }

    #[tokio::test]
    async fn probe_errors_stop_the_wait() {
        let r: Result<(), WaitError<&str>> =
            poll_until(Duration::from_secs(5), Backoff::default(), || async {
                Err("boom")
            })
            .await;
        assert_eq!(r, Err(WaitError::Probe("boom")));
    }

    #[tokio::test]
    async fn deadline_as_step_error_is_a_failed_check() {
        let e: WaitError<StepError> = WaitError::Deadline {
            waited: Duration::from_millis(10),
            probes: 2,
            last: "queued".into(),
        };
        match e.into_step("job", "succeeded") {
            StepError::Check(c) => assert!(c.actual.contains("still queued"), "{c}"),
            StepError::Exec(x) => panic!("{x}"),
        }
    }

    #[tokio::test]
    async fn sleep_until_reaches_the_instant() {
        let at = Instant::now() + Duration::from_millis(30);
        sleep_until(at).await;
        assert!(Instant::now() >= at);
    }
}
