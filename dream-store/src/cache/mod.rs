//! Caches in front of the hot-path lookups, one decorator per port:
//! [`CachedKeys`] (secret-key digest → key record, publishable key → key record)
//! wraps a [`KeyStore`], [`CachedCustomerKeys`] (customer-key digest → record) wraps
//! a [`CustomerKeyStore`], [`CachedTiers`] (tenant → tier configuration, platform →
//! allowed browser origins) wraps a [`PlatformStore`], [`CachedCustomers`] (id or
//! external id → customer) wraps a [`CustomerStore`](dream_core::ports::CustomerStore)
//! and [`CachedSubscriptions`] forgets customers whose plan a subscription change
//! moved; [`cached`] puts them into a [`Stores`]. Every other port is untouched,
//! so a new port method needs no edit here.
//!
//! Consistency: a write through this instance (revoking or expiring a key or a
//! customer key, replacing tiers or allowed origins, changing or deleting a
//! customer, applying a subscription change) invalidates its cache at once.
//! Another process sees the change when its entry expires, so **`ttl` is the
//! bound** on how long another process may still accept a revoked key, keep a
//! rolled key past its new expiry, or apply old tiers, origins or a customer's old
//! plan (default 1 s). With a change feed ([`cached_with_changes`]), customers
//! live on while the feed proves them current, within that same bound. Only
//! found records are cached: unknown keys and customers always reach the store.

mod changes;
mod customers;

pub use changes::{Applied, CustomerChanges};
pub use customers::{
    customer_weight, CachedCustomers, CachedSubscriptions, DEFAULT_CUSTOMER_CACHE_BYTES,
};

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::{CustomerKeyStore, KeyStore, PlatformStore, Stores},
    AccountId, CustomerId, CustomerKeyId, CustomerKeyRecord, KeyDigest, KeyId, KeyRecord, Mode,
    Platform, PlatformId, StoreError, Tenant, TierConfig,
};
use moka::future::Cache;

/// The key, tier and customer ports of `stores` behind caches whose entries live
/// at most `ttl`, customers within [`DEFAULT_CUSTOMER_CACHE_BYTES`]; every other
/// port as it was.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use dream_core::{ports::Stores, Dream};
/// use dream_store::{cached, MemoryStore};
///
/// let stores = cached(Stores::new(Arc::new(MemoryStore::new())), Duration::from_secs(1));
/// let dream = Dream::new(stores);
/// ```
pub fn cached(stores: Stores, ttl: Duration) -> Stores {
    cached_with(stores, ttl, DEFAULT_CUSTOMER_CACHE_BYTES)
}

/// [`cached`] with the customer cache bounded to `customer_bytes` (weighed by
/// [`customer_weight`]; 0 caches no customer).
pub fn cached_with(stores: Stores, ttl: Duration, customer_bytes: u64) -> Stores {
    with_caches(stores, ttl, customer_bytes, false).0
}

/// [`cached_with`], plus the handle a feed of customer changes made by other
/// processes drives (`PostgresStore::follow_customer_changes`). While the feed
/// runs, a cached customer is reloaded only when it changed, not every `ttl`,
/// and a change made elsewhere still applies here within `ttl`; when the feed
/// is down, entries expire after `ttl` as with [`cached_with`].
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use dream_core::ports::Stores;
/// use dream_store::{cached_with_changes, MemoryStore, DEFAULT_CUSTOMER_CACHE_BYTES};
///
/// let (stores, changes) = cached_with_changes(
///     Stores::new(Arc::new(MemoryStore::new())),
///     Duration::from_secs(1),
///     DEFAULT_CUSTOMER_CACHE_BYTES,
/// );
/// assert!(changes.is_open());
/// drop(stores);
/// assert!(!changes.is_open(), "the feed learns that the cache is gone");
/// ```
pub fn cached_with_changes(
    stores: Stores,
    ttl: Duration,
    customer_bytes: u64,
) -> (Stores, CustomerChanges) {
    with_caches(stores, ttl, customer_bytes, true)
}

