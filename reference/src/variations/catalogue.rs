//! The catalogue of conformance variations and the runtime switch that holds them.
//!
//! A *variation* is the mirror of a [`crate::Fault`]: a behaviour that differs
//! from the reference's defaults and still keeps the contract
//! (`fixtures/contract/stageos.openapi.yaml` and the RFCs it names). The suite
//! must stay green under every one of them; `tests/variations.rs` proves it.
//! Each variant says, in [`Variation::allowed_by`], which contract line or RFC
//! section allows it, so a variation nobody can justify cannot enter.
//!
//! Names and the catalogue are derived from the enum (strum `EnumIter`,
//! kebab-case), like the faults.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use strum::IntoEnumIterator;

/// One contract-conforming difference from the reference's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::EnumIter, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum Variation {
    // ----- representation
    /// JSON object members in reverse order (RFC 8259 §4: an object is unordered).
    JsonReversedKeys,
    /// JSON pretty-printed with indentation and newlines (RFC 8259 §2: insignificant whitespace).
    JsonPretty,
    /// Extra members the client does not know in every open response object
    /// (the contract's response schemas, unlike request schemas, allow additional properties).
    JsonUnknownFields,
    /// Every non-ASCII character escaped as `\uXXXX` (RFC 8259 §7).
    JsonUnicodeEscapes,
    /// `/` escaped as `\/` in JSON strings (RFC 8259 §7).
    JsonEscapedSolidus,
    /// Media types in other case: `Application/JSON; Charset=UTF-8` (RFC 9110 §8.3.1).
    MediaTypeCase,
    /// Media types with a quoted and an extra parameter: `application/json; charset="utf-8"; q-vendor=1`
    /// (RFC 9110 §8.3.1, §5.6.6: parameter values may be quoted; unknown parameters are allowed).
    MediaTypeParameters,
    /// Unknown response headers (`X-Vendor-Trace`, `Via`, `Server`) (RFC 9110 §5.1: a recipient ignores them).
    ExtraHeaders,
    /// Reason phrases other than the standard ones (RFC 9112 §4: a client should ignore the reason phrase).
    ReasonPhrases,
    /// Header names title-cased on the wire (`Content-Type`) (RFC 9110 §5.1: field names are case-insensitive).
    HeaderNameCase,
    /// RFC 3339 times with a `+02:00` offset instead of `Z` (RFC 3339 §5.6, contract `format: date-time`).
    TimesWithOffset,
    /// RFC 3339 times with fractional seconds (RFC 3339 §5.6 `time-secfrac`).
    TimesFractional,
    /// The `Date` header in the obsolete RFC 850 form (RFC 9110 §5.6.7: recipients must accept it).
    DateRfc850,
    /// The `Date` header in the asctime form (RFC 9110 §5.6.7: recipients must accept it).
    DateAsctime,
    /// E-mail addresses returned with the domain in upper case (RFC 5321 §2.4: the domain is case-insensitive).
    EmailDomainCase,
    // ----- transport
    /// Bodies gzip-compressed when `Accept-Encoding` names gzip (RFC 9110 §8.4.1.3, §12.5.3).
    Gzip,
    /// Bodies deflate-compressed (zlib) when `Accept-Encoding` names deflate (RFC 9110 §8.4.1.2).
    Deflate,
    /// Bodies sent with chunked transfer coding, without `Content-Length` (RFC 9112 §7.1).
    Chunked,
    /// `Connection: close` on every response: one request per connection (RFC 9112 §9.6).
    ConnectionClose,
    /// A load balancer's stickiness cookies beside the contract's (`AWSALB`, `AWSALBCORS`)
    /// (RFC 6265 §4.1: a server may set any cookie; the contract names only `stageos_refresh`).
    LoadBalancerCookies,
    /// The refresh cookie's attributes in other case and order, with an `Expires` beside
    /// `Max-Age` (RFC 6265 §5.2: attribute names are case-insensitive; Max-Age wins).
    CookieAttributeCase,
    // ----- data already present
    /// Events created by other users of the organisation (not smoke-tagged).
    /// Contract `GET /api/events`: lists every event of the organisation.
    OthersEvents,
    /// Invoices of other users (contract `GET /api/invoices`: every invoice, ordered by number).
    OthersInvoices,
    /// Webhook endpoints registered by people (contract `GET /api/webhooks/endpoints`).
    OthersWebhookEndpoints,
    /// Audit entries of other people's actions (contract `GET /api/audit-logs`: newest first, filters).
    OthersAuditEntries,
    /// More users in the organisation (contract `GET /api/users`: ordered by `created_at`).
    OthersUsers,
    /// Setlists of other events (contract: setlists belong to events; lists hold them all).
    OthersSetlists,
    /// Another smoke run's fresh data, tagged `smoke` with its own run id
    /// (contract `SmokeTagging`: a run owns only what carries its `smoke_run_id`).
    ConcurrentSmokeRun,
    /// A plugin already installed by a person (contract `GET /api/plugins`).
    PluginPreinstalled,
    // ----- asynchronous timing
    /// PDF render jobs wait 2 s before they start (contract: `202` and a job to poll).
    SlowPdfJobs,
    /// Malware scans take 2 s (contract: `scan_status: pending` until scanned).
    SlowScans,
    /// Webhook deliveries start 1.5 s after the event (contract: deliveries are asynchronous).
    SlowDeliveries,
    /// Audit entries become visible 1.5 s after the action (contract `GET /api/audit-logs`
    /// promises no read-your-writes; the suite polls within its deadline).
    LaggingAudit,
    // ----- documents
    /// CSV exports begin with a UTF-8 byte-order mark (RFC 4180 §3 allows a charset;
    /// RFC 3629 §6: a BOM may start UTF-8 text).
    CsvBom,
    /// Every CSV field quoted (RFC 4180 §2.5: each field may be enclosed in double quotes).
    CsvQuoteAll,
    /// The last CSV record without a line break (RFC 4180 §2.2: it may or may not have one).
    CsvNoFinalLineBreak,
    /// `Content-Disposition: attachment; filename=tech-rider.txt`, a token (RFC 6266 §4.1).
    DispositionToken,
    /// `Content-Disposition` with `filename*=UTF-8''…` beside `filename` (RFC 6266 §4.3, RFC 8187).
    DispositionExtended,
    // ----- Prometheus text format
    /// Labels in reverse order (Prometheus text format 0.0.4: label order is not significant).
    PromLabelOrder,
    /// Sample timestamps after the values (Prometheus text format 0.0.4: optional timestamp).
    PromTimestamps,
    /// Extra metric families (`process_*`, `go_*`) with HELP and TYPE (text format: any family).
    PromExtraFamilies,
    /// An extra series whose label value and HELP text use escapes (`\\`, `\"`, `\n`).
    PromEscapes,
    // ----- URLs
    /// Signed download URLs with their query parameters in another order
    /// (RFC 3986 §3.4; contract `DownloadUrl`: the parameters are named, not placed).
    SignedUrlQueryOrder,
    /// `otpauth://` URIs with parameters in another order, the secret in lower case and the
    /// label's colon percent-encoded (Key URI format; RFC 4648 §6 base32; RFC 3986 §2.1).
    OtpauthUriForm,
    // ----- clocks
    /// The target's clock 1.5 s ahead (RFC 9110 §6.6.1: the origin's clock; contract: signed-URL
    /// expiry and `Date` are the target's).
    ClockAhead,
    /// The target's clock 1.5 s behind (as [`Variation::ClockAhead`]).
    ClockBehind,
    // ----- PDF renderings (reference/src/pdf.rs)
    /// Invoice and setlist PDFs set as justified text: word gaps are `TJ` pen moves, no space glyphs (as PDFKit and TeX write them).
    PdfJustified,
    /// Every word of the invoice and setlist PDFs its own `Tj`, placed with `Td` (as Chromium places runs).
    PdfWords,
    /// Invoice PDF money as `€2,161.38`.
    MoneySymbolFirst,
    /// Invoice PDF money as `2.161,38 €` (de-DE).
    MoneyGerman,
    /// Invoice PDF money as `2 161,38 EUR`, a no-break space between groups (fr-FR).
    MoneyFrench,
    /// Invoice PDF money as `EUR 2'161.38` (de-CH).
    MoneySwiss,
    /// Invoice PDF money as `EUR 2161.38`.
    MoneyCodeFirst,
    /// Setlist PDF durations as `978 s`.
    DurationSeconds,
    /// Setlist PDF durations as `16 min 18 s`.
    DurationUnits,
    /// Setlist PDF durations as ISO 8601 `PT16M18S`.
    DurationIso8601,
}

