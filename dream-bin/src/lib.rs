//! The `dream` server as a library: tests start the real server in-process with
//! [`Application::build`], exactly as `main` does.
#![warn(missing_docs)]

pub mod admin_cli;
mod backup;
mod billing;
pub mod config;
pub mod delivery;
pub mod delivery_loop;
pub mod readiness;
pub mod sweeper;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use dream_core::{
    ports::{Store, Stores},
    Dream, EndpointPolicy, StoreError, TenantLimits,
};
use dream_store::{
    cached_with, cached_with_changes, observed, CustomerChanges, GroupCommitConfig, MemoryStore,
    PostgresStore, RedisUsageStore, SqliteStore, StoreObserver,
};
use poem::{listener::TcpAcceptor, Server};
use tokio::net::TcpListener as TokioListener;

pub use backup::backup;
pub use config::{Config, LogFormat, StoreKind};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("server error: {0}")]
    Serve(#[source] std::io::Error),
    /// The store could not be opened or migrated.
    #[error("{what}: {source}")]
    Store {
        /// What was being done.
        what: String,
        /// Cause.
        #[source]
        source: StoreError,
    },
    /// The configuration does not describe a usable store.
    #[error("{0}")]
    Config(String),
}

/// An error and its sources, `: `-separated (the sources name the cause, such
/// as a signing key that does not open with this DREAM_MASTER_KEY).
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn store_err(what: impl Into<String>) -> impl FnOnce(StoreError) -> AppError {
    let what = what.into();
    move |source| AppError::Store { what, source }
}

/// Key prefix of everything dream keeps in Redis.
pub const REDIS_PREFIX: &str = "dream";

/// Opens the PostgreSQL store of `config` without migrating it.
async fn postgres(config: &Config) -> Result<PostgresStore, AppError> {
    let url = config.database_url.as_ref().ok_or_else(|| {
        AppError::Config("DREAM_STORE=postgres needs DATABASE_URL=postgres://…".into())
    })?;
    Ok(
        PostgresStore::connect(url.expose(), config.database_max_connections)
            .await
            .map_err(store_err("cannot connect to PostgreSQL"))?
            .with_group_commit(GroupCommitConfig::from_micros(config.group_commit_micros)),
    )
}

/// `dream migrate`: applies pending PostgreSQL migrations (SQLite migrates itself
/// when opened).
pub async fn migrate(config: &Config) -> Result<usize, AppError> {
    let store = postgres(config).await?;
    let pending = store
        .pending_migrations()
        .await
        .map_err(store_err("cannot read the migration state"))?;
    store
        .migrate()
        .await
        .map_err(store_err("migration failed"))?;
    Ok(pending)
}

