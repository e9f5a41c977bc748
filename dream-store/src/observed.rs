//! [`observed`]: latency of every call to the hot-path ports (usage, keys,
//! customer keys, platforms, customers, idempotency), reported to a [`StoreObserver`] (the
//! server's Prometheus histogram) and traced as a `store` span with the port and
//! method, so an OpenTelemetry trace shows where a request spent its time.
//!
//! Apply it to the backend's ports before [`cached`](crate::cached), so that the
//! figures are real store round trips, not cache hits. The other ports (billing,
//! events, outbound, …) are off the hot path and pass through unobserved.

use std::{
    collections::BTreeMap,
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::{
        CustomerKeyStore, CustomerStore, IdempotencyStore, KeyStore, PlatformStore, Stores,
        UsageStore,
    },
    AccountId, ClaimToken, ConsumeOutcome, ConsumeRequest, CreditGrant, CreditGrantOutcome,
    Customer, CustomerId, CustomerKeyId, CustomerKeyRecord, Event, IdempotencyClaim,
    IdempotencyScope, IdempotencyTimes, KeyDigest, KeyId, KeyRecord, MeterPeriod, MetersReading,
    Mode, Page, PageRequest, Period, Platform, PlatformId, StoreError, StoredResponse, Tenant,
    TierConfig,
};
use tracing::Instrument;

/// Told the duration of every observed store call.
pub trait StoreObserver: Send + Sync {
    /// One call of `port`'s `method` took `elapsed` and succeeded or not.
    fn observe(&self, port: &'static str, method: &'static str, elapsed: Duration, ok: bool);
}

/// The hot-path ports of `stores` observed by `observer`; the rest as they were.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use dream_core::ports::Stores;
/// use dream_store::{observed, MemoryStore, StoreObserver};
///
/// struct Log;
/// impl StoreObserver for Log {
///     fn observe(&self, port: &'static str, method: &'static str, elapsed: Duration, ok: bool) {
///         println!("{port}.{method}: {elapsed:?} ok={ok}");
///     }
/// }
/// let stores = observed(Stores::new(Arc::new(MemoryStore::new())), Arc::new(Log));
/// ```
pub fn observed(mut stores: Stores, observer: Arc<dyn StoreObserver>) -> Stores {
    stores.usage = Arc::new(Observed::new(stores.usage, observer.clone()));
    stores.keys = Arc::new(Observed::new(stores.keys, observer.clone()));
    stores.customer_keys = Arc::new(Observed::new(stores.customer_keys, observer.clone()));
    stores.platforms = Arc::new(Observed::new(stores.platforms, observer.clone()));
    stores.customers = Arc::new(Observed::new(stores.customers, observer.clone()));
    stores.idempotency = Arc::new(Observed::new(stores.idempotency, observer));
    stores
}

/// One port behind an observer.
pub struct Observed<T: ?Sized> {
    inner: Arc<T>,
    observer: Arc<dyn StoreObserver>,
}

impl<T: ?Sized> Observed<T> {
    /// `inner`'s calls reported to `observer`.
    pub fn new(inner: Arc<T>, observer: Arc<dyn StoreObserver>) -> Self {
        Self { inner, observer }
    }

    async fn observe<R>(
        &self,
        port: &'static str,
        method: &'static str,
        call: impl Future<Output = Result<R, StoreError>>,
    ) -> Result<R, StoreError> {
        let started = Instant::now();
        let result = call
            // Debug: exported with traces (see dream-bin's telemetry), in logs
            // only at RUST_LOG=debug; a disabled span costs next to nothing.
            .instrument(tracing::debug_span!("store", port, method))
            .await;
        self.observer
            .observe(port, method, started.elapsed(), result.is_ok());
        result
    }
}

impl<T: ?Sized> std::fmt::Debug for Observed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observed").finish_non_exhaustive()
    }
}

