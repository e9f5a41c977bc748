//! Apps of the signed-in account, and the account front door's own operations on
//! one app: tiers, keys, Stripe. The operations shared with `/api` (customers,
//! dashboard, events, webhooks) reach their `/api` handlers through
//! `account_scope`; the ones here call the same core services as the admin routes.

use dream_core::{KeyId, Tier};
use poem::web::Data;
use poem_openapi::{
    param::{Path, Query},
    payload::Json,
    ApiResponse, OpenApi,
};

use super::ApiTags;
use crate::{
    auth::{AccountAuth, AppAuth},
    body::{JsonBody, OptionalJsonBody},
    dto::{
        AppCreated, AppDto, AppKeyRequest, AppList, AppRequest, CreateProductsResponse,
        IssuedKeyDto, KeyDto, KeyList, ModeDto, ReplaceTiersRequest, RollKeyRequest, RolledKeyDto,
        StripeConnectionDto, TierDto, TierList, UpdateAppRequest,
    },
    error::{ApiError, ApiResult},
    state::AppState,
};

/// Apps of the signed-in account.
pub struct AppsApi;

#[derive(ApiResponse)]
enum AppCreatedResponse {
    /// Created; the secret key is in this response only.
    #[oai(status = 201)]
    Created(Json<AppCreated>),
}

#[derive(ApiResponse)]
enum KeyIssued {
    /// Issued; the secret is in this response only.
    #[oai(status = 201)]
    Created(Json<IssuedKeyDto>),
}

#[derive(ApiResponse)]
enum Redirect {
    /// Follow `Location` to Stripe.
    #[oai(status = 302)]
    Found(
        /// Stripe's onboarding page.
        #[oai(header = "Location")]
        String,
    ),
}