/// The composition root: every `Arc<dyn …>` the server uses is created here.
///
/// main store (memory | SQLite | PostgreSQL) for every port → optionally the
/// usage port from Redis → caches in front of the key, tier and customer ports,
/// the customer cache fed by PostgreSQL's change notifications when the main
/// store is PostgreSQL. Each database it opens adds its readiness probe to
/// `probes`.
pub async fn build_stores(
    config: &Config,
    probes: &mut readiness::Probes,
) -> Result<Stores, AppError> {
    // The PostgreSQL store, when there is one, feeds the customer cache with
    // the changes other processes make.
    let mut follow: Option<PostgresStore> = None;
    let main: Arc<dyn Store> = match config.store_kind() {
        StoreKind::Memory => Arc::new(MemoryStore::new()),
        StoreKind::Sqlite => {
            let path = config.data_dir.join("dream.sqlite3");
            let store = SqliteStore::open(&path)
                .await
                .map_err(store_err(format!("cannot open {}", path.display())))?
                .with_group_commit(GroupCommitConfig::from_micros(config.group_commit_micros));
            tracing::info!(path = %path.display(), "store: SQLite");
            probes.push(readiness::sqlite(&store));
            Arc::new(store)
        }
        StoreKind::Postgres => {
            let store = postgres(config).await?;
            if config.auto_migrate {
                store
                    .migrate()
                    .await
                    .map_err(store_err("migration failed"))?;
            } else {
                let pending = store
                    .pending_migrations()
                    .await
                    .map_err(store_err("cannot read the migration state"))?;
                if pending > 0 {
                    return Err(AppError::Config(format!(
                        "{pending} database migration(s) pending and DREAM_AUTO_MIGRATE=false: run `dream migrate` first"
                    )));
                }
            }
            tracing::info!("store: PostgreSQL");
            probes.push(readiness::postgres(&store));
            follow = Some(store.clone());
            Arc::new(store)
        }
    };
    let mut stores = Stores::new(main);
    if let Some(url) = &config.redis_url {
        let usage = RedisUsageStore::connect_with_timeout(
            url.expose(),
            REDIS_PREFIX,
            Duration::from_millis(config.redis_timeout_ms),
        )
        .await
        .map_err(store_err("cannot connect to Redis"))?;
        tracing::info!("usage counters: Redis");
        probes.push(readiness::redis(&usage));
        stores.usage = Arc::new(usage);
    }
    // Observed inside the caches: the latency histogram shows store round trips,
    // not cache hits.
    let stores = observed(stores, Arc::new(StoreCallMetrics));
    let ttl = Duration::from_millis(config.cache_ttl_ms);
    let customer_bytes = config.customer_cache_mb.saturating_mul(1024 * 1024);
    // Without a feed (memory, SQLite) cached customers live `cache_ttl_ms`.
    let Some(store) = follow else {
        return Ok(cached_with(stores, ttl, customer_bytes));
    };
    let (stores, changes) = cached_with_changes(stores, ttl, customer_bytes);
    store.follow_customer_changes(changes.clone());
    tokio::spawn(report_customer_feed(changes));
    Ok(stores)
}

/// Samples the customer change feed into `dream_customer_feed_live` every
/// second, until the cache it feeds is gone.
async fn report_customer_feed(changes: CustomerChanges) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while changes.is_open() {
        tick.tick().await;
        dream_http::metrics::set_customer_feed_live("postgres", changes.is_live());
    }
}

/// Store call latency into `dream_store_call_duration_seconds{port,method}`.
struct StoreCallMetrics;

impl StoreObserver for StoreCallMetrics {
    fn observe(&self, port: &'static str, method: &'static str, elapsed: Duration, _ok: bool) {
        dream_http::metrics::observe_store_call(port, method, elapsed.as_secs_f64());
    }
}

/// A bound, not yet running server.
pub struct Application {
    listener: TokioListener,
    port: u16,
    state: dream_http::AppState,
    grace: Duration,
    deliveries: Option<DeliveryWorker>,
    sweep_every: Duration,
    sweep_batch: usize,
}

/// What the webhook delivery loop runs with.
struct DeliveryWorker {
    sender: Arc<dyn dream_core::ports::OutboundSender>,
    policy: dream_core::DeliveryPolicy,
    poll: Duration,
    event_retention: chrono::Duration,
}

