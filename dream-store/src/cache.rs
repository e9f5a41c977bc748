//! [`CachedStore`]: moka caches in front of the hot-path lookups of any store —
//! secret-key digest → key record, publishable key → key record, tenant → tier
//! configuration. Everything else passes straight through.
//!
//! Consistency: a write through this instance (revoking a key, replacing tiers)
//! invalidates its cache at once. Another process sees the change when its entry
//! expires, so **`ttl` is the bound** on how long another process may still accept
//! a revoked key or apply old tiers (default 1 s). Only found records are cached:
//! unknown keys always reach the store.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

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
use moka::future::Cache;

/// A store with cached hot-path lookups.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use dream_store::{CachedStore, MemoryStore};
/// let store = CachedStore::new(Arc::new(MemoryStore::new()), Duration::from_secs(1));
/// ```
pub struct CachedStore {
    inner: Arc<dyn Store>,
    by_digest: Cache<KeyDigest, KeyRecord>,
    by_publishable: Cache<String, KeyRecord>,
    tiers: Cache<Tenant, TierConfig>,
}

impl CachedStore {
    /// Caches in front of `inner`; entries live at most `ttl`.
    pub fn new(inner: Arc<dyn Store>, ttl: Duration) -> Self {
        Self {
            inner,
            by_digest: bounded(ttl),
            by_publishable: bounded(ttl),
            tiers: bounded(ttl),
        }
    }

    async fn forget_key(&self, key: &KeyRecord) {
        self.by_digest.invalidate(&key.secret_digest).await;
        self.by_publishable.invalidate(&key.publishable_key).await;
    }
}

fn bounded<K, V>(ttl: Duration) -> Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(100_000)
        .time_to_live(ttl)
        .build()
}

impl std::fmt::Debug for CachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedStore").finish_non_exhaustive()
    }
}

#[async_trait]
impl PlatformStore for CachedStore {
    async fn insert_platform(&self, platform: &Platform) -> Result<(), StoreError> {
        self.inner.insert_platform(platform).await
    }

    async fn get_platform(&self, id: &PlatformId) -> Result<Option<Platform>, StoreError> {
        self.inner.get_platform(id).await
    }

    async fn put_tier_config(
        &self,
        tenant: &Tenant,
        config: &TierConfig,
    ) -> Result<(), StoreError> {
        let result = self.inner.put_tier_config(tenant, config).await;
        self.tiers.invalidate(tenant).await;
        result
    }

    async fn get_tier_config(&self, tenant: &Tenant) -> Result<Option<TierConfig>, StoreError> {
        if let Some(hit) = self.tiers.get(tenant).await {
            return Ok(Some(hit));
        }
        let found = self.inner.get_tier_config(tenant).await?;
        if let Some(config) = &found {
            self.tiers.insert(tenant.clone(), config.clone()).await;
        }
        Ok(found)
    }
}

#[async_trait]
impl KeyStore for CachedStore {
    async fn insert_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        self.inner.insert_key(key).await
    }

    async fn find_key_by_digest(
        &self,
        digest: &KeyDigest,
    ) -> Result<Option<KeyRecord>, StoreError> {
        if let Some(hit) = self.by_digest.get(digest).await {
            return Ok(Some(hit));
        }
        let found = self.inner.find_key_by_digest(digest).await?;
        if let Some(key) = &found {
            self.by_digest.insert(*digest, key.clone()).await;
        }
        Ok(found)
    }

    async fn find_key_by_publishable(&self, pk: &str) -> Result<Option<KeyRecord>, StoreError> {
        if let Some(hit) = self.by_publishable.get(pk).await {
            return Ok(Some(hit));
        }
        let found = self.inner.find_key_by_publishable(pk).await?;
        if let Some(key) = &found {
            self.by_publishable.insert(pk.to_owned(), key.clone()).await;
        }
        Ok(found)
    }

    async fn get_key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        self.inner.get_key(id).await
    }

    async fn list_keys(
        &self,
        p: &PlatformId,
        mode: Option<Mode>,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        self.inner.list_keys(p, mode).await
    }

    async fn revoke_key(
        &self,
        id: &KeyId,
        at: DateTime<Utc>,
    ) -> Result<Option<KeyRecord>, StoreError> {
        let revoked = self.inner.revoke_key(id, at).await?;
        if let Some(key) = &revoked {
            self.forget_key(key).await;
        }
        Ok(revoked)
    }

    async fn count_active_keys(&self, t: &Tenant, now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.inner.count_active_keys(t, now).await
    }
}

#[async_trait]
impl CustomerStore for CachedStore {
    async fn insert_customer(&self, c: &Customer) -> Result<(), StoreError> {
        self.inner.insert_customer(c).await
    }

    async fn get_customer(
        &self,
        t: &Tenant,
        id: &CustomerId,
    ) -> Result<Option<Customer>, StoreError> {
        self.inner.get_customer(t, id).await
    }

    async fn find_customer_by_external_id(
        &self,
        t: &Tenant,
        ext: &str,
    ) -> Result<Option<Customer>, StoreError> {
        self.inner.find_customer_by_external_id(t, ext).await
    }