fn with_caches(
    mut stores: Stores,
    ttl: Duration,
    customer_bytes: u64,
    fed: bool,
) -> (Stores, CustomerChanges) {
    stores.keys = Arc::new(CachedKeys::new(stores.keys, ttl));
    stores.platforms = Arc::new(CachedTiers::new(stores.platforms, ttl));
    stores.customer_keys = Arc::new(CachedCustomerKeys::new(stores.customer_keys, ttl));
    let customers = Arc::new(customers::CustomerCache::new(ttl, customer_bytes, fed));
    let changes = CustomerChanges::new(&customers, ttl);
    stores.customers = Arc::new(CachedCustomers::new(stores.customers, customers.clone()));
    stores.subscriptions = Arc::new(CachedSubscriptions::new(stores.subscriptions, customers));
    (stores, changes)
}

/// A [`CustomerKeyStore`] whose lookups by digest (verification, the hot path)
/// are cached; revoking or expiring a key through it forgets the key at once.
pub struct CachedCustomerKeys {
    inner: Arc<dyn CustomerKeyStore>,
    by_digest: Cache<KeyDigest, CustomerKeyRecord>,
}

impl CachedCustomerKeys {
    /// A cache in front of `inner`; entries live at most `ttl`.
    pub fn new(inner: Arc<dyn CustomerKeyStore>, ttl: Duration) -> Self {
        Self {
            inner,
            by_digest: bounded(ttl),
        }
    }
}

impl std::fmt::Debug for CachedCustomerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedCustomerKeys").finish_non_exhaustive()
    }
}

#[async_trait]
impl CustomerKeyStore for CachedCustomerKeys {
    async fn insert_customer_key(&self, key: &CustomerKeyRecord) -> Result<(), StoreError> {
        self.inner.insert_customer_key(key).await
    }

    async fn find_customer_key_by_digest(
        &self,
        digest: &KeyDigest,
    ) -> Result<Option<CustomerKeyRecord>, StoreError> {
        if let Some(hit) = self.by_digest.get(digest).await {
            return Ok(Some(hit));
        }
        let found = self.inner.find_customer_key_by_digest(digest).await?;
        if let Some(key) = &found {
            self.by_digest.insert(*digest, key.clone()).await;
        }
        Ok(found)
    }

    async fn get_customer_key(
        &self,
        tenant: &Tenant,
        id: &CustomerKeyId,
    ) -> Result<Option<CustomerKeyRecord>, StoreError> {
        self.inner.get_customer_key(tenant, id).await
    }

    async fn list_customer_keys(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
    ) -> Result<Vec<CustomerKeyRecord>, StoreError> {
        self.inner.list_customer_keys(tenant, customer).await
    }

    async fn revoke_customer_key(
        &self,
        tenant: &Tenant,
        id: &CustomerKeyId,
        at: DateTime<Utc>,
    ) -> Result<Option<CustomerKeyRecord>, StoreError> {
        let revoked = self.inner.revoke_customer_key(tenant, id, at).await?;
        if let Some(key) = &revoked {
            self.by_digest.invalidate(&key.digest).await;
        }
        Ok(revoked)
    }

    async fn expire_customer_key(
        &self,
        tenant: &Tenant,
        id: &CustomerKeyId,
        at: DateTime<Utc>,
    ) -> Result<Option<CustomerKeyRecord>, StoreError> {
        let expired = self.inner.expire_customer_key(tenant, id, at).await?;
        if let Some(key) = &expired {
            self.by_digest.invalidate(&key.digest).await;
        }
        Ok(expired)
    }
}

/// A [`KeyStore`] whose lookups by secret digest and by publishable key are
/// cached; revoking through it forgets the key at once.
pub struct CachedKeys {
    inner: Arc<dyn KeyStore>,
    by_digest: Cache<KeyDigest, KeyRecord>,
    by_publishable: Cache<String, KeyRecord>,
}

