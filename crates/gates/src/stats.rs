//! The statistics of the verification gates, as pure functions over plain numbers.
//!
//! Nothing here does I/O: the CloudWatch and Prometheus modules fetch numbers, these
//! functions judge them, and the unit tests below feed them synthetic data.
//!
//! # Windows
//! All times are unix seconds; a [`Window`] is the half-open range `[start, end)`.
//! Windows are **aligned to the period** `P` (a multiple of 60 s that divides a week):
//! the current window ends at the last period boundary at or before *now* (the
//! period still filling is left out: its data is incomplete) and starts at the first
//! boundary at or after the deploy (no pre-deploy traffic), capped at
//! `max_window`. Baselines have the current window's length and sit either right
//! before it (`previous`) or exactly one week earlier (`week-ago`). Because every
//! bound is a multiple of `P`, each period bucket CloudWatch returns falls wholly
//! inside one window, for CloudWatch (which aligns buckets to the query's start)
//! and for emulators that align them to the epoch alike.
//!
//! # Series and gaps
//! A [`Series`] holds one value per period bucket that has data. ALB publishes no
//! datapoint for a period without requests, so a missing `RequestCount` or
//! `HTTPCode_Target_5XX_Count` bucket counts as zero: gaps lower the request count
//! (and with it, possibly, below the minimum) but never invent a rate. Coverage
//! (periods with data / periods in the window) is reported next to every verdict.
//!
//! # P95 over a window
//! With one period per window the value is CloudWatch's own p95 (exact; CloudWatch
//! and ministack interpolate linearly between ranks). With several periods it is
//! the **request-weighted mean of the per-period p95s**, an approximation: exact
//! when the periods share one distribution, and moved by one bad period in
//! proportion to its traffic, as the true window p95 is. Set `period_s` to the
//! window length for the exact value. Percentiles of the suite's own samples use
//! the same linear interpolation ([`percentile`]).
//!
//! # P95 verdict
//! `threshold = baseline_p95 × (1 + tolerance) + slack`; the current p95 fails above
//! it. With several baselines the most lenient (highest) conclusive threshold is
//! used, so a quiet reference window does not page. Either side with fewer than
//! `min_requests` requests is **inconclusive**, not a pass.
//!
//! # Error budget
//! `error_ratio = 5xx / requests`, `burn_rate = error_ratio / (1 − SLO)`: a burn rate
//! of 1 spends exactly the budget over the SLO period. Following the SRE workbook's
//! multiwindow alerting, a burn rate of **14.4** over the short window (the window
//! since the deploy) spends 2 % of a 30-day budget per hour and fails the gate;
//! a slow burn (6 by default) warns. Fewer than `min_requests` requests, or a
//! 5xx count above the request count (series that disagree), is inconclusive.
//!
//! # Counters
//! Prometheus counters are compared as deltas between two scrapes; a counter that
//! went down was reset (process restart), and the increase since the reset is at
//! least its current value ([`counter_delta`]), as Prometheus' own `increase()` does.

use std::collections::BTreeMap;

use crate::verdict::Verdict;

/// One week, in seconds.
pub const WEEK_S: i64 = 7 * 24 * 3600;
/// SRE-workbook fast-burn threshold over the short window.
pub const FAST_BURN: f64 = 14.4;
/// Default slow-burn (warning) threshold.
pub const SLOW_BURN: f64 = 6.0;

/// Largest multiple of `period` at or below `t`.
pub fn align_down(t: i64, period: i64) -> i64 {
    t.div_euclid(period) * period
}

/// Smallest multiple of `period` at or above `t`.
pub fn align_up(t: i64, period: i64) -> i64 {
    let d = align_down(t, period);
    if d == t { d } else { d + period }
}

/// `[start, end)` in unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Window {
    /// First second inside.
    pub start: i64,
    /// First second after.
    pub end: i64,
}

impl Window {
    /// Length in seconds.
    pub fn len_s(&self) -> i64 {
        self.end - self.start
    }

