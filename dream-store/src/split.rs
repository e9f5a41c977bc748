//! [`SplitStore`]: one store for everything, another for usage counters.

use std::{collections::BTreeMap, fmt, sync::Arc};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::{
        BillingStore, CustomerStore, EventStore, IdempotencyStore, InventoryStore, KeyStore,
        PlatformStore, Store, SubscriptionStore, UsageStore,
    },
    BillingConnection, ConsumeOutcome, ConsumeRequest, Customer, CustomerId, Event, EventId,
    IdempotencyClaim, IdempotencyScope, IdempotencyTimes, InventoryCounts, KeyDigest, KeyId,
    KeyRecord, Mode, OAuthState, Page, PageRequest, Period, Platform, PlatformId, Reservation,
    ReservationId, ReservationTransition, ReserveOutcome, ReserveRequest, StoreError,
    StoredResponse, StripeCustomerLink, SubscriptionApply, SubscriptionState, Tenant, TierConfig,
};

/// One [`Store`] handle made of two backends: `usage` serves the usage port
/// ([`UsageStore`]: counters and rate windows, the hot path) and `rest` serves
/// every other port. `rest`'s own usage methods are never called.
///
/// This is how "Redis for counters, SQL for the rest" becomes the single
/// `Arc<dyn Store>` that services take. Each call goes to exactly one backend, so
/// every atomic method stays atomic; nothing spans the two.
///
/// ```
/// use std::sync::Arc;
/// use dream_core::{ports::Store, Dream};
/// use dream_store::{MemoryStore, SplitStore};
///
/// // In production `rest` would be the SQL store and `counters` a
/// // `RedisUsageStore` (feature `redis`).
/// let rest = Arc::new(MemoryStore::new());
/// let counters = Arc::new(MemoryStore::new());
/// let store: Arc<dyn Store> = Arc::new(SplitStore::new(rest, counters));
/// let dream = Dream::new(store);
/// ```
#[derive(Clone)]
pub struct SplitStore {
    rest: Arc<dyn Store>,
    usage: Arc<dyn UsageStore>,
}

impl SplitStore {
    /// Usage from `usage`, everything else from `rest`.
    pub fn new(rest: Arc<dyn Store>, usage: Arc<dyn UsageStore>) -> Self {
        Self { rest, usage }
    }

    /// The store behind every port but usage.
    pub fn rest(&self) -> &Arc<dyn Store> {
        &self.rest
    }

    /// The store behind the usage port.
    pub fn usage(&self) -> &Arc<dyn UsageStore> {
        &self.usage
    }
}

impl fmt::Debug for SplitStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SplitStore").finish_non_exhaustive()
    }
}

#[async_trait]
impl UsageStore for SplitStore {
    async fn consume_usage(&self, request: &ConsumeRequest) -> Result<ConsumeOutcome, StoreError> {
        self.usage.consume_usage(request).await
    }

    async fn get_usage(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        period: &Period,
    ) -> Result<u64, StoreError> {
        self.usage.get_usage(tenant, customer, period).await
    }

    async fn last_consumed_at(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.usage.last_consumed_at(tenant, customer).await
    }

    async fn active_customers(&self, tenant: &Tenant, period: &Period) -> Result<u64, StoreError> {
        self.usage.active_customers(tenant, period).await
    }

    async fn total_usage(&self, tenant: &Tenant, period: &Period) -> Result<u64, StoreError> {
        self.usage.total_usage(tenant, period).await
    }
}

#[async_trait]
impl PlatformStore for SplitStore {
    async fn insert_platform(&self, platform: &Platform) -> Result<(), StoreError> {
        self.rest.insert_platform(platform).await
    }

    async fn get_platform(&self, id: &PlatformId) -> Result<Option<Platform>, StoreError> {
        self.rest.get_platform(id).await
    }

    async fn put_tier_config(
        &self,
        tenant: &Tenant,
        config: &TierConfig,
    ) -> Result<(), StoreError> {
        self.rest.put_tier_config(tenant, config).await
    }

