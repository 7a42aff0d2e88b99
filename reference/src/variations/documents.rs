//! Documents and header values in the other forms their standards allow: CSV
//! dialects (RFC 4180), `Content-Disposition` (RFC 6266 / 8187), media types
//! (RFC 9110 §8.3.1) and the Prometheus text format.
//!
//! Each function takes what the reference wrote (one known form) and returns
//! an equivalent one, so a reader that matches the reference's bytes instead of
//! the format's grammar goes red under `tests/variations.rs`.

use super::Variation;

/// The CSV export rewritten by the active CSV variations.
pub(crate) fn csv(body: &[u8], active: &[Variation]) -> Vec<u8> {
    let bom = active.contains(&Variation::CsvBom);
    let quote_all = active.contains(&Variation::CsvQuoteAll);
    let no_final = active.contains(&Variation::CsvNoFinalLineBreak);
    if !(bom || quote_all || no_final) {
        return body.to_vec();
    }
    let mut out = Vec::with_capacity(body.len() + 64);
    if bom {
        out.extend_from_slice("\u{feff}".as_bytes());
    }
    if quote_all {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(body);
        let mut writer = csv::WriterBuilder::new()
            .quote_style(csv::QuoteStyle::Always)
            .terminator(csv::Terminator::CRLF)
            .flexible(true)
            .from_writer(Vec::new());
        for record in reader.records().flatten() {
            let _ = writer.write_record(&record);
        }
        out.extend(writer.into_inner().unwrap_or_default());
    } else {
        out.extend_from_slice(body);
    }
    if no_final && out.ends_with(b"\r\n") {
        out.truncate(out.len() - 2);
    }
    out
}

