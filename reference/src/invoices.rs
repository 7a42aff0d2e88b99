//! Invoices (server-computed totals, gapless numbers) and the background
//! jobs that render them as PDF files.
//!
//! Only owner and accountant see invoices. `POST /api/invoices/{id}/pdf`
//! queues a job; the worker ([`work_one`], started by [`crate::workers`])
//! renders the PDF with lopdf, stores it as a clean file whose parent is the
//! invoice, and records the file id as the job's result.
//!
//! The invoices domain owns invoices, number sequences, jobs and the PDF
//! queue ([`InvoiceStore`]). It sits above files (it stores rendered PDFs
//! there) and events (an invoice names one).

use std::collections::{HashMap, VecDeque};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::AuditEntry;
use crate::error::ApiError;
use crate::extract::{AuthUser, ClientIp};
use crate::faults::Fault;
use crate::files::{self, FileParent, FileRecord};
use crate::http::{self, ALL_ROLES, OWNER_ACCOUNTANT};
use crate::state::Shared;
use crate::{webhooks, workers};

/// Invoices, the yearly number sequences, jobs and the PDF queue.
#[derive(Debug, Default)]
pub struct InvoiceStore {
    /// Invoices by id.
    pub invoices: HashMap<Uuid, Invoice>,
    /// Last number used per year.
    pub sequences: HashMap<i32, u32>,
    /// Jobs by id.
    pub jobs: HashMap<Uuid, Job>,
    /// Queued job ids, oldest first.
    pub queue: VecDeque<Uuid>,
}

/// What the invoices domain needs of the store.
pub trait Host: files::Host {
    /// Invoices, jobs and the PDF queue.
    fn invoices(&self) -> &InvoiceStore;
    /// Invoices, jobs and the PDF queue, to change.
    fn invoices_mut(&mut self) -> &mut InvoiceStore;
}

/// One computed invoice line.
#[derive(Clone, Debug, Serialize)]
pub struct InvoiceLine {
    /// Description.
    pub description: String,
    /// Whole units.
    pub quantity: i64,
    /// Unit price in cents.
    pub unit_price_cents: i64,
    /// Tax rate in basis points.
    pub tax_rate_bp: i64,
    /// `quantity * unit_price_cents`.
    pub line_subtotal_cents: i64,
    /// Tax of the line, rounded half-up.
    pub line_tax_cents: i64,
    /// Subtotal plus tax.
    pub line_total_cents: i64,
}

