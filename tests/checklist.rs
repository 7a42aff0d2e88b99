//! The release checklist in every report: the default run's summary.json, summary.md
//! and index.html end with the checklist and its headline; `stageos-smoke checklist`
//! prints all 43 items without running anything; the new heartbeat faults fail
//! exactly their checklist items.

mod common;

use common::*;
use stageos_smoke::checklist::{self, ItemStatus};

fn headline_of(summary: &serde_json::Value) -> String {
    summary["checklist"]["headline"]
        .as_str()
        .expect("checklist headline")
        .to_owned()
}

#[test]
fn default_run_reports_end_with_the_checklist() {
    let dir = temp_dir("checklist-default");
    let out = cli()
        .args(["run", "--report-dir"])
        .arg(&dir)
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );

    // summary.json: `checklist` is the last top-level key, with 43 items.
    let raw = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json");
    let at = raw
        .rfind("\n  \"checklist\": ")
        .expect("a top-level checklist key");
    assert!(
        !raw[at + 1..].contains("\n  \""),
        "summary.json has a top-level key after the checklist"
    );
    let summary: serde_json::Value = serde_json::from_str(&raw).expect("summary.json parses");
    let items = summary["checklist"]["items"].as_array().expect("items");
    assert_eq!(items.len(), 43);
    let headline = headline_of(&summary);
    assert!(
        headline.contains(" of 43 verified automatically, ")
            && headline.contains(" manual items open"),
        "{headline}"
    );
    assert_eq!(
        summary["checklist"]["counts"]["failed"], 0,
        "a healthy run fails no checklist item"
    );
    assert!(
        summary["checklist"]["counts"]["passed"].as_u64().unwrap() >= 15,
        "{headline}"
    );
    // The AWS-side items are not run without AWS resources, with the reason.
    let rds = items.iter().find(|i| i["id"] == "5.1").expect("item 5.1");
    assert_eq!(rds["status"], "not_run");
    assert!(
        rds["note"]
            .as_str()
            .unwrap()
            .contains("no AWS resources configured"),
        "{rds}"
    );

    // summary.md: the last section is the checklist, the last line its headline.
    let md = std::fs::read_to_string(dir.join("summary.md")).expect("summary.md");
    let last_heading = md.lines().rfind(|l| l.starts_with('#')).expect("a heading");
    assert!(
        last_heading.starts_with("### Release checklist — "),
        "{last_heading}"
    );
    assert_eq!(
        md.trim_end().lines().last(),
        Some(format!("**{headline}**").as_str())
    );

    // index.html: the checklist section is the last before the footer.
    let html = std::fs::read_to_string(dir.join("index.html")).expect("index.html");
    let section = html
        .find("<section id=\"checklist\">")
        .expect("checklist section");
    let footer = html.find("<footer>").expect("footer");
    assert!(section < footer);
    let between = &html[section..footer];
    assert_eq!(between.matches("<tr data-item=").count(), 43);
    assert!(
        between.contains(&headline) || between.contains(&headline.replace('–', "&ndash;")),
        "headline missing from the HTML checklist"
    );
    assert!(!html[..section].contains("<section id=\"checklist\">"));
    // The terminal says it too.
    assert!(
        stdout.contains(&format!("release checklist: {headline}")),
        "{stdout}"
    );
}

#[test]
fn checklist_command_prints_all_items_offline() {
    // A listening target that records whether anyone connected: checklist must not.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let out = cli()
        .arg("checklist")
        .env("STAGEOS_BASE_URL", &url)
        .output()
        .expect("checklist");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for item in &checklist::checklist().items {
        assert!(
            stdout.contains(&format!(" {:<6} {}", item.id, item.text)),
            "{} missing:\n{stdout}",
            item.id
        );
    }
    assert!(stdout.contains("29 of 43 automated"), "{stdout}");
    assert!(stdout.contains("4 manual items open"), "{stdout}");
    assert!(
        listener.accept().is_err(),
        "checklist connected to the target"
    );
    let out = cli()
        .args(["checklist", "--profile", "canary"])
        .output()
        .expect("checklist");
    assert!(text(&out).0.contains("not in profile canary"));
    let out = cli()
        .args(["checklist", "--profile", "nope"])
        .output()
        .expect("checklist");
    assert_eq!(out.status.code(), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_faults_fail_exactly_their_items() {
    for (fault, step, item) in [
        (
            "retention-purge-stale",
            "release::retention_purge_observed",
            "5.4",
        ),
        (
            "error-tracking-silent",
            "release::error_tracking_ingesting",
            "6.3",
        ),
    ] {
        let (report, _) = run_embedded(None, Some("release::"), &[fault]).await;
        assert_eq!(failed(&report), set(&[step]), "{fault}");
        let c = checklist::evaluate(&report);
        let bad: Vec<&str> = c
            .items
            .iter()
            .filter(|i| i.status == ItemStatus::Failed)
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(bad, [item], "{fault}");
        let s = report.steps.iter().find(|s| s.full_name() == step).unwrap();
        let msg = s.outcome.message().unwrap_or_default();
        assert!(
            msg.contains(" h ago") && msg.contains("≤ "),
            "{fault}: {msg}"
        );
    }
    let (report, _) = run_embedded(None, Some("release::"), &[]).await;
    assert!(failed(&report).is_empty());
    assert_eq!(
        names_with(&report, "passed"),
        // The rollout order against the embedded reference's worker and web stand-ins.
        set(&[
            "release::release_tag",
            "release::rollout_order",
            "release::retention_purge_observed",
            "release::error_tracking_ingesting"
        ])
    );
}
