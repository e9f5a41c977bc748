//! The event log in memory, fanning out deliveries under the same lock.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::EventStore, CustomerId, Event, EventId, Page, PageRequest, StoreError, Tenant,
};

use super::{lock, MemoryStore};

#[derive(Debug, Default)]
pub(super) struct Events {
    tenants: HashMap<Tenant, TenantEvents>,
    /// Every id in the log: ids are unique across tenants, as the port requires.
    ids: HashSet<EventId>,
}

#[derive(Debug, Default)]
struct TenantEvents {
    log: Vec<Event>,
    position: HashMap<EventId, usize>,
}

impl Events {
    /// Whether an event with this id is in the log (of any tenant).
    pub(super) fn has(&self, id: &EventId) -> bool {
        self.ids.contains(id)
    }

    /// Adds `event` to the log; `Conflict` if its id exists. The caller queues
    /// its deliveries under the same locks.
    pub(super) fn append(&mut self, event: &Event) -> Result<(), StoreError> {
        if !self.ids.insert(event.id.clone()) {
            return Err(StoreError::Conflict("event id exists"));
        }
        let t = self.tenants.entry(event.tenant.clone()).or_default();
        t.position.insert(event.id.clone(), t.log.len());
        t.log.push(event.clone());
        Ok(())
    }

    /// One event of the tenant.
    pub(super) fn get(&self, tenant: &Tenant, id: &EventId) -> Option<Event> {
        let t = self.tenants.get(tenant)?;
        t.log.get(*t.position.get(id)?).cloned()
    }
}

impl TenantEvents {
    fn reindex(&mut self) {
        self.position = self
            .log
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id.clone(), i))
            .collect();
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn purge_events(&self, before: DateTime<Utc>, limit: usize) -> Result<u64, StoreError> {
        let mut all = lock(&self.events);
        let outbound = lock(&self.outbound);
        let mut doomed: Vec<(Tenant, EventId, DateTime<Utc>)> = all
            .tenants
            .iter()
            .flat_map(|(tenant, t)| {
                t.log
                    .iter()
                    .filter(|e| e.created_at < before && !outbound.refers_to(&e.id))
                    .map(move |e| (tenant.clone(), e.id.clone(), e.created_at))
            })
            .collect();
        doomed.sort_by_key(|(_, _, at)| *at);
        doomed.truncate(limit);
        let ids: HashSet<EventId> = doomed.iter().map(|(_, id, _)| id.clone()).collect();
        for t in all.tenants.values_mut() {
            let len = t.log.len();
            t.log.retain(|e| !ids.contains(&e.id));
            if t.log.len() != len {
                t.reindex();
            }
        }
        all.ids.retain(|id| !ids.contains(id));
        Ok(ids.len() as u64)
    }

    async fn append_event(&self, event: &Event) -> Result<(), StoreError> {
        let mut all = lock(&self.events);
        all.append(event)?;
        // Same critical section: an event in the log always has its deliveries.
        lock(&self.outbound).enqueue(event);
        Ok(())
    }

    async fn list_events(
        &self,
        tenant: &Tenant,
        page: &PageRequest<EventId>,
    ) -> Result<Page<Event>, StoreError> {
        self.events_page(tenant, None, page)
    }

    async fn list_customer_events(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        page: &PageRequest<EventId>,
    ) -> Result<Page<Event>, StoreError> {
        self.events_page(tenant, Some(customer), page)
    }
}

impl MemoryStore {
    /// One page of a tenant's events, newest first; with `customer`, only the
    /// events about that customer.
    fn events_page(
        &self,
        tenant: &Tenant,
        customer: Option<&CustomerId>,
        page: &PageRequest<EventId>,
    ) -> Result<Page<Event>, StoreError> {
        let all = lock(&self.events);
        let empty = TenantEvents::default();
        let t = all.tenants.get(tenant).unwrap_or(&empty);
        let end = match &page.starting_after {
            Some(cursor) => *t.position.get(cursor).ok_or(StoreError::NotFound)?,
            None => t.log.len(),
        };
        let mut data: Vec<Event> = t.log[..end]
            .iter()
            .rev()
            .filter(|event| customer.is_none() || event.customer.as_ref() == customer)
            .take(page.limit + 1)
            .cloned()
            .collect();
        let has_more = data.len() > page.limit;
        data.truncate(page.limit);
        Ok(Page { data, has_more })
    }
}
