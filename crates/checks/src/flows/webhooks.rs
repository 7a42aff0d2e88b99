//! Webhooks: the Owner registers an endpoint pointing at the suite's own
//! receiver, a test delivery and a business event (`event.updated`) arrive,
//! signed and with consistent ids; the first attempt of the business event is
//! answered 500 and the retry arrives; the delivery log agrees with what the
//! receiver saw; the endpoint is deleted.
//!
//! When the target cannot reach the suite (`webhook_mode = "delivery-log"`, or by
//! default for a remote target with no `webhook_public_url`), the
//! `delivery_log_only_*` steps check the target's delivery log alone and the
//! receiver steps are skipped (and the other way round).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use crate::flow::FlowRun;
use stageos_smoke_http::credentials::Role;
use stageos_smoke_http::http::{ExecError, Session, StepError, ensure, ensure_eq};
use stageos_smoke_http::wait::{Backoff, Poll, poll_until};
use stageos_smoke_http::webhook_receiver::WebhookMode;
use stageos_smoke_http::webhook_receiver::{
    Received, Receiver, SIGNATURE_TOLERANCE_SECS, verify_signature,
};
use stageos_smoke_model::flowdef::{FlowDef, StepDef};

use super::common::{create_event, guard_created, session_as, smoke_event_body};
use super::model::{DeliveryAccepted, Event, WebhookDelivery, WebhookEndpoint};

/// The webhooks flow's steps.
pub static FLOW: FlowDef = FlowDef {
    id: "webhooks",
    description: "Webhooks: endpoint, test and business deliveries, signatures, retry after a 500, delivery log, delete",
    roles: &[Role::Owner],
    needs_owner_totp: true,
    observes_run: false,
    steps: &[
        OWNER_LOGIN,
        START_RECEIVER,
        REGISTER_ENDPOINT,
        TEST_DELIVERY_RECEIVED,
        EVENT_UPDATE_DELIVERED,
        FAILED_ATTEMPT_RETRIED,
        SIGNATURES_VALID,
        DELIVERY_IDS_CONSISTENT,
        DELIVERY_LOG_AGREES,
        DELIVERY_LOG_ONLY_TEST_RECORDED,
        DELIVERY_LOG_ONLY_EVENT_RECORDED,
        DELIVERY_LOG_ONLY_CONSISTENT,
        DELETE_ENDPOINT,
        DELETED_ENDPOINT_GONE,
    ],
};

// The steps of `webhooks`, each id written once: `FLOW` lists them and the
// flow's `run` names them by these constants.

/// Step `owner_login`.
pub const OWNER_LOGIN: StepDef = StepDef {
    id: "owner_login",
    description: "The Owner logs in with password and TOTP",
};

/// Step `start_receiver`.
pub const START_RECEIVER: StepDef = StepDef {
    id: "start_receiver",
    description: "The suite's webhook receiver listens (receiver mode)",
};

/// Step `register_endpoint`.
pub const REGISTER_ENDPOINT: StepDef = StepDef {
    id: "register_endpoint",
    description: "The Owner registers a smoke-tagged endpoint for event.updated: 201 with a whsec_ secret",
};

/// Step `test_delivery_received`.
pub const TEST_DELIVERY_RECEIVED: StepDef = StepDef {
    id: "test_delivery_received",
    description: "POST …/test answers 202 with a delivery id, and that delivery (webhook.test for this endpoint) reaches the receiver",
};

/// Step `event_update_delivered`.
pub const EVENT_UPDATE_DELIVERED: StepDef = StepDef {
    id: "event_update_delivered",
    description: "Updating a smoke event delivers event.updated for it to the receiver (its first attempt is answered 500)",
};

/// Step `failed_attempt_retried`.
pub const FAILED_ATTEMPT_RETRIED: StepDef = StepDef {
    id: "failed_attempt_retried",
    description: "After the 500, the same delivery (same delivery and event id) is retried and answered 200",
};

/// Step `signatures_valid`.
pub const SIGNATURES_VALID: StepDef = StepDef {
    id: "signatures_valid",
    description: "Every delivery carries StageOS-Signature t=…,v1=HMAC-SHA256(secret, \"t.body\") with t within 300 s",
};

/// Step `delivery_ids_consistent`.
pub const DELIVERY_IDS_CONSISTENT: StepDef = StepDef {
    id: "delivery_ids_consistent",
    description: "StageOS-Event-Id equals the body's id, StageOS-Delivery-Id the delivery's id, and both stay the same across retries",
};

