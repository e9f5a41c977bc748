//! Outbound webhook routes: developers' endpoints, their secrets and delivery logs.

use dream_core::{DeliveryId, EndpointPatch, EventFilter, NewEndpoint};
use poem::web::Data;
use poem_openapi::{
    param::{Header, Path, Query},
    payload::Json,
    ApiResponse, OpenApi,
};

use super::{page, ApiTags};
use crate::{
    auth::SecretKeyAuth,
    body::JsonBody,
    dto::{
        CreateWebhookEndpointRequest, DeletedWebhookEndpoint, DeliveryDetail, DeliveryDto,
        DeliveryList, UpdateWebhookEndpointRequest, WebhookEndpointDto, WebhookEndpointList,
        WebhookSecretDto,
    },
    error::ApiResult,
    header_token::IdempotencyKeyHeader,
    state::AppState,
};

/// Your webhook endpoints and their delivery log (per mode: the key's mode).
pub struct WebhookEndpointsApi;

/// A created endpoint.
#[derive(ApiResponse)]
enum Created {
    /// Created; the only response that includes the secret.
    #[oai(status = 201)]
    Created(Json<WebhookEndpointDto>),
}

/// A delivery queued again.
#[derive(ApiResponse)]
enum Queued {
    /// Queued: the next delivery pass sends it.
    #[oai(status = 202)]
    Queued(Json<DeliveryDto>),
}

fn filter(names: Option<Vec<String>>) -> ApiResult<Option<EventFilter>> {
    Ok(names
        .map(|names| EventFilter::from_names(&names))
        .transpose()?)
}

#[OpenApi(prefix_path = "/api/webhooks", tag = "ApiTags::Webhooks")]
impl WebhookEndpointsApi {
    /// Register an endpoint. Events of this key's mode are POSTed to it, signed
    /// (Standard Webhooks), retried with backoff for more than a day.
    #[oai(
        path = "/endpoints",
        method = "post",
        operation_id = "createWebhookEndpoint"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        body: JsonBody<CreateWebhookEndpointRequest>,
        /// Makes a retry safe: same key and body → same response.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKeyHeader>>,
    ) -> ApiResult<Created> {
        let req = body.0;
        let new = NewEndpoint {
            url: req.url,
            description: req.description,
            filter: filter(req.event_types)?,
        };
        let endpoint = auth
            .dream(&state)
            .create_webhook_endpoint(auth.tenant(), new)
            .await?;
        let secret = state.dream.reveal_endpoint_secret(&endpoint)?;
        Ok(Created::Created(Json(WebhookEndpointDto::with_secret(
            endpoint, &secret,
        ))))
    }

    /// List endpoints, oldest first.
    #[oai(
        path = "/endpoints",
        method = "get",
        operation_id = "listWebhookEndpoints"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
    ) -> ApiResult<Json<WebhookEndpointList>> {
        let endpoints = state.dream.webhook_endpoints(auth.tenant()).await?;
        Ok(Json(WebhookEndpointList {
            data: endpoints.into_iter().map(Into::into).collect(),
        }))
    }

    /// Get an endpoint.
    #[oai(
        path = "/endpoints/:id",
        method = "get",
        operation_id = "getWebhookEndpoint"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// `we_…`.
        id: Path<String>,
    ) -> ApiResult<Json<WebhookEndpointDto>> {
        let endpoint = state.dream.webhook_endpoint(auth.tenant(), &id.0).await?;
        Ok(Json(endpoint.into()))
    }

    /// Get an endpoint's signing secret.
    #[oai(
        path = "/endpoints/:id/secret",
        method = "get",
        operation_id = "getWebhookEndpointSecret"
    )]
    async fn secret(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// `we_…`.
        id: Path<String>,
    ) -> ApiResult<Json<WebhookSecretDto>> {
        let (_, secret) = auth
            .dream(&state)
            .reveal_webhook_endpoint_secret(auth.tenant(), &id.0)
            .await?;
        Ok(Json(WebhookSecretDto {
            secret: secret.expose().to_owned(),
        }))
    }

    /// Change an endpoint: URL, event types, description; enable, pause or
    /// rotate its secret.
    #[oai(
        path = "/endpoints/:id",
        method = "patch",
        operation_id = "updateWebhookEndpoint"
    )]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// `we_…`.
        id: Path<String>,
        body: JsonBody<UpdateWebhookEndpointRequest>,
    ) -> ApiResult<Json<WebhookEndpointDto>> {
        let req = body.0;
        let patch = EndpointPatch {
            url: req.url,
            description: req.description.into(),
            filter: filter(req.event_types)?,
            enabled: req.enabled,
            rotate_secret: req.rotate_secret.unwrap_or(false),
        };
        let endpoint = auth
            .dream(&state)
            .update_webhook_endpoint(auth.tenant(), &id.0, patch)
            .await?;
        Ok(Json(endpoint.into()))
    }

    /// Delete an endpoint and its delivery log.
    #[oai(
        path = "/endpoints/:id",
        method = "delete",
        operation_id = "deleteWebhookEndpoint"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// `we_…`.
        id: Path<String>,
    ) -> ApiResult<Json<DeletedWebhookEndpoint>> {
        auth.dream(&state)
            .delete_webhook_endpoint(auth.tenant(), &id.0)
            .await?;
        Ok(Json(DeletedWebhookEndpoint {
            id: id.0,
            deleted: true,
        }))
    }

    /// An endpoint's deliveries, newest first.
    #[oai(
        path = "/endpoints/:id/deliveries",
        method = "get",
        operation_id = "listWebhookDeliveries"
    )]
    async fn deliveries(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// `we_…`.
        id: Path<String>,
        /// Page size, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// The last id of the previous page.
        #[oai(
            name = "startingAfter",
            validator(pattern = r"^dlv_[0-9A-Za-z]{1,64}$")
        )]
        starting_after: Query<Option<String>>,
    ) -> ApiResult<Json<DeliveryList>> {
        let page = page(limit.0, starting_after.0, DeliveryId::parse, "dlv_…")?;
        let page = state
            .dream
            .webhook_deliveries(auth.tenant(), &id.0, &page)
            .await?;
        Ok(Json(DeliveryList {
            data: page.data.into_iter().map(Into::into).collect(),
            has_more: page.has_more,
        }))
    }

    /// A delivery with every attempt: time, status, latency, error.
    #[oai(
        path = "/deliveries/:id",
        method = "get",
        operation_id = "getWebhookDelivery"
    )]
    async fn delivery(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// `dlv_…`.
        id: Path<String>,
    ) -> ApiResult<Json<DeliveryDetail>> {
        let (delivery, attempts) = state.dream.webhook_delivery(auth.tenant(), &id.0).await?;
        Ok(Json(DeliveryDetail {
            delivery: delivery.into(),
            attempts: attempts.into_iter().map(Into::into).collect(),
        }))
    }

    /// Send a delivery again now, whatever its state (the receiver sees the same
    /// `webhook-id`). A disabled endpoint must be enabled first.
    #[oai(
        path = "/deliveries/:id/retry",
        method = "post",
        operation_id = "retryWebhookDelivery"
    )]
    async fn retry(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// `dlv_…`.
        id: Path<String>,
        /// Makes a retry of this call safe.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKeyHeader>>,
    ) -> ApiResult<Queued> {
        let delivery = state
            .dream
            .retry_webhook_delivery(auth.tenant(), &id.0)
            .await?;
        Ok(Queued::Queued(Json(delivery.into())))
    }
}