    async fn get_tier_config(&self, tenant: &Tenant) -> Result<Option<TierConfig>, StoreError> {
        self.rest.get_tier_config(tenant).await
    }
}

#[async_trait]
impl KeyStore for SplitStore {
    async fn insert_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        self.rest.insert_key(key).await
    }

    async fn find_key_by_digest(
        &self,
        digest: &KeyDigest,
    ) -> Result<Option<KeyRecord>, StoreError> {
        self.rest.find_key_by_digest(digest).await
    }

    async fn find_key_by_publishable(
        &self,
        publishable_key: &str,
    ) -> Result<Option<KeyRecord>, StoreError> {
        self.rest.find_key_by_publishable(publishable_key).await
    }

    async fn get_key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        self.rest.get_key(id).await
    }

    async fn list_keys(
        &self,
        platform: &PlatformId,
        mode: Option<Mode>,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        self.rest.list_keys(platform, mode).await
    }

    async fn revoke_key(
        &self,
        id: &KeyId,
        at: DateTime<Utc>,
    ) -> Result<Option<KeyRecord>, StoreError> {
        self.rest.revoke_key(id, at).await
    }

    async fn count_active_keys(
        &self,
        tenant: &Tenant,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.rest.count_active_keys(tenant, now).await
    }
}

#[async_trait]
impl CustomerStore for SplitStore {
    async fn insert_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        self.rest.insert_customer(customer).await
    }

    async fn get_customer(
        &self,
        tenant: &Tenant,
        id: &CustomerId,
    ) -> Result<Option<Customer>, StoreError> {
        self.rest.get_customer(tenant, id).await
    }

    async fn find_customer_by_external_id(
        &self,
        tenant: &Tenant,
        external_id: &str,
    ) -> Result<Option<Customer>, StoreError> {
        self.rest
            .find_customer_by_external_id(tenant, external_id)
            .await
    }

    async fn update_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        self.rest.update_customer(customer).await
    }

    async fn delete_customer(&self, tenant: &Tenant, id: &CustomerId) -> Result<bool, StoreError> {
        self.rest.delete_customer(tenant, id).await
    }

    async fn list_customers(
        &self,
        tenant: &Tenant,
        page: &PageRequest<CustomerId>,
    ) -> Result<Page<Customer>, StoreError> {
        self.rest.list_customers(tenant, page).await
    }

    async fn plan_counts(&self, tenant: &Tenant) -> Result<BTreeMap<String, u64>, StoreError> {
        self.rest.plan_counts(tenant).await
    }
}

#[async_trait]
impl EventStore for SplitStore {
    async fn append_event(&self, event: &Event) -> Result<(), StoreError> {
        self.rest.append_event(event).await
    }

    async fn list_events(
        &self,
        tenant: &Tenant,
        page: &PageRequest<EventId>,
    ) -> Result<Page<Event>, StoreError> {
        self.rest.list_events(tenant, page).await
    }
}

#[async_trait]
impl IdempotencyStore for SplitStore {
    async fn claim_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &[u8; 32],
        times: &IdempotencyTimes,
    ) -> Result<IdempotencyClaim, StoreError> {
        self.rest
            .claim_idempotency_key(scope, fingerprint, times)
            .await
    }

    async fn complete_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        self.rest.complete_idempotency_key(scope, response).await
    }

    async fn release_idempotency_key(&self, scope: &IdempotencyScope) -> Result<(), StoreError> {
        self.rest.release_idempotency_key(scope).await
    }
}

/// Inventory goes to `rest`: a reservation, its holds and the sold counts must
/// change in one transaction of one backend.
#[async_trait]
impl InventoryStore for SplitStore {
    async fn reserve_inventory(&self, req: &ReserveRequest) -> Result<ReserveOutcome, StoreError> {
        self.rest.reserve_inventory(req).await
    }

    async fn commit_reservation(
        &self,
        tenant: &Tenant,
        id: &ReservationId,
        now: DateTime<Utc>,
    ) -> Result<ReservationTransition, StoreError> {
        self.rest.commit_reservation(tenant, id, now).await
    }

