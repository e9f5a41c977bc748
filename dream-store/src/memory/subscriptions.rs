//! Subscription states in memory, behind their own mutex.
//!
//! An apply holds the subscriptions lock and then the customers lock from the
//! staleness check to the state and plan writes, so applies never interleave and
//! an older state's plan cannot land after a newer one's. Lock order is always
//! subscriptions, then customers (then events and webhooks, for the events an
//! apply writes); nothing takes them the other way round.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::SubscriptionStore, CustomerId, Event, StoreError, SubscriptionApply, SubscriptionState,
    Tenant,
};

use super::{lock, MemoryStore};

#[derive(Debug, Default)]
pub(super) struct Subscriptions {
    states: HashMap<(Tenant, CustomerId), SubscriptionState>,
}

#[async_trait]
impl SubscriptionStore for MemoryStore {
    async fn apply_subscription_state(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        state: &SubscriptionState,
        plan: Option<&str>,
        now: DateTime<Utc>,
        events: &(dyn for<'p> Fn(&'p str) -> Vec<Event> + Send + Sync),
    ) -> Result<SubscriptionApply, StoreError> {
        let mut subscriptions = lock(&self.subscriptions);
        let mut customers = lock(&self.customers);
        let key = (tenant.clone(), customer.clone());
        if !customers.contains(tenant, customer) {
            // The SQL backends delete a state with its customer (ON DELETE
            // CASCADE); here the leftover of a deleted customer goes when seen.
            subscriptions.states.remove(&key);
            return Err(StoreError::NotFound);
        }
        if subscriptions
            .states
            .get(&key)
            .is_some_and(|stored| stored.as_of > state.as_of)
        {
            return Ok(SubscriptionApply::Stale);
        }
        let written = events(&customers.plan_of(tenant, customer).unwrap_or_default());
        // Checked before anything changes, so a refused event leaves no trace.
        let mut log = lock(&self.events);
        if written.iter().any(|e| log.has(&e.id)) {
            return Err(StoreError::Conflict("event id exists"));
        }
        let previous_plan = customers
            .swap_plan(tenant, customer, plan, now)
            .ok_or(StoreError::NotFound)?;
        subscriptions.states.insert(key, state.clone());
        let mut outbound = lock(&self.outbound);
        for event in &written {
            log.append(event)?;
            outbound.enqueue(event);
        }
        Ok(SubscriptionApply::Applied { previous_plan })
    }

    async fn get_subscription_state(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
    ) -> Result<Option<SubscriptionState>, StoreError> {
        let mut subscriptions = lock(&self.subscriptions);
        let customers = lock(&self.customers);
        let key = (tenant.clone(), customer.clone());
        // A deleted customer has no state, as in the SQL backends. (Customer ids
        // are generated, so a new customer never reuses a deleted one's id.)
        if !customers.contains(tenant, customer) {
            subscriptions.states.remove(&key);
            return Ok(None);
        }
        Ok(subscriptions.states.get(&key).cloned())
    }
}
