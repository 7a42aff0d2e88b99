//! Smoke-data accounting and test knobs on [`RunningServer`].
//!
//! The suite must clean up after itself; these let a test assert that no
//! entity tagged `smoke` (or carrying a `smoke_run_id`) is left behind, and
//! plant what an interrupted run leaves. They read the composed store
//! directly, so this module sits on top, beside [`crate::server`].

use std::time::Duration;

use crate::app::AppState;
use crate::credentials::Role;
use crate::http::is_smoke;
use crate::plugins::PluginRecord;
use crate::server::RunningServer;

/// `kind:id` of every smoke entity, sorted.
pub fn smoke_entities(state: &AppState) -> Vec<String> {
    let store = state.store();
    let mut out = Vec::new();
    for e in store.events.events.values() {
        if is_smoke(&e.tags, &e.smoke_run_id) {
            out.push(format!("event:{}", e.id));
        }
    }
    for r in store.events.availability.values() {
        if is_smoke(&r.tags, &r.smoke_run_id) {
            out.push(format!("availability_request:{}", r.id));
        }
    }
    for s in store.setlists.setlists.values() {
        if is_smoke(&s.tags, &s.smoke_run_id) {
            out.push(format!("setlist:{}", s.id));
        }
    }
    for i in store.invoices.invoices.values() {
        if is_smoke(&i.tags, &i.smoke_run_id) {
            out.push(format!("invoice:{}", i.id));
        }
    }
    for f in store.files.files.values() {
        if is_smoke(&f.tags, &f.smoke_run_id) {
            out.push(format!("file:{}", f.id));
        }
    }
    for w in store.webhooks.endpoints.values() {
        if is_smoke(&w.tags, &w.smoke_run_id) {
            out.push(format!("webhook_endpoint:{}", w.id));
        }
    }
    out.sort();
    out
}

impl RunningServer {
    /// Number of entities (events, setlists, availability requests,
    /// invoices, files, webhook endpoints) tagged `smoke` or carrying a
    /// `smoke_run_id`.
    pub fn smoke_entity_count(&self) -> usize {
        smoke_entities(self.state()).len()
    }

    /// `kind:id` of every smoke entity, for test messages.
    pub fn smoke_entities(&self) -> Vec<String> {
        smoke_entities(self.state())
    }

    /// Sets the base of the webhook retry backoff (default 1 s; attempt n
    /// waits base × 2^(n-1)).
    pub fn set_webhook_backoff(&self, base: Duration) {
        crate::webhooks::set_backoff(self.state(), base);
    }

    /// `user:<email>` of every live user tagged `smoke` or carrying a smoke run id
    /// (disposable users the suite failed to remove), sorted.
    pub fn smoke_users(&self) -> Vec<String> {
        let store = self.state().store();
        let mut out: Vec<String> = store
            .users
            .users
            .values()
            .filter(|u| is_smoke(&u.tags, &u.smoke_run_id))
            .map(|u| format!("user:{}", u.email))
            .collect();
        out.sort();
        out
    }

    /// Installed plugin keys, sorted.
    pub fn installed_plugins(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .state()
            .store()
            .plugins
            .plugins
            .keys()
            .cloned()
            .collect();
        out.sort();
        out
    }

    /// Every failed login and MFA code since the server started, by account
    /// email (lowercase), disposable users included.
    pub fn auth_failures_by_account(&self) -> std::collections::BTreeMap<String, u64> {
        self.state()
            .store()
            .sessions
            .failures_by_account
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// Install `key` as the user with `role`, out of band (tests: what an
    /// interrupted run, or a person, left behind). Returns the user's id.
    pub fn install_plugin_as(&self, key: &str, role: Role) -> Option<uuid::Uuid> {
        let mut store = self.state().store();
        let by = store.users.users.values().find(|u| u.role == role)?.id;
        store.plugins.plugins.insert(
            key.to_owned(),
            PluginRecord {
                key: key.to_owned(),
                installed_at: time::OffsetDateTime::now_utc(),
                installed_by: by,
                config: None,
            },
        );
        Some(by)
    }
}
