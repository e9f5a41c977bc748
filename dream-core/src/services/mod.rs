//! Services: the rules, calling the ports. The HTTP layer only translates.
//!
//! [`Dream`] is the one handle an embedding service needs:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), dream_core::CoreError> {
//! use std::sync::Arc;
//! use dream_core::{Dream, Mode, Tenant, Tier, TierKind, Interval, Money, UsageLimit};
//! let dream = Dream::new(Arc::new(dream_store::MemoryStore::new()));
//! let platform = dream.create_platform(Some("my app".into())).await?;
//! let tenant = Tenant::new(platform.id.clone(), Mode::Test);
//! dream.configure_tiers(&tenant, vec![Tier {
//!     name: "free".into(), display_name: "Free".into(),
//!     price: Money::from_major(0.0, "usd")?,
//!     kind: TierKind::Recurring { interval: Interval::Month },
//!     limit: UsageLimit::Limited(2), rate_limit_per_minute: None,
//!     features: vec![], flags: vec![], alerts: vec![80, 100], meters: Default::default(), grants: None, archived: false,
//! }]).await?;
//! assert_eq!(dream.track(&tenant, "user-1", None, 1).await?.used, 1);
//! assert_eq!(dream.track(&tenant, "user-1", None, 1).await?.used, 2);
//! assert!(dream.track(&tenant, "user-1", None, 1).await.is_err()); // limit reached
//! # Ok(())
//! # }
//! ```

mod accounts;
mod apps;
mod audit;
mod billing;
mod clerk_users;
mod credits;
mod customer_keys;
mod customers;
mod dashboard;
mod entitlements;
mod house;
mod keys;
mod outbound;
mod platforms;
mod sign_in;
mod stripe_events;
mod sweep;
mod usage;
mod usage_history;

use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use accounts::{AccountSettings, SignUp, SignedIn, SignedInAccount};
pub use billing::{
    validate_redirect_url, Cart, CartCheckout, CartItem, CheckoutUrls, ProductListing,
    TierPriceIds, CART_SESSION_MINUTES, MAX_CART_LINES, MAX_CART_QUANTITY,
    RESERVATION_MARGIN_MINUTES,
};
pub use clerk_users::ClerkEndpoint;
pub use credits::CreditsGranted;
pub use customer_keys::{RolledCustomerKey, MAX_PRESENTED_KEY_LEN};
pub use dashboard::{Dashboard, Mrr, OversoldProduct};
pub use entitlements::{CheckOutcome, CheckQuery, Entitlements, MeterState};
pub use house::{AccountPlan, HousePlatform};
pub use keys::{RolledKey, MAX_ROLL_OVERLAP_SECS};
pub use outbound::{DeliveryPass, EndpointPatch, NewEndpoint};
pub use platforms::ProductsCreated;
pub use sign_in::{SignInSettings, TokenAudience, TokenPair, SIGNING_KEY_CACHE_SECS};
pub use stripe_events::{WebhookOutcome, WEBHOOK_DEDUP_DAYS};
pub use sweep::SweepReport;
pub use usage::{TrackOutcome, UsageReport, MAX_TRACK_AMOUNT};
pub use usage_history::{
    Granularity, HistoryQuery, UsageHistory, DEFAULT_HISTORY_RETENTION_DAYS, MAX_HISTORY_BUCKETS,
};

use crate::{
    ports::{BillingProvider, InlinePasswordHasher, PasswordHasher, Stores},
    AuditContext, Clock, CustomerId, EndpointPolicy, Event, EventId, EventKind, MasterKey,
    RevealedSecret, SealedSecret, StoreError, SystemClock, Tenant,
};

/// The service facade over the store ports and a clock. Cheap to clone.
#[derive(Clone)]
pub struct Dream {
    stores: Stores,
    clock: Arc<dyn Clock>,
    billing: Option<Arc<dyn BillingProvider>>,
    master_key: Option<Arc<MasterKey>>,
    /// Clerk's endpoint signing secrets (several during rotation); empty = not configured.
    clerk_endpoints: Arc<[ClerkEndpoint]>,
    endpoint_policy: EndpointPolicy,
    limits: TenantLimits,
    password_hasher: Arc<dyn PasswordHasher>,
    /// Accepted usage not yet in the history store (see [`Dream::flush_usage_history`]).
    usage_tally: Arc<crate::UsageTally>,
    /// Days of usage history the retention sweep keeps.
    history_retention_days: u32,
    /// Who is acting, for the audit log (see [`Dream::acting_as`]).
    audit: Arc<AuditContext>,
    accounts: AccountSettings,
    dummy_hash: accounts::DummyHash,
    sign_in: SignInSettings,
    signing_keys: Arc<sign_in::KeyCache>,
}

