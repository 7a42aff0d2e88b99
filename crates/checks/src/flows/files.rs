//! Files through signed URLs: register, upload without a bearer token, complete,
//! scan, download the exact bytes, refuse tampered and expired URLs, never serve
//! an infected file, delete.
//!
//! Every signature the flow sees is registered with the redactor before it is
//! used, so no report can show one.

use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;
use url::Url;

use crate::flow::{Cleanups, FlowRun};
use stageos_smoke_http::credentials::Role;
use stageos_smoke_http::disposition::ContentDisposition;
use stageos_smoke_http::http::{CheckFailure, ExecError, Session, StepError, ensure, ensure_eq};
use stageos_smoke_http::secrets::Redactor;
use stageos_smoke_http::wait::{Backoff, Poll, poll_until, sleep_until_utc};
use stageos_smoke_model::flowdef::{FlowDef, StepDef};

use super::common::{
    check_smoke_tagging, download_url, guard_created, redact_signed_url_field, session_as,
    sha256_hex,
};
use super::model::{FileMeta, UploadTicket, parse_time};

/// The files flow's steps.
pub static FLOW: FlowDef = FlowDef {
    id: "files",
    description: "Files: signed upload, scan, signed download, tampered and expired URLs, infected files, delete",
    roles: &[Role::Member],
    needs_owner_totp: false,
    observes_run: false,
    steps: &[
        REQUEST_UPLOAD_URL,
        UPLOAD_WITHOUT_TOKEN,
        COMPLETE_UPLOAD,
        SCAN_FINISHES_CLEAN,
        DOWNLOAD_URL_TTL,
        DOWNLOAD_MATCHES_UPLOAD,
        TAMPERED_SIGNATURE_REFUSED,
        TAMPERED_PATH_REFUSED,
        TAMPERED_EXPIRY_REFUSED,
        EXPIRED_URL_REFUSED,
        EICAR_MARKED_INFECTED,
        INFECTED_NOT_DOWNLOADABLE,
        DELETE_FILE,
        DELETED_FILE_IS_GONE,
    ],
};

// The steps of `files`, each id written once: `FLOW` lists them and the
// flow's `run` names them by these constants.

/// Step `request_upload_url`.
pub const REQUEST_UPLOAD_URL: StepDef = StepDef {
    id: "request_upload_url",
    description: "The Member registers the fixture file with its sha256: 201 with a signed PUT URL expiring within 15 minutes",
};

/// Step `upload_without_token`.
pub const UPLOAD_WITHOUT_TOKEN: StepDef = StepDef {
    id: "upload_without_token",
    description: "PUT the bytes to the signed URL without a bearer token: 200",
};

/// Step `complete_upload`.
pub const COMPLETE_UPLOAD: StepDef = StepDef {
    id: "complete_upload",
    description: "Complete the upload: 202 with scan_status pending (or already clean)",
};

/// Step `scan_finishes_clean`.
pub const SCAN_FINISHES_CLEAN: StepDef = StepDef {
    id: "scan_finishes_clean",
    description: "The malware scan finishes `clean` within the wait deadline (polled with backoff)",
};

/// Step `download_url_ttl`.
pub const DOWNLOAD_URL_TTL: StepDef = StepDef {
    id: "download_url_ttl",
    description: "The download URL is issued with expires_at in the future and at most 15 minutes ahead",
};

/// Step `download_matches_upload`.
pub const DOWNLOAD_MATCHES_UPLOAD: StepDef = StepDef {
    id: "download_matches_upload",
    description: "The signed URL serves the exact bytes (same sha256) with Content-Disposition naming the file",
};

/// Step `tampered_signature_refused`.
pub const TAMPERED_SIGNATURE_REFUSED: StepDef = StepDef {
    id: "tampered_signature_refused",
    description: "The download URL with one byte of its signature changed is refused with 403",
};

/// Step `tampered_path_refused`.
pub const TAMPERED_PATH_REFUSED: StepDef = StepDef {
    id: "tampered_path_refused",
    description: "The download URL with one byte of its path changed is refused with 403",
};

/// Step `tampered_expiry_refused`.
pub const TAMPERED_EXPIRY_REFUSED: StepDef = StepDef {
    id: "tampered_expiry_refused",
    description: "The download URL with its expiry changed is refused with 403",
};

/// Step `expired_url_refused`.
pub const EXPIRED_URL_REFUSED: StepDef = StepDef {
    id: "expired_url_refused",
    description: "A download URL asked for with ttl_secs=1 is refused with 403 once it has expired",
};

