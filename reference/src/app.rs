//! The composition: one concrete store made of every domain's part, the
//! [`AppState`] over it, and the router that mounts every domain's routes.
//!
//! This is the only module that knows all domains. Each domain owns its part
//! of the store and says, as a `Host` trait, what it needs of the whole;
//! [`Store`] answers those traits here, which is where the cross-domain links
//! are made (an event's deletion drops its setlists, a removed user's
//! sessions end, a file may hang off an invoice, the workers' steps).
//! Everything below this module depends downwards only.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::audit::{self, AuditLog};
use crate::auth::{self, SessionStore};
use crate::aws_backup::{self, BackupStore};
use crate::credentials::Role;
use crate::error::ApiError;
use crate::events::{self, EventStore};
use crate::extract::Sessions;
use crate::files::{self, FileStore};
use crate::http::SMOKE_RUN_HEADER;
use crate::invoices::{self, InvoiceStore};
use crate::metrics::{OPS_ROUTES, UNMATCHED_ROUTE};
use crate::plugins::{self, PluginStore};
use crate::services::{self, Services};
use crate::setlists::{self, SetlistStore};
use crate::state::Shared;
use crate::users::{self, UserStore};
use crate::variations::Variation;
use crate::webhooks::{self, WebhookStore};
use crate::workers::{self, Workers};
use crate::{ops, privacy};

/// Everything the handlers mutate: one part per domain, behind one mutex.
#[derive(Debug, Default)]
pub struct Store {
    pub(crate) users: UserStore,
    pub(crate) sessions: SessionStore,
    pub(crate) audit: AuditLog,
    pub(crate) plugins: PluginStore,
    pub(crate) events: EventStore,
    pub(crate) setlists: SetlistStore,
    pub(crate) invoices: InvoiceStore,
    pub(crate) files: FileStore,
    pub(crate) webhooks: WebhookStore,
    pub(crate) workers: Workers,
    pub(crate) services: Services,
    pub(crate) backup: BackupStore,
}

/// Cheaply cloneable handle to the server state.
pub type AppState = Shared<Store>;

impl Sessions for Store {
    fn session_revoked(&self, sid: &Uuid) -> bool {
        self.sessions.is_revoked(sid)
    }

    fn live_user(&self, id: &Uuid) -> Option<(String, Role)> {
        self.users.users.get(id).map(|u| (u.email.clone(), u.role))
    }
}

impl audit::Host for Store {
    fn audit_log(&self) -> &AuditLog {
        &self.audit
    }
    fn audit_log_mut(&mut self) -> &mut AuditLog {
        &mut self.audit
    }
}

impl users::Host for Store {
    fn users(&self) -> &UserStore {
        &self.users
    }
    fn users_mut(&mut self) -> &mut UserStore {
        &mut self.users
    }
    fn user_removed(&mut self, user_id: Uuid) {
        self.sessions.end_sessions(user_id);
    }
}

impl auth::Host for Store {
    fn sessions(&self) -> &SessionStore {
        &self.sessions
    }
    fn sessions_mut(&mut self) -> &mut SessionStore {
        &mut self.sessions
    }
}

impl plugins::Host for Store {
    fn plugins(&self) -> &PluginStore {
        &self.plugins
    }
    fn plugins_mut(&mut self) -> &mut PluginStore {
        &mut self.plugins
    }
}

