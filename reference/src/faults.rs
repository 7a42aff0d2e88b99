//! Injectable faults.
//!
//! The reference server exists so the smoke suite can prove, check by check,
//! that each check *fails* when the behaviour it guards is broken. Every fault
//! here breaks exactly one behaviour of the contract and has a stable
//! kebab-case name, so it can be switched on from the command line
//! (`--fault refresh-not-rotated`) or at runtime through
//! [`crate::RunningServer::set_faults`].
//!
//! The names and the catalogue are derived from the enum (strum's `EnumIter`
//! and `IntoStaticStr`, kebab-case), so a new variant is listed, named and
//! parsed without touching a list. Only the parametrised conditions
//! (`latency:`, `error-rate:`, `jitter:`, `clock:`, `role-bypass:`, `throttle:`)
//! have a hand parser and a catalogue example.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use strum::IntoEnumIterator;

/// One deliberate defect of the reference server.
#[derive(Clone, Debug, PartialEq, Eq, Hash, strum::EnumIter, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum Fault {
    /// `POST /api/auth/refresh` hands back the same refresh token.
    RefreshNotRotated,
    /// An already rotated refresh token still works and nothing is revoked.
    RefreshReuseAccepted,
    /// The refresh cookie lacks `HttpOnly`.
    #[strum(serialize = "refresh-cookie-no-httponly")]
    RefreshCookieNoHttpOnly,
    /// The refresh cookie lacks `Secure`.
    RefreshCookieNoSecure,
    /// Any MFA code is accepted.
    TotpNotChecked,
    /// `POST /api/auth/logout` answers 204 but revokes nothing.
    LogoutNotRevoking,
    /// `GET /api/me` reports another role than the token's user has.
    MeWrongRole,
    /// `GET /api/health` reports `degraded` with a degraded database check.
    HealthDegraded,
    /// Crew can read invoices (list and get), which only Owner and Accountant may.
    CrewReadsInvoices,
    /// `GET /api/invoices/{id}` skips its role check: any role reads one invoice
    /// by id, though the list still refuses them.
    InvoiceGetAnyRole,
    /// A file whose parent is an invoice is readable (metadata and download URL)
    /// by every role, not only by those who can read the invoice.
    InvoiceFilesAnyRole,
    /// `GET /api/webhooks/endpoints/{id}/deliveries` skips its role check.
    DeliveriesAnyRole,
    /// An availability answer after `respond_by` is recorded (no 409 `request_closed`).
    LateAnswerAccepted,
    /// A user who was not invited may answer an availability request.
    NonInviteeAnswers,
    /// An availability request's `counts` count `tentative` answers as `pending`.
    AvailabilityCountsWrong,
    /// Crew can lock a setlist, which only Owner and Manager may.
    CrewLocksSetlist,
    /// Creating an invoice writes no `invoice.created` audit entry.
    AuditMissingInvoiceCreated,
    /// A successful login writes no `auth.login` audit entry.
    AuditMissingLogin,
    /// A recovery code logs in again after it was used.
    RecoveryCodeReusable,
    /// TOTP codes from two or more steps ago are accepted at MFA verify.
    OldTotpAccepted,
    /// The account export holds the profile but not the objects the user created.
    ExportMissingObjects,
    /// A user who erased their account (`DELETE /api/me`) can still log in.
    DeletedUserCanLogin,
    /// `PATCH /api/events/{id}` ignores `If-Match` (no 428, no 412).
    LostUpdate,
    /// `PATCH` on a locked setlist succeeds.
    LockNotEnforced,
    /// Setlist exports drop the last item.
    ExportMissingItem,
    /// The setlist PDF export shows a total duration one second too long.
    ExportPdfWrongDuration,
    /// Invoice `total_cents` is one cent too high.
    InvoiceTotalOffByCent,
    /// Rendered invoice PDFs are not valid PDF documents.
    PdfCorrupt,
    /// Rendered invoice PDFs lack the invoice number.
    PdfMissingNumber,
    /// Rendered invoice PDFs show a total one cent too high (the JSON is right).
    PdfWrongTotal,
    /// The renderer's HTML error page is stored (and served) instead of the PDF.
    PdfIsErrorPage,
    /// PDF jobs stay `running` forever.
    JobNeverFinishes,
    /// Signed storage URLs accept any signature.
    SignatureNotChecked,
    /// Expired signed storage URLs still work.
    ExpiryNotEnforced,
    /// Infected files get download URLs and are served.
    InfectedDownloadable,
    /// Downloads name another file in `Content-Disposition` (`filename*` too).
    DownloadWrongFilename,
    /// Webhook signatures leave `"<t>."` out of the MAC.
    WebhookSignatureWrong,
    /// A non-2xx webhook answer is not retried.
    WebhookNoRetry,
    /// The delivery log says `succeeded` after a non-2xx answer.
    DeliveryLogLies,
    /// `DELETE` on events, files and webhook endpoints answers 204 but keeps them.
    DeleteNotDeleting,
    /// `queue_depth{queue="pdf"}` reports 5000 waiting jobs.
    QueueDepthHigh,
    /// Every `/metrics` scrape sees one more failed `pdf` job.
    JobsFailedRising,
    /// Every incoming Stripe webhook event fails (one per `/metrics` scrape).
    StripeFailures,
    /// The analytics aggregation last succeeded three days ago.
    AnalyticsStale,
    /// The retention purge job last succeeded three days ago.
    RetentionPurgeStale,
    /// The last event reached error tracking two days ago.
    ErrorTrackingSilent,
    /// Every `/metrics` scrape sees 500 more auth failures and 50 more IP anomalies.
    AuthFailureSpike,
    /// `/metrics` ends with a line that is not Prometheus text format.
    MetricsMalformed,
    /// `/api/health` reports another version and commit than the server was started with.
    VersionMismatch,
    /// The web service still reports the previous release (the rollout stopped
    /// before it).
    ServiceOnPreviousRelease,
    /// The web service started before the worker (rolled out of order).
    RolloutOutOfOrder,
    /// The newest AWS Backup restore job completed 45 days ago.
    RestoreTestStale,
    /// Adds `ms` milliseconds to requests whose matched route is `route`
    /// (`*` matches every route).
    Latency {
        /// Route template as axum matched it, e.g. `/api/me`, or `*`.
        route: String,
        /// Added delay in milliseconds.
        ms: u64,
    },
    /// `percent` % of API requests (every route but `/api/health` and `/metrics`)
    /// answer 500, spread evenly.
    ErrorRate {
        /// Share of requests that fail, 1–100.
        percent: u8,
    },
    /// Not a fault but a condition for soak runs: every request waits a random
    /// 0..=`max_ms` milliseconds. A healthy suite must stay green under it.
    Jitter {
        /// Upper bound of the random delay.
        max_ms: u64,
    },
    /// The role check of one route is skipped for one role: `role` may do
    /// `method route` (route as axum matched it, e.g. `/api/setlists/{id}/lock`)
    /// although the contract's `x-roles` (or the parent's, for `x-access`) refuse
    /// it. One instance per cell of the RBAC matrix proves each cell (tests/security.rs).
    RoleBypass {
        /// Role name, e.g. `crew`.
        role: String,
        /// HTTP method, e.g. `POST`.
        method: String,
        /// Route template, e.g. `/api/setlists/{id}/lock`.
        route: String,
    },
    /// Not a fault but a condition: the server's clock runs `ms` milliseconds off
    /// (negative: behind) — its `Date` header and signed-URL expiry both. A suite
    /// that judges expiry by the target's clock stays green under it.
    #[strum(serialize = "clock")]
    ClockOffset {
        /// Offset from the real time, in milliseconds.
        ms: i64,
    },
    /// Not a fault but a condition: the target rate-limits `route` (as axum matched
    /// it; `*`: every route but `/api/health` and `/metrics`, one shared count).
    /// `n` requests pass, the next answers 429 `rate_limited` with `Retry-After: s`,
    /// and so does every request for the `s` seconds after it; then `n` pass again.
    /// A suite that waits out `Retry-After` within its deadline stays green.
    Throttle {
        /// Route template, or `*`.
        route: String,
        /// Requests that pass per window.
        n: u64,
        /// Seconds the route is closed after the `n + 1`-th request.
        s: u64,
    },
}