/// Step `delivery_log_agrees`.
pub const DELIVERY_LOG_AGREES: StepDef = StepDef {
    id: "delivery_log_agrees",
    description: "The delivery log matches what the receiver saw: attempts, last response status, succeeded only after a 2xx",
};

/// Step `delivery_log_only_test_recorded`.
pub const DELIVERY_LOG_ONLY_TEST_RECORDED: StepDef = StepDef {
    id: "delivery_log_only_test_recorded",
    description: "Delivery-log mode (target cannot reach the suite): the test delivery is listed for the endpoint and attempted",
};

/// Step `delivery_log_only_event_recorded`.
pub const DELIVERY_LOG_ONLY_EVENT_RECORDED: StepDef = StepDef {
    id: "delivery_log_only_event_recorded",
    description: "Delivery-log mode: updating a smoke event lists an attempted event.updated delivery",
};

/// Step `delivery_log_only_consistent`.
pub const DELIVERY_LOG_ONLY_CONSISTENT: StepDef = StepDef {
    id: "delivery_log_only_consistent",
    description: "Delivery-log mode: every listed delivery is succeeded exactly when its last response was 2xx, pending ones have a next attempt",
};

/// Step `delete_endpoint`.
pub const DELETE_ENDPOINT: StepDef = StepDef {
    id: "delete_endpoint",
    description: "DELETE the endpoint: 204",
};

/// Step `deleted_endpoint_gone`.
pub const DELETED_ENDPOINT_GONE: StepDef = StepDef {
    id: "deleted_endpoint_gone",
    description: "After the delete, the endpoint is no longer listed",
};

const RECEIVER_STEPS: &[&str] = &[
    START_RECEIVER.id,
    TEST_DELIVERY_RECEIVED.id,
    EVENT_UPDATE_DELIVERED.id,
    FAILED_ATTEMPT_RETRIED.id,
    SIGNATURES_VALID.id,
    DELIVERY_IDS_CONSISTENT.id,
    DELIVERY_LOG_AGREES.id,
];
const LOG_ONLY_STEPS: &[&str] = &[
    DELIVERY_LOG_ONLY_TEST_RECORDED.id,
    DELIVERY_LOG_ONLY_EVENT_RECORDED.id,
    DELIVERY_LOG_ONLY_CONSISTENT.id,
];

async fn deliveries(
    session: &Session,
    endpoint_id: &str,
) -> Result<Vec<WebhookDelivery>, StepError> {
    let resp = session
        .get(&format!("/api/webhooks/endpoints/{endpoint_id}/deliveries"))
        .send()
        .await?;
    resp.expect_status(200)?;
    Ok(resp.json()?)
}

/// Create a smoke event as `session` and update it once (which emits event.updated).
async fn update_smoke_event(
    session: &Session,
    cleanups: &crate::flow::Cleanups,
    run_id: &str,
) -> Result<Event, StepError> {
    let (event, _) = create_event(
        session,
        cleanups,
        &smoke_event_body(run_id, &format!("Smoke webhooks {run_id}")),
    )
    .await?;
    let resp = session
        .patch(&format!("/api/events/{}", event.id))
        .header("if-match", &format!("\"{}\"", event.version))
        .json(&json!({ "notes": "updated by the smoke suite to emit event.updated" }))
        .send()
        .await?;
    resp.expect_status(200)?;
    Ok(event)
}

/// What the receiver saw of one delivery: attempts and the last answer.
fn seen(received: &[Received], delivery_id: &str) -> (u32, Option<u16>) {
    let attempts: Vec<&Received> = received
        .iter()
        .filter(|r| r.delivery_id.as_deref() == Some(delivery_id))
        .collect();
    (attempts.len() as u32, attempts.last().map(|r| r.answered))
}

