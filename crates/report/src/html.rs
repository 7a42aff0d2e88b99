//! `reports/index.html`: the report a person opens after a deploy. One
//! self-contained file — inline CSS and inline SVG, no script, no network — so it
//! can be attached to a CI run, mailed, or opened from an artifact zip.
//!
//! Order of the page: the verdict and the failures (expected/actual) first; then a
//! waterfall of the run (flows on rows, time across, each step a bar from its start
//! for its duration, each request a thin tick under it, the critical path outlined);
//! then every flow with every step (passed / flaky / failed / error / skipped, the
//! skip reason, and — when a baseline is given — the step's duration against the
//! baseline p95); then the cleanup guards.
//!
//! Every text goes through the run's redactor and then [`escape`]: redaction first,
//! because escaping would change a secret containing `&`, `<` or a quote so that
//! the redactor no longer recognises it. The caller redacts the whole page again.

use std::collections::BTreeMap;
use std::fmt::Write;

use stageos_smoke_http::secrets::Redactor;
use stageos_smoke_model::outcome::{RunReport, StepOutcome, StepResult};

use crate::critical_path::{critical_path, wall_over_critical};

/// Escape text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than tab/newline are invalid in HTML text.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Status word of a step as the page shows it (`flaky` = passed after a retry).
fn step_status(s: &StepResult) -> &'static str {
    if s.is_flaky() {
        "flaky"
    } else {
        s.outcome.label()
    }
}

/// Format milliseconds for people: `850 ms`, `1.42 s`.
fn fmt_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.0} ms")
    }
}

/// A "nice" axis step (1, 2 or 5 × 10ⁿ) giving at most about `max_ticks` ticks.
fn nice_step(span: f64, max_ticks: f64) -> f64 {
    let raw = (span / max_ticks).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

struct Page<'a> {
    report: &'a RunReport,
    redactor: &'a Redactor,
    baseline: Option<&'a BTreeMap<String, f64>>,
    critical: Vec<String>,
    critical_ms: f64,
    out: String,
}

impl<'a> Page<'a> {
    /// Redact, then escape.
    fn t(&self, s: &str) -> String {
        escape(&self.redactor.redact(s))
    }

