//! Privacy on a disposable user the Owner creates: the data export (a job whose
//! file is JSON holding the profile and the smoke objects the user created) and
//! account erasure (login then answers 401, and the Owner's user list no longer
//! has the user).
//!
//! Destructive only for the disposable user: the erasure cannot be undone and
//! queues that user's personal data for the retention purge, but the user is
//! smoke-tagged, created for this run and touches no one else's data, so the flow
//! runs in the post-deploy profile too (release checklist item 5.5, GDPR export
//! and deletion; see `suites/profiles.toml`).

use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::flow::FlowRun;
use stageos_smoke_http::credentials::Role;
use stageos_smoke_http::http::{ExecError, StepError, ensure, ensure_eq};
use stageos_smoke_model::flowdef::{FlowDef, StepDef};

use super::common::{download_url, login, post_login, smoke_event_body};
use super::disposable::{Factory, OwnerLogin, UserRow, wait_for_job};

/// The privacy flow's steps.
pub static FLOW: FlowDef = FlowDef {
    id: "privacy",
    description: "Privacy on a disposable user: JSON data export with profile and created objects, account erasure",
    roles: &[Role::Owner],
    needs_owner_totp: true,
    observes_run: false,
    steps: &[
        OWNER_CREATES_DISPOSABLE_USER,
        USER_CREATES_SMOKE_OBJECT,
        EXPORT_JOB_SUCCEEDS,
        EXPORT_HOLDS_PROFILE,
        EXPORT_HOLDS_CREATED_OBJECTS,
        ACCOUNT_DELETION_ACCEPTED,
        DELETED_USER_CANNOT_LOG_IN,
        DELETED_USER_NOT_LISTED,
    ],
};

// The steps of `privacy`, each id written once: `FLOW` lists them and the
// flow's `run` names them by these constants.

/// Step `owner_creates_disposable_user`.
pub const OWNER_CREATES_DISPOSABLE_USER: StepDef = StepDef {
    id: "owner_creates_disposable_user",
    description: "The Owner creates a disposable, smoke-tagged Manager (POST /api/users answers 201)",
};

/// Step `user_creates_smoke_object`.
pub const USER_CREATES_SMOKE_OBJECT: StepDef = StepDef {
    id: "user_creates_smoke_object",
    description: "The disposable user logs in and creates a smoke-tagged event",
};

/// Step `export_job_succeeds`.
pub const EXPORT_JOB_SUCCEEDS: StepDef = StepDef {
    id: "export_job_succeeds",
    description: "POST /api/me/export answers 202 with a job that succeeds with a file",
};

/// Step `export_holds_profile`.
pub const EXPORT_HOLDS_PROFILE: StepDef = StepDef {
    id: "export_holds_profile",
    description: "The export file downloads as JSON holding the user's profile (id, email, role)",
};

/// Step `export_holds_created_objects`.
pub const EXPORT_HOLDS_CREATED_OBJECTS: StepDef = StepDef {
    id: "export_holds_created_objects",
    description: "The export holds the smoke event the user created",
};

/// Step `account_deletion_accepted`.
pub const ACCOUNT_DELETION_ACCEPTED: StepDef = StepDef {
    id: "account_deletion_accepted",
    description: "DELETE /api/me with the email as confirmation answers 202 status scheduled",
};

/// Step `deleted_user_cannot_log_in`.
pub const DELETED_USER_CANNOT_LOG_IN: StepDef = StepDef {
    id: "deleted_user_cannot_log_in",
    description: "The erased user's login answers 401 invalid_credentials",
};

/// Step `deleted_user_not_listed`.
pub const DELETED_USER_NOT_LISTED: StepDef = StepDef {
    id: "deleted_user_not_listed",
    description: "The Owner's user list no longer has the erased user",
};

/// Whether `value` holds, at any depth, an object whose fields include all of `fields`.
pub fn holds_object(value: &Value, fields: &[(&str, &str)]) -> bool {
    match value {
        Value::Object(map) => {
            fields.iter().all(|(k, v)| {
                map.get(*k)
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.eq_ignore_ascii_case(v))
            }) || map.values().any(|v| holds_object(v, fields))
        }
        Value::Array(items) => items.iter().any(|v| holds_object(v, fields)),
        _ => false,
    }
}

