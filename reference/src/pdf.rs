//! Minimal PDF writer (lopdf): a heading and lines of text on A4 pages.
//!
//! Text is set in the standard Type1 font Helvetica with `WinAnsiEncoding`. By
//! default ([`Layout::Lines`]) each line is one plain `Tj`, so any reader (and
//! lopdf's own `extract_text`) can read it back. No fonts are embedded.
//!
//! The contract fixes what an invoice or setlist PDF shows, not how: the other
//! [`Layout`]s (justified text whose word gaps are `TJ` offsets, words placed one
//! by one with `Td`), [`MoneyStyle`]s and [`DurationStyle`]s are renderings a
//! conforming StageOS may use. They are plain options ([`Rendering`]) so a
//! conformance variation can switch them on; the default is the reference's own.

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

/// How the text of a line is shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Layout {
    /// One `Tj` per line, spaces as space glyphs (the reference's default).
    #[default]
    Lines,
    /// Justified text as PDFKit and TeX set it: one `TJ` array per line, no
    /// space glyphs, each word gap a pen move of [`JUSTIFIED_GAP`] thousandths of
    /// an em, kerning offsets inside longer words.
    Justified,
    /// Every word its own `Tj`, placed with `Td` (as Chromium places runs).
    Words,
}

/// The word gap of [`Layout::Justified`] (a `TJ` offset: negative moves right).
pub const JUSTIFIED_GAP: i64 = -450;

/// How an amount of money is written (the contract fixes cents + ISO 4217 code
/// in JSON, not the PDF's rendering).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MoneyStyle {
    /// `2161.38 EUR` (the reference's default).
    #[default]
    Plain,
    /// `€2,161.38` (en-IE / en-US style: symbol first, comma groups).
    SymbolFirst,
    /// `2.161,38 €` (de-DE).
    German,
    /// `2 161,38 EUR` with a no-break space as group separator (fr-FR).
    French,
    /// `EUR 2'161.38` (de-CH).
    Swiss,
    /// `EUR 2161.38` (code first, no grouping).
    CodeFirst,
}

/// How a duration is written in a setlist PDF.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DurationStyle {
    /// Items `m:ss`, total `m:ss (N s)` (the reference's default).
    #[default]
    Clock,
    /// `978 s`.
    Seconds,
    /// `16 min 18 s` (`1 h 2 min 5 s`).
    Units,
    /// ISO 8601: `PT16M18S`.
    Iso8601,
}

/// The renderings of one PDF (a conformance variation sets one field).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rendering {
    /// Text layout.
    pub layout: Layout,
    /// Money.
    pub money: MoneyStyle,
    /// Durations.
    pub duration: DurationStyle,
}

fn currency_symbol(currency: &str) -> &str {
    match currency {
        "EUR" => "€",
        "USD" => "$",
        "GBP" => "£",
        other => other,
    }
}

fn grouped(units: u64, sep: &str) -> String {
    let digits = units.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(c);
    }
    out
}

/// `cents` in `currency`, written in `style`.
pub fn money(cents: i64, currency: &str, style: MoneyStyle) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    let (units, frac) = (c / 100, c % 100);
    match style {
        MoneyStyle::Plain => format!("{sign}{units}.{frac:02} {currency}"),
        MoneyStyle::SymbolFirst => format!(
            "{sign}{}{}.{frac:02}",
            currency_symbol(currency),
            grouped(units, ",")
        ),
        MoneyStyle::German => format!(
            "{sign}{},{frac:02} {}",
            grouped(units, "."),
            currency_symbol(currency)
        ),
        MoneyStyle::French => format!("{sign}{},{frac:02} {currency}", grouped(units, "\u{a0}")),
        MoneyStyle::Swiss => format!("{currency} {sign}{}.{frac:02}", grouped(units, "'")),
        MoneyStyle::CodeFirst => format!("{currency} {sign}{units}.{frac:02}"),
    }
}

