//! The HTML report of a failing run: it parses as HTML (html5ever, through
//! `scraper`), names every failing step with its expected/actual, is
//! self-contained, and renders in headless Chromium to a non-empty PNG.
//!
//! Chromium is Debian's `chromium`, installed by `.ci/run`. Where it is missing
//! the rendering half says loudly that it was skipped and why.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use scraper::{Html, Selector};
use stageos_smoke::outcome::RunReport;
use stageos_smoke::report;

fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("valid selector")
}

/// A failing run (the reference server reports the wrong role on /api/me), its
/// reports written by `write_all` into a fresh directory.
fn failing_run() -> (RunReport, PathBuf) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (report, redactor) = rt.block_on(common::run_embedded(None, None, &["me-wrong-role"]));
    assert!(
        !common::failed(&report).is_empty(),
        "the fault makes the run fail"
    );
    let dir = common::temp_dir("html-report");
    let written = report::write_all(&report, &dir, None, &redactor).expect("reports written");
    assert!(
        written.contains(&dir.join(report::HTML_FILE)),
        "write_all writes index.html: {written:?}"
    );
    (report, dir.join(report::HTML_FILE))
}

#[test]
fn html_report_parses_names_every_failure_and_renders_in_chromium() {
    let (report, path) = failing_run();
    let text = std::fs::read_to_string(&path).expect("index.html readable");
    let doc = Html::parse_document(&text);
    assert!(doc.errors.is_empty(), "HTML parse errors: {:?}", doc.errors);

    // The verdict comes first.
    let first = doc
        .select(&sel("body > *"))
        .next()
        .expect("body has content");
    assert_eq!(
        first.value().id(),
        Some("verdict"),
        "the verdict is the first thing on the page"
    );
    assert_eq!(first.value().attr("data-verdict"), Some("failed"));
    assert!(first.text().collect::<String>().contains("FAILED"));

    // Every failing step appears, in the failures list and in its flow's table,
    // with its expected and actual value.
    let failed = common::failed(&report);
    let in_table: BTreeSet<String> = doc
        .select(&sel("tr.step[data-status=failed]"))
        .filter_map(|e| e.value().attr("data-step").map(str::to_owned))
        .collect();
    assert_eq!(in_table, failed, "failed rows in the step tables");
    let in_list: BTreeSet<String> = doc
        .select(&sel("#failures li[data-status=failed]"))
        .filter_map(|e| e.value().attr("data-step").map(str::to_owned))
        .collect();
    assert_eq!(in_list, failed, "failures list");
    for s in &report.steps {
        if let stageos_smoke::StepOutcome::Failed {
            expected, actual, ..
        } = &s.outcome
        {
            let item = doc
                .select(&sel("#failures li"))
                .find(|e| e.value().attr("data-step") == Some(s.full_name().as_str()))
                .expect("failure listed");
            let item_text = item.text().collect::<String>();
            assert!(
                item_text.contains(expected.as_str()) && item_text.contains(actual.as_str()),
                "{}: expected/actual missing in {item_text}",
                s.full_name()
            );
        }
    }
    // Every reported step has its row; skipped steps show their reason.
    let rows = doc.select(&sel("tr.step")).count();
    assert_eq!(rows, report.steps.len());
    for row in doc.select(&sel("tr.step[data-status=skipped]")) {
        assert!(
            row.select(&sel(".reason")).next().is_some(),
            "skip reason shown"
        );
    }

    // The waterfall: one row per flow, one bar per step, the critical path outlined.
    let flows: BTreeSet<&str> = report.steps.iter().map(|s| s.flow.as_str()).collect();
    assert_eq!(
        doc.select(&sel("#waterfall svg g.row")).count(),
        flows.len()
    );
    assert_eq!(
        doc.select(&sel("#waterfall svg rect.bar")).count(),
        report.steps.len()
    );
    assert!(
        doc.select(&sel("#waterfall svg rect.bar.crit"))
            .next()
            .is_some(),
        "critical path highlighted"
    );

    // Self-contained: no script, no external resource.
    assert!(
        doc.select(&sel("script, link, img, iframe, object"))
            .next()
            .is_none(),
        "no script or external resources"
    );
    for e in doc.select(&sel("[src], [href]")) {
        for attr in ["src", "href"] {
            if let Some(v) = e.value().attr(attr) {
                assert!(v.starts_with('#'), "only in-page links, found {attr}={v}");
            }
        }
    }

    render_in_chromium(&path);
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

fn render_in_chromium(html: &Path) {
    let Some(chromium) = chromium() else {
        // In CI the screenshot is part of the proof: a missing browser is red.
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "CI is set but there is no `chromium` on PATH: install Debian's `chromium` (.ci/run does)"
        );
        eprintln!(
            "\n*** SKIPPED: Chromium screenshot of the HTML report: no `chromium` on PATH \
             (install Debian's `chromium`; .ci/run does). The HTML checks above ran. ***\n"
        );
        return;
    };
    let dir = html.parent().expect("report dir");
    let profile = dir.join("chromium-profile");
    let png = dir.join("index.png");
    let mut child = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1280,2000")
        .arg(format!(
            "file://{}",
            html.canonicalize().expect("absolute path").display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().expect("chromium output");
    assert!(
        status.success(),
        "chromium failed ({status}): {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bytes =
        std::fs::read(&png).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", png.display()));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG magic bytes");
    assert_eq!(&bytes[12..16], b"IHDR", "PNG header chunk");
    let width = u32::from_be_bytes(bytes[16..20].try_into().expect("4 bytes"));
    let height = u32::from_be_bytes(bytes[20..24].try_into().expect("4 bytes"));
    assert!(
        width >= 1000 && height >= 1000,
        "screenshot is {width}×{height}"
    );
    assert!(
        bytes.len() > 30 * 1024,
        "screenshot is only {} bytes: a blank page?",
        bytes.len()
    );
    eprintln!(
        "screenshot of the HTML report: {} ({width}×{height}, {} KB)",
        png.display(),
        bytes.len() / 1024
    );
}