/// Step `eicar_marked_infected`.
pub const EICAR_MARKED_INFECTED: StepDef = StepDef {
    id: "eicar_marked_infected",
    description: "The EICAR test file uploads and its scan ends `infected`",
};

/// Step `infected_not_downloadable`.
pub const INFECTED_NOT_DOWNLOADABLE: StepDef = StepDef {
    id: "infected_not_downloadable",
    description: "A download URL for the infected file is refused with 409 file_infected",
};

/// Step `delete_file`.
pub const DELETE_FILE: StepDef = StepDef {
    id: "delete_file",
    description: "DELETE the clean file: 204",
};

/// Step `deleted_file_is_gone`.
pub const DELETED_FILE_IS_GONE: StepDef = StepDef {
    id: "deleted_file_is_gone",
    description: "After the delete, GET the file answers 404",
};

/// The fixture file.
const FIXTURE_NAME: &str = "tech-rider.txt";
const FIXTURE: &[u8] = include_bytes!("../../../../fixtures/files/tech-rider.txt");
/// Longest lifetime the contract allows a signed URL.
const MAX_TTL: Duration = Duration::from_secs(15 * 60);
/// Clock skew tolerated when judging `expires_at`.
const SKEW: Duration = Duration::from_secs(30);

/// How long after `expires_at` (by the target's clock, as the run learned it) an
/// expired URL may still be served before that is a failure.
const EXPIRY_GRACE: Duration = Duration::from_secs(5);

/// The EICAR anti-virus test string, assembled at run time (stored reversed) so
/// no scanner flags the repository or the binary.
pub fn eicar() -> Vec<u8> {
    const REVERSED: &str = "*H+H$!ELIF-TSET-SURIVITNA-DRADNATS-RACIE$}7)CC7)^P(45XZP\\4[PA@%P!O5X";
    REVERSED.bytes().rev().collect()
}

/// A signed URL with one change applied.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Tamper {
    /// Flip one hex digit of `sig`.
    Signature,
    /// Change one character of the last path segment (the storage key).
    Path,
    /// Add one second to `expires`.
    Expiry,
}

fn flip_char(c: char) -> char {
    match c {
        '0' => '1',
        'a' => 'b',
        'A' => 'B',
        c if c.is_ascii_digit() => '0',
        c if c.is_ascii_lowercase() => 'a',
        c if c.is_ascii_uppercase() => 'A',
        '-' => '_',
        _ => 'x',
    }
}

/// Apply `how` to a signed URL; `None` when the URL lacks the part to change.
pub fn tamper(url: &str, how: Tamper) -> Option<String> {
    let mut u = Url::parse(url).ok()?;
    match how {
        Tamper::Signature | Tamper::Expiry => {
            let key = if how == Tamper::Signature {
                "sig"
            } else {
                "expires"
            };
            let mut found = false;
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| {
                    if k == key && !found {
                        found = true;
                        let v = if how == Tamper::Signature {
                            let mut chars: Vec<char> = v.chars().collect();
                            let last = chars.last_mut()?;
                            *last = flip_char(*last);
                            chars.into_iter().collect()
                        } else {
                            (v.parse::<i64>().ok()? + 1).to_string()
                        };
                        Some((k.into_owned(), v))
                    } else {
                        Some((k.into_owned(), v.into_owned()))
                    }
                })
                .collect::<Option<_>>()?;
            if !found {
                return None;
            }
            u.query_pairs_mut().clear().extend_pairs(pairs);
        }
        Tamper::Path => {
            let path = u.path().to_owned();
            let (head, last) = path.rsplit_once('/')?;
            let mut chars: Vec<char> = last.chars().collect();
            let mid = chars.len() / 2;
            let c = chars.get_mut(mid)?;
            *c = flip_char(*c);
            u.set_path(&format!("{head}/{}", chars.into_iter().collect::<String>()));
        }
    }
    Some(u.to_string())
}

/// Register a file, guard it, upload its bytes and complete it; returns the file id.
async fn upload(
    session: &Session,
    cleanups: &Cleanups,
    redactor: &Redactor,
    name: &str,
    content_type: &str,
    bytes: &[u8],
    run_id: &str,
) -> Result<(String, UploadTicket), StepError> {
    let resp = session
        .post("/api/files/uploads")
        .json(&json!({
            "filename": name,
            "content_type": content_type,
            "size_bytes": bytes.len(),
            "sha256": sha256_hex(bytes),
            "tags": ["smoke", run_id],
            "smoke_run_id": run_id,
        }))
        .send()
        .await?;
    guard_created(cleanups, session, &resp, "/api/files", "file");
    redact_signed_url_field(redactor, &resp.body, "upload_url");
    resp.expect_status(201)?;
    let ticket: UploadTicket = resp.json()?;
    Ok((ticket.file_id.clone(), ticket))
}

