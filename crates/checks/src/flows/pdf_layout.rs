//! Layout-aware text extraction from PDFs, on lopdf's object model.
//!
//! Why not lopdf's `extract_text`: it concatenates shown strings in stream order
//! and knows nothing about where they are placed. Real renderers place text by
//! position, not by space glyphs: Chromium's `--print-to-pdf` shows each word (or
//! part of a word) as its own run of Type0/CID glyphs placed with `Tm`/`Td`;
//! justified text (PDFKit, TeX) drops the space glyph and moves the pen with `TJ`
//! offsets instead. Read in stream order, "Hello, Goodbye" comes out as
//! "Hello,Goodbye" or with a space in the middle of a word.
//!
//! So this module interprets the content stream as a reader does: it tracks the
//! graphics and text state (`cm`, `q`/`Q`, `Tm`, `Td`, `TD`, `T*`, `TL`, `Tc`,
//! `Tw`, `Tz`, `Tf`, Form XObjects), decodes strings through the font's encoding
//! (the ToUnicode CMap for CID fonts), advances the pen by the font's glyph widths
//! (`Widths`, or `W`/`DW` of a CID font), and turns a `TJ` offset that moves the
//! pen right by more than [`TJ_WORD_GAP`] thousandths of an em into a word gap.
//! Each page's runs are then grouped into lines by baseline (top to bottom) and
//! ordered by x; a horizontal gap between two runs wider than
//! [`RUN_GAP_EM`] of the font size becomes a space.

use std::collections::{BTreeMap, HashMap};

use lopdf::content::Content;
use lopdf::{Dictionary, Document, Encoding, Object, ObjectId};

/// A `TJ` offset below minus this (thousandths of an em: the pen moves right by
/// more than a fifth of an em) is a word gap. Kerning is a few tens.
pub const TJ_WORD_GAP: f64 = 200.0;

/// A gap between two runs on one line wider than this share of the font size is a
/// space (a space glyph is about a quarter of an em; kerning is far less).
pub const RUN_GAP_EM: f64 = 0.15;

/// Glyph width assumed where a font gives none (thousandths of an em).
const DEFAULT_WIDTH: f64 = 500.0;

/// Deepest nesting of Form XObjects followed.
const MAX_FORM_DEPTH: usize = 8;

/// Most content operations interpreted per page, forms included: a form that
/// calls itself several times per level must not cost exponential time.
pub const MAX_OPERATIONS: usize = 1_000_000;

/// A 2-D affine matrix `[a b c d e f]` as PDF writes it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Matrix([f64; 6]);

impl Matrix {
    const IDENTITY: Matrix = Matrix([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);

    fn translate(tx: f64, ty: f64) -> Matrix {
        Matrix([1.0, 0.0, 0.0, 1.0, tx, ty])
    }

    /// `self × other` (apply `self` first, then `other`).
    fn then(self, other: Matrix) -> Matrix {
        let [a, b, c, d, e, f] = self.0;
        let [a2, b2, c2, d2, e2, f2] = other.0;
        Matrix([
            a * a2 + b * c2,
            a * b2 + b * d2,
            c * a2 + d * c2,
            c * b2 + d * d2,
            e * a2 + f * c2 + e2,
            e * b2 + f * d2 + f2,
        ])
    }

    fn origin(self) -> (f64, f64) {
        (self.0[4], self.0[5])
    }

    /// Length of the unit vertical vector after the transform (the glyph height).
    fn vertical_scale(self) -> f64 {
        self.0[2].hypot(self.0[3])
    }
}

/// One shown string (or `TJ` array) placed on a page.
#[derive(Clone, Debug)]
struct Run {
    x: f64,
    y: f64,
    end_x: f64,
    size: f64,
    text: String,
}

/// What the extractor needs of one font.
struct FontInfo<'a> {
    encoding: Option<Encoding<'a>>,
    /// Bytes per character code: 2 for Type0 (CID) fonts, 1 for simple fonts.
    code_len: usize,
    widths: HashMap<u32, f64>,
    default_width: f64,
}

impl FontInfo<'_> {
    fn width(&self, code: u32) -> f64 {
        self.widths
            .get(&code)
            .copied()
            .unwrap_or(self.default_width)
    }
}

fn number(o: &Object) -> Option<f64> {
    o.as_float().ok().map(f64::from)
}