impl Variation {
    /// Every variation, in declaration order.
    pub fn catalogue() -> Vec<Variation> {
        Variation::iter().collect()
    }

    /// The kebab-case name.
    pub fn name(&self) -> &'static str {
        self.into()
    }

    /// The contract line or RFC section that allows the variation.
    pub fn allowed_by(&self) -> &'static str {
        use Variation::*;
        match self {
            JsonReversedKeys => "RFC 8259 §4: an object is an unordered collection of members",
            JsonPretty => {
                "RFC 8259 §2: insignificant whitespace is allowed around structural characters"
            }
            JsonUnknownFields => {
                "contract: response schemas are open (only request schemas, Venue and SetlistItem say additionalProperties: false)"
            }
            JsonUnicodeEscapes => "RFC 8259 §7: any character may be escaped as \\uXXXX",
            JsonEscapedSolidus => "RFC 8259 §7: the solidus may be escaped as \\/",
            MediaTypeCase => {
                "RFC 9110 §8.3.1: type, subtype and parameter names are case-insensitive; charset values too"
            }
            MediaTypeParameters => {
                "RFC 9110 §8.3.1 and §5.6.6: parameter values may be quoted strings; unknown parameters are allowed"
            }
            ExtraHeaders => {
                "RFC 9110 §5.1: a recipient ignores header fields it does not recognise"
            }
            ReasonPhrases => "RFC 9112 §4: a client should ignore the reason-phrase content",
            HeaderNameCase => "RFC 9110 §5.1: field names are case-insensitive",
            TimesWithOffset => "RFC 3339 §5.6 time-offset, the contract's format: date-time",
            TimesFractional => "RFC 3339 §5.6 time-secfrac, the contract's format: date-time",
            DateRfc850 => "RFC 9110 §5.6.7: a recipient must accept the obsolete rfc850-date form",
            DateAsctime => "RFC 9110 §5.6.7: a recipient must accept the asctime-date form",
            EmailDomainCase => "RFC 5321 §2.4: the domain part of a mailbox is case-insensitive",
            Gzip => "RFC 9110 §8.4.1.3 and §12.5.3: gzip content coding when the client accepts it",
            Deflate => {
                "RFC 9110 §8.4.1.2 and §12.5.3: deflate (zlib) content coding when the client accepts it"
            }
            Chunked => "RFC 9112 §7.1: chunked transfer coding instead of Content-Length",
            ConnectionClose => {
                "RFC 9112 §9.6: a server may close the connection after each response"
            }
            LoadBalancerCookies => {
                "RFC 6265 §4.1: a server may set further cookies; the contract names only stageos_refresh"
            }
            CookieAttributeCase => {
                "RFC 6265 §5.2: cookie attribute names are case-insensitive, unknown ones ignored, Max-Age wins over Expires"
            }
            OthersEvents => {
                "contract GET /api/events: every event of the organisation is listed, not only the caller's"
            }
            OthersInvoices => "contract GET /api/invoices: every invoice, ordered by number",
            OthersWebhookEndpoints => {
                "contract GET /api/webhooks/endpoints: every endpoint of the organisation"
            }
            OthersAuditEntries => {
                "contract GET /api/audit-logs: the organisation's entries, newest first"
            }
            OthersUsers => {
                "contract GET /api/users: every user of the organisation, ordered by created_at"
            }
            OthersSetlists => "contract: setlists belong to events; other events have their own",
            ConcurrentSmokeRun => {
                "contract SmokeTagging: a run owns only what carries its own smoke_run_id"
            }
            PluginPreinstalled => {
                "contract GET /api/plugins: the organisation's installed plugins, whoever installed them"
            }
            SlowPdfJobs => {
                "contract POST /api/invoices/{id}/pdf: 202 and a job that is queued until a worker takes it"
            }
            SlowScans => "contract File.scan_status: pending until the scan finishes",
            SlowDeliveries => {
                "contract: webhook deliveries are asynchronous (pending until attempted)"
            }
            LaggingAudit => {
                "contract GET /api/audit-logs: an append-only log that promises no read-your-writes timing"
            }
            CsvBom => {
                "RFC 4180 §3 (charset parameter) and RFC 3629 §6: UTF-8 text may begin with a BOM"
            }
            CsvQuoteAll => "RFC 4180 §2.5: each field may be enclosed in double quotes",
            CsvNoFinalLineBreak => {
                "RFC 4180 §2.2: the last record may or may not have an ending line break"
            }
            DispositionToken => {
                "RFC 6266 §4.1: the filename parameter value is a token or a quoted-string"
            }
            DispositionExtended => {
                "RFC 6266 §4.3 and RFC 8187: filename* beside filename, preferred by recipients"
            }
            PromLabelOrder => {
                "Prometheus text format 0.0.4: the order of labels is not significant"
            }
            PromTimestamps => {
                "Prometheus text format 0.0.4: a sample may carry an optional timestamp"
            }
            PromExtraFamilies => {
                "Prometheus text format 0.0.4 and the contract's /metrics: the listed families at least"
            }
            PromEscapes => {
                "Prometheus text format 0.0.4: label values escape \\\\, \\\" and \\n; HELP escapes \\\\ and \\n"
            }
            SignedUrlQueryOrder => {
                "RFC 3986 §3.4 and the contract's DownloadUrl: expires and sig are named parameters"
            }
            OtpauthUriForm => {
                "Key URI format (parameters by name), RFC 4648 §6 (base32 case), RFC 3986 §2.1 (percent-encoding)"
            }
            ClockAhead => {
                "RFC 9110 §6.6.1: the Date header is the origin's clock; the contract judges expiry by the target's"
            }
            ClockBehind => {
                "RFC 9110 §6.6.1: the Date header is the origin's clock; the contract judges expiry by the target's"
            }
            PdfJustified => {
                "contract Decisions (PDF text): the PDFs are judged by the text a reader sees, whatever operators place it"
            }
            PdfWords => {
                "contract Decisions (PDF text): the PDFs are judged by the text a reader sees, whatever operators place it"
            }
            MoneySymbolFirst => {
                "contract Decisions (money): the invoice PDF's total may be written in any common locale's form"
            }
            MoneyGerman => {
                "contract Decisions (money): the invoice PDF's total may be written in any common locale's form"
            }
            MoneyFrench => {
                "contract Decisions (money): the invoice PDF's total may be written in any common locale's form"
            }
            MoneySwiss => {
                "contract Decisions (money): the invoice PDF's total may be written in any common locale's form"
            }
            MoneyCodeFirst => {
                "contract Decisions (money): the invoice PDF's total may be written in any common locale's form"
            }
            DurationSeconds => {
                "contract Decisions (durations): the setlist PDF's durations may be written as m:ss, seconds, units or ISO 8601"
            }
            DurationUnits => {
                "contract Decisions (durations): the setlist PDF's durations may be written as m:ss, seconds, units or ISO 8601"
            }
            DurationIso8601 => {
                "contract Decisions (durations): the setlist PDF's durations may be written as m:ss, seconds, units or ISO 8601"
            }
        }
    }

    /// What the variation changes, in one sentence.
    pub fn describe(&self) -> &'static str {
        use Variation::*;
        match self {
            JsonReversedKeys => "JSON object members in reverse order",
            JsonPretty => "JSON pretty-printed",
            JsonUnknownFields => "unknown extra members in response objects",
            JsonUnicodeEscapes => "non-ASCII characters escaped as \\uXXXX in JSON",
            JsonEscapedSolidus => "/ escaped as \\/ in JSON strings",
            MediaTypeCase => "media types in other case (Application/JSON; Charset=UTF-8)",
            MediaTypeParameters => "quoted and extra media-type parameters",
            ExtraHeaders => "unknown response headers",
            ReasonPhrases => "non-standard reason phrases",
            HeaderNameCase => "title-case header names on the wire",
            TimesWithOffset => "times with a +02:00 offset",
            TimesFractional => "times with fractional seconds",
            DateRfc850 => "Date header in RFC 850 form",
            DateAsctime => "Date header in asctime form",
            EmailDomainCase => "e-mail domains in upper case",
            Gzip => "gzip bodies when asked",
            Deflate => "deflate bodies when asked",
            Chunked => "chunked bodies without Content-Length",
            ConnectionClose => "Connection: close on every response",
            LoadBalancerCookies => "load-balancer stickiness cookies",
            CookieAttributeCase => {
                "refresh-cookie attributes in other case and order, with Expires"
            }
            OthersEvents => "other users' events already present",
            OthersInvoices => "other users' invoices already present",
            OthersWebhookEndpoints => "people's webhook endpoints already registered",
            OthersAuditEntries => "other people's audit entries already present",
            OthersUsers => "more users in the organisation",
            OthersSetlists => "setlists of other events already present",
            ConcurrentSmokeRun => "another smoke run's fresh data present",
            PluginPreinstalled => "a plugin already installed by a person",
            SlowPdfJobs => "PDF jobs wait 2 s before they start",
            SlowScans => "malware scans take 2 s",
            SlowDeliveries => "webhook deliveries start 1.5 s late",
            LaggingAudit => "audit entries visible 1.5 s after the action",
            CsvBom => "CSV exports start with a UTF-8 BOM",
            CsvQuoteAll => "every CSV field quoted",
            CsvNoFinalLineBreak => "no line break after the last CSV record",
            DispositionToken => "Content-Disposition filename as a token",
            DispositionExtended => "Content-Disposition with filename*",
            PromLabelOrder => "Prometheus labels in reverse order",
            PromTimestamps => "Prometheus samples with timestamps",
            PromExtraFamilies => "extra Prometheus metric families",
            PromEscapes => "Prometheus label values and HELP with escapes",
            SignedUrlQueryOrder => "signed-URL query parameters in another order",
            OtpauthUriForm => "otpauth URI in another order, case and encoding",
            ClockAhead => "the target's clock 1.5 s ahead",
            ClockBehind => "the target's clock 1.5 s behind",
            PdfJustified => "PDF word gaps as TJ offsets (justified text)",
            PdfWords => "PDF words placed one by one",
            MoneySymbolFirst => "invoice PDF money as €2,161.38",
            MoneyGerman => "invoice PDF money as 2.161,38 €",
            MoneyFrench => "invoice PDF money as 2 161,38 EUR",
            MoneySwiss => "invoice PDF money as EUR 2'161.38",
            MoneyCodeFirst => "invoice PDF money as EUR 2161.38",
            DurationSeconds => "setlist PDF durations in seconds",
            DurationUnits => "setlist PDF durations in units",
            DurationIso8601 => "setlist PDF durations in ISO 8601",
        }
    }

    /// The clock offset this variation applies, in ms.
    pub fn clock_offset_ms(&self) -> i64 {
        match self {
            Variation::ClockAhead => 1500,
            Variation::ClockBehind => -1500,
            _ => 0,
        }
    }
}

