//! Minimal PDF writer (lopdf): a heading and lines of text on A4 pages.
//!
//! Text is set in the standard Type1 font Helvetica with `WinAnsiEncoding`
//! using plain `Tj` operators, one per line, so any reader (and lopdf's own
//! `extract_text`) can read it back. No fonts are embedded.

use lopdf::content::{Content, Operation};
use lopdf::{Document, Encoding, Object, Stream, dictionary};

const PAGE_WIDTH: i64 = 595;
const PAGE_HEIGHT: i64 = 842;
const MARGIN: i64 = 56;
const LEADING: i64 = 16;
const LINES_PER_PAGE: usize = ((PAGE_HEIGHT - 2 * MARGIN) / LEADING) as usize - 2;

fn text(s: &str) -> Object {
    let bytes = Document::encode_text(&Encoding::SimpleEncoding(b"WinAnsiEncoding"), s);
    Object::String(bytes, lopdf::StringFormat::Literal)
}

/// Renders `title` and `lines` (paginated) into PDF bytes.
pub fn render(title: &str, lines: &[String]) -> Result<Vec<u8>, lopdf::Error> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let bold_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica-Bold",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id, "F2" => bold_id },
    });

    let chunks: Vec<&[String]> = if lines.is_empty() {
        vec![&[]]
    } else {
        lines.chunks(LINES_PER_PAGE).collect()
    };
    let mut kids = Vec::with_capacity(chunks.len());
    for chunk in &chunks {
        let mut ops = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F2".into(), 16.into()]),
            Operation::new("TL", vec![LEADING.into()]),
            Operation::new("Td", vec![MARGIN.into(), (PAGE_HEIGHT - MARGIN).into()]),
            Operation::new("Tj", vec![text(title)]),
            Operation::new("Tf", vec!["F1".into(), 11.into()]),
            Operation::new("T*", vec![]),
        ];
        for line in chunk.iter() {
            ops.push(Operation::new("T*", vec![]));
            ops.push(Operation::new("Tj", vec![text(line)]));
        }
        ops.push(Operation::new("ET", vec![]));
        let content = Content { operations: ops };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode()?));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), PAGE_WIDTH.into(), PAGE_HEIGHT.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    doc.trailer.set("Root", catalog_id);
    doc.compress();
    let mut out = Vec::new();
    doc.save_to(&mut out)?;
    Ok(out)
}

/// All text of a PDF (every page), for tests.
pub fn extract_all_text(bytes: &[u8]) -> Result<String, lopdf::Error> {
    let doc = Document::load_mem(bytes)?;
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    doc.extract_text(&pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_text_in_order() {
        let lines: Vec<String> = (1..=120).map(|i| format!("{i}. Song number {i}")).collect();
        let bytes = render("Setlist: Main set (Köln)", &lines).expect("render");
        assert!(bytes.starts_with(b"%PDF-"));
        let text = extract_all_text(&bytes).expect("extract");
        assert!(text.contains("Setlist: Main set (Köln)"), "{text}");
        let mut at = 0;
        for line in &lines {
            let found = text[at..].find(line.as_str());
            assert!(found.is_some(), "missing {line}");
            at += found.unwrap_or(0) + line.len();
        }
        let doc = Document::load_mem(&bytes).expect("load");
        assert!(doc.get_pages().len() >= 3);
    }
}
