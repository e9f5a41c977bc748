//! The customer cache: the hot path's "reference → customer and plan" lookup
//! served from memory.
//!
//! Every write of a customer's row goes through [`CachedCustomers`] or
//! [`CachedSubscriptions`] (the only two ports that write it), and both forget
//! the customer at once, so the process that changes a plan sees it on its next
//! call. Another process keeps its entry until it expires (`ttl`, 1 s by default):
//! the same bound as for revoked keys. With a change feed (see [`super::changes`])
//! an entry lives on while the feed proves it current, within the same bound.
//!
//! A lookup that misses reads the store and then fills the cache, but only if no
//! customer was forgotten since the read began: otherwise a read that raced a plan
//! change could put the old plan back after the change forgot it, and this process
//! would apply it for a whole `ttl`. Hits take no lock.
//!
//! Memory is bounded in bytes (see [`customer_weight`]), not in entries, because
//! customers carry developer metadata of any size.

use std::{
    mem::size_of,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::{CustomerStore, SubscriptionStore},
    Customer, CustomerId, CustomerQuery, Event, Page, PageRequest, StoreError, SubscriptionApply,
    SubscriptionState, Tenant,
};
use moka::sync::Cache;

use super::changes::{Freshness, ReadMark};

/// Default memory budget of the customer cache: about 85,000 typical customers.
pub const DEFAULT_CUSTOMER_CACHE_BYTES: u64 = 128 * 1024 * 1024;

/// What an entry costs beyond its key and value (moka's hash, access-order and
/// expiry bookkeeping, `Arc` headers, allocator rounding): fitted so that the
/// weights add up to the resident memory the `customer_cache_footprint` example
/// measures for a million customers.
const ENTRY_OVERHEAD: usize = 490;

/// A PHC Argon2id string is about 97 bytes.
const PASSWORD_HASH_BYTES: usize = 100;

/// A `BTreeMap` node's share per metadata entry, on top of its strings.
const METADATA_ENTRY_OVERHEAD: usize = 64;

/// How long an entry may live when a change feed keeps it current: a backstop
/// that reloads every customer now and then even if the feed had a flaw.
const FED_ENTRY_CEILING: Duration = Duration::from_secs(300);

type IdKey = (Tenant, CustomerId);
type ExternalKey = (Tenant, String);

/// A cached customer and when its store read began.
#[derive(Clone)]
struct Entry {
    customer: Arc<Customer>,
    read: ReadMark,
}

/// Where a store read starts from: pass it to [`CustomerCache::fill`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadStart {
    forgets: u64,
    mark: ReadMark,
}

/// Customers by id and by external id, shared by the two ports that write them.
pub(crate) struct CustomerCache {
    by_id: Cache<IdKey, Entry>,
    /// Points at `by_id`: a customer's external id may change, so a hit here is
    /// trusted only if the customer it names still has that external id.
    by_external: Cache<ExternalKey, CustomerId>,
    /// Bumped by every forget; fills compare it under the same lock.
    forgets: Mutex<u64>,
    freshness: Freshness,
}

impl CustomerCache {
    /// A cache whose entries live `ttl` from their read, or, when `fed` (a
    /// change feed will drive it), as long as the feed proves them current.
    pub(crate) fn new(ttl: Duration, budget_bytes: u64, fed: bool) -> Self {
        // Entries past `ttl` are refused on lookup (`Freshness::is_current`);
        // moka's own expiry only frees their memory.
        let lifetime = if fed { FED_ENTRY_CEILING.max(ttl) } else { ttl };
        // Most of the budget for the records; an external-id entry is small.
        let id_budget = budget_bytes / 4 * 3;
        let by_id = Cache::builder()
            .max_capacity(id_budget)
            .weigher(|_key: &IdKey, entry: &Entry| record_weight(&entry.customer))
            .time_to_live(lifetime)
            .build();
        let by_external = Cache::builder()
            .max_capacity(budget_bytes - id_budget)
            .weigher(|key: &ExternalKey, id: &CustomerId| external_weight(&key.1, id))
            .time_to_live(lifetime)
            .build();
        Self {
            by_id,
            by_external,
            forgets: Mutex::new(0),
            freshness: Freshness::new(ttl),
        }
    }

    pub(crate) fn freshness(&self) -> &Freshness {
        &self.freshness
    }

