//! The target's clock, learned once per run from every answer's `Date` header.
//!
//! Checks that wait for the target's clock (a signed URL's expiry, an availability
//! request's `respond_by`) must not judge by ours: a target a second behind would
//! look like one that serves expired URLs. One `Date` header tells the target's time
//! only to the whole second, but each answer also brackets *when* it was stamped:
//! between our send and our receipt. So every answer bounds the offset
//! (target − local) to `[D − received, D + 1 s − sent]`, and the intersection over the
//! run's answers — dozens, at every fractional phase of the second — narrows it to
//! about one round trip. A wait then starts at the earliest moment the target's
//! clock can have reached the instant (`lower_local`), not after the worst case.
//!
//! Answers from servers that disagree (behind a load balancer, clocks apart) can
//! give disjoint bounds; the estimate then widens to the hull of both, which is
//! less precise but never wrong for the answers seen.

use std::sync::{Arc, Mutex};

use time::{Duration, OffsetDateTime};

/// Bounds on the offset of the target's clock from ours (target − local).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OffsetBounds {
    /// The target is at least this far ahead of us (negative: behind).
    pub lo: Duration,
    /// The target is at most this far ahead of us.
    pub hi: Duration,
}

impl OffsetBounds {
    /// The uncertainty left: `hi − lo`.
    pub fn width(&self) -> Duration {
        self.hi - self.lo
    }
}

/// The run's estimate of the target's clock, shared by every session.
#[derive(Clone, Debug, Default)]
pub struct TargetClock {
    bounds: Arc<Mutex<Option<OffsetBounds>>>,
}

impl TargetClock {
    /// Learn from one answer: sent at `sent`, received at `received` (our clock),
    /// stamped `date` (the `Date` header, whole seconds) by the target.
    pub fn observe(&self, sent: OffsetDateTime, received: OffsetDateTime, date: OffsetDateTime) {
        let new = OffsetBounds {
            lo: date - received,
            hi: date + Duration::SECOND - sent,
        };
        if new.lo > new.hi {
            return; // received before sent: our clock stepped; nothing learned
        }
        let mut b = self.bounds.lock().unwrap_or_else(|e| e.into_inner());
        *b = Some(match *b {
            None => new,
            Some(old) => {
                let (lo, hi) = (old.lo.max(new.lo), old.hi.min(new.hi));
                if lo <= hi {
                    OffsetBounds { lo, hi }
                } else {
                    OffsetBounds {
                        lo: old.lo.min(new.lo),
                        hi: old.hi.max(new.hi),
                    }
                }
            }
        });
    }

    /// Learn from a timestamp the target wrote into an answer at the moment it
    /// handled the request (the `created_at` of a 201 Created), precise to
    /// `precision` (its fractional digits: `.123` is 1 ms). Such a stamp only
    /// narrows what the `Date` headers said: one that disagrees with them (an
    /// object created earlier, a database clock apart) is ignored.
    pub fn narrow_with_stamp(
        &self,
        sent: OffsetDateTime,
        received: OffsetDateTime,
        stamp: OffsetDateTime,
        precision: Duration,
    ) {
        let new = OffsetBounds {
            lo: stamp - received,
            hi: stamp + precision - sent,
        };
        let mut b = self.bounds.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = *b {
            let (lo, hi) = (old.lo.max(new.lo), old.hi.min(new.hi));
            if lo <= hi {
                *b = Some(OffsetBounds { lo, hi });
            }
        }
    }