    /// Whether `t` is inside.
    pub fn contains(&self, t: i64) -> bool {
        self.start <= t && t < self.end
    }

    /// The same window shifted `by` seconds earlier.
    pub fn earlier(&self, by: i64) -> Window {
        Window {
            start: self.start - by,
            end: self.end - by,
        }
    }

    /// RFC 3339 `start … end`, for messages.
    pub fn label(&self) -> String {
        format!("{} … {}", rfc3339(self.start), rfc3339(self.end))
    }
}

/// Which reference window a baseline is.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum BaselineKind {
    /// The same length right before the current window.
    Previous,
    /// The same hours one week earlier.
    WeekAgo,
}

impl BaselineKind {
    /// Name for messages and query ids.
    pub fn as_str(self) -> &'static str {
        match self {
            BaselineKind::Previous => "previous",
            BaselineKind::WeekAgo => "week-ago",
        }
    }
}

/// The current window and its baselines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowPlan {
    /// Period of every bucket, seconds.
    pub period: i64,
    /// The window since the deploy.
    pub current: Window,
    /// The baselines, in the order asked for.
    pub baselines: Vec<(BaselineKind, Window)>,
}

impl WindowPlan {
    /// The one range a single query must cover: earliest start to latest end.
    pub fn query_range(&self) -> Window {
        let start = self
            .baselines
            .iter()
            .map(|(_, w)| w.start)
            .chain([self.current.start])
            .min()
            .unwrap_or(self.current.start);
        Window {
            start,
            end: self.current.end,
        }
    }
}

/// Why no window could be planned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// The period is not a positive multiple of 60 dividing one week.
    #[error(
        "invalid period {0} s: it must be a positive multiple of 60 that divides one week (60, 300, 600, 900, 1800, 3600, …)"
    )]
    BadPeriod(i64),
    /// No whole period has passed since the deploy.
    #[error(
        "no whole {period}-second period has ended since the deploy at {deployed_at} (now {now})"
    )]
    TooEarly {
        /// The deploy time.
        deployed_at: i64,
        /// Now.
        now: i64,
        /// Period.
        period: i64,
    },
}

/// Check a period: a positive multiple of 60 that divides one week.
pub fn check_period(period: i64) -> Result<(), WindowError> {
    if period <= 0 || period % 60 != 0 || WEEK_S % period != 0 {
        return Err(WindowError::BadPeriod(period));
    }
    Ok(())
}

/// Plan the windows (see the module docs). `max_window` is rounded down to the period
/// (at least one period).
pub fn plan_windows(
    now: i64,
    deployed_at: Option<i64>,
    period: i64,
    max_window: i64,
    baselines: &[BaselineKind],
) -> Result<WindowPlan, WindowError> {
    check_period(period)?;
    let max_window = align_down(max_window, period).max(period);
    let end = align_down(now, period);
    let mut start = match deployed_at {
        Some(d) => align_up(d, period),
        None => end - max_window,
    };
    if end - start > max_window {
        start = end - max_window;
    }
    if start >= end {
        return Err(WindowError::TooEarly {
            deployed_at: deployed_at.unwrap_or(now),
            now,
            period,
        });
    }
    let current = Window { start, end };
    let mut seen = Vec::new();
    for kind in baselines {
        if seen.iter().any(|(k, _)| k == kind) {
            continue;
        }
        let w = match kind {
            BaselineKind::Previous => current.earlier(current.len_s()),
            BaselineKind::WeekAgo => current.earlier(WEEK_S),
        };
        seen.push((*kind, w));
    }
    Ok(WindowPlan {
        period,
        current,
        baselines: seen,
    })
}

/// One value per period bucket (bucket start → value); buckets without data are absent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Bucket start (unix seconds) → value.
    pub points: BTreeMap<i64, f64>,
}

