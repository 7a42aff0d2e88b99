//! Setlists: create with the fixture's items, edit, lock, refuse edits while
//! locked, and export as JSON, CSV and PDF with every title in order and the
//! right total.
//!
//! A setlist goes with its event, which is guarded for deletion.

use serde::Deserialize;
use serde_json::json;

use crate::flow::FlowRun;
use stageos_smoke_http::credentials::Role;
use stageos_smoke_http::http::{
    CheckFailure, ExecError, Response, Session, StepError, ensure, ensure_eq,
};
use stageos_smoke_model::flowdef::{FlowDef, StepDef};

use super::common::{check_smoke_tagging, create_event, session_as, smoke_event_body};
use super::model::{Setlist, SetlistExport, SetlistItem};
use super::pdf::{find_in_order, read_pdf};
use super::renderings::{has_duration, hms};

/// The setlist flow's steps.
pub static FLOW: FlowDef = FlowDef {
    id: "setlist",
    description: "Setlists: create, edit, lock, refuse edits while locked, export as JSON, CSV and PDF",
    roles: &[Role::Manager],
    needs_owner_totp: false,
    observes_run: false,
    steps: &[
        SETUP_EVENT,
        CREATE_SETLIST,
        EDIT_SETLIST,
        LOCK_SETLIST,
        EDIT_AFTER_LOCK_REFUSED,
        EXPORT_JSON,
        EXPORT_CSV,
        EXPORT_PDF,
    ],
};

// The steps of `setlist`, each id written once: `FLOW` lists them and the
// flow's `run` names them by these constants.

/// Step `setup_event`.
pub const SETUP_EVENT: StepDef = StepDef {
    id: "setup_event",
    description: "The Manager creates a smoke-tagged event for the setlist",
};

/// Step `create_setlist`.
pub const CREATE_SETLIST: StepDef = StepDef {
    id: "create_setlist",
    description: "POST a setlist with the fixture's items: 201, items in order, total duration right, unlocked",
};

/// Step `edit_setlist`.
pub const EDIT_SETLIST: StepDef = StepDef {
    id: "edit_setlist",
    description: "PATCH the items (reordered, one added): 200 and the new order and total are stored",
};

/// Step `lock_setlist`.
pub const LOCK_SETLIST: StepDef = StepDef {
    id: "lock_setlist",
    description: "Lock: 200 with locked true, locked_at and locked_by the Manager",
};

/// Step `edit_after_lock_refused`.
pub const EDIT_AFTER_LOCK_REFUSED: StepDef = StepDef {
    id: "edit_after_lock_refused",
    description: "PATCH while locked is refused with 423 setlist_locked",
};

/// Step `export_json`.
pub const EXPORT_JSON: StepDef = StepDef {
    id: "export_json",
    description: "JSON export: every title in order with positions, the total duration, locked",
};

/// Step `export_csv`.
pub const EXPORT_CSV: StepDef = StepDef {
    id: "export_csv",
    description: "CSV export: header, every title in order, the TOTAL row with the total duration",
};

/// Step `export_pdf`.
pub const EXPORT_PDF: StepDef = StepDef {
    id: "export_pdf",
    description: "PDF export: a real PDF (lopdf parses it) whose text holds every title in order and the total duration",
};

/// `fixtures/setlist.json`.
#[derive(Debug, Deserialize)]
pub struct SetlistFixture {
    /// Setlist name.
    pub name: String,
    /// Items at creation.
    pub items: Vec<SetlistItem>,
    /// Items after the edit.
    pub edited_items: Vec<SetlistItem>,
}

/// The compiled-in fixture.
pub fn fixture() -> Result<SetlistFixture, ExecError> {
    serde_json::from_str(include_str!("../../../../fixtures/setlist.json"))
        .map_err(|e| ExecError::Other(format!("fixtures/setlist.json is malformed: {e}")))
}

fn titles(items: &[SetlistItem]) -> Vec<&str> {
    items.iter().map(|i| i.title.as_str()).collect()
}

fn total(items: &[SetlistItem]) -> u64 {
    items.iter().map(|i| i.duration_s).sum()
}

/// Parse RFC 4180 CSV with the `csv` crate: any field may be quoted (doubled quotes
/// inside), records end in CRLF or LF, the last one may lack its line break, and a
/// UTF-8 byte-order mark before the header is not part of it.
pub fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| {
            r.map(|r| r.iter().map(str::to_owned).collect())
                .map_err(|e| e.to_string())
        })
        .collect()
}