    fn flows(&self) -> Vec<&'a str> {
        let mut flows: Vec<&'a str> = Vec::new();
        for s in &self.report.steps {
            if !flows.contains(&s.flow.as_str()) {
                flows.push(&s.flow);
            }
        }
        flows
    }

    fn head(&mut self) {
        let status = self.report.exit_status();
        let c = self.report.counts();
        let title = format!(
            "StageOS smoke {} — {} failed, {} errors, {} passed — {}",
            verdict_word(status.as_str()),
            c.failed,
            c.errors,
            c.passed,
            self.report.target
        );
        let title = self.t(&title);
        let _ = write!(
            self.out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"generator\" content=\"stageos-smoke {}\">\n<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
            env!("CARGO_PKG_VERSION")
        );
    }

    fn verdict(&mut self) {
        let status = self.report.exit_status();
        let c = self.report.counts();
        let flaky = self.report.steps.iter().filter(|s| s.is_flaky()).count();
        let r = self.report;
        let meta = format!(
            "target {} · profile {} · run {} · started {} · wall {}",
            r.target,
            r.profile,
            r.run_id,
            r.started_at,
            fmt_ms(r.wall_ms)
        );
        let meta = self.t(&meta);
        let _ = write!(
            self.out,
            "<header id=\"verdict\" class=\"verdict v-{cls}\" data-verdict=\"{cls}\">\n<h1>{word}</h1>\n\
             <p class=\"counts\"><b>{}</b> steps: <span class=\"n-passed\">{} passed</span>{}, \
             <span class=\"n-failed\">{} failed</span>, <span class=\"n-error\">{} errors</span>, \
             <span class=\"n-skipped\">{} skipped</span> · exit code {}</p>\n<p class=\"meta\">{meta}</p>\n",
            c.total,
            c.passed,
            if flaky > 0 {
                format!(" ({flaky} flaky)")
            } else {
                String::new()
            },
            c.failed,
            c.errors,
            c.skipped,
            status.code(),
            cls = status.as_str(),
            word = verdict_word(status.as_str()),
        );
        if let Some(e) = &r.run_error {
            let e = self.t(e);
            let _ = writeln!(
                self.out,
                "<p class=\"run-error\"><b>Could not check:</b> {e}</p>"
            );
        }
        self.out.push_str("</header>\n");

        let bad: Vec<&StepResult> = r
            .steps
            .iter()
            .filter(|s| {
                matches!(
                    s.outcome,
                    StepOutcome::Failed { .. } | StepOutcome::Error { .. }
                )
            })
            .collect();
        if bad.is_empty() {
            return;
        }
        self.out
            .push_str("<section id=\"failures\">\n<h2>Failures</h2>\n<ol class=\"failures\">\n");
        for s in bad {
            let name = self.t(&s.full_name());
            let desc = self.t(&s.description);
            let _ = write!(
                self.out,
                "<li class=\"failure s-{st}\" data-step=\"{name}\" data-status=\"{st}\">\
                 <a href=\"#step-{anchor}\"><code>{name}</code></a> <span class=\"badge s-{st}\">{st}</span>\
                 <div class=\"desc\">{desc}</div>",
                st = step_status(s),
                anchor = anchor(&s.full_name()),
            );
            self.outcome_detail(s);
            self.out.push_str("</li>\n");
        }
        self.out.push_str("</ol>\n</section>\n");
    }

    /// Message, expected/actual, skip reason or retry notes of a step.
    fn outcome_detail(&mut self, s: &StepResult) {
        match &s.outcome {
            StepOutcome::Failed {
                message,
                expected,
                actual,
            } => {
                let (m, e, a) = (self.t(message), self.t(expected), self.t(actual));
                let _ = write!(
                    self.out,
                    "<div class=\"msg\">{m}</div><dl class=\"ea\"><dt>expected</dt><dd><code>{e}</code></dd>\
                     <dt>actual</dt><dd><code>{a}</code></dd></dl>"
                );
            }
            StepOutcome::Error { message } => {
                let m = self.t(message);
                let _ = write!(self.out, "<div class=\"msg\">could not check: {m}</div>");
            }
            StepOutcome::Skipped { reason } => {
                let m = self.t(reason);
                let _ = write!(self.out, "<div class=\"msg reason\">{m}</div>");
            }
            StepOutcome::Passed => {
                if !s.retries.is_empty() {
                    self.out.push_str("<ul class=\"retries\">");
                    for note in &s.retries {
                        let n = self.t(note);
                        let _ = write!(self.out, "<li>retried: {n}</li>");
                    }
                    self.out.push_str("</ul>");
                }
            }
        }
        if !s.notes.is_empty() {
            self.out.push_str("<ul class=\"notes\">");
            for note in &s.notes {
                let n = self.t(note);
                let _ = write!(self.out, "<li>{n}</li>");
            }
            self.out.push_str("</ul>");
        }
    }

    fn waterfall(&mut self) {
        const W: f64 = 1200.0;
        const LABEL: f64 = 170.0;
        const RIGHT: f64 = 16.0;
        const ROW: f64 = 26.0;
        const TOP: f64 = 24.0;
        let flows = self.flows();
        let r = self.report;
        let end = r
            .steps
            .iter()
            .flat_map(|s| {
                std::iter::once(s.start_ms + s.duration_ms)
                    .chain(s.requests.iter().map(|q| q.start_ms + q.duration_ms))
            })
            .filter(|v| v.is_finite())
            .fold(r.wall_ms.max(0.0), f64::max)
            .max(1.0);
        let plot = W - LABEL - RIGHT;
        let x = |ms: f64| LABEL + (ms.max(0.0) / end) * plot;
        let h = TOP + ROW * flows.len() as f64 + 8.0;

        let ratio = wall_over_critical(r.wall_ms, self.critical_ms)
            .map(|v| format!("{v:.2}"))
            .unwrap_or_else(|| "–".into());
        let _ = write!(
            self.out,
            "<section id=\"waterfall\">\n<h2>Waterfall</h2>\n<p class=\"cp\">Critical path <b>{}</b> \
             ({} steps, flow <code>{}</code>) · wall {} · wall ÷ critical path <b>{ratio}</b></p>\n",
            fmt_ms(self.critical_ms),
            self.critical.len(),
            self.critical
                .first()
                .and_then(|n| n.split("::").next())
                .map(|f| self.t(f))
                .unwrap_or_default(),
            fmt_ms(r.wall_ms),
        );
        let _ = writeln!(
            self.out,
            "<svg class=\"wf\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {h}\" width=\"100%\" \
             role=\"img\" aria-label=\"waterfall of the run\">"
        );
        // Time axis: grid lines and labels.
        let step = nice_step(end, 10.0);
        let mut t = 0.0;
        while t <= end + 1e-9 {
            let gx = x(t);
            let _ = writeln!(
                self.out,
                "<line class=\"grid\" x1=\"{gx:.1}\" y1=\"{:.1}\" x2=\"{gx:.1}\" y2=\"{:.1}\"/>\
                 <text class=\"axis\" x=\"{gx:.1}\" y=\"14\" text-anchor=\"middle\">{}</text>",
                TOP - 4.0,
                h - 4.0,
                fmt_ms(t)
            );
            t += step;
        }
        for (i, flow) in flows.iter().enumerate() {
            let y = TOP + ROW * i as f64;
            let on_path = self
                .critical
                .first()
                .is_some_and(|n| n.split("::").next() == Some(flow));
            let label = self.t(flow);
            let _ = writeln!(
                self.out,
                "<g class=\"row{}\" data-flow=\"{label}\"><rect class=\"band\" x=\"0\" y=\"{y:.1}\" width=\"{W}\" height=\"{ROW}\"/>\
                 <text class=\"flow\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
                if on_path { " crit-row" } else { "" },
                LABEL - 8.0,
                y + ROW / 2.0 + 4.0,
            );
            for s in r.steps.iter().filter(|s| s.flow == *flow) {
                let name = s.full_name();
                let crit = self.critical.contains(&name);
                let bx = x(s.start_ms);
                let bw = (s.duration_ms.max(0.0) / end * plot).max(1.5);
                let tip = self.t(&format!(
                    "{name} — {} — {} at {}",
                    step_status(s),
                    fmt_ms(s.duration_ms),
                    fmt_ms(s.start_ms)
                ));
                let _ = writeln!(
                    self.out,
                    "<rect class=\"bar s-{}{}\" x=\"{bx:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" rx=\"2\"><title>{tip}</title></rect>",
                    step_status(s),
                    if crit { " crit" } else { "" },
                    y + 4.0,
                    ROW - 13.0,
                );
                if matches!(
                    s.outcome,
                    StepOutcome::Failed { .. } | StepOutcome::Error { .. }
                ) {
                    // A marker above the bar, so a 2 ms failure is not lost on a 5 s axis.
                    let mx = bx + bw / 2.0;
                    let _ = writeln!(
                        self.out,
                        "<path class=\"mark s-{}\" d=\"M{:.1} {:.1}h9l-4.5 6z\"><title>{tip}</title></path>",
                        step_status(s),
                        mx - 4.5,
                        y - 1.0,
                    );
                }
                for q in &s.requests {
                    let qx = x(q.start_ms);
                    let qw = (q.duration_ms.max(0.0) / end * plot).max(1.0);
                    let code = q
                        .status
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "no response".into());
                    let tip = self.t(&format!(
                        "{} {} → {code}, {} at {}",
                        q.method,
                        q.path,
                        fmt_ms(q.duration_ms),
                        fmt_ms(q.start_ms)
                    ));
                    let _ = write!(
                        self.out,
                        "<rect class=\"req\" x=\"{qx:.1}\" y=\"{:.1}\" width=\"{qw:.1}\" height=\"3\"><title>{tip}</title></rect>",
                        y + ROW - 7.0,
                    );
                }
            }
            self.out.push_str("</g>\n");
        }
        self.out.push_str("</svg>\n");
        self.out.push_str(
            "<p class=\"legend\"><span class=\"sw s-passed\"></span>passed <span class=\"sw s-flaky\"></span>flaky \
             <span class=\"sw s-failed\"></span>failed <span class=\"sw s-error\"></span>error \
             <span class=\"sw crit\"></span>critical path <span class=\"sw req\"></span>request</p>\n</section>\n",
        );
    }

    fn steps(&mut self) {
        let base = self.baseline.filter(|b| {
            self.report
                .steps
                .iter()
                .any(|s| b.contains_key(&s.full_name()))
        });
        self.out
            .push_str("<section id=\"flows\">\n<h2>Flows and steps</h2>\n");
        for flow in self.flows() {
            let steps: Vec<&StepResult> = self
                .report
                .steps
                .iter()
                .filter(|s| s.flow == flow)
                .collect();
            let total: f64 = steps.iter().map(|s| s.duration_ms.max(0.0)).sum();
            let worst = if steps
                .iter()
                .any(|s| matches!(s.outcome, StepOutcome::Failed { .. }))
            {
                "failed"
            } else if steps
                .iter()
                .any(|s| matches!(s.outcome, StepOutcome::Error { .. }))
            {
                "error"
            } else if steps
                .iter()
                .all(|s| matches!(s.outcome, StepOutcome::Skipped { .. }))
            {
                "skipped"
            } else {
                "passed"
            };
            let label = self.t(flow);
            let _ = write!(
                self.out,
                "<div class=\"flow\" id=\"flow-{}\" data-flow=\"{label}\">\n<h3><span class=\"badge s-{worst}\">{worst}</span> \
                 <code>{label}</code> <span class=\"muted\">{} steps · {}</span></h3>\n<table>\n<thead><tr><th>status</th><th>step</th>\
                 <th class=\"num\">time</th>{}<th>detail</th></tr></thead>\n<tbody>\n",
                anchor(flow),
                steps.len(),
                fmt_ms(total),
                if base.is_some() {
                    "<th class=\"num\">baseline p95</th><th class=\"num\">vs baseline</th>"
                } else {
                    ""
                },
            );
            for s in steps {
                let name = self.t(&s.full_name());
                let st = step_status(s);
                let _ = write!(
                    self.out,
                    "<tr id=\"step-{}\" class=\"step s-{st}\" data-step=\"{name}\" data-status=\"{st}\">\
                     <td><span class=\"badge s-{st}\">{st}</span></td><td><code>{}</code></td><td class=\"num\">{}</td>",
                    anchor(&s.full_name()),
                    self.t(&s.step),
                    fmt_ms(s.duration_ms),
                );
                if let Some(b) = base {
                    match b.get(&s.full_name()) {
                        Some(p95) if *p95 > 0.0 && s.outcome != StepOutcome::Passed => {
                            let _ = write!(
                                self.out,
                                "<td class=\"num\">{}</td><td class=\"num muted\">–</td>",
                                fmt_ms(*p95)
                            );
                        }
                        Some(p95) if *p95 > 0.0 => {
                            let pct = (s.duration_ms / p95 - 1.0) * 100.0;
                            let cls = if s.duration_ms > *p95 {
                                "slower"
                            } else {
                                "faster"
                            };
                            let _ = write!(
                                self.out,
                                "<td class=\"num\">{}</td><td class=\"num {cls}\">{pct:+.0} %</td>",
                                fmt_ms(*p95)
                            );
                        }
                        _ => self.out.push_str(
                            "<td class=\"num muted\">–</td><td class=\"num muted\">–</td>",
                        ),
                    }
                }
                let desc = self.t(&s.description);
                let _ = write!(self.out, "<td><div class=\"desc\">{desc}</div>");
                self.outcome_detail(s);
                self.out.push_str("</td></tr>\n");
            }
            self.out.push_str("</tbody>\n</table>\n</div>\n");
        }
        self.out.push_str("</section>\n");
    }

    fn cleanups(&mut self) {
        if self.report.cleanups.is_empty() {
            return;
        }
        self.out
            .push_str("<section id=\"cleanups\">\n<h2>Cleanup guards</h2>\n<ul>\n");
        for c in &self.report.cleanups {
            let cls = if c.result == "deleted" { "ok" } else { "bad" };
            let line = self.t(&format!("{}: {} — {}", c.flow, c.what, c.result));
            let _ = writeln!(self.out, "<li class=\"{cls}\">{line}</li>");
        }
        self.out.push_str("</ul>\n</section>\n");
    }
}