    fn forgets(&self) -> std::sync::MutexGuard<'_, u64> {
        // The guarded value is a counter that is never left half-written.
        self.forgets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The point a store read starts from: pass it to [`Self::fill`].
    fn read_start(&self) -> ReadStart {
        let forgets = self.forgets();
        ReadStart {
            forgets: *forgets,
            mark: self.freshness.mark(),
        }
    }

    fn by_id(&self, tenant: &Tenant, id: &CustomerId) -> Option<Arc<Customer>> {
        self.by_id
            .get(&(tenant.clone(), id.clone()))
            .filter(|entry| self.freshness.is_current(entry.read))
            .map(|entry| entry.customer)
    }

    fn by_external(&self, tenant: &Tenant, external_id: &str) -> Option<Arc<Customer>> {
        let id = self
            .by_external
            .get(&(tenant.clone(), external_id.to_owned()))?;
        self.by_id(tenant, &id)
            .filter(|customer| customer.external_id.as_deref() == Some(external_id))
    }

    /// Caches what a store read returned, unless a customer was forgotten since
    /// `start` (the read may have seen the row before that write).
    fn fill(&self, start: ReadStart, customer: &Arc<Customer>) {
        let forgets = self.forgets();
        if *forgets != start.forgets {
            return;
        }
        let tenant = customer.tenant.clone();
        self.by_id.insert(
            (tenant.clone(), customer.id.clone()),
            Entry {
                customer: Arc::clone(customer),
                read: start.mark,
            },
        );
        if let Some(external_id) = &customer.external_id {
            self.by_external
                .insert((tenant, external_id.clone()), customer.id.clone());
        }
    }

    /// Drops the customer after a write of its row (whether or not the write
    /// succeeded: a failed write may still have committed).
    pub(crate) fn forget(&self, tenant: &Tenant, id: &CustomerId) {
        let mut forgets = self.forgets();
        *forgets += 1;
        self.by_id.invalidate(&(tenant.clone(), id.clone()));
    }

    /// Drops every customer (a change the feed could not name).
    pub(crate) fn forget_all(&self) {
        let mut forgets = self.forgets();
        *forgets += 1;
        self.by_id.invalidate_all();
    }
}

/// Bytes a cached customer costs: the record, its strings, its external-id
/// entry and their bookkeeping. The budget is a sum of these.
///
/// A customer with a 20-byte external id, a 32-byte email, two names and no
/// metadata weighs about 1,500 bytes with its external-id entry, so 1,000,000
/// such customers fit in a 1.5 GB budget (`DREAM_CUSTOMER_CACHE_MB=1500`).
pub fn customer_weight(customer: &Customer) -> u32 {
    let external = customer
        .external_id
        .as_deref()
        .map_or(0, |external_id| external_weight(external_id, &customer.id));
    record_weight(customer).saturating_add(external)
}

