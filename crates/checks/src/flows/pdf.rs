//! Reading PDFs the target renders (setlist exports, invoices) with lopdf, bounded
//! against decompression bombs, and finding expected text in order.
//!
//! The text is read by layout ([`super::pdf_layout`]), not in stream order, so a
//! PDF from any real renderer (Chromium, ReportLab, fpdf2, justified text whose
//! word gaps are `TJ` offsets) reads as its reader shows it.

use lopdf::{Document, LoadOptions};

use stageos_smoke_http::http::{CheckFailure, Response, StepError, ensure};

/// Largest size one stream may decompress to.
pub const MAX_DECOMPRESSED: usize = 16 * 1024 * 1024;

/// Most pages read.
pub const MAX_PAGES: usize = 200;

/// The text of a PDF the target served (`what` names it in messages).
///
/// A body that neither says it is a PDF (Content-Type) nor starts like one
/// (`%PDF-`) is an error page or some other document: the suite could not see the
/// PDF, so that is a could-not-check error, like HTML where JSON was due. A body
/// served as `application/pdf` that lopdf cannot read is a broken renderer: a
/// failed check. So is a real PDF served under another Content-Type.
pub async fn read_pdf(resp: &Response, what: &str) -> Result<String, StepError> {
    let says_pdf = resp.has_media_type("application/pdf");
    if !says_pdf && !resp.body.starts_with(b"%PDF-") {
        return Err(resp
            .decode_error(
                "PDF",
                "neither its Content-Type nor its first bytes (%PDF-) are a PDF's".into(),
            )
            .into());
    }
    ensure(
        says_pdf,
        format!("Content-Type of {what}"),
        "application/pdf",
        resp.content_type(),
    )?;
    pdf_text_off_runtime(resp.body.clone())
        .await
        .map_err(|actual| {
            CheckFailure {
                what: what.to_owned(),
                expected: "a PDF lopdf can read".into(),
                actual,
            }
            .into()
        })
}

/// [`pdf_text`] on a blocking thread: parsing is CPU work that must not stall the
/// runtime's workers (and with them every other flow's timings).
pub async fn pdf_text_off_runtime(bytes: bytes::Bytes) -> Result<String, String> {
    tokio::task::spawn_blocking(move || pdf_text(&bytes))
        .await
        .map_err(|e| format!("the PDF parser crashed: {e}"))?
}

/// Parse `bytes` as a PDF and return the text of all its pages, whitespace
/// collapsed to single spaces. The error says why it is not a readable PDF.
pub fn pdf_text(bytes: &[u8]) -> Result<String, String> {
    if !bytes.starts_with(b"%PDF-") {
        let head: String = String::from_utf8_lossy(&bytes[..bytes.len().min(16)])
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        return Err(format!("does not start with %PDF- (starts {head:?})"));
    }
    let doc = Document::load_mem_with_options(
        bytes,
        LoadOptions::with_max_decompressed_size(MAX_DECOMPRESSED),
    )
    .map_err(|e| format!("lopdf cannot parse it: {e}"))?;
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    if pages.is_empty() {
        return Err("it has no pages".into());
    }
    if pages.len() > MAX_PAGES {
        return Err(format!(
            "it has {} pages (more than {MAX_PAGES})",
            pages.len()
        ));
    }
    let ids: Vec<_> = doc.get_pages().values().copied().collect();
    let text = super::pdf_layout::layout_text(&doc, &ids, MAX_DECOMPRESSED)
        .map_err(|e| format!("its text cannot be extracted: {e}"))?;
    Ok(normalise(&text))
}

/// Collapse runs of whitespace to one space.
pub fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Check that every needle occurs in `text`, in the given order; the error names
/// the first needle missing (or out of order).
pub fn find_in_order<'a>(
    text: &str,
    needles: impl IntoIterator<Item = &'a str>,
) -> Result<(), String> {
    let mut from = 0;
    for needle in needles {
        let n = normalise(needle);
        match text[from..].find(&n) {
            Some(at) => from += at + n.len(),
            None if text.contains(&n) => {
                return Err(format!("{needle:?} appears, but out of order"));
            }
            None => return Err(format!("{needle:?} is missing")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_missing() {
        let t = "Setlist 1. Opener 2. Hello, Goodbye 3. Ballad";
        assert!(find_in_order(t, ["Opener", "Hello, Goodbye", "Ballad"]).is_ok());
        assert!(
            find_in_order(t, ["Ballad", "Opener"])
                .unwrap_err()
                .contains("out of order")
        );
        assert!(
            find_in_order(t, ["Encore"])
                .unwrap_err()
                .contains("missing")
        );
    }

    #[test]
    fn junk_is_not_a_pdf() {
        assert!(pdf_text(b"<html>").unwrap_err().contains("%PDF-"));
        assert!(pdf_text(b"%PDF-1.5\nrubbish").is_err());
    }
}