/// Run the privacy flow.
pub async fn run(flow: &mut FlowRun) {
    let factory = Factory::new(flow);
    let cleanups = flow.cleanups();
    let run_id = flow.cx().run_id().to_owned();
    let redactor = flow.cx().http.redactor.clone();
    let deadline = flow.cx().wait_deadline;
    let prepared = OwnerLogin::prepare(flow).and_then(|o| Ok((o, flow.session("disposable")?)));

    let created = flow
        .step(&OWNER_CREATES_DISPOSABLE_USER, async {
            let (owner_login, user_session) = prepared?;
            let (owner, tokens) = owner_login.login().await?;
            let user = factory
                .create(&owner, &tokens.user.email, Role::Manager, "privacy")
                .await?;
            Ok((owner, user, user_session))
        })
        .await;
    let Some((owner, user, mut session)) = created else {
        return;
    };

    let event = flow
        .step(&USER_CREATES_SMOKE_OBJECT, async {
            login(&mut session, &user.credential, None).await?;
            let body = smoke_event_body(&run_id, "Privacy smoke event");
            let resp = session.post("/api/events").json(&body).send().await?;
            // The user will be erased: the Owner deletes the event at the end.
            if resp.status.is_success()
                && let Some(id) = serde_json::from_slice::<Value>(&resp.body)
                    .ok()
                    .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned))
            {
                cleanups.delete_later(&owner, format!("/api/events/{id}"), format!("event {id}"));
            }
            resp.expect_status(201)?;
            let v: Value = resp.json()?;
            v.get("id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    StepError::from(ExecError::Other("POST /api/events answered no id".into()))
                })
        })
        .await;
    let Some(event) = event else { return };

    let file = flow
        .step(&EXPORT_JOB_SUCCEEDS, async {
            let resp = session.post("/api/me/export").send().await?;
            resp.expect_status(202)?;
            let accepted: super::model::JobAccepted = resp.json()?;
            let file = wait_for_job(&session, &accepted.job_id, deadline).await?;
            cleanups.delete_later(
                &owner,
                format!("/api/files/{file}"),
                format!("export file {file}"),
            );
            Ok(file)
        })
        .await;

    let document = match &file {
        Some(file) => {
            flow.step(&EXPORT_HOLDS_PROFILE, async {
                let (link, _) = download_url(&session, &redactor, file, "").await?;
                let resp = session.get(&link.url).without_bearer().send().await?;
                resp.expect_status(200)?;
                let doc: Value = serde_json::from_slice(&resp.body).map_err(|e| {
                    stageos_smoke_http::http::CheckFailure {
                        what: "export file".into(),
                        expected: "a JSON document".into(),
                        actual: format!("not JSON ({e}); starts: {:?}", resp.excerpt()),
                    }
                })?;
                ensure(
                    holds_object(
                        &doc,
                        &[
                            ("id", &user.id),
                            ("email", &user.credential.email),
                            ("role", "manager"),
                        ],
                    ),
                    "export file",
                    format!(
                        "the profile {{id: {}, email: {}, role: manager}}",
                        user.id, user.credential.email
                    ),
                    format!("no such object; starts: {:?}", resp.excerpt()),
                )?;
                Ok(doc)
            })
            .await
        }
        None => {
            flow.skip(
                &EXPORT_HOLDS_PROFILE,
                "not run: step `privacy::export_job_succeeds` did not pass",
            );
            None
        }
    };
    match document {
        Some(doc) => {
            flow.step(&EXPORT_HOLDS_CREATED_OBJECTS, async {
                ensure(
                    holds_object(&doc, &[("id", &event)]),
                    "export file",
                    format!("the event {event} the user created"),
                    "no object with that id",
                )?;
                Ok(())
            })
            .await;
        }
        None => flow.skip(
            &EXPORT_HOLDS_CREATED_OBJECTS,
            "not run: the export file could not be read (step `privacy::export_holds_profile`)",
        ),
    };

    // The user deletes their export while they still can (after the erasure no one
    // can read a file whose parent is the erased user).
    if let Some(file) = &file {
        let path = format!("/api/files/{file}");
        if session
            .delete(&path)
            .send()
            .await
            .is_ok_and(|r| r.status.as_u16() == 204)
        {
            cleanups.disarm(&path);
        }
    }

    let erased = flow
        .step(&ACCOUNT_DELETION_ACCEPTED, async {
            let resp = session
                .delete("/api/me")
                .json(&json!({ "confirm": user.credential.email }))
                .send()
                .await?;
            resp.expect_status(202)?;
            let v: Value = resp.json()?;
            ensure_eq(
                "status of the erasure",
                Some("scheduled"),
                v.get("status").and_then(Value::as_str),
            )?;
            ensure(
                v.get("purge_after").and_then(Value::as_str).is_some(),
                "erasure response",
                "purge_after",
                v.to_string(),
            )?;
            Ok(())
        })
        .await;
    if erased.is_none() {
        return;
    }

    flow.step(&DELETED_USER_CANNOT_LOG_IN, async {
        let anonymous = session.clone_fresh()?;
        let resp = post_login(
            &anonymous,
            &user.credential.email,
            user.credential.password.expose_secret(),
        )
        .await?;
        ensure(
            resp.status.as_u16() == 401,
            "login of the erased user",
            "401 invalid_credentials",
            format!(
                "{} (the erased account can still log in)",
                resp.status.as_u16()
            ),
        )?;
        resp.expect_error(401, "invalid_credentials")?;
        Ok(())
    })
    .await;

    flow.step(&DELETED_USER_NOT_LISTED, async {
        let resp = owner.get("/api/users").send().await?;
        resp.expect_status(200)?;
        let users: Vec<UserRow> = resp.json()?;
        ensure(
            !users.iter().any(|u| u.id == user.id),
            "the Owner's user list",
            format!("no user {}", user.id),
            "the erased user is still listed",
        )?;
        // Gone from the list: the Owner's delete at the end would find nothing.
        factory.forget(&user);
        Ok(())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_objects() {
        let doc =
            json!({"user": {"id": "U", "email": "a@b.c"}, "created": {"events": [{"id": "E1"}]}});
        assert!(holds_object(&doc, &[("id", "u"), ("email", "a@b.c")]));
        assert!(holds_object(&doc, &[("id", "E1")]));
        assert!(!holds_object(&doc, &[("id", "E2")]));
        assert!(!holds_object(&doc, &[("id", "U"), ("email", "x@y.z")]));
    }
}
