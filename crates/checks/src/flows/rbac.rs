//! The RBAC matrix: every (role, protected operation) cell of the contract's access
//! matrix, one testcase each, named so a red cell reads as a sentence
//! (`rbac::crew_cannot_read_invoices`).
//!
//! The cells come from `fixtures/rbac-matrix.toml` (compiled in). Step ids must be
//! `&'static str` in a [`FlowDef`], so the flow's definition is built from the matrix
//! once, at first use, and its strings are leaked (a few kilobytes, once per process).
//!
//! The flow logs in as each of the five roles once, lets the Owner create the
//! fixtures (a smoke event, a setlist under it, a file registered on it), then runs
//! the cells top to bottom. Writes use smoke-tagged objects; every object a cell
//! creates — including one a refused role managed to create — is registered for
//! deletion by the Owner the moment its id is known. Refused deletes target a fresh
//! "victim" object, so a role that wrongly succeeds breaks no other cell.
//!
//! Judging a cell: an unexpected 2xx where a refusal (403; 404 for an object hidden by x-access) was expected is a failure showing the
//! status and a short excerpt of the body; a 5xx (or a 401: the role's session was
//! not accepted) is an error — the cell could not be checked.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use reqwest::Method;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};

use futures::StreamExt;

use crate::flow::{Cleanups, FlowRun, Steps};
use stageos_smoke_http::credentials::Role;
use stageos_smoke_http::http::{CheckFailure, ExecError, Response, Session, StepError};
use stageos_smoke_model::flowdef::{FlowDef, StepDef};

use super::common::{login_with_retry, redact_signed_url_field, sha256_hex, smoke_event_body};
use super::files::{put_bytes, wait_scanned};
use super::model::UploadTicket;
use stageos_smoke_http::secrets::Redactor;

const MATRIX_TOML: &str = include_str!("../../../../fixtures/rbac-matrix.toml");

/// Plugin the matrix installs and removes (the Owner's cells). Another key than the
/// audit flow's, so the two flows never race over one plugin.
pub const PLUGIN_KEY: &str = "slack";

/// Webhook URL of the endpoints the matrix creates: `.invalid` never resolves, so
/// no delivery reaches anyone.
pub const WEBHOOK_URL: &str = "https://smoke-rbac.invalid/stageos-webhook";

/// One row of the matrix file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// Verb phrase, e.g. `read invoices`.
    pub action: String,
    /// What the flow sends, e.g. `GET /api/invoices?tag=smoke`.
    pub request: String,
    /// Expected status for the Owner.
    pub owner: u16,
    /// Expected status for the Manager.
    pub manager: u16,
    /// Expected status for a Member.
    pub member: u16,
    /// Expected status for Crew.
    pub crew: u16,
    /// Expected status for the Accountant.
    pub accountant: u16,
    /// For a request whose access follows another object (a file is readable by
    /// whoever can read its parent: the contract's `x-access`), the matrix row whose
    /// roles decide.
    #[serde(default)]
    pub access_via: Option<String>,
}