fn record_weight(customer: &Customer) -> u32 {
    let strings = [
        Some(customer.id.as_str()),
        Some(customer.tenant.platform.as_str()),
        customer.external_id.as_deref(),
        customer.email.as_deref(),
        customer.first_name.as_deref(),
        customer.last_name.as_deref(),
        Some(customer.plan.as_str()),
    ];
    let heap: usize = strings.iter().flatten().map(|s| s.len()).sum::<usize>()
        + customer
            .password_hash
            .as_ref()
            .map_or(0, |_| PASSWORD_HASH_BYTES)
        + customer
            .metadata
            .iter()
            .map(|(k, v)| k.len() + v.len() + METADATA_ENTRY_OVERHEAD)
            .sum::<usize>();
    let bytes = ENTRY_OVERHEAD + size_of::<IdKey>() + size_of::<Entry>() + heap;
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

fn external_weight(external_id: &str, id: &CustomerId) -> u32 {
    let bytes = ENTRY_OVERHEAD
        + size_of::<ExternalKey>()
        + size_of::<CustomerId>()
        + external_id.len()
        + id.as_str().len();
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

/// A [`CustomerStore`] whose lookups by id and by external id are cached;
/// every write through it forgets the customer at once.
pub struct CachedCustomers {
    inner: Arc<dyn CustomerStore>,
    cache: Arc<CustomerCache>,
}

impl CachedCustomers {
    pub(crate) fn new(inner: Arc<dyn CustomerStore>, cache: Arc<CustomerCache>) -> Self {
        Self { inner, cache }
    }
}

/// A [`SubscriptionStore`] that forgets the cached customer whenever a
/// subscription change may have moved its plan.
pub struct CachedSubscriptions {
    inner: Arc<dyn SubscriptionStore>,
    cache: Arc<CustomerCache>,
}

impl CachedSubscriptions {
    pub(crate) fn new(inner: Arc<dyn SubscriptionStore>, cache: Arc<CustomerCache>) -> Self {
        Self { inner, cache }
    }
}

impl std::fmt::Debug for CachedCustomers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedCustomers")
            .field("entries", &self.cache.by_id.entry_count())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for CachedSubscriptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedSubscriptions")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl CustomerStore for CachedCustomers {
    async fn insert_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        self.inner.insert_customer(customer).await
    }

    async fn insert_customer_capped(
        &self,
        customer: &Customer,
        max: u64,
    ) -> Result<bool, StoreError> {
        self.inner.insert_customer_capped(customer, max).await
    }

    async fn insert_customer_with_event(
        &self,
        customer: &Customer,
        max: Option<u64>,
        event: &Event,
    ) -> Result<bool, StoreError> {
        self.inner
            .insert_customer_with_event(customer, max, event)
            .await
    }

    async fn get_customer(
        &self,
        tenant: &Tenant,
        id: &CustomerId,
    ) -> Result<Option<Customer>, StoreError> {
        Ok(self
            .get_shared_customer(tenant, id)
            .await?
            .map(Arc::unwrap_or_clone))
    }

    async fn find_customer_by_external_id(
        &self,
        tenant: &Tenant,
        external_id: &str,
    ) -> Result<Option<Customer>, StoreError> {
        Ok(self
            .find_shared_customer_by_external_id(tenant, external_id)
            .await?
            .map(Arc::unwrap_or_clone))
    }

    async fn get_shared_customer(
        &self,
        tenant: &Tenant,
        id: &CustomerId,
    ) -> Result<Option<Arc<Customer>>, StoreError> {
        if let Some(hit) = self.cache.by_id(tenant, id) {
            return Ok(Some(hit));
        }
        let start = self.cache.read_start();
        let found = self.inner.get_shared_customer(tenant, id).await?;
        if let Some(customer) = &found {
            self.cache.fill(start, customer);
        }
        Ok(found)
    }

    async fn find_shared_customer_by_external_id(
        &self,
        tenant: &Tenant,
        external_id: &str,
    ) -> Result<Option<Arc<Customer>>, StoreError> {
        if let Some(hit) = self.cache.by_external(tenant, external_id) {
            return Ok(Some(hit));
        }
        let start = self.cache.read_start();
        let found = self
            .inner
            .find_shared_customer_by_external_id(tenant, external_id)
            .await?;
        if let Some(customer) = &found {
            self.cache.fill(start, customer);
        }
        Ok(found)
    }

    async fn update_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        let result = self.inner.update_customer(customer).await;
        self.cache.forget(&customer.tenant, &customer.id);
        result
    }

    async fn change_customer_plan(
        &self,
        tenant: &Tenant,
        id: &CustomerId,
        plan: &str,
        now: DateTime<Utc>,
        events: &(dyn for<'p> Fn(&'p str) -> Vec<Event> + Send + Sync),
    ) -> Result<String, StoreError> {
        let result = self
            .inner
            .change_customer_plan(tenant, id, plan, now, events)
            .await;
        self.cache.forget(tenant, id);
        result
    }

    async fn delete_customer(&self, tenant: &Tenant, id: &CustomerId) -> Result<bool, StoreError> {
        let result = self.inner.delete_customer(tenant, id).await;
        self.cache.forget(tenant, id);
        result
    }

    async fn list_customers(
        &self,
        tenant: &Tenant,
        query: &CustomerQuery,
        page: &PageRequest<CustomerId>,
    ) -> Result<Page<Customer>, StoreError> {
        self.inner.list_customers(tenant, query, page).await
    }

    async fn plan_counts(
        &self,
        tenant: &Tenant,
    ) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        self.inner.plan_counts(tenant).await
    }
}

