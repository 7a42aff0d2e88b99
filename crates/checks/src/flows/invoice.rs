//! Invoices: the Accountant creates one from the fixture, the totals agree with
//! the suite's own half-up computation, the PDF renders through the background
//! job, downloads, parses and names the invoice; Crew is refused.
//!
//! The draft invoice (`DELETE /api/invoices/{id}`, added to the contract for
//! drafts), its event and its rendered PDF file are guarded for deletion.

use serde::Deserialize;
use serde_json::json;

use crate::flow::FlowRun;
use stageos_smoke_http::credentials::Role;
use stageos_smoke_http::http::{CheckFailure, ExecError, StepError, ensure, ensure_eq};
use stageos_smoke_http::wait::{Backoff, Poll, poll_until};
use stageos_smoke_model::flowdef::{FlowDef, StepDef};

use super::common::{
    check_smoke_tagging, create_event, download_url, session_as, smoke_event_body,
};
use super::model::{Invoice, InvoiceLineInput, Job, JobAccepted};
use super::pdf::{normalise, read_pdf};
use super::renderings::{has_amount, money_renderings};

/// The invoice flow's steps.
pub static FLOW: FlowDef = FlowDef {
    id: "invoice",
    description: "Invoices: create, totals half-up per line, PDF through the job queue, download, access control",
    roles: &[Role::Manager, Role::Accountant, Role::Crew],
    needs_owner_totp: false,
    observes_run: false,
    steps: &[
        SETUP_EVENT,
        ACCOUNTANT_CREATES_INVOICE,
        TOTALS_MATCH_OWN_COMPUTATION,
        PDF_RENDER_JOB_SUCCEEDS,
        PDF_DOWNLOADS_AND_PARSES,
        PDF_NAMES_INVOICE_DETAILS,
        CREW_CANNOT_READ_INVOICES,
        CREW_CANNOT_CREATE_INVOICES,
    ],
};

// The steps of `invoice`, each id written once: `FLOW` lists them and the
// flow's `run` names them by these constants.

/// Step `setup_event`.
pub const SETUP_EVENT: StepDef = StepDef {
    id: "setup_event",
    description: "The Manager creates a smoke-tagged event to invoice",
};

/// Step `accountant_creates_invoice`.
pub const ACCOUNTANT_CREATES_INVOICE: StepDef = StepDef {
    id: "accountant_creates_invoice",
    description: "The Accountant creates a draft invoice with the fixture's lines: 201, number INV-YYYY-NNNNNN, tagged smoke + run id",
};

/// Step `totals_match_own_computation`.
pub const TOTALS_MATCH_OWN_COMPUTATION: StepDef = StepDef {
    id: "totals_match_own_computation",
    description: "Every line's subtotal, tax and total and the invoice's subtotal, tax and total equal the suite's own half-up computation",
};

/// Step `pdf_render_job_succeeds`.
pub const PDF_RENDER_JOB_SUCCEEDS: StepDef = StepDef {
    id: "pdf_render_job_succeeds",
    description: "POST …/pdf answers 202 with a job that reaches `succeeded` with a file id within the wait deadline (polled with backoff)",
};

/// Step `pdf_downloads_and_parses`.
pub const PDF_DOWNLOADS_AND_PARSES: StepDef = StepDef {
    id: "pdf_downloads_and_parses",
    description: "The rendered file downloads through its signed URL as application/pdf and lopdf parses it",
};

/// Step `pdf_names_invoice_details`.
pub const PDF_NAMES_INVOICE_DETAILS: StepDef = StepDef {
    id: "pdf_names_invoice_details",
    description: "The PDF's text names the invoice number, every line description and the total",
};

/// Step `crew_cannot_read_invoices`.
pub const CREW_CANNOT_READ_INVOICES: StepDef = StepDef {
    id: "crew_cannot_read_invoices",
    description: "Crew gets 403 reading the invoice and the invoice list",
};

/// Step `crew_cannot_create_invoices`.
pub const CREW_CANNOT_CREATE_INVOICES: StepDef = StepDef {
    id: "crew_cannot_create_invoices",
    description: "Crew gets 403 creating an invoice",
};

