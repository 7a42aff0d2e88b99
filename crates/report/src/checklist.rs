//! The StageOS release checklist as data (`fixtures/release-checklist.toml`,
//! compiled in), judged against a run.
//!
//! Each of the 43 leaf items is verified one of three ways: `automated` (by the
//! testcases it names: `flow::step`, or a `flow::` prefix for every step of a flow),
//! `manual` (a person confirms it; the report shows an open box) or
//! `not-applicable-here` (verified elsewhere, named in the file). Against a
//! [`RunReport`] an automated item is
//!
//! - **✓ passed**: at least one of its testcases ran and passed, and none failed or
//!   errored (testcases that were skipped are listed with their reason);
//! - **✗ failed**: any of its testcases failed or could not check (error);
//! - **– not run here**: none of its testcases ran (all skipped, e.g. no AWS
//!   resources configured, or not in the profile).
//!
//! The headline counts items, not testcases: "N of 43 verified automatically, M
//! passed, K manual items open", where N counts the automated items this run judged
//! (✓ or ✗). `stageos-smoke checklist` prints the plan for a profile without running
//! anything ([`render_plan`]); reports end with [`evaluate`]'s result.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use stageos_smoke_checks::catalogue::{self, Profile};
use stageos_smoke_model::outcome::{RunReport, StepOutcome};

/// The checklist file, compiled in.
const CHECKLIST_TOML: &str = include_str!("../../../fixtures/release-checklist.toml");

/// Number of leaf items of the StageOS release checklist.
pub const ITEM_COUNT: usize = 43;

/// How an item is verified.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verification {
    /// By the suite's testcases.
    Automated,
    /// By a person.
    Manual,
    /// Elsewhere (the StageOS repository's CI, the deploy pipeline).
    NotApplicableHere,
}

/// One leaf item of the file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// `1.1` … `8.4`; post-deploy smoke sub-items `7.4.1` … `7.4.7`.
    pub id: String,
    /// Section number, 1–8.
    pub section: u8,
    /// The item as the release engineers know it.
    pub text: String,
    /// How it is verified.
    pub verification: Verification,
    /// Automated: `flow::step` names or `flow::` prefixes.
    #[serde(default)]
    pub testcases: Vec<String>,
    /// Manual: what a person confirms.
    #[serde(default)]
    pub how: Option<String>,
    /// Not applicable here: where it is verified.
    #[serde(default, rename = "where")]
    pub where_verified: Option<String>,
}

impl Item {
    /// Whether testcase `name` (`flow::step`) is one of this item's.
    pub fn covers(&self, name: &str) -> bool {
        self.testcases.iter().any(|t| pattern_matches(t, name))
    }
}

/// A section heading.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// 1–8.
    pub number: u8,
    /// Its title.
    pub title: String,
}

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checklist {
    /// Testcases that verify no item on their own.
    #[serde(default)]
    pub supporting: Vec<String>,
    /// Sections in order.
    #[serde(rename = "section")]
    pub sections: Vec<Section>,
    /// Leaf items in order.
    #[serde(rename = "item")]
    pub items: Vec<Item>,
}

impl Checklist {
    /// Parse a checklist file.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| format!("malformed release checklist: {e}"))
    }

    /// Title of section `n`.
    pub fn section_title(&self, n: u8) -> &str {
        self.sections
            .iter()
            .find(|s| s.number == n)
            .map(|s| s.title.as_str())
            .unwrap_or("?")
    }
}

/// The compiled-in checklist.
pub fn checklist() -> &'static Checklist {
    static LIST: OnceLock<Checklist> = OnceLock::new();
    LIST.get_or_init(|| {
        // Compiled in and checked by this module's tests: cannot fail at a user's site.
        Checklist::parse(CHECKLIST_TOML)
            .expect("fixtures/release-checklist.toml is valid (checked by tests)")
    })
}

/// `flow::step` names match exactly; a pattern ending in `::` matches every step of
/// that flow.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    if pattern.ends_with("::") {
        name.starts_with(pattern)
    } else {
        name == pattern
    }
}

