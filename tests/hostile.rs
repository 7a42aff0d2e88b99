//! Hostile and broken targets: each case lands as an `<error>` naming the cause in
//! the step that met it, the run exits 3 ("could not check"), never hangs past its
//! deadlines, and still writes a JUnit file that consumers parse.
//!
//! The hostile server is a raw TCP listener on loopback that answers `/api/health`
//! sanely (so the run gets past its reachability check) and everything else with
//! the misbehaviour under test. The same responder sits behind a self-signed TLS
//! certificate for the "certificate invalid" case. The DNS case runs the CLI in a
//! network namespace of its own (`unshare -n`) with a `.invalid` host, so no query
//! can leave the machine. `/metrics` with malformed lines and a PDF that is an
//! HTML error page are reference-server faults, run through the CLI here too.

mod common;

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use common::*;

#[derive(Clone, Copy, Debug)]
enum Hostile {
    NeverAnswers,
    OneBytePerSecond,
    HtmlErrorPage,
    TruncatedJson,
    HugeBody,
    HugeChunkedBody,
    RedirectLoop,
    Unavailable,
}

const HEALTH: &str = r#"{"status":"ok","version":"v1.0.0-20261125","commit":"abc","checks":{"database":{"status":"ok","latency_ms":1},"queue":{"status":"ok","latency_ms":1},"storage":{"status":"ok","latency_ms":1}},"migrations":{"status":"in_sync","pending":0}}"#;

async fn read_head<S: AsyncRead + Unpin>(sock: &mut S) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

async fn respond<S: AsyncRead + AsyncWrite + Unpin>(mut sock: S, mode: Hostile) {
    let Some(head) = read_head(&mut sock).await else {
        return;
    };
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    if path == "/api/health" {
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{HEALTH}",
            HEALTH.len()
        );
        let _ = sock.write_all(resp.as_bytes()).await;
        return;
    }
    let simple = |status: &str, ct: &str, extra: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
            body.len()
        )
    };
    match mode {
        Hostile::NeverAnswers => {
            // Hold the connection open, say nothing; bounded so the test cannot leak forever.
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Hostile::OneBytePerSecond => {
            let body = r#"{"access_token":"x","token_type":"Bearer","expires_in":900,"user":{}}"#;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            if sock.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            for b in body.bytes() {
                tick.tick().await;
                if sock.write_all(&[b]).await.is_err() {
                    return;
                }
            }
        }
        Hostile::HtmlErrorPage => {
            let _ = sock
                .write_all(
                    simple(
                        "200 OK",
                        "text/html",
                        "",
                        "<html><body><h1>Oops</h1>Something went wrong</body></html>",
                    )
                    .as_bytes(),
                )
                .await;
        }
        Hostile::TruncatedJson => {
            let _ = sock
                .write_all(
                    simple(
                        "200 OK",
                        "application/json",
                        "",
                        r#"{"access_token": "abc", "user": {"id": "#,
                    )
                    .as_bytes(),
                )
                .await;
        }
        Hostile::HugeBody | Hostile::HugeChunkedBody => {
            let head = if matches!(mode, Hostile::HugeBody) {
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n".to_owned()
            } else {
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_owned()
            };
            if sock.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let zeros = vec![b' '; 64 * 1024];
            // At most 1 GiB; the client is expected to hang up long before.
            for _ in 0..16_384 {
                let ok = if matches!(mode, Hostile::HugeBody) {
                    sock.write_all(&zeros).await.is_ok()
                } else {
                    sock.write_all(format!("{:x}\r\n", zeros.len()).as_bytes())
                        .await
                        .is_ok()
                        && sock.write_all(&zeros).await.is_ok()
                        && sock.write_all(b"\r\n").await.is_ok()
                };
                if !ok {
                    return;
                }
            }
        }
        Hostile::RedirectLoop => {
            let _ = sock
                .write_all(
                    simple(
                        "302 Found",
                        "text/plain",
                        &format!("Location: {path}\r\n"),
                        "",
                    )
                    .as_bytes(),
                )
                .await;
        }
        Hostile::Unavailable => {
            let body = r#"{"error":{"code":"service_unavailable","message":"maintenance"}}"#;
            let _ = sock
                .write_all(
                    simple(
                        "503 Service Unavailable",
                        "application/json",
                        "Retry-After: 120\r\n",
                        body,
                    )
                    .as_bytes(),
                )
                .await;
        }
    }
}

async fn hostile_server(mode: Hostile) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(respond(sock, mode));
        }
    });
    (url, task)
}

/// A self-signed certificate for 127.0.0.1 and a TLS listener serving `mode`.
async fn hostile_tls_server(mode: Hostile) -> (String, tokio::task::JoinHandle<()>) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends here.
                if let Ok(tls) = acceptor.accept(sock).await {
                    respond(tls, mode).await;
                }
            });
        }
    });
    (url, task)
}

/// One CLI run that must end "could not check" with the cause in `step`.
struct Case<'a> {
    /// For messages and the report directory.
    label: &'a str,
    /// `--target` (none: the embedded reference).
    target: Option<&'a str>,
    /// Reference faults (`--fault`).
    faults: &'a [&'a str],
    /// Extra lines for the environment's config table.
    config: &'a str,
    /// A program (and its arguments) the CLI runs under, e.g. `unshare -n`.
    wrapper: &'a [&'a str],
    /// The one selected step (`--exact`).
    step: &'a str,
    /// What the `<error>` message must name.
    needle: &'a str,
}