/// An invoice.
#[derive(Clone, Debug, Serialize)]
pub struct Invoice {
    /// Id.
    pub id: Uuid,
    /// `INV-YYYY-NNNNNN`.
    pub number: String,
    /// Event invoiced.
    pub event_id: Uuid,
    /// ISO 4217.
    pub currency: String,
    /// Lines.
    pub lines: Vec<InvoiceLine>,
    /// Sum of line subtotals.
    pub subtotal_cents: i64,
    /// Sum of line taxes.
    pub tax_cents: i64,
    /// Subtotal plus tax.
    pub total_cents: i64,
    /// `draft`.
    pub status: String,
    /// Rendered PDF.
    pub pdf_file_id: Option<Uuid>,
    /// Tags.
    pub tags: Vec<String>,
    /// Smoke run.
    pub smoke_run_id: Option<String>,
    /// Creator.
    pub created_by: Uuid,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A background job.
#[derive(Clone, Debug, Serialize)]
pub struct Job {
    /// Id.
    pub id: Uuid,
    /// `invoice_pdf`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `queued|running|succeeded|failed`.
    pub status: String,
    /// `{file_id}` once succeeded.
    pub result: Option<serde_json::Value>,
    /// `{code, message}` once failed.
    pub error: Option<serde_json::Value>,
    /// Queued.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Picked up.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// Done.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// Who started it (only they can see it).
    #[serde(skip)]
    pub owner: Uuid,
    /// Invoice to render.
    #[serde(skip)]
    pub invoice_id: Uuid,
    /// Client IP of the request that started it (for the audit entry).
    #[serde(skip)]
    pub ip: Option<String>,
}

/// The invoice and job routes.
pub fn routes<S: Host>() -> Router<Shared<S>> {
    Router::new()
        .route(
            "/api/invoices",
            get(list_invoices::<S>).post(create_invoice::<S>),
        )
        .route(
            "/api/invoices/{id}",
            get(get_invoice::<S>).delete(delete_invoice::<S>),
        )
        .route("/api/invoices/{id}/pdf", post(render_pdf::<S>))
        .route("/api/jobs/{id}", get(get_job::<S>))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineInput {
    description: String,
    quantity: i64,
    unit_price_cents: i64,
    tax_rate_bp: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvoiceCreate {
    event_id: Uuid,
    currency: String,
    lines: Vec<LineInput>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    smoke_run_id: Option<String>,
}

/// `round_half_up(subtotal * bp / 10000)` for non-negative amounts.
pub fn line_tax(subtotal: i128, tax_rate_bp: i128) -> i128 {
    (subtotal * tax_rate_bp + 5000) / 10000
}

fn compute_lines(lines: Vec<LineInput>) -> Result<(Vec<InvoiceLine>, i64, i64), ApiError> {
    if lines.is_empty() || lines.len() > 200 {
        return Err(http::invalid("lines", "must hold 1 to 200 lines"));
    }
    let mut out = Vec::with_capacity(lines.len());
    let (mut subtotal, mut tax) = (0i128, 0i128);
    for (i, l) in lines.into_iter().enumerate() {
        http::check_len(&format!("lines[{i}].description"), &l.description, 1, 500)?;
        if !(1..=1_000_000).contains(&l.quantity) {
            return Err(http::invalid(
                &format!("lines[{i}].quantity"),
                "must be 1 to 1000000",
            ));
        }
        if !(0..=100_000_000_000).contains(&l.unit_price_cents) {
            return Err(http::invalid(
                &format!("lines[{i}].unit_price_cents"),
                "must be 0 to 100000000000",
            ));
        }
        if !(0..=10_000).contains(&l.tax_rate_bp) {
            return Err(http::invalid(
                &format!("lines[{i}].tax_rate_bp"),
                "must be 0 to 10000",
            ));
        }
        let line_subtotal = i128::from(l.quantity) * i128::from(l.unit_price_cents);
        let line_tax_cents = line_tax(line_subtotal, i128::from(l.tax_rate_bp));
        subtotal += line_subtotal;
        tax += line_tax_cents;
        let too_big = || http::invalid("lines", "amounts exceed the supported range");
        let line_subtotal_cents = i64::try_from(line_subtotal).map_err(|_| too_big())?;
        let line_tax_cents = i64::try_from(line_tax_cents).map_err(|_| too_big())?;
        out.push(InvoiceLine {
            description: l.description,
            quantity: l.quantity,
            unit_price_cents: l.unit_price_cents,
            tax_rate_bp: l.tax_rate_bp,
            line_subtotal_cents,
            line_tax_cents,
            line_total_cents: line_subtotal_cents
                .checked_add(line_tax_cents)
                .ok_or_else(too_big)?,
        });
    }
    let too_big = || http::invalid("lines", "amounts exceed the supported range");
    let subtotal = i64::try_from(subtotal).map_err(|_| too_big())?;
    let tax = i64::try_from(tax).map_err(|_| too_big())?;
    subtotal.checked_add(tax).ok_or_else(too_big)?;
    Ok((out, subtotal, tax))
}

async fn create_invoice<S: Host>(
    State(state): State<Shared<S>>,
    ClientIp(ip): ClientIp,
    user: AuthUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    http::require_role(&user, OWNER_ACCOUNTANT)?;
    let input: InvoiceCreate = http::parse_body(&headers, &body)?;
    let (tags, smoke_run_id) = http::tagging(&headers, input.tags, input.smoke_run_id)?;
    if input.currency.len() != 3 || !input.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(http::invalid("currency", "must be an ISO 4217 code"));
    }
    let (lines, subtotal_cents, tax_cents) = compute_lines(input.lines)?;
    let mut total_cents = subtotal_cents + tax_cents;
    if state.has_fault(&Fault::InvoiceTotalOffByCent) {
        total_cents += 1;
    }
    let mut store = state.store();
    if !store.events().events.contains_key(&input.event_id) {
        return Err(http::invalid("event_id", "unknown event"));
    }
    let now = http::now();
    let seq = store
        .invoices_mut()
        .sequences
        .entry(now.year())
        .or_insert(0);
    *seq += 1;
    let number = format!("INV-{:04}-{:06}", now.year(), *seq);
    let invoice = Invoice {
        id: Uuid::new_v4(),
        number,
        event_id: input.event_id,
        currency: input.currency,
        lines,
        subtotal_cents,
        tax_cents,
        total_cents,
        status: "draft".to_owned(),
        pdf_file_id: None,
        tags,
        smoke_run_id,
        created_by: user.id,
        created_at: now,
        updated_at: now,
    };
    store
        .invoices_mut()
        .invoices
        .insert(invoice.id, invoice.clone());
    if !state.has_fault(&Fault::AuditMissingInvoiceCreated) {
        store.audit(
            "invoice.created",
            Some(user.id),
            Some(format!("invoice:{}", invoice.id)),
            &ip,
        );
    }
    let data = serde_json::to_value(&invoice).unwrap_or_default();
    webhooks::emit(&state, &mut store, "invoice.created", data);
    let location = format!("/api/invoices/{}", invoice.id);
    Ok((StatusCode::CREATED, [(LOCATION, location)], Json(invoice)).into_response())
}

/// Owner and accountant read invoices (crew too under `crew-reads-invoices`).
fn require_reader<S>(state: &Shared<S>, user: &AuthUser) -> Result<(), ApiError> {
    if user.role == crate::credentials::Role::Crew && state.has_fault(&Fault::CrewReadsInvoices) {
        return Ok(());
    }
    http::require_role(user, OWNER_ACCOUNTANT)
}

async fn list_invoices<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Invoice>>, ApiError> {
    require_reader(&state, &user)?;
    let tag = http::tag_filter(q.get("tag"))?;
    let store = state.store();
    let mut invoices: Vec<Invoice> = store
        .invoices()
        .invoices
        .values()
        .filter(|i| tag.as_ref().is_none_or(|t| i.tags.contains(t)))
        .cloned()
        .collect();
    invoices.sort_by(|a, b| a.number.cmp(&b.number));
    Ok(Json(invoices))
}

async fn get_invoice<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Invoice>, ApiError> {
    if !state.has_fault(&Fault::InvoiceGetAnyRole) {
        require_reader(&state, &user)?;
    }
    let id = http::parse_id(&id, "invoice")?;
    let store = state.store();
    store
        .invoices()
        .invoices
        .get(&id)
        .cloned()
        .map(Json)
        .ok_or_else(|| http::not_found("invoice"))
}

/// Owner and accountant delete draft invoices (and their rendered PDF); others are
/// kept for the books.
async fn delete_invoice<S: Host>(
    State(state): State<Shared<S>>,
    ClientIp(ip): ClientIp,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    http::require_role(&user, OWNER_ACCOUNTANT)?;
    let id = http::parse_id(&id, "invoice")?;
    let mut store = state.store();
    let invoice = store
        .invoices()
        .invoices
        .get(&id)
        .ok_or_else(|| http::not_found("invoice"))?;
    if invoice.status != "draft" {
        return Err(http::conflict(
            "invoice_not_draft",
            "only draft invoices can be deleted",
        ));
    }
    store.audit(
        "invoice.deleted",
        Some(user.id),
        Some(format!("invoice:{id}")),
        &ip,
    );
    if state.has_fault(&Fault::DeleteNotDeleting) {
        return Ok(StatusCode::NO_CONTENT);
    }
    if let Some(invoice) = store.invoices_mut().invoices.remove(&id)
        && let Some(file_id) = invoice.pdf_file_id
    {
        store.files_mut().remove(&file_id);
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn render_pdf<S: Host>(
    State(state): State<Shared<S>>,
    ClientIp(ip): ClientIp,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    http::require_role(&user, OWNER_ACCOUNTANT)?;
    let id = http::parse_id(&id, "invoice")?;
    let mut store = state.store();
    if !store.invoices().invoices.contains_key(&id) {
        return Err(http::not_found("invoice"));
    }
    let job = Job {
        id: Uuid::new_v4(),
        kind: "invoice_pdf".to_owned(),
        status: "queued".to_owned(),
        result: None,
        error: None,
        created_at: http::now(),
        started_at: None,
        finished_at: None,
        owner: user.id,
        invoice_id: id,
        ip: Some(ip),
    };
    let job_id = job.id;
    store.invoices_mut().jobs.insert(job_id, job);
    store.invoices_mut().queue.push_back(job_id);
    workers::ensure_started(&state, &mut store);
    workers::update_gauges(&state, &store);
    store.workers().pdf_notify.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        [(LOCATION, format!("/api/jobs/{job_id}"))],
        Json(json!({ "job_id": job_id })),
    )
        .into_response())
}

async fn get_job<S: Host>(
    State(state): State<Shared<S>>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    http::require_role(&user, ALL_ROLES)?;
    let id = http::parse_id(&id, "job")?;
    let store = state.store();
    store
        .invoices()
        .jobs
        .get(&id)
        .filter(|j| j.owner == user.id)
        .cloned()
        .map(Json)
        .ok_or_else(|| http::not_found("job"))
}

/// The text lines of an invoice PDF.
fn pdf_lines(
    invoice: &Invoice,
    with_number: bool,
    total_off_by: i64,
    style: crate::pdf::MoneyStyle,
) -> (String, Vec<String>) {
    let money = |cents: i64, currency: &str| crate::pdf::money(cents, currency, style);
    let title = if with_number {
        format!("Invoice {}", invoice.number)
    } else {
        "Invoice".to_owned()
    };
    let mut lines = vec![
        format!("Date: {}", http::fmt_time(invoice.created_at)),
        format!("Event: {}", invoice.event_id),
        String::new(),
    ];
    for (i, l) in invoice.lines.iter().enumerate() {
        lines.push(format!(
            "{}. {} - {} x {} = {} (tax {}.{:02}%: {})",
            i + 1,
            l.description,
            l.quantity,
            money(l.unit_price_cents, &invoice.currency),
            money(l.line_subtotal_cents, &invoice.currency),
            l.tax_rate_bp / 100,
            l.tax_rate_bp % 100,
            money(l.line_tax_cents, &invoice.currency),
        ));
    }
    lines.push(String::new());
    lines.push(format!(
        "Subtotal: {}",
        money(invoice.subtotal_cents, &invoice.currency)
    ));
    lines.push(format!(
        "Tax: {}",
        money(invoice.tax_cents, &invoice.currency)
    ));
    lines.push(format!(
        "Total: {}",
        money(invoice.total_cents + total_off_by, &invoice.currency)
    ));
    (title, lines)
}

/// Maximum render attempts before a job is `failed`.
const MAX_JOB_ATTEMPTS: u32 = 3;

/// Takes one queued PDF job and runs it; `false` when the queue is empty.
pub(crate) async fn work_one<S: Host>(state: Shared<S>) -> bool {
    let (job_id, invoice) = {
        let mut store = state.store();
        let Some(job_id) = store.invoices_mut().queue.pop_front() else {
            return false;
        };
        workers::update_gauges(&state, &store);
        let invoice_id = match store.invoices_mut().jobs.get_mut(&job_id) {
            Some(job) => {
                job.status = "running".to_owned();
                job.started_at = Some(http::now());
                job.invoice_id
            }
            None => return true,
        };
        (job_id, store.invoices().invoices.get(&invoice_id).cloned())
    };
    if state.has_fault(&Fault::JobNeverFinishes) {
        // The job stays `running` forever.
        return true;
    }
    let Some(invoice) = invoice else {
        finish_failed(
            &state,
            job_id,
            "invoice_not_found",
            "the invoice no longer exists",
        );
        return true;
    };
    let with_number = !state.has_fault(&Fault::PdfMissingNumber);
    let total_off_by = i64::from(state.has_fault(&Fault::PdfWrongTotal));
    // The renderings a conformance variation may choose (the default is the
    // reference's own: one Tj per line, `2161.38 EUR`).
    let rendering = state.pdf_rendering();
    let (title, lines) = pdf_lines(&invoice, with_number, total_off_by, rendering.money);
    let layout = rendering.layout;
    let mut rendered = Err(String::new());
    for _ in 0..MAX_JOB_ATTEMPTS {
        // CPU work: off the runtime's workers so requests keep being served.
        let (t, l) = (title.clone(), lines.clone());
        rendered = tokio::task::spawn_blocking(move || {
            crate::pdf::render_with(&t, &l, layout).map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(format!("the renderer crashed: {e}")));
        if rendered.is_ok() {
            break;
        }
    }
    let mut bytes = match rendered {
        Ok(bytes) => bytes,
        Err(e) => {
            finish_failed(
                &state,
                job_id,
                "render_failed",
                &format!("failed to render pdf: {e}"),
            );
            return true;
        }
    };
    if state.has_fault(&Fault::PdfCorrupt) {
        // Truncated and scrambled: no header, no xref, no trailer.
        bytes.truncate(bytes.len() / 3);
        bytes.reverse();
    }
    let mut content_type = "application/pdf";
    if state.has_fault(&Fault::PdfIsErrorPage) {
        bytes = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Renderer unavailable</h1></body></html>".to_vec();
        content_type = "text/html; charset=utf-8";
    }
    let now = http::now();
    let file = FileRecord {
        id: Uuid::new_v4(),
        key: files::new_key(),
        filename: format!("{}.pdf", invoice.number),
        content_type: content_type.to_owned(),
        size_bytes: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
        upload_status: "completed".to_owned(),
        scan_status: "clean".to_owned(),
        scanned_at: Some(now),
        parent: FileParent {
            kind: "invoice".to_owned(),
            id: invoice.id,
        },
        created_by: None,
        tags: invoice.tags.clone(),
        smoke_run_id: invoice.smoke_run_id.clone(),
        created_at: now,
        updated_at: now,
        bytes: Some(Bytes::from(bytes)),
    };
    let file_id = file.id;
    let mut store = state.store();
    store.files_mut().insert(file);
    if let Some(inv) = store.invoices_mut().invoices.get_mut(&invoice.id) {
        inv.pdf_file_id = Some(file_id);
        inv.updated_at = now;
    }
    let owner = store.invoices().jobs.get(&job_id).map(|j| j.owner);
    // Attributed to the user who asked for the render, from their address.
    let requester_ip = store
        .invoices()
        .jobs
        .get(&job_id)
        .and_then(|j| j.ip.clone());
    if let Some(job) = store.invoices_mut().jobs.get_mut(&job_id) {
        job.status = "succeeded".to_owned();
        job.result = Some(json!({ "file_id": file_id }));
        job.finished_at = Some(now);
    }
    store.audit_log_mut().entries.push(AuditEntry {
        id: Uuid::new_v4(),
        at: now,
        actor_id: owner,
        action: "invoice.pdf_rendered".to_owned(),
        target: Some(format!("invoice:{}", invoice.id)),
        ip: requester_ip,
    });
    true
}

fn finish_failed<S: Host>(state: &Shared<S>, job_id: Uuid, code: &str, message: &str) {
    let mut store = state.store();
    if let Some(job) = store.invoices_mut().jobs.get_mut(&job_id) {
        job.status = "failed".to_owned();
        job.error = Some(json!({ "code": code, "message": message }));
        job.finished_at = Some(http::now());
    }
    workers::job_failed(state, workers::PDF_QUEUE);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tax_rounds_half_up_per_line() {
        assert_eq!(line_tax(9999, 700), 700); // 699.93
        assert_eq!(line_tax(50, 1000), 5);
        assert_eq!(line_tax(5, 1000), 1); // 0.5 -> 1
        assert_eq!(line_tax(4, 1000), 0); // 0.4 -> 0
        assert_eq!(line_tax(125_000, 1900), 23_750);
    }

    #[test]
    fn money_formats() {
        use crate::pdf::{MoneyStyle, money};
        assert_eq!(money(12345, "EUR", MoneyStyle::Plain), "123.45 EUR");
        assert_eq!(money(5, "EUR", MoneyStyle::default()), "0.05 EUR");
    }
}