/// PUT `bytes` to the ticket's URL without a bearer token, with the ticket's headers.
pub(super) async fn put_bytes(
    session: &Session,
    ticket: &UploadTicket,
    bytes: &[u8],
    content_type: &'static str,
) -> Result<(), StepError> {
    let mut req = session
        .put(&ticket.upload_url)
        .without_bearer()
        .bytes(bytes.to_vec(), content_type);
    for (k, v) in &ticket.headers {
        if k.eq_ignore_ascii_case("content-type") {
            ensure_eq(
                "Content-Type the upload ticket asks for",
                content_type,
                v.as_str(),
            )?;
        } else if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_ok() {
            // `Req::header` takes static names; a ticket names a handful at most.
            let name: &'static str = Box::leak(k.to_ascii_lowercase().into_boxed_str());
            req = req.header(name, v);
        }
    }
    let resp = req.send().await?;
    resp.expect_status(200)?;
    Ok(())
}

pub(super) async fn wait_scanned(
    session: &Session,
    file_id: &str,
    deadline: Duration,
) -> Result<FileMeta, StepError> {
    let path = format!("/api/files/{file_id}");
    poll_until(deadline, Backoff::default(), || async {
        let resp = session.get(&path).send().await?;
        resp.expect_status(200)?;
        let f: FileMeta = resp.json()?;
        Ok::<_, StepError>(if f.scan_status == "pending" {
            Poll::Pending("`pending`".into())
        } else {
            Poll::Ready(f)
        })
    })
    .await
    .map_err(|e| {
        e.into_step(
            &format!("scan of file {file_id}"),
            &format!("a final scan_status within {} ms", deadline.as_millis()),
        )
    })
}

async fn expect_refused(session: &Session, url: &str) -> Result<(), StepError> {
    let resp = session.get(url).without_bearer().send().await?;
    ensure_eq(
        "status of the changed signed URL",
        403,
        resp.status.as_u16(),
    )?;
    Ok(())
}