fn deref<'a>(doc: &'a Document, o: &'a Object) -> &'a Object {
    match o {
        Object::Reference(id) => doc.get_object(*id).unwrap_or(o),
        _ => o,
    }
}

fn dict_of<'a>(doc: &'a Document, o: &'a Object) -> Option<&'a Dictionary> {
    deref(doc, o).as_dict().ok()
}

/// Widths of a simple font (`FirstChar` + `Widths`) or of a CID font's first
/// descendant (`W`, `DW`).
fn font_widths(doc: &Document, font: &Dictionary) -> (HashMap<u32, f64>, f64, usize) {
    let mut widths = HashMap::new();
    let is_type0 = font.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Type0");
    if is_type0 {
        let descendant = font
            .get(b"DescendantFonts")
            .ok()
            .map(|o| deref(doc, o))
            .and_then(|o| o.as_array().ok())
            .and_then(|a| a.first())
            .and_then(|o| dict_of(doc, o));
        let mut dw = 1000.0;
        if let Some(d) = descendant {
            dw = d.get(b"DW").ok().and_then(number).unwrap_or(1000.0);
            if let Some(w) = d
                .get(b"W")
                .ok()
                .map(|o| deref(doc, o))
                .and_then(|o| o.as_array().ok())
            {
                let mut i = 0;
                while i < w.len() {
                    let first = number(deref(doc, &w[i])).unwrap_or(0.0) as u32;
                    match w.get(i + 1).map(|o| deref(doc, o)) {
                        Some(Object::Array(list)) => {
                            for (k, o) in list.iter().enumerate() {
                                if let Some(v) = number(deref(doc, o)) {
                                    widths.insert(first + k as u32, v);
                                }
                            }
                            i += 2;
                        }
                        Some(last) => {
                            let last = number(last).unwrap_or(0.0) as u32;
                            let v = w
                                .get(i + 2)
                                .and_then(|o| number(deref(doc, o)))
                                .unwrap_or(dw);
                            // Bounded: a hostile range must not allocate without end.
                            for code in first..=last.min(first.saturating_add(0xFFFF)) {
                                widths.insert(code, v);
                            }
                            i += 3;
                        }
                        None => break,
                    }
                }
            }
        }
        return (widths, dw, 2);
    }
    let first = font.get(b"FirstChar").ok().and_then(number).unwrap_or(0.0) as u32;
    if let Some(list) = font
        .get(b"Widths")
        .ok()
        .map(|o| deref(doc, o))
        .and_then(|o| o.as_array().ok())
    {
        for (k, o) in list.iter().enumerate() {
            if let Some(v) = number(deref(doc, o)) {
                widths.insert(first + k as u32, v);
            }
        }
    }
    let missing = font
        .get(b"FontDescriptor")
        .ok()
        .and_then(|o| dict_of(doc, o))
        .and_then(|d| d.get(b"MissingWidth").ok())
        .and_then(number)
        .filter(|w| *w > 0.0)
        .unwrap_or(DEFAULT_WIDTH);
    (widths, missing, 1)
}

fn font_info<'a>(doc: &'a Document, font: &'a Dictionary, limit: usize) -> FontInfo<'a> {
    let (widths, default_width, code_len) = font_widths(doc, font);
    FontInfo {
        encoding: font.get_font_encoding_with_limit(doc, limit).ok(),
        code_len,
        widths,
        default_width,
    }
}

/// The fonts of a `Resources` dictionary, by resource name.
fn fonts_of<'a>(
    doc: &'a Document,
    resources: Option<&'a Dictionary>,
) -> BTreeMap<Vec<u8>, &'a Dictionary> {
    let mut out = BTreeMap::new();
    if let Some(fonts) = resources
        .and_then(|r| r.get(b"Font").ok())
        .and_then(|o| dict_of(doc, o))
    {
        for (name, o) in fonts.iter() {
            if let Some(d) = dict_of(doc, o) {
                out.insert(name.clone(), d);
            }
        }
    }
    out
}

/// The interpreter's state for one content stream (and the forms it calls).
struct Interpreter<'a> {
    doc: &'a Document,
    limit: usize,
    runs: Vec<Run>,
    /// Decompressed bytes read so far for this page (bounded by `limit`).
    read: usize,
    /// Content operations interpreted so far for this page.
    operations: usize,
}

