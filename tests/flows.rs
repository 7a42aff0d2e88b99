//! The business flows (dossier, availability, setlist, invoice, files, webhooks)
//! against the embedded reference StageOS: every step passes on a healthy server,
//! and each reference fault fails exactly the steps that guard the behaviour it
//! breaks — nothing more, nothing less — with nothing left behind.

use std::collections::BTreeSet;
use std::time::Duration;

use stageos_smoke::config::{EnvSnapshot, Overrides, Settings, WebhookMode};
use stageos_smoke::outcome::{RunReport, StepOutcome};
use stageos_smoke::runner::{self, RunOptions};
use stageos_smoke::secrets::Redactor;
use stageos_smoke::selection::Selection;

/// Short waits: the reference's background work takes milliseconds, its webhook
/// retries one second.
const WAIT: Duration = Duration::from_secs(5);

struct Outcome {
    report: RunReport,
    /// `kind:id` of smoke entities still on the server after the run.
    leftovers: Vec<String>,
    redactor: Redactor,
}

async fn run_flow(flow: &str, faults: &[&str], tweak: impl FnOnce(&mut Settings)) -> Outcome {
    let overrides = Overrides {
        target: Some("embedded".into()),
        profile: Some("full".into()),
        faults: faults.iter().map(|f| (*f).to_owned()).collect(),
        ..Overrides::default()
    };
    let env = EnvSnapshot::default();
    let mut settings = Settings::resolve(&overrides, &env).expect("valid settings");
    settings.wait_deadline = WAIT;
    tweak(&mut settings);
    let options = RunOptions {
        selection: Selection {
            filter: Some(format!("{flow}::")),
            ..Selection::default()
        },
        concurrency: 1,
    };
    let redactor = Redactor::new();
    let (report, server) = runner::run_keeping_server(&settings, &options, &env, &redactor).await;
    let server = server.expect("the embedded target hands its server back");
    let leftovers = server.smoke_entities();
    server.shutdown().await;
    Outcome {
        report,
        leftovers,
        redactor,
    }
}

fn with(report: &RunReport, label: &str) -> BTreeSet<String> {
    report
        .steps
        .iter()
        .filter(|s| s.outcome.label() == label)
        .map(|s| s.full_name())
        .collect()
}

fn describe(report: &RunReport) -> String {
    report
        .steps
        .iter()
        .filter(|s| s.outcome != StepOutcome::Passed)
        .map(|s| {
            format!(
                "  {} {}: {}",
                s.outcome.label(),
                s.full_name(),
                s.outcome.message().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn names(flow: &str, steps: &[&str]) -> BTreeSet<String> {
    steps.iter().map(|s| format!("{flow}::{s}")).collect()
}

/// Steps of the mode not in use (webhook receiver vs delivery log) are skipped by design.
fn mode_skips(report: &RunReport) -> BTreeSet<String> {
    with(report, "skipped")
        .into_iter()
        .filter(|n| {
            n.starts_with("webhooks::delivery_log_only_") || n == "webhooks::start_receiver"
        })
        .collect()
}

fn assert_healthy(flow: &str, out: &Outcome) {
    let r = &out.report;
    assert!(r.run_error.is_none(), "{flow}: run error {:?}", r.run_error);
    assert!(!r.steps.is_empty(), "{flow}: no steps reported");
    assert!(
        r.steps.iter().all(|s| s.flow == flow),
        "{flow}: steps of other flows reported"
    );
    let not_passed: BTreeSet<String> = r
        .steps
        .iter()
        .filter(|s| s.outcome != StepOutcome::Passed)
        .map(|s| s.full_name())
        .collect();
    let allowed = mode_skips(r);
    assert!(
        not_passed.is_subset(&allowed),
        "{flow} on a healthy server:\n{}",
        describe(r)
    );
    assert!(
        out.leftovers.is_empty(),
        "{flow} left smoke entities behind: {:?}",
        out.leftovers
    );
    assert!(
        r.cleanups.iter().all(|c| c.result == "deleted"),
        "{flow}: cleanups {:?}",
        r.cleanups
    );
}

async fn assert_fault(flow: &str, fault: &str, expected: &[&str]) {
    let out = run_flow(flow, &[fault], |_| {}).await;
    let r = &out.report;
    assert!(
        r.run_error.is_none(),
        "{flow}/{fault}: run error {:?}",
        r.run_error
    );
    assert_eq!(
        with(r, "failed"),
        names(flow, expected),
        "{flow} with fault {fault}: failed steps differ\n{}",
        describe(r)
    );
    assert!(
        with(r, "error").is_empty(),
        "{flow} with fault {fault}: steps could not check\n{}",
        describe(r)
    );
    for s in &r.steps {
        if let StepOutcome::Failed {
            message,
            expected,
            actual,
        } = &s.outcome
        {
            assert!(
                !expected.is_empty() && !actual.is_empty() && message.contains(actual.as_str()),
                "{}: unhelpful failure {message:?}",
                s.full_name()
            );
        }
    }
    if fault != "delete-not-deleting" {
        assert!(
            out.leftovers.is_empty(),
            "{flow} with fault {fault} left smoke entities behind: {:?}",
            out.leftovers
        );
    }
}

macro_rules! healthy {
    ($name:ident, $flow:literal) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let out = run_flow($flow, &[], |_| {}).await;
            assert_healthy($flow, &out);
        }
    };
}

macro_rules! fault {
    ($name:ident, $flow:literal, $fault:literal, [$($step:literal),+ $(,)?]) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            assert_fault($flow, $fault, &[$($step),+]).await;
        }
    };
}

