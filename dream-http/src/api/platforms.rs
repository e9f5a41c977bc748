//! Operator routes for platforms: create, keys, Stripe connection, tier sync, promote.

use dream_core::{Mode, Tenant};
use poem::web::Data;
use poem_openapi::{
    param::{Header, Path, Query},
    payload::Json,
    ApiResponse, OpenApi,
};

use super::{admin::platform_id, audit_page, unknown_cursor, ApiTags};
use crate::{
    auth::AdminAuth,
    body::{JsonBody, OptionalJsonBody},
    dto::{
        AuditEntryDto, AuditList, CreatePlatformRequest, DirectConnectRequest, ModeDto,
        PlatformDto, PlatformSettingsDto, PriceIdDto, StripeConnectionDto, TierDto,
        TierSyncResponse, UpdatePlatformRequest,
    },
    error::ApiResult,
    header_token::IdempotencyKeyHeader,
    state::AppState,
};

/// Operator endpoints for platforms and their Stripe connections.
pub struct PlatformsApi;

#[derive(ApiResponse)]
enum PlatformCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<PlatformDto>),
}

/// The tenant of an existing platform, or 404 (400 for a malformed id).
async fn existing_tenant(state: &AppState, raw: &str, mode: ModeDto) -> ApiResult<Tenant> {
    let platform = platform_id(raw, "platform_id")?;
    state.dream.platform(&platform).await?;
    Ok(Tenant::new(platform, mode.into()))
}

async fn sync_response(
    state: &AppState,
    tenant: &Tenant,
    config: dream_core::TierConfig,
) -> ApiResult<Json<TierSyncResponse>> {
    let price_ids = state.dream.price_ids(tenant, &config).await?;
    Ok(Json(TierSyncResponse {
        platform_id: tenant.platform.to_string(),
        mode: tenant.mode.into(),
        tiers: config.tiers.iter().map(TierDto::from).collect(),
        price_ids: price_ids.into_iter().map(PriceIdDto::from).collect(),
    }))
}

