//! Customers in memory.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::CustomerStore, Customer, CustomerId, CustomerQuery, Event, Page, PageRequest,
    StoreError, Tenant,
};

use super::{lock, MemoryStore};

#[derive(Debug, Default)]
pub(super) struct Customers {
    tenants: HashMap<Tenant, TenantCustomers>,
}

#[derive(Debug, Default)]
struct TenantCustomers {
    by_id: HashMap<CustomerId, Customer>,
    by_external: HashMap<String, CustomerId>,
    /// Creation order, for newest-first listing with a stable cursor.
    order: BTreeSet<(DateTime<Utc>, CustomerId)>,
}

impl Customers {
    /// The customer's plan, after setting it to `plan` (with `updated_at = now`)
    /// when given; `None` if the customer does not exist. For subscription applies,
    /// which must read and change the plan under the same lock as their state.
    pub(super) fn swap_plan(
        &mut self,
        tenant: &Tenant,
        id: &CustomerId,
        plan: Option<&str>,
        now: DateTime<Utc>,
    ) -> Option<String> {
        let customer = self.tenants.get_mut(tenant)?.by_id.get_mut(id)?;
        let previous = customer.plan.clone();
        if let Some(plan) = plan {
            customer.plan = plan.to_owned();
            customer.updated_at = now;
        }
        Some(previous)
    }

    /// The customer's plan, if the customer exists.
    pub(super) fn plan_of(&self, tenant: &Tenant, id: &CustomerId) -> Option<String> {
        Some(self.tenants.get(tenant)?.by_id.get(id)?.plan.clone())
    }

    /// Whether the customer exists.
    pub(super) fn contains(&self, tenant: &Tenant, id: &CustomerId) -> bool {
        self.tenants
            .get(tenant)
            .is_some_and(|t| t.by_id.contains_key(id))
    }
}

impl Customers {
    /// Inserts after the uniqueness rules and the cap; `false` when the tenant
    /// already has `max` customers.
    fn insert(&mut self, customer: &Customer, max: Option<u64>) -> Result<bool, StoreError> {
        let t = self.tenants.entry(customer.tenant.clone()).or_default();
        if t.by_id.contains_key(&customer.id) {
            return Err(StoreError::Conflict("customer id exists"));
        }
        if let Some(ext) = &customer.external_id {
            if t.by_external.contains_key(ext) {
                return Err(StoreError::Conflict("customer external id exists"));
            }
        }
        if max.is_some_and(|max| t.by_id.len() as u64 >= max) {
            return Ok(false);
        }
        if let Some(ext) = &customer.external_id {
            t.by_external.insert(ext.clone(), customer.id.clone());
        }
        t.order.insert((customer.created_at, customer.id.clone()));
        t.by_id.insert(customer.id.clone(), customer.clone());
        Ok(true)
    }
}

impl MemoryStore {
    /// Inserts under the one lock (see [`Customers::insert`]).
    fn insert_customer_within(
        &self,
        customer: &Customer,
        max: Option<u64>,
    ) -> Result<bool, StoreError> {
        lock(&self.customers).insert(customer, max)
    }
}

