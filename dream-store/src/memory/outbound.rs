//! Outbound webhook endpoints and deliveries in memory.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use dream_core::{
    ports::OutboundStore, AttemptRecorded, Delivery, DeliveryAttempt, DeliveryId, DeliveryJob,
    DeliveryNext, DeliveryState, DisabledReason, Event, EventId, LeaseToken, Page, PageRequest,
    StoreError, Tenant, WebhookEndpoint, WebhookEndpointId,
};

use super::{lock, MemoryStore};

#[derive(Debug, Default)]
pub(super) struct Webhooks {
    endpoints: Vec<WebhookEndpoint>,
    /// In creation order; `index` maps ids to positions.
    deliveries: Vec<DeliveryRow>,
    index: HashMap<DeliveryId, usize>,
}

#[derive(Debug)]
struct DeliveryRow {
    delivery: Delivery,
    lease: Option<(LeaseToken, DateTime<Utc>)>,
    attempts: Vec<DeliveryAttempt>,
}

impl Webhooks {
    /// Queues `event` for every enabled endpoint that wants it. Called by
    /// `append_event` while it holds the events lock (lock order: events, webhooks).
    pub(super) fn enqueue(&mut self, event: &Event) {
        let wanted: Vec<Delivery> = self
            .endpoints
            .iter()
            .filter(|e| e.tenant == event.tenant && e.is_enabled() && e.filter.matches(event.kind))
            .map(|e| Delivery::new(e, event))
            .collect();
        for delivery in wanted {
            self.index
                .insert(delivery.id.clone(), self.deliveries.len());
            self.deliveries.push(DeliveryRow {
                delivery,
                lease: None,
                attempts: vec![],
            });
        }
    }

    /// Adds `endpoint` unless `max` is set and its tenant already has that many;
    /// `false` when full.
    fn insert_endpoint(
        &mut self,
        endpoint: &WebhookEndpoint,
        max: Option<usize>,
    ) -> Result<bool, StoreError> {
        if self.endpoints.iter().any(|e| e.id == endpoint.id) {
            return Err(StoreError::Conflict("webhook endpoint id exists"));
        }
        let count = self
            .endpoints
            .iter()
            .filter(|e| e.tenant == endpoint.tenant)
            .count();
        if max.is_some_and(|max| count >= max) {
            return Ok(false);
        }
        self.endpoints.push(endpoint.clone());
        Ok(true)
    }

    /// Replaces the stored endpoint's settings (keeping `created_at`); with
    /// `seen`, only while it still has `seen`'s `updated_at`, `disabled` and
    /// `failing_since`. `NotFound` if absent.
    fn write_endpoint(
        &mut self,
        endpoint: &WebhookEndpoint,
        seen: Option<&WebhookEndpoint>,
    ) -> Result<bool, StoreError> {
        let stored = self
            .endpoint_mut(&endpoint.tenant, &endpoint.id)
            .ok_or(StoreError::NotFound)?;
        if seen.is_some_and(|seen| {
            stored.updated_at != seen.updated_at
                || stored.disabled != seen.disabled
                || stored.failing_since != seen.failing_since
        }) {
            return Ok(false);
        }
        let created_at = stored.created_at;
        *stored = WebhookEndpoint {
            created_at,
            ..endpoint.clone()
        };
        Ok(true)
    }

    /// Whether any delivery (pending or logged) refers to the event.
    pub(super) fn refers_to(&self, event: &EventId) -> bool {
        self.deliveries
            .iter()
            .any(|row| row.delivery.event == *event)
    }

    fn row(&self, tenant: &Tenant, id: &DeliveryId) -> Option<&DeliveryRow> {
        let row = &self.deliveries[*self.index.get(id)?];
        (row.delivery.tenant == *tenant).then_some(row)
    }

    fn row_mut(&mut self, tenant: &Tenant, id: &DeliveryId) -> Option<&mut DeliveryRow> {
        let row = &mut self.deliveries[*self.index.get(id)?];
        (row.delivery.tenant == *tenant).then_some(row)
    }

