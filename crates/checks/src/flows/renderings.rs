//! Finding a known amount of money or a known duration in a document's text,
//! however a locale writes it.
//!
//! Why: the contract fixes the *values* an invoice PDF and a setlist PDF show (the
//! invoice total, the setlist's total duration) but not how they are written
//! (fixtures/contract/stageos.openapi.yaml, "Decisions" in `info.description`).
//! A check that looked for the reference server's own rendering (`2161.38 EUR`,
//! `16:18`) would fail a correct deployment whose renderer uses `2.161,38 €` or
//! `16 min 18 s`. So the suite accepts every common rendering of the right value
//! and still fails on a wrong one: a number that differs in any digit, or that is
//! only part of a longer number (`12,161.38` does not show `2,161.38`).

/// Decimal and grouping separators of common locales. A space stands for every
/// space character: the text is whitespace-normalised before it is searched
/// (U+00A0 and U+202F, which French and Swiss renderers use, included).
const GROUPS: [&str; 6] = ["", ",", ".", " ", "'", "\u{2019}"];

/// `units` with `sep` between groups of three digits.
fn grouped(units: &str, sep: &str) -> String {
    let mut out = String::new();
    for (i, c) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(c);
    }
    out
}

/// Indian grouping: the last three digits, then groups of two (`21,61,380`).
fn grouped_indian(units: &str) -> String {
    if units.len() <= 3 {
        return units.to_owned();
    }
    let (head, tail) = units.split_at(units.len() - 3);
    format!("{},{tail}", grouped_pairs(head))
}