#[async_trait]
impl<T: UsageStore + ?Sized> UsageStore for Observed<T> {
    async fn consume_usage(&self, request: &ConsumeRequest) -> Result<ConsumeOutcome, StoreError> {
        self.observe("usage", "consume_usage", self.inner.consume_usage(request))
            .await
    }

    async fn release_usage(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        meter: &str,
        period: &Period,
        amount: u64,
    ) -> Result<u64, StoreError> {
        self.observe(
            "usage",
            "release_usage",
            self.inner
                .release_usage(tenant, customer, meter, period, amount),
        )
        .await
    }

    async fn grant_credits(&self, grant: &CreditGrant) -> Result<CreditGrantOutcome, StoreError> {
        self.observe("usage", "grant_credits", self.inner.grant_credits(grant))
            .await
    }

    async fn read_meters(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        meters: &[MeterPeriod],
    ) -> Result<MetersReading, StoreError> {
        self.observe(
            "usage",
            "read_meters",
            self.inner.read_meters(tenant, customer, meters),
        )
        .await
    }

    async fn get_usage(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        period: &Period,
    ) -> Result<u64, StoreError> {
        self.observe(
            "usage",
            "get_usage",
            self.inner.get_usage(tenant, customer, period),
        )
        .await
    }

    async fn last_consumed_at(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.observe(
            "usage",
            "last_consumed_at",
            self.inner.last_consumed_at(tenant, customer),
        )
        .await
    }

    async fn active_customers(&self, tenant: &Tenant, period: &Period) -> Result<u64, StoreError> {
        self.observe(
            "usage",
            "active_customers",
            self.inner.active_customers(tenant, period),
        )
        .await
    }

    async fn total_usage(&self, tenant: &Tenant, period: &Period) -> Result<u64, StoreError> {
        self.observe(
            "usage",
            "total_usage",
            self.inner.total_usage(tenant, period),
        )
        .await
    }
}

#[async_trait]
impl<T: CustomerKeyStore + ?Sized> CustomerKeyStore for Observed<T> {
    async fn insert_customer_key(&self, key: &CustomerKeyRecord) -> Result<(), StoreError> {
        self.observe(
            "customer_keys",
            "insert_customer_key",
            self.inner.insert_customer_key(key),
        )
        .await
    }

    async fn find_customer_key_by_digest(
        &self,
        digest: &KeyDigest,
    ) -> Result<Option<CustomerKeyRecord>, StoreError> {
        self.observe(
            "customer_keys",
            "find_customer_key_by_digest",
            self.inner.find_customer_key_by_digest(digest),
        )
        .await
    }

    async fn get_customer_key(
        &self,
        tenant: &Tenant,
        id: &CustomerKeyId,
    ) -> Result<Option<CustomerKeyRecord>, StoreError> {
        self.observe(
            "customer_keys",
            "get_customer_key",
            self.inner.get_customer_key(tenant, id),
        )
        .await
    }

    async fn list_customer_keys(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
    ) -> Result<Vec<CustomerKeyRecord>, StoreError> {
        self.observe(
            "customer_keys",
            "list_customer_keys",
            self.inner.list_customer_keys(tenant, customer),
        )
        .await
    }

    async fn revoke_customer_key(
        &self,
        tenant: &Tenant,
        id: &CustomerKeyId,
        at: DateTime<Utc>,
    ) -> Result<Option<CustomerKeyRecord>, StoreError> {
        self.observe(
            "customer_keys",
            "revoke_customer_key",
            self.inner.revoke_customer_key(tenant, id, at),
        )
        .await
    }

    async fn expire_customer_key(
        &self,
        tenant: &Tenant,
        id: &CustomerKeyId,
        at: DateTime<Utc>,
    ) -> Result<Option<CustomerKeyRecord>, StoreError> {
        self.observe(
            "customer_keys",
            "expire_customer_key",
            self.inner.expire_customer_key(tenant, id, at),
        )
        .await
    }
}