healthy!(dossier_passes_on_a_healthy_server, "dossier");
healthy!(availability_passes_on_a_healthy_server, "availability");
healthy!(setlist_passes_on_a_healthy_server, "setlist");
healthy!(invoice_passes_on_a_healthy_server, "invoice");
healthy!(files_passes_on_a_healthy_server, "files");
healthy!(webhooks_passes_on_a_healthy_server, "webhooks");

fault!(
    lost_update,
    "dossier",
    "lost-update",
    ["stale_if_match_refused"]
);
fault!(
    delete_not_deleting_event,
    "dossier",
    "delete-not-deleting",
    ["deleted_event_is_gone"]
);
fault!(
    lock_not_enforced,
    "setlist",
    "lock-not-enforced",
    ["edit_after_lock_refused"]
);
fault!(
    export_missing_item,
    "setlist",
    "export-missing-item",
    ["export_json", "export_csv", "export_pdf"]
);
fault!(
    invoice_total_off_by_cent,
    "invoice",
    "invoice-total-off-by-cent",
    ["totals_match_own_computation"]
);
fault!(
    pdf_corrupt,
    "invoice",
    "pdf-corrupt",
    ["pdf_downloads_and_parses"]
);
fault!(
    pdf_missing_number,
    "invoice",
    "pdf-missing-number",
    ["pdf_names_invoice_details"]
);
fault!(
    job_never_finishes,
    "invoice",
    "job-never-finishes",
    ["pdf_render_job_succeeds"]
);
fault!(
    signature_not_checked,
    "files",
    "signature-not-checked",
    [
        "tampered_signature_refused",
        "tampered_path_refused",
        "tampered_expiry_refused"
    ]
);
fault!(
    expiry_not_enforced,
    "files",
    "expiry-not-enforced",
    ["expired_url_refused"]
);
fault!(
    infected_downloadable,
    "files",
    "infected-downloadable",
    ["infected_not_downloadable"]
);
fault!(
    delete_not_deleting_file,
    "files",
    "delete-not-deleting",
    ["deleted_file_is_gone"]
);
fault!(
    webhook_signature_wrong,
    "webhooks",
    "webhook-signature-wrong",
    ["signatures_valid"]
);
fault!(
    webhook_no_retry,
    "webhooks",
    "webhook-no-retry",
    ["failed_attempt_retried"]
);
// Recording a 500 as `succeeded` also ends the retries: both behaviours break.
fault!(
    delivery_log_lies,
    "webhooks",
    "delivery-log-lies",
    ["failed_attempt_retried", "delivery_log_agrees"]
);
fault!(
    delete_not_deleting_endpoint,
    "webhooks",
    "delete-not-deleting",
    ["deleted_endpoint_gone"]
);