impl Fault {
    /// One instance of every kind of fault, in declaration order (latency as
    /// `latency:/api/me:300`).
    pub fn catalogue() -> Vec<Fault> {
        Fault::iter().map(Fault::example).collect()
    }

    /// `kind` with example parameters (unit faults are their own example).
    fn example(kind: Fault) -> Fault {
        match kind {
            Fault::Latency { .. } => Fault::Latency {
                route: "/api/me".to_owned(),
                ms: 300,
            },
            Fault::ErrorRate { .. } => Fault::ErrorRate { percent: 5 },
            Fault::Jitter { .. } => Fault::Jitter { max_ms: 50 },
            Fault::ClockOffset { .. } => Fault::ClockOffset { ms: -3000 },
            Fault::RoleBypass { .. } => Fault::RoleBypass {
                role: "crew".to_owned(),
                method: "POST".to_owned(),
                route: "/api/setlists/{id}/lock".to_owned(),
            },
            Fault::Throttle { .. } => Fault::Throttle {
                route: "/api/me".to_owned(),
                n: 1,
                s: 1,
            },
            unit => unit,
        }
    }

    /// Whether the fault carries parameters (`name:params` on the command line).
    fn is_parametrised(&self) -> bool {
        matches!(
            self,
            Fault::Latency { .. }
                | Fault::ErrorRate { .. }
                | Fault::Jitter { .. }
                | Fault::ClockOffset { .. }
                | Fault::RoleBypass { .. }
                | Fault::Throttle { .. }
        )
    }

