//! Availability requests: the Manager asks the Crew and Member users, each answers
//! as themselves, an outsider is refused, the counts add up, and a request past
//! its `respond_by` refuses a late answer.
//!
//! The requests go with their event, which is guarded for deletion.

use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;

use crate::flow::FlowRun;
use stageos_smoke_http::credentials::Role;
use stageos_smoke_http::http::{ExecError, Session, StepError, ensure, ensure_eq};
use stageos_smoke_http::wait::{Backoff, Poll, poll_until, sleep_until_utc};
use stageos_smoke_model::flowdef::{FlowDef, StepDef};

use super::common::{create_event, session_as, smoke_event_body};
use super::model::{AvailabilityCounts, AvailabilityRequest, format_time, parse_time};

/// The availability flow's steps.
pub static FLOW: FlowDef = FlowDef {
    id: "availability",
    description: "Availability requests: invite, respond as the invitees, refuse outsiders, count, close",
    roles: &[Role::Manager, Role::Crew, Role::Member, Role::Accountant],
    needs_owner_totp: false,
    observes_run: false,
    steps: &[
        SETUP_EVENT,
        INVITEES_LOG_IN,
        REQUEST_AVAILABILITY,
        CREW_RESPONDS,
        MEMBER_RESPONDS,
        NON_INVITEE_REFUSED,
        COUNTS_MATCH,
        CLOSED_REQUEST_REFUSES_LATE_ANSWER,
    ],
};

// The steps of `availability`, each id written once: `FLOW` lists them and the
// flow's `run` names them by these constants.

/// Step `setup_event`.
pub const SETUP_EVENT: StepDef = StepDef {
    id: "setup_event",
    description: "The Manager creates a smoke-tagged event to ask about",
};

/// Step `invitees_log_in`.
pub const INVITEES_LOG_IN: StepDef = StepDef {
    id: "invitees_log_in",
    description: "The Crew, Member and Accountant users log in (their user ids come from their own logins)",
};

/// Step `request_availability`.
pub const REQUEST_AVAILABILITY: StepDef = StepDef {
    id: "request_availability",
    description: "The Manager asks Crew and Member: 201, status open, one pending response per invitee in order",
};

/// Step `crew_responds`.
pub const CREW_RESPONDS: StepDef = StepDef {
    id: "crew_responds",
    description: "The Crew user answers `available` as themselves: 200 and the answer is recorded",
};

/// Step `member_responds`.
pub const MEMBER_RESPONDS: StepDef = StepDef {
    id: "member_responds",
    description: "The Member user answers `tentative` as themselves: 200 and the answer is recorded",
};

/// Step `non_invitee_refused`.
pub const NON_INVITEE_REFUSED: StepDef = StepDef {
    id: "non_invitee_refused",
    description: "The Accountant, who was not invited, is refused with 403",
};

/// Step `counts_match`.
pub const COUNTS_MATCH: StepDef = StepDef {
    id: "counts_match",
    description: "GET the request: counts per status and each invitee's answer match what was answered",
};

/// Step `closed_request_refuses_late_answer`.
pub const CLOSED_REQUEST_REFUSES_LATE_ANSWER: StepDef = StepDef {
    id: "closed_request_refuses_late_answer",
    description: "Once respond_by has passed, an answer is refused with 409 request_closed",
};

async fn respond(
    session: &Session,
    request_id: &str,
    status: &str,
) -> Result<stageos_smoke_http::http::Response, ExecError> {
    session
        .post(&format!("/api/availability-requests/{request_id}/respond"))
        .json(&json!({ "status": status, "note": "answered by the smoke suite" }))
        .send()
        .await
}

fn answer_of<'a>(req: &'a AvailabilityRequest, member: &str) -> Option<&'a str> {
    req.responses
        .iter()
        .find(|r| r.member_id == member)
        .map(|r| r.status.as_str())
}