    fn endpoint_mut(
        &mut self,
        tenant: &Tenant,
        id: &WebhookEndpointId,
    ) -> Option<&mut WebhookEndpoint> {
        self.endpoints
            .iter_mut()
            .find(|e| e.tenant == *tenant && e.id == *id)
    }
}

#[async_trait]
impl OutboundStore for MemoryStore {
    async fn create_webhook_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<(), StoreError> {
        lock(&self.outbound)
            .insert_endpoint(endpoint, None)
            .map(|_| ())
    }

    async fn create_webhook_endpoint_capped(
        &self,
        endpoint: &WebhookEndpoint,
        max: usize,
    ) -> Result<bool, StoreError> {
        lock(&self.outbound).insert_endpoint(endpoint, Some(max))
    }

    async fn get_webhook_endpoint(
        &self,
        tenant: &Tenant,
        id: &WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let hooks = lock(&self.outbound);
        Ok(hooks
            .endpoints
            .iter()
            .find(|e| e.tenant == *tenant && e.id == *id)
            .cloned())
    }

    async fn list_webhook_endpoints(
        &self,
        tenant: &Tenant,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let hooks = lock(&self.outbound);
        Ok(hooks
            .endpoints
            .iter()
            .filter(|e| e.tenant == *tenant)
            .cloned()
            .collect())
    }

    async fn update_webhook_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<(), StoreError> {
        lock(&self.outbound)
            .write_endpoint(endpoint, None)
            .map(|_| ())
    }

    async fn update_webhook_endpoint_if(
        &self,
        endpoint: &WebhookEndpoint,
        seen: &WebhookEndpoint,
    ) -> Result<bool, StoreError> {
        lock(&self.outbound).write_endpoint(endpoint, Some(seen))
    }

    async fn delete_webhook_endpoint(
        &self,
        tenant: &Tenant,
        id: &WebhookEndpointId,
    ) -> Result<bool, StoreError> {
        let mut hooks = lock(&self.outbound);
        let before = hooks.endpoints.len();
        hooks
            .endpoints
            .retain(|e| !(e.tenant == *tenant && e.id == *id));
        if hooks.endpoints.len() == before {
            return Ok(false);
        }
        hooks
            .deliveries
            .retain(|r| !(r.delivery.tenant == *tenant && r.delivery.endpoint == *id));
        let index = hooks
            .deliveries
            .iter()
            .enumerate()
            .map(|(i, r)| (r.delivery.id.clone(), i))
            .collect();
        hooks.index = index;
        Ok(true)
    }

