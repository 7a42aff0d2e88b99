//! A server handle for tests and the binary.
//!
//! [`ServerOptions`] say how to start; [`AppState::new`] seeds the composed
//! state from them; [`RunningServer`] binds a port (0 in tests), serves
//! [`crate::app()`] with graceful shutdown, runs the optional CloudWatch
//! publisher and exposes the credentials and fault switches the suite needs.
//! It sits on top of the composition in [`crate::app`](mod@crate::app).

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::{AppState, Store, app};
use crate::credentials::Credentials;
use crate::faults::Fault;
use crate::services::Services;
use crate::state::{Shared, StateError};
use crate::users::UserStore;
use crate::variations::Variation;

/// How to start a reference server.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Address to bind (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Faults active from the start.
    pub faults: Vec<Fault>,
    /// Conformance variations active from the start (the data-present ones plant
    /// their data at start).
    pub variations: Vec<Variation>,
    /// Seed credentials; `None` generates random ones.
    pub credentials: Option<Credentials>,
    /// Version reported by `/api/health`.
    pub version: String,
    /// Commit reported by `/api/health`.
    pub commit: String,
    /// The release before `version` (what a service the rollout missed reports,
    /// see [`crate::services`]).
    pub previous_version: String,
    /// Publish ALB-like metrics to a local CloudWatch emulator.
    pub cloudwatch: Option<crate::cloudwatch::CloudWatchPublish>,
    /// Record the ALB-like metrics from the start without publishing them, for a
    /// caller that publishes them once, when it knows where ([`AlbMetrics`]).
    pub record_alb_metrics: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            faults: Vec::new(),
            variations: Vec::new(),
            credentials: None,
            version: "v1.4.0-20261125".to_owned(),
            commit: "0000000".to_owned(),
            previous_version: "v1.3.0-20261101".to_owned(),
            cloudwatch: None,
            record_alb_metrics: false,
        }
    }
}

impl AppState {
    /// Seeds the organisation from `opts` (generating credentials when none
    /// are given) with a fresh random JWT key.
    pub fn new(opts: &ServerOptions) -> Result<Self, StateError> {
        let credentials = opts
            .credentials
            .clone()
            .unwrap_or_else(Credentials::generate);
        credentials.validate()?;
        let store = Store {
            users: UserStore::seeded(&credentials),
            services: Services {
                previous_version: opts.previous_version.clone(),
            },
            ..Store::default()
        };
        Ok(Shared::with_store(
            store,
            opts.faults.clone(),
            opts.variations.clone(),
            credentials,
            opts.version.clone(),
            opts.commit.clone(),
        ))
    }
}

/// A server running on a background task.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    state: AppState,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    publisher: Option<PublisherTask>,
    /// The `kind:id` of the smoke data planted as another run's.
    planted: Vec<String>,
    /// The loopback receiver of the planted webhook endpoints.
    sink: Option<JoinHandle<()>>,
}

