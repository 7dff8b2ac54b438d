//! The HTTP layer: the only module that knows actix-web.
//!
//! [`Application::build`] connects the store, binds the listener (port 0 works,
//! which is how the tests run the real app) and assembles the routes of
//! docs/interface.md. Handlers extract, call a use case, and render; they never
//! build SQL and never call Snyk.

pub mod body;
mod discovery;
mod error;
mod scim;
pub mod status;
mod webhooks;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServiceResponse};
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use tracing::Instrument;

use crate::auth::Authenticator;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ScimSettings};
use crate::service::{ScimService, SyncHook};
use crate::store::Store;
use crate::sync::Engine;
use crate::sync::engine::WorkerStatus;

pub use error::scim_error_response;

/// The request line and headers must arrive within this long.
pub const REQUEST_HEADERS_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);
/// Open connections per worker thread (actix runs one worker per core).
pub const MAX_CONNECTIONS_PER_WORKER: usize = 4096;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub service: ScimService,
    pub auth: Authenticator,
    pub limits: Arc<ScimSettings>,
    pub store: Store,
    pub ops: Arc<OpsState>,
    /// `[webhooks]`: which webhook routes answer, with their secrets.
    pub webhooks: Arc<crate::config::WebhookSettings>,
    /// Caps the bodies read before authentication (webhook, sign-in).
    pub body_gate: body::BodyGate,
}

/// What `/metrics` and `/status` read besides the store.
#[derive(Debug)]
pub struct OpsState {
    /// `None`: no admin token configured, `/status` answers 404.
    pub admin: Option<Arc<status::AdminAuth>>,
    pub worker: Arc<WorkerStatus>,
    pub dry_run: bool,
    /// `log_pii`: emails in log lines as written (else hashed).
    pub log_pii: bool,
    pub reconcile_interval: std::time::Duration,
    pub clock: Arc<dyn Clock>,
    /// `snyk.requests_per_minute` and `snyk.rate_window_secs` (the pacing
    /// shown when none was stored).
    pub pacing: (u32, u64),
}

/// The id of the current HTTP request, in the request's extensions (and
/// sent back as `X-Request-Id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// The running service: a bound listener, its server, and the sync worker.
pub struct Application {
    port: u16,
    server: Server,
    store: Store,
    engine: Engine,
    start_worker: bool,
}

/// How to build the application (tests use a manual clock, or drive the
/// sync worker themselves).
pub struct AppOptions {
    pub clock: Arc<dyn Clock>,
    pub start_worker: bool,
    /// How long after a change its Snyk work is due (`sync::SETTLE`; tests
    /// on a manual clock use zero).
    pub settle: std::time::Duration,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            start_worker: true,
            settle: crate::sync::SETTLE,
        }
    }
}

impl Application {
    /// Connect the store, bind `config.listen`, and build the server.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with(config, AppOptions::default()).await
    }

    pub async fn build_with(config: Config, options: AppOptions) -> anyhow::Result<Self> {
        let clock = options.clock;
        let store = Store::connect(&config.database_url)
            .await
            .context("Failed to open the database (database_url)")?;
        let engine = Engine::new(store.for_worker(), &config, clock.clone())
            .context("Failed to build the Snyk client")?;
        engine
            .enqueue_if_mappings_changed()
            .await
            .context("Failed to plan the mappings at start-up")?;
        let hook = SyncHook {
            mappings: Arc::new(config.mappings.clone()),
            safety: Arc::new(config.safety.clone()),
            dry_run: config.snyk.dry_run,
            notify: engine.notifier(),
            settle: options.settle,
        };
        let http = reqwest::Client::builder()
            .user_agent(concat!("snyk-scim-bridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("Failed to build the HTTP client")?;
        let auth = Authenticator::new(&config.scim, http)
            .context("Failed to set up authentication (scim)")?;
        let listener = TcpListener::bind(&config.listen)
            .with_context(|| format!("Failed to bind {} (listen)", config.listen))?;
        let port = listener.local_addr()?.port();
        crate::metrics::install();
        let ops = Arc::new(OpsState {
            admin: config
                .admin
                .token
                .as_ref()
                .map(|t| Arc::new(status::AdminAuth::new(t))),
            worker: engine.worker_status(),
            dry_run: config.snyk.dry_run,
            log_pii: config.log_pii,
            reconcile_interval: engine.settings().reconcile_interval,
            clock: clock.clone(),
            pacing: (
                config.snyk.requests_per_minute,
                config.snyk.rate_window_secs,
            ),
        });
        let state = AppState {
            service: ScimService::new(store.clone(), clock, hook),
            auth,
            limits: Arc::new(config.scim.clone()),
            store: store.clone(),
            ops,
            webhooks: Arc::new(config.webhooks.clone()),
            body_gate: body::BodyGate::default(),
        };
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .wrap_fn(request_span)
                .configure(routes)
        })
        // Slow clients: the headers must arrive within REQUEST_HEADERS_DEADLINE
        // (408 and close), bodies within body::BODY_DEADLINE; connections are
        // capped per worker well under the process's file descriptors.
        .client_request_timeout(REQUEST_HEADERS_DEADLINE)
        .client_disconnect_timeout(std::time::Duration::from_secs(2))
        .max_connections(MAX_CONNECTIONS_PER_WORKER)
        .backlog(1024)
        .listen(listener)?
        // Signals are handled in `run_until_stopped`, so that the worker
        // stops at the same time as the server, not after it.
        .disable_signals()
        .shutdown_timeout(10)
        .run();
        Ok(Self {
            port,
            server,
            store,
            engine,
            start_worker: options.start_worker,
        })
    }

    /// The sync engine (tests drive it step by step).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serve until the process is told to stop (SIGINT/SIGTERM); the sync
    /// worker runs beside the server. On the signal both stop at once: the
    /// server finishes the requests it has (10 s at most), the worker stops
    /// claiming and lets calls in flight end (10 s at most).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let stop = tokio_util::sync::CancellationToken::new();
        let worker = self.start_worker.then(|| {
            let engine = self.engine.clone();
            tokio::spawn(engine.run(stop.clone()))
        });
        let handle = self.server.handle();
        let signals = {
            let stop = stop.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                tracing::info!("asked to stop: finishing the work in hand");
                stop.cancel();
                handle.stop(true).await;
            })
        };
        // Histograms are drained by scrapes; keep memory flat without them.
        let upkeep = tokio::spawn(async {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(10)).await;
                if let Some(h) = crate::metrics::install() {
                    h.run_upkeep();
                }
            }
        });
        let result = self.server.await;
        upkeep.abort();
        stop.cancel();
        if let Some(w) = worker {
            let _ = w.await;
        }
        signals.abort();
        result
    }
}

/// SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Every route of docs/interface.md that this layer serves.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics))
        .configure(status::routes)
        .configure(webhooks::routes)
        .service(scim::scope());
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// Prometheus text format; the outbox gauges are refreshed per scrape.
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let now = state.ops.clock.now().timestamp_millis();
    match crate::metrics::render(&state.store, now, state.ops.pacing).await {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(text),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the outbox could not be read");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body("database unavailable\n")
        }
    }
}

/// 200 `ready` while the database answers, with a `warning: ...` line per
/// API health warning (the token expires within 14 days, a call kind is
/// blocked): a warning never makes the bridge unready.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.store.ping().await {
        let now = state.ops.clock.now().timestamp_millis();
        let notes = match crate::api_health::load(&state.store).await {
            Ok((token, blocked)) if !state.ops.dry_run => {
                crate::api_health::readiness_notes(token.as_ref(), &blocked, now)
            }
            _ => Vec::new(),
        };
        let mut body = "ready\n".to_owned();
        for n in notes {
            body.push_str(&n);
            body.push('\n');
        }
        HttpResponse::Ok().content_type("text/plain").body(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("database unavailable\n")
    }
}

/// An incoming `X-Request-Id` (a proxy's id), when it is short and plain.
/// It is logged as `upstream_request_id` beside the bridge's own id, never
/// used as it: the audit trail links rows by request id, so the id must be
/// unique and not chosen by the client.
fn incoming_request_id(req: &actix_web::dev::ServiceRequest) -> Option<String> {
    let v = req.headers().get("x-request-id")?.to_str().ok()?;
    let plain = !v.is_empty()
        && v.len() <= 64
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    plain.then(|| v.to_owned())
}

/// A span per request with a request id, the parent of every log line the
/// request causes; logs method, path (never the query, which can hold
/// emails) and status; counts the request by route pattern for `/metrics`;
/// answers the id as `X-Request-Id`.
fn request_span<S>(
    req: actix_web::dev::ServiceRequest,
    srv: &S,
) -> impl std::future::Future<Output = Result<ServiceResponse, actix_web::Error>> + use<S>
where
    S: actix_web::dev::Service<
            actix_web::dev::ServiceRequest,
            Response = ServiceResponse,
            Error = actix_web::Error,
        >,
{
    use actix_web::HttpMessage;
    let request_id = uuid::Uuid::new_v4().to_string();
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let method = req.method().to_string();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        path = %req.path(),
        upstream_request_id = tracing::field::Empty,
    );
    if let Some(upstream) = incoming_request_id(&req) {
        span.record("upstream_request_id", upstream.as_str());
    }
    let started = std::time::Instant::now();
    let fut = span.in_scope(|| srv.call(req));
    async move {
        let mut res = fut.await;
        match &mut res {
            Ok(r) => {
                let status = r.status().as_u16();
                let route = r
                    .request()
                    .match_pattern()
                    .unwrap_or_else(|| "unmatched".to_owned());
                crate::metrics::record_http(&route, &method, status, started.elapsed());
                r.headers_mut().insert(
                    actix_web::http::header::X_CONTENT_TYPE_OPTIONS,
                    actix_web::http::header::HeaderValue::from_static("nosniff"),
                );
                if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&request_id) {
                    r.headers_mut().insert(
                        actix_web::http::header::HeaderName::from_static("x-request-id"),
                        v,
                    );
                }
                tracing::info!(
                    status,
                    duration_ms = started.elapsed().as_millis() as u64,
                    "request handled"
                )
            }
            Err(e) => tracing::warn!(error = %e, "request failed"),
        }
        res
    }
    .instrument(span)
}
