//! What a staging organisation holds before a run: the data the data-present
//! [`Variation`]s plant at start (other users' events, invoices, setlists,
//! endpoints, audit entries and users, a plugin a person installed, and another
//! smoke run's fresh data).
//!
//! Planted straight into the store before the server serves, so no login, MFA
//! code or rate limit of the suite is spent on it. It reads the composed store,
//! so it sits on top, beside [`crate::smoke`].

use time::OffsetDateTime;
use uuid::Uuid;

use crate::app::AppState;
use crate::audit::AuditEntry;
use crate::credentials::Role;
use crate::events::{Event, Venue};
use crate::invoices::{Invoice, InvoiceLine};
use crate::plugins::PluginRecord;
use crate::setlists::{Setlist, SetlistItem};
use crate::users::UserRecord;
use crate::variations::Variation;
use crate::webhooks::Endpoint;

/// The plugin a person installed (neither flow's own key).
pub const PREINSTALLED_PLUGIN: &str = "quickbooks";

/// Plants the data of the data-present variations in `active`; returns the
/// `kind:id` of what is smoke-tagged (the concurrent run's), which the suite
/// must leave alone.
/// Planted endpoints point at `sink`, a loopback receiver answering 204 (a
/// person's endpoint that works), so no delivery leaves the machine.
pub fn plant(state: &AppState, active: &[Variation], sink: &str) -> Vec<String> {
    let has = |v| active.contains(&v);
    let mut smoke = Vec::new();
    let mut store = state.store();
    let by_role = |store: &crate::app::Store, role: Role| {
        store
            .users
            .users
            .values()
            .find(|u| u.role == role)
            .map(|u| u.id)
            .unwrap_or_default()
    };
    let owner = by_role(&store, Role::Owner);
    let manager = by_role(&store, Role::Manager);
    let accountant = by_role(&store, Role::Accountant);
    let now = OffsetDateTime::now_utc();
    let days = time::Duration::days;

    let mut people_events = Vec::new();
    if has(Variation::OthersEvents)
        || has(Variation::OthersInvoices)
        || has(Variation::OthersSetlists)
    {
        for (i, (title, by)) in [
            ("Sommerfest Zürich – Hauptbühne", manager),
            ("Club night / late show", owner),
            ("Café Olé acoustic session", manager),
        ]
        .into_iter()
        .enumerate()
        {
            let e = event(title, by, now + days(10 + i as i64), vec![], None);
            people_events.push(e.id);
            store.events.events.insert(e.id, e);
        }
    }
    if has(Variation::OthersSetlists) {
        for event_id in &people_events {
            let s = setlist(*event_id, "Main set", manager, vec![], None);
            store.setlists.setlists.insert(s.id, s);
        }
    }
    if has(Variation::OthersInvoices) {
        for event_id in &people_events {
            let inv = invoice(&mut store, *event_id, accountant, vec![], None);
            store.invoices.invoices.insert(inv.id, inv);
        }
    }
    if has(Variation::OthersWebhookEndpoints) {
        for (url, events) in [
            ("/accounting", vec!["invoice.created"]),
            (
                "/crm",
                vec!["event.updated", "setlist.locked", "file.scanned"],
            ),
        ] {
            let e = endpoint(&format!("{sink}{url}"), events, vec![], None);
            store.webhooks.endpoints.insert(e.id, e);
        }
    }
    if has(Variation::OthersUsers) {
        for (email, role) in [
            ("lena.roadie@example.com", Role::Crew),
            ("Tom.Booker@Example.com", Role::Manager),
            ("bookkeeping@example.com", Role::Accountant),
        ] {
            let password = format!("{:032x}", rand::random::<u128>());
            let mut u = UserRecord::new(Uuid::new_v4(), email, role, &password);
            u.created_at = now - days(30);
            store.users.users.insert(u.id, u);
        }
    }
    if has(Variation::OthersAuditEntries) {
        for (action, actor, target) in [
            ("auth.login", manager, Some(format!("user:{manager}"))),
            ("event.created", manager, None),
            ("auth.login", accountant, Some(format!("user:{accountant}"))),
            ("plugin.installed", owner, Some("plugin:dropbox".to_owned())),
            ("auth.login", owner, Some(format!("user:{owner}"))),
        ] {
            store.audit.entries.push(AuditEntry {
                id: Uuid::new_v4(),
                at: now - time::Duration::minutes(5),
                actor_id: Some(actor),
                action: action.to_owned(),
                target,
                ip: Some("198.51.100.23".to_owned()),
            });
        }
    }
    if has(Variation::PluginPreinstalled) {
        store.plugins.plugins.insert(
            PREINSTALLED_PLUGIN.to_owned(),
            PluginRecord {
                key: PREINSTALLED_PLUGIN.to_owned(),
                installed_at: now - days(3),
                installed_by: owner,
                config: None,
            },
        );
    }
    if has(Variation::ConcurrentSmokeRun) {
        let run = format!("concurrent-{}", &Uuid::new_v4().simple().to_string()[..12]);
        let tags = vec!["smoke".to_owned(), run.clone()];
        let e = event(
            &format!("Smoke event {run}"),
            manager,
            now + days(2),
            tags.clone(),
            Some(run.clone()),
        );
        let event_id = e.id;
        smoke.push(format!("event:{event_id}"));
        store.events.events.insert(e.id, e);
        let s = setlist(
            event_id,
            &format!("Smoke setlist {run}"),
            manager,
            tags.clone(),
            Some(run.clone()),
        );
        smoke.push(format!("setlist:{}", s.id));
        store.setlists.setlists.insert(s.id, s);
        let inv = invoice(
            &mut store,
            event_id,
            accountant,
            tags.clone(),
            Some(run.clone()),
        );
        smoke.push(format!("invoice:{}", inv.id));
        store.invoices.invoices.insert(inv.id, inv);
        let w = endpoint(
            &format!("{sink}/other-smoke-run"),
            vec!["event.updated"],
            tags,
            Some(run),
        );
        smoke.push(format!("webhook_endpoint:{}", w.id));
        store.webhooks.endpoints.insert(w.id, w);
    }
    for v in PLANTING.iter().filter(|v| active.contains(v)) {
        state.variations().hit(*v);
    }
    smoke.sort();
    smoke
}