/// Run the webhooks flow.
pub async fn run(flow: &mut FlowRun) {
    let Some((owner, session, seed)) = flow.setup(|f| {
        let seed = f.owner_totp_seed()?;
        Ok::<_, ExecError>((f.user(Role::Owner)?, f.session("owner")?, seed))
    }) else {
        return;
    };
    let cx = flow.cx().clone();
    let run_id = cx.run_id().to_owned();
    let deadline = cx.wait_deadline;
    let mode = cx.webhook.mode;

    let Some(session) = flow
        .step(&OWNER_LOGIN, async {
            Ok(session_as(session, &owner, Some(&seed)).await?.0)
        })
        .await
    else {
        return;
    };

    let receiver = if mode == WebhookMode::Receiver {
        let r = flow
            .step(&START_RECEIVER, async {
                let r = Receiver::start(cx.webhook.bind, cx.webhook.public_url.clone(), &run_id)
                    .await
                    .map_err(|e| ExecError::Other(format!("failed to start the webhook receiver on {}: {e} (hint: set webhook_bind, or webhook_mode = \"delivery-log\")", cx.webhook.bind)))?;
                Ok(r)
            })
            .await;
        let Some(r) = r else { return };
        for &id in LOG_ONLY_STEPS {
            flow.skip(id, "not run: receiver mode (the target delivers to the suite's receiver; the receiver steps check the deliveries)");
        }
        Some(r)
    } else {
        for &id in RECEIVER_STEPS {
            flow.skip(
                id,
                format!(
                    "not run: delivery-log mode ({}); only the target's delivery log is checked",
                    cx.webhook.mode_reason
                ),
            );
        }
        None
    };
    let endpoint_url = match (&receiver, &cx.webhook.public_url) {
        (Some(r), _) => r.url().to_string(),
        (None, Some(u)) => u.to_string(),
        // Never resolves (RFC 2606): nothing can answer, so no delivery may succeed.
        (None, None) => format!("https://stageos-smoke.invalid/webhooks/{run_id}"),
    };
    let unreachable_by_design = receiver.is_none() && cx.webhook.public_url.is_none();

    let cleanups = flow.cleanups();
    let endpoint = flow
        .step(&REGISTER_ENDPOINT, async {
            let resp = session
                .post("/api/webhooks/endpoints")
                .json(&json!({
                    "url": endpoint_url,
                    "events": ["event.updated"],
                    "description": format!("StageOS smoke suite run {run_id}"),
                    "tags": ["smoke", run_id],
                    "smoke_run_id": run_id,
                }))
                .send()
                .await?;
            guard_created(
                &cleanups,
                &session,
                &resp,
                "/api/webhooks/endpoints",
                "webhook endpoint",
            );
            resp.expect_status(201)?;
            let ep: WebhookEndpoint = resp.json()?;
            let secret = ep.secret.clone().unwrap_or_default();
            cx.http.redactor.add(&secret);
            ensure(
                secret.starts_with("whsec_") && secret.len() >= 38,
                "endpoint secret",
                "whsec_ followed by at least 32 characters",
                if secret.is_empty() {
                    "none".to_owned()
                } else {
                    format!("{} characters", secret.len())
                },
            )?;
            ensure_eq("endpoint url", endpoint_url.as_str(), ep.url.as_str())?;
            super::common::check_smoke_tagging(
                "webhook endpoint",
                &ep.tags,
                ep.smoke_run_id.as_deref(),
                &run_id,
            )?;
            Ok((ep, secret))
        })
        .await;
    let Some((endpoint, secret)) = endpoint else {
        if let Some(r) = receiver {
            r.shutdown().await;
        }
        return;
    };
    let ep_path = format!("/api/webhooks/endpoints/{}", endpoint.id);

    match &receiver {
        Some(r) => receiver_steps(flow, r, &session, &endpoint, &secret, deadline).await,
        None => log_only_steps(flow, &session, &endpoint, deadline, unreachable_by_design).await,
    }

    let cleanups = flow.cleanups();
    let deleted = flow
        .step(&DELETE_ENDPOINT, async {
            let resp = session.delete(&ep_path).send().await?;
            resp.expect_status(204)?;
            cleanups.disarm(&ep_path);
            Ok(())
        })
        .await;
    if deleted.is_some() {
        let cleanups = flow.cleanups();
        flow.step(&DELETED_ENDPOINT_GONE, async {
            let resp = session
                .get(&format!("/api/webhooks/endpoints?tag={run_id}"))
                .send()
                .await?;
            resp.expect_status(200)?;
            let list: Vec<WebhookEndpoint> = resp.json()?;
            if list.iter().any(|e| e.id == endpoint.id) {
                cleanups.delete_later(
                    &session,
                    ep_path.clone(),
                    format!("webhook endpoint {}", endpoint.id),
                );
            }
            ensure(
                !list.iter().any(|e| e.id == endpoint.id),
                "endpoint list after the delete",
                "without the deleted endpoint",
                "the deleted endpoint is still listed",
            )?;
            Ok(())
        })
        .await;
    }
    if let Some(r) = receiver {
        r.shutdown().await;
    }
}

