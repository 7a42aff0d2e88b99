//! The conformance-variation matrix, the mirror of `tests/detection.rs`: the whole
//! suite (profile `full`) against the reference server once per variation in its
//! catalogue — behaviours that differ from the reference's defaults and still keep
//! the contract — requiring every step green (no failure, no error, nothing skipped
//! that a plain run does not skip) and the run's cleanup done. Prints the matrix.
//!
//! A false red costs a rollback of a good release just as a false green lets a
//! bad one through; detection proves the checks can fail, this proves they fail
//! only for what the contract forbids. A variation without a citation of what
//! allows it fails the test; `STAGEOS_VARIATIONS_ONLY=a,b` runs a subset.

mod common;

use std::collections::BTreeSet;

use futures::stream::{self, StreamExt};

use stageos_reference::Variation;
use stageos_smoke::config::{EnvSnapshot, Overrides, Settings};
use stageos_smoke::outcome::RunReport;
use stageos_smoke::runner::{self, RunOptions};
use stageos_smoke::secrets::Redactor;
use stageos_smoke::selection::Selection;

use common::*;

/// What one run left behind.
struct Leftovers {
    /// Smoke entities of this run still present.
    ours: Vec<String>,
    /// The concurrent run's planted smoke entities the suite removed.
    theirs_removed: Vec<String>,
    /// Disposable users still present.
    users: Vec<String>,
    /// How often the variation took effect (0 for the plain run).
    hits: u64,
}

async fn run_with(variation: Option<Variation>) -> (RunReport, Leftovers) {
    let dir = temp_dir("variations");
    let cfg = dir.join("stageos-smoke.toml");
    std::fs::write(
        &cfg,
        "default_environment = \"variations\"\n[environments.variations]\nwait_deadline_ms = 5000\n",
    )
    .unwrap();
    let overrides = Overrides {
        target: Some("embedded".into()),
        profile: Some("full".into()),
        config: Some(cfg),
        variations: variation.iter().map(ToString::to_string).collect(),
        ..Overrides::default()
    };
    let env = EnvSnapshot::default();
    let settings = Settings::resolve(&overrides, &env).expect("settings");
    let options = RunOptions {
        selection: Selection::default(),
        concurrency: 4,
    };
    let (report, server) =
        runner::run_keeping_server(&settings, &options, &env, &Redactor::new()).await;
    let server = server.expect("embedded server handed back");
    let planted: BTreeSet<String> = server.planted_smoke_entities().iter().cloned().collect();
    let present: BTreeSet<String> = server.smoke_entities().into_iter().collect();
    let leftovers = Leftovers {
        ours: present.difference(&planted).cloned().collect(),
        theirs_removed: planted.difference(&present).cloned().collect(),
        users: server.smoke_users(),
        hits: variation.map_or(0, |v| server.variation_hits(v)),
    };
    server.shutdown().await;
    (report, leftovers)
}

fn red(report: &RunReport) -> BTreeSet<String> {
    let mut s = names_with(report, "failed");
    s.extend(names_with(report, "error"));
    s
}

/// `flow::step: message` of every red step, for the failure message.
fn why_red(report: &RunReport) -> Vec<String> {
    report
        .steps
        .iter()
        .filter(|s| matches!(s.outcome.label(), "failed" | "error"))
        .map(|s| {
            format!(
                "{} ({}): {}",
                s.full_name(),
                s.outcome.label(),
                s.outcome.message().unwrap_or("")
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_catalogued_variation_keeps_every_check_green() {
    let catalogue = Variation::catalogue();
    assert!(
        catalogue.len() >= 30,
        "the matrix needs at least 30 variations, has {}",
        catalogue.len()
    );
    let uncited: Vec<String> = catalogue
        .iter()
        .filter(|v| {
            let why = v.allowed_by();
            !(why.contains("RFC") || why.contains("contract") || why.contains("format"))
        })
        .map(ToString::to_string)
        .collect();
    assert!(
        uncited.is_empty(),
        "variations that cite no contract line or RFC section allowing them: {uncited:?}"
    );

    // STAGEOS_VARIATIONS_ONLY=a,b runs only those variations (while developing a reader).
    let only: Option<Vec<String>> = std::env::var("STAGEOS_VARIATIONS_ONLY")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect());
    if let Some(only) = &only {
        let unknown: Vec<&String> = only
            .iter()
            .filter(|o| !catalogue.iter().any(|v| v.name() == o.as_str()))
            .collect();
        assert!(
            unknown.is_empty(),
            "STAGEOS_VARIATIONS_ONLY names unknown variations: {unknown:?}"
        );
    }
    let runs: Vec<Option<Variation>> = std::iter::once(None)
        .chain(
            catalogue
                .iter()
                .filter(|v| {
                    only.as_ref()
                        .is_none_or(|o| o.iter().any(|x| x == v.name()))
                })
                .map(|v| Some(*v)),
        )
        .collect();
    let mut results: Vec<_> = stream::iter(runs)
        .map(|variation| async move {
            let (report, leftovers) = run_with(variation).await;
            (variation, report, leftovers)
        })
        .buffer_unordered(2)
        .collect()
        .await;
    results.sort_by_key(|(v, _, _)| v.map(|v| v.name()));

    let baseline_skipped = results
        .iter()
        .find(|(v, _, _)| v.is_none())
        .map(|(_, r, _)| names_with(r, "skipped"))
        .unwrap_or_default();
    let mut problems = Vec::new();
    let mut green = 0;
    eprintln!("\nvariation matrix (profile full, one run per variation)");
    for (variation, report, leftovers) in &results {
        let name = variation.map_or("(none)", |v| v.name());
        let got = red(report);
        let skipped = names_with(report, "skipped");
        let extra_skips: Vec<&String> = skipped.difference(&baseline_skipped).collect();
        let mut own = Vec::new();
        if !got.is_empty() {
            own.push(format!("red: {}", why_red(report).join(" | ")));
        }
        if !extra_skips.is_empty() {
            own.push(format!("skipped beyond a plain run: {extra_skips:?}"));
        }
        if report.steps.is_empty() {
            own.push("no steps ran".to_owned());
        }
        // A variation that changed no answer proved nothing.
        if variation.is_some() && leftovers.hits == 0 {
            own.push("never took effect: no answer, data or timing of the run changed".to_owned());
        }
        if !leftovers.ours.is_empty() || !leftovers.users.is_empty() {
            own.push(format!(
                "smoke data left behind: {:?} {:?}",
                leftovers.ours, leftovers.users
            ));
        }
        if !leftovers.theirs_removed.is_empty() {
            own.push(format!(
                "another run's fresh smoke data was removed: {:?}",
                leftovers.theirs_removed
            ));
        }
        let ok = own.is_empty();
        if ok && variation.is_some() {
            green += 1;
        }
        eprintln!(
            "  {:<28} {:<4} {:>5} hits  {}",
            name,
            if ok { "ok" } else { "RED" },
            leftovers.hits,
            variation.map_or("", |v| v.allowed_by())
        );
        for p in own {
            problems.push(format!("{name}: {p}"));
        }
    }
    eprintln!(
        "variations green: {green}/{}\n",
        results.iter().filter(|(v, _, _)| v.is_some()).count()
    );
    assert!(
        problems.is_empty(),
        "variation matrix problems:\n{}",
        problems.join("\n")
    );
}
