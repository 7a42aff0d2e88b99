//! The security and data gates (profile `security`) against the embedded reference:
//! a healthy run passes and leaves nothing behind, and each reference fault fails
//! exactly the testcase(s) that guard its behaviour.

mod common;

use stageos_smoke::config::{EnvSnapshot, Overrides, Settings};
use stageos_smoke::outcome::{RunReport, StepOutcome};
use stageos_smoke::runner::{self, RunOptions};
use stageos_smoke::secrets::Redactor;
use stageos_smoke::selection::Selection;

use common::{failed, names_with, set};

fn settings(faults: &[&str]) -> Settings {
    Settings::resolve(
        &Overrides {
            target: Some("embedded".into()),
            profile: Some("security".into()),
            faults: faults.iter().map(|f| (*f).to_owned()).collect(),
            ..Default::default()
        },
        &EnvSnapshot::default(),
    )
    .expect("valid settings")
}

fn options(filter: Option<&str>) -> RunOptions {
    RunOptions {
        selection: Selection {
            filter: filter.map(str::to_owned),
            ..Selection::default()
        },
        concurrency: 4,
    }
}

async fn run(faults: &[&str]) -> RunReport {
    runner::run(
        &settings(faults),
        &options(None),
        &EnvSnapshot::default(),
        &Redactor::new(),
    )
    .await
}

fn not_passed(report: &RunReport) -> Vec<String> {
    report
        .steps
        .iter()
        .filter(|s| s.outcome != StepOutcome::Passed)
        .map(|s| format!("{} → {:?}", s.full_name(), s.outcome))
        .collect()
}