async fn receiver_steps(
    flow: &mut FlowRun,
    receiver: &Receiver,
    session: &Session,
    endpoint: &WebhookEndpoint,
    secret: &str,
    deadline: Duration,
) {
    let run_id = flow.cx().run_id().to_owned();
    let test_id = flow
        .step(&TEST_DELIVERY_RECEIVED, async {
            let resp = session
                .post(&format!("/api/webhooks/endpoints/{}/test", endpoint.id))
                .send()
                .await?;
            resp.expect_status(202)?;
            let accepted: DeliveryAccepted = resp.json()?;
            let got = receiver
                .wait_for(deadline, |log| {
                    log.iter()
                        .find(|r| r.delivery_id.as_deref() == Some(accepted.delivery_id.as_str()))
                        .cloned()
                })
                .await;
            let got = got.ok_or_else(|| stageos_smoke_http::http::CheckFailure {
                what: format!("test delivery {}", accepted.delivery_id),
                expected: format!("received within {} ms", deadline.as_millis()),
                actual: format!(
                    "not received ({} other requests)",
                    receiver.received().len()
                ),
            })?;
            ensure_eq(
                "type of the test delivery",
                Some("webhook.test"),
                got.event_type(),
            )?;
            let ep = got
                .payload
                .as_ref()
                .and_then(|p| p.get("data")?.get("endpoint_id")?.as_str());
            ensure_eq(
                "data.endpoint_id of the test delivery",
                Some(endpoint.id.as_str()),
                ep,
            )?;
            Ok(accepted.delivery_id)
        })
        .await;

    let cleanups = flow.cleanups();
    let first = flow
        .step(&EVENT_UPDATE_DELIVERED, async {
            // Registered before the update, so the first attempt is sure to get the 500.
            let (event, _) = create_event(
                session,
                &cleanups,
                &smoke_event_body(&run_id, &format!("Smoke webhooks {run_id}")),
            )
            .await?;
            receiver.fail_first_attempt_for(&event.id);
            let resp = session
                .patch(&format!("/api/events/{}", event.id))
                .header("if-match", &format!("\"{}\"", event.version))
                .json(&json!({ "notes": "updated by the smoke suite to emit event.updated" }))
                .send()
                .await?;
            resp.expect_status(200)?;
            let got = receiver
                .wait_for(deadline, |log| {
                    log.iter()
                        .find(|r| {
                            r.event_type() == Some("event.updated")
                                && r.subject_id() == Some(event.id.as_str())
                        })
                        .cloned()
                })
                .await;
            let got = got.ok_or_else(|| stageos_smoke_http::http::CheckFailure {
                what: format!("event.updated delivery for event {}", event.id),
                expected: format!("received within {} ms", deadline.as_millis()),
                actual: "not received".into(),
            })?;
            let delivery_id =
                got.delivery_id
                    .clone()
                    .ok_or_else(|| stageos_smoke_http::http::CheckFailure {
                        what: "StageOS-Delivery-Id of the event.updated delivery".into(),
                        expected: "a delivery id".into(),
                        actual: "missing".into(),
                    })?;
            Ok((delivery_id, got))
        })
        .await;

    match &first {
        Some((delivery_id, first_attempt)) => {
            flow.step(&FAILED_ATTEMPT_RETRIED, async {
                let retry = receiver.wait_for(deadline, |log| log.iter().find(|r| r.delivery_id.as_deref() == Some(delivery_id.as_str()) && r.attempt >= 2).cloned()).await;
                let retry = retry.ok_or_else(|| stageos_smoke_http::http::CheckFailure {
                    what: format!("retry of delivery {delivery_id} after the receiver answered 500"),
                    expected: format!("a second attempt within {} ms", deadline.as_millis()),
                    actual: "no retry".into(),
                })?;
                ensure_eq("StageOS-Event-Id of the retry", first_attempt.event_id.as_deref(), retry.event_id.as_deref())?;
                ensure_eq("answer to the retry", 200, retry.answered)?;
                Ok(())
            })
            .await;
        }
        None => flow.skip(&FAILED_ATTEMPT_RETRIED, "not run: step `webhooks::event_update_delivered` did not pass, so there is no delivery to retry"),
    }

    // The deliveries of this run: the test one and the event.updated one.
    let ours: Vec<String> = test_id
        .iter()
        .cloned()
        .chain(first.as_ref().map(|(d, _)| d.clone()))
        .collect();
    let received: Vec<Received> = receiver
        .received()
        .into_iter()
        .filter(|r| r.delivery_id.as_ref().is_some_and(|d| ours.contains(d)))
        .collect();
    if received.is_empty() {
        for id in [
            SIGNATURES_VALID.id,
            DELIVERY_IDS_CONSISTENT.id,
            DELIVERY_LOG_AGREES.id,
        ] {
            flow.skip(id, "not run: no delivery of this run reached the receiver");
        }
        return;
    }

    flow.step(&SIGNATURES_VALID, async {
        for r in &received {
            let what = format!(
                "StageOS-Signature of delivery {} attempt {}",
                r.delivery_id.as_deref().unwrap_or("?"),
                r.attempt
            );
            let header =
                r.signature
                    .as_deref()
                    .ok_or_else(|| stageos_smoke_http::http::CheckFailure {
                        what: what.clone(),
                        expected: "t=<unix>,v1=<hex>".into(),
                        actual: "missing".into(),
                    })?;
            verify_signature(secret, header, &r.body, r.at_unix, SIGNATURE_TOLERANCE_SECS)
                .map_err(|e| stageos_smoke_http::http::CheckFailure {
                    what,
                    expected:
                        "a valid HMAC-SHA256 signature over \"t.body\" with the endpoint secret"
                            .into(),
                    actual: e.to_string(),
                })?;
        }
        Ok(())
    })
    .await;

    flow.step(&DELIVERY_IDS_CONSISTENT, async {
        for r in &received {
            let body_id = r.payload.as_ref().and_then(|p| p.get("id")?.as_str());
            ensure_eq(
                format!(
                    "StageOS-Event-Id of delivery {} attempt {} against the body's id",
                    r.delivery_id.as_deref().unwrap_or("?"),
                    r.attempt
                ),
                body_id,
                r.event_id.as_deref(),
            )?;
        }
        let mut by_delivery: BTreeMap<&str, Vec<&Received>> = BTreeMap::new();
        for r in &received {
            by_delivery
                .entry(r.delivery_id.as_deref().unwrap_or_default())
                .or_default()
                .push(r);
        }
        for (d, attempts) in by_delivery {
            let events: Vec<Option<&str>> =
                attempts.iter().map(|r| r.event_id.as_deref()).collect();
            ensure(
                events.windows(2).all(|w| w[0] == w[1]),
                format!("StageOS-Event-Id across the attempts of delivery {d}"),
                "the same on every attempt",
                format!("{events:?}"),
            )?;
        }
        Ok(())
    })
    .await;

    flow.step(&DELIVERY_LOG_AGREES, async {
        // The target records an attempt after our answer reaches it: poll until the
        // log has caught up with what the receiver saw, then compare.
        let seen_now = receiver.received();
        let want: Vec<(String, u32, Option<u16>)> = ours
            .iter()
            .map(|d| {
                let (n, last) = seen(&seen_now, d);
                (d.clone(), n, last)
            })
            .collect();
        let log = poll_until(deadline, Backoff::default(), || async {
            let list = deliveries(session, &endpoint.id).await?;
            let caught_up = want.iter().all(|(d, n, _)| {
                list.iter().any(|x| {
                    &x.id == d
                        && x.attempts >= *n
                        && (x.status != "pending" || x.next_attempt_at.is_some())
                })
            });
            let settled = want.iter().all(|(d, _, last)| {
                list.iter().any(|x| {
                    &x.id == d
                        && !(last.is_some_and(|s| (200..300).contains(&s)) && x.status == "pending")
                })
            });
            Ok::<_, StepError>(if caught_up && settled {
                Poll::Ready(list)
            } else {
                Poll::Pending("behind the receiver".into())
            })
        })
        .await
        .map_err(|e| {
            e.into_step(
                "delivery log",
                "to list every delivery the receiver saw, with its attempts",
            )
        })?;
        for (d, n, last) in &want {
            let Some(entry) = log.iter().find(|x| &x.id == d) else {
                continue;
            };
            ensure_eq(
                format!("attempts of delivery {d} ({})", entry.event_type),
                *n,
                entry.attempts,
            )?;
            ensure_eq(
                format!("response_status of delivery {d} ({})", entry.event_type),
                *last,
                entry.response_status,
            )?;
            let ok = last.is_some_and(|s| (200..300).contains(&s));
            ensure(
                ok == (entry.status == "succeeded"),
                format!(
                    "status of delivery {d} ({}) whose last attempt was answered {}",
                    entry.event_type,
                    last.map(|s| s.to_string())
                        .unwrap_or_else(|| "never".into())
                ),
                if ok {
                    "succeeded"
                } else {
                    "pending or failed (not succeeded without a 2xx)"
                },
                entry.status.clone(),
            )?;
            ensure_eq(
                format!("endpoint_id of delivery {d}"),
                endpoint.id.as_str(),
                entry.endpoint_id.as_str(),
            )?;
        }
        Ok(())
    })
    .await;
}