/// `fixtures/invoice.json`.
#[derive(Debug, Deserialize)]
pub struct InvoiceFixture {
    /// ISO 4217.
    pub currency: String,
    /// Lines.
    pub lines: Vec<InvoiceLineInput>,
}

/// The compiled-in fixture.
pub fn fixture() -> Result<InvoiceFixture, ExecError> {
    serde_json::from_str(include_str!("../../../../fixtures/invoice.json"))
        .map_err(|e| ExecError::Other(format!("fixtures/invoice.json is malformed: {e}")))
}

/// `round_half_up(subtotal × bp / 10000)`, the .5 case away from zero.
pub fn line_tax_cents(subtotal_cents: i64, tax_rate_bp: i64) -> i64 {
    let n = i128::from(subtotal_cents) * i128::from(tax_rate_bp);
    let (q, r) = (n / 10_000, n % 10_000);
    let rounded = if r.abs() * 2 >= 10_000 {
        q + n.signum()
    } else {
        q
    };
    rounded as i64
}

/// What the suite expects of one line: (subtotal, tax, total).
pub fn line_amounts(line: &InvoiceLineInput) -> (i64, i64, i64) {
    let subtotal = line.quantity * line.unit_price_cents;
    let tax = line_tax_cents(subtotal, line.tax_rate_bp);
    (subtotal, tax, subtotal + tax)
}

/// What the suite expects of an invoice: (subtotal, tax, total).
pub fn invoice_amounts(lines: &[InvoiceLineInput]) -> (i64, i64, i64) {
    let (s, t) = lines
        .iter()
        .map(line_amounts)
        .fold((0, 0), |(s, t), (ls, lt, _)| (s + ls, t + lt));
    (s, t, s + t)
}

