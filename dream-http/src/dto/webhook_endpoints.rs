//! Outbound webhook endpoint and delivery bodies.

use chrono::{DateTime, Utc};
use dream_core::{
    Delivery, DeliveryAttempt, DeliveryState, DisabledReason, SigningSecret, WebhookEndpoint,
};
use poem_openapi::{types::MaybeUndefined, Enum, Object};
use serde::Deserialize;

/// Register an endpoint for this mode's events.
#[derive(Object, Deserialize, Debug, Default)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWebhookEndpointRequest {
    /// Where to POST events: `https://…` (`http://` only in test mode). Loopback,
    /// private and link-local hosts are refused unless the operator allows them.
    #[oai(validator(min_length = 1, max_length = 2048))]
    pub url: String,
    /// A note for yourself, at most 256 characters.
    #[oai(validator(max_length = 256))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub description: Option<String>,
    /// Event types to receive (`customer.created`, `plan.changed`, …); `["*"]` or
    /// absent for all, including types added later.
    #[oai(validator(max_items = 32, pattern = r"^(\*|[a-z_]+\.[a-z_]+)$"))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub event_types: Option<Vec<String>>,
}

/// Change an endpoint. Absent fields stay.
#[derive(Object, Deserialize, Debug, Default)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateWebhookEndpointRequest {
    /// New URL (checked as on create).
    #[oai(validator(min_length = 1, max_length = 2048))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub url: Option<String>,
    /// New note; `null` clears it.
    #[serde(default)]
    #[oai(nullable, validator(max_length = 256))]
    pub description: MaybeUndefined<String>,
    /// New event types (as on create).
    #[oai(validator(max_items = 32, pattern = r"^(\*|[a-z_]+\.[a-z_]+)$"))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub event_types: Option<Vec<String>>,
    /// `true` turns the endpoint on again (also after an automatic disable; its
    /// pending deliveries resume), `false` pauses it.
    #[serde(default, deserialize_with = "super::non_null")]
    pub enabled: Option<bool>,
    /// `true` replaces the signing secret with a new one (returned by
    /// `getWebhookEndpointSecret`); deliveries from then on use the new one.
    #[serde(default, deserialize_with = "super::non_null")]
    pub rotate_secret: Option<bool>,
}

/// Why an endpoint is disabled.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum DisabledReasonDto {
    /// You turned it off.
    Manual,
    /// It failed without a success for longer than the server allows (default 5 days).
    Failing,
}

impl From<DisabledReason> for DisabledReasonDto {
    fn from(r: DisabledReason) -> Self {
        match r {
            DisabledReason::Manual => DisabledReasonDto::Manual,
            DisabledReason::Failing => DisabledReasonDto::Failing,
        }
    }
}