fn failure_text(report: &RunReport, step: &str) -> String {
    report
        .steps
        .iter()
        .find(|s| s.full_name() == step)
        .map(|s| match &s.outcome {
            StepOutcome::Failed {
                message,
                expected,
                actual,
            } => format!("{message}\nexpected: {expected}\nactual: {actual}"),
            other => format!("{other:?}"),
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn healthy_security_run_passes_and_leaves_nothing_behind() {
    let (report, server) = runner::run_keeping_server(
        &settings(&[]),
        &options(None),
        &EnvSnapshot::default(),
        &Redactor::new(),
    )
    .await;
    let server = server.expect("the embedded server is handed back");
    let leftovers = server.smoke_entities();
    let users = server.smoke_users();
    let plugins = server.installed_plugins();
    server.shutdown().await;
    assert!(report.run_error.is_none(), "{:?}", report.run_error);
    // Steps of other flows may be skipped for want of configuration (e.g. the
    // expected release); nothing may fail or error, and every gate of ours passes.
    let broken: Vec<String> = names_with(&report, "failed")
        .into_iter()
        .chain(names_with(&report, "error"))
        .collect();
    assert!(
        broken.is_empty(),
        "broken: {broken:?}: {:#?}",
        not_passed(&report)
    );
    for flow in ["rbac", "totp", "audit", "privacy"] {
        assert!(
            report.steps.iter().any(|s| s.flow == flow),
            "flow {flow} did not run"
        );
        let ours: Vec<String> = not_passed(&report)
            .into_iter()
            .filter(|n| n.starts_with(&format!("{flow}::")))
            .collect();
        assert!(ours.is_empty(), "not passed: {ours:#?}");
    }
    assert!(
        report.cleanups.iter().all(|c| c.result == "deleted"),
        "{:#?}",
        report.cleanups
    );
    assert!(
        leftovers.is_empty(),
        "smoke objects left behind: {leftovers:?}"
    );
    assert!(users.is_empty(), "disposable users left behind: {users:?}");
    assert!(plugins.is_empty(), "plugins left installed: {plugins:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn healthy_rbac_matrix_leaves_no_smoke_object_and_no_user() {
    let (report, server) = runner::run_keeping_server(
        &settings(&[]),
        &options(Some("rbac::")),
        &EnvSnapshot::default(),
        &Redactor::new(),
    )
    .await;
    let server = server.expect("the embedded server is handed back");
    let leftovers = server.smoke_entities();
    let users = server.smoke_users();
    let plugins = server.installed_plugins();
    server.shutdown().await;
    assert!(
        not_passed(&report).is_empty(),
        "not passed: {:#?}",
        not_passed(&report)
    );
    assert!(
        report.steps.len() > 100,
        "every cell reported: {}",
        report.steps.len()
    );
    assert!(
        leftovers.is_empty(),
        "smoke objects left behind: {leftovers:?}"
    );
    assert!(users.is_empty(), "disposable users left behind: {users:?}");
    assert!(plugins.is_empty(), "plugins left installed: {plugins:?}");
}

async fn assert_fault_fails_exactly(fault: &str, expected: &[&str]) -> RunReport {
    let report = run(&[fault]).await;
    let errors = names_with(&report, "error");
    assert!(
        errors.is_empty(),
        "{fault}: errors {errors:?}: {:#?}",
        not_passed(&report)
    );
    assert_eq!(
        failed(&report),
        set(expected),
        "{fault}: not passed: {:#?}",
        not_passed(&report)
    );
    common::assert_messages_name_expected_and_actual(&report);
    report
}

#[tokio::test(flavor = "multi_thread")]
async fn crew_reading_invoices_fails_the_named_cells() {
    // The list and the invoice by id: two cells, each named for what Crew did.
    let report = assert_fault_fails_exactly(
        "crew-reads-invoices",
        &[
            "rbac::crew_cannot_read_invoices",
            "rbac::crew_cannot_read_one_invoice",
        ],
    )
    .await;
    let text = failure_text(&report, "rbac::crew_cannot_read_invoices");
    assert!(text.contains("Crew cannot read invoices"), "{text}");
    assert!(text.contains("GET /api/invoices"), "{text}");
    assert!(text.contains("403") && text.contains("200"), "{text}");
    let text = failure_text(&report, "rbac::crew_cannot_read_one_invoice");
    assert!(text.contains("Crew cannot read one invoice"), "{text}");
}

/// A file on an invoice is hidden from those who cannot read the invoice: the
/// contract's x-access answer is 404, and a role that gets it anyway is named.
#[tokio::test(flavor = "multi_thread")]
async fn files_on_an_invoice_follow_the_invoice() {
    let report = assert_fault_fails_exactly(
        "invoice-files-any-role",
        &[
            "rbac::crew_cannot_download_invoice_files",
            "rbac::crew_cannot_read_invoice_files",
            "rbac::manager_cannot_download_invoice_files",
            "rbac::manager_cannot_read_invoice_files",
            "rbac::member_cannot_download_invoice_files",
            "rbac::member_cannot_read_invoice_files",
        ],
    )
    .await;
    let text = failure_text(&report, "rbac::crew_cannot_download_invoice_files");
    assert!(text.contains("404 not_found"), "{text}");
    assert!(text.contains("download-url"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn crew_locking_setlists_fails_one_named_cell() {
    let report =
        assert_fault_fails_exactly("crew-locks-setlist", &["rbac::crew_cannot_lock_setlists"])
            .await;
    let text = failure_text(&report, "rbac::crew_cannot_lock_setlists");
    assert!(
        text.contains("Crew cannot lock setlists") && text.contains("/lock"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_invoice_created_entry_fails_its_audit_check() {
    assert_fault_fails_exactly(
        "audit-missing-invoice-created",
        &["audit::invoice_created_audited"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reusable_recovery_code_fails_the_single_use_check() {
    assert_fault_fails_exactly(
        "recovery-code-reusable",
        &["totp::recovery_code_single_use"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn old_totp_code_accepted_fails_its_check() {
    assert_fault_fails_exactly("old-totp-accepted", &["totp::old_code_refused"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn export_without_objects_fails_its_check() {
    assert_fault_fails_exactly(
        "export-missing-objects",
        &["privacy::export_holds_created_objects"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleted_user_login_fails_its_check() {
    assert_fault_fails_exactly(
        "deleted-user-can-login",
        &["privacy::deleted_user_cannot_log_in"],
    )
    .await;
}

#[test]
fn production_profile_runs_every_security_and_data_gate() {
    // Post-deploy runs against production: every security and data gate of the
    // release checklist it can run safely, privacy (item 5.5) included, which
    // erases only the disposable user it creates.
    let post_deploy = stageos_smoke::catalogue::profile("post-deploy").expect("profile");
    let security = stageos_smoke::catalogue::profile("security").expect("profile");
    for f in ["rbac", "totp", "audit", "privacy"] {
        assert!(
            post_deploy.flows.iter().any(|x| x == f),
            "post-deploy lacks the security or data gate {f}"
        );
        assert!(
            security.flows.iter().any(|x| x == f),
            "security profile lacks {f}"
        );
    }
}

/// A run against `server` (a loopback URL) of the audit flow's steps.
async fn audit_run_against(server: &stageos_reference::RunningServer) -> RunReport {
    let env = EnvSnapshot::from_pairs(server.credentials().env_lines());
    let settings = Settings::resolve(
        &Overrides {
            target: Some(server.base_url()),
            profile: Some("security".into()),
            ..Default::default()
        },
        &env,
    )
    .expect("valid settings");
    runner::run(&settings, &options(Some("audit::")), &env, &Redactor::new()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_left_by_the_smoke_owner_is_replaced_one_by_someone_else_is_left_alone() {
    let server =
        stageos_reference::RunningServer::start(stageos_reference::ServerOptions::default())
            .await
            .expect("reference starts");
    // What an interrupted run leaves: the plugin installed by the smoke Owner.
    server
        .install_plugin_as("google-calendar", stageos_reference::Role::Owner)
        .expect("an owner");
    let report = audit_run_against(&server).await;
    assert!(
        not_passed(&report).is_empty(),
        "a leftover of our own must not wedge the audit flow: {:#?}",
        not_passed(&report)
    );
    assert!(server.installed_plugins().is_empty(), "removed at the end");
    // The user sees why: a note on the testcase (no log subscriber in normal runs).
    let install = report
        .steps
        .iter()
        .find(|s| s.full_name() == "audit::owner_installs_plugin")
        .expect("the install step is reported");
    assert!(
        install
            .notes
            .iter()
            .any(|n| n.starts_with("warning: plugin `google-calendar` left installed")),
        "{:?}",
        install.notes
    );

    // Installed by somebody else: the organisation's own use, not a defect. The
    // flow leaves it installed and uses the next free plugin: green.
    server
        .install_plugin_as("google-calendar", stageos_reference::Role::Manager)
        .expect("a manager");
    let report = audit_run_against(&server).await;
    assert!(
        not_passed(&report).is_empty(),
        "a plugin someone else installed is not a failure: {:#?}",
        not_passed(&report)
    );
    assert_eq!(
        server.installed_plugins(),
        vec!["google-calendar".to_owned()]
    );

    // Every plugin the flow may use is somebody else's: could not check, and all
    // are still installed.
    for key in stageos_smoke::flows::audit::PLUGIN_KEYS {
        server
            .install_plugin_as(key, stageos_reference::Role::Manager)
            .expect("a manager");
    }
    let report = audit_run_against(&server).await;
    assert_eq!(
        names_with(&report, "error"),
        set(&["audit::owner_installs_plugin"])
    );
    let mut left = server.installed_plugins();
    left.sort();
    let mut want: Vec<String> = stageos_smoke::flows::audit::PLUGIN_KEYS
        .iter()
        .map(|k| (*k).to_owned())
        .collect();
    want.sort();
    assert_eq!(left, want);
    server.shutdown().await;
}

/// Every refusal cell of the RBAC matrix has a fault that turns it, and only it,
/// red: the reference lets that one role through that one route's role check
/// (`role-bypass:<role>:<METHOD>:<route>`), and the rbac flow must name exactly
/// that cell.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_refusal_cell_of_the_matrix_has_a_fault_that_only_it_detects() {
    use futures::stream::{self, StreamExt};
    use stageos_smoke::flows::rbac;

    let m = rbac::matrix();
    let cells: Vec<(String, String)> = m
        .cells
        .iter()
        .filter(|c| rbac::is_refusal(c.expected))
        .map(|c| {
            let (method, target) = m.operations[c.operation]
                .request
                .split_once(' ')
                .expect("METHOD /path");
            let route = rbac::contract_path(target);
            (
                format!("role-bypass:{}:{method}:{route}", c.role.as_str()),
                format!("rbac::{}", c.step),
            )
        })
        .collect();
    assert!(cells.len() > 60, "refusal cells: {}", cells.len());
    let problems: Vec<String> = stream::iter(cells)
        .map(|(fault, cell)| async move {
            let report = runner::run(
                &settings(&[&fault]),
                &options(Some("rbac::")),
                &EnvSnapshot::default(),
                &Redactor::new(),
            )
            .await;
            let mut red = failed(&report);
            red.extend(names_with(&report, "error"));
            (red != set(&[cell.as_str()]))
                .then(|| format!("{fault}: expected [{cell}] red, got {red:?}"))
        })
        .buffer_unordered(4)
        .filter_map(|p| async move { p })
        .collect()
        .await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
