//! The `dream` server as a library: tests start the real server in-process with
//! [`Application::build`], exactly as `main` does.
#![warn(missing_docs)]

pub mod bootstrap;
pub mod config;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use dream_core::{ports::Store, Dream};
use poem::{listener::TcpAcceptor, Server};
use tokio::net::TcpListener as TokioListener;

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
}

/// The composition root: every `Arc<dyn …>` the server uses is created here.
pub fn build_store(config: &Config) -> Arc<dyn Store> {
    match config.store {
        StoreKind::Memory => Arc::new(dream_store::MemoryStore::new()),
    }
}

/// A bound, not yet running server.
pub struct Application {
    listener: TokioListener,
    port: u16,
    state: dream_http::AppState,
    grace: Duration,
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
        let dream = Dream::new(build_store(config));
        let mut state = dream_http::AppState::new(
            dream,
            config.admin_token.as_ref().map(config::Secret::expose),
        );
        state.body_limit = config.max_body_bytes;
        Ok(Self {
            listener,
            port,
            state,
            grace: Duration::from_secs(config.shutdown_grace_secs),
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
        Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(dream_http::app(self.state), shutdown, Some(self.grace))
            .await
            .map_err(AppError::Serve)
    }
}