impl CachedKeys {
    /// Caches in front of `inner`; entries live at most `ttl`.
    pub fn new(inner: Arc<dyn KeyStore>, ttl: Duration) -> Self {
        Self {
            inner,
            by_digest: bounded(ttl),
            by_publishable: bounded(ttl),
        }
    }

    async fn forget_key(&self, key: &KeyRecord) {
        self.by_digest.invalidate(&key.secret_digest).await;
        self.by_publishable.invalidate(&key.publishable_key).await;
    }
}

/// A [`PlatformStore`] whose tier configurations and allowed origins are cached;
/// replacing either through it forgets the old one at once.
pub struct CachedTiers {
    inner: Arc<dyn PlatformStore>,
    tiers: Cache<Tenant, Arc<TierConfig>>,
    origins: Cache<PlatformId, Vec<String>>,
}

impl CachedTiers {
    /// Caches in front of `inner`; entries live at most `ttl`.
    pub fn new(inner: Arc<dyn PlatformStore>, ttl: Duration) -> Self {
        Self {
            inner,
            tiers: bounded(ttl),
            origins: bounded(ttl),
        }
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

impl std::fmt::Debug for CachedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedKeys").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for CachedTiers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedTiers").finish_non_exhaustive()
    }
}

#[async_trait]
impl PlatformStore for CachedTiers {
    async fn insert_platform(&self, platform: &Platform) -> Result<(), StoreError> {
        self.inner.insert_platform(platform).await
    }

    async fn get_platform(&self, id: &PlatformId) -> Result<Option<Platform>, StoreError> {
        self.inner.get_platform(id).await
    }

    async fn list_platforms_by_owner(
        &self,
        owner: &AccountId,
    ) -> Result<Vec<Platform>, StoreError> {
        self.inner.list_platforms_by_owner(owner).await
    }

    async fn update_platform(&self, platform: &Platform) -> Result<(), StoreError> {
        self.inner.update_platform(platform).await
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
        Ok(self
            .get_shared_tier_config(tenant)
            .await?
            .map(Arc::unwrap_or_clone))
    }

    async fn get_shared_tier_config(
        &self,
        tenant: &Tenant,
    ) -> Result<Option<Arc<TierConfig>>, StoreError> {
        if let Some(hit) = self.tiers.get(tenant).await {
            return Ok(Some(hit));
        }
        let found = self.inner.get_shared_tier_config(tenant).await?;
        if let Some(config) = &found {
            self.tiers.insert(tenant.clone(), config.clone()).await;
        }
        Ok(found)
    }

    async fn put_allowed_origins(
        &self,
        platform: &PlatformId,
        origins: &[String],
    ) -> Result<bool, StoreError> {
        let result = self.inner.put_allowed_origins(platform, origins).await;
        self.origins.invalidate(platform).await;
        result
    }

    async fn get_allowed_origins(
        &self,
        platform: &PlatformId,
    ) -> Result<Option<Vec<String>>, StoreError> {
        if let Some(hit) = self.origins.get(platform).await {
            return Ok(Some(hit));
        }
        let found = self.inner.get_allowed_origins(platform).await?;
        if let Some(origins) = &found {
            self.origins.insert(platform.clone(), origins.clone()).await;
        }
        Ok(found)
    }
}

#[async_trait]
impl KeyStore for CachedKeys {
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

    async fn expire_key(
        &self,
        id: &KeyId,
        at: DateTime<Utc>,
    ) -> Result<Option<KeyRecord>, StoreError> {
        let expired = self.inner.expire_key(id, at).await?;
        if let Some(key) = &expired {
            self.forget_key(key).await;
        }
        Ok(expired)
    }

    async fn count_active_keys(&self, t: &Tenant, now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.inner.count_active_keys(t, now).await
    }
}
