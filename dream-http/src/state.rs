//! What every handler can reach.

use std::{
    ops::{Deref, DerefMut},
    sync::Arc,
};

use dream_core::Dream;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ReadinessProbe;

/// Shared state: the services and the server's settings, behind one `Arc`.
///
/// Every request gets its own copy (poem's `.data`), so a clone must be cheap: one
/// reference count instead of the dozens of counts and the settings' strings a
/// copy of the fields would take. Read the fields through `Deref`; setting one
/// (`state.body_limit = …`, while the server is built) copies them first if the
/// state is shared.
#[derive(Clone)]
pub struct AppState(Arc<AppSettings>);

impl Deref for AppState {
    type Target = AppSettings;

    fn deref(&self) -> &AppSettings {
        &self.0
    }
}

impl DerefMut for AppState {
    fn deref_mut(&mut self) -> &mut AppSettings {
        Arc::make_mut(&mut self.0)
    }
}

/// What [`AppState`] holds: the services and the server's settings.
#[derive(Clone)]
pub struct AppSettings {
    /// The services.
    pub dream: Dream,
    /// SHA-256 of the operator's admin token; `None` disables the admin API.
    pub admin_token_digest: Option<Arc<[u8; 32]>>,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// How long an unfinished idempotent request holds its key; after that (a
    /// crashed process) a retry runs again. Track calls stay exact either way.
    pub idempotency_lock_timeout: std::time::Duration,
    /// Checkout defaults and where onboarding ends.
    pub billing: BillingSettings,
    /// What `GET /ready` asks; empty (always ready) for an in-memory store.
    pub readiness: Vec<Arc<dyn ReadinessProbe>>,
    /// How long `GET /ready` waits for each probe.
    pub readiness_timeout: std::time::Duration,
    /// Origins and cookie flags of the account front door.
    pub account_door: AccountDoor,
    /// Whether request spans carry the fields a trace exporter needs (method,
    /// operation, status, `otel.*`). Without an exporter only `request_id` is
    /// worth its cost: the log formats a span's fields when it opens and again on
    /// every record, and the access line carries the rest. On by default.
    pub trace_spans: bool,
    /// Which requests get an access log line. All by default.
    pub access_log: AccessLog,
}

/// Which requests the access log records (`DREAM_ACCESS_LOG`).
///
/// Behind a proxy or load balancer that logs every request already, a line per
/// request here is a second copy: writing it is about a fifth of a tracked
/// call's CPU on the memory store. Other log lines (warnings, errors, webhook
/// work) are written whatever this says, and still carry the request's id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessLog {
    /// A line for every request.
    #[default]
    All,
    /// A line for answers with status 400 or above only.
    Errors,
    /// No access lines.
    Off,
}

impl AccessLog {
    /// Whether a request answered with `status` gets a line.
    pub fn records(self, status: u16) -> bool {
        match self {
            Self::All => true,
            Self::Errors => status >= 400,
            Self::Off => false,
        }
    }
}

/// Settings of the account front door (`/account/…`, session cookies).
#[derive(Debug, Clone, Default)]
pub struct AccountDoor {
    /// This server's public base URL (`DREAM_PUBLIC_URL`): its origin may make
    /// cookie-authenticated writes, and `https` makes the cookie `Secure`. Unset:
    /// the request's own `Host` is the origin.
    pub public_url: Option<String>,
    /// More origins that may make cookie-authenticated writes, such as a dashboard
    /// served elsewhere (`DREAM_TRUSTED_ORIGINS`), as `scheme://host[:port]`.
    pub trusted_origins: Vec<String>,
}

/// Server-wide billing defaults.
#[derive(Debug, Clone, Default)]
pub struct BillingSettings {
    /// Checkout `successUrl` when a request names none (`DREAM_CHECKOUT_SUCCESS_URL`).
    pub checkout_success_url: Option<String>,
    /// Checkout `cancelUrl` when a request names none (`DREAM_CHECKOUT_CANCEL_URL`).
    pub checkout_cancel_url: Option<String>,
    /// Where `/callback` sends the developer after Connect onboarding
    /// (`DREAM_DASHBOARD_URL`); without it the callback answers JSON.
    pub dashboard_url: Option<String>,
}

impl AppState {
    /// Whether `token` is the operator's admin token; `false` when the admin API is
    /// disabled. Compares SHA-256 digests in constant time, so neither the token's
    /// content nor its length leaks through timing.
    pub fn is_admin_token(&self, token: &str) -> bool {
        self.admin_token_digest.as_ref().is_some_and(|expected| {
            let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            bool::from(presented.ct_eq(expected.as_ref()))
        })
    }

    /// Default wait for each readiness probe: 2 s, below the usual 3-5 s timeout
    /// of a load balancer's or Kubernetes' probe.
    pub const DEFAULT_READINESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

    /// Default body limit: 1 MiB.
    pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

    /// State over `dream`, with the admin API enabled when `admin_token` is given.
    pub fn new(dream: Dream, admin_token: Option<&str>) -> Self {
        Self(Arc::new(AppSettings {
            dream,
            admin_token_digest: admin_token
                .filter(|t| !t.is_empty())
                .map(|t| Arc::new(Sha256::digest(t.as_bytes()).into())),
            body_limit: Self::DEFAULT_BODY_LIMIT,
            // Longer than a Stripe call with all its retries (243.5 s by default).
            idempotency_lock_timeout: std::time::Duration::from_secs(300),
            billing: BillingSettings::default(),
            readiness: Vec::new(),
            readiness_timeout: Self::DEFAULT_READINESS_TIMEOUT,
            account_door: AccountDoor::default(),
            trace_spans: true,
            access_log: AccessLog::All,
        }))
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("admin_api", &self.admin_token_digest.is_some())
            .field("body_limit", &self.body_limit)
            .field(
                "readiness",
                &self.readiness.iter().map(|p| p.name()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}
