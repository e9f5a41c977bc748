//! The customer port: end customers of a tenant, unique by external id.

use std::{collections::BTreeMap, sync::Arc};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{Customer, CustomerId, CustomerQuery, Event, Page, PageRequest, StoreError, Tenant};

/// End customers, always addressed within a tenant.
#[async_trait]
pub trait CustomerStore: Send + Sync {
    /// Stores a new customer. Atomically refuses with `Conflict` when the tenant
    /// already has a customer with the same id or `external_id`.
    async fn insert_customer(&self, customer: &Customer) -> Result<(), StoreError>;

    /// [`insert_customer`](Self::insert_customer) unless the tenant already has
    /// `max` customers: one atomic decision (never count, then insert, which two
    /// processes could both pass). `Ok(false)`, and nothing stored, when full.
    async fn insert_customer_capped(
        &self,
        customer: &Customer,
        max: u64,
    ) -> Result<bool, StoreError>;

    /// [`insert_customer`](Self::insert_customer), or with `max` set
    /// [`insert_customer_capped`](Self::insert_customer_capped), and in the same
    /// atomic write `event` as [`append_event`](crate::ports::EventStore::append_event)
    /// stores it (with its webhook deliveries): both or neither, so a failure
    /// can never leave the customer without its `customer.created` (an outbox).
    /// `Ok(false)`, and nothing stored, when capped and full; `Conflict` when
    /// the customer or the event id exists.
    async fn insert_customer_with_event(
        &self,
        customer: &Customer,
        max: Option<u64>,
        event: &Event,
    ) -> Result<bool, StoreError>;

    /// The tenant's customer with our id.
    async fn get_customer(
        &self,
        tenant: &Tenant,
        id: &CustomerId,
    ) -> Result<Option<Customer>, StoreError>;

    /// The tenant's customer with the developer's external id.
    async fn find_customer_by_external_id(
        &self,
        tenant: &Tenant,
        external_id: &str,
    ) -> Result<Option<Customer>, StoreError>;

    /// [`get_customer`](Self::get_customer) behind a shared pointer, for the hot
    /// path: a cache hands out its entry instead of a copy of the record. The
    /// default wraps `get_customer`'s answer.
    async fn get_shared_customer(
        &self,
        tenant: &Tenant,
        id: &CustomerId,
    ) -> Result<Option<Arc<Customer>>, StoreError> {
        Ok(self.get_customer(tenant, id).await?.map(Arc::new))
    }

    /// [`find_customer_by_external_id`](Self::find_customer_by_external_id)
    /// behind a shared pointer, as [`get_shared_customer`](Self::get_shared_customer).
    async fn find_shared_customer_by_external_id(
        &self,
        tenant: &Tenant,
        external_id: &str,
    ) -> Result<Option<Arc<Customer>>, StoreError> {
        Ok(self
            .find_customer_by_external_id(tenant, external_id)
            .await?
            .map(Arc::new))
    }

    /// Replaces a stored customer's profile (matched by tenant and id): every field
    /// except `plan` and `created_at`, which it never writes, so a profile read
    /// before a plan change cannot undo it. `NotFound` if absent, `Conflict` if the
    /// new `external_id` belongs to another customer.
    async fn update_customer(&self, customer: &Customer) -> Result<(), StoreError>;

    /// Sets the customer's plan (and `updated_at`) in one atomic step and returns
    /// the plan it replaced; `NotFound` if absent. With
    /// [`SubscriptionStore::apply_subscription_state`](crate::ports::SubscriptionStore::apply_subscription_state)
    /// the only writes of `plan`, serialized with it on the customer's row.
    ///
    /// `events(replaced_plan)` are stored in the same atomic write, each as
    /// [`append_event`](crate::ports::EventStore::append_event) stores it: the
    /// plan change and its `plan.changed` commit together or not at all.
    async fn change_customer_plan(
        &self,
        tenant: &Tenant,
        id: &CustomerId,
        plan: &str,
        now: DateTime<Utc>,
        events: &(dyn for<'p> Fn(&'p str) -> Vec<Event> + Send + Sync),
    ) -> Result<String, StoreError>;

    /// Deletes; returns whether the customer existed.
    async fn delete_customer(&self, tenant: &Tenant, id: &CustomerId) -> Result<bool, StoreError>;

    /// The tenant's customers that match `query`, in its order (newest or
    /// oldest first, by creation time, then id). The cursor must name a customer
    /// of the tenant (it need not match the query); `NotFound` otherwise.
    async fn list_customers(
        &self,
        tenant: &Tenant,
        query: &CustomerQuery,
        page: &PageRequest<CustomerId>,
    ) -> Result<Page<Customer>, StoreError>;

    /// How many customers the tenant has on each plan.
    async fn plan_counts(&self, tenant: &Tenant) -> Result<BTreeMap<String, u64>, StoreError>;
}