impl Series {
    /// From `(timestamp, value)` pairs; non-finite values are dropped, a repeated
    /// timestamp keeps the last value.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (i64, f64)>) -> Self {
        Self {
            points: pairs.into_iter().filter(|(_, v)| v.is_finite()).collect(),
        }
    }

    /// Sum of the buckets inside `w` (absent buckets are zero).
    pub fn sum_in(&self, w: Window) -> f64 {
        // fold from +0.0: an empty `sum()` of f64 is -0.0, which prints as "-0".
        self.points
            .range(w.start..w.end)
            .fold(0.0, |acc, (_, v)| acc + v)
    }

    /// The buckets inside `w`.
    pub fn in_window(&self, w: Window) -> impl Iterator<Item = (i64, f64)> + '_ {
        self.points.range(w.start..w.end).map(|(t, v)| (*t, *v))
    }
}

/// What one window holds, summarised from the per-period series.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct WindowStats {
    /// The window.
    pub window: Window,
    /// Requests (sum of `RequestCount`).
    pub requests: f64,
    /// 5xx answers (sum of `HTTPCode_Target_5XX_Count`).
    pub errors: f64,
    /// P95 latency in seconds (see the module docs), `None` without latency data.
    pub p95_s: Option<f64>,
    /// Periods in the window.
    pub periods: usize,
    /// Periods with request data.
    pub periods_with_data: usize,
}

impl WindowStats {
    /// `periods_with_data/periods periods with data`.
    pub fn coverage(&self) -> String {
        format!(
            "{}/{} periods with data",
            self.periods_with_data, self.periods
        )
    }
}

/// Summarise one window from the per-period series.
pub fn summarize(
    window: Window,
    period: i64,
    p95: &Series,
    requests: &Series,
    errors: &Series,
) -> WindowStats {
    let periods = if period > 0 {
        (window.len_s() / period).max(0) as usize
    } else {
        0
    };
    let req = requests.sum_in(window);
    let err = errors.sum_in(window);
    let periods_with_data = requests.in_window(window).filter(|(_, v)| *v > 0.0).count();
    // Request-weighted mean of per-period p95s; unweighted when no counts line up.
    let mut weighted = 0.0;
    let mut weight = 0.0;
    let mut plain = Vec::new();
    for (t, v) in p95.in_window(window) {
        plain.push(v);
        let w = requests.points.get(&t).copied().unwrap_or(0.0).max(0.0);
        weighted += v * w;
        weight += w;
    }
    let p95_s = if weight > 0.0 {
        Some(weighted / weight)
    } else if !plain.is_empty() {
        Some(plain.iter().sum::<f64>() / plain.len() as f64)
    } else {
        None
    };
    WindowStats {
        window,
        requests: req,
        errors: err,
        p95_s,
        periods,
        periods_with_data,
    }
}

/// Thresholds of the p95 gate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct P95Rule {
    /// Relative headroom over the baseline (0.2 = +20 %).
    pub tolerance: f64,
    /// Absolute headroom in milliseconds.
    pub slack_ms: f64,
    /// Fewer requests than this in either window: inconclusive.
    pub min_requests: u64,
}

/// `baseline × (1 + tolerance) + slack`, all in milliseconds.
pub fn p95_threshold_ms(baseline_ms: f64, rule: &P95Rule) -> f64 {
    baseline_ms * (1.0 + rule.tolerance) + rule.slack_ms
}

fn ms(s: f64) -> f64 {
    s * 1000.0
}