/// What became of an item in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// ✓ its testcases that ran passed.
    Passed,
    /// ✗ one of its testcases failed.
    Failed,
    /// ⚠ none failed, but one could not check (the target could not be judged):
    /// kept apart from ✗ as the run's `<error>`s are from its `<failure>`s.
    CouldNotCheck,
    /// – none of its testcases ran here.
    NotRun,
    /// ☐ a person must confirm it.
    Manual,
    /// n/a verified elsewhere.
    NotApplicable,
}

impl ItemStatus {
    /// The mark shown in reports.
    pub fn mark(self) -> &'static str {
        match self {
            ItemStatus::Passed => "✓",
            ItemStatus::Failed => "✗",
            ItemStatus::CouldNotCheck => "⚠",
            ItemStatus::NotRun => "–",
            ItemStatus::Manual => "☐",
            ItemStatus::NotApplicable => "n/a",
        }
    }

    /// A word for the mark.
    pub fn label(self) -> &'static str {
        match self {
            ItemStatus::Passed => "passed",
            ItemStatus::Failed => "failed",
            ItemStatus::CouldNotCheck => "could not check",
            ItemStatus::NotRun => "not run here",
            ItemStatus::Manual => "manual",
            ItemStatus::NotApplicable => "not applicable here",
        }
    }
}

/// One testcase behind an item, as the run saw it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TestcaseResult {
    /// `flow::step`.
    pub name: String,
    /// passed | failed | error | skipped.
    pub status: &'static str,
    /// The failure, error or skip reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One item, judged.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ItemResult {
    /// Item id.
    pub id: String,
    /// Section number.
    pub section: u8,
    /// Section title.
    pub section_title: String,
    /// The item.
    pub text: String,
    /// How it is verified.
    pub verification: Verification,
    /// What became of it.
    pub status: ItemStatus,
    /// ✓ ✗ ⚠ – ☐ n/a.
    pub mark: &'static str,
    /// The testcases behind it that this run reported (automated items).
    pub testcases: Vec<TestcaseResult>,
    /// Manual: what to confirm; not applicable: where it is verified; not run: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Item counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ChecklistCounts {
    /// All items (43).
    pub total: usize,
    /// Items verified by testcases.
    pub automated: usize,
    /// Automated items this run judged (✓ or ✗).
    pub verified: usize,
    /// ✓.
    pub passed: usize,
    /// ✗.
    pub failed: usize,
    /// ⚠ automated items that ran but could not be judged.
    pub could_not_check: usize,
    /// Automated items none of whose testcases ran.
    pub not_run: usize,
    /// Open boxes.
    pub manual: usize,
    /// Verified elsewhere.
    pub not_applicable: usize,
}

/// The checklist judged against one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChecklistReport {
    /// "N of 43 verified automatically, M passed, K manual items open".
    pub headline: String,
    /// The numbers behind it.
    pub counts: ChecklistCounts,
    /// Every item, in checklist order.
    pub items: Vec<ItemResult>,
}

fn outcome_message(o: &StepOutcome) -> Option<String> {
    o.message().map(str::to_owned)
}