/// The reference's `attachment; filename="<name>"` in the form of the active variation.
pub(crate) fn disposition(value: &str, active: &[Variation]) -> String {
    let Some(name) = value
        .strip_prefix("attachment; filename=\"")
        .and_then(|rest| rest.strip_suffix('"'))
    else {
        return value.to_owned();
    };
    if active.contains(&Variation::DispositionExtended) {
        return format!(
            "attachment; filename=\"{name}\"; filename*=UTF-8''{}",
            pct(name)
        );
    }
    if active.contains(&Variation::DispositionToken)
        && !name.is_empty()
        && name.chars().all(is_token_char)
    {
        return format!("attachment; filename={name}");
    }
    value.to_owned()
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// RFC 8187 `attr-char` kept, everything else percent-encoded.
fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A `Content-Type` value in the form of the active media-type variations.
pub(crate) fn media_type(value: &str, active: &[Variation]) -> String {
    let mut parts: Vec<String> = value.split(';').map(|p| p.trim().to_owned()).collect();
    if parts.is_empty() {
        return value.to_owned();
    }
    if active.contains(&Variation::MediaTypeParameters) {
        for p in parts.iter_mut().skip(1) {
            if let Some((k, v)) = p.split_once('=')
                && !v.starts_with('"')
            {
                *p = format!("{k}=\"{v}\"");
            }
        }
        parts.push("x-vendor=1".to_owned());
    }
    if active.contains(&Variation::MediaTypeCase) {
        if parts[0] == "application/json" && !parts.iter().any(|p| p.starts_with("charset")) {
            parts.push("charset=utf-8".to_owned());
        }
        if let Some((t, sub)) = parts[0].split_once('/') {
            parts[0] = format!("{}/{}", capitalise(t), sub.to_ascii_uppercase());
        }
        for p in parts.iter_mut().skip(1) {
            if let Some((k, v)) = p.split_once('=') {
                let v = if k.eq_ignore_ascii_case("charset") {
                    v.to_ascii_uppercase()
                } else {
                    v.to_owned()
                };
                *p = format!("{}={v}", capitalise(k));
            }
        }
    }
    parts.join("; ")
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// The Prometheus exposition rewritten by the active `prom-*` variations.
pub(crate) fn prometheus(text: &str, active: &[Variation], now_ms: i64) -> String {
    let reorder = active.contains(&Variation::PromLabelOrder);
    let stamp = active.contains(&Variation::PromTimestamps);
    let mut out = String::with_capacity(text.len() + 512);
    let mut eof = false;
    for line in text.lines() {
        if line == "# EOF" {
            eof = true;
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut line = line.to_owned();
        if reorder && let Some(new) = reverse_labels(&line) {
            line = new;
        }
        if stamp && !has_timestamp(&line) {
            line = format!("{line} {now_ms}");
        }
        out.push_str(&line);
        out.push('\n');
    }
    if active.contains(&Variation::PromExtraFamilies) {
        out.push_str(
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n\
             # TYPE process_cpu_seconds_total counter\n\
             process_cpu_seconds_total 12.34\n\
             # HELP go_goroutines Number of goroutines that currently exist.\n\
             # TYPE go_goroutines gauge\n\
             go_goroutines 42\n\
             # HELP http_server_build_info Build of the edge proxy.\n\
             # TYPE http_server_build_info gauge\n\
             http_server_build_info{version=\"2.4.1\",proxy=\"edge\"} 1\n",
        );
    }
    if active.contains(&Variation::PromEscapes) {
        out.push_str(
            "# HELP stageos_config_info Deployed configuration: a \\\\ backslash and a \\n newline.\n\
             # TYPE stageos_config_info gauge\n\
             stageos_config_info{path=\"C:\\\\srv\\\\stageos\",note=\"say \\\"hi\\\"\\nthen go\",empty=\"\"} 1\n",
        );
    }
    if eof {
        out.push_str("# EOF\n");
    }
    out
}

/// Whether the sample line already carries a timestamp after its value.
fn has_timestamp(line: &str) -> bool {
    let rest = match line.rfind('}') {
        Some(i) => &line[i + 1..],
        None => line.split_once(' ').map(|(_, r)| r).unwrap_or(""),
    };
    rest.split_whitespace().count() >= 2
}

/// `name{a="1",b="2"} v` as `name{b="2",a="1"} v`; `None` without labels.
fn reverse_labels(line: &str) -> Option<String> {
    let open = line.find('{')?;
    let close = line.rfind('}')?;
    let inner = &line[open + 1..close];
    let mut labels = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in inner.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == ',' && !quoted {
            labels.push(std::mem::take(&mut current));
            continue;
        }
        current.push(c);
    }
    if !current.is_empty() {
        labels.push(current);
    }
    labels.reverse();
    Some(format!(
        "{}{{{}}}{}",
        &line[..open],
        labels.join(","),
        &line[close + 1..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_forms() {
        let v = "attachment; filename=\"tech-rider.txt\"";
        assert_eq!(
            disposition(v, &[Variation::DispositionToken]),
            "attachment; filename=tech-rider.txt"
        );
        assert_eq!(
            disposition(
                "attachment; filename=\"a b.csv\"",
                &[Variation::DispositionExtended]
            ),
            "attachment; filename=\"a b.csv\"; filename*=UTF-8''a%20b.csv"
        );
    }

    #[test]
    fn media_type_forms() {
        assert_eq!(
            media_type("application/json", &[Variation::MediaTypeCase]),
            "Application/JSON; Charset=UTF-8"
        );
        assert_eq!(
            media_type("text/csv; charset=utf-8", &[Variation::MediaTypeParameters]),
            "text/csv; charset=\"utf-8\"; x-vendor=1"
        );
    }

    #[test]
    fn csv_forms() {
        let body = b"position,title\r\n1,\"a, b\"\r\n";
        let all = [
            Variation::CsvBom,
            Variation::CsvQuoteAll,
            Variation::CsvNoFinalLineBreak,
        ];
        assert_eq!(
            String::from_utf8_lossy(&csv(body, &all)),
            "\u{feff}\"position\",\"title\"\r\n\"1\",\"a, b\""
        );
    }

    #[test]
    fn prometheus_forms() {
        let text = "# TYPE q gauge\nq{queue=\"pdf\",x=\"a,b\"} 3\nup 1\n# EOF\n";
        let out = prometheus(
            text,
            &[Variation::PromLabelOrder, Variation::PromTimestamps],
            7,
        );
        assert_eq!(
            out,
            "# TYPE q gauge\nq{x=\"a,b\",queue=\"pdf\"} 3 7\nup 1 7\n# EOF\n"
        );
    }
}