async fn export(
    session: &Session,
    id: &str,
    format: &str,
    content_type: &str,
) -> Result<Response, StepError> {
    let resp = session
        .get(&format!("/api/setlists/{id}/export?format={format}"))
        .send()
        .await?;
    resp.expect_status(200)?;
    ensure(
        resp.has_media_type(content_type),
        format!("Content-Type of the {format} export"),
        content_type,
        resp.content_type(),
    )?;
    Ok(resp)
}

/// What step `export_pdf` requires of the PDF's text (as [`read_pdf`] reads it):
/// every title in order and the total duration in any common form (`16:18`,
/// `0:16:18`, `978 s`, `16 min 18 s`, …: the contract fixes the value, not its
/// rendering).
pub fn pdf_shows_items(text: &str, titles: &[&str], total_s: u64) -> Result<(), CheckFailure> {
    find_in_order(text, titles.iter().copied()).map_err(|e| CheckFailure {
        what: "titles in the PDF export".into(),
        expected: format!("{titles:?} in order"),
        actual: e,
    })?;
    if !has_duration(text, total_s) {
        return Err(CheckFailure {
            what: "total duration in the PDF export".into(),
            expected: format!(
                "{total_s} s in any common form ({}, {total_s} s, {} min {} s, …)",
                hms(total_s),
                total_s / 60,
                total_s % 60
            ),
            actual: "not found in the text".into(),
        });
    }
    Ok(())
}