#[async_trait]
impl<T: KeyStore + ?Sized> KeyStore for Observed<T> {
    async fn insert_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        self.observe("keys", "insert_key", self.inner.insert_key(key))
            .await
    }

    async fn find_key_by_digest(
        &self,
        digest: &KeyDigest,
    ) -> Result<Option<KeyRecord>, StoreError> {
        self.observe(
            "keys",
            "find_key_by_digest",
            self.inner.find_key_by_digest(digest),
        )
        .await
    }

    async fn find_key_by_publishable(
        &self,
        publishable_key: &str,
    ) -> Result<Option<KeyRecord>, StoreError> {
        self.observe(
            "keys",
            "find_key_by_publishable",
            self.inner.find_key_by_publishable(publishable_key),
        )
        .await
    }

    async fn get_key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        self.observe("keys", "get_key", self.inner.get_key(id))
            .await
    }

    async fn list_keys(
        &self,
        platform: &PlatformId,
        mode: Option<Mode>,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        self.observe("keys", "list_keys", self.inner.list_keys(platform, mode))
            .await
    }

    async fn revoke_key(
        &self,
        id: &KeyId,
        at: DateTime<Utc>,
    ) -> Result<Option<KeyRecord>, StoreError> {
        self.observe("keys", "revoke_key", self.inner.revoke_key(id, at))
            .await
    }

    async fn expire_key(
        &self,
        id: &KeyId,
        at: DateTime<Utc>,
    ) -> Result<Option<KeyRecord>, StoreError> {
        self.observe("keys", "expire_key", self.inner.expire_key(id, at))
            .await
    }

    async fn count_active_keys(
        &self,
        tenant: &Tenant,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.observe(
            "keys",
            "count_active_keys",
            self.inner.count_active_keys(tenant, now),
        )
        .await
    }
}

#[async_trait]
impl<T: PlatformStore + ?Sized> PlatformStore for Observed<T> {
    async fn insert_platform(&self, platform: &Platform) -> Result<(), StoreError> {
        self.observe(
            "platforms",
            "insert_platform",
            self.inner.insert_platform(platform),
        )
        .await
    }

    async fn get_platform(&self, id: &PlatformId) -> Result<Option<Platform>, StoreError> {
        self.observe("platforms", "get_platform", self.inner.get_platform(id))
            .await
    }

    async fn list_platforms_by_owner(
        &self,
        owner: &AccountId,
    ) -> Result<Vec<Platform>, StoreError> {
        self.observe(
            "platforms",
            "list_platforms_by_owner",
            self.inner.list_platforms_by_owner(owner),
        )
        .await
    }

    async fn update_platform(&self, platform: &Platform) -> Result<(), StoreError> {
        self.observe(
            "platforms",
            "update_platform",
            self.inner.update_platform(platform),
        )
        .await
    }

    async fn put_tier_config(
        &self,
        tenant: &Tenant,
        config: &TierConfig,
    ) -> Result<(), StoreError> {
        self.observe(
            "platforms",
            "put_tier_config",
            self.inner.put_tier_config(tenant, config),
        )
        .await
    }

    async fn get_tier_config(&self, tenant: &Tenant) -> Result<Option<TierConfig>, StoreError> {
        self.observe(
            "platforms",
            "get_tier_config",
            self.inner.get_tier_config(tenant),
        )
        .await
    }

    async fn put_allowed_origins(
        &self,
        platform: &PlatformId,
        origins: &[String],
    ) -> Result<bool, StoreError> {
        self.observe(
            "platforms",
            "put_allowed_origins",
            self.inner.put_allowed_origins(platform, origins),
        )
        .await
    }

    async fn get_allowed_origins(
        &self,
        platform: &PlatformId,
    ) -> Result<Option<Vec<String>>, StoreError> {
        self.observe(
            "platforms",
            "get_allowed_origins",
            self.inner.get_allowed_origins(platform),
        )
        .await
    }
}