    /// The faults without parameters, in declaration order.
    fn unit_faults() -> impl Iterator<Item = Fault> {
        Fault::iter().filter(|f| !f.is_parametrised())
    }

    /// What the fault breaks, in one sentence.
    pub fn describe(&self) -> &'static str {
        match self {
            Fault::RefreshNotRotated => {
                "refresh returns the same refresh token instead of rotating it"
            }
            Fault::RefreshReuseAccepted => {
                "a rotated refresh token still works and its family is not revoked"
            }
            Fault::RefreshCookieNoHttpOnly => "the refresh cookie is set without HttpOnly",
            Fault::RefreshCookieNoSecure => "the refresh cookie is set without Secure",
            Fault::TotpNotChecked => "any MFA code is accepted",
            Fault::LogoutNotRevoking => "logout answers 204 but leaves the refresh family valid",
            Fault::MeWrongRole => "/api/me reports a different role than the token's user has",
            Fault::HealthDegraded => "health reports degraded with a degraded database check",
            Fault::CrewReadsInvoices => {
                "crew can list and read invoices (only owner and accountant may)"
            }
            Fault::InvoiceGetAnyRole => {
                "any role can read one invoice by id (the list still refuses them)"
            }
            Fault::InvoiceFilesAnyRole => {
                "any role can read a file whose parent is an invoice, and get its download URL"
            }
            Fault::DeliveriesAnyRole => "any role can read a webhook endpoint's deliveries",
            Fault::LateAnswerAccepted => {
                "an availability answer after respond_by is recorded instead of refused"
            }
            Fault::NonInviteeAnswers => {
                "a user who was not invited may answer an availability request"
            }
            Fault::AvailabilityCountsWrong => {
                "availability counts count tentative answers as pending"
            }
            Fault::CrewLocksSetlist => "crew can lock a setlist (only owner and manager may)",
            Fault::AuditMissingInvoiceCreated => {
                "creating an invoice writes no invoice.created audit entry"
            }
            Fault::AuditMissingLogin => "a successful login writes no auth.login audit entry",
            Fault::RecoveryCodeReusable => "a used recovery code logs in again",
            Fault::OldTotpAccepted => "MFA verify accepts TOTP codes from two or more steps ago",
            Fault::ExportMissingObjects => "the account export omits the objects the user created",
            Fault::DeletedUserCanLogin => "a user who erased their account can still log in",
            Fault::LostUpdate => {
                "event PATCH ignores If-Match: stale or missing versions overwrite"
            }
            Fault::LockNotEnforced => "PATCH on a locked setlist succeeds instead of 423",
            Fault::ExportMissingItem => "setlist exports (json, csv, pdf) drop the last item",
            Fault::ExportPdfWrongDuration => {
                "the setlist PDF export shows a total duration one second too long"
            }
            Fault::InvoiceTotalOffByCent => "invoice total_cents is subtotal + tax + 1",
            Fault::PdfCorrupt => "rendered invoice PDFs are truncated garbage, not a valid PDF",
            Fault::PdfMissingNumber => "rendered invoice PDFs do not name the invoice number",
            Fault::PdfWrongTotal => "rendered invoice PDFs show a total one cent too high",
            Fault::PdfIsErrorPage => {
                "the invoice 'PDF' is the renderer's HTML error page, served as text/html"
            }
            Fault::JobNeverFinishes => "invoice PDF jobs stay running forever",
            Fault::SignatureNotChecked => "storage URLs are served whatever their signature",
            Fault::ExpiryNotEnforced => "expired storage URLs still work",
            Fault::InfectedDownloadable => "infected files get download URLs and are served",
            Fault::DownloadWrongFilename => {
                "downloads name another file in Content-Disposition than was uploaded"
            }
            Fault::WebhookSignatureWrong => {
                "webhook signatures are computed over the body without the timestamp"
            }
            Fault::WebhookNoRetry => "webhook deliveries are not retried after a non-2xx answer",
            Fault::DeliveryLogLies => {
                "the delivery log reports succeeded when the receiver answered non-2xx"
            }
            Fault::DeleteNotDeleting => {
                "DELETE on events, files and webhook endpoints answers 204 but keeps the entity"
            }
            Fault::QueueDepthHigh => "queue_depth of the pdf queue reports 5000 waiting jobs",
            Fault::JobsFailedRising => "every /metrics scrape sees one more failed pdf job",
            Fault::StripeFailures => "incoming Stripe webhook events fail",
            Fault::AnalyticsStale => "the analytics aggregation last succeeded three days ago",
            Fault::RetentionPurgeStale => "the retention purge job last succeeded three days ago",
            Fault::ErrorTrackingSilent => "the last event reached error tracking two days ago",
            Fault::AuthFailureSpike => {
                "every /metrics scrape sees 500 more auth failures and 50 more IP anomalies"
            }
            Fault::MetricsMalformed => {
                "/metrics ends with a line that is not Prometheus text format"
            }
            Fault::VersionMismatch => {
                "/api/health reports another version and commit than deployed"
            }
            Fault::ServiceOnPreviousRelease => {
                "the web service's /api/health still reports the previous release"
            }
            Fault::RolloutOutOfOrder => {
                "the web service started before the worker (rollout out of order)"
            }
            Fault::RestoreTestStale => {
                "the newest AWS Backup restore job completed 45 days ago (older than 30)"
            }
            Fault::ErrorRate { .. } => {
                "a share of API requests (all but /api/health and /metrics) answer 500"
            }
            Fault::Latency { .. } => "adds a fixed delay to requests of one route (or all: *)",
            Fault::Jitter { .. } => {
                "not a fault: a random 0..=N ms delay on every request, for soak runs"
            }
            Fault::ClockOffset { .. } => {
                "not a fault: the server's clock (Date header, signed-URL expiry) is N ms off"
            }
            Fault::RoleBypass { .. } => {
                "one role may use one route its x-roles refuse (role-bypass:<role>:<METHOD>:<route>)"
            }
            Fault::Throttle { .. } => {
                "not a fault: after n requests to a route, 429 with Retry-After s for s seconds (throttle:<route>:<n>:<s>)"
            }
        }
    }

    /// The kebab-case kind name (`latency`, `refresh-not-rotated`, ...).
    fn kind_name(&self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` so width/alignment flags work (`{fault:<28}`).
        match self {
            Fault::Latency { route, ms } => f.pad(&format!("latency:{route}:{ms}")),
            Fault::ErrorRate { percent } => f.pad(&format!("error-rate:{percent}")),
            Fault::Jitter { max_ms } => f.pad(&format!("jitter:{max_ms}")),
            Fault::ClockOffset { ms } => f.pad(&format!("clock:{ms}")),
            Fault::RoleBypass {
                role,
                method,
                route,
            } => f.pad(&format!("role-bypass:{role}:{method}:{route}")),
            Fault::Throttle { route, n, s } => f.pad(&format!("throttle:{route}:{n}:{s}")),
            other => f.pad(other.kind_name()),
        }
    }
}

/// A fault name that is not in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault `{given}`; valid faults: {valid}")]
pub struct ParseFaultError {
    given: String,
    valid: String,
}

impl FromStr for Fault {
    type Err = ParseFaultError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some(fault) = Fault::unit_faults().find(|f| f.kind_name() == s) {
            return Ok(fault);
        }
        if let Some(rest) = s.strip_prefix("latency:")
            && let Some((route, ms)) = rest.rsplit_once(':')
            && !route.is_empty()
            && let Ok(ms) = ms.parse::<u64>()
        {
            return Ok(Fault::Latency {
                route: route.to_owned(),
                ms,
            });
        }
        if let Some(p) = s.strip_prefix("error-rate:")
            && let Ok(percent) = p.trim_end_matches('%').parse::<u8>()
            && (1..=100).contains(&percent)
        {
            return Ok(Fault::ErrorRate { percent });
        }
        if let Some(ms) = s.strip_prefix("jitter:")
            && let Ok(max_ms) = ms.parse::<u64>()
        {
            return Ok(Fault::Jitter { max_ms });
        }
        if let Some(ms) = s.strip_prefix("clock:")
            && let Ok(ms) = ms.parse::<i64>()
        {
            return Ok(Fault::ClockOffset { ms });
        }
        if let Some(rest) = s.strip_prefix("role-bypass:")
            && let Some((role, rest)) = rest.split_once(':')
            && let Some((method, route)) = rest.split_once(':')
            && crate::credentials::Role::ALL
                .iter()
                .any(|r| r.as_str() == role)
            && !method.is_empty()
            && route.starts_with('/')
        {
            return Ok(Fault::RoleBypass {
                role: role.to_owned(),
                method: method.to_ascii_uppercase(),
                route: route.to_owned(),
            });
        }
        if let Some(rest) = s.strip_prefix("throttle:")
            && let Some((rest, secs)) = rest.rsplit_once(':')
            && let Some((route, n)) = rest.rsplit_once(':')
            && (route == "*" || route.starts_with('/'))
            && let (Ok(n), Ok(secs)) = (n.parse::<u64>(), secs.parse::<u64>())
            && secs > 0
        {
            return Ok(Fault::Throttle {
                route: route.to_owned(),
                n,
                s: secs,
            });
        }
        let mut valid: Vec<&str> = Fault::unit_faults().map(|f| f.kind_name()).collect();
        valid.push("jitter:<max ms>");
        valid.push("clock:<offset ms, negative: behind>");
        valid.push("latency:<route>:<ms>");
        valid.push("error-rate:<percent 1-100>");
        valid.push("role-bypass:<role>:<METHOD>:<route>");
        valid.push("throttle:<route>:<requests>:<seconds>");
        Err(ParseFaultError {
            given: s.to_owned(),
            valid: valid.join(", "),
        })
    }
}

/// The active faults, shared between the server and whoever holds its handle.
#[derive(Clone, Debug, Default)]
pub struct FaultSet {
    inner: Arc<RwLock<Vec<Fault>>>,
    /// The `throttle:` windows, by the fault's route.
    windows: Arc<Mutex<HashMap<String, Window>>>,
}

/// One `throttle:` route's count: requests in this window, and until when it is
/// closed.
#[derive(Debug, Default)]
struct Window {
    passed: u64,
    closed_until: Option<Instant>,
}

impl FaultSet {
    /// A set holding `faults`.
    pub fn new(faults: Vec<Fault>) -> Self {
        Self {
            inner: Arc::new(RwLock::new(faults)),
            windows: Arc::default(),
        }
    }

    /// Replaces the active faults (and starts every `throttle:` window afresh).
    pub fn set(&self, faults: Vec<Fault>) {
        let mut guard = self.inner.write().unwrap_or_else(|e| e.into_inner());
        *guard = faults;
        self.windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Whether a `throttle:` condition closes `route` now: the `Retry-After`
    /// seconds to answer with (counting this request). `ops` routes (health,
    /// metrics) are throttled only when named exactly.
    pub fn throttled(&self, route: &str, ops: bool) -> Option<u64> {
        let throttles: Vec<(String, u64, u64)> = self
            .inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|f| match f {
                Fault::Throttle { route: r, n, s } if r == route || (r == "*" && !ops) => {
                    Some((r.clone(), *n, *s))
                }
                _ => None,
            })
            .collect();
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        throttles
            .into_iter()
            .filter_map(|(key, n, s)| {
                let w = windows.entry(key).or_default();
                match w.closed_until {
                    Some(until) if until > now => {
                        let left = until - now;
                        return Some(left.as_secs() + u64::from(left.subsec_nanos() > 0));
                    }
                    Some(_) => *w = Window::default(),
                    None => {}
                }
                if w.passed < n {
                    w.passed += 1;
                    None
                } else {
                    w.closed_until = Some(now + Duration::from_secs(s));
                    Some(s)
                }
            })
            .max()
    }

    /// The active faults.
    pub fn get(&self) -> Vec<Fault> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether `fault` is active (exact match).
    pub fn has(&self, fault: &Fault) -> bool {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(fault)
    }

    /// Whether a `role-bypass` fault lets `role` through `method route`.
    pub fn role_bypassed(&self, role: &str, method: &str, route: &str) -> bool {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|f| {
                matches!(f, Fault::RoleBypass { role: r, method: m, route: p }
                    if r == role && m.eq_ignore_ascii_case(method) && p == route)
            })
    }

    /// The server clock's offset from real time (the `clock:` condition), in ms.
    pub fn clock_offset_ms(&self) -> i64 {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|f| match f {
                Fault::ClockOffset { ms } => Some(*ms),
                _ => None,
            })
            .sum()
    }

    /// The share of failing requests of the active error-rate fault, if any.
    pub fn error_rate(&self) -> Option<u8> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find_map(|f| match f {
                Fault::ErrorRate { percent } => Some(*percent),
                _ => None,
            })
    }

    /// The total delay the latency faults add to `route`.
    pub fn latency_for(&self, route: &str) -> u64 {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|f| match f {
                Fault::Latency { route: r, ms } if r == "*" || r == route => Some(*ms),
                Fault::Jitter { max_ms } => Some(rand::random_range(0..=*max_ms)),
                _ => None,
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for fault in Fault::catalogue() {
            let name = fault.to_string();
            assert_eq!(name.parse::<Fault>(), Ok(fault.clone()), "{name}");
            assert!(!fault.describe().is_empty());
        }
        assert_eq!(Fault::catalogue().len(), Fault::unit_faults().count() + 6);
    }

    #[test]
    fn catalogue_names_are_stable() {
        // The names the CLI, the suite and the docs use; order included.
        let names: Vec<String> = Fault::catalogue().iter().map(Fault::to_string).collect();
        let expected = [
            "refresh-not-rotated",
            "refresh-reuse-accepted",
            "refresh-cookie-no-httponly",
            "refresh-cookie-no-secure",
            "totp-not-checked",
            "logout-not-revoking",
            "me-wrong-role",
            "health-degraded",
            "crew-reads-invoices",
            "invoice-get-any-role",
            "invoice-files-any-role",
            "deliveries-any-role",
            "late-answer-accepted",
            "non-invitee-answers",
            "availability-counts-wrong",
            "crew-locks-setlist",
            "audit-missing-invoice-created",
            "audit-missing-login",
            "recovery-code-reusable",
            "old-totp-accepted",
            "export-missing-objects",
            "deleted-user-can-login",
            "lost-update",
            "lock-not-enforced",
            "export-missing-item",
            "export-pdf-wrong-duration",
            "invoice-total-off-by-cent",
            "pdf-corrupt",
            "pdf-missing-number",
            "pdf-wrong-total",
            "pdf-is-error-page",
            "job-never-finishes",
            "signature-not-checked",
            "expiry-not-enforced",
            "infected-downloadable",
            "download-wrong-filename",
            "webhook-signature-wrong",
            "webhook-no-retry",
            "delivery-log-lies",
            "delete-not-deleting",
            "queue-depth-high",
            "jobs-failed-rising",
            "stripe-failures",
            "analytics-stale",
            "retention-purge-stale",
            "error-tracking-silent",
            "auth-failure-spike",
            "metrics-malformed",
            "version-mismatch",
            "service-on-previous-release",
            "rollout-out-of-order",
            "restore-test-stale",
            "latency:/api/me:300",
            "error-rate:5",
            "jitter:50",
            "role-bypass:crew:POST:/api/setlists/{id}/lock",
            "clock:-3000",
            "throttle:/api/me:1:1",
        ];
        assert_eq!(names, expected);
        // Bare parametrised names are not faults.
        for bare in [
            "latency",
            "error-rate",
            "jitter",
            "clock",
            "clock-offset",
            "throttle",
        ] {
            assert!(bare.parse::<Fault>().is_err(), "{bare}");
        }
    }

    #[test]
    fn latency_parses_route_with_colons_and_star() {
        assert_eq!(
            "latency:*:50".parse::<Fault>(),
            Ok(Fault::Latency {
                route: "*".into(),
                ms: 50
            })
        );
        assert_eq!(
            "latency:/api/events/{id}:7".parse::<Fault>(),
            Ok(Fault::Latency {
                route: "/api/events/{id}".into(),
                ms: 7
            })
        );
    }

    #[test]
    fn unknown_name_lists_valid_ones() {
        let err = "nope".parse::<Fault>().err().map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.contains("refresh-not-rotated"), "{err}");
        assert!(err.contains("latency:<route>:<ms>"), "{err}");
        assert!("latency:/api/me:x".parse::<Fault>().is_err());
    }

    #[test]
    fn throttle_parses_and_closes_the_route_for_its_seconds() {
        assert_eq!(
            "throttle:/api/events/{id}:3:37".parse::<Fault>(),
            Ok(Fault::Throttle {
                route: "/api/events/{id}".into(),
                n: 3,
                s: 37
            })
        );
        assert!("throttle:/api/me:3".parse::<Fault>().is_err());
        assert!("throttle:/api/me:3:0".parse::<Fault>().is_err());
        assert!("throttle:api:3:1".parse::<Fault>().is_err());
        let set = FaultSet::new(vec!["throttle:/api/me:2:37".parse().unwrap()]);
        assert_eq!(set.throttled("/api/me", false), None);
        assert_eq!(set.throttled("/api/other", false), None);
        assert_eq!(set.throttled("/api/me", false), None);
        assert_eq!(set.throttled("/api/me", false), Some(37));
        let again = set.throttled("/api/me", false);
        assert!(matches!(again, Some(36 | 37)), "{again:?}");
        // `*` spares health and metrics unless they are named.
        let set = FaultSet::new(vec!["throttle:*:0:5".parse().unwrap()]);
        assert_eq!(set.throttled("/api/health", true), None);
        assert_eq!(set.throttled("/api/me", false), Some(5));
    }

    #[test]
    fn latency_sums_matching_faults() {
        let set = FaultSet::new(vec![
            Fault::Latency {
                route: "*".into(),
                ms: 10,
            },
            Fault::Latency {
                route: "/api/me".into(),
                ms: 5,
            },
        ]);
        assert_eq!(set.latency_for("/api/me"), 15);
        assert_eq!(set.latency_for("/api/health"), 10);
    }
}