    async fn release_reservation(
        &self,
        tenant: &Tenant,
        id: &ReservationId,
        now: DateTime<Utc>,
    ) -> Result<ReservationTransition, StoreError> {
        self.rest.release_reservation(tenant, id, now).await
    }

    async fn inventory_counts(
        &self,
        tenant: &Tenant,
        product: &str,
        now: DateTime<Utc>,
    ) -> Result<InventoryCounts, StoreError> {
        self.rest.inventory_counts(tenant, product, now).await
    }

    async fn get_reservation(
        &self,
        tenant: &Tenant,
        id: &ReservationId,
    ) -> Result<Option<Reservation>, StoreError> {
        self.rest.get_reservation(tenant, id).await
    }
}

/// Billing connections and links go to `rest`, like every non-usage port.
#[async_trait]
impl BillingStore for SplitStore {
    async fn put_billing_connection(
        &self,
        connection: &BillingConnection,
    ) -> Result<(), StoreError> {
        self.rest.put_billing_connection(connection).await
    }

    async fn get_billing_connection(
        &self,
        tenant: &Tenant,
    ) -> Result<Option<BillingConnection>, StoreError> {
        self.rest.get_billing_connection(tenant).await
    }

    async fn delete_billing_connection(&self, tenant: &Tenant) -> Result<bool, StoreError> {
        self.rest.delete_billing_connection(tenant).await
    }

    async fn tenants_for_stripe_account(
        &self,
        account_id: &str,
    ) -> Result<Vec<Tenant>, StoreError> {
        self.rest.tenants_for_stripe_account(account_id).await
    }

    async fn insert_oauth_state(&self, state: &OAuthState) -> Result<(), StoreError> {
        self.rest.insert_oauth_state(state).await
    }

    async fn take_oauth_state(
        &self,
        digest: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<OAuthState>, StoreError> {
        self.rest.take_oauth_state(digest, now).await
    }

    async fn link_stripe_customer(&self, link: &StripeCustomerLink) -> Result<String, StoreError> {
        self.rest.link_stripe_customer(link).await
    }

    async fn get_stripe_customer(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        account: &str,
    ) -> Result<Option<String>, StoreError> {
        self.rest
            .get_stripe_customer(tenant, customer, account)
            .await
    }

    async fn find_customer_by_stripe_id(
        &self,
        tenant: &Tenant,
        account: &str,
        stripe_customer_id: &str,
    ) -> Result<Option<CustomerId>, StoreError> {
        self.rest
            .find_customer_by_stripe_id(tenant, account, stripe_customer_id)
            .await
    }
}

/// Subscription states go to `rest`: a state and the plan it sets change in one
/// transaction of the store that holds the customers.
#[async_trait]
impl SubscriptionStore for SplitStore {
    async fn apply_subscription_state(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        state: &SubscriptionState,
        plan: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<SubscriptionApply, StoreError> {
        self.rest
            .apply_subscription_state(tenant, customer, state, plan, now)
            .await
    }

    async fn get_subscription_state(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
    ) -> Result<Option<SubscriptionState>, StoreError> {
        self.rest.get_subscription_state(tenant, customer).await
    }
}

#[async_trait]
impl dream_core::ports::IdentityStore for SplitStore {
    async fn get_identity_link(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<dream_core::ports::IdentityLink>, StoreError> {
        self.rest.get_identity_link(provider, subject).await
    }

    async fn advance_identity_link(
        &self,
        link: &dream_core::ports::IdentityLink,
    ) -> Result<bool, StoreError> {
        self.rest.advance_identity_link(link).await
    }
}

#[cfg(all(test, feature = "memory"))]
mod tests {
    //! Every port delegates to the right side: the whole suite passes with usage in
    //! one memory store and the rest in another.

    use std::sync::Arc;

    use dream_core::ports::Store;

    use super::SplitStore;
    use crate::MemoryStore;