/// Judge the current window's p95 against the baselines (see the module docs).
pub fn judge_p95(
    current: &WindowStats,
    baselines: &[(BaselineKind, WindowStats)],
    rule: &P95Rule,
) -> Verdict {
    let min = rule.min_requests as f64;
    if current.requests < min {
        return Verdict::inconclusive(format!(
            "the window since the deploy ({}) has {} requests, fewer than the {} required to judge p95 latency ({})",
            current.window.label(),
            current.requests,
            rule.min_requests,
            current.coverage()
        ));
    }
    let Some(cur) = current.p95_s.map(ms) else {
        return Verdict::inconclusive(format!(
            "no TargetResponseTime data in the window since the deploy ({})",
            current.window.label()
        ));
    };
    let mut best: Option<(BaselineKind, f64, f64)> = None; // kind, baseline ms, threshold ms
    let mut skipped = Vec::new();
    for (kind, b) in baselines {
        match b.p95_s.map(ms) {
            Some(bms) if b.requests >= min => {
                let th = p95_threshold_ms(bms, rule);
                if best.is_none_or(|(_, _, t)| th > t) {
                    best = Some((*kind, bms, th));
                }
            }
            Some(_) => skipped.push(format!(
                "{} baseline has {} requests (< {})",
                kind.as_str(),
                b.requests,
                rule.min_requests
            )),
            None => skipped.push(format!(
                "{} baseline has no latency data ({})",
                kind.as_str(),
                b.coverage()
            )),
        }
    }
    let Some((kind, bms, th)) = best else {
        return Verdict::inconclusive(if skipped.is_empty() {
            "no baseline window configured".to_owned()
        } else {
            skipped.join("; ")
        });
    };
    let rule_text = format!(
        "≤ {th:.1} ms (threshold = {} baseline p95 {bms:.1} ms × {:.2} + {:.0} ms slack)",
        kind.as_str(),
        1.0 + rule.tolerance,
        rule.slack_ms
    );
    let actual = format!(
        "{cur:.1} ms over {} requests since the deploy ({})",
        current.requests,
        current.coverage()
    );
    if cur > th {
        Verdict::fail(
            "p95 latency (TargetResponseTime) vs baseline",
            rule_text,
            actual,
        )
    } else {
        Verdict::Pass {
            summary: format!("p95 {actual}, {rule_text}"),
        }
    }
}

/// Burn rate of the error budget: `(errors / requests) / (1 − slo)`; `None` without
/// requests or with an SLO outside `(0, 1)`.
pub fn burn_rate(errors: f64, requests: f64, slo: f64) -> Option<f64> {
    let usable = requests > 0.0 && slo > 0.0 && slo < 1.0 && errors.is_finite() && errors >= 0.0;
    if !usable {
        return None;
    }
    Some((errors / requests) / (1.0 - slo))
}

/// Thresholds of the error-budget gate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BurnRule {
    /// The availability SLO, e.g. 0.999.
    pub slo: f64,
    /// Fail at or above this burn rate (14.4).
    pub fast_burn: f64,
    /// Warn at or above this burn rate (6).
    pub slow_burn: f64,
    /// Fewer requests than this: inconclusive.
    pub min_requests: u64,
}

/// Judge the error budget of the current window (see the module docs). The baseline,
/// when given, is only quoted for context.
pub fn judge_error_budget(
    current: &WindowStats,
    baseline: Option<&WindowStats>,
    rule: &BurnRule,
) -> Verdict {
    if current.requests < rule.min_requests as f64 {
        return Verdict::inconclusive(format!(
            "the window since the deploy ({}) has {} requests, fewer than the {} required to judge the error budget ({})",
            current.window.label(),
            current.requests,
            rule.min_requests,
            current.coverage()
        ));
    }
    if current.errors > current.requests {
        return Verdict::inconclusive(format!(
            "the 5xx count ({}) exceeds the request count ({}): the CloudWatch series disagree",
            current.errors, current.requests
        ));
    }
    let Some(burn) = burn_rate(current.errors, current.requests, rule.slo) else {
        return Verdict::inconclusive(format!(
            "no burn rate for SLO {} with {} requests",
            rule.slo, current.requests
        ));
    };
    let ratio = current.errors / current.requests;
    let context = baseline
        .and_then(|b| {
            burn_rate(b.errors, b.requests, rule.slo).map(|br| {
                format!(
                    "; baseline burn rate {br:.2}× ({} of {} requests)",
                    b.errors, b.requests
                )
            })
        })
        .unwrap_or_default();
    let actual = format!(
        "burn rate {burn:.2}× ({} 5xx of {} requests = {:.3} %, SLO {:.3} %){context}",
        current.errors,
        current.requests,
        ratio * 100.0,
        rule.slo * 100.0
    );
    // 1e-9 absorbs the rounding of `1 − slo` (1 − 0.999 is 0.0010000000000000009).
    if burn >= rule.fast_burn - 1e-9 {
        Verdict::fail(
            "error-budget burn rate since the deploy",
            format!("< {:.1}× (fast burn: page)", rule.fast_burn),
            actual,
        )
    } else if burn >= rule.slow_burn - 1e-9 {
        Verdict::Warn {
            summary: format!(
                "slow burn: {actual} ≥ {:.1}× (warn), < {:.1}× (fail)",
                rule.slow_burn, rule.fast_burn
            ),
        }
    } else {
        Verdict::Pass {
            summary: format!("{actual} < {:.1}×", rule.slow_burn),
        }
    }
}