impl Operation {
    /// The status `role` must get.
    pub fn expected(&self, role: Role) -> u16 {
        match role {
            Role::Owner => self.owner,
            Role::Manager => self.manager,
            Role::Member => self.member,
            Role::Crew => self.crew,
            Role::Accountant => self.accountant,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatrixFile {
    operation: Vec<Operation>,
}

/// What a cell does, keyed by the matrix's `request`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// List smoke events.
    ReadEvents,
    /// Create an event.
    CreateEvents,
    /// PATCH the fixture event with its current ETag.
    EditEvents,
    /// Delete a victim event.
    DeleteEvents,
    /// GET the fixture setlist.
    ReadSetlists,
    /// Create a setlist under the fixture event.
    CreateSetlists,
    /// Replace the fixture setlist's items.
    EditSetlists,
    /// Lock a setlist of the cell's own.
    LockSetlists,
    /// Unlock a setlist of the cell's own, which the Owner locked in the fixtures.
    UnlockSetlists,
    /// List smoke invoices.
    ReadInvoices,
    /// GET the fixture invoice by id.
    ReadOneInvoice,
    /// Create a draft invoice for the fixture event.
    CreateInvoices,
    /// Delete a victim draft invoice.
    DeleteInvoices,
    /// GET the fixture file's metadata.
    ReadFiles,
    /// GET the metadata of the clean file on the fixture invoice.
    ReadInvoiceFiles,
    /// GET a download URL for the clean file on the fixture invoice.
    DownloadInvoiceFiles,
    /// Register an upload on the fixture event.
    UploadFiles,
    /// List smoke webhook endpoints.
    ReadWebhooks,
    /// GET the deliveries of the fixture webhook endpoint.
    ReadWebhookDeliveries,
    /// Create a webhook endpoint.
    CreateWebhooks,
    /// Delete a victim webhook endpoint.
    DeleteWebhooks,
    /// Read one audit entry.
    ReadAuditLogs,
    /// Install [`PLUGIN_KEY`].
    InstallPlugins,
    /// Remove [`PLUGIN_KEY`].
    RemovePlugins,
    /// List smoke users.
    ListUsers,
    /// Create a disposable user.
    CreateUsers,
    /// Delete a victim disposable user.
    DeleteUsers,
}

/// The requests the flow knows how to send, as the matrix names them.
pub const KINDS: &[(&str, OpKind)] = &[
    ("GET /api/events?tag=smoke", OpKind::ReadEvents),
    ("POST /api/events", OpKind::CreateEvents),
    ("PATCH /api/events/{event}", OpKind::EditEvents),
    ("DELETE /api/events/{victim_event}", OpKind::DeleteEvents),
    ("GET /api/setlists/{setlist}", OpKind::ReadSetlists),
    ("POST /api/events/{event}/setlists", OpKind::CreateSetlists),
    ("PATCH /api/setlists/{setlist}", OpKind::EditSetlists),
    ("POST /api/setlists/{setlist}/lock", OpKind::LockSetlists),
    (
        "POST /api/setlists/{setlist}/unlock",
        OpKind::UnlockSetlists,
    ),
    ("GET /api/invoices?tag=smoke", OpKind::ReadInvoices),
    ("GET /api/invoices/{invoice}", OpKind::ReadOneInvoice),
    ("POST /api/invoices", OpKind::CreateInvoices),
    (
        "DELETE /api/invoices/{victim_invoice}",
        OpKind::DeleteInvoices,
    ),
    ("GET /api/files/{file}", OpKind::ReadFiles),
    ("GET /api/files/{invoice_file}", OpKind::ReadInvoiceFiles),
    (
        "GET /api/files/{invoice_file}/download-url",
        OpKind::DownloadInvoiceFiles,
    ),
    ("POST /api/files/uploads", OpKind::UploadFiles),
    (
        "GET /api/webhooks/endpoints?tag=smoke",
        OpKind::ReadWebhooks,
    ),
    (
        "GET /api/webhooks/endpoints/{webhook}/deliveries",
        OpKind::ReadWebhookDeliveries,
    ),
    ("POST /api/webhooks/endpoints", OpKind::CreateWebhooks),
    (
        "DELETE /api/webhooks/endpoints/{victim_webhook}",
        OpKind::DeleteWebhooks,
    ),
    ("GET /api/audit-logs?limit=1", OpKind::ReadAuditLogs),
    ("POST /api/plugins/{plugin}/install", OpKind::InstallPlugins),
    ("DELETE /api/plugins/{plugin}", OpKind::RemovePlugins),
    ("GET /api/users?tag=smoke", OpKind::ListUsers),
    ("POST /api/users", OpKind::CreateUsers),
    ("DELETE /api/users/{victim_user}", OpKind::DeleteUsers),
];

/// One (role, operation) testcase.
#[derive(Debug)]
pub struct Cell {
    /// Who.
    pub role: Role,
    /// What.
    pub kind: OpKind,
    /// Index into [`Matrix::operations`].
    pub operation: usize,
    /// Expected status.
    pub expected: u16,
    /// Step id, e.g. `crew_cannot_read_invoices`.
    pub step: &'static str,
    /// The sentence, e.g. `Crew cannot read invoices`.
    pub sentence: &'static str,
}

/// The parsed matrix and the flow generated from it.
#[derive(Debug)]
pub struct Matrix {
    /// Rows, in file order.
    pub operations: Vec<Operation>,
    /// Cells, in run order.
    pub cells: Vec<Cell>,
    /// The flow definition.
    pub def: FlowDef,
}

fn title(role: Role) -> String {
    let s = role.as_str();
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn snake(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("_")
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// The id of the login step of `role`.
pub fn login_step(role: Role) -> &'static str {
    match role {
        Role::Owner => "owner_logs_in",
        Role::Manager => "manager_logs_in",
        Role::Member => "member_logs_in",
        Role::Crew => "crew_logs_in",
        Role::Accountant => "accountant_logs_in",
    }
}

const FIXTURES_STEP: &str = "owner_creates_fixtures";

/// Parse `text` and build the cells and the flow definition; `Err` names what is wrong.
pub fn build(text: &str) -> Result<Matrix, String> {
    let file: MatrixFile =
        toml::from_str(text).map_err(|e| format!("malformed RBAC matrix: {e}"))?;
    let mut steps = Vec::new();
    for role in Role::ALL {
        steps.push(StepDef {
            id: login_step(role),
            description: leak(format!(
                "The {} test user logs in (once: every cell of the role reuses this session)",
                title(role)
            )),
        });
    }
    steps.push(StepDef { id: FIXTURES_STEP, description: "The Owner creates the smoke fixtures the cells work on: an event, a setlist under it, a file registered on it, a draft invoice for it" });
    let mut cells = Vec::new();
    for (i, op) in file.operation.iter().enumerate() {
        let kind = KINDS
            .iter()
            .find(|(r, _)| *r == op.request)
            .map(|(_, k)| *k)
            .ok_or_else(|| {
                format!(
                    "RBAC matrix operation `{}`: unknown request `{}` (known: {})",
                    op.action,
                    op.request,
                    KINDS.iter().map(|(r, _)| *r).collect::<Vec<_>>().join(", ")
                )
            })?;
        // Refused roles first, then the allowed ones (see the matrix file's header).
        let mut roles: Vec<Role> = Role::ALL
            .iter()
            .copied()
            .filter(|r| is_refusal(op.expected(*r)))
            .collect();
        roles.extend(
            Role::ALL
                .iter()
                .copied()
                .filter(|r| !is_refusal(op.expected(*r))),
        );
        for role in roles {
            let expected = op.expected(role);
            if !(100..=599).contains(&expected) {
                return Err(format!(
                    "RBAC matrix operation `{}`: {role} has no valid status ({expected})",
                    op.action
                ));
            }
            let verb = if is_refusal(expected) {
                "cannot"
            } else {
                "can"
            };
            let sentence = leak(format!("{} {verb} {}", title(role), op.action));
            let step = leak(format!("{}_{verb}_{}", role.as_str(), snake(&op.action)));
            steps.push(StepDef {
                id: step,
                description: leak(format!("{sentence}: {} answers {expected}", op.request)),
            });
            cells.push(Cell {
                role,
                kind,
                operation: i,
                expected,
                step,
                sentence,
            });
        }
    }
    let def = FlowDef {
        id: "rbac",
        description: "RBAC matrix: every role against every protected operation (fixtures/rbac-matrix.toml)",
        roles: &Role::ALL,
        needs_owner_totp: true,
        observes_run: false,
        steps: Box::leak(steps.into_boxed_slice()),
    };
    Ok(Matrix {
        operations: file.operation,
        cells,
        def,
    })
}

/// A refusal: 403 for a role outside the operation's `x-roles`, 404 for an object
/// its `x-access` hides (the contract: no existence leak).
pub fn is_refusal(status: u16) -> bool {
    matches!(status, 403 | 404)
}

/// A matrix request's path as the contract and the server's router spell it
/// (`{setlist}` → `{id}`, `{plugin}` → `{key}`, no query).
pub fn contract_path(target: &str) -> String {
    let path = target.split('?').next().unwrap_or(target);
    path.split('/')
        .map(|seg| match seg {
            "{plugin}" => "{key}",
            s if s.starts_with('{') => "{id}",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The matrix compiled into the binary.
pub fn matrix() -> &'static Matrix {
    static MATRIX: OnceLock<Matrix> = OnceLock::new();
    // The file is compiled in and checked by this module's tests, so a broken edit
    // fails the project's own tests and cannot fail at a user's site.
    MATRIX.get_or_init(|| {
        build(MATRIX_TOML).expect("fixtures/rbac-matrix.toml is valid (checked by tests)")
    })
}

/// The flow definition generated from the matrix.
pub fn flow() -> &'static FlowDef {
    &matrix().def
}

/// The Owner's fixtures.
#[derive(Clone, Debug)]
struct Fixtures {
    event: String,
    setlist: String,
    file: String,
    /// A draft invoice for `event`.
    invoice: String,
    /// A clean file whose parent is `invoice`.
    invoice_file: String,
    /// A webhook endpoint (to an `.invalid` host: nothing is delivered anywhere).
    webhook: String,
    /// A setlist of its own for each lock and unlock cell, by step id (locked for
    /// the unlock cells).
    cell_setlists: BTreeMap<&'static str, String>,
}

impl Fixtures {
    fn cell_setlist(&self, step: &str) -> Result<&str, ExecError> {
        self.cell_setlists
            .get(step)
            .map(String::as_str)
            .ok_or_else(|| ExecError::Other(format!("no fixture setlist for cell `{step}`")))
    }
}

/// What the cells share.
struct Ctx {
    owner: Session,
    owner_domain: String,
    run_id: String,
    tags: Vec<String>,
    cleanups: Cleanups,
    redactor: Redactor,
    fixtures: Option<Fixtures>,
}

impl Ctx {
    fn tagged(&self, mut body: Value) -> Value {
        if let Some(o) = body.as_object_mut() {
            o.insert("tags".into(), json!(self.tags));
            o.insert("smoke_run_id".into(), json!(self.run_id));
        }
        body
    }

    fn fixtures(&self) -> Result<&Fixtures, ExecError> {
        self.fixtures.as_ref().ok_or_else(|| {
            ExecError::Other(format!(
                "no fixtures (step `rbac::{FIXTURES_STEP}` did not pass)"
            ))
        })
    }

    fn user_body(&self, what: &str) -> Value {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let password = format!("Sm0ke-{}", uuid::Uuid::new_v4().simple());
        self.tagged(json!({
            "email": format!("smoke+{what}-{}@{}", &suffix[..12], self.owner_domain),
            "role": "crew",
            "password": password,
        }))
    }

    /// Register the object a 2xx create answered with for deletion by the Owner.
    fn guard(&self, resp: &Response, collection: &str, what: &str) {
        if !resp.status.is_success() {
            return;
        }
        let id = serde_json::from_slice::<Value>(&resp.body)
            .ok()
            .and_then(|v| {
                v.get("id")
                    .or_else(|| v.get("file_id"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        if let Some(id) = id {
            self.cleanups.delete_later(
                &self.owner,
                format!("{collection}/{id}"),
                format!("{what} {id}"),
            );
        }
    }

    /// The Owner creates something a cell needs; its id.
    async fn owner_create(
        &self,
        path: &str,
        body: Value,
        collection: &str,
        what: &str,
    ) -> Result<String, ExecError> {
        let resp = self.owner.post(path).json(&body).send().await?;
        self.guard(&resp, collection, what);
        if resp.status.as_u16() != 201 {
            return Err(ExecError::Other(format!(
                "failed to prepare the cell: the Owner's POST {path} answered {} (body starts: {:?})",
                resp.status.as_u16(),
                resp.excerpt()
            )));
        }
        let v: Value = resp.json()?;
        v.get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                ExecError::Other(format!(
                    "failed to prepare the cell: POST {path} answered no id"
                ))
            })
    }

    /// The Owner registers an upload a cell needs; its file id and ticket.
    async fn owner_upload(&self, body: Value) -> Result<(String, UploadTicket), StepError> {
        let resp = self
            .owner
            .post("/api/files/uploads")
            .json(&self.tagged(body))
            .send()
            .await?;
        self.guard(&resp, "/api/files", "file");
        redact_signed_url_field(&self.redactor, &resp.body, "upload_url");
        resp.expect_status(201)?;
        let ticket: UploadTicket = resp.json()?;
        Ok((ticket.file_id.clone(), ticket))
    }

    async fn owner_etag(&self, path: &str) -> Result<String, ExecError> {
        let resp = self.owner.get(path).send().await?;
        if resp.status.as_u16() != 200 {
            return Err(ExecError::Other(format!(
                "failed to read the fixture event as the Owner: GET {path} answered {}",
                resp.status.as_u16()
            )));
        }
        let v: Value = resp.json()?;
        Ok(resp.header("etag").map(str::to_owned).unwrap_or_else(|| {
            format!(
                "\"{}\"",
                v.get("version").and_then(Value::as_u64).unwrap_or(1)
            )
        }))
    }
}

fn setlist_body() -> Value {
    json!({ "name": "RBAC smoke setlist", "items": [{ "title": "Opener", "duration_s": 215 }, { "title": "Closer", "duration_s": 300 }] })
}

/// A draft invoice for `event` (drafts can be deleted; the matrix deletes it).
fn invoice_body(cx: &Ctx, event: &str) -> Value {
    cx.tagged(json!({
        "event_id": event,
        "currency": "EUR",
        "lines": [{ "description": "RBAC smoke line", "quantity": 1, "unit_price_cents": 100, "tax_rate_bp": 1900 }],
    }))
}

/// What the fixture files hold.
const UPLOAD_BYTES: &[u8] = b"smoke";

/// An upload of [`UPLOAD_BYTES`] onto `parent_type` `parent_id`.
fn upload_body(parent_type: &str, parent_id: &str) -> Value {
    json!({
        "filename": "rbac-smoke.txt",
        "content_type": "text/plain",
        "size_bytes": UPLOAD_BYTES.len(),
        "sha256": sha256_hex(UPLOAD_BYTES),
        "parent": { "type": parent_type, "id": parent_id },
    })
}

/// Send the cell's request as `session`; objects it creates are guarded.
async fn send_cell(
    cx: &Ctx,
    cell: &Cell,
    session: &Session,
) -> Result<(Method, String, Response), StepError> {
    let (kind, role, step) = (cell.kind, cell.role, cell.step);
    let (method, path, resp) = match kind {
        OpKind::ReadEvents => {
            let p = "/api/events?tag=smoke".to_owned();
            (Method::GET, p.clone(), session.get(&p).send().await?)
        }
        OpKind::CreateEvents => {
            let p = "/api/events".to_owned();
            let body = smoke_event_body(&cx.run_id, &format!("RBAC smoke event by {role}"));
            let resp = session.post(&p).json(&body).send().await?;
            cx.guard(&resp, "/api/events", "event");
            (Method::POST, p, resp)
        }
        OpKind::EditEvents => {
            let p = format!("/api/events/{}", cx.fixtures()?.event);
            let etag = cx.owner_etag(&p).await?;
            let resp = session
                .patch(&p)
                .header("if-match", &etag)
                .json(&json!({ "notes": format!("edited by the {role} RBAC cell") }))
                .send()
                .await?;
            (Method::PATCH, p, resp)
        }
        OpKind::DeleteEvents => {
            let body = smoke_event_body(&cx.run_id, &format!("RBAC victim event for {role}"));
            let id = cx
                .owner_create("/api/events", body, "/api/events", "event")
                .await?;
            let p = format!("/api/events/{id}");
            (Method::DELETE, p.clone(), session.delete(&p).send().await?)
        }
        OpKind::ReadSetlists => {
            let p = format!("/api/setlists/{}", cx.fixtures()?.setlist);
            (Method::GET, p.clone(), session.get(&p).send().await?)
        }
        OpKind::CreateSetlists => {
            // Deleted with the fixture event (the contract deletes an event's setlists with it).
            let p = format!("/api/events/{}/setlists", cx.fixtures()?.event);
            (
                Method::POST,
                p.clone(),
                session
                    .post(&p)
                    .json(&cx.tagged(setlist_body()))
                    .send()
                    .await?,
            )
        }
        OpKind::EditSetlists => {
            let p = format!("/api/setlists/{}", cx.fixtures()?.setlist);
            let body =
                json!({ "items": [{ "title": format!("Edited by {role}"), "duration_s": 200 }] });
            (
                Method::PATCH,
                p.clone(),
                session.patch(&p).json(&body).send().await?,
            )
        }
        // Each lock and unlock cell has a setlist of its own (unlocked, or locked
        // by the Owner for an unlock cell): no cell waits for another's lock.
        OpKind::LockSetlists => {
            let p = format!("/api/setlists/{}/lock", cx.fixtures()?.cell_setlist(step)?);
            (Method::POST, p.clone(), session.post(&p).send().await?)
        }
        OpKind::UnlockSetlists => {
            let p = format!(
                "/api/setlists/{}/unlock",
                cx.fixtures()?.cell_setlist(step)?
            );
            (Method::POST, p.clone(), session.post(&p).send().await?)
        }
        OpKind::ReadInvoices => {
            let p = "/api/invoices?tag=smoke".to_owned();
            (Method::GET, p.clone(), session.get(&p).send().await?)
        }
        OpKind::ReadOneInvoice => {
            let p = format!("/api/invoices/{}", cx.fixtures()?.invoice);
            (Method::GET, p.clone(), session.get(&p).send().await?)
        }
        OpKind::CreateInvoices => {
            let p = "/api/invoices".to_owned();
            let body = invoice_body(cx, &cx.fixtures()?.event);
            let resp = session.post(&p).json(&body).send().await?;
            cx.guard(&resp, "/api/invoices", "invoice");
            (Method::POST, p, resp)
        }
        OpKind::DeleteInvoices => {
            let body = invoice_body(cx, &cx.fixtures()?.event);
            let id = cx
                .owner_create("/api/invoices", body, "/api/invoices", "invoice")
                .await?;
            let p = format!("/api/invoices/{id}");
            (Method::DELETE, p.clone(), session.delete(&p).send().await?)
        }
        OpKind::ReadFiles => {
            let p = format!("/api/files/{}", cx.fixtures()?.file);
            (Method::GET, p.clone(), session.get(&p).send().await?)
        }
        OpKind::ReadInvoiceFiles => {
            let p = format!("/api/files/{}", cx.fixtures()?.invoice_file);
            (Method::GET, p.clone(), session.get(&p).send().await?)
        }
        OpKind::DownloadInvoiceFiles => {
            let p = format!("/api/files/{}/download-url", cx.fixtures()?.invoice_file);
            let resp = session.get(&p).send().await?;
            // A role that wrongly gets a URL: its signature never reaches a report.
            redact_signed_url_field(&cx.redactor, &resp.body, "url");
            (Method::GET, p, resp)
        }
        OpKind::UploadFiles => {
            let p = "/api/files/uploads".to_owned();
            let resp = session
                .post(&p)
                .json(&cx.tagged(upload_body("event", &cx.fixtures()?.event)))
                .send()
                .await?;
            cx.guard(&resp, "/api/files", "file");
            (Method::POST, p, resp)
        }
        OpKind::ReadWebhooks => {
            let p = "/api/webhooks/endpoints?tag=smoke".to_owned();
            (Method::GET, p.clone(), session.get(&p).send().await?)
        }
        OpKind::ReadWebhookDeliveries => {
            let p = format!(
                "/api/webhooks/endpoints/{}/deliveries",
                cx.fixtures()?.webhook
            );
            (Method::GET, p.clone(), session.get(&p).send().await?)
        }
        OpKind::CreateWebhooks => {
            let p = "/api/webhooks/endpoints".to_owned();
            let body = cx.tagged(json!({ "url": WEBHOOK_URL, "events": ["file.scanned"], "description": format!("RBAC smoke endpoint by {role}") }));
            let resp = session.post(&p).json(&body).send().await?;
            cx.guard(&resp, "/api/webhooks/endpoints", "webhook endpoint");
            (Method::POST, p, resp)
        }
        OpKind::DeleteWebhooks => {
            let body = cx.tagged(json!({ "url": WEBHOOK_URL, "events": ["file.scanned"], "description": format!("RBAC victim endpoint for {role}") }));
            let id = cx
                .owner_create(
                    "/api/webhooks/endpoints",
                    body,
                    "/api/webhooks/endpoints",
                    "webhook endpoint",
                )
                .await?;
            let p = format!("/api/webhooks/endpoints/{id}");
            (Method::DELETE, p.clone(), session.delete(&p).send().await?)
        }
        OpKind::ReadAuditLogs => {
            let p = "/api/audit-logs?limit=1".to_owned();
            (Method::GET, p.clone(), session.get(&p).send().await?)
        }
        OpKind::InstallPlugins => {
            let p = format!("/api/plugins/{PLUGIN_KEY}/install");
            (Method::POST, p.clone(), session.post(&p).send().await?)
        }
        OpKind::RemovePlugins => {
            let p = format!("/api/plugins/{PLUGIN_KEY}");
            (Method::DELETE, p.clone(), session.delete(&p).send().await?)
        }
        OpKind::ListUsers => {
            let p = "/api/users?tag=smoke".to_owned();
            (Method::GET, p.clone(), session.get(&p).send().await?)
        }
        OpKind::CreateUsers => {
            let p = "/api/users".to_owned();
            let resp = session.post(&p).json(&cx.user_body("rbac")).send().await?;
            cx.guard(&resp, "/api/users", "disposable user");
            (Method::POST, p, resp)
        }
        OpKind::DeleteUsers => {
            let id = cx
                .owner_create(
                    "/api/users",
                    cx.user_body("rbac-victim"),
                    "/api/users",
                    "disposable user",
                )
                .await?;
            let p = format!("/api/users/{id}");
            (Method::DELETE, p.clone(), session.delete(&p).send().await?)
        }
    };
    Ok((method, path, resp))
}

/// Judge a cell's response: `Ok` when it matches the matrix.
pub fn judge(
    sentence: &str,
    method: &Method,
    path: &str,
    expected: u16,
    resp: &Response,
) -> Result<(), StepError> {
    let status = resp.status.as_u16();
    let code = resp
        .error_code()
        .map(|c| format!(" {c}"))
        .unwrap_or_default();
    if resp.status.is_server_error() {
        return Err(ExecError::Other(format!("could not check that {sentence}: {method} {path} answered {status}{code} (a server error); body starts: {:?}", resp.excerpt())).into());
    }
    if status == 401 {
        return Err(ExecError::Other(format!("could not check that {sentence}: {method} {path} answered 401{code}: the session was not accepted (hint: the role's login or token is broken, see the login step)")).into());
    }
    let ok = if (200..300).contains(&expected) {
        resp.status.is_success()
    } else {
        status == expected
    };
    if ok {
        return Ok(());
    }
    let actual = if is_refusal(expected) && resp.status.is_success() {
        format!(
            "{status} (the request was allowed); body starts: {:?}",
            resp.excerpt()
        )
    } else {
        format!("{status}{code}; body starts: {:?}", resp.excerpt())
    };
    let expected_text = match expected {
        403 => "403 forbidden".to_owned(),
        404 => "404 not_found (hidden by x-access)".to_owned(),
        e if (200..300).contains(&e) => format!("{e} (any 2xx: the role is allowed)"),
        e => e.to_string(),
    };
    Err(CheckFailure {
        what: format!("{sentence}: {method} {path}"),
        expected: expected_text,
        actual,
    }
    .into())
}

/// Plugin bookkeeping across the install and remove cells.
#[derive(Debug, Default)]
struct PluginState {
    /// Some role's install answered 2xx in this run.
    installed_by_run: bool,
    /// The Owner's install answered 200 although nothing in this run installed it:
    /// it was installed before the run and must not be removed.
    preinstalled: bool,
    /// A role that must be refused removed the plugin: the Owner reinstalls it
    /// before its own remove cell, so only the refused role's cell goes red.
    removed_wrongly: bool,
}

async fn run_cell(
    cx: &Ctx,
    cell: &Cell,
    session: &Session,
    plugin: &tokio::sync::Mutex<PluginState>,
) -> Result<(), StepError> {
    if cell.kind == OpKind::RemovePlugins && !is_refusal(cell.expected) {
        let mut plugin = plugin.lock().await;
        if plugin.removed_wrongly {
            let path = format!("/api/plugins/{PLUGIN_KEY}/install");
            let resp = cx.owner.post(&path).send().await?;
            if !resp.status.is_success() {
                return Err(ExecError::Other(format!(
                    "failed to reinstall the plugin a refused role removed: POST {path} answered {}",
                    resp.status.as_u16()
                ))
                .into());
            }
            cx.cleanups.delete_later(
                &cx.owner,
                format!("/api/plugins/{PLUGIN_KEY}"),
                format!("plugin {PLUGIN_KEY}"),
            );
            plugin.removed_wrongly = false;
        }
    }
    let (method, path, resp) = send_cell(cx, cell, session).await?;
    match cell.kind {
        OpKind::InstallPlugins if resp.status.is_success() => {
            let mut plugin = plugin.lock().await;
            if resp.status.as_u16() == 200 && !plugin.installed_by_run {
                plugin.preinstalled = true;
            } else {
                plugin.installed_by_run = true;
                cx.cleanups.delete_later(
                    &cx.owner,
                    format!("/api/plugins/{PLUGIN_KEY}"),
                    format!("plugin {PLUGIN_KEY}"),
                );
            }
        }
        OpKind::RemovePlugins if resp.status.is_success() => {
            if is_refusal(cell.expected) {
                plugin.lock().await.removed_wrongly = true;
            }
            cx.cleanups.disarm(&format!("/api/plugins/{PLUGIN_KEY}"))
        }
        OpKind::DeleteEvents
        | OpKind::DeleteInvoices
        | OpKind::DeleteWebhooks
        | OpKind::DeleteUsers
            if resp.status.is_success() =>
        {
            cx.cleanups.disarm(&path)
        }
        _ => {}
    }
    judge(cell.sentence, &method, &path, cell.expected, &resp)
}

/// The Owner creates a setlist under `event` (deleted with it) and, for an unlock
/// cell, locks it.
async fn owner_setlist(cx: &Ctx, event: &str, locked: bool) -> Result<String, StepError> {
    let setlist = cx
        .owner_create(
            &format!("/api/events/{event}/setlists"),
            cx.tagged(setlist_body()),
            "/api/setlists",
            "setlist",
        )
        .await?;
    // The setlist goes with its event; no separate delete (the contract has none).
    cx.cleanups.disarm(&format!("/api/setlists/{setlist}"));
    if locked {
        let path = format!("/api/setlists/{setlist}/lock");
        let resp = cx.owner.post(&path).send().await?;
        if resp.status.as_u16() != 200 {
            return Err(ExecError::Other(format!(
                "failed to lock a fixture setlist as the Owner: POST {path} answered {}",
                resp.status.as_u16()
            ))
            .into());
        }
    }
    Ok(setlist)
}

async fn create_fixtures(cx: &Ctx, cells: &[Cell]) -> Result<Fixtures, StepError> {
    // The event first (the others hang off it), then the rest side by side; the
    // endpoint needs nothing, so it starts with the event.
    let event = cx.owner_create(
        "/api/events",
        smoke_event_body(&cx.run_id, "RBAC smoke fixture event"),
        "/api/events",
        "event",
    );
    let webhook_body = cx.tagged(json!({ "url": WEBHOOK_URL, "events": ["file.scanned"], "description": "RBAC smoke fixture endpoint" }));
    let webhook = cx.owner_create(
        "/api/webhooks/endpoints",
        webhook_body,
        "/api/webhooks/endpoints",
        "webhook endpoint",
    );
    let (event, webhook) = futures::future::try_join(event, webhook).await?;
    let setlist = owner_setlist(cx, &event, false);
    let cell_setlists = futures::future::try_join_all(
        cells
            .iter()
            .filter(|c| matches!(c.kind, OpKind::LockSetlists | OpKind::UnlockSetlists))
            .map(|c| {
                let event = &event;
                async move {
                    let locked = c.kind == OpKind::UnlockSetlists;
                    Ok::<_, StepError>((c.step, owner_setlist(cx, event, locked).await?))
                }
            }),
    );
    let file = cx.owner_upload(upload_body("event", &event));
    // A draft invoice, so a role that wrongly reads invoices is shown reading one,
    // and a clean file on it, for the cells that read files through their parent.
    let invoice = async {
        let invoice = cx
            .owner_create(
                "/api/invoices",
                invoice_body(cx, &event),
                "/api/invoices",
                "invoice",
            )
            .await?;
        let (invoice_file, ticket) = cx.owner_upload(upload_body("invoice", &invoice)).await?;
        put_bytes(&cx.owner, &ticket, UPLOAD_BYTES, "text/plain").await?;
        let complete = cx
            .owner
            .post(&format!("/api/files/{invoice_file}/complete"))
            .send()
            .await?;
        if !complete.status.is_success() {
            return Err(ExecError::Other(format!(
                "failed to prepare the invoice file: POST /api/files/{invoice_file}/complete answered {}",
                complete.status.as_u16()
            ))
            .into());
        }
        let meta = wait_scanned(&cx.owner, &invoice_file, SCAN_DEADLINE).await?;
        if meta.scan_status != "clean" {
            return Err(ExecError::Other(format!(
                "failed to prepare the invoice file: its scan_status is `{}`, not `clean`",
                meta.scan_status
            ))
            .into());
        }
        Ok::<_, StepError>((invoice, invoice_file))
    };
    let (setlist, cell_setlists, (file, _), (invoice, invoice_file)) =
        futures::future::try_join4(setlist, cell_setlists, file, invoice).await?;
    Ok(Fixtures {
        event,
        setlist,
        file,
        invoice,
        invoice_file,
        webhook,
        cell_setlists: cell_setlists.into_iter().collect(),
    })
}

/// How long the fixture file on the invoice may take to be scanned.
const SCAN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// Run the RBAC matrix.
pub async fn run(flow: &mut FlowRun) {
    let m = matrix();
    let seed = flow
        .cx()
        .credentials
        .owner_totp_secret()
        .map(|s| s.expose_secret().to_owned());
    // The five logins are independent: they run at once.
    let steps = flow.steps();
    let logins = Role::ALL.map(|role| {
        let prepared = flow.user_session(role);
        let seed = if role == Role::Owner {
            seed.clone()
        } else {
            None
        };
        let steps = steps.clone();
        async move {
            let logged_in = steps
                .step(login_step(role), async {
                    let (user, mut session) = prepared?;
                    if role == Role::Owner && seed.is_none() {
                        return Err(ExecError::Other(
                            "no TOTP seed for the Owner (hint: set STAGEOS_OWNER_TOTP_SECRET)"
                                .into(),
                        )
                        .into());
                    }
                    let tokens = login_with_retry(&mut session, &user, seed.as_deref()).await?;
                    stageos_smoke_http::http::ensure_eq(
                        format!("role of the {role} login"),
                        role.as_str(),
                        tokens.user.role.as_str(),
                    )?;
                    Ok((session, user.email))
                })
                .await;
            logged_in.map(|l| (role, l))
        }
    });
    let mut sessions: BTreeMap<Role, Session> = BTreeMap::new();
    let mut owner_email = String::new();
    for (role, (session, email)) in futures::future::join_all(logins)
        .await
        .into_iter()
        .flatten()
    {
        if role == Role::Owner {
            owner_email = email;
        }
        sessions.insert(role, session);
    }

    let Some(owner) = sessions.get(&Role::Owner).cloned() else {
        for cell in &m.cells {
            flow.skip(cell.step, "not run: the Owner could not log in (step `rbac::owner_logs_in`), and every cell needs the Owner's fixtures or housekeeping");
        }
        flow.skip(
            FIXTURES_STEP,
            "not run: the Owner could not log in (step `rbac::owner_logs_in`)",
        );
        return;
    };
    let mut cx = Ctx {
        owner,
        owner_domain: owner_email
            .split_once('@')
            .map(|(_, d)| d.to_owned())
            .unwrap_or_else(|| "stageos.test".into()),
        run_id: flow.cx().run_id().to_owned(),
        tags: flow.smoke_tags(),
        cleanups: flow.cleanups(),
        redactor: flow.cx().http.redactor.clone(),
        fixtures: None,
    };
    cx.fixtures = flow
        .step(FIXTURES_STEP, create_fixtures(&cx, &m.cells))
        .await;

    // Cells run side by side, in lanes: the cells that change a shared fixture
    // (the event's ETag, the plugin) run in matrix order within their lane, in
    // waves (see [`waves`]); every other cell is a lane of its own. The longest
    // lanes start first, so they do not set the pace at the end.
    let plugin = tokio::sync::Mutex::new(PluginState::default());
    let (cx, sessions, plugin) = (&cx, &sessions, &plugin);
    let mut lanes = lanes(&m.cells);
    lanes.sort_by_key(|l| std::cmp::Reverse(waves(l).len()));
    let lanes = lanes.into_iter().map(|cells| {
        let steps = steps.clone();
        async move {
            for wave in waves(&cells) {
                futures::future::join_all(
                    wave.into_iter()
                        .map(|cell| run_or_skip(&steps, cx, sessions, plugin, cell)),
                )
                .await;
            }
        }
    });
    futures::stream::iter(lanes)
        .buffer_unordered(CELL_LANES_AT_ONCE)
        .collect::<Vec<()>>()
        .await;
}

/// How many lanes of cells run at once (each sends one or two requests at a time;
/// the run's `max_in_flight_requests` bounds what reaches the target).
const CELL_LANES_AT_ONCE: usize = 16;

/// The fixture a cell changes, if any: cells sharing one run in one lane.
fn shared_fixture(kind: OpKind) -> Option<&'static str> {
    match kind {
        // PATCH with the fixture event's current ETag: another edit in between
        // would make it a 412.
        OpKind::EditEvents => Some("event"),
        // Install and remove share whether this run installed the plugin.
        OpKind::InstallPlugins | OpKind::RemovePlugins => Some("plugin"),
        _ => None,
    }
}

/// A lane's cells in waves, each wave run at once: the roles an operation refuses
/// form one wave (the contract checks authorisation before anything else, so a
/// refused request neither sees nor changes the fixture's state, and a role that is
/// wrongly let through cannot turn another refused role's 403 into something
/// else); every allowed cell, which does change the fixture, is a wave of its own.
fn waves<'a>(lane: &[&'a Cell]) -> Vec<Vec<&'a Cell>> {
    let mut waves: Vec<Vec<&'a Cell>> = Vec::new();
    for cell in lane {
        let joins = is_refusal(cell.expected)
            && waves.last().and_then(|w| w.first()).is_some_and(|first| {
                first.operation == cell.operation && is_refusal(first.expected)
            });
        match waves.last_mut() {
            Some(wave) if joins => wave.push(cell),
            _ => waves.push(vec![cell]),
        }
    }
    waves
}

/// The matrix's cells in lanes, each lane in matrix order.
fn lanes(cells: &[Cell]) -> Vec<Vec<&Cell>> {
    let mut shared: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut lanes: Vec<Vec<&Cell>> = Vec::new();
    for cell in cells {
        match shared_fixture(cell.kind) {
            Some(key) => {
                let i = *shared.entry(key).or_insert_with(|| {
                    lanes.push(Vec::new());
                    lanes.len() - 1
                });
                lanes[i].push(cell);
            }
            None => lanes.push(vec![cell]),
        }
    }
    lanes
}

/// Run one cell, or skip it with the reason it cannot run.
async fn run_or_skip(
    steps: &Steps,
    cx: &Ctx,
    sessions: &BTreeMap<Role, Session>,
    plugin: &tokio::sync::Mutex<PluginState>,
    cell: &Cell,
) {
    let Some(session) = sessions.get(&cell.role) else {
        steps.skip(
            cell.step,
            format!(
                "not run: the {} could not log in (step `rbac::{}`)",
                title(cell.role),
                login_step(cell.role)
            ),
        );
        return;
    };
    let needs_fixtures = matches!(
        cell.kind,
        OpKind::EditEvents
            | OpKind::ReadSetlists
            | OpKind::CreateSetlists
            | OpKind::EditSetlists
            | OpKind::LockSetlists
            | OpKind::UnlockSetlists
            | OpKind::CreateInvoices
            | OpKind::DeleteInvoices
            | OpKind::ReadOneInvoice
            | OpKind::ReadFiles
            | OpKind::ReadInvoiceFiles
            | OpKind::DownloadInvoiceFiles
            | OpKind::UploadFiles
            | OpKind::ReadWebhookDeliveries
    );
    if needs_fixtures && cx.fixtures.is_none() {
        steps.skip(
            cell.step,
            format!("not run: no fixtures (step `rbac::{FIXTURES_STEP}` did not pass)"),
        );
        return;
    }
    if cell.kind == OpKind::RemovePlugins && plugin.lock().await.preinstalled {
        steps.skip(cell.step, format!("not run: plugin `{PLUGIN_KEY}` was installed before this run; the matrix never removes what it did not install"));
        return;
    }
    steps
        .step(cell.step, run_cell(cx, cell, session, plugin))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_matrix_builds_and_covers_every_request() {
        let m = build(MATRIX_TOML).expect("valid matrix");
        for (request, _) in KINDS {
            assert!(
                m.operations.iter().any(|o| o.request == *request),
                "no matrix row sends {request}"
            );
        }
        assert_eq!(m.cells.len(), m.operations.len() * 5);
        let mut ids: Vec<_> = m.def.steps.iter().map(|s| s.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), m.def.steps.len(), "duplicate step ids");
    }

    /// The `x-roles` of `METHOD /path` in the contract (a line scan: the document is
    /// laid out as two-space paths, four-space methods, six-space keys).
    fn contract_roles(contract: &str, method: &str, path: &str) -> Option<Vec<String>> {
        let mut lines = contract.lines().skip_while(|l| *l != format!("  {path}:"));
        lines.next()?;
        let mut in_method = false;
        for line in lines {
            if line.starts_with("  /") || line.starts_with("  #") {
                return None;
            }
            if line.starts_with("    ") && !line.starts_with("     ") {
                in_method = line.trim_end() == format!("    {method}:");
                continue;
            }
            if in_method && let Some(list) = line.trim().strip_prefix("x-roles: [") {
                return Some(
                    list.trim_end_matches(']')
                        .split(',')
                        .map(|r| r.trim().to_owned())
                        .filter(|r| !r.is_empty())
                        .collect(),
                );
            }
        }
        None
    }

    #[test]
    fn matrix_agrees_with_the_contracts_x_roles() {
        let contract = include_str!("../../../../fixtures/contract/stageos.openapi.yaml");
        for op in &matrix().operations {
            let (method, target) = op.request.split_once(' ').expect("METHOD /path");
            let path = contract_path(target);
            let roles_of = |request: &str| {
                let (method, target) = request.split_once(' ').expect("METHOD /path");
                let path = contract_path(target);
                contract_roles(contract, &method.to_ascii_lowercase(), &path)
                    .unwrap_or_else(|| panic!("no x-roles for {method} {path} in the contract"))
            };
            let mut roles = roles_of(&op.request);
            // x-access: only callers who can read the parent (e.g. a file's invoice).
            if let Some(via) = &op.access_via {
                let parent = roles_of(via);
                roles.retain(|r| parent.contains(r));
            }
            for role in Role::ALL {
                let allowed = !is_refusal(op.expected(role));
                assert_eq!(
                    allowed,
                    roles.iter().any(|r| r == role.as_str()),
                    "{}: {role} vs contract x-roles {roles:?} of {method} {path}",
                    op.action
                );
            }
        }
    }

    #[test]
    fn cells_that_share_a_fixture_share_one_lane_in_matrix_order() {
        let m = matrix();
        let lanes = lanes(&m.cells);
        assert_eq!(lanes.iter().map(Vec::len).sum::<usize>(), m.cells.len());
        for key in ["event", "plugin"] {
            let with: Vec<&Vec<&Cell>> = lanes
                .iter()
                .filter(|l| l.iter().any(|c| shared_fixture(c.kind) == Some(key)))
                .collect();
            assert_eq!(with.len(), 1, "one lane for the {key} fixture");
            let expected: Vec<&str> = m
                .cells
                .iter()
                .filter(|c| shared_fixture(c.kind) == Some(key))
                .map(|c| c.step)
                .collect();
            let got: Vec<&str> = with[0].iter().map(|c| c.step).collect();
            assert_eq!(got, expected, "the {key} lane keeps matrix order");
        }
        assert!(
            lanes
                .iter()
                .filter(|l| shared_fixture(l[0].kind).is_none())
                .all(|l| l.len() == 1),
            "a cell that changes no shared fixture is a lane of its own"
        );
    }

    #[test]
    fn refused_cells_of_one_operation_share_a_wave_and_allowed_cells_run_alone() {
        let m = matrix();
        let lanes = lanes(&m.cells);
        let plugin = lanes
            .iter()
            .find(|l| l[0].kind == OpKind::InstallPlugins)
            .expect("a plugin lane");
        let waves: Vec<Vec<&str>> = waves(plugin)
            .iter()
            .map(|w| w.iter().map(|c| c.step).collect())
            .collect();
        assert_eq!(
            waves,
            vec![
                vec![
                    "manager_cannot_install_plugins",
                    "member_cannot_install_plugins",
                    "crew_cannot_install_plugins",
                    "accountant_cannot_install_plugins",
                ],
                vec!["owner_can_install_plugins"],
                vec![
                    "manager_cannot_remove_plugins",
                    "member_cannot_remove_plugins",
                    "crew_cannot_remove_plugins",
                    "accountant_cannot_remove_plugins",
                ],
                vec!["owner_can_remove_plugins"],
            ]
        );
    }

    #[test]
    fn cells_read_as_sentences() {
        let m = matrix();
        let crew = m
            .cells
            .iter()
            .find(|c| c.step == "crew_cannot_read_invoices")
            .expect("cell exists");
        assert_eq!(crew.sentence, "Crew cannot read invoices");
        assert_eq!(crew.expected, 403);
        assert!(
            m.cells
                .iter()
                .any(|c| c.step == "owner_can_read_audit_logs")
        );
        assert!(
            m.cells
                .iter()
                .any(|c| c.step == "crew_cannot_lock_setlists")
        );
    }

    #[test]
    fn matrix_follows_the_contract_for_owner_only_resources() {
        let m = matrix();
        for op in &m.operations {
            if ["webhooks", "audit logs", "plugins", "users"]
                .iter()
                .any(|w| op.action.ends_with(w))
            {
                for role in [Role::Manager, Role::Member, Role::Crew, Role::Accountant] {
                    assert_eq!(
                        op.expected(role),
                        403,
                        "{role} must be refused: {}",
                        op.action
                    );
                }
                assert_ne!(
                    op.expected(Role::Owner),
                    403,
                    "owner must be allowed: {}",
                    op.action
                );
            }
        }
    }

    #[test]
    fn refused_roles_run_first_within_an_operation() {
        let m = matrix();
        let remove: Vec<_> = m
            .cells
            .iter()
            .filter(|c| c.kind == OpKind::RemovePlugins)
            .collect();
        assert_eq!(remove.last().map(|c| c.role), Some(Role::Owner));
    }

    #[test]
    fn unknown_request_is_refused_with_the_known_ones() {
        let err = build("[[operation]]\naction = \"x\"\nrequest = \"GET /nope\"\nowner = 200\nmanager = 200\nmember = 200\ncrew = 200\naccountant = 200\n").unwrap_err();
        assert!(
            err.contains("GET /nope") && err.contains("GET /api/events?tag=smoke"),
            "{err}"
        );
    }
}