impl Application {
    /// Builds the services and binds the address (port 0 picks a free port).
    pub async fn build(config: &Config) -> Result<Self, AppError> {
        let bind_err = |source| AppError::Bind {
            addr: config.addr,
            source,
        };
        let listener = TokioListener::bind(config.addr).await.map_err(bind_err)?;
        let port = listener.local_addr().map_err(bind_err)?.port();
        let clerk_endpoints = config
            .clerk_endpoints()
            .map_err(|e| AppError::Config(e.to_string()))?;
        if clerk_endpoints.len() > 1 && clerk_endpoints.iter().any(|e| e.platform.is_none()) {
            tracing::warn!("CLERK_WEBHOOK_SECRET has several secrets and some are not bound to a platform (plt_…:whsec_…): the owner of any of those Clerk instances can route users into any platform here");
        }
        let mut probes = readiness::Probes::new();
        let stores = build_stores(config, &mut probes).await?;
        let dream = billing::with_billing(Dream::new(stores), config)?
            .with_clerk_endpoints(clerk_endpoints)
            .with_limits(TenantLimits {
                max_customers: config.max_customers_per_tenant,
            })
            .with_endpoint_policy(EndpointPolicy {
                allow_private: config.webhook_allow_private,
            })
            .with_password_hasher(Arc::new(dream_http::BoundedPasswordHasher::new(
                config
                    .hash_concurrency
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)),
                Duration::from_millis(config.hash_queue_ms),
            )))
            .with_account_settings(account_settings(config)?)
            .with_usage_history_retention_days(config.usage_history_retention_days)
            .with_sign_in_settings(dream_core::SignInSettings {
                access_ttl: chrono::Duration::seconds(config.access_token_ttl_secs as i64),
                refresh_ttl: chrono::Duration::days(config.refresh_token_ttl_days as i64),
                ..dream_core::SignInSettings::default()
            });
        // Made (or read) at start-up, so a key sealed under another
        // DREAM_MASTER_KEY stops the server here rather than failing logins.
        let kid = dream.ensure_signing_key().await.map_err(|e| {
            AppError::Config(format!("the access-token signing key: {}", chain(&e)))
        })?;
        tracing::debug!(kid, "access-token signing key ready");
        let deliveries = if config.webhook_worker {
            let sender = delivery::HttpSender::new(
                dream.endpoint_policy(),
                Duration::from_secs(config.webhook_timeout_secs),
            )?;
            Some(DeliveryWorker {
                sender: Arc::new(sender),
                policy: delivery::policy(config),
                poll: Duration::from_millis(config.webhook_poll_ms),
                event_retention: chrono::Duration::days(config.event_retention_days as i64),
            })
        } else {
            None
        };
        let mut state = dream_http::AppState::new(
            dream,
            config.admin_token.as_ref().map(config::Secret::expose),
        );
        state.body_limit = config.max_body_bytes;
        state.readiness = probes;
        // The exporter is the only reader of the spans' other fields.
        state.trace_spans = config.otel_exporter_otlp_endpoint.is_some();
        state.access_log = config.access_log;
        state.idempotency_lock_timeout = Duration::from_secs(config.idempotency_lock_secs);
        state.billing = dream_http::BillingSettings {
            checkout_success_url: config.checkout_success_url.clone(),
            checkout_cancel_url: config.checkout_cancel_url.clone(),
            dashboard_url: config.dashboard_url.clone(),
        };
        state.account_door = dream_http::AccountDoor {
            public_url: config.public_url.clone(),
            trusted_origins: config
                .trusted_origins()
                .map_err(|e| AppError::Config(e.to_string()))?,
        };
        Ok(Self {
            listener,
            port,
            state,
            grace: Duration::from_secs(config.shutdown_grace_secs),
            deliveries,
            sweep_every: Duration::from_secs(config.sweep_interval_secs),
            sweep_batch: config.sweep_batch,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The services, for tests that need to reach below the API.
    pub fn dream(&self) -> &Dream {
        &self.state.dream
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let addr = self.listener.local_addr().map_err(AppError::Serve)?;
        let acceptor = TcpAcceptor::from_tokio(self.listener).map_err(AppError::Serve)?;
        tracing::info!(%addr, "dream listening; API docs at http://{addr}/docs");
        // Dropped (and so stopped) when the server stops: the store holds every
        // delivery, so whatever it was doing is picked up again.
        let worker = self.deliveries.map(|w| {
            AbortOnDrop(tokio::spawn(delivery_loop::run(
                self.state.dream.clone(),
                w.sender,
                w.policy,
                w.poll,
                w.event_retention,
            )))
        });
        let sweeper = AbortOnDrop(tokio::spawn(sweep_idempotency_keys(
            self.state.dream.clone(),
            IDEMPOTENCY_SWEEP_EVERY,
        )));
        let history = AbortOnDrop(tokio::spawn(flush_usage_history(
            self.state.dream.clone(),
            USAGE_HISTORY_FLUSH_EVERY,
        )));
        let dream = self.state.dream.clone();
        let expiry = AbortOnDrop(tokio::spawn(sweeper::run(
            self.state.dream.clone(),
            self.sweep_every,
            self.sweep_batch,
        )));
        let served = Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(endpoint(self.state), shutdown, Some(self.grace))
            .await
            .map_err(AppError::Serve);
        drop(worker);
        drop(sweeper);
        drop(history);
        // The calls of the last interval, so a clean stop loses none from the chart.
        if let Err(err) = dream.flush_usage_history().await {
            tracing::warn!(error = %err, "could not write the last usage history at shutdown");
        }
        drop(expiry);
        served
    }
}

/// The whole server: the dashboard at `/dashboard` (and `/` leads there), the API
/// and everything else of `dream_http::app`.
fn endpoint(state: dream_http::AppState) -> impl poem::Endpoint {
    let dashboard = poem::Route::new()
        .nest("/dashboard", dream_dashboard::dashboard(state.clone()))
        .at(
            "/",
            poem::endpoint::make_sync(|_| {
                poem::Response::builder()
                    .status(poem::http::StatusCode::SEE_OTHER)
                    .header("Location", "/dashboard")
                    .finish()
            }),
        );
    Front {
        dashboard,
        app: dream_http::app(state),
    }
}

/// The dashboard's paths go to its router, every other path straight to the
/// API, as a router nesting both at `/` would send them, without that router's
/// copy of the path and extra boxed future on every API call.
struct Front<D, A> {
    dashboard: D,
    app: A,
}

impl<D: poem::Endpoint, A: poem::Endpoint> poem::Endpoint for Front<D, A> {
    type Output = poem::Response;

    async fn call(&self, req: poem::Request) -> poem::Result<poem::Response> {
        use poem::IntoResponse;
        let path = req.uri().path();
        if !path.starts_with('/') {
            // `OPTIONS *`: no route, as the router nesting both answered.
            return Err(poem::error::NotFoundError.into());
        }
        if path == "/" || path == "/dashboard" || path.starts_with("/dashboard/") {
            self.dashboard
                .call(req)
                .await
                .map(IntoResponse::into_response)
        } else {
            self.app.call(req).await.map(IntoResponse::into_response)
        }
    }
}

/// How often a server writes its tally of accepted usage to the usage history
/// (the dashboard's chart); a crash loses at most this much from the chart,
/// never from the enforced counters.
pub const USAGE_HISTORY_FLUSH_EVERY: Duration = Duration::from_secs(5);

/// Writes the usage tally every `every`; a failed write is kept for the next.
async fn flush_usage_history(dream: Dream, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(err) = dream.flush_usage_history().await {
            tracing::warn!(error = %err, "could not write the usage history; kept for the next try");
        }
    }
}

/// How often a server purges idempotency entries past their retention.
pub const IDEMPOTENCY_SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// Purges idempotency entries past their retention (24 h for API requests; they
/// may hold sealed responses) now and every `every`. Any number of processes may
/// sweep: the purge is one idempotent statement.
async fn sweep_idempotency_keys(dream: Dream, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match dream
            .stores()
            .idempotency
            .purge_idempotency_keys(dream.now())
            .await
        {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged expired idempotency keys"),
            Err(err) => tracing::warn!(error = %err, "could not purge expired idempotency keys"),
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sessions, login throttling and the plan gate, from the configuration.
fn account_settings(config: &Config) -> Result<dream_core::AccountSettings, AppError> {
    let secs = |s: u64| chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000));
    Ok(dream_core::AccountSettings {
        sessions: dream_core::SessionPolicy {
            idle: secs(config.session_idle_secs),
            absolute: secs(config.session_absolute_secs),
        },
        throttle: dream_core::LoginThrottle::default(),
        house: config
            .house()
            .map_err(|e| AppError::Config(e.to_string()))?,
        sign_up: config.signup,
    })
}
