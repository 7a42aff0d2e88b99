//! The contract's schemas (fixtures/contract/stageos.openapi.yaml) as serde types.
//!
//! Required properties are required here too: a body that lacks one is not what
//! the contract promises, so decoding fails and the step reports an execution
//! error (we could not check), not a failed check. Unknown properties are ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use stageos_smoke_http::http::ExecError;

/// Whether `a` and `b` name the same mailbox: the local part as written, the
/// domain in any case (RFC 5321 §2.4; a target may store or echo the domain in
/// another case than it was given).
pub fn same_mailbox(a: &str, b: &str) -> bool {
    match (a.trim().rsplit_once('@'), b.trim().rsplit_once('@')) {
        (Some((la, da)), Some((lb, db))) => la == lb && da.eq_ignore_ascii_case(db),
        _ => a.trim() == b.trim(),
    }
}

/// [`ensure_eq`](stageos_smoke_http::http::ensure_eq) for mailboxes: equal by [`same_mailbox`].
pub fn ensure_same_mailbox(
    what: &str,
    expected: &str,
    actual: &str,
) -> Result<(), stageos_smoke_http::http::CheckFailure> {
    if same_mailbox(expected, actual) {
        return Ok(());
    }
    Err(stageos_smoke_http::http::CheckFailure {
        what: what.to_owned(),
        expected: format!("{expected:?} (the domain in any case)"),
        actual: format!("{actual:?}"),
    })
}

/// `Venue`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Venue {
    /// Name.
    pub name: String,
    /// City.
    pub city: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

/// `Event`.
#[derive(Clone, Debug, Deserialize)]
pub struct Event {
    /// UUID.
    pub id: String,
    /// Title.
    pub title: String,
    /// Venue.
    pub venue: Venue,
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339.
    pub ends_at: String,
    /// IANA zone.
    pub timezone: String,
    /// Notes.
    pub notes: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Creating smoke run.
    pub smoke_run_id: Option<String>,
    /// Version (the ETag).
    pub version: u64,
    /// Creator.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
}

/// `AvailabilityResponse`.
#[derive(Clone, Debug, Deserialize)]
pub struct AvailabilityResponse {
    /// Invited member.
    pub member_id: String,
    /// pending | available | unavailable | tentative.
    pub status: String,
    /// Note.
    pub note: Option<String>,
}

/// `AvailabilityCounts`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
pub struct AvailabilityCounts {
    /// Pending.
    pub pending: u64,
    /// Available.
    pub available: u64,
    /// Unavailable.
    pub unavailable: u64,
    /// Tentative.
    pub tentative: u64,
}

/// `AvailabilityRequest`.
#[derive(Clone, Debug, Deserialize)]
pub struct AvailabilityRequest {
    /// UUID.
    pub id: String,
    /// The event.
    pub event_id: String,
    /// RFC 3339.
    pub respond_by: String,
    /// open | closed.
    pub status: String,
    /// One per invited member, in order.
    pub responses: Vec<AvailabilityResponse>,
    /// Counts per status.
    pub counts: AvailabilityCounts,
}

/// `SetlistItem`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct SetlistItem {
    /// Title.
    pub title: String,
    /// Seconds.
    pub duration_s: u64,
    /// Musical key.
    #[serde(default)]
    pub key: Option<String>,
    /// Notes.
    #[serde(default)]
    pub notes: Option<String>,
}

/// `Setlist`.
#[derive(Clone, Debug, Deserialize)]
pub struct Setlist {
    /// UUID.
    pub id: String,
    /// The event.
    pub event_id: String,
    /// Name.
    pub name: String,
    /// Items in order.
    pub items: Vec<SetlistItem>,
    /// Sum of durations.
    pub total_duration_s: u64,
    /// Locked.
    pub locked: bool,
    /// When locked.
    pub locked_at: Option<String>,
    /// Who locked.
    pub locked_by: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Creating smoke run.
    pub smoke_run_id: Option<String>,
}

/// One item of `SetlistExport`.
#[derive(Clone, Debug, Deserialize)]
pub struct SetlistExportItem {
    /// 1-based position.
    pub position: u64,
    /// Title.
    pub title: String,
    /// Seconds.
    pub duration_s: u64,
}

/// `SetlistExport`.
#[derive(Clone, Debug, Deserialize)]
pub struct SetlistExport {
    /// UUID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Items.
    pub items: Vec<SetlistExportItem>,
    /// Total.
    pub total_duration_s: u64,
    /// Locked.
    pub locked: bool,
}

/// `InvoiceLineInput`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct InvoiceLineInput {
    /// Description.
    pub description: String,
    /// Whole units.
    pub quantity: i64,
    /// Cents.
    pub unit_price_cents: i64,
    /// Basis points.
    pub tax_rate_bp: i64,
}