#[OpenApi(prefix_path = "/account/apps", tag = "ApiTags::Accounts")]
impl AppsApi {
    /// Create an app with a test-mode key pair (the secret key is shown once).
    #[oai(path = "/", method = "post", operation_id = "createApp")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: AccountAuth,
        body: JsonBody<AppRequest>,
    ) -> ApiResult<AppCreatedResponse> {
        let (app, issued) = auth
            .dream(&state)
            .create_app(&auth.0.account.id, body.0.name)
            .await?;
        Ok(AppCreatedResponse::Created(Json(AppCreated {
            app: app.into(),
            secret_key: issued.secret.expose_secret().to_owned(),
            key: issued.record.into(),
        })))
    }

    /// List your apps, oldest first.
    #[oai(path = "/", method = "get", operation_id = "listApps")]
    async fn list(&self, state: Data<&AppState>, auth: AccountAuth) -> ApiResult<Json<AppList>> {
        let apps = state.dream.apps(&auth.0.account.id).await?;
        Ok(Json(AppList {
            data: apps.into_iter().map(AppDto::from).collect(),
            has_more: false,
        }))
    }

    /// Get one of your apps.
    #[oai(path = "/:platformId", method = "get", operation_id = "getApp")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: AppAuth,
        /// The app (`plt_…`).
        #[oai(name = "platformId")]
        _platform_id: Path<String>,
    ) -> ApiResult<Json<AppDto>> {
        let allowed_origins = state.dream.allowed_origins(&auth.0.app.id).await?;
        Ok(Json(AppDto {
            allowed_origins: Some(allowed_origins),
            ..auth.0.app.into()
        }))
    }

    /// Change one of your apps: its name and/or the browser origins allowed to
    /// read its publishable-key endpoints (CORS).
    #[oai(path = "/:platformId", method = "patch", operation_id = "updateApp")]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: AppAuth,
        /// The app (`plt_…`).
        #[oai(name = "platformId")]
        _platform_id: Path<String>,
        body: JsonBody<UpdateAppRequest>,
    ) -> ApiResult<Json<AppDto>> {
        let dream = auth.dream(&state);
        let req = body.0;
        let app = match req.name {
            Some(name) => {
                dream
                    .rename_app(auth.0.account(), &auth.0.app.id, name)
                    .await?
            }
            None => auth.0.app.clone(),
        };
        let allowed_origins = match req.allowed_origins {
            Some(origins) => dream.set_allowed_origins(&app.id, &origins).await?,
            None => dream.allowed_origins(&app.id).await?,
        };
        Ok(Json(AppDto {
            allowed_origins: Some(allowed_origins),
            ..app.into()
        }))
    }

    /// Delete one of your apps: every key pair (both modes) is revoked at once and
    /// the app leaves your account. Its customers and events are kept for the
    /// operator; nothing is removed at Stripe.
    #[oai(path = "/:platformId", method = "delete", operation_id = "deleteApp")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: AppAuth,
        /// The app (`plt_…`).
        #[oai(name = "platformId")]
        _platform_id: Path<String>,
    ) -> ApiResult<Json<AppDto>> {
        let app = auth
            .dream(&state)
            .delete_app(auth.0.account(), &auth.0.app.id)
            .await?;
        Ok(Json(app.into()))
    }

    /// The app's tiers in a mode, archived ones included (as `GET /api/tiers`
    /// lists the offered ones).
    #[oai(
        path = "/:platformId/tiers",
        method = "get",
        operation_id = "getAppTiers"
    )]
    async fn get_tiers(
        &self,
        state: Data<&AppState>,
        auth: AppAuth,
        /// The app (`plt_…`).
        #[oai(name = "platformId")]
        _platform_id: Path<String>,
        /// The mode (default `test`).
        #[oai(name = "mode")]
        _mode: Query<Option<ModeDto>>,
    ) -> ApiResult<Json<TierList>> {
        let config = state.dream.tier_config(&auth.0.tenant).await?;
        Ok(Json(TierList {
            tiers: config.tiers.iter().map(TierDto::from).collect(),
        }))
    }

    /// Replace the app's tiers in a mode and sync them to Stripe when connected
    /// (`/create-products` for your app); issues the mode's first key pair if it
    /// has none. Live mode needs the paid plan when the server has plans.
    #[oai(
        path = "/:platformId/tiers",
        method = "put",
        operation_id = "replaceAppTiers"
    )]
    async fn replace_tiers(
        &self,
        state: Data<&AppState>,
        auth: AppAuth,
        /// The app (`plt_…`).
        #[oai(name = "platformId")]
        _platform_id: Path<String>,
        /// The mode (default `test`).
        #[oai(name = "mode")]
        _mode: Query<Option<ModeDto>>,
        body: JsonBody<ReplaceTiersRequest>,
    ) -> ApiResult<Json<CreateProductsResponse>> {
        let dream = auth.dream(&state);
        let scope = auth.0;
        state
            .dream
            .require_mode_allowed(&scope.signed_in.account, scope.tenant.mode)
            .await?;
        let tiers = body
            .0
            .tiers
            .into_iter()
            .enumerate()
            .map(|(i, t)| t.into_tier(i))
            .collect::<Result<Vec<Tier>, _>>()?;
        let created = dream
            .create_products(Some(&scope.app.id), scope.tenant.mode, tiers)
            .await?;
        Ok(Json(created.into()))
    }

    /// List the app's key pairs in a mode (secrets masked).
    #[oai(
        path = "/:platformId/keys",
        method = "get",
        operation_id = "listAppKeys"
    )]
    async fn list_keys(
        &self,
        state: Data<&AppState>,
        auth: AppAuth,
        /// The app (`plt_…`).
        #[oai(name = "platformId")]
        _platform_id: Path<String>,
        /// The mode (default `test`).
        #[oai(name = "mode")]
        _mode: Query<Option<ModeDto>>,
    ) -> ApiResult<Json<KeyList>> {
        let tenant = &auth.0.tenant;
        let keys = state
            .dream
            .list_keys(&tenant.platform, Some(tenant.mode))
            .await?;
        Ok(Json(KeyList {
            data: keys.into_iter().map(KeyDto::from).collect(),
            has_more: false,
        }))
    }

    /// Issue a key pair in a mode (live needs the paid plan when the server has plans).
    #[oai(
        path = "/:platformId/keys",
        method = "post",
        operation_id = "createAppKey"
    )]
    async fn create_key(
        &self,
        state: Data<&AppState>,
        auth: AppAuth,
        /// The app (`plt_…`).
        #[oai(name = "platformId")]
        _platform_id: Path<String>,
        /// The mode (default `test`).
        #[oai(name = "mode")]
        _mode: Query<Option<ModeDto>>,
        body: OptionalJsonBody<AppKeyRequest>,
    ) -> ApiResult<KeyIssued> {
        let dream = auth.dream(&state);
        let scope = auth.0;
        state
            .dream
            .require_mode_allowed(&scope.signed_in.account, scope.tenant.mode)
            .await?;
        let req = body.0;
        let issued = dream
            .issue_key(&scope.tenant, req.label, req.expires_at)
            .await?;
        Ok(KeyIssued::Created(Json(IssuedKeyDto {
            secret_key: issued.secret.expose_secret().to_owned(),
            key: issued.record.into(),
        })))
    }

    /// Roll one of the app's key pairs: a new pair now, the old one expiring after
    /// `overlapSeconds` (0 to 30 days; default 0). The new secret is in this
    /// response only. Live-mode pairs need the paid plan when the server has plans.
    #[oai(
        path = "/:platformId/keys/:keyId/roll",
        method = "post",
        operation_id = "rollAppKey"
    )]
    async fn roll_key(
        &self,
        state: Data<&AppState>,
        auth: AppAuth,
        /// The app (`plt_…`).
        #[oai(name = "platformId")]
        _platform_id: Path<String>,
        /// The pair (`key_…`).
        #[oai(name = "keyId")]
        key_id: Path<String>,
        body: OptionalJsonBody<RollKeyRequest>,
    ) -> ApiResult<super::admin::KeyRolled> {
        let id = KeyId::parse(&key_id.0).ok_or_else(|| ApiError::not_found("key"))?;
        let dream = auth.dream(&state);
        let key = dream.platform_key(&auth.0.app.id, &id).await?;
        dream
            .require_mode_allowed(&auth.0.signed_in.account, key.tenant.mode)
            .await?;
        // Out of chrono's range is out of ours too: the service refuses it by name.
        let overlap = chrono::Duration::try_seconds(body.0.overlap_seconds.unwrap_or(0))
            .unwrap_or(chrono::Duration::MAX);
        let rolled = dream.roll_key(&id, overlap).await?;
        Ok(super::admin::KeyRolled::Created(Json(RolledKeyDto {
            secret_key: rolled.issued.secret.expose_secret().to_owned(),
            key: rolled.issued.record.into(),
            rolled: rolled.old.into(),
        })))
    }

    /// Revoke one of the app's key pairs at once.
    #[oai(
        path = "/:platformId/keys/:keyId",
        method = "delete",
        operation_id = "revokeAppKey"
    )]
    async fn revoke_key(
        &self,
        state: Data<&AppState>,
        auth: AppAuth,
        /// The app (`plt_…`).
        #[oai(name = "platformId")]
        _platform_id: Path<String>,
        /// The pair (`key_…`).
        #[oai(name = "keyId")]
        key_id: Path<String>,
    ) -> ApiResult<Json<KeyDto>> {
        let id = KeyId::parse(&key_id.0).ok_or_else(|| ApiError::not_found("key"))?;
        let record = auth
            .dream(&state)
            .revoke_platform_key(&auth.0.app.id, &id)
            .await?;
        Ok(Json(record.into()))
    }

    /// The app's Stripe connection in a mode (never a key).
    #[oai(
        path = "/:platformId/stripe",
        method = "get",
        operation_id = "getAppStripe"
    )]
    async fn get_stripe(
        &self,
        state: Data<&AppState>,
        auth: AppAuth,
        /// The app (`plt_…`).
        #[oai(name = "platformId")]
        _platform_id: Path<String>,
        /// The mode (default `test`).
        #[oai(name = "mode")]
        _mode: Query<Option<ModeDto>>,
    ) -> ApiResult<Json<StripeConnectionDto>> {
        let tenant = &auth.0.tenant;
        let connection = state.dream.billing_connection(tenant).await?;
        Ok(Json(StripeConnectionDto::new(
            tenant.platform.to_string(),
            tenant.mode.into(),
            connection.as_ref(),
        )))
    }

    /// Disconnect the app's Stripe account in a mode (Stripe objects are left alone).
    #[oai(
        path = "/:platformId/stripe",
        method = "delete",
        operation_id = "disconnectAppStripe"
    )]
    async fn disconnect_stripe(
        &self,
        state: Data<&AppState>,
        auth: AppAuth,
        /// The app (`plt_…`).
        #[oai(name = "platformId")]
        _platform_id: Path<String>,
        /// The mode (default `test`).
        #[oai(name = "mode")]
        _mode: Query<Option<ModeDto>>,
    ) -> ApiResult<Json<StripeConnectionDto>> {
        let tenant = &auth.0.tenant;
        auth.dream(&state).disconnect_stripe(tenant).await?;
        Ok(Json(StripeConnectionDto::new(
            tenant.platform.to_string(),
            tenant.mode.into(),
            None,
        )))
    }

    /// Start Stripe Connect onboarding for the app in a mode: answers 302 to Stripe
    /// (as `GET /authorize`). Live needs the paid plan when the server has plans.
    #[oai(
        path = "/:platformId/stripe/authorize",
        method = "get",
        operation_id = "authorizeAppStripe"
    )]
    async fn authorize_stripe(
        &self,
        state: Data<&AppState>,
        auth: AppAuth,
        /// The app (`plt_…`).
        #[oai(name = "platformId")]
        _platform_id: Path<String>,
        /// The mode (default `test`).
        #[oai(name = "mode")]
        _mode: Query<Option<ModeDto>>,
    ) -> ApiResult<Redirect> {
        let dream = auth.dream(&state);
        let scope = auth.0;
        state
            .dream
            .require_mode_allowed(&scope.signed_in.account, scope.tenant.mode)
            .await?;
        let url = dream.begin_stripe_connect(&scope.tenant).await?;
        Ok(Redirect::Found(url))
    }
}