/// `m:ss` or `h:mm:ss`.
pub fn hms(total: u64) -> String {
    let (h, m, s) = (total / 3600, (total / 60) % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// A duration of `secs` seconds, written in `style`.
pub fn duration(secs: u64, style: DurationStyle) -> String {
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    match style {
        DurationStyle::Clock => hms(secs),
        DurationStyle::Seconds => format!("{secs} s"),
        DurationStyle::Units if h > 0 => format!("{h} h {m} min {s} s"),
        DurationStyle::Units => format!("{m} min {s} s"),
        DurationStyle::Iso8601 if h > 0 => format!("PT{h}H{m}M{s}S"),
        DurationStyle::Iso8601 => format!("PT{m}M{s}S"),
    }
}

/// A setlist's total duration in `style`: the default adds the seconds
/// (`16:18 (978 s)`), as the reference always did.
pub fn total_duration(secs: u64, style: DurationStyle) -> String {
    match style {
        DurationStyle::Clock => format!("{} ({secs} s)", hms(secs)),
        other => duration(secs, other),
    }
}

/// The operations that show `line` at the current line start in `layout`.
fn show_line(line: &str, layout: Layout, size: i64) -> Vec<Operation> {
    match layout {
        Layout::Lines => vec![Operation::new("Tj", vec![text(line)])],
        Layout::Justified => {
            let mut parts: Vec<Object> = Vec::new();
            for (i, word) in line.split_whitespace().enumerate() {
                if i > 0 {
                    parts.push(JUSTIFIED_GAP.into());
                }
                let mut chars = word.chars();
                match (chars.next(), word.chars().count()) {
                    (Some(first), n) if n >= 4 => {
                        parts.push(text(&first.to_string()));
                        parts.push(15.into());
                        parts.push(text(chars.as_str()));
                    }
                    _ => parts.push(text(word)),
                }
            }
            vec![Operation::new("TJ", vec![Object::Array(parts)])]
        }
        Layout::Words => {
            // Each word at its own x (a generous 0.6 em per character plus a
            // space), moved back to the line start at the end.
            let mut ops = Vec::new();
            let mut x = 0.0_f32;
            for word in line.split_whitespace() {
                ops.push(Operation::new("Tj", vec![text(word)]));
                let advance = (word.chars().count() as f32 * 0.6 + 0.3) * size as f32;
                ops.push(Operation::new("Td", vec![advance.into(), 0.into()]));
                x += advance;
            }
            if x > 0.0 {
                ops.push(Operation::new("Td", vec![(-x).into(), 0.into()]));
            }
            ops
        }
    }
}

/// Renders `title` and `lines` (paginated) into PDF bytes ([`Layout::Lines`]).
pub fn render(title: &str, lines: &[String]) -> Result<Vec<u8>, lopdf::Error> {
    render_with(title, lines, Layout::Lines)
}

/// Renders `title` and `lines` (paginated) into PDF bytes, text in `layout`.
pub fn render_with(title: &str, lines: &[String], layout: Layout) -> Result<Vec<u8>, lopdf::Error> {
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
        ];
        ops.extend(show_line(title, layout, 16));
        ops.push(Operation::new("Tf", vec!["F1".into(), 11.into()]));
        ops.push(Operation::new("T*", vec![]));
        for line in chunk.iter() {
            ops.push(Operation::new("T*", vec![]));
            ops.extend(show_line(line, layout, 11));
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

    #[test]
    fn justified_lines_have_no_space_glyphs() {
        let bytes = render_with(
            "Setlist: Main",
            &["1. Hello, Goodbye".into()],
            Layout::Justified,
        )
        .expect("render");
        let doc = Document::load_mem(&bytes).expect("load");
        let page = *doc.get_pages().values().next().expect("a page");
        let content = Content::decode(&doc.get_page_content(page)).expect("content");
        let tj: Vec<&Operation> = content
            .operations
            .iter()
            .filter(|o| o.operator == "TJ")
            .collect();
        assert_eq!(tj.len(), 2);
        for op in tj {
            let Ok(parts) = op.operands[0].as_array() else {
                panic!("TJ takes an array");
            };
            assert!(parts.iter().any(|p| p.as_i64().ok() == Some(JUSTIFIED_GAP)));
            for p in parts {
                if let Ok(s) = p.as_str() {
                    assert!(!s.contains(&b' '), "a space glyph in {s:?}");
                }
            }
        }
    }

    #[test]
    fn money_and_duration_styles() {
        assert_eq!(money(216138, "EUR", MoneyStyle::Plain), "2161.38 EUR");
        assert_eq!(money(216138, "EUR", MoneyStyle::SymbolFirst), "€2,161.38");
        assert_eq!(money(216138, "EUR", MoneyStyle::German), "2.161,38 €");
        assert_eq!(
            money(216138, "EUR", MoneyStyle::French),
            "2\u{a0}161,38 EUR"
        );
        assert_eq!(money(216138, "EUR", MoneyStyle::Swiss), "EUR 2'161.38");
        assert_eq!(money(-5, "EUR", MoneyStyle::CodeFirst), "EUR -0.05");
        assert_eq!(total_duration(978, DurationStyle::Clock), "16:18 (978 s)");
        assert_eq!(duration(978, DurationStyle::Seconds), "978 s");
        assert_eq!(duration(978, DurationStyle::Units), "16 min 18 s");
        assert_eq!(duration(3725, DurationStyle::Units), "1 h 2 min 5 s");
        assert_eq!(duration(978, DurationStyle::Iso8601), "PT16M18S");
    }
}