/// The CloudWatch publisher and its periodic task.
#[derive(Debug)]
struct PublisherTask {
    publisher: std::sync::Arc<crate::cloudwatch::Publisher>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

fn start_publisher(
    state: &AppState,
    config: crate::cloudwatch::CloudWatchPublish,
) -> std::io::Result<PublisherTask> {
    let publisher = std::sync::Arc::new(
        crate::cloudwatch::Publisher::new(config)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
    );
    state.metrics().alb.set_enabled(true);
    let (stop, mut stop_rx) = oneshot::channel::<()>();
    let p = publisher.clone();
    let s = state.clone();
    let task = tokio::spawn(async move {
        let every = p
            .config()
            .flush_interval
            .max(std::time::Duration::from_millis(50));
        loop {
            tokio::select! {
                _ = &mut stop_rx => break,
                () = tokio::time::sleep(every) => {
                    if let Err(e) = p.flush(&s.metrics().alb).await {
                        tracing::warn!(error = %e, "CloudWatch publish failed; retrying at the next flush");
                    }
                }
            }
        }
    });
    Ok(PublisherTask {
        publisher,
        stop,
        task,
    })
}

/// Plants the data of the data-present variations, with a loopback receiver for
/// the planted webhook endpoints when there are any.
async fn plant(
    state: &AppState,
    variations: &[Variation],
) -> std::io::Result<(Vec<String>, Option<JoinHandle<()>>)> {
    let needs_sink = variations.contains(&Variation::OthersWebhookEndpoints)
        || variations.contains(&Variation::ConcurrentSmokeRun);
    let (url, sink) = if needs_sink {
        let (url, task) = crate::planted::sink().await?;
        (url, Some(task))
    } else {
        (String::new(), None)
    };
    Ok((crate::planted::plant(state, variations, &url), sink))
}

/// Serves `router` over HTTP/1.1 with title-cased header names on the wire
/// (variation `header-name-case`; axum's `serve` has no such switch). Stops
/// accepting on `stop`; connections in flight finish on their own.
async fn serve_title_case(
    listener: TcpListener,
    router: axum::Router,
    state: AppState,
    mut stop: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    loop {
        let (stream, remote) = tokio::select! {
            _ = &mut stop => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        state.variations().hit(Variation::HeaderNameCase);
        let service = hyper_util::service::TowerToHyperService::new(
            router
                .clone()
                .layer(axum::Extension(axum::extract::ConnectInfo(remote))),
        );
        tokio::spawn(async move {
            let served = hyper::server::conn::http1::Builder::new()
                .title_case_headers(true)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

impl RunningServer {
    /// Seeds the state, binds `opts.listen` and serves until [`Self::shutdown`].
    pub async fn start(opts: ServerOptions) -> std::io::Result<RunningServer> {
        let state = AppState::new(&opts)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind(opts.listen).await?;
        let addr = listener.local_addr()?;
        let (shutdown, rx) = oneshot::channel::<()>();
        if opts.record_alb_metrics {
            state.metrics().alb.set_enabled(true);
        }
        let publisher = match opts.cloudwatch.clone() {
            Some(c) => Some(start_publisher(&state, c)?),
            None => None,
        };
        let (planted, sink) = plant(&state, &opts.variations).await?;
        let router = app(state.clone());
        let task = if opts.variations.contains(&Variation::HeaderNameCase) {
            tokio::spawn(serve_title_case(listener, router, state.clone(), rx))
        } else {
            tokio::spawn(async move {
                axum::serve(
                    listener,
                    router.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
            })
        };
        Ok(RunningServer {
            addr,
            state,
            shutdown,
            task,
            publisher,
            planted,
            sink,
        })
    }

    /// The `kind:id` of the smoke-tagged data planted as another, concurrent run's
    /// (variation `concurrent-smoke-run`): a suite must leave it alone.
    pub fn planted_smoke_entities(&self) -> &[String] {
        &self.planted
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The seeded credentials.
    pub fn credentials(&self) -> &Credentials {
        self.state.credentials()
    }

    /// Replaces the active faults (takes effect for the next request).
    pub fn set_faults(&self, faults: Vec<Fault>) {
        self.state.faults().set(faults);
    }

    /// The active faults.
    pub fn faults(&self) -> Vec<Fault> {
        self.state.faults().get()
    }

    /// Replaces the active variations (takes effect for the next request; the
    /// data-present ones plant their data only at start).
    pub fn set_variations(&self, variations: Vec<Variation>) {
        self.state.variations().set(variations);
    }

    /// The active variations.
    pub fn variations(&self) -> Vec<Variation> {
        self.state.variations().get()
    }

    /// How often `variation` took effect (changed an answer, planted data, slowed
    /// a worker) since the server started.
    pub fn variation_hits(&self, variation: Variation) -> u64 {
        self.state.variations().hits(variation)
    }

    /// The shared state (audit log, metrics, ...).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Publishes the requests recorded since the last flush to CloudWatch now;
    /// `Ok(0)` when publishing is off. Returns the number of requests published.
    pub async fn flush_cloudwatch(&self) -> Result<u64, String> {
        match &self.publisher {
            Some(p) => p.publisher.flush(&self.state.metrics().alb).await,
            None => Ok(0),
        }
    }

    /// The ALB-like metrics this server records (see
    /// [`ServerOptions::record_alb_metrics`]), to publish them on demand.
    pub fn alb_metrics(&self) -> AlbMetrics {
        AlbMetrics {
            state: self.state.clone(),
        }
    }

    /// Stops accepting, lets in-flight requests finish, waits for the task.
    pub async fn shutdown(self) {
        if let Some(p) = self.publisher {
            let _ = p.stop.send(());
            let _ = p.task.await;
            if let Err(e) = p.publisher.flush(&self.state.metrics().alb).await {
                tracing::warn!(error = %e, "final CloudWatch publish failed");
            }
        }
        crate::workers::stop(&self.state);
        if let Some(sink) = self.sink {
            sink.abort();
        }
        let _ = self.shutdown.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "reference server stopped with an error"),
            Err(e) => tracing::warn!(error = %e, "reference server task failed"),
        }
    }
}

/// The ALB-like metrics a running server recorded: published on demand, for a
/// caller that learns where only after the server started (the suite's embedded
/// run, whose emulator starts beside the server).
#[derive(Clone)]
pub struct AlbMetrics {
    state: AppState,
}

impl std::fmt::Debug for AlbMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AlbMetrics")
    }
}

impl AlbMetrics {
    /// Publish what was recorded since the last publish to `config`'s emulator
    /// (loopback only); on failure the numbers are kept for the next try.
    /// Returns the number of requests published.
    pub async fn publish(
        &self,
        config: crate::cloudwatch::CloudWatchPublish,
    ) -> Result<u64, String> {
        crate::cloudwatch::Publisher::new(config)?
            .flush(&self.state.metrics().alb)
            .await
    }
}