/// Run the availability flow.
pub async fn run(flow: &mut FlowRun) {
    let Some((
        (manager, m_session),
        (crew, c_session),
        (member, mb_session),
        (accountant, a_session),
    )) = flow.setup(|f| {
        Ok::<_, ExecError>((
            f.user_session(Role::Manager)?,
            f.user_session(Role::Crew)?,
            f.user_session(Role::Member)?,
            f.user_session(Role::Accountant)?,
        ))
    })
    else {
        return;
    };
    let run_id = flow.cx().run_id().to_owned();
    let cleanups = flow.cleanups();

    let event = flow
        .step(&SETUP_EVENT, async {
            let (session, _) = session_as(m_session, &manager, None).await?;
            let (event, _) = create_event(
                &session,
                &cleanups,
                &smoke_event_body(&run_id, &format!("Smoke availability {run_id}")),
            )
            .await?;
            Ok((session, event))
        })
        .await;
    let Some((manager_s, event)) = event else {
        return;
    };

    let invitees = flow
        .step(&INVITEES_LOG_IN, async {
            let (crew_s, crew_t) = session_as(c_session, &crew, None).await?;
            let (member_s, member_t) = session_as(mb_session, &member, None).await?;
            let (acc_s, _) = session_as(a_session, &accountant, None).await?;
            ensure_eq("role of the Crew login", "crew", crew_t.user.role.as_str())?;
            ensure_eq(
                "role of the Member login",
                "member",
                member_t.user.role.as_str(),
            )?;
            Ok((
                (crew_s, crew_t.user.id),
                (member_s, member_t.user.id),
                acc_s,
            ))
        })
        .await;
    let Some(((crew_s, crew_id), (member_s, member_id), acc_s)) = invitees else {
        return;
    };
    let create_path = format!("/api/events/{}/availability-requests", event.id);

    // The late-answer check waits out a respond_by window: it runs beside the
    // main chain from the moment the invitees are logged in, so the window costs
    // the flow nothing when the rest takes longer than it.
    let steps = flow.steps();
    let deadline = flow.cx().wait_deadline;
    let window = flow.cx().respond_by_window;
    let late_answer = steps.step(&CLOSED_REQUEST_REFUSES_LATE_ANSWER, async {
        // The window is set by the target's clock (the latest it can read now),
        // so a target ahead of us still sees a respond_by in the future.
        let clock = manager_s.target_clock().clone();
        // A target that stores whole seconds (the contract does not say) closes
        // the request up to a second early; the flow waits for the respond_by it
        // echoes, so that only shortens the wait.
        let respond_by = clock.target_now_upper() + window;
        let resp = manager_s
            .post(&create_path)
            .json(&json!({
                "member_ids": [crew_id],
                "message": "Smoke check: closes in a moment",
                "respond_by": format_time(respond_by),
                "tags": ["smoke", run_id],
                "smoke_run_id": run_id,
            }))
            .send()
            .await?;
        resp.expect_status(201)?;
        let short: AvailabilityRequest = resp.json()?;
        let respond_by = parse_time("respond_by", &short.respond_by)?;
        // Wait until the target's clock can have passed respond_by (the run's
        // estimate of it), then poll until the target agrees the request closed.
        // Polled at a steady 100 ms from there, so the close is seen as it happens.
        sleep_until_utc(clock.lower_local(respond_by), Duration::ZERO).await;
        let path = format!("/api/availability-requests/{}", short.id);
        let steady = Backoff::steady(Duration::from_millis(100));
        poll_until(deadline, steady, || async {
            let resp = manager_s.get(&path).send().await?;
            resp.expect_status(200)?;
            let r: AvailabilityRequest = resp.json()?;
            Ok::<_, StepError>(if r.status == "closed" {
                Poll::Ready(())
            } else {
                Poll::Pending(format!("`{}`", r.status))
            })
        })
        .await
        .map_err(|e| e.into_step("request status after respond_by", "closed"))?;
        let late = respond(&crew_s, &short.id, "available").await?;
        late.expect_error(409, "request_closed")?;
        Ok(())
    });
    let main_chain = async {
        let request = steps
            .step(&REQUEST_AVAILABILITY, async {
                let respond_by = format_time(OffsetDateTime::now_utc() + time::Duration::hours(1));
                let resp = manager_s
                    .post(&create_path)
                    .json(&json!({
                        "member_ids": [crew_id, member_id],
                        "message": "Smoke check: are you available?",
                        "respond_by": respond_by,
                        "tags": ["smoke", run_id],
                        "smoke_run_id": run_id,
                    }))
                    .send()
                    .await?;
                resp.expect_status(201)?;
                let req: AvailabilityRequest = resp.json()?;
                ensure_eq("status of a new request", "open", req.status.as_str())?;
                ensure_eq("event_id", event.id.as_str(), req.event_id.as_str())?;
                let order: Vec<&str> = req.responses.iter().map(|r| r.member_id.as_str()).collect();
                ensure_eq(
                    "invitees in the order of member_ids",
                    vec![crew_id.as_str(), member_id.as_str()],
                    order,
                )?;
                ensure(
                    req.responses.iter().all(|r| r.status == "pending"),
                    "responses of a new request",
                    "all pending",
                    format!(
                        "{:?}",
                        req.responses.iter().map(|r| &r.status).collect::<Vec<_>>()
                    ),
                )?;
                ensure_eq(
                    "counts of a new request",
                    AvailabilityCounts {
                        pending: 2,
                        ..Default::default()
                    },
                    req.counts,
                )?;
                Ok(req)
            })
            .await;
        let Some(request) = request else { return };
        let req_path = format!("/api/availability-requests/{}", request.id);

        steps
            .step(&CREW_RESPONDS, async {
                let resp = respond(&crew_s, &request.id, "available").await?;
                resp.expect_status(200)?;
                let req: AvailabilityRequest = resp.json()?;
                ensure_eq(
                    "the Crew user's recorded answer",
                    Some("available"),
                    answer_of(&req, &crew_id),
                )?;
                Ok(())
            })
            .await;

        steps
            .step(&MEMBER_RESPONDS, async {
                let resp = respond(&member_s, &request.id, "tentative").await?;
                resp.expect_status(200)?;
                let req: AvailabilityRequest = resp.json()?;
                ensure_eq(
                    "the Member user's recorded answer",
                    Some("tentative"),
                    answer_of(&req, &member_id),
                )?;
                Ok(())
            })
            .await;

        steps
            .step(&NON_INVITEE_REFUSED, async {
                let resp = respond(&acc_s, &request.id, "available").await?;
                resp.expect_error(403, "forbidden")?;
                Ok(())
            })
            .await;

        steps
            .step(&COUNTS_MATCH, async {
                let resp = manager_s.get(&req_path).send().await?;
                resp.expect_status(200)?;
                let req: AvailabilityRequest = resp.json()?;
                ensure_eq(
                    "answer of the Crew user",
                    Some("available"),
                    answer_of(&req, &crew_id),
                )?;
                ensure_eq(
                    "answer of the Member user",
                    Some("tentative"),
                    answer_of(&req, &member_id),
                )?;
                let tally = |s: &str| req.responses.iter().filter(|r| r.status == s).count() as u64;
                let from_responses = AvailabilityCounts {
                    pending: tally("pending"),
                    available: tally("available"),
                    unavailable: tally("unavailable"),
                    tentative: tally("tentative"),
                };
                ensure_eq(
                    "counts",
                    AvailabilityCounts {
                        pending: 0,
                        available: 1,
                        unavailable: 0,
                        tentative: 1,
                    },
                    req.counts,
                )?;
                ensure_eq(
                    "counts against the listed responses",
                    from_responses,
                    req.counts,
                )?;
                Ok(())
            })
            .await;
    };
    futures::future::join(main_chain, late_answer).await;
}