/// The variations that plant data.
const PLANTING: &[Variation] = &[
    Variation::OthersEvents,
    Variation::OthersInvoices,
    Variation::OthersWebhookEndpoints,
    Variation::OthersAuditEntries,
    Variation::OthersUsers,
    Variation::OthersSetlists,
    Variation::ConcurrentSmokeRun,
    Variation::PluginPreinstalled,
];

fn event(
    title: &str,
    by: Uuid,
    starts_at: OffsetDateTime,
    tags: Vec<String>,
    smoke_run_id: Option<String>,
) -> Event {
    let now = OffsetDateTime::now_utc();
    Event {
        id: Uuid::new_v4(),
        title: title.to_owned(),
        venue: Venue {
            name: "Volkshaus".to_owned(),
            city: "Zürich".to_owned(),
            country: "CH".to_owned(),
        },
        starts_at,
        ends_at: starts_at + time::Duration::hours(3),
        timezone: "Europe/Zurich".to_owned(),
        notes: "Load-in 14:00 / soundcheck 17:00".to_owned(),
        tags,
        smoke_run_id,
        version: 1,
        created_by: by,
        created_at: now,
        updated_at: now,
    }
}

fn setlist(
    event_id: Uuid,
    name: &str,
    by: Uuid,
    tags: Vec<String>,
    smoke_run_id: Option<String>,
) -> Setlist {
    let now = OffsetDateTime::now_utc();
    Setlist {
        id: Uuid::new_v4(),
        event_id,
        name: name.to_owned(),
        items: vec![
            SetlistItem {
                title: "Intro".to_owned(),
                duration_s: 90,
                key: None,
                notes: None,
            },
            SetlistItem {
                title: "Señorita, \"live\"".to_owned(),
                duration_s: 245,
                key: Some("F#m".to_owned()),
                notes: Some("capo 2".to_owned()),
            },
        ],
        locked_at: None,
        locked_by: None,
        tags,
        smoke_run_id,
        created_by: by,
        created_at: now,
        updated_at: now,
    }
}

fn invoice(
    store: &mut crate::app::Store,
    event_id: Uuid,
    by: Uuid,
    tags: Vec<String>,
    smoke_run_id: Option<String>,
) -> Invoice {
    let now = OffsetDateTime::now_utc();
    let seq = store.invoices.sequences.entry(now.year()).or_insert(0);
    *seq += 1;
    let number = format!("INV-{:04}-{:06}", now.year(), *seq);
    let line = InvoiceLine {
        description: "Stage hire".to_owned(),
        quantity: 1,
        unit_price_cents: 120_000,
        tax_rate_bp: 810,
        line_subtotal_cents: 120_000,
        line_tax_cents: 9_720,
        line_total_cents: 129_720,
    };
    Invoice {
        id: Uuid::new_v4(),
        number,
        event_id,
        currency: "CHF".to_owned(),
        lines: vec![line],
        subtotal_cents: 120_000,
        tax_cents: 9_720,
        total_cents: 129_720,
        status: "draft".to_owned(),
        pdf_file_id: None,
        tags,
        smoke_run_id,
        created_by: by,
        created_at: now,
        updated_at: now,
    }
}

fn endpoint(
    url: &str,
    events: Vec<&str>,
    tags: Vec<String>,
    smoke_run_id: Option<String>,
) -> Endpoint {
    Endpoint {
        id: Uuid::new_v4(),
        url: url.to_owned(),
        events: events.into_iter().map(str::to_owned).collect(),
        description: "Registered by a person".to_owned(),
        secret: format!("whsec_{:032x}", rand::random::<u128>()),
        tags,
        smoke_run_id,
        created_at: OffsetDateTime::now_utc(),
    }
}

/// A loopback receiver that answers 204 to everything: the endpoints people
/// registered. Returns its base URL and its task (aborted at shutdown).
pub async fn sink() -> std::io::Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let router = axum::Router::new().fallback(|| async { axum::http::StatusCode::NO_CONTENT });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((url, task))
}
