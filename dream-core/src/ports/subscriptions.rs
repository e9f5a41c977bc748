//! The subscription port: a customer's subscription state, only ever moving forward,
//! with the plan change in the same atomic step.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{CustomerId, Event, StoreError, SubscriptionApply, SubscriptionState, Tenant};

/// Customers' subscription states, moved forward by provider events.
#[async_trait]
pub trait SubscriptionStore: Send + Sync {
    /// Atomically: unless the customer's stored state has a later `as_of` than
    /// `state.as_of` (equal times apply, so a redelivered event is harmless), store
    /// `state` and, when `plan` is given, set the customer's plan (and its
    /// `updated_at` to `now`) in the same step; return `Applied` with the plan the
    /// customer had before. A later stored state gives `Stale` and changes nothing.
    /// `NotFound` if the customer does not exist in the tenant.
    ///
    /// When it applies, `events(previous_plan)` are stored in the same atomic
    /// write, each as [`append_event`](crate::ports::EventStore::append_event)
    /// stores it (with its webhook deliveries): the plan change and its
    /// `plan.changed` commit together or not at all (an outbox). The events are
    /// built in there because they depend on the previous plan, which only the
    /// atomic step knows. `Stale` stores none.
    async fn apply_subscription_state(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        state: &SubscriptionState,
        plan: Option<&str>,
        now: DateTime<Utc>,
        events: &(dyn for<'p> Fn(&'p str) -> Vec<Event> + Send + Sync),
    ) -> Result<SubscriptionApply, StoreError>;

    /// The customer's stored subscription state, if any.
    async fn get_subscription_state(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
    ) -> Result<Option<SubscriptionState>, StoreError>;
}
