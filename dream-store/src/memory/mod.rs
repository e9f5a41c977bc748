//! The in-memory backend: one mutex per aggregate, every atomic operation done
//! under its aggregate's lock.

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
mod platforms;
mod subscriptions;
mod tokens;
mod usage;
mod usage_history;

use std::sync::{Mutex, MutexGuard};

/// Everything in process memory. Cheap to create; share it behind an `Arc`.
#[derive(Debug, Default)]
pub struct MemoryStore {
    platforms: Mutex<platforms::PlatformsAndKeys>,
    customers: Mutex<customers::Customers>,
    usage: Mutex<usage::Usage>,
    events: Mutex<events::Events>,
    idempotency: Mutex<idempotency::Idempotency>,
    identities: Mutex<identity::Identities>,
    inventory: Mutex<inventory::Inventory>,
    billing: Mutex<billing::Billing>,
    subscriptions: Mutex<subscriptions::Subscriptions>,
    outbound: Mutex<outbound::Webhooks>,
    history: Mutex<usage_history::History>,
    audit: Mutex<audit::AuditLog>,
    accounts: Mutex<accounts::Accounts>,
    customer_keys: Mutex<customer_keys::CustomerKeys>,
    tokens: Mutex<tokens::Tokens>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

/// A poisoned lock means another thread panicked mid-update; the maps themselves
/// are still consistent (every update is a single insert/remove), so carry on.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
