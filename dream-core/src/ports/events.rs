use async_trait::async_trait;

use crate::{Event, EventId, Page, PageRequest, StoreError, Tenant};

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
}