/// Delivery-log mode: the target delivers to an address nobody listens on; the
/// flow names its steps so and checks the log alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_delivery_log_mode() {
    let out = run_flow("webhooks", &[], |s| {
        s.webhook.mode = WebhookMode::DeliveryLog;
        // Port 9 (discard) on loopback: connection refused, nothing answers.
        s.webhook.public_url =
            Some(url::Url::parse("http://127.0.0.1:9/stageos-smoke").expect("url"));
    })
    .await;
    let r = &out.report;
    let passed = with(r, "passed");
    for step in [
        "delivery_log_only_test_recorded",
        "delivery_log_only_event_recorded",
        "delivery_log_only_consistent",
        "register_endpoint",
        "delete_endpoint",
    ] {
        assert!(
            passed.contains(&format!("webhooks::{step}")),
            "{step} did not pass:\n{}",
            describe(r)
        );
    }
    for step in [
        "start_receiver",
        "test_delivery_received",
        "failed_attempt_retried",
        "delivery_log_agrees",
    ] {
        let s = r.steps.iter().find(|s| s.step == step).expect("reported");
        match &s.outcome {
            StepOutcome::Skipped { reason } => {
                assert!(reason.contains("delivery-log mode"), "{reason}")
            }
            other => panic!("{step}: {other:?}"),
        }
    }
    assert!(out.leftovers.is_empty(), "{:?}", out.leftovers);
}

/// Signed-URL signatures and the webhook secret never reach a report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_and_secrets_are_registered_for_redaction() {
    let files = run_flow("files", &[], |_| {}).await;
    assert!(
        files
            .redactor
            .known()
            .iter()
            .any(|k| k.len() == 64 && k.chars().all(|c| c.is_ascii_hexdigit())),
        "no signature registered"
    );
    let hooks = run_flow("webhooks", &[], |_| {}).await;
    assert!(
        hooks
            .redactor
            .known()
            .iter()
            .any(|k| k.starts_with("whsec_")),
        "webhook secret not registered"
    );
}