/// Judge one item against the run.
fn judge(list: &Checklist, item: &Item, report: &RunReport) -> ItemResult {
    let mut testcases = Vec::new();
    let (status, note) = match item.verification {
        Verification::Manual => (ItemStatus::Manual, item.how.clone()),
        Verification::NotApplicableHere => (ItemStatus::NotApplicable, item.where_verified.clone()),
        Verification::Automated => {
            for s in &report.steps {
                let name = s.full_name();
                if item.covers(&name) {
                    testcases.push(TestcaseResult {
                        name,
                        status: s.outcome.label(),
                        message: outcome_message(&s.outcome),
                    });
                }
            }
            let has = |status: &str| testcases.iter().any(|t| t.status == status);
            if has("failed") {
                (ItemStatus::Failed, None)
            } else if has("error") {
                (ItemStatus::CouldNotCheck, None)
            } else if let Some(why) = testcases.iter().find_map(|t| {
                t.message
                    .as_deref()
                    .filter(|m| t.status == "skipped" && m.starts_with("inconclusive"))
            }) {
                // A gate that could not judge (too little traffic, no baseline)
                // leaves its item unverified even when a sibling passed: reading
                // the numbers is not judging them.
                (ItemStatus::NotRun, Some(format!("not verified: {why}")))
            } else if has("passed") {
                (ItemStatus::Passed, None)
            } else if testcases.is_empty() {
                (
                    ItemStatus::NotRun,
                    Some(format!(
                        "none of {} is in this run (profile {})",
                        item.testcases.join(", "),
                        report.profile
                    )),
                )
            } else {
                let reasons: BTreeSet<&str> = testcases
                    .iter()
                    .filter_map(|t| t.message.as_deref())
                    .collect();
                (
                    ItemStatus::NotRun,
                    Some(format!(
                        "skipped: {}",
                        reasons.into_iter().collect::<Vec<_>>().join("; ")
                    )),
                )
            }
        }
    };
    ItemResult {
        id: item.id.clone(),
        section: item.section,
        section_title: list.section_title(item.section).to_owned(),
        text: item.text.clone(),
        verification: item.verification,
        status,
        mark: status.mark(),
        testcases,
        note,
    }
}

/// Judge every item of `list` against `report`.
pub fn evaluate_with(list: &Checklist, report: &RunReport) -> ChecklistReport {
    let items: Vec<ItemResult> = list.items.iter().map(|i| judge(list, i, report)).collect();
    let mut c = ChecklistCounts {
        total: items.len(),
        ..ChecklistCounts::default()
    };
    for i in &items {
        if i.verification == Verification::Automated {
            c.automated += 1;
        }
        match i.status {
            ItemStatus::Passed => c.passed += 1,
            ItemStatus::Failed => c.failed += 1,
            ItemStatus::CouldNotCheck => c.could_not_check += 1,
            ItemStatus::NotRun => c.not_run += 1,
            ItemStatus::Manual => c.manual += 1,
            ItemStatus::NotApplicable => c.not_applicable += 1,
        }
    }
    c.verified = c.passed + c.failed;
    ChecklistReport {
        headline: headline(&c),
        counts: c,
        items,
    }
}

/// Judge the compiled-in checklist against `report`.
pub fn evaluate(report: &RunReport) -> ChecklistReport {
    evaluate_with(checklist(), report)
}