/// What step `pdf_names_invoice_details` requires of the invoice PDF's text (as
/// [`read_pdf`] reads it): the invoice number, every line description and the
/// total in any common locale's rendering (the contract fixes the amount, not how
/// it is written: [`has_amount`]).
pub fn pdf_names_details(
    text: &str,
    number: &str,
    descriptions: &[&str],
    total_cents: i64,
) -> Result<(), CheckFailure> {
    let missing = |what: &str, expected: String| CheckFailure {
        what: what.into(),
        expected,
        actual: "not found in the text".into(),
    };
    if !text.contains(number) {
        return Err(missing("invoice number in the PDF", number.to_owned()));
    }
    for d in descriptions {
        if !text.contains(&normalise(d)) {
            return Err(missing("line description in the PDF", (*d).to_owned()));
        }
    }
    if !has_amount(text, total_cents) {
        let r = money_renderings(total_cents);
        return Err(missing(
            "total in the PDF",
            format!(
                "{} in any common rendering ({}, …)",
                r[0],
                r.iter()
                    .skip(1)
                    .take(4)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(())
}

/// Run the invoice flow.
pub async fn run(flow: &mut FlowRun) {
    let Some(((manager, m_session), (accountant, a_session), (crew, c_session), fx)) =
        flow.setup(|f| {
            Ok::<_, ExecError>((
                f.user_session(Role::Manager)?,
                f.user_session(Role::Accountant)?,
                f.user_session(Role::Crew)?,
                fixture()?,
            ))
        })
    else {
        return;
    };
    let run_id = flow.cx().run_id().to_owned();
    let redactor = flow.cx().http.redactor.clone();
    let deadline = flow.cx().wait_deadline;
    let cleanups = flow.cleanups();

    let event = flow
        .step(&SETUP_EVENT, async {
            let (session, _) = session_as(m_session, &manager, None).await?;
            let (event, _) = create_event(
                &session,
                &cleanups,
                &smoke_event_body(&run_id, &format!("Smoke invoice {run_id}")),
            )
            .await?;
            Ok(event)
        })
        .await;
    let Some(event) = event else { return };
    let invoice_body = json!({ "event_id": event.id, "currency": fx.currency, "lines": fx.lines, "tags": ["smoke", run_id], "smoke_run_id": run_id });

    let created = flow
        .step(&ACCOUNTANT_CREATES_INVOICE, async {
            let (session, _) = session_as(a_session, &accountant, None).await?;
            let resp = session
                .post("/api/invoices")
                .json(&invoice_body)
                .send()
                .await?;
            resp.expect_status(201)?;
            let inv: Invoice = resp.json()?;
            // Guarded the moment it exists: deleting the draft also deletes its PDF.
            cleanups.delete_later(
                &session,
                format!("/api/invoices/{}", inv.id),
                format!("invoice {}", inv.number),
            );
            let year_seq = inv
                .number
                .strip_prefix("INV-")
                .and_then(|r| r.split_once('-'));
            let well_formed = year_seq.is_some_and(|(y, n)| {
                y.len() == 4
                    && n.len() == 6
                    && y.chars().chain(n.chars()).all(|c| c.is_ascii_digit())
            });
            ensure(
                well_formed,
                "invoice number",
                "INV-<YYYY>-<6 digits>",
                inv.number.clone(),
            )?;
            ensure_eq("status of a new invoice", "draft", inv.status.as_str())?;
            ensure_eq("currency", fx.currency.as_str(), inv.currency.as_str())?;
            ensure_eq("event_id", event.id.as_str(), inv.event_id.as_str())?;
            ensure_eq("number of lines", fx.lines.len(), inv.lines.len())?;
            check_smoke_tagging("invoice", &inv.tags, inv.smoke_run_id.as_deref(), &run_id)?;
            Ok((session, inv))
        })
        .await;
    let Some((acc, invoice)) = created else {
        return;
    };

    flow.step(&TOTALS_MATCH_OWN_COMPUTATION, async {
        for (i, (sent, got)) in fx.lines.iter().zip(&invoice.lines).enumerate() {
            let (s, t, total) = line_amounts(sent);
            ensure_eq(
                format!("lines[{i}] ({}) description", sent.description),
                sent.description.as_str(),
                got.description.as_str(),
            )?;
            ensure_eq(
                format!("lines[{i}] ({}) line_subtotal_cents", sent.description),
                s,
                got.line_subtotal_cents,
            )?;
            ensure_eq(
                format!(
                    "lines[{i}] ({}) line_tax_cents at {} bp",
                    sent.description, sent.tax_rate_bp
                ),
                t,
                got.line_tax_cents,
            )?;
            ensure_eq(
                format!("lines[{i}] ({}) line_total_cents", sent.description),
                total,
                got.line_total_cents,
            )?;
        }
        let (s, t, total) = invoice_amounts(&fx.lines);
        ensure_eq("subtotal_cents", s, invoice.subtotal_cents)?;
        ensure_eq("tax_cents", t, invoice.tax_cents)?;
        ensure_eq("total_cents", total, invoice.total_cents)?;
        Ok(())
    })
    .await;

    let cleanups = flow.cleanups();
    let file_id = flow
        .step(&PDF_RENDER_JOB_SUCCEEDS, async {
            let resp = acc
                .post(&format!("/api/invoices/{}/pdf", invoice.id))
                .send()
                .await?;
            resp.expect_status(202)?;
            let accepted: JobAccepted = resp.json()?;
            let job_path = format!("/api/jobs/{}", accepted.job_id);
            let job = poll_until(deadline, Backoff::default(), || async {
                let resp = acc.get(&job_path).send().await?;
                resp.expect_status(200)?;
                let job: Job = resp.json()?;
                Ok::<_, StepError>(match job.status.as_str() {
                    "succeeded" | "failed" => Poll::Ready(job),
                    other => Poll::Pending(format!("`{other}`")),
                })
            })
            .await
            .map_err(|e| {
                e.into_step(
                    &format!("invoice PDF job {}", accepted.job_id),
                    &format!("`succeeded` within {} ms", deadline.as_millis()),
                )
            })?;
            let error = job
                .error
                .as_ref()
                .map(|e| e.to_string())
                .unwrap_or_default();
            ensure_eq(
                format!("status of job {}", job.id),
                "succeeded".to_owned(),
                format!(
                    "{}{}",
                    job.status,
                    if error.is_empty() {
                        String::new()
                    } else {
                        format!(" ({error})")
                    }
                ),
            )?;
            let file_id = job
                .result
                .map(|r| r.file_id)
                .ok_or_else(|| ExecError::Other("a succeeded job without result.file_id".into()))?;
            cleanups.delete_later(
                &acc,
                format!("/api/files/{file_id}"),
                format!("invoice PDF file {file_id}"),
            );
            Ok(file_id)
        })
        .await;

    let text = match file_id {
        Some(file_id) => {
            flow.step(&PDF_DOWNLOADS_AND_PARSES, async {
                let (link, _) = download_url(&acc, &redactor, &file_id, "").await?;
                let resp = acc.get(&link.url).without_bearer().send().await?;
                resp.expect_status(200)?;
                read_pdf(&resp, "the invoice PDF").await
            })
            .await
        }
        None => {
            flow.skip(
                &PDF_DOWNLOADS_AND_PARSES,
                "not run: step `invoice::pdf_render_job_succeeds` did not pass, so there is no PDF",
            );
            None
        }
    };

    match text {
        Some(text) => {
            flow.step(&PDF_NAMES_INVOICE_DETAILS, async {
                let descriptions: Vec<&str> = invoice
                    .lines
                    .iter()
                    .map(|l| l.description.as_str())
                    .collect();
                pdf_names_details(&text, &invoice.number, &descriptions, invoice.total_cents)?;
                Ok(())
            })
            .await;
        }
        None => flow.skip(
            &PDF_NAMES_INVOICE_DETAILS,
            "not run: there is no readable invoice PDF",
        ),
    }

    let c_session2 = c_session.clone();
    flow.step(&CREW_CANNOT_READ_INVOICES, async {
        let (session, _) = session_as(c_session, &crew, None).await?;
        let one = session
            .get(&format!("/api/invoices/{}", invoice.id))
            .send()
            .await?;
        one.expect_error(403, "forbidden")?;
        let list = session.get("/api/invoices").send().await?;
        list.expect_error(403, "forbidden")?;
        Ok(())
    })
    .await;

    flow.step(&CREW_CANNOT_CREATE_INVOICES, async {
        let (session, _) = session_as(c_session2, &crew, None).await?;
        let resp = session
            .post("/api/invoices")
            .json(&invoice_body)
            .send()
            .await?;
        resp.expect_error(403, "forbidden")?;
        Ok(())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(q: i64, p: i64, bp: i64) -> InvoiceLineInput {
        InvoiceLineInput {
            description: "x".into(),
            quantity: q,
            unit_price_cents: p,
            tax_rate_bp: bp,
        }
    }

    #[test]
    fn half_up_per_line() {
        assert_eq!(line_tax_cents(8750, 1900), 1663); // 1662.5
        assert_eq!(line_tax_cents(22250, 1900), 4228); // 4227.5
        assert_eq!(line_tax_cents(9250, 700), 648); // 647.5
        assert_eq!(line_tax_cents(9999, 700), 700); // 699.93
        assert_eq!(line_tax_cents(1, 4999), 0); // 0.4999
        assert_eq!(line_tax_cents(1, 5000), 1); // 0.5
        assert_eq!(line_tax_cents(-8750, 1900), -1663); // away from zero
        assert_eq!(line_tax_cents(0, 1900), 0);
        assert_eq!(line_tax_cents(125000, 0), 0);
    }

    #[test]
    fn per_line_rounding_differs_from_rounding_the_sum() {
        // Two lines of 0.5 cent tax each: 1 + 1 per line, not round(1.0) = 1.
        let lines = [line(1, 25, 200), line(1, 25, 200)];
        assert_eq!(invoice_amounts(&lines), (50, 2, 52));
    }

    #[test]
    fn fixture_totals() {
        let f = fixture().unwrap();
        assert_eq!(invoice_amounts(&f.lines), (185149, 30989, 216138));
    }

    #[test]
    fn pdf_details_need_number_lines_and_total() {
        let text = "Invoice INV-2026-000001 1. Stage hire 2. Catering Total: 2.161,38 €";
        let ok = pdf_names_details(text, "INV-2026-000001", &["Stage hire", "Catering"], 216138);
        assert!(ok.is_ok(), "{ok:?}");
        let e = pdf_names_details(text, "INV-2026-000002", &["Stage hire"], 216138).unwrap_err();
        assert_eq!(e.what, "invoice number in the PDF");
        let e = pdf_names_details(text, "INV-2026-000001", &["Lights"], 216138).unwrap_err();
        assert_eq!(e.what, "line description in the PDF");
        let e = pdf_names_details(text, "INV-2026-000001", &[], 216139).unwrap_err();
        assert_eq!(e.what, "total in the PDF");
    }
}
