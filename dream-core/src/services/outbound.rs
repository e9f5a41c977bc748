//! Developer webhooks out: endpoint management and the delivery pass.
//!
//! A pass claims due deliveries from the store (with a lease, so processes
//! sharing a database never send the same attempt twice at once), signs and
//! sends them concurrently, and records each attempt with what follows it. The
//! server runs passes in a loop; an embedding service can run them however it
//! schedules work.

use futures::future::join_all;

use super::Dream;
use crate::{
    delivery_payload,
    ports::{OutboundRequest, OutboundSender, SendResult},
    validate_endpoint_url, AuditAction, CoreError, Delivery, DeliveryAttempt, DeliveryId,
    DeliveryJob, DeliveryNext, DeliveryPolicy, EndpointPolicy, EventFilter, Page, PageRequest,
    RevealedSecret, SigningSecret, StoredSigningSecret, Tenant, WebhookEndpoint, WebhookEndpointId,
    MAX_ATTEMPT_ERROR_LEN, MAX_ENDPOINTS_PER_TENANT, MAX_ENDPOINT_DESCRIPTION_LEN,
};

/// A new endpoint.
#[derive(Debug, Clone, Default)]
pub struct NewEndpoint {
    /// Where to POST.
    pub url: String,
    /// A note for the developer.
    pub description: Option<String>,
    /// Which events.
    pub filter: Option<EventFilter>,
}

/// Changes to an endpoint; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct EndpointPatch {
    /// New URL.
    pub url: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// New filter.
    pub filter: Option<EventFilter>,
    /// Turn on (also after an automatic disable) or off.
    pub enabled: Option<bool>,
    /// Replace the signing secret with a fresh one.
    pub rotate_secret: bool,
}

/// What one delivery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryPass {
    /// Attempts sent.
    pub attempted: usize,
    /// Attempts acknowledged with a 2xx.
    pub succeeded: usize,
    /// Attempts that failed (another attempt may follow).
    pub failed: usize,
    /// Deliveries that ran out of attempts.
    pub exhausted: usize,
    /// Endpoints disabled for failing too long.
    pub endpoints_disabled: usize,
}

impl DeliveryPass {
    /// Counts one attempt: what happens next, and whether it disabled its endpoint.
    pub fn count(&mut self, next: DeliveryNext, endpoint_disabled: bool) {
        self.attempted += 1;
        match next {
            DeliveryNext::Succeeded => self.succeeded += 1,
            DeliveryNext::RetryAt(_) => self.failed += 1,
            DeliveryNext::Failed => {
                self.failed += 1;
                self.exhausted += 1;
            }
        }
        self.endpoints_disabled += usize::from(endpoint_disabled);
    }
}

impl Dream {
    /// Which endpoint URLs are accepted (and, in the sender, which addresses).
    pub fn with_endpoint_policy(mut self, policy: EndpointPolicy) -> Self {
        self.endpoint_policy = policy;
        self
    }

    /// A fresh signing secret, sealed for `tenant` when a master key is configured
    /// (plaintext otherwise: documented in the README).
    fn new_endpoint_secret(&self, tenant: &Tenant) -> StoredSigningSecret {
        let secret = SigningSecret::generate();
        match self.seal_at_rest(tenant, &RevealedSecret::new(secret.expose().to_owned())) {
            Some(sealed) => StoredSigningSecret::Sealed(sealed),
            None => StoredSigningSecret::Plain(secret),
        }
    }

    /// An endpoint's signing secret in the clear, to sign with or to show its owner.
    /// Fails when it was sealed under a master key this process does not have.
    pub fn reveal_endpoint_secret(
        &self,
        endpoint: &WebhookEndpoint,
    ) -> Result<SigningSecret, CoreError> {
        match &endpoint.secret {
            StoredSigningSecret::Plain(secret) => Ok(secret.clone()),
            StoredSigningSecret::Sealed(sealed) => self
                .open_at_rest(&endpoint.tenant, sealed)
                .and_then(|secret| SigningSecret::parse(secret.expose()).ok())
                .ok_or_else(|| {
                    CoreError::Conflict(
                        "this endpoint's signing secret does not open with DREAM_MASTER_KEY (was it \
                         changed or removed?): rotate the secret"
                            .into(),
                    )
                }),
        }
    }

    /// The endpoint policy in force.
    pub fn endpoint_policy(&self) -> EndpointPolicy {
        self.endpoint_policy
    }

