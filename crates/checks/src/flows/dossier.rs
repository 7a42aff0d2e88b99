//! Event dossiers: create, read back, edit with optimistic concurrency, refusals,
//! list by tag, delete — and prove the delete deleted.
//!
//! The event is guarded for deletion the moment it exists; the flow's own delete
//! disarms the guard, and re-arms it if the event is still there afterwards.

use serde_json::json;

use crate::flow::FlowRun;
use stageos_smoke_http::credentials::Role;
use stageos_smoke_http::http::{ExecError, Session, StepError, ensure, ensure_eq};
use stageos_smoke_model::flowdef::{FlowDef, StepDef};

use super::common::{check_smoke_tagging, create_event, session_as, smoke_event_body};
use super::model::{Event, Venue, parse_time};

/// The dossier flow's steps.
pub static FLOW: FlowDef = FlowDef {
    id: "dossier",
    description: "Event dossier lifecycle: create, read, edit with If-Match, refusals, list by tag, delete",
    roles: &[Role::Manager],
    needs_owner_totp: false,
    observes_run: false,
    steps: &[
        CREATE_EVENT,
        READ_BACK_FIELDS,
        EDIT_WITH_IF_MATCH,
        STALE_IF_MATCH_REFUSED,
        INVALID_EDIT_REFUSED,
        LIST_BY_TAG_FINDS_IT,
        DELETE_EVENT,
        DELETED_EVENT_IS_GONE,
    ],
};

// The steps of `dossier`, each id written once: `FLOW` lists them and the
// flow's `run` names them by these constants.

/// Step `create_event`.
pub const CREATE_EVENT: StepDef = StepDef {
    id: "create_event",
    description: "The Manager creates a smoke-tagged event: 201, version 1, ETag \"1\", tagged smoke + run id",
};

/// Step `read_back_fields`.
pub const READ_BACK_FIELDS: StepDef = StepDef {
    id: "read_back_fields",
    description: "GET returns every field as it was sent, with ETag \"1\"",
};

/// Step `edit_with_if_match`.
pub const EDIT_WITH_IF_MATCH: StepDef = StepDef {
    id: "edit_with_if_match",
    description: "PATCH with the current If-Match answers 200 with version + 1 and the new ETag, and the edit is stored",
};

/// Step `stale_if_match_refused`.
pub const STALE_IF_MATCH_REFUSED: StepDef = StepDef {
    id: "stale_if_match_refused",
    description: "PATCH with a stale If-Match is refused with 412 version_conflict",
};

/// Step `invalid_edit_refused`.
pub const INVALID_EDIT_REFUSED: StepDef = StepDef {
    id: "invalid_edit_refused",
    description: "PATCH that puts ends_at before starts_at is refused with 422",
};

/// Step `list_by_tag_finds_it`.
pub const LIST_BY_TAG_FINDS_IT: StepDef = StepDef {
    id: "list_by_tag_finds_it",
    description: "GET /api/events?tag=<run id> and ?tag=smoke list the event",
};

/// Step `delete_event`.
pub const DELETE_EVENT: StepDef = StepDef {
    id: "delete_event",
    description: "DELETE answers 204",
};

/// Step `deleted_event_is_gone`.
pub const DELETED_EVENT_IS_GONE: StepDef = StepDef {
    id: "deleted_event_is_gone",
    description: "After the delete, GET answers 404 and the tag list no longer has it",
};

/// The ETag header of a response.
fn etag(resp: &stageos_smoke_http::http::Response) -> String {
    resp.header("etag").unwrap_or("(none)").to_owned()
}

async fn current_etag(session: &Session, path: &str) -> Result<String, StepError> {
    let resp = session.get(path).send().await?;
    resp.expect_status(200)?;
    let e: Event = resp.json()?;
    Ok(format!("\"{}\"", e.version))
}