/// Run the setlist flow.
pub async fn run(flow: &mut FlowRun) {
    let Some((manager, session, fx)) = flow
        .setup(|f| Ok::<_, ExecError>((f.user(Role::Manager)?, f.session("manager")?, fixture()?)))
    else {
        return;
    };
    let run_id = flow.cx().run_id().to_owned();
    let cleanups = flow.cleanups();

    let event = flow
        .step(&SETUP_EVENT, async {
            let (session, tokens) = session_as(session, &manager, None).await?;
            let (event, _) = create_event(
                &session,
                &cleanups,
                &smoke_event_body(&run_id, &format!("Smoke setlist {run_id}")),
            )
            .await?;
            Ok((session, tokens.user.id, event))
        })
        .await;
    let Some((session, manager_id, event)) = event else {
        return;
    };

    let created = flow
        .step(&CREATE_SETLIST, async {
            let resp = session
                .post(&format!("/api/events/{}/setlists", event.id))
                .json(&json!({ "name": fx.name, "items": fx.items, "tags": ["smoke", run_id], "smoke_run_id": run_id }))
                .send()
                .await?;
            resp.expect_status(201)?;
            let s: Setlist = resp.json()?;
            ensure_eq("event_id", event.id.as_str(), s.event_id.as_str())?;
            ensure_eq("titles in order", titles(&fx.items), titles(&s.items))?;
            ensure_eq("items", &fx.items, &s.items)?;
            ensure_eq("total_duration_s", total(&fx.items), s.total_duration_s)?;
            ensure_eq("locked of a new setlist", false, s.locked)?;
            check_smoke_tagging("setlist", &s.tags, s.smoke_run_id.as_deref(), &run_id)?;
            Ok(s)
        })
        .await;
    let Some(setlist) = created else { return };
    let path = format!("/api/setlists/{}", setlist.id);

    // The items the exports must show: the edited ones if the edit landed.
    let edited = flow
        .step(&EDIT_SETLIST, async {
            let resp = session
                .patch(&path)
                .json(&json!({ "items": fx.edited_items }))
                .send()
                .await?;
            resp.expect_status(200)?;
            let back = session.get(&path).send().await?;
            back.expect_status(200)?;
            let s: Setlist = back.json()?;
            ensure_eq(
                "stored titles after the edit",
                titles(&fx.edited_items),
                titles(&s.items),
            )?;
            ensure_eq(
                "stored total_duration_s after the edit",
                total(&fx.edited_items),
                s.total_duration_s,
            )?;
            Ok(())
        })
        .await;
    let expected = if edited.is_some() {
        fx.edited_items.clone()
    } else {
        fx.items.clone()
    };

    let locked = flow
        .step(&LOCK_SETLIST, async {
            let resp = session.post(&format!("{path}/lock")).send().await?;
            resp.expect_status(200)?;
            let s: Setlist = resp.json()?;
            ensure_eq("locked", true, s.locked)?;
            ensure(s.locked_at.is_some(), "locked_at", "a time", "null")?;
            ensure_eq(
                "locked_by",
                Some(manager_id.as_str()),
                s.locked_by.as_deref(),
            )?;
            Ok(())
        })
        .await;

    if locked.is_some() {
        flow.step(&EDIT_AFTER_LOCK_REFUSED, async {
            // The same items again: a target that wrongly accepts it changes nothing
            // the export steps check.
            let resp = session
                .patch(&path)
                .json(&json!({ "items": expected }))
                .send()
                .await?;
            resp.expect_error(423, "setlist_locked")?;
            Ok(())
        })
        .await;
    } else {
        flow.skip(&EDIT_AFTER_LOCK_REFUSED, "not run: step `setlist::lock_setlist` did not pass, so there is no locked setlist to edit");
    }
    let want_locked = locked.is_some();

    flow.step(&EXPORT_JSON, async {
        let resp = export(&session, &setlist.id, "json", "application/json").await?;
        let doc: SetlistExport = resp.json()?;
        ensure_eq("id", setlist.id.as_str(), doc.id.as_str())?;
        let got: Vec<&str> = doc.items.iter().map(|i| i.title.as_str()).collect();
        ensure_eq("titles in order", titles(&expected), got)?;
        let positions: Vec<u64> = doc.items.iter().map(|i| i.position).collect();
        ensure_eq(
            "positions",
            (1..=expected.len() as u64).collect::<Vec<_>>(),
            positions,
        )?;
        let durations: Vec<u64> = doc.items.iter().map(|i| i.duration_s).collect();
        ensure_eq(
            "durations",
            expected.iter().map(|i| i.duration_s).collect::<Vec<_>>(),
            durations,
        )?;
        ensure_eq("total_duration_s", total(&expected), doc.total_duration_s)?;
        ensure_eq("locked", want_locked, doc.locked)?;
        Ok(())
    })
    .await;

    flow.step(&EXPORT_CSV, async {
        let resp = export(&session, &setlist.id, "csv", "text/csv").await?;
        let text = std::str::from_utf8(&resp.body)
            .map_err(|e| ExecError::Other(format!("the CSV export is not UTF-8: {e}")))?;
        let rows = parse_csv(text)
            .map_err(|e| ExecError::Other(format!("the CSV export is not RFC 4180 CSV: {e}")))?;
        let header = rows.first().map(|r| r.join(",")).unwrap_or_default();
        ensure_eq(
            "CSV header",
            "position,title,duration_s,key,notes",
            header.as_str(),
        )?;
        let body = rows.get(1..).unwrap_or_default();
        let (items, total_row) = body.split_at(body.len().saturating_sub(1));
        let got: Vec<&str> = items
            .iter()
            .map(|r| r.get(1).map(String::as_str).unwrap_or(""))
            .collect();
        ensure_eq("CSV titles in order", titles(&expected), got)?;
        let total_row = total_row.first().cloned().unwrap_or_default();
        ensure_eq(
            "CSV TOTAL row",
            vec![
                String::new(),
                "TOTAL".into(),
                total(&expected).to_string(),
                String::new(),
                String::new(),
            ],
            total_row,
        )?;
        Ok(())
    })
    .await;

    flow.step(&EXPORT_PDF, async {
        let resp = session
            .get(&format!("/api/setlists/{}/export?format=pdf", setlist.id))
            .send()
            .await?;
        resp.expect_status(200)?;
        let text = read_pdf(&resp, "the PDF export").await?;
        pdf_shows_items(&text, &titles(&expected), total(&expected))?;
        Ok(())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_crlf() {
        let rows = parse_csv("a,b\r\n1,\"Hello, \"\"you\"\"\"\r\n,TOTAL,5,,\r\n").unwrap();
        assert_eq!(
            rows,
            vec![
                vec!["a", "b"],
                vec!["1", "Hello, \"you\""],
                vec!["", "TOTAL", "5", "", ""]
            ]
        );
    }

    #[test]
    fn csv_dialects_rfc_4180_allows() {
        let want = vec![vec!["position", "title"], vec!["1", "a, b"]];
        for text in [
            "position,title\r\n1,\"a, b\"\r\n",
            "\u{feff}position,title\r\n1,\"a, b\"\r\n",
            "\"position\",\"title\"\r\n\"1\",\"a, b\"",
            "position,title\n1,\"a, b\"\n",
        ] {
            assert_eq!(parse_csv(text).unwrap(), want, "{text:?}");
        }
    }

    #[test]
    fn fixture_loads_and_differs_after_edit() {
        let f = fixture().unwrap();
        assert!(f.items.len() >= 3);
        assert_ne!(titles(&f.items), titles(&f.edited_items));
    }
}