    /// Registers an endpoint with a fresh signing secret (readable again with
    /// [`Dream::webhook_endpoint`], as Svix allows).
    pub async fn create_webhook_endpoint(
        &self,
        tenant: &Tenant,
        new: NewEndpoint,
    ) -> Result<WebhookEndpoint, CoreError> {
        let url = validate_endpoint_url(new.url.trim(), tenant.mode, self.endpoint_policy)?;
        let description = checked_description(new.description)?;
        let now = self.now();
        let endpoint = WebhookEndpoint {
            id: WebhookEndpointId::generate(),
            tenant: tenant.clone(),
            url: url.to_string(),
            description,
            filter: new.filter.unwrap_or(EventFilter::All),
            secret: self.new_endpoint_secret(tenant),
            disabled: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
        };
        let created = self
            .stores
            .outbound
            .create_webhook_endpoint_capped(&endpoint, MAX_ENDPOINTS_PER_TENANT)
            .await?;
        if !created {
            return Err(CoreError::LimitExceeded {
                what: "webhook endpoints",
                limit: MAX_ENDPOINTS_PER_TENANT as u64,
            });
        }
        self.record_endpoint(AuditAction::WebhookEndpointCreated, &endpoint, None)
            .await;
        Ok(endpoint)
    }

    /// An endpoint's signing secret, to show its owner (recorded in the audit
    /// log: the secret itself is not).
    pub async fn reveal_webhook_endpoint_secret(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<(WebhookEndpoint, SigningSecret), CoreError> {
        let endpoint = self.webhook_endpoint(tenant, id).await?;
        let secret = self.reveal_endpoint_secret(&endpoint)?;
        self.record_endpoint(AuditAction::WebhookEndpointSecretRevealed, &endpoint, None)
            .await;
        Ok((endpoint, secret))
    }

    /// Records an action on an endpoint: its URL without query (which may hold a
    /// token), never its secret.
    async fn record_endpoint(
        &self,
        action: AuditAction,
        endpoint: &WebhookEndpoint,
        extra: Option<serde_json::Value>,
    ) {
        let url = endpoint.url.split(['?', '#']).next().unwrap_or_default();
        let mut detail = serde_json::json!({ "url": url, "enabled": endpoint.disabled.is_none() });
        if let (Some(serde_json::Value::Object(more)), Some(map)) = (extra, detail.as_object_mut())
        {
            map.extend(more);
        }
        self.record(
            &endpoint.tenant.platform,
            Some(endpoint.tenant.mode),
            action,
            Some(endpoint.id.to_string()),
            detail,
        )
        .await;
    }

    /// The tenant's endpoints, oldest first.
    pub async fn webhook_endpoints(
        &self,
        tenant: &Tenant,
    ) -> Result<Vec<WebhookEndpoint>, CoreError> {
        Ok(self.stores.outbound.list_webhook_endpoints(tenant).await?)
    }

    /// One endpoint; a foreign or malformed id is the same 404 as a missing one.
    pub async fn webhook_endpoint(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<WebhookEndpoint, CoreError> {
        let not_found = || CoreError::NotFound("webhook endpoint");
        let id = WebhookEndpointId::parse(id).ok_or_else(not_found)?;
        self.stores
            .outbound
            .get_webhook_endpoint(tenant, &id)
            .await?
            .ok_or_else(not_found)
    }

    /// Changes an endpoint. Enabling it clears its failure run, so an endpoint
    /// disabled for failing gets a fresh start.
    pub async fn update_webhook_endpoint(
        &self,
        tenant: &Tenant,
        id: &str,
        patch: EndpointPatch,
    ) -> Result<WebhookEndpoint, CoreError> {
        // Read, change, then write only if nothing changed the endpoint since (an
        // automatic disable recorded by a delivery, another PATCH): else read again.
        for _ in 0..5 {
            let seen = self.webhook_endpoint(tenant, id).await?;
            let endpoint = self.patched_endpoint(tenant, seen.clone(), &patch)?;
            if self
                .stores
                .outbound
                .update_webhook_endpoint_if(&endpoint, &seen)
                .await?
            {
                let changes = serde_json::json!({ "rotatedSigningKey": patch.rotate_secret });
                self.record_endpoint(
                    AuditAction::WebhookEndpointUpdated,
                    &endpoint,
                    Some(changes),
                )
                .await;
                return Ok(endpoint);
            }
        }
        Err(CoreError::Conflict(
            "the endpoint kept changing while this update ran; retry".into(),
        ))
    }

    fn patched_endpoint(
        &self,
        tenant: &Tenant,
        mut endpoint: WebhookEndpoint,
        patch: &EndpointPatch,
    ) -> Result<WebhookEndpoint, CoreError> {
        if let Some(url) = &patch.url {
            endpoint.url =
                validate_endpoint_url(url.trim(), tenant.mode, self.endpoint_policy)?.to_string();
        }
        if let Some(description) = &patch.description {
            endpoint.description = checked_description(description.clone())?;
        }
        if let Some(filter) = &patch.filter {
            endpoint.filter = filter.clone();
        }
        match patch.enabled {
            Some(true) => {
                endpoint.disabled = None;
                endpoint.failing_since = None;
            }
            Some(false) => endpoint.disabled = Some(crate::DisabledReason::Manual),
            None => {}
        }
        if patch.rotate_secret {
            endpoint.secret = self.new_endpoint_secret(tenant);
        }
        endpoint.updated_at = self.now();
        Ok(endpoint)
    }

    /// Deletes an endpoint with its delivery log.
    pub async fn delete_webhook_endpoint(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<(), CoreError> {
        let endpoint = self.webhook_endpoint(tenant, id).await?;
        if self
            .stores
            .outbound
            .delete_webhook_endpoint(tenant, &endpoint.id)
            .await?
        {
            self.record_endpoint(AuditAction::WebhookEndpointDeleted, &endpoint, None)
                .await;
            Ok(())
        } else {
            Err(CoreError::NotFound("webhook endpoint"))
        }
    }

    /// An endpoint's deliveries, newest first. A cursor that is not a delivery of
    /// this endpoint is the caller's mistake (`startingAfter`), not a 404.
    pub async fn webhook_deliveries(
        &self,
        tenant: &Tenant,
        endpoint: &str,
        page: &PageRequest<DeliveryId>,
    ) -> Result<Page<Delivery>, CoreError> {
        let endpoint = self.webhook_endpoint(tenant, endpoint).await?;
        self.stores
            .outbound
            .list_deliveries(tenant, &endpoint.id, page)
            .await
            .map_err(|err| match err {
                crate::StoreError::NotFound => {
                    CoreError::invalid("startingAfter", "no such object in this list")
                }
                other => other.into(),
            })
    }

    /// One delivery with its attempts, first first.
    pub async fn webhook_delivery(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<(Delivery, Vec<DeliveryAttempt>), CoreError> {
        let not_found = || CoreError::NotFound("webhook delivery");
        let id = DeliveryId::parse(id).ok_or_else(not_found)?;
        let delivery = self
            .stores
            .outbound
            .get_delivery(tenant, &id)
            .await?
            .ok_or_else(not_found)?;
        let attempts = self
            .stores
            .outbound
            .list_delivery_attempts(tenant, &id)
            .await?;
        Ok((delivery, attempts))
    }

    /// Sends a delivery again, whatever its state (manual replay). The receiver
    /// sees the same `webhook-id`, so it can tell a replay from a new event.
    pub async fn retry_webhook_delivery(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<Delivery, CoreError> {
        let not_found = || CoreError::NotFound("webhook delivery");
        let id = DeliveryId::parse(id).ok_or_else(not_found)?;
        self.stores
            .outbound
            .retry_delivery(tenant, &id, self.now())
            .await?
            .ok_or_else(not_found)
    }

    /// Deletes finished deliveries older than the policy's retention, in batches;
    /// returns how many. Pending deliveries are kept however old.
    pub async fn purge_webhook_log(&self, policy: &DeliveryPolicy) -> Result<u64, CoreError> {
        const BATCH: usize = 1_000;
        let before = self.now() - policy.log_retention;
        let mut purged = 0;
        loop {
            let n = self
                .stores
                .outbound
                .purge_finished_deliveries(before, BATCH)
                .await?;
            purged += n;
            if n < BATCH as u64 {
                return Ok(purged);
            }
        }
    }

    /// Deletes events older than `retention` that no webhook delivery refers to,
    /// in batches; returns how many. (Deliveries keep their events until the
    /// delivery log lets them go.)
    pub async fn purge_event_log(&self, retention: chrono::Duration) -> Result<u64, CoreError> {
        const BATCH: usize = 1_000;
        let before = self.now() - retention;
        let mut purged = 0;
        loop {
            let n = self.stores.events.purge_events(before, BATCH).await?;
            purged += n;
            if n < BATCH as u64 {
                return Ok(purged);
            }
        }
    }

    /// Claims the deliveries due now (at most `policy.batch`), sends them
    /// concurrently and records every attempt. Returns what it did; call it again
    /// after a pause. A pass lasts as long as its slowest send: a server delivering
    /// for many tenants runs [`claim_due_webhooks`](Self::claim_due_webhooks) and
    /// [`deliver_webhook`](Self::deliver_webhook) as independent tasks instead.
    pub async fn deliver_due_webhooks(
        &self,
        sender: &dyn OutboundSender,
        policy: &DeliveryPolicy,
    ) -> Result<DeliveryPass, CoreError> {
        let jobs = self.claim_due_webhooks(policy, policy.batch).await?;
        let results = join_all(
            jobs.into_iter()
                .map(|job| self.deliver_webhook(sender, policy, job)),
        )
        .await;
        let mut pass = DeliveryPass::default();
        for result in results {
            let (next, disabled) = result?;
            pass.count(next, disabled);
        }
        Ok(pass)
    }

    /// Claims up to `max` deliveries due now, each leased to the caller for
    /// `policy.lease`: until then no other claimer gets it, and only this lease can
    /// record its attempt. A claimed delivery that is never sent becomes due again
    /// when its lease ends.
    pub async fn claim_due_webhooks(
        &self,
        policy: &DeliveryPolicy,
        max: usize,
    ) -> Result<Vec<DeliveryJob>, CoreError> {
        let now = self.now();
        Ok(self
            .stores
            .outbound
            .claim_due_deliveries(now, now + policy.lease, max)
            .await?)
    }

    /// Sends one claimed delivery and records the attempt (if the lease is still
    /// this claim's): what happens next, and whether the endpoint was disabled.
    pub async fn deliver_webhook(
        &self,
        sender: &dyn OutboundSender,
        policy: &DeliveryPolicy,
        job: DeliveryJob,
    ) -> Result<(DeliveryNext, bool), CoreError> {
        self.attempt(sender, policy, job).await
    }

    async fn attempt(
        &self,
        sender: &dyn OutboundSender,
        policy: &DeliveryPolicy,
        job: DeliveryJob,
    ) -> Result<(DeliveryNext, bool), CoreError> {
        let body = delivery_payload(&job.event);
        let at = self.now();
        let timestamp = at.timestamp();
        // The event id is the message id: the same on every retry and replay, so
        // receivers can deduplicate.
        let message_id = job.event.id.as_str().to_owned();
        let secret = match self.reveal_endpoint_secret(&job.endpoint) {
            Ok(secret) => secret,
            // Cannot sign: recorded as a failed attempt (retried on schedule, so
            // restoring the master key recovers it) instead of failing the pass.
            Err(err) => {
                tracing::error!(endpoint = %job.endpoint.id, error = %err, "cannot sign a webhook delivery");
                return self
                    .record_attempt(
                        policy,
                        job,
                        at,
                        SendResult {
                            status: None,
                            error: Some("the endpoint's signing secret cannot be opened".into()),
                            latency: std::time::Duration::ZERO,
                        },
                    )
                    .await;
            }
        };
        let signature = secret.sign(&message_id, timestamp, &body);
        let request = OutboundRequest {
            url: job.endpoint.url.clone(),
            headers: vec![
                ("content-type", "application/json".into()),
                ("webhook-id", message_id),
                ("webhook-timestamp", timestamp.to_string()),
                ("webhook-signature", signature),
            ],
            body,
        };
        let result = sender.send(request).await;
        self.record_attempt(policy, job, at, result).await
    }

    /// Records one attempt's outcome and what comes next.
    async fn record_attempt(
        &self,
        policy: &DeliveryPolicy,
        job: DeliveryJob,
        at: chrono::DateTime<chrono::Utc>,
        result: SendResult,
    ) -> Result<(DeliveryNext, bool), CoreError> {
        let attempt = DeliveryAttempt {
            delivery: job.delivery.id.clone(),
            number: job.delivery.attempts + 1,
            at,
            status: result.status,
            latency_ms: u32::try_from(result.latency.as_millis()).unwrap_or(u32::MAX),
            error: result.error.map(|e| truncate(&e, MAX_ATTEMPT_ERROR_LEN)),
        };
        let next = policy.after(attempt.number, attempt.succeeded(), self.now());
        let recorded = self
            .stores
            .outbound
            .record_delivery_attempt(
                &job.delivery.tenant,
                &job.lease,
                &attempt,
                next,
                policy.disable_after,
            )
            .await?;
        tracing::info!(
            delivery = %job.delivery.id,
            endpoint = %job.endpoint.id,
            event = %job.event.id,
            kind = job.event.kind.as_str(),
            attempt = attempt.number,
            status = attempt.status,
            latency_ms = attempt.latency_ms,
            error = attempt.error.as_deref(),
            next = ?next,
            recorded = recorded.recorded,
            "webhook delivery attempt"
        );
        if recorded.endpoint_disabled {
            tracing::warn!(endpoint = %job.endpoint.id, "webhook endpoint disabled after failing for too long");
        }
        Ok((next, recorded.endpoint_disabled))
    }
}

fn checked_description(description: Option<String>) -> Result<Option<String>, CoreError> {
    let description = description
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    match &description {
        Some(d) if d.chars().count() > MAX_ENDPOINT_DESCRIPTION_LEN => Err(CoreError::invalid(
            "description",
            format!("must be at most {MAX_ENDPOINT_DESCRIPTION_LEN} characters"),
        )),
        _ => Ok(description),
    }
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