#[OpenApi(tag = "ApiTags::Admin")]
impl PlatformsApi {
    /// Create a platform (an app) without tiers, e.g. to connect Stripe before `/create-products`.
    #[oai(
        path = "/admin/platforms",
        method = "post",
        operation_id = "createPlatform"
    )]
    async fn create_platform(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        /// Makes a retry safe: same key and body → same platform.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKeyHeader>>,
        body: OptionalJsonBody<CreatePlatformRequest>,
    ) -> ApiResult<PlatformCreated> {
        let platform = auth.dream(&state).create_platform(body.0.name).await?;
        Ok(PlatformCreated::Created(Json(PlatformDto {
            id: platform.id.to_string(),
            name: platform.name.into(),
            created_at: platform.created_at,
        })))
    }

    /// Change a platform's settings: the browser origins allowed to read its
    /// publishable-key endpoints (CORS).
    ///
    /// `GET /api/tiers` and `GET /api/products` answer a browser at one of
    /// `allowedOrigins` with `Access-Control-Allow-Origin`; every other origin,
    /// and every secret-key endpoint, gets no CORS permission.
    #[oai(
        path = "/admin/platforms/:platform_id",
        method = "patch",
        operation_id = "updatePlatform"
    )]
    async fn update_platform(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        /// The platform (`plt_…`).
        #[oai(name = "platform_id", validator(pattern = r"^plt_[0-9A-Za-z]{1,64}$"))]
        platform_id_param: Path<String>,
        body: JsonBody<UpdatePlatformRequest>,
    ) -> ApiResult<Json<PlatformSettingsDto>> {
        let platform = platform_id(&platform_id_param.0, "platform_id")?;
        let dream = auth.dream(&state);
        let allowed_origins = match body.0.allowed_origins {
            Some(origins) => dream.set_allowed_origins(&platform, &origins).await?,
            None => dream.allowed_origins(&platform).await?,
        };
        Ok(Json(PlatformSettingsDto {
            id: platform.to_string(),
            allowed_origins,
        }))
    }

    /// A platform's audit log, newest first: every management action, its actor
    /// (`operator`, `acc_…`, `key_…`), object and request id. Never a secret.
    #[oai(
        path = "/admin/platforms/:platform_id/audit",
        method = "get",
        operation_id = "listPlatformAuditEntries"
    )]
    async fn audit(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The platform (`plt_…`).
        #[oai(name = "platform_id", validator(pattern = r"^plt_[0-9A-Za-z]{1,64}$"))]
        platform_id_param: Path<String>,
        /// Only this mode's entries (and the platform-wide ones); absent: all.
        mode: Query<Option<ModeDto>>,
        /// Page size, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// The last id of the previous page.
        #[oai(
            name = "startingAfter",
            validator(pattern = r"^aud_[0-9A-Za-z]{1,64}$")
        )]
        starting_after: Query<Option<String>>,
    ) -> ApiResult<Json<AuditList>> {
        let platform = platform_id(&platform_id_param.0, "platform_id")?;
        let page = audit_page(limit.0, starting_after.0)?;
        // The platform first, so a missing one is a 404 and not a bad cursor.
        state.dream.platform(&platform).await?;
        let page = state
            .dream
            .audit_log(&platform, mode.0.map(Mode::from), &page)
            .await
            .map_err(unknown_cursor)?;
        Ok(Json(AuditList {
            data: page.data.into_iter().map(AuditEntryDto::from).collect(),
            has_more: page.has_more,
        }))
    }

    /// A platform's Stripe connection in one mode (never a key).
    #[oai(
        path = "/admin/platforms/:platform_id/stripe",
        method = "get",
        operation_id = "getStripeConnection"
    )]
    async fn get_connection(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The platform (`plt_…`).
        #[oai(name = "platform_id", validator(pattern = r"^plt_[0-9A-Za-z]{1,64}$"))]
        platform_id_param: Path<String>,
        /// The mode.
        mode: Query<ModeDto>,
    ) -> ApiResult<Json<StripeConnectionDto>> {
        let tenant = existing_tenant(&state, &platform_id_param.0, mode.0).await?;
        let connection = state.dream.billing_connection(&tenant).await?;
        Ok(Json(StripeConnectionDto::new(
            tenant.platform.to_string(),
            mode.0,
            connection.as_ref(),
        )))
    }

    /// Direct mode: bill with the developer's own Stripe key (stored encrypted, never returned).
    ///
    /// For a developer who self-hosts dream for one app. Replaces any connection of
    /// the mode, webhook secret included (send `webhookSecret` with every PUT). Needs
    /// `DREAM_MASTER_KEY` on the server. Register a webhook endpoint on your Stripe
    /// account at `/webhook/stripe/{platformId}` and send its `whsec_…` here.
    #[oai(
        path = "/admin/platforms/:platform_id/stripe",
        method = "put",
        operation_id = "connectStripeDirect"
    )]
    async fn connect_direct(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        /// The platform (`plt_…`).
        #[oai(name = "platform_id", validator(pattern = r"^plt_[0-9A-Za-z]{1,64}$"))]
        platform_id_param: Path<String>,
        body: JsonBody<DirectConnectRequest>,
    ) -> ApiResult<Json<StripeConnectionDto>> {
        let platform = platform_id(&platform_id_param.0, "platform_id")?;
        let req = body.0;
        let tenant = Tenant::new(platform, req.mode.into());
        let connection = auth
            .dream(&state)
            .connect_stripe_direct(&tenant, &req.secret_key, req.webhook_secret.as_deref())
            .await?;
        Ok(Json(StripeConnectionDto::new(
            tenant.platform.to_string(),
            req.mode,
            Some(&connection),
        )))
    }

    /// Disconnect a platform's Stripe account in one mode (Stripe objects are left alone).
    #[oai(
        path = "/admin/platforms/:platform_id/stripe",
        method = "delete",
        operation_id = "disconnectStripe"
    )]
    async fn disconnect(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        /// The platform (`plt_…`).
        #[oai(name = "platform_id", validator(pattern = r"^plt_[0-9A-Za-z]{1,64}$"))]
        platform_id_param: Path<String>,
        /// The mode.
        mode: Query<ModeDto>,
    ) -> ApiResult<Json<StripeConnectionDto>> {
        let tenant = existing_tenant(&state, &platform_id_param.0, mode.0).await?;
        auth.dream(&state).disconnect_stripe(&tenant).await?;
        Ok(Json(StripeConnectionDto::new(
            tenant.platform.to_string(),
            mode.0,
            None,
        )))
    }

    /// Sync a mode's tiers to Stripe now (e.g. right after connecting); creates nothing twice.
    #[oai(
        path = "/admin/platforms/:platform_id/sync",
        method = "post",
        operation_id = "syncTiers"
    )]
    async fn sync(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        /// The platform (`plt_…`).
        #[oai(name = "platform_id", validator(pattern = r"^plt_[0-9A-Za-z]{1,64}$"))]
        platform_id_param: Path<String>,
        /// The mode.
        mode: Query<ModeDto>,
    ) -> ApiResult<Json<TierSyncResponse>> {
        let tenant = existing_tenant(&state, &platform_id_param.0, mode.0).await?;
        let config = auth.dream(&state).sync_tiers(&tenant).await?;
        sync_response(&state, &tenant, config).await
    }

    /// Promote test to live: copy the test mode's offered tiers to live mode and sync them to the live Stripe account.
    ///
    /// Stripe ids are per mode, so live products and prices are created on the
    /// live account; live keys are not issued here (use the keys endpoint).
    #[oai(
        path = "/admin/platforms/:platform_id/promote",
        method = "post",
        operation_id = "promoteToLive"
    )]
    async fn promote(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        /// The platform (`plt_…`).
        #[oai(name = "platform_id", validator(pattern = r"^plt_[0-9A-Za-z]{1,64}$"))]
        platform_id_param: Path<String>,
        /// Makes a retry safe.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKeyHeader>>,
    ) -> ApiResult<Json<TierSyncResponse>> {
        let platform = platform_id(&platform_id_param.0, "platform_id")?;
        let config = auth.dream(&state).promote_to_live(&platform).await?;
        sync_response(&state, &Tenant::new(platform, Mode::Live), config).await
    }
}