async fn log_only_steps(
    flow: &mut FlowRun,
    session: &Session,
    endpoint: &WebhookEndpoint,
    deadline: Duration,
    unreachable_by_design: bool,
) {
    let run_id = flow.cx().run_id().to_owned();
    flow.step(&DELIVERY_LOG_ONLY_TEST_RECORDED, async {
        let resp = session
            .post(&format!("/api/webhooks/endpoints/{}/test", endpoint.id))
            .send()
            .await?;
        resp.expect_status(202)?;
        let accepted: DeliveryAccepted = resp.json()?;
        let entry = poll_until(deadline, Backoff::default(), || async {
            let list = deliveries(session, &endpoint.id).await?;
            Ok::<_, StepError>(
                match list.into_iter().find(|d| d.id == accepted.delivery_id) {
                    Some(d) if d.attempts >= 1 => Poll::Ready(d),
                    Some(d) => Poll::Pending(format!("listed with {} attempts", d.attempts)),
                    None => Poll::Pending("not listed".into()),
                },
            )
        })
        .await
        .map_err(|e| {
            e.into_step(
                &format!("test delivery {} in the delivery log", accepted.delivery_id),
                "listed with at least one attempt",
            )
        })?;
        ensure_eq(
            "event_type of the test delivery",
            "webhook.test",
            entry.event_type.as_str(),
        )?;
        ensure_eq(
            "endpoint_id of the test delivery",
            endpoint.id.as_str(),
            entry.endpoint_id.as_str(),
        )?;
        Ok(())
    })
    .await;

    let cleanups = flow.cleanups();
    flow.step(&DELIVERY_LOG_ONLY_EVENT_RECORDED, async {
        update_smoke_event(session, &cleanups, &run_id).await?;
        poll_until(deadline, Backoff::default(), || async {
            let list = deliveries(session, &endpoint.id).await?;
            Ok::<_, StepError>(
                if list
                    .iter()
                    .any(|d| d.event_type == "event.updated" && d.attempts >= 1)
                {
                    Poll::Ready(())
                } else {
                    Poll::Pending("no attempted event.updated delivery".into())
                },
            )
        })
        .await
        .map_err(|e| {
            e.into_step(
                "event.updated delivery in the delivery log",
                "listed with at least one attempt",
            )
        })?;
        Ok(())
    })
    .await;

    flow.step(&DELIVERY_LOG_ONLY_CONSISTENT, async {
        let list = deliveries(session, &endpoint.id).await?;
        for d in &list {
            let ok = d.response_status.is_some_and(|s| (200..300).contains(&s));
            ensure(
                ok == (d.status == "succeeded"),
                format!(
                    "status of delivery {} ({}) with response_status {:?}",
                    d.id, d.event_type, d.response_status
                ),
                if ok { "succeeded" } else { "pending or failed" },
                d.status.clone(),
            )?;
            if d.status == "pending" && d.attempts >= 1 {
                ensure(
                    d.next_attempt_at.is_some(),
                    format!("next_attempt_at of pending delivery {}", d.id),
                    "a time",
                    "null",
                )?;
            }
            if unreachable_by_design {
                ensure(
                    d.response_status.is_none(),
                    format!(
                        "response_status of delivery {} to an unresolvable host",
                        d.id
                    ),
                    "null (nothing can answer)",
                    format!("{:?}", d.response_status),
                )?;
            }
        }
        Ok(())
    })
    .await;
}