#[async_trait]
impl CustomerStore for MemoryStore {
    async fn insert_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        self.insert_customer_within(customer, None).map(|_| ())
    }

    async fn insert_customer_capped(
        &self,
        customer: &Customer,
        max: u64,
    ) -> Result<bool, StoreError> {
        self.insert_customer_within(customer, Some(max))
    }

    /// Under the customers, events and webhooks locks (that order, as
    /// everywhere): the event id is checked before the customer is inserted, so
    /// either both are stored or neither.
    async fn insert_customer_with_event(
        &self,
        customer: &Customer,
        max: Option<u64>,
        event: &Event,
    ) -> Result<bool, StoreError> {
        let mut customers = lock(&self.customers);
        let mut events = lock(&self.events);
        if events.has(&event.id) {
            return Err(StoreError::Conflict("event id exists"));
        }
        if !customers.insert(customer, max)? {
            return Ok(false);
        }
        events.append(event)?;
        lock(&self.outbound).enqueue(event);
        Ok(true)
    }

    async fn get_customer(
        &self,
        tenant: &Tenant,
        id: &CustomerId,
    ) -> Result<Option<Customer>, StoreError> {
        Ok(lock(&self.customers)
            .tenants
            .get(tenant)
            .and_then(|t| t.by_id.get(id))
            .cloned())
    }

    async fn find_customer_by_external_id(
        &self,
        tenant: &Tenant,
        external_id: &str,
    ) -> Result<Option<Customer>, StoreError> {
        let all = lock(&self.customers);
        Ok(all.tenants.get(tenant).and_then(|t| {
            t.by_external
                .get(external_id)
                .and_then(|id| t.by_id.get(id))
                .cloned()
        }))
    }

    async fn update_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        let mut all = lock(&self.customers);
        let t = all
            .tenants
            .get_mut(&customer.tenant)
            .ok_or(StoreError::NotFound)?;
        let old = t.by_id.get(&customer.id).ok_or(StoreError::NotFound)?;
        if old.external_id != customer.external_id {
            if let Some(ext) = &customer.external_id {
                if t.by_external.get(ext).is_some_and(|id| id != &customer.id) {
                    return Err(StoreError::Conflict("customer external id exists"));
                }
            }
            if let Some(old_ext) = &old.external_id {
                t.by_external.remove(old_ext);
            }
            if let Some(ext) = &customer.external_id {
                t.by_external.insert(ext.clone(), customer.id.clone());
            }
        }
        let mut stored = customer.clone();
        // Creation time is the listing key; it never changes. The plan changes only
        // through `change_customer_plan` and subscription applies.
        stored.created_at = old.created_at;
        stored.plan.clone_from(&old.plan);
        t.by_id.insert(customer.id.clone(), stored);
        Ok(())
    }

    async fn change_customer_plan(
        &self,
        tenant: &Tenant,
        id: &CustomerId,
        plan: &str,
        now: DateTime<Utc>,
        events: &(dyn for<'p> Fn(&'p str) -> Vec<Event> + Send + Sync),
    ) -> Result<String, StoreError> {
        // Customers, events, webhooks: the lock order of every write here.
        let mut customers = lock(&self.customers);
        let previous = customers.plan_of(tenant, id).ok_or(StoreError::NotFound)?;
        let written = events(&previous);
        let mut log = lock(&self.events);
        if written.iter().any(|e| log.has(&e.id)) {
            return Err(StoreError::Conflict("event id exists"));
        }
        customers.swap_plan(tenant, id, Some(plan), now);
        let mut outbound = lock(&self.outbound);
        for event in &written {
            log.append(event)?;
            outbound.enqueue(event);
        }
        Ok(previous)
    }

    async fn delete_customer(&self, tenant: &Tenant, id: &CustomerId) -> Result<bool, StoreError> {
        let mut all = lock(&self.customers);
        let Some(t) = all.tenants.get_mut(tenant) else {
            return Ok(false);
        };
        let Some(old) = t.by_id.remove(id) else {
            return Ok(false);
        };
        if let Some(ext) = &old.external_id {
            t.by_external.remove(ext);
        }
        t.order.remove(&(old.created_at, old.id));
        Ok(true)
    }

    async fn list_customers(
        &self,
        tenant: &Tenant,
        query: &CustomerQuery,
        page: &PageRequest<CustomerId>,
    ) -> Result<Page<Customer>, StoreError> {
        let all = lock(&self.customers);
        let Some(t) = all.tenants.get(tenant) else {
            return match page.starting_after {
                Some(_) => Err(StoreError::NotFound),
                None => Ok(Page {
                    data: vec![],
                    has_more: false,
                }),
            };
        };
        let upper = match &page.starting_after {
            Some(cursor) => {
                let c = t.by_id.get(cursor).ok_or(StoreError::NotFound)?;
                Some((c.created_at, c.id.clone()))
            }
            None => None,
        };
        let iter: Box<dyn Iterator<Item = &(DateTime<Utc>, CustomerId)>> =
            match (upper, query.oldest_first) {
                (Some(bound), false) => Box::new(t.order.range(..bound).rev()),
                (None, false) => Box::new(t.order.iter().rev()),
                (Some(bound), true) => Box::new(
                    t.order
                        .range((std::ops::Bound::Excluded(bound), std::ops::Bound::Unbounded)),
                ),
                (None, true) => Box::new(t.order.iter()),
            };
        let mut data: Vec<Customer> = iter
            .filter_map(|(_, id)| t.by_id.get(id))
            .filter(|customer| query.matches(customer))
            .take(page.limit + 1)
            .cloned()
            .collect();
        let has_more = data.len() > page.limit;
        data.truncate(page.limit);
        Ok(Page { data, has_more })
    }

    async fn plan_counts(&self, tenant: &Tenant) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut counts = BTreeMap::new();
        if let Some(t) = lock(&self.customers).tenants.get(tenant) {
            for c in t.by_id.values() {
                *counts.entry(c.plan.clone()).or_insert(0) += 1;
            }
        }
        Ok(counts)
    }
}