/// A webhook endpoint. Deliveries carry `webhook-id`, `webhook-timestamp` and
/// `webhook-signature` headers (Standard Webhooks): verify them with the `svix`
/// or `standardwebhooks` library and the endpoint's secret.
#[derive(Object, Clone)]
#[oai(rename_all = "camelCase")]
pub struct WebhookEndpointDto {
    /// `we_…`.
    pub id: String,
    /// Where events go.
    pub url: String,
    /// Your note.
    #[oai(skip_serializing_if_is_none)]
    pub description: Option<String>,
    /// Event types received (`["*"]`: all).
    pub event_types: Vec<String>,
    /// Whether new events are delivered.
    pub enabled: bool,
    // Set while disabled.
    #[oai(skip_serializing_if_is_none)]
    pub disabled_reason: Option<DisabledReasonDto>,
    /// Since when deliveries have failed without a success, if they do.
    #[oai(skip_serializing_if_is_none)]
    pub failing_since: Option<DateTime<Utc>>,
    /// The signing secret (`whsec_…`): only in the response that creates the
    /// endpoint; later, `getWebhookEndpointSecret`.
    #[oai(skip_serializing_if_is_none)]
    pub secret: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Never prints the signing secret.
impl std::fmt::Debug for WebhookEndpointDto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpointDto")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("description", &self.description)
            .field("event_types", &self.event_types)
            .field("enabled", &self.enabled)
            .field("disabled_reason", &self.disabled_reason)
            .field("failing_since", &self.failing_since)
            .field("secret", &super::redact::redacted(&self.secret))
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

impl From<WebhookEndpoint> for WebhookEndpointDto {
    fn from(e: WebhookEndpoint) -> Self {
        Self {
            id: e.id.to_string(),
            url: e.url,
            description: e.description,
            event_types: e.filter.names(),
            enabled: e.disabled.is_none(),
            disabled_reason: e.disabled.map(Into::into),
            failing_since: e.failing_since,
            secret: None,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

impl WebhookEndpointDto {
    /// With its secret, revealed by the service (the create response).
    pub fn with_secret(endpoint: WebhookEndpoint, secret: &SigningSecret) -> Self {
        Self {
            secret: Some(secret.expose().to_owned()),
            ..endpoint.into()
        }
    }
}

/// The tenant's endpoints, oldest first.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct WebhookEndpointList {
    /// Endpoints.
    pub data: Vec<WebhookEndpointDto>,
}

/// An endpoint's signing secret.
#[derive(Object, Clone)]
#[oai(rename_all = "camelCase")]
pub struct WebhookSecretDto {
    /// `whsec_…`: the key is the base64 after the prefix.
    pub secret: String,
}

/// Never prints the secret.
impl std::fmt::Debug for WebhookSecretDto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSecretDto")
            .field("secret", &super::redact::REDACTED)
            .finish()
    }
}

/// A deleted endpoint.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct DeletedWebhookEndpoint {
    /// The endpoint's id.
    pub id: String,
    /// Always true.
    pub deleted: bool,
}

/// Where a delivery stands.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum DeliveryStateDto {
    /// Waiting for its next attempt.
    Pending,
    /// Acknowledged with a 2xx.
    Succeeded,
    /// Out of attempts; retry it by hand.
    Failed,
}

impl From<DeliveryState> for DeliveryStateDto {
    fn from(s: DeliveryState) -> Self {
        match s {
            DeliveryState::Pending => DeliveryStateDto::Pending,
            DeliveryState::Succeeded => DeliveryStateDto::Succeeded,
            DeliveryState::Failed => DeliveryStateDto::Failed,
        }
    }
}

/// One event on its way to one endpoint.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct DeliveryDto {
    /// `dlv_…`.
    pub id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// The event (also the `webhook-id` header, the same on every attempt).
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    // Where it stands.
    pub state: DeliveryStateDto,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due.
    #[oai(skip_serializing_if_is_none)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last attempt's response status.
    #[oai(skip_serializing_if_is_none)]
    pub last_status: Option<u16>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Delivery> for DeliveryDto {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id.to_string(),
            endpoint_id: d.endpoint.to_string(),
            event_id: d.event.to_string(),
            event_type: d.event_kind.as_str().to_owned(),
            state: d.state.into(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_status: d.last_status,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// A page of deliveries, newest first.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct DeliveryList {
    /// Deliveries.
    pub data: Vec<DeliveryDto>,
    /// Whether another page follows (pass the last id as `startingAfter`).
    pub has_more: bool,
}

/// One attempt.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct DeliveryAttemptDto {
    /// 1 for the first.
    pub number: u32,
    /// When it was sent.
    pub at: DateTime<Utc>,
    /// The response status, if a response came.
    #[oai(skip_serializing_if_is_none)]
    pub status: Option<u16>,
    /// Milliseconds until the response or the failure.
    pub latency_ms: u32,
    /// Why no response came.
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
}

impl From<DeliveryAttempt> for DeliveryAttemptDto {
    fn from(a: DeliveryAttempt) -> Self {
        Self {
            number: a.number,
            at: a.at,
            status: a.status,
            latency_ms: a.latency_ms,
            error: a.error,
        }
    }
}

/// A delivery with its attempt log.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct DeliveryDetail {
    // The delivery.
    pub delivery: DeliveryDto,
    /// Its attempts, first first.
    pub attempts: Vec<DeliveryAttemptDto>,
}
