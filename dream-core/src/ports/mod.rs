//! Store ports: one narrow trait per aggregate.
//!
//! The traits are object-safe (`#[async_trait]`) on purpose: the binary picks a
//! backend at run time and services hold `Arc<dyn Store>`. Every decision that must
//! be atomic across processes is **one** method that the backend executes
//! atomically (`consume_usage`, `insert_customer` with its uniqueness rule,
//! `claim_idempotency_key`, `reserve_inventory`, `commit_reservation`): never
//! read, decide in Rust, then write.
//!
//! A backend is one type implementing every trait; the blanket impl of [`Store`]
//! then lets it be passed as a single handle, and [`Stores`] splits that handle
//! into one `Arc` per port. Services hold a [`Stores`], so a decorator wraps only
//! the port it changes (a cache in front of [`KeyStore`], Redis counters behind
//! [`UsageStore`]) and replaces that one field: nothing forwards the other ports.
//! The crate `dream-conformance` holds the conformance suite every backend (and
//! every decorated [`Stores`]) must pass.

use std::sync::Arc;

mod accounts;
mod audit;
mod billing;
mod customer_keys;
mod customers;
mod events;
mod idempotency;
mod identity;
mod inventory;
mod keys;
mod outbound;
mod passwords;
mod platforms;
mod subscriptions;
mod tokens;
mod usage;
mod usage_history;

pub use accounts::AccountStore;
pub use audit::AuditStore;
pub use billing::{BillingProvider, BillingStore};
pub use customer_keys::CustomerKeyStore;
pub use customers::CustomerStore;
pub use events::EventStore;
pub use idempotency::IdempotencyStore;
pub use identity::{IdentityLink, IdentityStore};
pub use inventory::InventoryStore;
pub use keys::KeyStore;
pub use outbound::{OutboundRequest, OutboundSender, OutboundStore, SendResult};
pub use passwords::{InlinePasswordHasher, PasswordHasher};
pub use platforms::PlatformStore;
pub use subscriptions::SubscriptionStore;
pub use tokens::TokenStore;
pub use usage::UsageStore;
pub use usage_history::UsageHistoryStore;

/// Everything a backend implements, as one handle.
pub trait Store:
    PlatformStore
    + KeyStore
    + CustomerStore
    + UsageStore
    + EventStore
    + IdempotencyStore
    + IdentityStore
    + InventoryStore
    + BillingStore
    + SubscriptionStore
    + OutboundStore
    + UsageHistoryStore
    + AuditStore
    + AccountStore
    + CustomerKeyStore
    + TokenStore
{
}

impl<T> Store for T where
    T: PlatformStore
        + KeyStore
        + CustomerStore
        + UsageStore
        + EventStore
        + IdempotencyStore
        + IdentityStore
        + InventoryStore
        + BillingStore
        + SubscriptionStore
        + OutboundStore
        + UsageHistoryStore
        + AuditStore
        + AccountStore
        + CustomerKeyStore
        + TokenStore
{
}

/// One handle per port: what the [`Dream`](crate::Dream) services run on.
///
/// Build it from one backend with [`Stores::new`] (or `From`), then replace the
/// fields a decorator changes. Every field is a cheap `Arc` clone.
///
/// ```
/// use std::sync::Arc;
/// use dream_core::{ports::Stores, Dream};
/// use dream_store::MemoryStore;
///
/// let mut stores = Stores::new(Arc::new(MemoryStore::new()));
/// // Usage counters from another backend, everything else from the first.
/// stores.usage = Arc::new(MemoryStore::new());
/// let dream = Dream::new(stores);
/// ```
///
/// One rule when mixing backends: [`events`](Self::events) and
/// [`outbound`](Self::outbound) must be the same backend, because appending an
/// event queues its webhook deliveries in the same write (the event log is the
/// outbox). Likewise [`customers`](Self::customers) and
/// [`subscriptions`](Self::subscriptions), whose applies change a customer's plan
/// atomically.
#[derive(Clone)]
pub struct Stores {
    /// Platforms and their tier configurations.
    pub platforms: Arc<dyn PlatformStore>,
    /// Key pairs.
    pub keys: Arc<dyn KeyStore>,
    /// End customers.
    pub customers: Arc<dyn CustomerStore>,
    /// Usage counters and rate windows (the hot path).
    pub usage: Arc<dyn UsageStore>,
    /// The event log (and outbox of webhook deliveries).
    pub events: Arc<dyn EventStore>,
    /// Idempotency keys.
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// Links from identity-provider users (Clerk) to customers.
    pub identity: Arc<dyn IdentityStore>,
    /// One-off product stock and reservations.
    pub inventory: Arc<dyn InventoryStore>,
    /// Stripe connections, onboarding states and customer links.
    pub billing: Arc<dyn BillingStore>,
    /// Subscription states of customers.
    pub subscriptions: Arc<dyn SubscriptionStore>,
    /// Developers' webhook endpoints and the deliveries to them.
    pub outbound: Arc<dyn OutboundStore>,
    /// Daily usage per tenant, for charts.
    pub history: Arc<dyn UsageHistoryStore>,
    /// Platforms' audit logs of management actions.
    pub audit: Arc<dyn AuditStore>,
    /// Developer accounts, their sessions and failed logins.
    pub accounts: Arc<dyn AccountStore>,
    /// API keys of end customers (`ck_…`).
    pub customer_keys: Arc<dyn CustomerKeyStore>,
    /// End customers' refresh-token families and the access-token signing keys.
    pub tokens: Arc<dyn TokenStore>,
}

impl Stores {
    /// Every port served by one backend.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            platforms: store.clone(),
            keys: store.clone(),
            customers: store.clone(),
            usage: store.clone(),
            events: store.clone(),
            idempotency: store.clone(),
            identity: store.clone(),
            inventory: store.clone(),
            billing: store.clone(),
            subscriptions: store.clone(),
            outbound: store.clone(),
            history: store.clone(),
            audit: store.clone(),
            accounts: store.clone(),
            customer_keys: store.clone(),
            tokens: store,
        }
    }
}

impl From<Arc<dyn Store>> for Stores {
    fn from(store: Arc<dyn Store>) -> Self {
        Self::new(store)
    }
}

impl<S: Store + 'static> From<Arc<S>> for Stores {
    fn from(store: Arc<S>) -> Self {
        Self::new(store)
    }
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}