    async fn update_customer(&self, c: &Customer) -> Result<(), StoreError> {
        self.inner.update_customer(c).await
    }

    async fn delete_customer(&self, t: &Tenant, id: &CustomerId) -> Result<bool, StoreError> {
        self.inner.delete_customer(t, id).await
    }

    async fn list_customers(
        &self,
        t: &Tenant,
        page: &PageRequest<CustomerId>,
    ) -> Result<Page<Customer>, StoreError> {
        self.inner.list_customers(t, page).await
    }

    async fn plan_counts(&self, t: &Tenant) -> Result<BTreeMap<String, u64>, StoreError> {
        self.inner.plan_counts(t).await
    }
}

#[async_trait]
impl UsageStore for CachedStore {
    async fn consume_usage(&self, req: &ConsumeRequest) -> Result<ConsumeOutcome, StoreError> {
        self.inner.consume_usage(req).await
    }

    async fn get_usage(&self, t: &Tenant, c: &CustomerId, p: &Period) -> Result<u64, StoreError> {
        self.inner.get_usage(t, c, p).await
    }

    async fn last_consumed_at(
        &self,
        t: &Tenant,
        c: &CustomerId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.inner.last_consumed_at(t, c).await
    }

    async fn active_customers(&self, t: &Tenant, p: &Period) -> Result<u64, StoreError> {
        self.inner.active_customers(t, p).await
    }

    async fn total_usage(&self, t: &Tenant, p: &Period) -> Result<u64, StoreError> {
        self.inner.total_usage(t, p).await
    }
}

#[async_trait]
impl EventStore for CachedStore {
    async fn append_event(&self, e: &Event) -> Result<(), StoreError> {
        self.inner.append_event(e).await
    }

    async fn list_events(
        &self,
        t: &Tenant,
        page: &PageRequest<EventId>,
    ) -> Result<Page<Event>, StoreError> {
        self.inner.list_events(t, page).await
    }
}

#[async_trait]
impl IdempotencyStore for CachedStore {
    async fn claim_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &[u8; 32],
        times: &IdempotencyTimes,
    ) -> Result<IdempotencyClaim, StoreError> {
        self.inner
            .claim_idempotency_key(scope, fingerprint, times)
            .await
    }

    async fn complete_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        r: &StoredResponse,
    ) -> Result<(), StoreError> {
        self.inner.complete_idempotency_key(scope, r).await
    }

    async fn release_idempotency_key(&self, scope: &IdempotencyScope) -> Result<(), StoreError> {
        self.inner.release_idempotency_key(scope).await
    }
}

#[async_trait]
impl InventoryStore for CachedStore {
    async fn reserve_inventory(&self, req: &ReserveRequest) -> Result<ReserveOutcome, StoreError> {
        self.inner.reserve_inventory(req).await
    }

    async fn commit_reservation(
        &self,
        tenant: &Tenant,
        id: &ReservationId,
        now: DateTime<Utc>,
    ) -> Result<ReservationTransition, StoreError> {
        self.inner.commit_reservation(tenant, id, now).await
    }

    async fn release_reservation(
        &self,
        tenant: &Tenant,
        id: &ReservationId,
        now: DateTime<Utc>,
    ) -> Result<ReservationTransition, StoreError> {
        self.inner.release_reservation(tenant, id, now).await
    }

    async fn inventory_counts(
        &self,
        tenant: &Tenant,
        product: &str,
        now: DateTime<Utc>,
    ) -> Result<InventoryCounts, StoreError> {
        self.inner.inventory_counts(tenant, product, now).await
    }

    async fn get_reservation(
        &self,
        tenant: &Tenant,
        id: &ReservationId,
    ) -> Result<Option<Reservation>, StoreError> {
        self.inner.get_reservation(tenant, id).await
    }
}

#[async_trait]
impl BillingStore for CachedStore {
    async fn put_billing_connection(
        &self,
        connection: &BillingConnection,
    ) -> Result<(), StoreError> {
        self.inner.put_billing_connection(connection).await
    }

    async fn get_billing_connection(
        &self,
        tenant: &Tenant,
    ) -> Result<Option<BillingConnection>, StoreError> {
        self.inner.get_billing_connection(tenant).await
    }

    async fn delete_billing_connection(&self, tenant: &Tenant) -> Result<bool, StoreError> {
        self.inner.delete_billing_connection(tenant).await
    }

    async fn tenants_for_stripe_account(
        &self,
        account_id: &str,
    ) -> Result<Vec<Tenant>, StoreError> {
        self.inner.tenants_for_stripe_account(account_id).await
    }

    async fn insert_oauth_state(&self, state: &OAuthState) -> Result<(), StoreError> {
        self.inner.insert_oauth_state(state).await
    }