/// Increase of a counter between two scrapes. A counter that went down was reset;
/// the increase since the reset is at least its new value. Non-finite input gives 0.
pub fn counter_delta(start: f64, end: f64) -> f64 {
    if !start.is_finite() || !end.is_finite() {
        return 0.0;
    }
    if end >= start {
        end - start
    } else {
        end.max(0.0)
    }
}

/// Linear-interpolation percentile (`q` in 0..=100) of raw samples (the same method
/// CloudWatch and ministack use: rank `q/100 × (n − 1)`); `None` when empty.
pub fn percentile(samples: &[f64], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = (q.clamp(0.0, 100.0) / 100.0) * (v.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let frac = rank - lo as f64;
    Some(v[lo] + (v[hi] - v[lo]) * frac)
}

/// Judge a rate measured over `minutes` against `baseline_per_min × factor`; the
/// allowance covers at least one minute so a short run is not judged on noise.
pub fn judge_rate(
    what: &str,
    increase: f64,
    minutes: f64,
    baseline_per_min: f64,
    factor: f64,
) -> Verdict {
    let allowed = baseline_per_min * factor * minutes.max(1.0);
    let actual = format!("{increase} in {minutes:.2} min");
    let expected = format!(
        "≤ {allowed:.1} (baseline {baseline_per_min}/min × {factor} over max(1, {minutes:.2}) min)"
    );
    if increase > allowed {
        Verdict::fail(what, expected, actual)
    } else {
        Verdict::Pass {
            summary: format!("{what}: {actual}, {expected}"),
        }
    }
}

/// Unix seconds as RFC 3339, for messages (the number itself if out of range).
pub fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_764_000_000; // a multiple of 60 (2025-11-24T16:00:00Z)

    fn series(points: &[(i64, f64)]) -> Series {
        Series::from_pairs(points.iter().copied())
    }

    fn stats(requests: f64, errors: f64, p95_s: Option<f64>) -> WindowStats {
        WindowStats {
            window: Window {
                start: T0,
                end: T0 + 600,
            },
            requests,
            errors,
            p95_s,
            periods: 10,
            periods_with_data: 10,
        }
    }

    const P95: P95Rule = P95Rule {
        tolerance: 0.2,
        slack_ms: 50.0,
        min_requests: 100,
    };
    const BURN: BurnRule = BurnRule {
        slo: 0.999,
        fast_burn: FAST_BURN,
        slow_burn: SLOW_BURN,
        min_requests: 100,
    };

    #[test]
    fn alignment() {
        assert_eq!(align_down(T0 + 59, 60), T0);
        assert_eq!(align_up(T0 + 1, 60), T0 + 60);
        assert_eq!(align_up(T0, 60), T0);
        assert_eq!(align_down(-1, 60), -60);
    }

    #[test]
    fn windows_align_to_the_period_and_leave_out_the_filling_one() {
        let plan = plan_windows(
            T0 + 30 * 60 + 17,
            Some(T0 + 5),
            60,
            3600,
            &[BaselineKind::Previous, BaselineKind::WeekAgo],
        )
        .unwrap();
        assert_eq!(
            plan.current,
            Window {
                start: T0 + 60,
                end: T0 + 30 * 60
            }
        );
        assert_eq!(
            plan.baselines[0],
            (
                BaselineKind::Previous,
                Window {
                    start: T0 + 60 - 29 * 60,
                    end: T0 + 60
                }
            )
        );
        assert_eq!(
            plan.baselines[1],
            (
                BaselineKind::WeekAgo,
                Window {
                    start: T0 + 60 - WEEK_S,
                    end: T0 + 30 * 60 - WEEK_S
                }
            )
        );
        for (_, w) in &plan.baselines {
            assert_eq!(w.start % 60, 0);
            assert_eq!(w.end % 60, 0);
        }
        assert_eq!(
            plan.query_range(),
            Window {
                start: T0 + 60 - WEEK_S,
                end: T0 + 30 * 60
            }
        );
    }

    #[test]
    fn windows_are_capped_and_default_to_max_window() {
        let plan = plan_windows(T0 + 7200, Some(T0), 300, 1000, &[]).unwrap();
        // 1000 s rounds down to 900 s (three periods).
        assert_eq!(
            plan.current,
            Window {
                start: T0 + 7200 - 900,
                end: T0 + 7200
            }
        );
        let plan = plan_windows(T0 + 7200, None, 300, 3600, &[]).unwrap();
        assert_eq!(plan.current.len_s(), 3600);
    }

    #[test]
    fn too_early_and_bad_periods() {
        assert!(matches!(
            plan_windows(T0 + 90, Some(T0 + 30), 60, 3600, &[]),
            Err(WindowError::TooEarly { .. })
        ));
        assert_eq!(check_period(0), Err(WindowError::BadPeriod(0)));
        assert_eq!(check_period(90), Err(WindowError::BadPeriod(90)));
        assert_eq!(check_period(7 * 60), Ok(()), "420 divides a week");
        assert_eq!(
            check_period(11 * 60),
            Err(WindowError::BadPeriod(660)),
            "660 does not divide a week"
        );
        assert!(check_period(3600).is_ok());
    }

    #[test]
    fn summarize_sums_counts_and_weights_p95() {
        let w = Window {
            start: T0,
            end: T0 + 180,
        };
        let p95 = series(&[(T0, 0.1), (T0 + 60, 0.3), (T0 + 180, 9.0)]);
        let req = series(&[(T0, 300.0), (T0 + 60, 100.0), (T0 + 180, 1000.0)]);
        let err = series(&[(T0 + 60, 2.0)]);
        let s = summarize(w, 60, &p95, &req, &err);
        assert_eq!(s.requests, 400.0, "the bucket at the end bound is outside");
        assert_eq!(s.errors, 2.0, "absent 5xx buckets count as zero");
        let none = Series::default().sum_in(w);
        assert!(
            none == 0.0 && none.is_sign_positive(),
            "no buckets: +0, not -0"
        );
        assert!((s.p95_s.unwrap() - (0.1 * 300.0 + 0.3 * 100.0) / 400.0).abs() < 1e-12);
        assert_eq!(
            (s.periods, s.periods_with_data),
            (3, 2),
            "a gap is reported as coverage"
        );
    }

    #[test]
    fn summarize_no_data_and_unweighted_fallback() {
        let w = Window {
            start: T0,
            end: T0 + 120,
        };
        let empty = summarize(
            w,
            60,
            &Series::default(),
            &Series::default(),
            &Series::default(),
        );
        assert_eq!(
            (
                empty.requests,
                empty.errors,
                empty.p95_s,
                empty.periods_with_data
            ),
            (0.0, 0.0, None, 0)
        );
        let s = summarize(
            w,
            60,
            &series(&[(T0, 0.2), (T0 + 60, 0.4)]),
            &Series::default(),
            &Series::default(),
        );
        assert!((s.p95_s.unwrap() - 0.3).abs() < 1e-12);
    }

    #[test]
    fn series_drop_non_finite() {
        let s = series(&[(T0, f64::NAN), (T0 + 60, 1.0)]);
        assert_eq!(s.points.len(), 1);
    }

    #[test]
    fn p95_threshold_is_tolerance_plus_slack() {
        assert!((p95_threshold_ms(100.0, &P95) - 170.0).abs() < 1e-9);
    }

    #[test]
    fn p95_pass_and_fail_name_baseline_current_threshold() {
        let base = [(BaselineKind::Previous, stats(1000.0, 0.0, Some(0.100)))];
        assert!(matches!(
            judge_p95(&stats(500.0, 0.0, Some(0.169)), &base, &P95),
            Verdict::Pass { .. }
        ));
        match judge_p95(&stats(500.0, 0.0, Some(0.420)), &base, &P95) {
            Verdict::Fail {
                expected, actual, ..
            } => {
                assert!(expected.contains("170.0 ms"), "{expected}");
                assert!(expected.contains("baseline p95 100.0 ms"), "{expected}");
                assert!(actual.starts_with("420.0 ms"), "{actual}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn p95_uses_the_most_lenient_conclusive_baseline() {
        let base = [
            (BaselineKind::Previous, stats(1000.0, 0.0, Some(0.100))),
            (BaselineKind::WeekAgo, stats(1000.0, 0.0, Some(0.200))),
            (BaselineKind::WeekAgo, stats(10.0, 0.0, Some(5.0))), // too little traffic: ignored
        ];
        // threshold from week-ago: 200 × 1.2 + 50 = 290 ms
        assert!(matches!(
            judge_p95(&stats(500.0, 0.0, Some(0.280)), &base, &P95),
            Verdict::Pass { .. }
        ));
        assert!(matches!(
            judge_p95(&stats(500.0, 0.0, Some(0.300)), &base, &P95),
            Verdict::Fail { .. }
        ));
    }

    #[test]
    fn p95_inconclusive_cases() {
        let good = [(BaselineKind::Previous, stats(1000.0, 0.0, Some(0.1)))];
        // Too little current traffic, even with a terrible p95.
        assert!(matches!(
            judge_p95(&stats(99.0, 0.0, Some(9.0)), &good, &P95),
            Verdict::Inconclusive { .. }
        ));
        // Zero requests / no data at all.
        assert!(matches!(
            judge_p95(&stats(0.0, 0.0, None), &good, &P95),
            Verdict::Inconclusive { .. }
        ));
        // Enough requests but no latency series.
        assert!(matches!(
            judge_p95(&stats(500.0, 0.0, None), &good, &P95),
            Verdict::Inconclusive { .. }
        ));
        // No usable baseline.
        let thin = [(BaselineKind::Previous, stats(5.0, 0.0, Some(0.1)))];
        match judge_p95(&stats(500.0, 0.0, Some(0.1)), &thin, &P95) {
            Verdict::Inconclusive { reason } => assert!(
                reason.contains("previous baseline has 5 requests"),
                "{reason}"
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            judge_p95(&stats(500.0, 0.0, Some(0.1)), &[], &P95),
            Verdict::Inconclusive { .. }
        ));
        let none = [(BaselineKind::WeekAgo, stats(0.0, 0.0, None))];
        assert!(matches!(
            judge_p95(&stats(500.0, 0.0, Some(0.1)), &none, &P95),
            Verdict::Inconclusive { .. }
        ));
    }

    #[test]
    fn burn_rate_math() {
        assert_eq!(burn_rate(0.0, 0.0, 0.999), None, "zero requests");
        assert_eq!(
            burn_rate(1.0, 100.0, 1.0),
            None,
            "an SLO of 100 % has no budget"
        );
        assert_eq!(burn_rate(1.0, 100.0, 0.0), None);
        let b = burn_rate(50.0, 1000.0, 0.999).unwrap();
        assert!((b - 50.0).abs() < 1e-9, "5 % errors at 99.9 % is 50×: {b}");
        assert!((burn_rate(1.0, 1000.0, 0.999).unwrap() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn error_budget_fast_burn_fails_slow_burn_warns() {
        match judge_error_budget(&stats(1000.0, 50.0, None), None, &BURN) {
            Verdict::Fail {
                expected, actual, ..
            } => {
                assert!(expected.contains("14.4"), "{expected}");
                assert!(actual.contains("burn rate 50.00×"), "{actual}");
            }
            other => panic!("{other:?}"),
        }
        // 14.4× exactly fails (≥).
        assert!(matches!(
            judge_error_budget(&stats(10_000.0, 144.0, None), None, &BURN),
            Verdict::Fail { .. }
        ));
        // 10× warns.
        assert!(matches!(
            judge_error_budget(&stats(1000.0, 10.0, None), None, &BURN),
            Verdict::Warn { .. }
        ));
        // 1× passes.
        assert!(matches!(
            judge_error_budget(&stats(1000.0, 1.0, None), None, &BURN),
            Verdict::Pass { .. }
        ));
        assert!(matches!(
            judge_error_budget(&stats(1000.0, 0.0, None), None, &BURN),
            Verdict::Pass { .. }
        ));
    }

    #[test]
    fn error_budget_inconclusive_cases() {
        assert!(matches!(
            judge_error_budget(&stats(0.0, 0.0, None), None, &BURN),
            Verdict::Inconclusive { .. }
        ));
        // Too little traffic even when every request failed: not a pass, not a fail.
        assert!(matches!(
            judge_error_budget(&stats(20.0, 20.0, None), None, &BURN),
            Verdict::Inconclusive { .. }
        ));
        assert!(matches!(
            judge_error_budget(&stats(200.0, 300.0, None), None, &BURN),
            Verdict::Inconclusive { .. }
        ));
    }

    #[test]
    fn error_budget_quotes_the_baseline() {
        let b = stats(1000.0, 1.0, None);
        match judge_error_budget(&stats(1000.0, 0.0, None), Some(&b), &BURN) {
            Verdict::Pass { summary } => {
                assert!(summary.contains("baseline burn rate 1.00×"), "{summary}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn counter_deltas_handle_resets() {
        assert_eq!(counter_delta(10.0, 15.0), 5.0);
        assert_eq!(counter_delta(10.0, 10.0), 0.0);
        assert_eq!(
            counter_delta(100.0, 3.0),
            3.0,
            "reset: the increase since the restart"
        );
        assert_eq!(counter_delta(f64::NAN, 3.0), 0.0);
    }

    #[test]
    fn percentile_interpolates_linearly() {
        assert_eq!(percentile(&[], 95.0), None);
        assert_eq!(percentile(&[7.0], 95.0), Some(7.0));
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        // rank 0.95 × 99 = 94.05 → 95 + 0.05 × 1
        assert!((percentile(&v, 95.0).unwrap() - 95.05).abs() < 1e-9);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 50.0), Some(2.0));
    }

    #[test]
    fn rates_against_baseline_times_factor() {
        assert!(
            matches!(
                judge_rate("auth failures", 10.0, 0.1, 5.0, 3.0),
                Verdict::Pass { .. }
            ),
            "allowance is at least one minute"
        );
        assert!(matches!(
            judge_rate("auth failures", 16.0, 0.1, 5.0, 3.0),
            Verdict::Fail { .. }
        ));
        assert!(matches!(
            judge_rate("auth failures", 29.0, 2.0, 5.0, 3.0),
            Verdict::Pass { .. }
        ));
    }
}