/// The sweep deletes old smoke-tagged leftovers and never untagged data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_removes_smoke_leftovers_only() {
    use stageos_smoke::credentials::{Role, UserCredential};
    use stageos_smoke::flows::common::login_with_retry;
    use stageos_smoke::http::{HttpContext, Recorder, Session};
    use stageos_smoke::sweep::{Action, SweepSessions, sweep};

    // A broken delete leaves the webhooks flow's endpoint and event behind.
    let overrides = Overrides {
        target: Some("embedded".into()),
        profile: Some("full".into()),
        faults: vec!["delete-not-deleting".into()],
        ..Overrides::default()
    };
    let env = EnvSnapshot::default();
    let mut settings = Settings::resolve(&overrides, &env).expect("valid settings");
    settings.wait_deadline = WAIT;
    let options = RunOptions {
        selection: Selection {
            filter: Some("webhooks::".into()),
            ..Selection::default()
        },
        concurrency: 1,
    };
    let redactor = Redactor::new();
    let (_, server) = runner::run_keeping_server(&settings, &options, &env, &redactor).await;
    let server = server.expect("server");
    server.set_faults(vec![]);
    assert!(
        !server.smoke_entities().is_empty(),
        "the fault should have left smoke data"
    );

    let base = url::Url::parse(&server.base_url()).expect("url");
    let http = HttpContext {
        settings: std::sync::Arc::new(settings.http.clone()),
        run_id: "sweep-test".into(),
        redactor: redactor.clone(),
        logins: Default::default(),
        clock: Default::default(),
    };
    let creds = server.credentials();
    let login = |role: Role| {
        let seed = creds.user(role.as_str().parse().expect("role"));
        let user = UserCredential {
            role,
            email: seed.email.clone(),
            password: secrecy::SecretString::from(seed.password.clone()),
        };
        let totp = (role == Role::Owner).then(|| creds.owner_totp_secret.clone());
        let session = Session::new(
            role.as_str(),
            base.clone(),
            http.clone(),
            Recorder::new(std::time::Instant::now()),
        )
        .expect("session");
        async move {
            let mut session = session;
            login_with_retry(&mut session, &user, totp.as_deref())
                .await
                .expect("login");
            session
        }
    };
    let sessions = SweepSessions {
        manager: login(Role::Manager).await,
        accountant: login(Role::Accountant).await,
        owner: login(Role::Owner).await,
    };

    // Customer data (no smoke tag) must survive.
    let resp = sessions
        .manager
        .post("/api/events")
        .json(&serde_json::json!({ "title": "Customer gig", "venue": { "name": "Club", "city": "Hamburg", "country": "DE" }, "starts_at": "2031-01-01T20:00:00Z", "ends_at": "2031-01-01T23:00:00Z", "timezone": "Europe/Berlin", "tags": ["customer"] }))
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status.as_u16(), 201);
    let customer: serde_json::Value = resp.json().expect("json");
    let customer_path = format!("/api/events/{}", customer["id"].as_str().expect("id"));

    // Nothing is older than an hour yet.
    let young = sweep(&base, &sessions, Duration::from_secs(3600))
        .await
        .expect("sweep");
    assert!(young.items.is_empty(), "{:?}", young.items);

    let report = sweep(&base, &sessions, Duration::ZERO)
        .await
        .expect("sweep");
    assert!(
        report
            .items
            .iter()
            .any(|i| i.kind == "webhook_endpoint" && i.action == Action::Deleted),
        "{:?}",
        report.items
    );
    assert!(
        report
            .items
            .iter()
            .any(|i| i.kind == "event" && i.action == Action::Deleted),
        "{:?}",
        report.items
    );
    assert!(!report.has_failures(), "{:?}", report.items);
    let left: Vec<String> = server
        .smoke_entities()
        .into_iter()
        .filter(|e| !customer_path.ends_with(e.trim_start_matches("event:")))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let still = sessions
        .manager
        .get(&customer_path)
        .send()
        .await
        .expect("get");
    assert_eq!(
        still.status.as_u16(),
        200,
        "the sweep touched untagged data"
    );
    server.shutdown().await;
}

/// The metrics gates judge deltas between a scrape at the start of the run and one
/// at its end: the second scrape comes after every other flow finished, even with
/// one flow at a time (the metrics flow does not take a `--test-threads` slot).
#[tokio::test(flavor = "multi_thread")]
async fn metrics_scrapes_bracket_the_whole_run() {
    for concurrency in [4, 1] {
        let settings = Settings::resolve(
            &Overrides {
                target: Some("embedded".into()),
                profile: Some("post-deploy".into()),
                ..Overrides::default()
            },
            &EnvSnapshot::default(),
        )
        .expect("settings");
        let options = RunOptions {
            selection: Selection::default(),
            concurrency,
        };
        let report = runner::run(
            &settings,
            &options,
            &EnvSnapshot::default(),
            &Redactor::new(),
        )
        .await;
        let scraped = report
            .steps
            .iter()
            .find(|s| s.full_name() == "metrics::metrics_scraped")
            .expect("metrics_scraped ran");
        assert_eq!(
            scraped.outcome,
            StepOutcome::Passed,
            "{:?}",
            scraped.outcome
        );
        let others = report.steps.iter().filter(|s| s.flow != "metrics");
        let first_start = others
            .clone()
            .map(|s| s.start_ms)
            .fold(f64::INFINITY, f64::min);
        let last_end = others
            .map(|s| s.start_ms + s.duration_ms)
            .fold(0.0, f64::max);
        // The first scrape is the metrics flow's first request, at the start of
        // the run (its HTTP client is built first; the bound is not a timing
        // target, only "before the run is under way": the run takes seconds).
        assert!(
            scraped.start_ms <= first_start + 500.0,
            "concurrency {concurrency}: the first scrape began at {} ms, other flows at {first_start} ms",
            scraped.start_ms
        );
        assert!(
            scraped.start_ms + scraped.duration_ms >= last_end,
            "concurrency {concurrency}: the second scrape ended at {} ms, before the last other step ended at {last_end} ms",
            scraped.start_ms + scraped.duration_ms
        );
    }
}