async fn run_case(case: Case<'_>) {
    let label = case.label;
    let dir = temp_dir(&format!("hostile-{label}"));
    let cfg = dir.join("stageos-smoke.toml");
    std::fs::write(
        &cfg,
        format!(
            "default_environment = \"hostile\"\n[environments.hostile]\nrequest_timeout_ms = 1500\nstep_timeout_ms = 4000\nmax_body_bytes = 1048576\n{}",
            case.config
        ),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_stageos-smoke");
    let mut cmd = match case.wrapper.split_first() {
        Some((program, args)) => {
            let mut c = cli_with_program(program);
            c.args(args).arg(bin);
            c
        }
        None => cli(),
    };
    cmd.args(["run", "--exact", case.step, "--config"])
        .arg(&cfg)
        .arg("--report-dir")
        .arg(&dir);
    if let Some(target) = case.target {
        cmd.args(["--target", target]).envs(fake_remote_secrets());
    }
    for fault in case.faults {
        cmd.args(["--fault", fault]);
    }
    // A guard against a hang of the suite itself (not a speed assertion).
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || cmd.output().expect("run cli")),
    )
    .await
    .unwrap_or_else(|_| panic!("{label}: the suite hung"))
    .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{label}: exit code\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "{label}: the suite panicked:\n{stderr}"
    );
    let xml = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    let report = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    let cases: Vec<_> = report
        .test_suites
        .iter()
        .flat_map(|s| s.test_cases.iter().map(move |c| (s.name.as_str(), c)))
        .collect();
    assert_eq!(
        cases.len(),
        1,
        "{label}: exactly the selected step is reported"
    );
    let (flow, testcase) = cases[0];
    assert_eq!(
        format!("{flow}::{}", testcase.name.as_str()),
        case.step,
        "{label}: the testcase"
    );
    match &testcase.status {
        quick_junit::TestCaseStatus::NonSuccess {
            kind: quick_junit::NonSuccessKind::Error,
            message: Some(m),
            ..
        } => {
            assert!(
                m.as_str().contains(case.needle),
                "{label}: message does not name the cause `{}`: {}",
                case.needle,
                m.as_str()
            );
        }
        other => panic!("{label}: expected an <error>, got {other:?}"),
    }
    junit_check(&dir.join("junit.xml"));
}

async fn run_against(mode: Hostile, needle: &str) {
    let (url, server) = hostile_server(mode).await;
    run_case(Case {
        label: &format!("{mode:?}"),
        target: Some(&url),
        faults: &[],
        config: "",
        wrapper: &[],
        step: "auth::login_with_password",
        needle,
    })
    .await;
    server.abort();
}
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_targets_are_errors_in_the_right_testcase() {
    let cases = [
        (Hostile::NeverAnswers, "did not answer within 1500 ms"),
        (Hostile::OneBytePerSecond, "did not answer within 1500 ms"),
        (Hostile::HtmlErrorPage, "text/html"),
        (Hostile::TruncatedJson, "JSON of the contract's shape"),
        (Hostile::HugeBody, "larger than 1048576 bytes"),
        (Hostile::HugeChunkedBody, "larger than 1048576 bytes"),
        (Hostile::RedirectLoop, "too many redirects"),
        (
            Hostile::Unavailable,
            "the target throttled the suite: 503, Retry-After 120 s",
        ),
    ];
    let runs = cases
        .iter()
        .map(|(mode, needle)| run_against(*mode, needle));
    futures::future::join_all(runs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_certificate_is_an_error_and_insecure_tls_hosts_lets_it_through() {
    let (url, server) = hostile_tls_server(Hostile::HtmlErrorPage).await;
    run_case(Case {
        label: "tls-self-signed",
        target: Some(&url),
        faults: &[],
        config: "",
        wrapper: &[],
        step: "auth::login_with_password",
        needle: "TLS certificate not accepted",
    })
    .await;
    // The same server with its host named as a test environment's: the handshake
    // passes and the run meets the HTML page behind it, so the error above was
    // the certificate's.
    run_case(Case {
        label: "tls-insecure-host",
        target: Some(&url),
        faults: &[],
        config: "insecure_tls_hosts = [\"127.0.0.1\"]\n",
        wrapper: &[],
        step: "auth::login_with_password",
        needle: "text/html",
    })
    .await;
    server.abort();
}

#[tokio::test]
async fn dns_failure_is_an_error() {
    // `.invalid` never resolves (RFC 6761), and in a namespace with no network a
    // resolver cannot be reached at all: nothing leaves the machine.
    run_case(Case {
        label: "dns-failure",
        target: Some("https://stageos-smoke-test.invalid:8443"),
        faults: &[],
        config: "",
        wrapper: network_namespace_wrapper(),
        step: "auth::login_with_password",
        needle: "DNS lookup failed",
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_metrics_and_a_pdf_that_is_not_a_pdf_are_errors() {
    let metrics = run_case(Case {
        label: "metrics-malformed",
        target: None,
        faults: &["metrics-malformed"],
        config: "",
        wrapper: &[],
        step: "metrics::metrics_scraped",
        needle: "malformed Prometheus exposition at line",
    });
    let pdf = run_case(Case {
        label: "pdf-is-error-page",
        target: None,
        faults: &["pdf-is-error-page"],
        config: "",
        wrapper: &[],
        step: "invoice::pdf_downloads_and_parses",
        needle: "text/html; charset=utf-8 that is not the expected PDF",
    });
    futures::future::join(metrics, pdf).await;
}