    fn fresh_split() -> Arc<dyn Store> {
        Arc::new(SplitStore::new(
            Arc::new(MemoryStore::new()),
            Arc::new(MemoryStore::new()),
        ))
    }

    dream_core::store_conformance_tests!(fresh_split);
}

/// Webhooks live with everything else, in `rest`: `append_event` queues their
/// deliveries in the same write as the event.
mod webhooks {
    use async_trait::async_trait;
    use chrono::{DateTime, Duration, Utc};
    use dream_core::{
        ports::WebhookStore, AttemptRecorded, Delivery, DeliveryAttempt, DeliveryId, DeliveryJob,
        DeliveryNext, LeaseToken, Page, PageRequest, StoreError, Tenant, WebhookEndpoint,
        WebhookEndpointId,
    };

    use super::SplitStore;

    #[async_trait]
    impl WebhookStore for SplitStore {
        async fn create_webhook_endpoint(
            &self,
            endpoint: &WebhookEndpoint,
        ) -> Result<(), StoreError> {
            self.rest.create_webhook_endpoint(endpoint).await
        }

        async fn get_webhook_endpoint(
            &self,
            tenant: &Tenant,
            id: &WebhookEndpointId,
        ) -> Result<Option<WebhookEndpoint>, StoreError> {
            self.rest.get_webhook_endpoint(tenant, id).await
        }

        async fn list_webhook_endpoints(
            &self,
            tenant: &Tenant,
        ) -> Result<Vec<WebhookEndpoint>, StoreError> {
            self.rest.list_webhook_endpoints(tenant).await
        }

        async fn update_webhook_endpoint(
            &self,
            endpoint: &WebhookEndpoint,
        ) -> Result<(), StoreError> {
            self.rest.update_webhook_endpoint(endpoint).await
        }

        async fn delete_webhook_endpoint(
            &self,
            tenant: &Tenant,
            id: &WebhookEndpointId,
        ) -> Result<bool, StoreError> {
            self.rest.delete_webhook_endpoint(tenant, id).await
        }

        async fn claim_due_deliveries(
            &self,
            now: DateTime<Utc>,
            lease_until: DateTime<Utc>,
            limit: usize,
        ) -> Result<Vec<DeliveryJob>, StoreError> {
            self.rest
                .claim_due_deliveries(now, lease_until, limit)
                .await
        }

        async fn record_delivery_attempt(
            &self,
            tenant: &Tenant,
            lease: &LeaseToken,
            attempt: &DeliveryAttempt,
            next: DeliveryNext,
            disable_after: Duration,
        ) -> Result<AttemptRecorded, StoreError> {
            self.rest
                .record_delivery_attempt(tenant, lease, attempt, next, disable_after)
                .await
        }

        async fn get_delivery(
            &self,
            tenant: &Tenant,
            id: &DeliveryId,
        ) -> Result<Option<Delivery>, StoreError> {
            self.rest.get_delivery(tenant, id).await
        }

        async fn list_delivery_attempts(
            &self,
            tenant: &Tenant,
            id: &DeliveryId,
        ) -> Result<Vec<DeliveryAttempt>, StoreError> {
            self.rest.list_delivery_attempts(tenant, id).await
        }

        async fn list_deliveries(
            &self,
            tenant: &Tenant,
            endpoint: &WebhookEndpointId,
            page: &PageRequest<DeliveryId>,
        ) -> Result<Page<Delivery>, StoreError> {
            self.rest.list_deliveries(tenant, endpoint, page).await
        }

        async fn retry_delivery(
            &self,
            tenant: &Tenant,
            id: &DeliveryId,
            now: DateTime<Utc>,
        ) -> Result<Option<Delivery>, StoreError> {
            self.rest.retry_delivery(tenant, id, now).await
        }

        async fn purge_finished_deliveries(
            &self,
            before: DateTime<Utc>,
            limit: usize,
        ) -> Result<u64, StoreError> {
            self.rest.purge_finished_deliveries(before, limit).await
        }
    }
}