    async fn claim_due_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DeliveryJob>, StoreError> {
        // Lock order: events, then webhooks (as in `append_event`).
        let events = lock(&self.events);
        let mut hooks = lock(&self.outbound);
        let mut due: Vec<(DateTime<Utc>, usize)> = hooks
            .deliveries
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.delivery.state == DeliveryState::Pending
                    && r.delivery.next_attempt_at.is_some_and(|at| at <= now)
                    && r.lease.as_ref().is_none_or(|(_, until)| *until <= now)
            })
            .filter_map(|(i, r)| Some((r.delivery.next_attempt_at?, i)))
            .collect();
        due.sort();
        let mut jobs = Vec::new();
        for (_, i) in due {
            if jobs.len() >= limit {
                break;
            }
            let delivery = hooks.deliveries[i].delivery.clone();
            let Some(endpoint) = hooks
                .endpoints
                .iter()
                .find(|e| e.tenant == delivery.tenant && e.id == delivery.endpoint)
                .filter(|e| e.is_enabled())
                .cloned()
            else {
                continue;
            };
            let Some(event) = events.get(&delivery.tenant, &delivery.event) else {
                continue;
            };
            let lease = LeaseToken::generate();
            hooks.deliveries[i].lease = Some((lease.clone(), lease_until));
            jobs.push(DeliveryJob {
                delivery,
                endpoint,
                event,
                lease,
            });
        }
        Ok(jobs)
    }

    async fn record_delivery_attempt(
        &self,
        tenant: &Tenant,
        lease: &LeaseToken,
        attempt: &DeliveryAttempt,
        next: DeliveryNext,
        disable_after: Duration,
    ) -> Result<AttemptRecorded, StoreError> {
        let mut hooks = lock(&self.outbound);
        let Some(row) = hooks.row_mut(tenant, &attempt.delivery) else {
            return Ok(AttemptRecorded::default());
        };
        if row.lease.as_ref().map(|(token, _)| token) != Some(lease) {
            return Ok(AttemptRecorded::default());
        }
        row.lease = None;
        row.attempts.push(attempt.clone());
        let d = &mut row.delivery;
        d.attempts = d.attempts.max(attempt.number);
        d.last_status = attempt.status;
        d.updated_at = attempt.at;
        (d.state, d.next_attempt_at) = match next {
            DeliveryNext::Succeeded => (DeliveryState::Succeeded, None),
            DeliveryNext::RetryAt(at) => (DeliveryState::Pending, Some(at)),
            DeliveryNext::Failed => (DeliveryState::Failed, None),
        };
        let endpoint_id = d.endpoint.clone();
        let mut outcome = AttemptRecorded {
            recorded: true,
            endpoint_disabled: false,
        };
        if let Some(endpoint) = hooks.endpoint_mut(tenant, &endpoint_id) {
            if next == DeliveryNext::Succeeded {
                endpoint.failing_since = None;
            } else {
                let since = *endpoint.failing_since.get_or_insert(attempt.at);
                if endpoint.is_enabled() && attempt.at - since >= disable_after {
                    endpoint.disabled = Some(DisabledReason::Failing);
                    endpoint.updated_at = attempt.at;
                    outcome.endpoint_disabled = true;
                }
            }
        }
        Ok(outcome)
    }

    async fn get_delivery(
        &self,
        tenant: &Tenant,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, StoreError> {
        let hooks = lock(&self.outbound);
        Ok(hooks.row(tenant, id).map(|r| r.delivery.clone()))
    }

    async fn list_delivery_attempts(
        &self,
        tenant: &Tenant,
        id: &DeliveryId,
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        let hooks = lock(&self.outbound);
        Ok(hooks
            .row(tenant, id)
            .map(|r| r.attempts.clone())
            .unwrap_or_default())
    }

    async fn list_deliveries(
        &self,
        tenant: &Tenant,
        endpoint: &WebhookEndpointId,
        page: &PageRequest<DeliveryId>,
    ) -> Result<Page<Delivery>, StoreError> {
        let hooks = lock(&self.outbound);
        let end = match &page.starting_after {
            Some(cursor) => {
                let row = hooks.row(tenant, cursor).ok_or(StoreError::NotFound)?;
                if row.delivery.endpoint != *endpoint {
                    return Err(StoreError::NotFound);
                }
                hooks.index[cursor]
            }
            None => hooks.deliveries.len(),
        };
        let mut data: Vec<Delivery> = hooks.deliveries[..end]
            .iter()
            .rev()
            .filter(|r| r.delivery.tenant == *tenant && r.delivery.endpoint == *endpoint)
            .take(page.limit + 1)
            .map(|r| r.delivery.clone())
            .collect();
        let has_more = data.len() > page.limit;
        data.truncate(page.limit);
        Ok(Page { data, has_more })
    }

    async fn retry_delivery(
        &self,
        tenant: &Tenant,
        id: &DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<Option<Delivery>, StoreError> {
        let mut hooks = lock(&self.outbound);
        let Some(row) = hooks.row_mut(tenant, id) else {
            return Ok(None);
        };
        row.delivery.state = DeliveryState::Pending;
        row.delivery.next_attempt_at = Some(now);
        row.delivery.updated_at = now;
        Ok(Some(row.delivery.clone()))
    }

    async fn purge_finished_deliveries(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let mut hooks = lock(&self.outbound);
        let mut budget = limit;
        hooks.deliveries.retain(|r| {
            let purge = budget > 0
                && r.delivery.state != DeliveryState::Pending
                && r.delivery.updated_at < before;
            budget -= usize::from(purge);
            !purge
        });
        let index = hooks
            .deliveries
            .iter()
            .enumerate()
            .map(|(i, r)| (r.delivery.id.clone(), i))
            .collect();
        hooks.index = index;
        Ok((limit - budget) as u64)
    }
}
