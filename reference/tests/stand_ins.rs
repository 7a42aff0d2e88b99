//! The stand-ins for the deployment's other services: the worker's and web's
//! health (release and rollout order) and AWS Backup's restore jobs, each with
//! its fault, and none of them in the API's request metrics.

mod common;

use common::start;
use serde_json::{Value, json};
use stageos_reference::Fault;

async fn get_json(ctx: &common::Ctx, path: &str) -> Value {
    let resp = ctx.http.get(ctx.url(path)).send().await.expect("req");
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.expect("json")
}

fn started(body: &Value) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(
        body["started_at"].as_str().expect("started_at"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339")
}

#[tokio::test]
async fn worker_and_web_report_the_release_and_start_after_the_api_in_order() {
    let ctx = start(vec![]).await;
    let api = get_json(&ctx, "/api/health").await;
    let worker = get_json(&ctx, "/_services/worker/api/health").await;
    let web = get_json(&ctx, "/_services/web/api/health").await;
    for (name, body) in [("worker", &worker), ("web", &web)] {
        assert_eq!(body["status"], "ok", "{name}");
        assert_eq!(body["version"], api["version"], "{name}");
        assert_eq!(body["commit"], api["commit"], "{name}");
        assert_eq!(body["migrations"]["status"], "in_sync", "{name}");
    }
    assert!(started(&api) < started(&worker) && started(&worker) < started(&web));
    let resp = ctx
        .http
        .get(ctx.url("/_services/api/api/health"))
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), 404, "only the worker and web have stand-ins");
    // Other processes: the API's request metrics do not count them.
    let metrics = ctx
        .http
        .get(ctx.url("/metrics"))
        .send()
        .await
        .expect("req")
        .text()
        .await
        .expect("text");
    assert!(!metrics.contains("/_services"), "{metrics}");
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn the_faults_move_the_web_to_the_previous_release_or_before_the_worker() {
    let ctx = start(vec![Fault::ServiceOnPreviousRelease]).await;
    let web = get_json(&ctx, "/_services/web/api/health").await;
    let worker = get_json(&ctx, "/_services/worker/api/health").await;
    assert_eq!(web["version"], "v1.3.0-20261101");
    assert_eq!(worker["version"], "v1.4.0-20261125");
    ctx.server.set_faults(vec![Fault::RolloutOutOfOrder]);
    let web = get_json(&ctx, "/_services/web/api/health").await;
    let worker = get_json(&ctx, "/_services/worker/api/health").await;
    assert_eq!(web["version"], worker["version"]);
    assert!(started(&web) < started(&worker));
    ctx.server.shutdown().await;
}

#[tokio::test]
async fn restore_jobs_start_complete_and_list_within_their_window() {
    let ctx = start(vec![]).await;
    let jobs = ctx.url("/_aws/backup/restore-jobs");
    let resp = ctx
        .http
        .put(&jobs)
        .json(&json!({
            "RecoveryPointArn": "arn:aws:rds:us-east-1:000000000000:snapshot:s",
            "Metadata": {"DBInstanceIdentifier": "restore-test"},
            "ResourceType": "RDS",
        }))
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), 200);
    let id = resp.json::<Value>().await.expect("json")["RestoreJobId"].clone();
    assert!(id.is_string());
    let week_ago = (time::OffsetDateTime::now_utc() - time::Duration::days(7))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    let listed = ctx
        .http
        .get(&jobs)
        .query(&[
            ("status", "COMPLETED"),
            ("completeAfter", week_ago.as_str()),
        ])
        .send()
        .await
        .expect("req")
        .json::<Value>()
        .await
        .expect("json");
    let job = &listed["RestoreJobs"][0];
    assert_eq!(job["RestoreJobId"], id);
    assert_eq!(job["ResourceType"], "RDS");
    assert_eq!(job["ValidationStatus"], "SUCCESSFUL");
    assert!(job["CompletionDate"].is_i64());
    // 45 days old under the fault: nothing completed within the last week.
    ctx.server.set_faults(vec![Fault::RestoreTestStale]);
    let listed = ctx
        .http
        .get(&jobs)
        .query(&[("completeAfter", week_ago.as_str())])
        .send()
        .await
        .expect("req")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(listed["RestoreJobs"], json!([]));
    // A malformed request gets an AWS error the SDK reads.
    let resp = ctx.http.put(&jobs).body("{}").send().await.expect("req");
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok()),
        Some("MissingParameterValueException")
    );
    ctx.server.shutdown().await;
}
