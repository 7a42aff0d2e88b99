//! The detection matrix: the whole suite (profile `full`) against the reference
//! server once per fault in its catalogue, checking for each the exact set of
//! testcases that must go red (failed or error) — no fewer, no more — and that the
//! run still cleaned up after itself. Prints the matrix and the detection rate.
//!
//! A fault in the catalogue without an expectation here fails the test.
//! Expectations name the fault instance to run (parameterised faults like
//! `latency:<route>:<ms>` get a value the suite's thresholds can see).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use futures::stream::{self, StreamExt};

use stageos_reference::Fault;
use stageos_smoke::config::{EnvSnapshot, Overrides, Settings};
use stageos_smoke::outcome::RunReport;
use stageos_smoke::runner::{self, RunOptions};
use stageos_smoke::secrets::Redactor;
use stageos_smoke::selection::Selection;

use common::*;

/// What a fault must do to the suite.
enum Expect {
    /// Run this fault instance; exactly these testcases are red.
    Red(&'static str, &'static [&'static str]),
    /// Not detectable by a single embedded run, with the test that covers it instead.
    CoveredElsewhere(&'static str),
}

fn expectations() -> BTreeMap<&'static str, Expect> {
    use Expect::*;
    BTreeMap::from([
        (
            "refresh-not-rotated",
            Red("refresh-not-rotated", &["auth::refresh_rotates_tokens"]),
        ),
        (
            "refresh-reuse-accepted",
            Red(
                "refresh-reuse-accepted",
                &["auth::reused_refresh_token_refused"],
            ),
        ),
        (
            "refresh-cookie-no-httponly",
            Red(
                "refresh-cookie-no-httponly",
                &["auth::refresh_cookie_flags"],
            ),
        ),
        (
            "refresh-cookie-no-secure",
            Red("refresh-cookie-no-secure", &["auth::refresh_cookie_flags"]),
        ),
        // Any MFA code accepted: every step that presents a wrong, old or spent code sees it.
        (
            "totp-not-checked",
            Red(
                "totp-not-checked",
                &[
                    "totp::wrong_code_refused",
                    "totp::old_code_refused",
                    "totp::recovery_code_single_use",
                    "audit::wrong_mfa_code_refused",
                ],
            ),
        ),
        (
            "logout-not-revoking",
            Red("logout-not-revoking", &["auth::logout_revokes_session"]),
        ),
        (
            "me-wrong-role",
            Red("me-wrong-role", &["auth::me_reports_role"]),
        ),
        (
            "health-degraded",
            Red("health-degraded", &["health::api_health_ok"]),
        ),
        (
            "lost-update",
            Red("lost-update", &["dossier::stale_if_match_refused"]),
        ),
        (
            "lock-not-enforced",
            Red("lock-not-enforced", &["setlist::edit_after_lock_refused"]),
        ),
        (
            "export-missing-item",
            Red(
                "export-missing-item",
                &[
                    "setlist::export_json",
                    "setlist::export_csv",
                    "setlist::export_pdf",
                ],
            ),
        ),
        // The PDF check accepts the total in any locale's rendering, and still
        // sees a total one second off in all of them.
        (
            "export-pdf-wrong-duration",
            Red("export-pdf-wrong-duration", &["setlist::export_pdf"]),
        ),
        (
            "invoice-total-off-by-cent",
            Red(
                "invoice-total-off-by-cent",
                &["invoice::totals_match_own_computation"],
            ),
        ),
        (
            "pdf-corrupt",
            Red("pdf-corrupt", &["invoice::pdf_downloads_and_parses"]),
        ),
        // Served an HTML error page instead of the PDF: could not check (an error).
        (
            "pdf-is-error-page",
            Red("pdf-is-error-page", &["invoice::pdf_downloads_and_parses"]),
        ),
        (
            "pdf-missing-number",
            Red(
                "pdf-missing-number",
                &["invoice::pdf_names_invoice_details"],
            ),
        ),
        // Any locale's rendering of the total is accepted; a total one cent off is not.
        (
            "pdf-wrong-total",
            Red("pdf-wrong-total", &["invoice::pdf_names_invoice_details"]),
        ),
        // Both steps that wait for a rendered PDF see the job hang.
        (
            "job-never-finishes",
            Red(
                "job-never-finishes",
                &[
                    "invoice::pdf_render_job_succeeds",
                    "audit::owner_renders_invoice_pdf",
                ],
            ),
        ),
        (
            "signature-not-checked",
            Red(
                "signature-not-checked",
                &[
                    "files::tampered_signature_refused",
                    "files::tampered_path_refused",
                    "files::tampered_expiry_refused",
                ],
            ),
        ),
        (
            "expiry-not-enforced",
            Red("expiry-not-enforced", &["files::expired_url_refused"]),
        ),
        (
            "infected-downloadable",
            Red(
                "infected-downloadable",
                &["files::infected_not_downloadable"],
            ),
        ),
        // The tolerant Content-Disposition reader still sees a wrong filename.
        (
            "download-wrong-filename",
            Red(
                "download-wrong-filename",
                &["files::download_matches_upload"],
            ),
        ),
        (
            "webhook-signature-wrong",
            Red("webhook-signature-wrong", &["webhooks::signatures_valid"]),
        ),
        (
            "webhook-no-retry",
            Red("webhook-no-retry", &["webhooks::failed_attempt_retried"]),
        ),
        (
            "delivery-log-lies",
            Red(
                "delivery-log-lies",
                &[
                    "webhooks::failed_attempt_retried",
                    "webhooks::delivery_log_agrees",
                ],
            ),
        ),
        (
            "delete-not-deleting",
            Red(
                "delete-not-deleting",
                &[
                    "dossier::deleted_event_is_gone",
                    "files::deleted_file_is_gone",
                    "webhooks::deleted_endpoint_gone",
                ],
            ),
        ),
        (
            "crew-reads-invoices",
            Red(
                "crew-reads-invoices",
                &[
                    "invoice::crew_cannot_read_invoices",
                    "rbac::crew_cannot_read_invoices",
                    "rbac::crew_cannot_read_one_invoice",
                ],
            ),
        ),
        // Object-level reads: the list refuses, the object by id must refuse too.
        (
            "invoice-get-any-role",
            Red(
                "invoice-get-any-role",
                &[
                    "invoice::crew_cannot_read_invoices",
                    "rbac::crew_cannot_read_one_invoice",
                    "rbac::manager_cannot_read_one_invoice",
                    "rbac::member_cannot_read_one_invoice",
                ],
            ),
        ),
        (
            "invoice-files-any-role",
            Red(
                "invoice-files-any-role",
                &[
                    "rbac::crew_cannot_download_invoice_files",
                    "rbac::crew_cannot_read_invoice_files",
                    "rbac::manager_cannot_download_invoice_files",
                    "rbac::manager_cannot_read_invoice_files",
                    "rbac::member_cannot_download_invoice_files",
                    "rbac::member_cannot_read_invoice_files",
                ],
            ),
        ),
        (
            "deliveries-any-role",
            Red(
                "deliveries-any-role",
                &[
                    "rbac::accountant_cannot_read_webhook_deliveries",
                    "rbac::crew_cannot_read_webhook_deliveries",
                    "rbac::manager_cannot_read_webhook_deliveries",
                    "rbac::member_cannot_read_webhook_deliveries",
                ],
            ),
        ),
        (
            "late-answer-accepted",
            Red(
                "late-answer-accepted",
                &["availability::closed_request_refuses_late_answer"],
            ),
        ),
        (
            "non-invitee-answers",
            Red(
                "non-invitee-answers",
                &["availability::non_invitee_refused"],
            ),
        ),
        (
            "availability-counts-wrong",
            Red("availability-counts-wrong", &["availability::counts_match"]),
        ),
        (
            "crew-locks-setlist",
            Red("crew-locks-setlist", &["rbac::crew_cannot_lock_setlists"]),
        ),
        (
            "audit-missing-invoice-created",
            Red(
                "audit-missing-invoice-created",
                &["audit::invoice_created_audited"],
            ),
        ),
        // The target of an auth.* entry is left open by the contract; the entry
        // itself is required.
        (
            "audit-missing-login",
            Red("audit-missing-login", &["audit::auth_login_audited"]),
        ),
        (
            "recovery-code-reusable",
            Red(
                "recovery-code-reusable",
                &["totp::recovery_code_single_use"],
            ),
        ),
        (
            "old-totp-accepted",
            Red("old-totp-accepted", &["totp::old_code_refused"]),
        ),
        (
            "export-missing-objects",
            Red(
                "export-missing-objects",
                &["privacy::export_holds_created_objects"],
            ),
        ),
        (
            "deleted-user-can-login",
            Red(
                "deleted-user-can-login",
                &["privacy::deleted_user_cannot_log_in"],
            ),
        ),
        (
            "queue-depth-high",
            Red("queue-depth-high", &["metrics::queue_depth_within_limits"]),
        ),
        (
            "jobs-failed-rising",
            Red("jobs-failed-rising", &["metrics::no_new_failed_jobs"]),
        ),
        (
            "stripe-failures",
            Red(
                "stripe-failures",
                &["metrics::stripe_webhook_success_ratio"],
            ),
        ),
        (
            "analytics-stale",
            Red("analytics-stale", &["metrics::analytics_aggregation_fresh"]),
        ),
        (
            "retention-purge-stale",
            Red(
                "retention-purge-stale",
                &["release::retention_purge_observed"],
            ),
        ),
        (
            "error-tracking-silent",
            Red(
                "error-tracking-silent",
                &["release::error_tracking_ingesting"],
            ),
        ),
        (
            "auth-failure-spike",
            Red(
                "auth-failure-spike",
                &[
                    "metrics::auth_failures_not_spiking",
                    "metrics::ip_anomalies_not_spiking",
                ],
            ),
        ),
        // Every step that reads /metrics cannot check: errors naming the bad line.
        (
            "metrics-malformed",
            Red(
                "metrics-malformed",
                &[
                    "metrics::metrics_scraped",
                    "release::error_tracking_ingesting",
                    "release::retention_purge_observed",
                ],
            ),
        ),
        // The API reports another release than the worker and web: the tag is
        // malformed, and the services no longer agree with the API.
        (
            "version-mismatch",
            Red(
                "version-mismatch",
                &[
                    "release::release_tag",
                    "health::services_same_release",
                    "release::rollout_order",
                ],
            ),
        ),
        (
            "service-on-previous-release",
            Red(
                "service-on-previous-release",
                &["health::services_same_release", "release::rollout_order"],
            ),
        ),
        (
            "rollout-out-of-order",
            Red("rollout-out-of-order", &["release::rollout_order"]),
        ),
        (
            "restore-test-stale",
            CoveredElsewhere(
                "the AWS Backup stand-in is read through the embedded run's seeded account, which needs the emulator: tests/embedded_emulator.rs, exactly release::restore_tested red",
            ),
        ),
        (
            "latency",
            Red("latency:/api/me:1500", &["auth::latency_within_budget"]),
        ),
        // One instance here; tests/security.rs runs one per refusal cell of the matrix.
        (
            "role-bypass",
            Red(
                "role-bypass:crew:POST:/api/setlists/{id}/lock",
                &["rbac::crew_cannot_lock_setlists"],
            ),
        ),
        (
            "error-rate",
            CoveredElsewhere(
                "random 5xx on a share of requests moves the CloudWatch error-budget gate: tests/gates.rs, end to end against the emulator",
            ),
        ),
        ("jitter", Red("jitter:50", &[])),
        // A target that throttles logins (every sixth waits 1 s), a request the
        // suite repeats safely: waited out within the deadline, green.
        // tests/throttling.rs covers the deadline and 20 back-to-back runs.
        ("throttle", Red("throttle:/api/auth/login:5:1", &[])),
        // The target's clock 3 s behind ours: expiry is judged by its Date header.
        ("clock", Red("clock:-3000", &[])),
    ])
}

/// The expectation key of a catalogue fault: its name without parameters.
fn kind(f: &Fault) -> String {
    let name = f.to_string();
    match name.split_once(':') {
        Some((k, _))
            if [
                "latency",
                "error-rate",
                "jitter",
                "clock",
                "role-bypass",
                "throttle",
            ]
            .contains(&k) =>
        {
            k.to_owned()
        }
        _ => name,
    }
}

async fn run_with(fault: &str) -> (RunReport, Vec<String>) {
    let dir = temp_dir("detection");
    let cfg = dir.join("stageos-smoke.toml");
    std::fs::write(
        &cfg,
        "default_environment = \"detection\"\n[environments.detection]\nwait_deadline_ms = 5000\n",
    )
    .unwrap();
    let overrides = Overrides {
        target: Some("embedded".into()),
        profile: Some("full".into()),
        config: Some(cfg),
        faults: vec![fault.to_owned()],
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
    let leftovers = server.smoke_entities();
    server.shutdown().await;
    (report, leftovers)
}

fn red(report: &RunReport) -> BTreeSet<String> {
    let mut s = names_with(report, "failed");
    s.extend(names_with(report, "error"));
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_catalogued_fault_is_detected_with_exact_attribution() {
    let expect = expectations();
    let catalogue = Fault::catalogue();
    let missing: Vec<String> = catalogue
        .iter()
        .map(kind)
        .filter(|k| !expect.contains_key(k.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "faults without an expectation in tests/detection.rs: {missing:?}"
    );
    let stale: Vec<&&str> = expect
        .keys()
        .filter(|k| !catalogue.iter().any(|f| kind(f) == **k))
        .collect();
    assert!(
        stale.is_empty(),
        "expectations for faults no longer in the catalogue: {stale:?}"
    );

    // STAGEOS_DETECTION_ONLY=a,b runs only those faults (while developing a check).
    let only: Option<Vec<String>> = std::env::var("STAGEOS_DETECTION_ONLY")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect());
    let runs: Vec<(&str, &str, &[&str])> = expect
        .iter()
        .filter(|(k, _)| only.as_ref().is_none_or(|o| o.iter().any(|x| x == *k)))
        .filter_map(|(k, e)| match e {
            Expect::Red(instance, steps) => Some((*k, *instance, *steps)),
            Expect::CoveredElsewhere(_) => None,
        })
        .collect();
    let results: Vec<_> = stream::iter(runs)
        .map(|(k, instance, steps)| async move {
            let (report, leftovers) = run_with(instance).await;
            (k, instance, steps, report, leftovers)
        })
        .buffer_unordered(2)
        .collect()
        .await;

    let mut problems = Vec::new();
    let mut detected = 0;
    let mut faults = 0;
    eprintln!("\ndetection matrix (profile full, one run per fault)");
    for (k, instance, steps, report, leftovers) in &results {
        let want = set(steps);
        let got = red(report);
        let ok = want == got;
        if !steps.is_empty() {
            faults += 1;
            if ok {
                detected += 1;
            }
        }
        eprintln!(
            "  {:<28} {:<4} {}",
            instance,
            if ok { "ok" } else { "MISS" },
            got.iter().cloned().collect::<Vec<_>>().join(", ")
        );
        if !ok {
            problems.push(format!("{instance}: expected red {want:?}, got {got:?}"));
        }
        let allowed_leftovers = *k == "delete-not-deleting";
        if !allowed_leftovers && !leftovers.is_empty() {
            problems.push(format!("{instance}: smoke data left behind: {leftovers:?}"));
        }
    }
    for (k, e) in &expect {
        if let Expect::CoveredElsewhere(why) = e {
            eprintln!("  {k:<28} elsewhere: {why}");
        }
    }
    eprintln!("detection rate: {detected}/{faults} faults detected with exact attribution\n");
    assert!(
        problems.is_empty(),
        "detection matrix problems:\n{}",
        problems.join("\n")
    );
}