/// Text state that survives `BT`/`ET` (PDF 32000-1, 9.3).
#[derive(Clone, Copy)]
struct TextState {
    char_spacing: f64,
    word_spacing: f64,
    scale: f64,
    leading: f64,
    size: f64,
}

impl Default for TextState {
    fn default() -> Self {
        TextState {
            char_spacing: 0.0,
            word_spacing: 0.0,
            scale: 1.0,
            leading: 0.0,
            size: 0.0,
        }
    }
}

impl<'a> Interpreter<'a> {
    fn run_stream(
        &mut self,
        content: &[u8],
        fonts: &BTreeMap<Vec<u8>, FontInfo<'a>>,
        xobjects: Option<&'a Dictionary>,
        ctm: Matrix,
        depth: usize,
    ) -> Result<(), String> {
        let content = Content::decode(content)
            .map_err(|e| format!("a content stream cannot be parsed: {e}"))?;
        let mut ctm = ctm;
        let mut stack: Vec<(Matrix, TextState)> = Vec::new();
        let mut ts = TextState::default();
        let mut tm = Matrix::IDENTITY;
        let mut tlm = Matrix::IDENTITY;
        let mut font: Option<&FontInfo> = None;
        self.operations += content.operations.len();
        if self.operations > MAX_OPERATIONS {
            return Err(format!(
                "a page has more than {MAX_OPERATIONS} content operations (forms included)"
            ));
        }
        for op in &content.operations {
            let args = &op.operands;
            let num = |i: usize| args.get(i).and_then(number).unwrap_or(0.0);
            match op.operator.as_str() {
                "q" => stack.push((ctm, ts)),
                "Q" => {
                    if let Some((m, t)) = stack.pop() {
                        ctm = m;
                        ts = t;
                    }
                }
                "cm" if args.len() == 6 => {
                    let m = Matrix([num(0), num(1), num(2), num(3), num(4), num(5)]);
                    ctm = m.then(ctm);
                }
                "BT" => {
                    tm = Matrix::IDENTITY;
                    tlm = Matrix::IDENTITY;
                }
                "Tf" => {
                    font = args
                        .first()
                        .and_then(|o| o.as_name().ok())
                        .and_then(|n| fonts.get(n));
                    ts.size = num(1);
                }
                "Tc" => ts.char_spacing = num(0),
                "Tw" => ts.word_spacing = num(0),
                "Tz" => ts.scale = num(0) / 100.0,
                "TL" => ts.leading = num(0),
                "Td" => {
                    tlm = Matrix::translate(num(0), num(1)).then(tlm);
                    tm = tlm;
                }
                "TD" => {
                    ts.leading = -num(1);
                    tlm = Matrix::translate(num(0), num(1)).then(tlm);
                    tm = tlm;
                }
                "Tm" if args.len() == 6 => {
                    tlm = Matrix([num(0), num(1), num(2), num(3), num(4), num(5)]);
                    tm = tlm;
                }
                "T*" => {
                    tlm = Matrix::translate(0.0, -ts.leading).then(tlm);
                    tm = tlm;
                }
                "Tj" | "'" | "\"" | "TJ" => {
                    if op.operator == "'" || op.operator == "\"" {
                        if op.operator == "\"" {
                            ts.word_spacing = num(0);
                            ts.char_spacing = num(1);
                        }
                        tlm = Matrix::translate(0.0, -ts.leading).then(tlm);
                        tm = tlm;
                    }
                    let shown = match op.operator.as_str() {
                        "\"" => args.get(2),
                        _ => args.first(),
                    };
                    if let (Some(shown), Some(f)) = (shown, font) {
                        tm = self.show(shown, f, &ts, tm, ctm);
                    }
                }
                "Do" if depth < MAX_FORM_DEPTH => {
                    if let Some(name) = args.first().and_then(|o| o.as_name().ok()) {
                        self.form(name, xobjects, ctm, depth)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Follow a Form XObject (`Do`): its own resources, its `Matrix`.
    fn form(
        &mut self,
        name: &[u8],
        xobjects: Option<&'a Dictionary>,
        ctm: Matrix,
        depth: usize,
    ) -> Result<(), String> {
        let doc = self.doc;
        let Some(stream) = xobjects
            .and_then(|x| x.get(name).ok())
            .map(|o| deref(doc, o))
            .and_then(|o| o.as_stream().ok())
        else {
            return Ok(());
        };
        if stream.dict.get(b"Subtype").and_then(Object::as_name).ok() != Some(b"Form") {
            return Ok(());
        }
        let matrix = stream
            .dict
            .get(b"Matrix")
            .ok()
            .and_then(|o| o.as_array().ok())
            .filter(|a| a.len() == 6)
            .map(|a| {
                let v: Vec<f64> = a.iter().map(|o| number(o).unwrap_or(0.0)).collect();
                Matrix([v[0], v[1], v[2], v[3], v[4], v[5]])
            })
            .unwrap_or(Matrix::IDENTITY);
        let resources = stream
            .dict
            .get(b"Resources")
            .ok()
            .and_then(|o| dict_of(doc, o));
        let fonts = self.font_infos(fonts_of(doc, resources));
        let inner_xobjects = resources
            .and_then(|r| r.get(b"XObject").ok())
            .and_then(|o| dict_of(doc, o));
        let remaining = self.limit.saturating_sub(self.read);
        let content = stream
            .get_plain_content_with_limit(remaining)
            .map_err(|e| format!("a form's content cannot be read: {e}"))?;
        self.read += content.len();
        self.run_stream(
            &content,
            &fonts,
            inner_xobjects,
            matrix.then(ctm),
            depth + 1,
        )
    }

    fn font_infos(
        &self,
        fonts: BTreeMap<Vec<u8>, &'a Dictionary>,
    ) -> BTreeMap<Vec<u8>, FontInfo<'a>> {
        fonts
            .into_iter()
            .map(|(name, d)| (name, font_info(self.doc, d, self.limit)))
            .collect()
    }

    /// Show a string or a `TJ` array; returns the text matrix after it.
    fn show(
        &mut self,
        shown: &Object,
        font: &FontInfo,
        ts: &TextState,
        mut tm: Matrix,
        ctm: Matrix,
    ) -> Matrix {
        let start = tm.then(ctm);
        let mut text = String::new();
        let parts: &[Object] = match shown {
            Object::Array(parts) => parts,
            one => std::slice::from_ref(one),
        };
        for part in parts {
            match part {
                Object::String(bytes, _) => {
                    if let Some(enc) = &font.encoding
                        && let Ok(s) = enc.bytes_to_string(bytes)
                    {
                        text.push_str(&s);
                    }
                    let mut advance = 0.0;
                    for code in bytes.chunks(font.code_len) {
                        let c = code.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b));
                        let word = if font.code_len == 1 && c == 32 {
                            ts.word_spacing
                        } else {
                            0.0
                        };
                        advance += font.width(c) / 1000.0 * ts.size + ts.char_spacing + word;
                    }
                    tm = Matrix::translate(advance * ts.scale, 0.0).then(tm);
                }
                other => {
                    if let Some(n) = number(other) {
                        if n < -TJ_WORD_GAP && !text.ends_with(char::is_whitespace) {
                            text.push(' ');
                        }
                        tm = Matrix::translate(-n / 1000.0 * ts.size * ts.scale, 0.0).then(tm);
                    }
                }
            }
        }
        let (x, y) = start.origin();
        let (end_x, _) = tm.then(ctm).origin();
        let size = (ts.size * start.vertical_scale()).abs();
        if !text.is_empty() {
            self.runs.push(Run {
                x: x.min(end_x),
                y,
                end_x: x.max(end_x),
                size,
                text,
            });
        }
        tm
    }
}

/// Lines of text of one page, top to bottom, each read left to right.
fn lines_of(mut runs: Vec<Run>) -> Vec<String> {
    runs.sort_by(|a, b| b.y.total_cmp(&a.y).then(a.x.total_cmp(&b.x)));
    let mut lines: Vec<Vec<Run>> = Vec::new();
    for run in runs {
        match lines.last_mut() {
            Some(line)
                if (line[0].y - run.y).abs() <= 0.4 * line[0].size.max(run.size).max(1.0) =>
            {
                line.push(run)
            }
            _ => lines.push(vec![run]),
        }
    }
    lines
        .into_iter()
        .map(|mut line| {
            line.sort_by(|a, b| a.x.total_cmp(&b.x));
            let mut out = String::new();
            let mut prev_end: Option<f64> = None;
            for run in line {
                if let Some(end) = prev_end
                    && run.x - end > RUN_GAP_EM * run.size
                    && !out.ends_with(char::is_whitespace)
                    && !run.text.starts_with(char::is_whitespace)
                {
                    out.push(' ');
                }
                out.push_str(&run.text);
                prev_end = Some(prev_end.map_or(run.end_x, |e: f64| e.max(run.end_x)));
            }
            out
        })
        .collect()
}

/// The text of `pages` (page ids in order), one line per text line, pages in
/// order. `limit` bounds the decompressed content read per page.
pub fn layout_text(doc: &Document, pages: &[ObjectId], limit: usize) -> Result<String, String> {
    let mut out = String::new();
    for &page_id in pages {
        let fonts = doc
            .get_page_fonts(page_id)
            .map_err(|e| format!("the fonts of a page cannot be read: {e}"))?;
        let (direct, ids) = doc
            .get_page_resources(page_id)
            .map_err(|e| format!("the resources of a page cannot be read: {e}"))?;
        let xobjects = direct
            .into_iter()
            .chain(ids.iter().filter_map(|id| doc.get_dictionary(*id).ok()))
            .find_map(|r| r.get(b"XObject").ok().and_then(|o| dict_of(doc, o)));
        let content = doc
            .get_page_content_with_limit(page_id, limit)
            .map_err(|e| format!("a page's content cannot be read: {e}"))?;
        let mut interp = Interpreter {
            doc,
            limit,
            runs: Vec::new(),
            read: content.len(),
            operations: 0,
        };
        let infos = interp.font_infos(fonts);
        interp.run_stream(&content, &infos, xobjects, Matrix::IDENTITY, 0)?;
        for line in lines_of(interp.runs) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(x: f64, y: f64, end_x: f64, text: &str) -> Run {
        Run {
            x,
            y,
            end_x,
            size: 10.0,
            text: text.into(),
        }
    }

    #[test]
    fn lines_top_to_bottom_runs_left_to_right() {
        let lines = lines_of(vec![
            run(50.0, 700.0, 80.0, "Goodbye"),
            run(10.0, 700.5, 40.0, "Hello,"),
            run(10.0, 800.0, 30.0, "Title"),
            // Abutting runs (a word split by the renderer) join without a space.
            run(10.0, 600.0, 20.0, "te"),
            run(20.5, 600.0, 30.0, "xt"),
        ]);
        assert_eq!(lines, vec!["Title", "Hello, Goodbye", "text"]);
    }

    #[test]
    fn a_form_calling_itself_is_bounded() {
        use lopdf::{Stream, dictionary};
        let mut doc = Document::with_version("1.5");
        let form_id = doc.new_object_id();
        // Each level shows nothing and calls itself four times.
        let body = b"/X Do /X Do /X Do /X Do".repeat(2000);
        let resources = dictionary! { "XObject" => dictionary! { "X" => form_id } };
        let form = Stream::new(
            dictionary! { "Type" => "XObject", "Subtype" => "Form", "Resources" => resources.clone() },
            body,
        );
        doc.objects.insert(form_id, Object::Stream(form));
        let pages_id = doc.new_object_id();
        let content_id = doc.add_object(Stream::new(dictionary! {}, b"/X Do".to_vec()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
            "Resources" => resources,
        });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(
                dictionary! { "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1 },
            ),
        );
        let started = std::time::Instant::now();
        let err = layout_text(&doc, &[page_id], 16 * 1024 * 1024).unwrap_err();
        assert!(err.contains("content operations"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }

    #[test]
    fn matrices_compose_in_pdf_order() {
        // Chromium: a flipped page CTM, then Tm with a negative d.
        let ctm = Matrix([0.24, 0.0, 0.0, -0.24, 0.0, 792.0]);
        let tm = Matrix([1.0, 0.0, 0.0, -1.0, 8.0, 51.0]);
        let (x, y) = tm.then(ctm).origin();
        assert!((x - 1.92).abs() < 1e-9 && (y - (792.0 - 12.24)).abs() < 1e-9);
        assert!((tm.then(ctm).vertical_scale() - 0.24).abs() < 1e-9);
    }
}