impl workers::Host for Store {
    fn workers(&self) -> &Workers {
        &self.workers
    }
    fn workers_mut(&mut self) -> &mut Workers {
        &mut self.workers
    }
    fn queue_depths(&self) -> [(&'static str, usize); 3] {
        [
            (workers::PDF_QUEUE, self.invoices.queue.len()),
            (workers::SCAN_QUEUE, self.files.scan_queue.len()),
            (workers::WEBHOOK_QUEUE, self.webhooks.pending()),
        ]
    }
    fn spawn_workers(state: &AppState, bookkeeping: &Workers) {
        let pdf = bookkeeping.pdf_notify.clone();
        let scan = bookkeeping.scan_notify.clone();
        tokio::spawn(workers::run(state.clone(), pdf, |s: AppState| async move {
            slow_down(&s, Variation::SlowPdfJobs, |s| !s.invoices.queue.is_empty()).await;
            invoices::work_one(s).await
        }));
        tokio::spawn(workers::run(
            state.clone(),
            scan,
            |s: AppState| async move {
                slow_down(&s, Variation::SlowScans, |s| !s.files.scan_queue.is_empty()).await;
                files::scan_one(s).await
            },
        ));
    }
}

impl services::Host for Store {
    fn services(&self) -> &Services {
        &self.services
    }
}

impl aws_backup::Host for Store {
    fn backup(&self) -> &BackupStore {
        &self.backup
    }
    fn backup_mut(&mut self) -> &mut BackupStore {
        &mut self.backup
    }
}

impl webhooks::Host for Store {
    fn webhooks(&self) -> &WebhookStore {
        &self.webhooks
    }
    fn webhooks_mut(&mut self) -> &mut WebhookStore {
        &mut self.webhooks
    }
}

impl events::Host for Store {
    fn events(&self) -> &EventStore {
        &self.events
    }
    fn events_mut(&mut self) -> &mut EventStore {
        &mut self.events
    }
    fn event_deleted(&mut self, id: Uuid) {
        self.setlists.remove_for_event(id);
    }
}

impl setlists::Host for Store {
    fn setlists(&self) -> &SetlistStore {
        &self.setlists
    }
    fn setlists_mut(&mut self) -> &mut SetlistStore {
        &mut self.setlists
    }
}

impl files::Host for Store {
    fn files(&self) -> &FileStore {
        &self.files
    }
    fn files_mut(&mut self) -> &mut FileStore {
        &mut self.files
    }
    fn invoice_exists(&self, id: &Uuid) -> bool {
        self.invoices.invoices.contains_key(id)
    }
}

impl invoices::Host for Store {
    fn invoices(&self) -> &InvoiceStore {
        &self.invoices
    }
    fn invoices_mut(&mut self) -> &mut InvoiceStore {
        &mut self.invoices
    }
}

/// Under `variation`, a worker with work waits 2 s before it takes the next item.
async fn slow_down(state: &AppState, variation: Variation, has_work: impl Fn(&Store) -> bool) {
    if state.has_variation(variation) && has_work(&state.store()) {
        state.variations().hit(variation);
        tokio::time::sleep(Duration::from_secs(2)).await; // slow on purpose: the variation
    }
}

/// The full router over `state`: the API behind its request tracking, and beside
/// it the stand-ins for the deployment's other services (worker, web, AWS Backup),
/// which the API's faults, metrics, ALB traffic and conformance variations do not
/// see.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(auth::routes())
        .merge(ops::routes())
        .merge(events::routes())
        .merge(setlists::routes())
        .merge(invoices::routes())
        .merge(files::routes())
        .merge(webhooks::routes())
        .merge(users::routes())
        .merge(plugins::routes())
        .merge(audit::routes())
        .merge(privacy::routes())
        .fallback(|| async { ApiError::not_found() })
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::vary::vary,
        ))
        .merge(services::routes())
        .merge(aws_backup::routes())
        .layer(middleware::from_fn_with_state(state.clone(), server_date))
        .with_state(state)
}

/// Middleware over every route, the stand-ins included: the `Date` header is this
/// server's one clock (real time plus the clock condition and variations), as a
/// deployment's hosts share theirs; hyper only adds a `Date` when there is none.
async fn server_date(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if state.clock_offset_ms() != 0 {
        let date = httpdate::fmt_http_date(state.now().into());
        if let Ok(v) = axum::http::HeaderValue::from_str(&date) {
            response.headers_mut().insert(axum::http::header::DATE, v);
        }
    }
    response
}

/// Middleware: applies latency, throttle and error-rate conditions, records duration and count, logs the
/// request line (method, route, status, smoke run id; nothing secret).
async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| UNMATCHED_ROUTE.to_owned());
    let smoke_run = request
        .headers()
        .get(SMOKE_RUN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(64).collect::<String>());

    let delay = state.faults().latency_for(&route);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let ops_route = OPS_ROUTES.contains(&route.as_str());
    let inject_error = !ops_route
        && state
            .faults()
            .error_rate()
            .is_some_and(|p| state.metrics().error_rate_hit(p));
    let throttled = state.faults().throttled(&route, ops_route);
    let response = if let Some(secs) = throttled {
        ApiError::rate_limited(secs).into_response()
    } else if inject_error {
        ApiError::internal("injected failure (error-rate fault)").into_response()
    } else {
        next.run(request).await
    };
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state
        .metrics()
        .observe_request(&method, &route, status, elapsed);
    state
        .metrics()
        .alb
        .record(crate::unix_now(), elapsed, status);
    tracing::info!(
        method = %method,
        route = %route,
        status,
        elapsed_ms = elapsed.as_millis() as u64,
        smoke_run = smoke_run.as_deref().unwrap_or("-"),
        "request"
    );
    response
}
