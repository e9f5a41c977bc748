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
//! then lets it be passed as a single handle. `dream_core::testing` (feature
//! `testing`) holds the conformance suite every backend must pass.

mod billing;
mod customers;
mod events;
mod idempotency;
mod identity;
mod inventory;
mod keys;
mod platforms;
mod subscriptions;
mod usage;
mod webhooks;

pub use billing::{BillingProvider, BillingStore};
pub use customers::CustomerStore;
pub use events::EventStore;
pub use idempotency::IdempotencyStore;
pub use identity::{IdentityLink, IdentityStore};
pub use inventory::InventoryStore;
pub use keys::KeyStore;
pub use platforms::PlatformStore;
pub use subscriptions::SubscriptionStore;
pub use usage::UsageStore;
pub use webhooks::{OutboundRequest, SendResult, WebhookSender, WebhookStore};

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
    + WebhookStore
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
        + WebhookStore
{
}