/// Per-tenant caps of this server, enforced atomically in the store. `None`: no cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TenantLimits {
    /// Most customers one tenant (platform and mode) may have.
    pub max_customers: Option<u64>,
}

impl Dream {
    /// Services over `stores` (one backend's `Arc`, or a composed [`Stores`])
    /// with the system clock.
    pub fn new(stores: impl Into<Stores>) -> Self {
        Self::with_clock(stores, Arc::new(SystemClock))
    }

    /// Services over `stores` with a given clock (tests, simulations).
    pub fn with_clock(stores: impl Into<Stores>, clock: Arc<dyn Clock>) -> Self {
        Self {
            stores: stores.into(),
            clock,
            billing: None,
            master_key: None,
            clerk_endpoints: Arc::new([]),
            endpoint_policy: EndpointPolicy::default(),
            limits: TenantLimits::default(),
            password_hasher: Arc::new(InlinePasswordHasher),
            usage_tally: Arc::default(),
            history_retention_days: usage_history::DEFAULT_HISTORY_RETENTION_DAYS,
            audit: Arc::new(AuditContext::system()),
            accounts: AccountSettings::default(),
            dummy_hash: accounts::DummyHash::default(),
            sign_in: SignInSettings::default(),
            signing_keys: Arc::default(),
        }
    }

    /// Enforces these per-tenant caps from now on.
    pub fn with_limits(mut self, limits: TenantLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Hashes passwords with `hasher` (the server passes a bounded one) instead of
    /// on the calling task.
    pub fn with_password_hasher(mut self, hasher: Arc<dyn PasswordHasher>) -> Self {
        self.password_hasher = hasher;
        self
    }

    /// Seals `secret` for `tenant` with the master key (AES-256-GCM, the tenant as
    /// associated data), or `None` when no master key is configured: the caller
    /// then decides whether the secret may be kept at all.
    pub fn seal_at_rest(&self, tenant: &Tenant, secret: &RevealedSecret) -> Option<SealedSecret> {
        self.master_key
            .as_deref()
            .map(|key| key.seal(tenant, secret))
    }

    /// Opens what [`Dream::seal_at_rest`] sealed for `tenant`; `None` without a
    /// master key, or when it does not open (another key, another tenant, tampering).
    pub fn open_at_rest(&self, tenant: &Tenant, sealed: &SealedSecret) -> Option<RevealedSecret> {
        self.master_key.as_deref()?.open(tenant, sealed).ok()
    }

    /// The store ports, for operations the services do not wrap.
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// The current time by this instance's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Appends to the event log. The change it records has already happened, so a
    /// failure is logged rather than turned into an error that would make the caller
    /// believe the change did not happen (or retry it).
    async fn emit(
        &self,
        tenant: &Tenant,
        kind: EventKind,
        customer: Option<&CustomerId>,
        data: serde_json::Value,
    ) {
        let event = Event::new(tenant.clone(), kind, customer.cloned(), data, self.now());
        if let Err(err) = self.stores.events.append_event(&event).await {
            tracing::warn!(error = %err, kind = kind.as_str(), "could not append to the event log");
        }
    }
}

impl Dream {
    /// Appends an event whose id is derived from `key`, so that the same fact
    /// announced again (a replay, a redelivered webhook, another process) is
    /// refused by the event log's unique id instead of being delivered twice.
    async fn emit_once(
        &self,
        key: &str,
        tenant: &Tenant,
        kind: EventKind,
        customer: &CustomerId,
        data: serde_json::Value,
    ) {
        let event = Event {
            id: EventId::derived(key),
            tenant: tenant.clone(),
            kind,
            customer: Some(customer.clone()),
            data,
            created_at: self.now(),
        };
        match self.stores.events.append_event(&event).await {
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(err) => {
                tracing::warn!(error = %err, kind = kind.as_str(), "could not append to the event log");
            }
        }
    }
}

impl std::fmt::Debug for Dream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dream").finish_non_exhaustive()
    }
}
