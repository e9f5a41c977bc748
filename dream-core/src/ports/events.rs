//! The event log port: append-only, and the outbox of outbound webhook deliveries.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{CustomerId, Event, EventId, Page, PageRequest, StoreError, Tenant};

/// The append-only event log.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Appends an event and, in the same atomic write, queues a pending
    /// [`Delivery`](crate::Delivery) (due at the event's time) for every enabled
    /// webhook endpoint of the tenant whose filter matches its kind (see
    /// [`OutboundStore`](super::OutboundStore)). `Conflict` if the id exists.
    async fn append_event(&self, event: &Event) -> Result<(), StoreError>;

    /// The tenant's events, newest first.
    async fn list_events(
        &self,
        tenant: &Tenant,
        page: &PageRequest<EventId>,
    ) -> Result<Page<Event>, StoreError>;

    /// The tenant's events about one customer, newest first. The cursor must be
    /// an event of the tenant; `NotFound` otherwise.
    async fn list_customer_events(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        page: &PageRequest<EventId>,
    ) -> Result<Page<Event>, StoreError>;

    /// Deletes up to `limit` events (oldest first, across tenants) created before
    /// `before` that no webhook delivery refers to any more; returns how many.
    /// Events with deliveries, pending or logged, stay until those are purged.
    async fn purge_events(&self, before: DateTime<Utc>, limit: usize) -> Result<u64, StoreError>;
}