    async fn take_oauth_state(
        &self,
        digest: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<OAuthState>, StoreError> {
        self.inner.take_oauth_state(digest, now).await
    }

    async fn link_stripe_customer(&self, link: &StripeCustomerLink) -> Result<String, StoreError> {
        self.inner.link_stripe_customer(link).await
    }

    async fn get_stripe_customer(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        account: &str,
    ) -> Result<Option<String>, StoreError> {
        self.inner
            .get_stripe_customer(tenant, customer, account)
            .await
    }

    async fn find_customer_by_stripe_id(
        &self,
        tenant: &Tenant,
        account: &str,
        stripe_customer_id: &str,
    ) -> Result<Option<CustomerId>, StoreError> {
        self.inner
            .find_customer_by_stripe_id(tenant, account, stripe_customer_id)
            .await
    }
}

/// Subscription states pass straight through: nothing here caches customers, so
/// an apply's plan change has no cached copy to invalidate.
#[async_trait]
impl SubscriptionStore for CachedStore {
    async fn apply_subscription_state(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        state: &SubscriptionState,
        plan: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<SubscriptionApply, StoreError> {
        self.inner
            .apply_subscription_state(tenant, customer, state, plan, now)
            .await
    }

    async fn get_subscription_state(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
    ) -> Result<Option<SubscriptionState>, StoreError> {
        self.inner.get_subscription_state(tenant, customer).await
    }
}

/// Identity links pass straight through: an advance is a decision the store makes
/// atomically, and a cached link could route a delete to a stale answer.
#[async_trait]
impl dream_core::ports::IdentityStore for CachedStore {
    async fn get_identity_link(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<dream_core::ports::IdentityLink>, StoreError> {
        self.inner.get_identity_link(provider, subject).await
    }

    async fn advance_identity_link(
        &self,
        link: &dream_core::ports::IdentityLink,
    ) -> Result<bool, StoreError> {
        self.inner.advance_identity_link(link).await
    }
}

/// Webhook endpoints and deliveries pass straight through: claims and records are
/// decisions the store makes atomically, and endpoints are read where a stale
/// copy would deliver to an old URL or with an old secret.
mod webhooks {
    use async_trait::async_trait;
    use chrono::{DateTime, Duration, Utc};
    use dream_core::{
        ports::WebhookStore, AttemptRecorded, Delivery, DeliveryAttempt, DeliveryId, DeliveryJob,
        DeliveryNext, LeaseToken, Page, PageRequest, StoreError, Tenant, WebhookEndpoint,
        WebhookEndpointId,
    };

    use super::CachedStore;

    #[async_trait]
    impl WebhookStore for CachedStore {
        async fn create_webhook_endpoint(
            &self,
            endpoint: &WebhookEndpoint,
        ) -> Result<(), StoreError> {
            self.inner.create_webhook_endpoint(endpoint).await
        }

        async fn get_webhook_endpoint(
            &self,
            tenant: &Tenant,
            id: &WebhookEndpointId,
        ) -> Result<Option<WebhookEndpoint>, StoreError> {
            self.inner.get_webhook_endpoint(tenant, id).await
        }

        async fn list_webhook_endpoints(
            &self,
            tenant: &Tenant,
        ) -> Result<Vec<WebhookEndpoint>, StoreError> {
            self.inner.list_webhook_endpoints(tenant).await
        }

        async fn update_webhook_endpoint(
            &self,
            endpoint: &WebhookEndpoint,
        ) -> Result<(), StoreError> {
            self.inner.update_webhook_endpoint(endpoint).await
        }

        async fn delete_webhook_endpoint(
            &self,
            tenant: &Tenant,
            id: &WebhookEndpointId,
        ) -> Result<bool, StoreError> {
            self.inner.delete_webhook_endpoint(tenant, id).await
        }

        async fn claim_due_deliveries(
            &self,
            now: DateTime<Utc>,
            lease_until: DateTime<Utc>,
            limit: usize,
        ) -> Result<Vec<DeliveryJob>, StoreError> {
            self.inner
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
            self.inner
                .record_delivery_attempt(tenant, lease, attempt, next, disable_after)
                .await
        }

        async fn get_delivery(
            &self,
            tenant: &Tenant,
            id: &DeliveryId,
        ) -> Result<Option<Delivery>, StoreError> {
            self.inner.get_delivery(tenant, id).await
        }

        async fn list_delivery_attempts(
            &self,
            tenant: &Tenant,
            id: &DeliveryId,
        ) -> Result<Vec<DeliveryAttempt>, StoreError> {
            self.inner.list_delivery_attempts(tenant, id).await
        }

        async fn list_deliveries(
            &self,
            tenant: &Tenant,
            endpoint: &WebhookEndpointId,
            page: &PageRequest<DeliveryId>,
        ) -> Result<Page<Delivery>, StoreError> {
            self.inner.list_deliveries(tenant, endpoint, page).await
        }

        async fn retry_delivery(
            &self,
            tenant: &Tenant,
            id: &DeliveryId,
            now: DateTime<Utc>,
        ) -> Result<Option<Delivery>, StoreError> {
            self.inner.retry_delivery(tenant, id, now).await
        }

        async fn purge_finished_deliveries(
            &self,
            before: DateTime<Utc>,
            limit: usize,
        ) -> Result<u64, StoreError> {
            self.inner.purge_finished_deliveries(before, limit).await
        }
    }
}