fn grouped_pairs(digits: &str) -> String {
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(2) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Every rendering of `cents` the suite accepts: decimal point or comma, grouped
/// by nothing, `,`, `.`, a space, `'` or `’` (never the decimal separator), and
/// Indian grouping; a whole amount also without decimals. The sign, if any, in
/// front. Currency symbols and codes may stand anywhere around it.
pub fn money_renderings(cents: i64) -> Vec<String> {
    let sign = if cents < 0 { "-" } else { "" };
    let (units, frac) = (cents.unsigned_abs() / 100, cents.unsigned_abs() % 100);
    let digits = units.to_string();
    let mut out = Vec::new();
    let mut add = |s: String| {
        let s = format!("{sign}{s}");
        if !out.contains(&s) {
            out.push(s);
        }
    };
    for decimal in [".", ","] {
        for group in GROUPS.iter().filter(|g| **g != decimal) {
            add(format!("{}{decimal}{frac:02}", grouped(&digits, group)));
        }
    }
    add(format!("{}.{frac:02}", grouped_indian(&digits)));
    if frac == 0 {
        for group in GROUPS {
            add(grouped(&digits, group));
        }
    }
    out
}

/// Whether the match of `needle` at `at` in `text` is a whole number: no digit
/// (or digit group) continues it on either side.
fn whole_number_at(text: &str, at: usize, needle: &str) -> bool {
    let before = &text[..at];
    let after = &text[at + needle.len()..];
    let mut back = before.chars().rev();
    let prev = back.next();
    let prev2 = back.next();
    let continues_before = match prev {
        Some(c) if c.is_ascii_digit() => true,
        Some('.' | ',' | '\'' | '\u{2019}') => prev2.is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    };
    let mut fwd = after.chars();
    let next = fwd.next();
    let next2 = fwd.next();
    let has_decimals = needle
        .rfind(['.', ','])
        .is_some_and(|i| needle.len() - i == 3);
    let continues_after = match next {
        Some(c) if c.is_ascii_digit() => true,
        Some('.' | ',' | '\'' | '\u{2019}' | ' ') if !has_decimals => {
            next2.is_some_and(|c| c.is_ascii_digit())
        }
        _ => false,
    };
    !continues_before && !continues_after
}

/// Whether `text` (whitespace-normalised) shows the amount `cents` in any
/// rendering of [`money_renderings`].
pub fn has_amount(text: &str, cents: i64) -> bool {
    money_renderings(cents).iter().any(|r| {
        text.match_indices(r.as_str())
            .any(|(at, _)| whole_number_at(text, at, r))
    })
}

/// Whether `text` holds `number` as a whole token (not inside a longer number).
pub fn has_number(text: &str, number: &str) -> bool {
    text.match_indices(number).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + number.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
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

/// Seconds per unit word (English, German, French; ASCII and prime marks).
fn unit_seconds(word: &str) -> Option<u64> {
    match word.to_ascii_lowercase().as_str() {
        "h" | "hr" | "hrs" | "hour" | "hours" | "std" | "stunde" | "stunden" | "heure"
        | "heures" => Some(3600),
        "m" | "min" | "mins" | "minute" | "minutes" | "minuten" | "\u{2032}" => Some(60),
        "s" | "sec" | "secs" | "second" | "seconds" | "sek" | "sekunden" | "seconde"
        | "secondes" | "\u{2033}" => Some(1),
        _ => None,
    }
}

/// A digit run at the start of `s`: (value, bytes).
fn leading_number(s: &str) -> Option<(u64, usize)> {
    let len = s.bytes().take_while(u8::is_ascii_digit).count();
    if len == 0 || len > 9 {
        return None;
    }
    s[..len].parse().ok().map(|v| (v, len))
}

/// `m:ss`, `mm:ss`, `h:mm:ss` at the start of `s`: (seconds, bytes).
fn clock_at(s: &str) -> Option<(u64, usize)> {
    let (first, mut at) = leading_number(s)?;
    let mut parts = vec![first];
    while parts.len() < 3 && s[at..].starts_with(':') {
        let rest = &s[at + 1..];
        match leading_number(rest) {
            Some((v, 2)) if v < 60 => {
                parts.push(v);
                at += 3;
            }
            _ => break,
        }
    }
    let secs = match parts[..] {
        [m, s] => m * 60 + s,
        [h, m, s] => h * 3600 + m * 60 + s,
        _ => return None,
    };
    let next = s[at..].chars().next();
    (!next.is_some_and(|c| c.is_ascii_digit() || c == ':')).then_some((secs, at))
}

/// `16 min 18 s`, `16m18s`, `1 h 2 min 5 s`, `16 min, 18 s`, `16 min and 18 s`,
/// `978 s`, `16′18″` at the start of `s`: (seconds, bytes). Units must decrease.
fn units_at(s: &str) -> Option<(u64, usize)> {
    let mut total = 0;
    let mut at = 0;
    let mut last_unit = u64::MAX;
    let mut parts = 0;
    loop {
        let rest = &s[at..];
        // Between parts: a space, a comma or "and"/"und"/"et".
        let mut skip = 0;
        if parts > 0 {
            let trimmed = rest.trim_start_matches([' ', ',', '.']);
            skip = rest.len() - trimmed.len();
            for joiner in ["and ", "und ", "et "] {
                if trimmed.starts_with(joiner) {
                    skip += joiner.len();
                    break;
                }
            }
        }
        let rest = &rest[skip..];
        let Some((value, len)) = leading_number(rest) else {
            break;
        };
        let after = &rest[len..];
        let gap = after.len() - after.trim_start_matches(' ').len();
        let word_len: usize = after[gap..]
            .char_indices()
            .find(|(_, c)| !(c.is_alphabetic() || *c == '\u{2032}' || *c == '\u{2033}'))
            .map_or(after.len() - gap, |(i, _)| i);
        let word = &after[gap..gap + word_len];
        // A prime mark is its own word: `16′18″`.
        let (word, word_len) = match word.char_indices().nth(1) {
            Some((i, _)) if word.starts_with(['\u{2032}', '\u{2033}']) => (&word[..i], i),
            _ => (word, word_len),
        };
        match unit_seconds(word) {
            Some(unit) if unit < last_unit => {
                total += value * unit;
                last_unit = unit;
                parts += 1;
                at += skip + len + gap + word_len;
            }
            _ => break,
        }
    }
    (parts > 0).then_some((total, at))
}

/// Every duration written in `text`, in seconds: clock forms (`16:18`,
/// `0:16:18`), unit forms (`16 min 18 s`, `978 s`, `16m18s`, `16′18″`) and ISO
/// 8601 (`PT16M18S`).
pub fn durations_in(text: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for (at, c) in text.char_indices() {
        let prev = text[..at].chars().next_back();
        if c.is_ascii_digit() && !prev.is_some_and(|p| p.is_ascii_digit() || p == ':') {
            let s = &text[at..];
            if let Some((v, _)) = clock_at(s) {
                out.push(v);
            }
            if let Some((v, _)) = units_at(s) {
                out.push(v);
            }
        }
        if text[at..].starts_with("PT") {
            let iso: String = text[at + 2..]
                .chars()
                .take(24)
                .flat_map(|c| match c {
                    'H' | 'M' | 'S' => vec![c.to_ascii_lowercase(), ' '],
                    other => vec![other],
                })
                .collect();
            if let Some((v, _)) = units_at(&iso) {
                out.push(v);
            }
        }
    }
    out
}

/// Whether `text` shows the duration `secs` in any form of [`durations_in`], or
/// as the bare number of seconds.
pub fn has_duration(text: &str, secs: u64) -> bool {
    has_number(text, &secs.to_string()) || durations_in(text).contains(&secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_in_common_locales() {
        let cents = 123_450;
        for text in [
            "Total: 1,234.50",
            "Total: 1.234,50 €",
            "Total 1 234,50 EUR",
            "Total: €1,234.50",
            "EUR 1234.50",
            "1234,50",
            "CHF 1'234.50",
            "Summe 1\u{2019}234.50",
            "Total\t1 234,50",
        ] {
            let text = crate::flows::pdf::normalise(text);
            assert!(has_amount(&text, cents), "{text}");
        }
        assert!(has_amount("₹ 21,61,380.00", 216_138_000));
        assert!(has_amount("Total: 1.234,- EUR", 123_400));
    }

    #[test]
    fn money_wrong_or_partial_is_not_the_amount() {
        let cents = 123_450;
        for text in [
            "Total: 1,234.51",
            "Total: 11,234.50",
            "Total: 1,234.5",
            "1,234.500",
            "Total: 234.50",
            "Total: 2.1.234,50",
        ] {
            assert!(!has_amount(text, cents), "{text}");
        }
        assert!(!has_amount("1.234,00", 123_450));
        assert!(!has_amount("Total 1,234.50", 123_400));
        assert!(!has_amount("Total 1 234 567", 123_400));
        assert_eq!(money_renderings(5)[0], "0.05");
        assert!(
            money_renderings(-123_450)
                .iter()
                .all(|r| r.starts_with('-'))
        );
    }

    #[test]
    fn durations_in_any_common_form() {
        for text in [
            "Total duration: 16:18",
            "Total: 978 s",
            "Total: 978 seconds",
            "Total 16 min 18 s",
            "Total 16 min, 18 s",
            "Total 16 min and 18 sec",
            "Total 16m18s",
            "Gesamtdauer 16 Min. 18 Sek.",
            "Total 16′18″",
            "Total 0:16:18",
            "Duration PT16M18S",
            "Total 978",
        ] {
            assert!(has_duration(text, 978), "{text}");
        }
        assert!(has_duration("1 h 2 min 5 s", 3725));
        assert!(has_duration("1:02:05", 3725));
    }

    #[test]
    fn wrong_durations_are_not_found() {
        for text in [
            "Total duration: 16:19",
            "Total 9780 s",
            "Total 16 min 19 s",
            "Total 116:18",
            "Total 16:180",
            "Total 18 s 16 min",
        ] {
            assert!(!has_duration(text, 978), "{text}");
        }
        assert!(has_number("Total: 1399 s", "1399"));
        assert!(!has_number("Total: 13990 s", "1399"));
        assert_eq!(hms(1399), "23:19");
        assert_eq!(hms(3725), "1:02:05");
    }
}