#[async_trait]
impl<T: CustomerStore + ?Sized> CustomerStore for Observed<T> {
    async fn insert_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        self.observe(
            "customers",
            "insert_customer",
            self.inner.insert_customer(customer),
        )
        .await
    }

    async fn insert_customer_capped(
        &self,
        customer: &Customer,
        max: u64,
    ) -> Result<bool, StoreError> {
        self.observe(
            "customers",
            "insert_customer_capped",
            self.inner.insert_customer_capped(customer, max),
        )
        .await
    }

    async fn insert_customer_with_event(
        &self,
        customer: &Customer,
        max: Option<u64>,
        event: &Event,
    ) -> Result<bool, StoreError> {
        self.observe(
            "customers",
            "insert_customer_with_event",
            self.inner.insert_customer_with_event(customer, max, event),
        )
        .await
    }

    async fn get_customer(
        &self,
        tenant: &Tenant,
        id: &CustomerId,
    ) -> Result<Option<Customer>, StoreError> {
        self.observe(
            "customers",
            "get_customer",
            self.inner.get_customer(tenant, id),
        )
        .await
    }

    async fn find_customer_by_external_id(
        &self,
        tenant: &Tenant,
        external_id: &str,
    ) -> Result<Option<Customer>, StoreError> {
        self.observe(
            "customers",
            "find_customer_by_external_id",
            self.inner.find_customer_by_external_id(tenant, external_id),
        )
        .await
    }

    async fn update_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        self.observe(
            "customers",
            "update_customer",
            self.inner.update_customer(customer),
        )
        .await
    }

    async fn change_customer_plan(
        &self,
        tenant: &Tenant,
        id: &CustomerId,
        plan: &str,
        now: DateTime<Utc>,
        events: &(dyn for<'p> Fn(&'p str) -> Vec<Event> + Send + Sync),
    ) -> Result<String, StoreError> {
        self.observe(
            "customers",
            "change_customer_plan",
            self.inner
                .change_customer_plan(tenant, id, plan, now, events),
        )
        .await
    }

    async fn delete_customer(&self, tenant: &Tenant, id: &CustomerId) -> Result<bool, StoreError> {
        self.observe(
            "customers",
            "delete_customer",
            self.inner.delete_customer(tenant, id),
        )
        .await
    }

    async fn list_customers(
        &self,
        tenant: &Tenant,
        query: &dream_core::CustomerQuery,
        page: &PageRequest<CustomerId>,
    ) -> Result<Page<Customer>, StoreError> {
        self.observe(
            "customers",
            "list_customers",
            self.inner.list_customers(tenant, query, page),
        )
        .await
    }

    async fn plan_counts(&self, tenant: &Tenant) -> Result<BTreeMap<String, u64>, StoreError> {
        self.observe("customers", "plan_counts", self.inner.plan_counts(tenant))
            .await
    }
}

#[async_trait]
impl<T: IdempotencyStore + ?Sized> IdempotencyStore for Observed<T> {
    async fn claim_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &[u8; 32],
        times: &IdempotencyTimes,
    ) -> Result<IdempotencyClaim, StoreError> {
        self.observe(
            "idempotency",
            "claim_idempotency_key",
            self.inner.claim_idempotency_key(scope, fingerprint, times),
        )
        .await
    }

    async fn complete_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        token: &ClaimToken,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        self.observe(
            "idempotency",
            "complete_idempotency_key",
            self.inner.complete_idempotency_key(scope, token, response),
        )
        .await
    }

    async fn release_idempotency_key(
        &self,
        scope: &IdempotencyScope,
        token: &ClaimToken,
    ) -> Result<(), StoreError> {
        self.observe(
            "idempotency",
            "release_idempotency_key",
            self.inner.release_idempotency_key(scope, token),
        )
        .await
    }

    async fn purge_idempotency_keys(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.observe(
            "idempotency",
            "purge_idempotency_keys",
            self.inner.purge_idempotency_keys(now),
        )
        .await
    }
}