impl fmt::Display for Variation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A variation name that is not in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown variation `{given}`; valid variations: {valid}")]
pub struct ParseVariationError {
    given: String,
    valid: String,
}

impl FromStr for Variation {
    type Err = ParseVariationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Variation::iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| ParseVariationError {
                given: s.to_owned(),
                valid: Variation::iter()
                    .map(|v| v.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// The active variations, shared between the server and whoever holds its handle,
/// and how often each took effect (a variation that never changes an answer proves
/// nothing, so `tests/variations.rs` requires a hit).
#[derive(Clone, Debug, Default)]
pub struct VariationSet {
    inner: Arc<RwLock<Vec<Variation>>>,
    hits: Arc<std::sync::Mutex<std::collections::HashMap<Variation, u64>>>,
}

impl VariationSet {
    /// A set holding `variations`.
    pub fn new(variations: Vec<Variation>) -> Self {
        Self {
            inner: Arc::new(RwLock::new(variations)),
            hits: Arc::default(),
        }
    }

    /// Records that `variation` changed an answer (or the data, or the timing).
    pub fn hit(&self, variation: Variation) {
        *self
            .hits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(variation)
            .or_insert(0) += 1;
    }

    /// How often `variation` took effect since the server started.
    pub fn hits(&self, variation: Variation) -> u64 {
        self.hits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&variation)
            .copied()
            .unwrap_or(0)
    }

    /// Replaces the active variations.
    pub fn set(&self, variations: Vec<Variation>) {
        *self.inner.write().unwrap_or_else(|e| e.into_inner()) = variations;
    }

    /// The active variations.
    pub fn get(&self) -> Vec<Variation> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether `variation` is active.
    pub fn has(&self, variation: Variation) -> bool {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&variation)
    }

    /// Whether none is active.
    pub fn is_empty(&self) -> bool {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// The clock offset of the active clock variations, in ms.
    pub fn clock_offset_ms(&self) -> i64 {
        self.get().iter().map(Variation::clock_offset_ms).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_every_variation_cites_what_allows_it() {
        for v in Variation::catalogue() {
            assert_eq!(v.name().parse::<Variation>(), Ok(v));
            assert!(!v.describe().is_empty(), "{v}");
            let why = v.allowed_by();
            assert!(
                why.contains("RFC") || why.contains("contract") || why.contains("format"),
                "{v}: {why}"
            );
        }
        assert!(Variation::catalogue().len() >= 30);
    }

    #[test]
    fn unknown_name_lists_valid_ones() {
        let err = "nope".parse::<Variation>().err().map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("json-pretty"));
    }
}
