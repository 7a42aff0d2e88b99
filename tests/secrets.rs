//! No secret the run knew may appear in stdout, stderr, junit.xml, summary.json,
//! summary.md or the GitHub step summary — on a passing and on a failing run.

mod common;

use stageos_reference::{Credentials, Fault, RunningServer, ServerOptions};

use common::*;

fn scan(haystacks: &[(String, String)], secrets: &[String]) {
    for (name, text) in haystacks {
        for s in secrets {
            assert!(
                !text.contains(s.as_str()),
                "a secret ({} chars, starts {:?}) leaked into {name}",
                s.len(),
                &s[..2]
            );
        }
        // Tokens the test cannot know in advance: JWTs always start with a base64 `{"`.
        assert!(
            !text.contains("eyJ"),
            "something JWT-like leaked into {name}"
        );
    }
}

fn outputs_of(dir: &std::path::Path, out: &std::process::Output) -> Vec<(String, String)> {
    let (stdout, stderr) = text(out);
    let mut v = vec![("stdout".to_owned(), stdout), ("stderr".to_owned(), stderr)];
    for f in [
        "junit.xml",
        "summary.json",
        "summary.md",
        "index.html",
        "step-summary.md",
    ] {
        v.push((
            f.to_owned(),
            std::fs::read_to_string(dir.join(f)).unwrap_or_else(|_| panic!("{f} written")),
        ));
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_outputs_hold_no_seeded_secret() {
    cli_outputs_hold_no_secret_of(None).await;
}

/// Passwords holding what JUnit (`& < "`), JSON (`" \`) and Markdown (`|`) escape:
/// the run still logs in, and neither the secret nor its escaped form is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_with_markup_and_escape_characters_never_leak() {
    let mut creds = Credentials::generate();
    for (i, u) in creds.users.iter_mut().enumerate() {
        u.password = format!("{}&<\"\\|'>{i}", u.password);
    }
    cli_outputs_hold_no_secret_of(Some(creds)).await;
}

/// Every form a serialiser may give `secret`: raw, JSON-escaped, XML-escaped.
fn escaped_forms(secret: &str) -> Vec<String> {
    let json = serde_json::to_string(secret).unwrap();
    let xml = secret
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;");
    let mut forms = vec![secret.to_owned(), json.trim_matches('"').to_owned(), xml];
    forms.dedup();
    forms
}

async fn cli_outputs_hold_no_secret_of(credentials: Option<Credentials>) {
    let server = RunningServer::start(ServerOptions {
        credentials,
        ..ServerOptions::default()
    })
    .await
    .expect("reference starts");
    let creds = server.credentials().clone();
    let mut env: Vec<(String, String)> = creds.env_lines();
    env.push(("STAGEOS_BASE_URL".into(), server.base_url()));
    let mut secrets: Vec<String> = creds
        .users
        .iter()
        .flat_map(|u| escaped_forms(&u.password))
        .collect();
    secrets.push(creds.owner_totp_secret.clone());
    secrets.push(creds.owner_totp_secret.to_lowercase());

    for (label, faults) in [
        ("passing", vec![]),
        ("failing", vec![Fault::MeWrongRole, Fault::TotpNotChecked]),
    ] {
        server.set_faults(faults);
        let dir = temp_dir(&format!("secrets-{label}"));
        let mut cmd = cli();
        cmd.args(["run", "--report-dir"])
            .arg(&dir)
            .envs(env.clone())
            .env("GITHUB_STEP_SUMMARY", dir.join("step-summary.md"));
        let out = tokio::task::spawn_blocking(move || cmd.output().expect("run cli"))
            .await
            .unwrap();
        let expected_code = if label == "passing" { 0 } else { 1 };
        assert_eq!(
            out.status.code(),
            Some(expected_code),
            "{label}: {:?}",
            text(&out)
        );
        scan(&outputs_of(&dir, &out), &secrets);
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_reports_hold_no_secret_the_run_learned() {
    let (report, redactor) = run_embedded(None, None, &["me-wrong-role"]).await;
    let known = redactor.known();
    // Passwords, the seed, access/refresh/MFA tokens at the least.
    assert!(
        known.len() >= 8,
        "the redactor learned too little: {}",
        known.len()
    );
    let rendered = vec![
        (
            "junit".to_owned(),
            redactor.redact(&stageos_smoke::report::junit::render(&report)),
        ),
        (
            "json".to_owned(),
            redactor.redact(&stageos_smoke::report::json::render(&report)),
        ),
        (
            "markdown".to_owned(),
            redactor.redact(&stageos_smoke::report::markdown::render(&report)),
        ),
        (
            "terminal".to_owned(),
            stageos_smoke::report::terminal::render(&report, &redactor),
        ),
    ];
    scan(&rendered, &known);
}