/// "N of 43 verified automatically, M passed, K manual items open" (+ failed, not
/// run and not-applicable counts when there are any).
pub fn headline(c: &ChecklistCounts) -> String {
    let mut h = format!(
        "{} of {} verified automatically, {} passed, {} manual items open",
        c.verified, c.total, c.passed, c.manual
    );
    if c.failed > 0 {
        let _ = write!(h, ", {} failed", c.failed);
    }
    if c.could_not_check > 0 {
        let _ = write!(h, ", {} could not be checked", c.could_not_check);
    }
    if c.not_run > 0 {
        let _ = write!(h, "; {} automated items not run here", c.not_run);
    }
    if c.not_applicable > 0 {
        let _ = write!(h, "; {} verified elsewhere", c.not_applicable);
    }
    h
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn testcase_summary(i: &ItemResult) -> String {
    if i.testcases.is_empty() {
        return String::new();
    }
    let mut by_status: Vec<String> = Vec::new();
    for t in &i.testcases {
        let mark = match t.status {
            "passed" => "✓",
            "failed" => "✗",
            "error" => "⚠",
            _ => "–",
        };
        by_status.push(format!("{mark} `{}`", t.name));
    }
    // Flows with many steps (rbac: 116) would drown the table: summarise past 8.
    if by_status.len() > 8 {
        let passed = i.testcases.iter().filter(|t| t.status == "passed").count();
        let bad: Vec<String> = i
            .testcases
            .iter()
            .filter(|t| matches!(t.status, "failed" | "error"))
            .map(|t| format!("✗ `{}`", t.name))
            .collect();
        let skipped = i.testcases.len() - passed - bad.len();
        let mut s = format!(
            "{} testcases: {passed} passed, {skipped} skipped",
            i.testcases.len()
        );
        if !bad.is_empty() {
            let _ = write!(s, "; {}", bad.join(", "));
        }
        return s;
    }
    by_status.join(", ")
}

/// The checklist as the last section of the Markdown summary.
pub fn markdown(c: &ChecklistReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n### Release checklist — {}\n", c.headline);
    let _ = writeln!(out, "| | item | verified by |\n|---|---|---|");
    let mut section = 0;
    for i in &c.items {
        if i.section != section {
            section = i.section;
            let _ = writeln!(
                out,
                "| | **{} {}** | |",
                i.section,
                md_cell(&i.section_title)
            );
        }
        let detail = match i.status {
            ItemStatus::Passed | ItemStatus::Failed | ItemStatus::CouldNotCheck => {
                testcase_summary(i)
            }
            ItemStatus::NotRun => {
                let tc = testcase_summary(i);
                let note = i.note.clone().unwrap_or_default();
                if tc.is_empty() {
                    note
                } else {
                    format!("{tc} ({note})")
                }
            }
            ItemStatus::Manual => format!("manual: {}", i.note.as_deref().unwrap_or("")),
            ItemStatus::NotApplicable => format!("elsewhere: {}", i.note.as_deref().unwrap_or("")),
        };
        let _ = writeln!(
            out,
            "| {} | {} {} | {} |",
            i.mark,
            i.id,
            md_cell(&i.text),
            md_cell(&detail)
        );
    }
    let _ = writeln!(out, "\n**{}**", c.headline);
    out
}

/// `` `x` `` → `<code>x</code>` (on already escaped text; unbalanced backticks stay).
fn code_spans(s: &str) -> String {
    if s.matches('`').count() % 2 == 1 {
        return s.to_owned();
    }
    s.split('`')
        .enumerate()
        .map(|(n, part)| {
            if n % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                part.to_owned()
            }
        })
        .collect()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The checklist as the last section of the HTML report (inline styles only, so it
/// does not depend on the page's stylesheet).
pub fn html(c: &ChecklistReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<section id=\"checklist\">\n<h2>Release checklist</h2>"
    );
    let _ = writeln!(
        out,
        "<p class=\"checklist-headline\"><strong>{}</strong></p>",
        esc(&c.headline)
    );
    let mut section = 0;
    for i in &c.items {
        if i.section != section {
            if section != 0 {
                out.push_str("</tbody></table>\n");
            }
            section = i.section;
            let _ = writeln!(
                out,
                "<h3>{} {}</h3>\n<table class=\"checklist\" style=\"border-collapse:collapse;width:100%;table-layout:fixed\"><tbody>",
                i.section,
                esc(&i.section_title)
            );
        }
        let colour = match i.status {
            ItemStatus::Passed => "#1a7f37",
            ItemStatus::Failed => "#cf222e",
            ItemStatus::CouldNotCheck => "#9a6700",
            _ => "#59636e",
        };
        let detail = match i.status {
            ItemStatus::Manual => format!(
                "manual: {}",
                code_spans(&esc(i.note.as_deref().unwrap_or("")))
            ),
            ItemStatus::NotApplicable => {
                format!(
                    "elsewhere: {}",
                    code_spans(&esc(i.note.as_deref().unwrap_or("")))
                )
            }
            _ => {
                let tcs: Vec<String> = i
                    .testcases
                    .iter()
                    .filter(|t| i.testcases.len() <= 8 || t.status != "passed")
                    .map(|t| format!("<code>{}</code> {}", esc(&t.name), t.status))
                    .collect();
                let mut d = tcs.join(", ");
                if i.testcases.len() > 8 {
                    let passed = i.testcases.iter().filter(|t| t.status == "passed").count();
                    d = format!(
                        "{} testcases, {passed} passed{}{d}",
                        i.testcases.len(),
                        if d.is_empty() { "" } else { "; " }
                    );
                }
                if let Some(n) = &i.note {
                    if !d.is_empty() {
                        d.push_str(" — ");
                    }
                    d.push_str(&esc(n));
                }
                d
            }
        };
        let _ = writeln!(
            out,
            "<tr data-item=\"{}\" data-status=\"{}\" style=\"border-top:1px solid #d1d9e0\"><td style=\"width:3em;color:{colour};font-weight:bold\">{}</td><td style=\"width:4em\">{}</td><td style=\"width:32%\">{}</td><td>{detail}</td></tr>",
            esc(&i.id),
            i.status.label(),
            i.mark,
            esc(&i.id),
            code_spans(&esc(&i.text))
        );
    }
    if section != 0 {
        out.push_str("</tbody></table>\n");
    }
    let _ = writeln!(
        out,
        "<p><strong>{}</strong></p>\n</section>",
        esc(&c.headline)
    );
    out
}

/// The checklist for `profile` without running anything: each item with how it is
/// verified and, for automated items, the testcases the profile runs for it.
pub fn render_plan(profile_name: &str, profile: &Profile) -> String {
    let list = checklist();
    let flows = catalogue::profile_flows(profile);
    let names: Vec<String> = flows.iter().flat_map(|f| f.step_names()).collect();
    let mut out = String::new();
    let (mut automated, mut in_profile, mut manual, mut elsewhere) = (0, 0, 0, 0);
    let _ = writeln!(
        out,
        "StageOS release checklist ({} items), profile {profile_name}",
        list.items.len()
    );
    let mut section = 0;
    for i in &list.items {
        if i.section != section {
            section = i.section;
            let _ = writeln!(out, "\n{} {}", i.section, list.section_title(i.section));
        }
        match i.verification {
            Verification::Automated => {
                automated += 1;
                let run: Vec<&String> = names.iter().filter(|n| i.covers(n)).collect();
                let (mark, tail) = if run.is_empty() {
                    (
                        "–",
                        format!("not in profile {profile_name}: {}", i.testcases.join(", ")),
                    )
                } else {
                    in_profile += 1;
                    let shown: Vec<&str> = run.iter().take(6).map(|s| s.as_str()).collect();
                    let more = if run.len() > 6 {
                        format!(" and {} more", run.len() - 6)
                    } else {
                        String::new()
                    };
                    ("auto", format!("{}{more}", shown.join(", ")))
                };
                let _ = writeln!(
                    out,
                    "  [{mark:^4}] {:<6} {}\n                {tail}",
                    i.id, i.text
                );
            }
            Verification::Manual => {
                manual += 1;
                let _ = writeln!(
                    out,
                    "  [ ☐  ] {:<6} {}\n                manual: {}",
                    i.id,
                    i.text,
                    i.how.as_deref().unwrap_or("")
                );
            }
            Verification::NotApplicableHere => {
                elsewhere += 1;
                let _ = writeln!(
                    out,
                    "  [n/a ] {:<6} {}\n                elsewhere: {}",
                    i.id,
                    i.text,
                    i.where_verified.as_deref().unwrap_or("")
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{automated} of {} automated ({in_profile} run by profile {profile_name}), {manual} manual items open, {elsewhere} verified elsewhere",
        list.items.len()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use stageos_smoke_model::outcome::StepResult;

    fn all_testcases() -> BTreeSet<String> {
        // Every step of every flow: the union of all profiles' catalogues.
        catalogue::flows()
            .iter()
            .flat_map(|f| f.step_names())
            .collect()
    }

    #[test]
    fn the_checklist_has_43_items_in_8_sections() {
        let list = checklist();
        assert_eq!(list.items.len(), ITEM_COUNT);
        let numbers: Vec<u8> = list.sections.iter().map(|s| s.number).collect();
        assert_eq!(numbers, (1..=8).collect::<Vec<u8>>());
        let per_section: Vec<usize> = (1..=8)
            .map(|n| list.items.iter().filter(|i| i.section == n).count())
            .collect();
        assert_eq!(per_section, [3, 6, 4, 6, 5, 5, 10, 4], "items per section");
        let smoke = list
            .items
            .iter()
            .filter(|i| i.id.starts_with("7.4."))
            .count();
        assert_eq!(
            smoke, 7,
            "the seven post-deploy smoke sub-items count individually"
        );
        let ids: BTreeSet<&str> = list.items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids.len(), ITEM_COUNT, "item ids are unique");
        for i in &list.items {
            assert!(
                i.id.starts_with(&format!("{}.", i.section)),
                "{} is not in section {}",
                i.id,
                i.section
            );
        }
    }

    #[test]
    fn each_item_says_how_it_is_verified() {
        for i in &checklist().items {
            match i.verification {
                Verification::Automated => {
                    assert!(
                        !i.testcases.is_empty(),
                        "automated item {} names no testcase",
                        i.id
                    );
                    assert!(i.how.is_none() && i.where_verified.is_none(), "{}", i.id);
                }
                Verification::Manual => {
                    assert!(
                        i.testcases.is_empty() && i.how.as_deref().is_some_and(|h| !h.is_empty()),
                        "manual item {} needs `how` and no testcases",
                        i.id
                    );
                }
                Verification::NotApplicableHere => {
                    assert!(
                        i.testcases.is_empty()
                            && i.where_verified.as_deref().is_some_and(|w| !w.is_empty()),
                        "not-applicable item {} needs `where` and no testcases",
                        i.id
                    );
                }
            }
        }
    }

    #[test]
    fn every_automated_item_names_existing_testcases() {
        let all = all_testcases();
        for i in checklist()
            .items
            .iter()
            .filter(|i| i.verification == Verification::Automated)
        {
            for t in &i.testcases {
                assert!(
                    all.iter().any(|n| pattern_matches(t, n)),
                    "item {} names `{t}`, which matches no testcase of the catalogue",
                    i.id
                );
            }
        }
    }

    #[test]
    fn every_testcase_maps_to_an_item_or_is_supporting() {
        let list = checklist();
        let all = all_testcases();
        for s in &list.supporting {
            assert!(all.contains(s), "supporting testcase `{s}` does not exist");
            assert!(
                !list.items.iter().any(|i| i.covers(s)),
                "`{s}` is listed as supporting but verifies an item"
            );
        }
        let orphans: Vec<&String> = all
            .iter()
            .filter(|n| !list.supporting.contains(n) && !list.items.iter().any(|i| i.covers(n)))
            .collect();
        assert!(
            orphans.is_empty(),
            "testcases that verify no checklist item and are not listed as supporting: {orphans:?}"
        );
    }

    fn step(flow: &str, id: &str, outcome: StepOutcome) -> StepResult {
        StepResult {
            flow: flow.into(),
            step: id.into(),
            description: String::new(),
            outcome,
            start_ms: 0.0,
            duration_ms: 1.0,
            requests: Vec::new(),
            retries: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn report(steps: Vec<StepResult>) -> RunReport {
        RunReport {
            run_id: "r".into(),
            target: "embedded".into(),
            profile: "post-deploy".into(),
            started_at: String::new(),
            wall_ms: 1.0,
            steps,
            run_error: None,
            cleanups: Vec::new(),
            interrupted: false,
        }
    }

    #[test]
    fn items_are_judged_by_their_testcases() {
        let r = report(vec![
            step("release", "release_tag", StepOutcome::Passed),
            step(
                "health",
                "release_matches",
                StepOutcome::Skipped {
                    reason: "no expected release".into(),
                },
            ),
            step(
                "release",
                "rollback_images",
                StepOutcome::Skipped {
                    reason: "no ECR repositories configured".into(),
                },
            ),
            step("metrics", "queue_depth_within_limits", StepOutcome::Passed),
            step(
                "metrics",
                "no_new_failed_jobs",
                StepOutcome::Failed {
                    message: "m".into(),
                    expected: "0".into(),
                    actual: "1".into(),
                },
            ),
            step(
                "health",
                "api_health_ok",
                StepOutcome::Error {
                    message: "unreachable".into(),
                },
            ),
        ]);
        let c = evaluate(&r);
        let get = |id: &str| c.items.iter().find(|i| i.id == id).unwrap();
        assert_eq!(
            get("1.1").status,
            ItemStatus::Passed,
            "a pass with a skipped sibling is a pass"
        );
        assert_eq!(get("1.1").testcases.len(), 2);
        assert_eq!(get("1.3").status, ItemStatus::NotRun);
        assert!(
            get("1.3")
                .note
                .as_deref()
                .unwrap()
                .contains("no ECR repositories")
        );
        assert_eq!(
            get("6.2").status,
            ItemStatus::Failed,
            "one failure fails the item"
        );
        assert_eq!(
            get("3.2").status,
            ItemStatus::CouldNotCheck,
            "an error is not a failure: the item could not be checked"
        );
        assert_eq!(get("1.2").status, ItemStatus::Manual);
        assert_eq!(get("2.1").status, ItemStatus::NotApplicable);
        assert_eq!(get("8.2").status, ItemStatus::NotRun);
        assert!(
            get("8.2")
                .note
                .as_deref()
                .unwrap()
                .contains("metrics::stripe_webhook_success_ratio")
        );
        assert_eq!(c.counts.total, 43);
        assert_eq!(c.counts.passed, 1);
        // 6.2 failed; 3.2 and 6.1 (api_health_ok errored) could not be checked.
        assert_eq!(c.counts.failed, 1);
        assert_eq!(c.counts.could_not_check, 2);
        assert_eq!(get("6.1").mark, "⚠");
        assert_eq!(c.counts.verified, 2);
        assert_eq!(c.counts.manual, 4);
        assert_eq!(c.counts.not_applicable, 10);
        assert_eq!(c.counts.automated, 29);
        assert!(
            c.headline
                .starts_with("2 of 43 verified automatically, 1 passed, 4 manual items open, 1 failed, 2 could not be checked"),
            "{}",
            c.headline
        );
    }

    #[test]
    fn markdown_and_html_end_with_the_headline() {
        let c = evaluate(&report(vec![step(
            "release",
            "release_tag",
            StepOutcome::Passed,
        )]));
        let md = markdown(&c);
        assert!(md.trim_end().ends_with(&format!("**{}**", c.headline)));
        assert_eq!(
            md.lines().filter(|l| l.starts_with("| ")).count() - 1,
            43 + 8,
            "one row per item and per section"
        );
        let h = html(&c);
        assert_eq!(h.matches("<tr data-item=").count(), 43);
        assert!(h.trim_end().ends_with("</section>"));
    }

    #[test]
    fn the_plan_lists_every_item() {
        let p = catalogue::profile("full").unwrap();
        let text = render_plan("full", p);
        for i in &checklist().items {
            assert!(
                text.contains(&format!(" {:<6} {}", i.id, i.text)),
                "{} missing:\n{text}",
                i.id
            );
        }
        assert!(text.contains("29 of 43 automated"), "{text}");
    }

    #[test]
    fn an_inconclusive_gate_leaves_its_item_unverified() {
        let c = evaluate(&report(vec![
            step("baseline", "alb_metrics_read", StepOutcome::Passed),
            step(
                "baseline",
                "p95_latency_vs_baseline",
                StepOutcome::Skipped {
                    reason: "inconclusive: 12 requests < 100 in the window".into(),
                },
            ),
            step(
                "baseline",
                "error_budget_burn_rate",
                StepOutcome::Skipped {
                    reason: "inconclusive: 12 requests < 100 in the window".into(),
                },
            ),
        ]));
        let item = c.items.iter().find(|i| i.id == "8.1").unwrap();
        assert_eq!(item.status, ItemStatus::NotRun, "reading is not judging");
        assert!(
            item.note.as_deref().unwrap().contains("12 requests < 100"),
            "{:?}",
            item.note
        );
        assert_eq!(c.counts.passed, 0);
    }
}