/// `InvoiceLine`.
#[derive(Clone, Debug, Deserialize)]
pub struct InvoiceLine {
    /// Description.
    pub description: String,
    /// Units.
    pub quantity: i64,
    /// Cents.
    pub unit_price_cents: i64,
    /// Basis points.
    pub tax_rate_bp: i64,
    /// quantity × unit price.
    pub line_subtotal_cents: i64,
    /// Rounded tax.
    pub line_tax_cents: i64,
    /// Subtotal + tax.
    pub line_total_cents: i64,
}

/// `Invoice`.
#[derive(Clone, Debug, Deserialize)]
pub struct Invoice {
    /// UUID.
    pub id: String,
    /// `INV-YYYY-NNNNNN`.
    pub number: String,
    /// The event.
    pub event_id: String,
    /// ISO 4217.
    pub currency: String,
    /// Lines.
    pub lines: Vec<InvoiceLine>,
    /// Sum of line subtotals.
    pub subtotal_cents: i64,
    /// Sum of line taxes.
    pub tax_cents: i64,
    /// Subtotal + tax.
    pub total_cents: i64,
    /// draft | issued | paid | void.
    pub status: String,
    /// Rendered PDF.
    pub pdf_file_id: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Creating smoke run.
    pub smoke_run_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// `JobAccepted`.
#[derive(Clone, Debug, Deserialize)]
pub struct JobAccepted {
    /// Job to poll.
    pub job_id: String,
}

/// `JobResult`.
#[derive(Clone, Debug, Deserialize)]
pub struct JobResult {
    /// The produced file.
    pub file_id: String,
}

/// `Job`.
#[derive(Clone, Debug, Deserialize)]
pub struct Job {
    /// UUID.
    pub id: String,
    /// queued | running | succeeded | failed.
    pub status: String,
    /// Set when succeeded.
    pub result: Option<JobResult>,
    /// Set when failed.
    pub error: Option<serde_json::Value>,
}

/// `UploadTicket`.
#[derive(Clone, Debug, Deserialize)]
pub struct UploadTicket {
    /// The registered file.
    pub file_id: String,
    /// Signed URL.
    pub upload_url: String,
    /// Always PUT.
    pub method: String,
    /// Headers to send with the PUT.
    pub headers: BTreeMap<String, String>,
    /// RFC 3339.
    pub expires_at: String,
}

/// `File`.
#[derive(Clone, Debug, Deserialize)]
pub struct FileMeta {
    /// UUID.
    pub id: String,
    /// Base name.
    pub filename: String,
    /// MIME type.
    pub content_type: String,
    /// Size.
    pub size_bytes: u64,
    /// Hex SHA-256.
    pub sha256: String,
    /// pending | clean | infected.
    pub scan_status: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Creating smoke run.
    pub smoke_run_id: Option<String>,
}

/// `DownloadUrl`.
#[derive(Clone, Debug, Deserialize)]
pub struct DownloadUrl {
    /// Signed URL.
    pub url: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// `WebhookEndpointWithSecret` (`secret` only in the create answer).
#[derive(Clone, Debug, Deserialize)]
pub struct WebhookEndpoint {
    /// UUID.
    pub id: String,
    /// Delivery URL.
    pub url: String,
    /// Subscribed types.
    pub events: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Creating smoke run.
    pub smoke_run_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// Signing secret (create answer only).
    #[serde(default)]
    pub secret: Option<String>,
}

/// `DeliveryAccepted`.
#[derive(Clone, Debug, Deserialize)]
pub struct DeliveryAccepted {
    /// The queued delivery.
    pub delivery_id: String,
}

/// `WebhookDelivery`.
#[derive(Clone, Debug, Deserialize)]
pub struct WebhookDelivery {
    /// UUID.
    pub id: String,
    /// Endpoint.
    pub endpoint_id: String,
    /// Business event.
    pub event_id: String,
    /// Type.
    pub event_type: String,
    /// pending | succeeded | failed.
    pub status: String,
    /// Attempts so far.
    pub attempts: u32,
    /// Status of the last attempt.
    pub response_status: Option<u16>,
    /// When the next retry is due.
    pub next_attempt_at: Option<String>,
}

/// Parse an RFC 3339 time the target sent; junk is an execution error.
pub fn parse_time(what: &str, value: &str) -> Result<OffsetDateTime, ExecError> {
    OffsetDateTime::parse(value, &Rfc3339)
        .map_err(|e| ExecError::Other(format!("{what} `{value}` is not an RFC 3339 time: {e}")))
}

/// RFC 3339 text of a time (UTC, no fraction when whole seconds).
pub fn format_time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod mailbox_tests {
    use super::*;

    #[test]
    fn the_domain_is_case_insensitive_the_local_part_is_not() {
        assert!(same_mailbox("manager@stageos.test", "manager@STAGEOS.TEST"));
        assert!(!same_mailbox(
            "manager@stageos.test",
            "Manager@stageos.test"
        ));
        assert!(!same_mailbox("manager@stageos.test", "owner@stageos.test"));
        assert!(ensure_same_mailbox("email", "a@b.c", "a@B.C").is_ok());
        assert!(ensure_same_mailbox("email", "a@b.c", "x@b.c").is_err());
    }
}