#[async_trait]
impl SubscriptionStore for CachedSubscriptions {
    async fn apply_subscription_state(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        state: &SubscriptionState,
        plan: Option<&str>,
        now: DateTime<Utc>,
        events: &(dyn for<'p> Fn(&'p str) -> Vec<Event> + Send + Sync),
    ) -> Result<SubscriptionApply, StoreError> {
        let result = self
            .inner
            .apply_subscription_state(tenant, customer, state, plan, now, events)
            .await;
        self.cache.forget(tenant, customer);
        result
    }

    async fn get_subscription_state(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
    ) -> Result<Option<SubscriptionState>, StoreError> {
        self.inner.get_subscription_state(tenant, customer).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use dream_core::{Mode, PlatformId};

    use super::*;
    use crate::cache::{Applied, CustomerChanges};

    fn customer(tenant: &Tenant, external_id: &str, plan: &str) -> Arc<Customer> {
        let now = Utc::now();
        Arc::new(Customer {
            id: CustomerId::generate(),
            tenant: tenant.clone(),
            external_id: Some(external_id.to_owned()),
            email: None,
            first_name: None,
            last_name: None,
            plan: plan.to_owned(),
            password_hash: None,
            metadata: BTreeMap::new(),
            created_at: now,
            updated_at: now,
        })
    }

    fn tenant() -> Tenant {
        Tenant::new(PlatformId::generate(), Mode::Test)
    }

    #[test]
    fn a_fill_that_raced_a_forget_is_dropped() {
        let cache =
            CustomerCache::new(Duration::from_secs(60), DEFAULT_CUSTOMER_CACHE_BYTES, false);
        let tenant = tenant();
        let old = customer(&tenant, "u", "free");
        let start = cache.read_start();
        // A plan change commits and forgets while the read above is in flight.
        cache.forget(&tenant, &old.id);
        cache.fill(start, &old);
        assert_eq!(cache.by_id(&tenant, &old.id), None);
        assert_eq!(cache.by_external(&tenant, "u"), None);
    }

    fn fed_cache(ttl: Duration) -> (Arc<CustomerCache>, CustomerChanges) {
        let cache = Arc::new(CustomerCache::new(ttl, DEFAULT_CUSTOMER_CACHE_BYTES, true));
        let changes = CustomerChanges::new(&cache, ttl);
        (cache, changes)
    }

    fn change_of(customer: &Customer) -> String {
        format!(
            "c {} {} {}",
            customer.tenant.platform.as_str(),
            customer.tenant.mode.as_str(),
            customer.id.as_str()
        )
    }

    #[test]
    fn a_change_notice_forgets_that_customer_only() {
        let (cache, changes) = fed_cache(Duration::from_secs(60));
        let tenant = tenant();
        let (changed, other) = (
            customer(&tenant, "a", "free"),
            customer(&tenant, "b", "free"),
        );
        cache.fill(cache.read_start(), &changed);
        cache.fill(cache.read_start(), &other);
        assert_eq!(changes.apply(&change_of(&changed)), Applied::Forgot);
        assert_eq!(cache.by_id(&tenant, &changed.id), None);
        assert_eq!(cache.by_external(&tenant, "a"), None);
        assert_eq!(cache.by_id(&tenant, &other.id), Some(other));
    }

    #[test]
    fn a_change_notice_during_a_read_drops_its_fill() {
        let (cache, changes) = fed_cache(Duration::from_secs(60));
        let old = customer(&tenant(), "u", "free");
        let start = cache.read_start();
        changes.apply(&change_of(&old));
        cache.fill(start, &old);
        assert_eq!(cache.by_id(&old.tenant, &old.id), None);
    }

    #[test]
    fn a_notice_naming_an_unknown_id_shape_forgets_everyone() {
        let (cache, changes) = fed_cache(Duration::from_secs(60));
        let kept = customer(&tenant(), "u", "free");
        cache.fill(cache.read_start(), &kept);
        let platform = kept.tenant.platform.as_str();
        assert_eq!(
            changes.apply(&format!("c {platform} test legacy-id")),
            Applied::Forgot
        );
        assert_eq!(cache.by_id(&kept.tenant, &kept.id), None);
    }

    #[test]
    fn only_this_caches_heartbeats_make_the_feed_live() {
        let (cache, changes) = fed_cache(Duration::from_secs(60));
        let (_their_cache, someone_else) = fed_cache(Duration::from_secs(60));
        assert!(changes.reconnected());
        assert!(!changes.is_live());
        let theirs = someone_else.heartbeat_payload().expect("open");
        assert_eq!(changes.apply(&theirs), Applied::Ignored);
        assert!(!changes.is_live());
        let ours = changes.heartbeat_payload().expect("open");
        assert_eq!(changes.apply(&ours), Applied::Heartbeat);
        assert!(changes.is_live());
        for junk in ["", "h", "x y z", "h token", "c a b"] {
            assert_eq!(changes.apply(junk), Applied::Ignored, "{junk:?}");
        }
        drop(cache);
        assert_eq!(changes.apply(&ours), Applied::Closed);
        assert!(!changes.is_open() && !changes.is_live() && !changes.reconnected());
        assert_eq!(changes.heartbeat_payload(), None);
    }

    #[test]
    fn a_live_feed_keeps_entries_past_the_bound() {
        let ttl = Duration::from_millis(30);
        let (cache, changes) = fed_cache(ttl);
        let (fed, unfed) = (
            customer(&tenant(), "a", "free"),
            customer(&tenant(), "b", "free"),
        );
        cache.fill(cache.read_start(), &unfed);
        changes.reconnected();
        cache.fill(cache.read_start(), &fed);
        std::thread::sleep(ttl * 2);
        let heartbeat = changes.heartbeat_payload().expect("open");
        changes.apply(&heartbeat);
        assert_eq!(cache.by_id(&fed.tenant, &fed.id).as_ref(), Some(&fed));
        assert_eq!(
            cache.by_id(&unfed.tenant, &unfed.id),
            None,
            "read before the feed listened"
        );
        std::thread::sleep(ttl * 2);
        assert_eq!(
            cache.by_id(&fed.tenant, &fed.id),
            None,
            "no heartbeat within the bound"
        );
    }

    #[test]
    fn an_external_id_entry_is_trusted_only_while_the_customer_still_has_it() {
        let cache =
            CustomerCache::new(Duration::from_secs(60), DEFAULT_CUSTOMER_CACHE_BYTES, false);
        let tenant = tenant();
        let first = customer(&tenant, "old-name", "free");
        cache.fill(cache.read_start(), &first);
        assert_eq!(
            cache.by_external(&tenant, "old-name").as_ref(),
            Some(&first)
        );
        let renamed = Arc::new(Customer {
            external_id: Some("new-name".into()),
            ..(*first).clone()
        });
        cache.fill(cache.read_start(), &renamed);
        assert_eq!(cache.by_external(&tenant, "old-name"), None);
        assert_eq!(cache.by_external(&tenant, "new-name"), Some(renamed));
    }

    #[test]
    fn entries_are_per_tenant() {
        let cache =
            CustomerCache::new(Duration::from_secs(60), DEFAULT_CUSTOMER_CACHE_BYTES, false);
        let (a, b) = (tenant(), tenant());
        let in_a = customer(&a, "u", "free");
        cache.fill(cache.read_start(), &in_a);
        assert_eq!(cache.by_external(&b, "u"), None);
        assert_eq!(cache.by_id(&b, &in_a.id), None);
    }

    #[test]
    fn the_budget_bounds_the_bytes_held() {
        let budget = 200_000;
        let cache = CustomerCache::new(Duration::from_secs(60), budget, false);
        let tenant = tenant();
        for i in 0..5_000 {
            cache.fill(
                cache.read_start(),
                &customer(&tenant, &format!("user-{i}"), "free"),
            );
        }
        cache.by_id.run_pending_tasks();
        cache.by_external.run_pending_tasks();
        let held = cache.by_id.weighted_size() + cache.by_external.weighted_size();
        assert!(
            held <= budget,
            "{held} bytes held for a {budget}-byte budget"
        );
        assert!(
            cache.by_id.entry_count() > 0,
            "the budget holds some customers"
        );
    }

    #[test]
    fn weight_grows_with_metadata() {
        let tenant = tenant();
        let plain = customer(&tenant, "u", "free");
        let mut rich = (*plain).clone();
        rich.metadata.insert("note".into(), "x".repeat(10_000));
        assert!(customer_weight(&rich) >= customer_weight(&plain) + 10_000);
        assert!(
            customer_weight(&plain) > record_weight(&plain),
            "counts the external-id entry"
        );
    }
}