fn verdict_word(status: &str) -> &'static str {
    match status {
        "passed" => "PASSED",
        "failed" => "FAILED",
        "error" => "COULD NOT CHECK",
        "interrupted" => "INTERRUPTED",
        _ => "UNKNOWN",
    }
}

/// A fragment id from a step or flow name: `auth::login` → `auth--login`.
fn anchor(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Render the page. `baseline` maps `flow::step` to the p95 of that step's duration
/// in earlier runs, in milliseconds; the baseline columns appear only when it has
/// an entry for at least one reported step.
pub fn render(
    report: &RunReport,
    baseline: Option<&BTreeMap<String, f64>>,
    redactor: &Redactor,
) -> String {
    let (critical, critical_ms) = critical_path(report);
    let mut page = Page {
        report,
        redactor,
        baseline,
        critical,
        critical_ms,
        out: String::with_capacity(64 * 1024),
    };
    page.head();
    page.verdict();
    page.waterfall();
    page.steps();
    page.cleanups();
    page.out
        .push_str(&crate::checklist::html(&crate::checklist::evaluate(report)));
    let _ = write!(
        page.out,
        "<footer>stageos-smoke {} · summary.json and junit.xml sit beside this file</footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    page.out
}

const CSS: &str = r#"
:root{--pass:#1a7f37;--fail:#cf222e;--err:#bf8700;--skip:#8c959f;--flaky:#8250df;--ink:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#fff;--band:#f6f8fa}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1280px;padding:16px 24px 48px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);background:var(--bg)}
code{font:12.5px/1.3 ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.verdict{border-radius:8px;padding:14px 20px;color:#fff}
.verdict h1{margin:0 0 4px;font-size:30px;letter-spacing:.04em}
.verdict p{margin:2px 0}
.verdict .meta{opacity:.9;font-size:13px}
.v-passed{background:var(--pass)}.v-failed{background:var(--fail)}.v-error{background:var(--err)}.v-interrupted{background:var(--skip)}
.run-error{background:rgba(0,0,0,.18);padding:6px 10px;border-radius:4px;margin-top:8px!important}
.badge{display:inline-block;min-width:52px;text-align:center;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;color:#fff;background:var(--skip)}
.badge.s-passed{background:var(--pass)}.badge.s-failed{background:var(--fail)}.badge.s-error{background:var(--err)}.badge.s-flaky{background:var(--flaky)}
ol.failures{padding-left:22px}
li.failure{margin:0 0 12px}
li.failure a{color:inherit;text-decoration:none}
.desc{color:var(--muted)}
.msg{margin-top:2px}
.reason{color:var(--muted);font-style:italic}
dl.ea{display:grid;grid-template-columns:max-content 1fr;gap:2px 10px;margin:4px 0 0}
dl.ea dt{color:var(--muted);font-weight:600}
dl.ea dd{margin:0;overflow-wrap:anywhere}
dl.ea dd code{background:#fff8c5;padding:0 3px;border-radius:3px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:4px 8px;border-bottom:1px solid var(--line)}
th{font-size:12px;color:var(--muted);font-weight:600}
.num{text-align:right;white-space:nowrap}
tr.s-failed{background:#ffebe9}tr.s-error{background:#fff8c5}tr.s-skipped td{color:var(--muted)}
.muted{color:var(--muted);font-weight:400}
.slower{color:var(--fail);font-weight:600}.faster{color:var(--pass)}
ul.retries{margin:2px 0;padding-left:18px;color:var(--flaky)}
svg.wf{display:block;border:1px solid var(--line);border-radius:6px;background:#fff}
svg.wf .band{fill:transparent}
svg.wf g.row:nth-of-type(even) .band{fill:var(--band)}
svg.wf .crit-row .band{fill:#fff1e5}
svg.wf .grid{stroke:#e6e9ed;stroke-width:1}
svg.wf .axis{font:11px system-ui,sans-serif;fill:var(--muted)}
svg.wf .flow{font:12px ui-monospace,Menlo,Consolas,monospace;fill:var(--ink)}
svg.wf .crit-row .flow{font-weight:700;fill:#bc4c00}
svg.wf .bar{fill:var(--skip);stroke:#fff;stroke-width:.6}
svg.wf .mark{fill:var(--fail);stroke:#fff;stroke-width:.8}svg.wf .mark.s-error{fill:var(--err)}
svg.wf .bar.s-passed{fill:var(--pass)}svg.wf .bar.s-failed{fill:var(--fail)}svg.wf .bar.s-error{fill:var(--err)}svg.wf .bar.s-flaky{fill:var(--flaky)}
svg.wf .bar.crit{stroke:#fb8f44;stroke-width:2.5}
svg.wf .req{fill:#0969da;opacity:.75}
.cp{margin:4px 0 8px}
.legend{font-size:12px;color:var(--muted)}
.sw{display:inline-block;width:14px;height:10px;border-radius:2px;margin:0 4px 0 12px;vertical-align:middle;background:var(--skip)}
.sw.s-passed{background:var(--pass)}.sw.s-failed{background:var(--fail)}.sw.s-error{background:var(--err)}.sw.s-flaky{background:var(--flaky)}
.sw.crit{background:#fff;border:2.5px solid #fb8f44}.sw.req{background:#0969da;height:3px}
#cleanups li.bad{color:var(--fail)}
footer{margin-top:32px;font-size:12px;color:var(--muted)}
@media print{.verdict{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use stageos_smoke_model::outcome::RequestRecord;

    #[test]
    fn escape_covers_markup_quotes_and_control_characters() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain — ünïcode"), "plain — ünïcode");
        assert_eq!(escape("a\u{0}b\tc\nd"), "a\u{FFFD}b\tc\nd");
        assert_eq!(
            escape("&amp;"),
            "&amp;amp;",
            "escaping is not idempotent: escape once"
        );
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(1000.0, 10.0), 100.0);
        assert_eq!(nice_step(1234.0, 10.0), 200.0);
        assert_eq!(nice_step(37.0, 10.0), 5.0);
        assert_eq!(nice_step(7.0, 10.0), 1.0);
    }

    fn step(flow: &str, name: &str, start: f64, ms: f64, outcome: StepOutcome) -> StepResult {
        StepResult {
            flow: flow.into(),
            step: name.into(),
            description: format!("checks {name}"),
            outcome,
            start_ms: start,
            duration_ms: ms,
            requests: vec![RequestRecord {
                method: "GET".into(),
                path: "/api/x".into(),
                status: Some(200),
                start_ms: start + 1.0,
                duration_ms: ms / 2.0,
            }],
            retries: vec![],
            notes: vec![],
        }
    }

    fn report() -> RunReport {
        RunReport {
            run_id: "smoke-1".into(),
            target: "embedded".into(),
            profile: "post-deploy".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            wall_ms: 120.0,
            steps: vec![
                step("auth", "login", 0.0, 40.0, StepOutcome::Passed),
                step(
                    "auth",
                    "me_reports_role",
                    40.0,
                    20.0,
                    StepOutcome::Failed {
                        message: "role: expected \"manager\", got <owner> & s3cr3t&<pw>".into(),
                        expected: "\"manager\"".into(),
                        actual: "<owner>".into(),
                    },
                ),
                step(
                    "auth",
                    "logout",
                    60.0,
                    0.0,
                    StepOutcome::Skipped {
                        reason: "not run: step `auth::me_reports_role` did not pass".into(),
                    },
                ),
                step(
                    "health",
                    "ok",
                    0.0,
                    5.0,
                    StepOutcome::Error {
                        message: "connection refused".into(),
                    },
                ),
            ],
            run_error: None,
            cleanups: vec![],
            interrupted: false,
        }
    }

    #[test]
    fn verdict_comes_first_and_every_text_is_escaped() {
        let html = render(&report(), None, &Redactor::new());
        let verdict = html.find("id=\"verdict\"").unwrap();
        assert!(verdict < html.find("id=\"waterfall\"").unwrap());
        assert!(verdict < html.find("id=\"flows\"").unwrap());
        assert!(html[verdict..].contains("FAILED"));
        assert!(html.contains("got &lt;owner&gt; &amp;"), "message escaped");
        assert!(!html.contains("<owner>"));
        assert!(html.contains("data-step=\"auth::me_reports_role\" data-status=\"failed\""));
        assert!(html.contains("not run: step `auth::me_reports_role` did not pass"));
        assert!(html.contains("could not check: connection refused"));
        assert!(!html.contains("baseline p95"), "no baseline, no column");
        assert!(!html.contains("<script"), "no script");
        assert!(
            !html.contains("http://") || !html.contains("src=\"http"),
            "no network resources"
        );
    }

    #[test]
    fn secrets_with_markup_characters_are_redacted_before_escaping() {
        let r = Redactor::new();
        r.add("s3cr3t&<pw>");
        let html = render(&report(), None, &r);
        assert!(!html.contains("s3cr3t"), "secret leaked");
        assert!(html.contains("[REDACTED]"));
    }

    #[test]
    fn critical_path_is_outlined_in_the_waterfall() {
        let html = render(&report(), None, &Redactor::new());
        // auth (60 ms) is longer than health (5 ms).
        assert!(html.contains("<g class=\"row crit-row\" data-flow=\"auth\">"));
        assert!(html.contains("class=\"bar s-failed crit\""));
        assert!(
            html.contains("class=\"bar s-error\""),
            "health is not on the critical path"
        );
        assert!(html.contains("Critical path <b>60 ms</b>"));
        assert!(html.contains("wall ÷ critical path <b>2.00</b>"));
        assert_eq!(html.matches("class=\"req\"").count(), 4);
    }

    #[test]
    fn baseline_columns_only_with_data() {
        let mut b = BTreeMap::new();
        b.insert("elsewhere::step".to_owned(), 10.0);
        assert!(!render(&report(), Some(&b), &Redactor::new()).contains("baseline p95"));
        b.insert("auth::login".to_owned(), 20.0);
        let html = render(&report(), Some(&b), &Redactor::new());
        assert!(html.contains("baseline p95"));
        assert!(
            html.contains("<td class=\"num slower\">+100 %</td>"),
            "40 ms against 20 ms"
        );
    }
}