    /// What is known so far, if any answer carried a `Date`.
    pub fn bounds(&self) -> Option<OffsetBounds> {
        *self.bounds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The earliest moment by our clock at which the target's clock can read
    /// `at` (without an estimate: `at` less one second, the `Date` precision).
    pub fn lower_local(&self, at: OffsetDateTime) -> OffsetDateTime {
        match self.bounds() {
            Some(b) => at - b.hi,
            None => at - Duration::SECOND,
        }
    }

    /// The latest moment by our clock at which the target's clock reads `at`
    /// (without an estimate: `at` plus one second).
    pub fn upper_local(&self, at: OffsetDateTime) -> OffsetDateTime {
        match self.bounds() {
            Some(b) => at - b.lo,
            None => at + Duration::SECOND,
        }
    }

    /// The latest the target's clock can read now.
    pub fn target_now_upper(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        match self.bounds() {
            Some(b) => now + b.hi,
            None => now + Duration::SECOND,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn ms(n: i64) -> Duration {
        Duration::milliseconds(n)
    }

    #[test]
    fn answers_at_different_phases_narrow_the_offset_to_a_round_trip() {
        // The target is 1.5 s ahead; each answer takes 40 ms; ours are sent at
        // phases 0.1, 0.45 and 0.8 of a second.
        let clock = TargetClock::default();
        let truth = ms(1500);
        let base = datetime!(2026-12-02 12:00:00 UTC);
        for phase in [100, 450, 800, 1300, 1650] {
            let sent = base + ms(phase);
            let stamped = sent + ms(20) + truth;
            let date = stamped.replace_millisecond(0).unwrap();
            clock.observe(sent, sent + ms(40), date);
        }
        let b = clock.bounds().unwrap();
        assert!(b.lo <= truth && truth <= b.hi, "{b:?}");
        assert!(b.width() <= ms(400), "not narrowed: {b:?}");
    }

    #[test]
    fn one_answer_bounds_within_a_second_and_a_round_trip() {
        let clock = TargetClock::default();
        let sent = datetime!(2026-12-02 12:00:00.300 UTC);
        clock.observe(sent, sent + ms(100), datetime!(2026-12-02 11:59:59 UTC));
        let b = clock.bounds().unwrap();
        assert_eq!(b.lo, ms(-1400));
        assert_eq!(b.hi, ms(-300));
        // The target reads 12:00:10 at the earliest 12:00:10.3 by our clock.
        let at = datetime!(2026-12-02 12:00:10 UTC);
        assert_eq!(clock.lower_local(at), at + ms(300));
        assert_eq!(clock.upper_local(at), at + ms(1400));
    }

    #[test]
    fn disagreeing_servers_widen_the_estimate_instead_of_emptying_it() {
        let clock = TargetClock::default();
        let sent = datetime!(2026-12-02 12:00:00.500 UTC);
        clock.observe(sent, sent + ms(10), datetime!(2026-12-02 12:00:00 UTC));
        clock.observe(sent, sent + ms(10), datetime!(2026-12-02 12:00:05 UTC));
        let b = clock.bounds().unwrap();
        assert!(b.lo <= ms(-510) && b.hi >= ms(5500), "{b:?}");
    }

    #[test]
    fn a_precise_stamp_narrows_and_a_disagreeing_one_is_ignored() {
        let clock = TargetClock::default();
        let sent = datetime!(2026-12-02 12:00:00.300 UTC);
        clock.observe(sent, sent + ms(100), datetime!(2026-12-02 12:00:00 UTC));
        // Stamped 12:00:00.350 (1 ms precision): the offset is within [-50, 51] ms.
        clock.narrow_with_stamp(
            sent,
            sent + ms(100),
            datetime!(2026-12-02 12:00:00.350 UTC),
            ms(1),
        );
        let b = clock.bounds().unwrap();
        assert_eq!((b.lo, b.hi), (ms(-50), ms(51)));
        // An object created an hour ago says nothing about the clock.
        clock.narrow_with_stamp(
            sent,
            sent + ms(100),
            datetime!(2026-12-02 11:00:00 UTC),
            ms(1),
        );
        assert_eq!(clock.bounds().unwrap(), b);
        // Without any Date header a stamp alone is not trusted.
        let fresh = TargetClock::default();
        fresh.narrow_with_stamp(sent, sent, sent, ms(1));
        assert!(fresh.bounds().is_none());
    }

    #[test]
    fn without_answers_the_date_precision_is_assumed() {
        let clock = TargetClock::default();
        let at = datetime!(2026-12-02 12:00:00 UTC);
        assert_eq!(clock.lower_local(at), at - Duration::SECOND);
        assert_eq!(clock.upper_local(at), at + Duration::SECOND);
    }
}