/// Run the files flow.
pub async fn run(flow: &mut FlowRun) {
    let Some((member, session)) = flow.setup(|f| f.user_session(Role::Member)) else {
        return;
    };
    let run_id = flow.cx().run_id().to_owned();
    let redactor = flow.cx().http.redactor.clone();
    let deadline = flow.cx().wait_deadline;
    let cleanups = flow.cleanups();

    let registered = flow
        .step(&REQUEST_UPLOAD_URL, async {
            let (session, _) = session_as(session, &member, None).await?;
            let (file_id, ticket) = upload(
                &session,
                &cleanups,
                &redactor,
                FIXTURE_NAME,
                "text/plain",
                FIXTURE,
                &run_id,
            )
            .await?;
            ensure_eq("method", "PUT", ticket.method.as_str())?;
            let expires = parse_time("expires_at", &ticket.expires_at)?;
            let now = OffsetDateTime::now_utc();
            ensure(
                expires > now && expires <= now + MAX_TTL + SKEW,
                "upload URL expires_at",
                "in the future, at most 15 minutes ahead",
                ticket.expires_at.clone(),
            )?;
            Ok((session, file_id, ticket))
        })
        .await;
    let Some((session, file_id, ticket)) = registered else {
        return;
    };
    let file_path = format!("/api/files/{file_id}");
    let steps = flow.steps();
    let cleanups = flow.cleanups();

    // Two independent chains side by side: the clean fixture file (upload, scan,
    // download, tampered and expired URLs, delete) and the EICAR file (scan marks
    // it infected, no download URL). Within the first, once the scan is clean,
    // the download-URL checks and the expiry check (which waits out a 1 s TTL)
    // run beside each other too. Each chain keeps its own order.
    let clean_file = async {
        let uploaded = steps
            .step(
                &UPLOAD_WITHOUT_TOKEN,
                put_bytes(&session, &ticket, FIXTURE, "text/plain"),
            )
            .await;
        if uploaded.is_none() {
            return;
        }
        let completed = steps
            .step(&COMPLETE_UPLOAD, async {
                let resp = session
                    .post(&format!("{file_path}/complete"))
                    .send()
                    .await?;
                resp.expect_status(202)?;
                let f: FileMeta = resp.json()?;
                ensure(
                    matches!(f.scan_status.as_str(), "pending" | "clean"),
                    "scan_status after complete",
                    "pending (or clean)",
                    f.scan_status.clone(),
                )?;
                ensure_eq("sha256", sha256_hex(FIXTURE), f.sha256.clone())?;
                check_smoke_tagging("file", &f.tags, f.smoke_run_id.as_deref(), &run_id)?;
                Ok(())
            })
            .await;
        if completed.is_none() {
            return;
        }
        let clean = steps
            .step(&SCAN_FINISHES_CLEAN, async {
                let f = wait_scanned(&session, &file_id, deadline).await?;
                ensure_eq(
                    "scan_status of the fixture file",
                    "clean",
                    f.scan_status.as_str(),
                )?;
                Ok(())
            })
            .await;
        if clean.is_none() {
            for id in [
                DOWNLOAD_URL_TTL.id,
                DOWNLOAD_MATCHES_UPLOAD.id,
                TAMPERED_SIGNATURE_REFUSED.id,
                TAMPERED_PATH_REFUSED.id,
                TAMPERED_EXPIRY_REFUSED.id,
                EXPIRED_URL_REFUSED.id,
            ] {
                steps.skip(id, "not run: step `files::scan_finishes_clean` did not pass, so the file is not downloadable");
            }
            return;
        }
        let download_checks = async {
            let link = steps
                .step(&DOWNLOAD_URL_TTL, async {
                    let (link, _) = download_url(&session, &redactor, &file_id, "").await?;
                    let expires = parse_time("expires_at", &link.expires_at)?;
                    let now = OffsetDateTime::now_utc();
                    ensure(
                        expires > now,
                        "download URL expires_at",
                        "in the future",
                        link.expires_at.clone(),
                    )?;
                    ensure(
                        expires <= now + MAX_TTL + SKEW,
                        "download URL expires_at (TTL)",
                        "at most 15 minutes ahead",
                        format!(
                            "{} ({} s ahead)",
                            link.expires_at,
                            (expires - now).whole_seconds()
                        ),
                    )?;
                    Ok(link)
                })
                .await;
            let Some(link) = link else {
                for id in [
                    DOWNLOAD_MATCHES_UPLOAD.id,
                    TAMPERED_SIGNATURE_REFUSED.id,
                    TAMPERED_PATH_REFUSED.id,
                    TAMPERED_EXPIRY_REFUSED.id,
                ] {
                    steps.skip(id, "not run: step `files::download_url_ttl` did not pass, so there is no download URL");
                }
                return;
            };
            let matches = steps.step(&DOWNLOAD_MATCHES_UPLOAD, async {
                let resp = session.get(&link.url).without_bearer().send().await?;
                resp.expect_status(200)?;
                ensure_eq(
                    "sha256 of the downloaded bytes",
                    sha256_hex(FIXTURE),
                    sha256_hex(&resp.body),
                )?;
                // RFC 6266: the filename as a token, a quoted-string or filename*
                // (preferred), parameter names in any case.
                let cd = resp
                    .header("content-disposition")
                    .unwrap_or("(none)")
                    .to_owned();
                let parsed = ContentDisposition::parse(&cd).ok();
                ensure(
                    parsed.as_ref().is_some_and(|d| {
                        d.kind == "attachment" && d.filename.as_deref() == Some(FIXTURE_NAME)
                    }),
                    "Content-Disposition",
                    format!("attachment; filename=\"{FIXTURE_NAME}\""),
                    cd,
                )?;
                Ok(())
            });
            let tampered = [
                (TAMPERED_SIGNATURE_REFUSED.id, Tamper::Signature),
                (TAMPERED_PATH_REFUSED.id, Tamper::Path),
                (TAMPERED_EXPIRY_REFUSED.id, Tamper::Expiry),
            ]
            .map(|(id, how)| {
                let url = link.url.clone();
                let session = session.clone();
                steps.step(id, async move {
                    let changed = tamper(&url, how).ok_or_else(|| ExecError::Other(format!("the download URL has no {how:?} part to change (expected …/storage/{{key}}?expires=…&sig=…)")))?;
                    expect_refused(&session, &changed).await
                })
            });
            futures::join!(matches, futures::future::join_all(tampered));
        };
        let expired = steps.step(&EXPIRED_URL_REFUSED, async {
                let (link, _) = download_url(&session, &redactor, &file_id, "ttl_secs=1").await?;
                let expires = parse_time("expires_at", &link.expires_at)?;
                // Expiry is judged by the target's clock, as the run learned it from
                // every answer's Date header (crates/http/src/clock.rs: to about a
                // round trip, not to the header's whole second), so a target whose
                // clock lags ours is not taken for one that serves expired URLs.
                let clock = session.target_clock();
                let earliest = clock.lower_local(expires);
                let latest = clock.upper_local(expires);
                let ahead = earliest - OffsetDateTime::now_utc();
                if ahead > time::Duration::seconds(60) {
                    return Err(ExecError::Other(format!(
                        "the target ignored ttl_secs=1 (URL valid {} s more); an expired URL cannot be checked within the run (hint: ttl_secs is a reference-server extension of the contract)",
                        ahead.whole_seconds()
                    ))
                    .into());
                }
                // Polling starts at the earliest moment the URL can have expired by the
                // target's clock (a 200 until then is the URL still valid) and goes on
                // at a steady 100 ms, so the refusal is seen as it happens. The
                // deadline is the latest moment it can have expired plus the grace.
                sleep_until_utc(earliest, Duration::ZERO).await;
                let steady = Backoff::steady(Duration::from_millis(100));
                let until_latest = Duration::try_from(latest - OffsetDateTime::now_utc()).unwrap_or(Duration::ZERO);
                poll_until(until_latest + EXPIRY_GRACE, steady, || async {
                    let resp = session.get(&link.url).without_bearer().send().await?;
                    match resp.status.as_u16() {
                        403 => Ok(Poll::Ready(())),
                        200 => Ok(Poll::Pending("served (200)".into())),
                        other => Err(CheckFailure {
                            what: "status of an expired signed URL".into(),
                            expected: "403".into(),
                            actual: other.to_string(),
                        }
                        .into()),
                    }
                })
                .await
                .map_err(|e| {
                    e.into_step(
                        "an expired signed URL",
                        "403 once expires_at has passed by the target's clock",
                    )
                })?;
                Ok(())
        });
        futures::join!(download_checks, expired);
        let deleted = steps
            .step(&DELETE_FILE, async {
                let resp = session.delete(&file_path).send().await?;
                resp.expect_status(204)?;
                cleanups.disarm(&file_path);
                Ok(())
            })
            .await;
        if deleted.is_none() {
            return;
        }
        steps
            .step(&DELETED_FILE_IS_GONE, async {
                let resp = session.get(&file_path).send().await?;
                if resp.status.as_u16() != 404 {
                    cleanups.delete_later(&session, file_path.clone(), format!("file {file_id}"));
                }
                resp.expect_status(404)?;
                Ok(())
            })
            .await;
    };

    let infected_file = async {
        let eicar_id = steps
            .step(&EICAR_MARKED_INFECTED, async {
                let bytes = eicar();
                let (id, ticket) = upload(
                    &session,
                    &cleanups,
                    &redactor,
                    "eicar-test.txt",
                    "text/plain",
                    &bytes,
                    &run_id,
                )
                .await?;
                put_bytes(&session, &ticket, &bytes, "text/plain").await?;
                let resp = session
                    .post(&format!("/api/files/{id}/complete"))
                    .send()
                    .await?;
                resp.expect_status(202)?;
                let f = wait_scanned(&session, &id, deadline).await?;
                ensure_eq(
                    "scan_status of the EICAR test file",
                    "infected",
                    f.scan_status.as_str(),
                )?;
                Ok(id)
            })
            .await;
        match eicar_id {
            Some(id) => {
                steps
                    .step(&INFECTED_NOT_DOWNLOADABLE, async {
                        let resp = session
                            .get(&format!("/api/files/{id}/download-url"))
                            .send()
                            .await?;
                        redact_signed_url_field(&redactor, &resp.body, "url");
                        resp.expect_error(409, "file_infected")?;
                        Ok(())
                    })
                    .await;
            }
            None => steps.skip(
                &INFECTED_NOT_DOWNLOADABLE,
                "not run: step `files::eicar_marked_infected` did not pass",
            ),
        }
    };

    futures::join!(clean_file, infected_file);
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://127.0.0.1:9/storage/abcDEF123?expires=1700000000&sig=00ff";

    #[test]
    fn tampering_changes_exactly_one_part() {
        assert_eq!(
            tamper(URL, Tamper::Signature).unwrap(),
            "http://127.0.0.1:9/storage/abcDEF123?expires=1700000000&sig=00fa"
        );
        assert_eq!(
            tamper(URL, Tamper::Path).unwrap(),
            "http://127.0.0.1:9/storage/abcDAF123?expires=1700000000&sig=00ff"
        );
        let e = tamper(URL, Tamper::Expiry).unwrap();
        assert!(e.ends_with("expires=1700000001&sig=00ff"), "{e}");
        assert!(tamper("http://x/storage/k", Tamper::Signature).is_none());
    }

    #[test]
    fn eicar_is_the_standard_test_string() {
        let e = eicar();
        assert_eq!(e.len(), 68);
        assert!(e.starts_with(b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR"));
        assert!(e.ends_with(b"$H+H*"));
    }
}
