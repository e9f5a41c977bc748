//! Outbound webhook ports: developers' endpoints and the deliveries to them
//! ([`OutboundStore`]), and the HTTP client that sends them ([`OutboundSender`]).

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::{
    AttemptRecorded, Delivery, DeliveryAttempt, DeliveryId, DeliveryJob, DeliveryNext, LeaseToken,
    Page, PageRequest, StoreError, Tenant, WebhookEndpoint, WebhookEndpointId,
};

/// Developer webhook endpoints and the deliveries to them.
///
/// Deliveries are created by [`EventStore::append_event`](super::EventStore::append_event),
/// in the same write as the event, for every enabled endpoint whose filter
/// matches: the event log is the outbox, and a restart loses nothing.
#[async_trait]
pub trait OutboundStore: Send + Sync {
    /// Stores a new endpoint. `Conflict` if the id exists.
    async fn create_webhook_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<(), StoreError>;

    /// [`create_webhook_endpoint`](Self::create_webhook_endpoint) unless the tenant
    /// already has `max` endpoints, as one atomic decision. `Ok(false)`, and
    /// nothing stored, when full.
    async fn create_webhook_endpoint_capped(
        &self,
        endpoint: &WebhookEndpoint,
        max: usize,
    ) -> Result<bool, StoreError>;

    /// One of the tenant's endpoints.
    async fn get_webhook_endpoint(
        &self,
        tenant: &Tenant,
        id: &WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError>;

    /// The tenant's endpoints, oldest first.
    async fn list_webhook_endpoints(
        &self,
        tenant: &Tenant,
    ) -> Result<Vec<WebhookEndpoint>, StoreError>;

    /// Replaces an endpoint's settings (url, description, filter, secret,
    /// disabled, failing_since, updated_at). `NotFound` if absent.
    async fn update_webhook_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<(), StoreError>;

    /// [`update_webhook_endpoint`](Self::update_webhook_endpoint) only if the stored
    /// endpoint still has `seen`'s `updated_at`, `disabled` and `failing_since`
    /// (nothing changed it since it was read, an automatic disable included):
    /// `Ok(false)`, and nothing written, otherwise. `NotFound` if absent.
    async fn update_webhook_endpoint_if(
        &self,
        endpoint: &WebhookEndpoint,
        seen: &WebhookEndpoint,
    ) -> Result<bool, StoreError>;

    /// Deletes an endpoint with its deliveries and their attempts. False if absent.
    async fn delete_webhook_endpoint(
        &self,
        tenant: &Tenant,
        id: &WebhookEndpointId,
    ) -> Result<bool, StoreError>;

    /// Atomically claims up to `limit` deliveries, across tenants, that are
    /// pending, due (`next_attempt_at <= now`), not leased (or whose lease ended
    /// before `now`) and whose endpoint is enabled; each gets a fresh
    /// [`LeaseToken`] valid until `lease_until`. Oldest due first. Two concurrent
    /// callers (even in different processes) never get the same delivery while
    /// its lease holds.
    async fn claim_due_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DeliveryJob>, StoreError>;

    /// Records an attempt made under `lease` and moves the delivery on (`next`),
    /// releasing the lease, in one write. If the lease is no longer the
    /// delivery's, records nothing (`recorded: false`).
    ///
    /// Also keeps the endpoint's failure run: a success clears `failing_since`;
    /// a failure sets it if unset, and disables the endpoint
    /// ([`DisabledReason::Failing`](crate::DisabledReason::Failing)) once it is
    /// `disable_after` old.
    async fn record_delivery_attempt(
        &self,
        tenant: &Tenant,
        lease: &LeaseToken,
        attempt: &DeliveryAttempt,
        next: DeliveryNext,
        disable_after: Duration,
    ) -> Result<AttemptRecorded, StoreError>;

    /// One delivery of the tenant.
    async fn get_delivery(
        &self,
        tenant: &Tenant,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, StoreError>;

    /// A delivery's attempts, first first.
    async fn list_delivery_attempts(
        &self,
        tenant: &Tenant,
        id: &DeliveryId,
    ) -> Result<Vec<DeliveryAttempt>, StoreError>;

    /// An endpoint's deliveries, newest first. `NotFound` for an unknown cursor.
    async fn list_deliveries(
        &self,
        tenant: &Tenant,
        endpoint: &WebhookEndpointId,
        page: &PageRequest<DeliveryId>,
    ) -> Result<Page<Delivery>, StoreError>;

    /// Makes a delivery pending again, due at `now` (manual replay), whatever its
    /// state; a delivery in flight keeps its lease. `None` if absent.
    async fn retry_delivery(
        &self,
        tenant: &Tenant,
        id: &DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<Option<Delivery>, StoreError>;

    /// Deletes up to `limit` finished (succeeded or failed) deliveries, across
    /// tenants, last changed before `before`, with their attempts; returns how
    /// many. Pending deliveries are never purged, however old.
    async fn purge_finished_deliveries(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError>;
}

/// One signed POST to a developer's endpoint.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// The endpoint URL (already validated when registered).
    pub url: String,
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature`, `content-type`.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body the signature covers.
    pub body: Vec<u8>,
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// The response status, if a response came.
    pub status: Option<u16>,
    /// Why no response came (timeout, connection refused, refused address…).
    pub error: Option<String>,
    /// Time until the response or the failure.
    pub latency: std::time::Duration,
}

/// Sends webhook requests (an HTTP client in the server; a recorder in tests).
/// Implementations must not follow redirects and must refuse addresses the
/// [`EndpointPolicy`](crate::EndpointPolicy) forbids, after DNS resolution.
#[async_trait]
pub trait OutboundSender: Send + Sync {
    /// Sends one request; never fails, the result says what happened.
    async fn send(&self, request: OutboundRequest) -> SendResult;
}
