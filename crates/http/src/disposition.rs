//! `Content-Disposition` read by its grammar (RFC 6266 §4.1, RFC 8187), not by
//! the reference's spelling.
//!
//! A target may send the filename as a token (`filename=tech-rider.txt`), as a
//! quoted-string with backslash escapes, or as an extended value
//! (`filename*=UTF-8''tech%20rider.txt`) beside a fallback; recipients prefer
//! `filename*` (RFC 6266 §4.3). Parameter names and the disposition type are
//! case-insensitive. No crate on crates.io parses this header well-kept and
//! small, so this module does, in one place, for every check that reads it.

/// A parsed `Content-Disposition` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentDisposition {
    /// The disposition type in lower case (`attachment`, `inline`, …).
    pub kind: String,
    /// The filename, from `filename*` when it decodes, else from `filename`.
    pub filename: Option<String>,
}

/// Why a value is not a `Content-Disposition`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("failed to parse Content-Disposition `{value}`: {reason}")]
pub struct DispositionError {
    value: String,
    reason: &'static str,
}

impl ContentDisposition {
    /// Parse `value` (RFC 6266 §4.1).
    pub fn parse(value: &str) -> Result<Self, DispositionError> {
        let err = |reason| DispositionError {
            value: value.to_owned(),
            reason,
        };
        let mut rest = value.trim();
        let kind_end = rest.find(';').unwrap_or(rest.len());
        let kind = rest[..kind_end].trim();
        if kind.is_empty() || !kind.chars().all(is_tchar) {
            return Err(err("the disposition type is not a token"));
        }
        rest = &rest[kind_end..];
        let mut plain = None;
        let mut extended = None;
        while let Some(after) = rest.trim_start().strip_prefix(';') {
            let after = after.trim_start();
            if after.is_empty() {
                break;
            }
            let eq = after
                .find('=')
                .ok_or_else(|| err("a parameter without `=`"))?;
            let name = after[..eq].trim().to_ascii_lowercase();
            let after_eq = after[eq + 1..].trim_start();
            let (val, tail) = if let Some(q) = after_eq.strip_prefix('"') {
                quoted_string(q).ok_or_else(|| err("an unterminated quoted-string"))?
            } else {
                let end = after_eq.find(';').unwrap_or(after_eq.len());
                (after_eq[..end].trim().to_owned(), &after_eq[end..])
            };
            match name.as_str() {
                "filename" => plain = Some(val),
                "filename*" => extended = ext_value(&val),
                _ => {}
            }
            rest = tail;
        }
        Ok(Self {
            kind: kind.to_ascii_lowercase(),
            filename: extended.or(plain),
        })
    }
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// The content of a quoted-string whose opening quote is consumed, and what follows.
fn quoted_string(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '"' => return Some((out, &s[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

/// RFC 8187 `ext-value`: `charset'[language]'pct-encoded`, UTF-8 (or ISO-8859-1).
fn ext_value(v: &str) -> Option<String> {
    let mut parts = v.splitn(3, '\'');
    let charset = parts.next()?.to_ascii_lowercase();
    let _language = parts.next()?;
    let encoded = parts.next()?;
    let mut bytes = Vec::with_capacity(encoded.len());
    let raw = encoded.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = std::str::from_utf8(raw.get(i + 1..i + 3)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    match charset.as_str() {
        "utf-8" => String::from_utf8(bytes).ok(),
        "iso-8859-1" => Some(bytes.into_iter().map(char::from).collect()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filename(v: &str) -> Option<String> {
        ContentDisposition::parse(v).ok().and_then(|d| d.filename)
    }

    #[test]
    fn every_form_rfc_6266_allows() {
        let want = Some("tech-rider.txt".to_owned());
        assert_eq!(filename("attachment; filename=\"tech-rider.txt\""), want);
        assert_eq!(filename("attachment; filename=tech-rider.txt"), want);
        assert_eq!(filename("Attachment;FILENAME=tech-rider.txt"), want);
        assert_eq!(
            filename("attachment; filename=\"fallback.txt\"; filename*=UTF-8''tech-rider.txt"),
            want
        );
        assert_eq!(
            filename("attachment; filename*=utf-8'en'tech%2Drider.txt; filename=x"),
            want
        );
        assert_eq!(
            filename(r#"attachment; filename="a \"quoted\" name.txt""#),
            Some("a \"quoted\" name.txt".to_owned())
        );
        assert_eq!(
            filename("attachment; filename*=UTF-8''caf%C3%A9.pdf").as_deref(),
            Some("café.pdf")
        );
        let d = ContentDisposition::parse("inline").ok();
        assert_eq!(
            d.map(|d| (d.kind, d.filename)),
            Some(("inline".to_owned(), None))
        );
    }

    #[test]
    fn broken_values_are_errors() {
        assert!(ContentDisposition::parse("").is_err());
        assert!(ContentDisposition::parse("attachment; filename=\"open").is_err());
        assert!(ContentDisposition::parse("attachment; filename").is_err());
    }
}