/// Run the dossier flow.
pub async fn run(flow: &mut FlowRun) {
    let Some((manager, session)) = flow.setup(|f| f.user_session(Role::Manager)) else {
        return;
    };
    let run_id = flow.cx().run_id().to_owned();
    let cleanups = flow.cleanups();
    let body = smoke_event_body(&run_id, &format!("Smoke dossier {run_id}"));

    let created = flow
        .step(&CREATE_EVENT, async {
            let (session, _) = session_as(session, &manager, None).await?;
            let (event, resp) = create_event(&session, &cleanups, &body).await?;
            ensure_eq("version of a new event", 1, event.version)?;
            ensure_eq("ETag of a new event", "\"1\"".to_owned(), etag(&resp))?;
            check_smoke_tagging("event", &event.tags, event.smoke_run_id.as_deref(), &run_id)?;
            Ok((session, event))
        })
        .await;
    let Some((session, event)) = created else {
        return;
    };
    let path = format!("/api/events/{}", event.id);

    flow.step(&READ_BACK_FIELDS, async {
        let resp = session.get(&path).send().await?;
        resp.expect_status(200)?;
        let got: Event = resp.json()?;
        ensure_eq("ETag", "\"1\"".to_owned(), etag(&resp))?;
        ensure_eq("id", event.id.as_str(), got.id.as_str())?;
        ensure_eq(
            "title",
            body["title"].as_str().unwrap_or_default(),
            got.title.as_str(),
        )?;
        let venue: Venue = serde_json::from_value(body["venue"].clone())
            .map_err(|e| ExecError::Other(e.to_string()))?;
        ensure_eq("venue", venue, got.venue)?;
        for (field, sent, back) in [
            ("starts_at", &body["starts_at"], &got.starts_at),
            ("ends_at", &body["ends_at"], &got.ends_at),
        ] {
            let sent = parse_time(field, sent.as_str().unwrap_or_default())?;
            let back_t = parse_time(field, back)?;
            ensure(sent == back_t, field, sent.to_string(), back.clone())?;
        }
        ensure_eq("timezone", "Europe/Berlin", got.timezone.as_str())?;
        ensure_eq(
            "notes",
            body["notes"].as_str().unwrap_or_default(),
            got.notes.as_str(),
        )?;
        check_smoke_tagging("event", &got.tags, got.smoke_run_id.as_deref(), &run_id)?;
        ensure_eq("version", 1, got.version)?;
        Ok(())
    })
    .await;

    let new_title = format!("Smoke dossier {run_id} (edited)");
    flow.step(&EDIT_WITH_IF_MATCH, async {
        let resp = session
            .patch(&path)
            .header("if-match", "\"1\"")
            .json(&json!({ "title": new_title, "notes": "edited by the smoke suite" }))
            .send()
            .await?;
        resp.expect_status(200)?;
        let edited: Event = resp.json()?;
        ensure_eq("version after an edit", 2, edited.version)?;
        ensure_eq("ETag after an edit", "\"2\"".to_owned(), etag(&resp))?;
        let back = session.get(&path).send().await?;
        back.expect_status(200)?;
        let stored: Event = back.json()?;
        ensure_eq(
            "stored title after the edit",
            new_title.as_str(),
            stored.title.as_str(),
        )?;
        ensure_eq("stored version after the edit", 2, stored.version)?;
        Ok(())
    })
    .await;

    flow.step(&STALE_IF_MATCH_REFUSED, async {
        // Version 1 is stale once the edit above landed; if it did not, make it so.
        if current_etag(&session, &path).await? == "\"1\"" {
            let bump = session
                .patch(&path)
                .header("if-match", "\"1\"")
                .json(&json!({ "notes": "bumped by the smoke suite" }))
                .send()
                .await?;
            bump.expect_status(200)?;
        }
        let resp = session
            .patch(&path)
            .header("if-match", "\"1\"")
            .json(&json!({ "title": "lost update from the smoke suite" }))
            .send()
            .await?;
        resp.expect_error(412, "version_conflict")?;
        Ok(())
    })
    .await;

    flow.step(&INVALID_EDIT_REFUSED, async {
        let tag = current_etag(&session, &path).await?;
        let resp = session
            .patch(&path)
            .header("if-match", &tag)
            .json(&json!({ "ends_at": "2031-05-01T18:00:00Z" }))
            .send()
            .await?;
        resp.expect_status(422)?;
        Ok(())
    })
    .await;

    flow.step(&LIST_BY_TAG_FINDS_IT, async {
        for tag in [run_id.as_str(), "smoke"] {
            let resp = session
                .get(&format!("/api/events?tag={tag}"))
                .send()
                .await?;
            resp.expect_status(200)?;
            let list: Vec<Event> = resp.json()?;
            ensure(
                list.iter().any(|e| e.id == event.id),
                format!("GET /api/events?tag={tag}"),
                format!("a list holding event {}", event.id),
                format!("{} events without it", list.len()),
            )?;
            ensure(
                list.iter().all(|e| e.tags.iter().any(|t| t == tag)),
                format!("GET /api/events?tag={tag}"),
                format!("only events tagged {tag}"),
                "events without the tag",
            )?;
        }
        Ok(())
    })
    .await;

    let cleanups = flow.cleanups();
    let deleted = flow
        .step(&DELETE_EVENT, async {
            let resp = session.delete(&path).send().await?;
            resp.expect_status(204)?;
            cleanups.disarm(&path);
            Ok(())
        })
        .await;
    if deleted.is_none() {
        return;
    }

    let cleanups = flow.cleanups();
    flow.step(&DELETED_EVENT_IS_GONE, async {
        let resp = session.get(&path).send().await?;
        if resp.status.as_u16() != 404 {
            // Still there: guard it again so the run does not leave it behind.
            cleanups.delete_later(&session, path.clone(), format!("event {}", event.id));
        }
        resp.expect_status(404)?;
        let list = session
            .get(&format!("/api/events?tag={run_id}"))
            .send()
            .await?;
        list.expect_status(200)?;
        let list: Vec<Event> = list.json()?;
        ensure(
            !list.iter().any(|e| e.id == event.id),
            format!("GET /api/events?tag={run_id} after the delete"),
            "no deleted event",
            "the deleted event is still listed",
        )?;
        Ok(())
    })
    .await;
}
