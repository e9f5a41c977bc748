//! Operator routes behind the admin token: `/create-products` and key pairs.

use dream_core::{KeyId, Mode, PlatformId, Tenant, Tier};
use poem::web::Data;
use poem_openapi::{
    param::{Header, Path, Query},
    payload::{Json, PlainText},
    ApiResponse, OpenApi,
};

use crate::header_token::IdempotencyKeyHeader;

use super::ApiTags;
use crate::{
    auth::AdminAuth,
    body::{JsonBody, OptionalJsonBody},
    dto::{
        AccountDto, CreateKeyRequest, CreateProductsRequest, CreateProductsResponse,
        CredentialsRequest, IssuedKeyDto, KeyDto, KeyList, ModeDto, RollKeyRequest, RolledKeyDto,
    },
    error::{ApiError, ApiResult},
    state::AppState,
};

/// Operator endpoints.
pub struct AdminApi;

/// The metrics page.
#[derive(ApiResponse)]
enum MetricsPage {
    /// Every metric of this process, in the OpenMetrics text format that Prometheus scrapes.
    #[oai(
        status = 200,
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"
    )]
    Ok(PlainText<String>),
}

/// A rolled key pair.
#[derive(ApiResponse)]
pub(super) enum KeyRolled {
    /// Rolled; the new secret is in this response only.
    #[oai(status = 201)]
    Created(Json<RolledKeyDto>),
}

/// An account the operator created.
#[derive(ApiResponse)]
enum AccountCreated {
    /// Created; its owner logs in with the email and password given.
    #[oai(status = 201)]
    Created(Json<AccountDto>),
}

/// A newly issued key pair.
#[derive(ApiResponse)]
enum KeyIssued {
    /// Issued; the secret is in this response only.
    #[oai(status = 201)]
    Created(Json<IssuedKeyDto>),
}

pub(super) fn platform_id(raw: &str, field: &str) -> Result<PlatformId, ApiError> {
    PlatformId::parse(raw)
        .ok_or_else(|| ApiError::not_found("platform"))
        .map_err(|e| {
            if raw.starts_with(PlatformId::PREFIX) {
                e
            } else {
                ApiError::invalid(field, format!("{field} must be a platform id (plt_…)"))
            }
        })
}

#[OpenApi(tag = "ApiTags::Admin")]
impl AdminApi {
    /// Configure a tenant's tiers, creating the platform if needed; returns its keys.
    ///
    /// Keys are issued only when the tenant has no active pair yet; otherwise the
    /// response carries a publishable key and no secret (a secret is shown once).
    #[oai(
        path = "/create-products",
        method = "post",
        operation_id = "createProducts"
    )]
    async fn create_products(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        body: JsonBody<CreateProductsRequest>,
        /// Makes a retry safe: same key and body → same response (with the same secret).
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKeyHeader>>,
    ) -> ApiResult<Json<CreateProductsResponse>> {
        let req = body.0;
        let tiers = req
            .tiers
            .into_iter()
            .enumerate()
            .map(|(i, t)| t.into_tier(i))
            .collect::<Result<Vec<Tier>, _>>()?;
        let platform = match req.platform_id {
            Some(raw) => Some(platform_id(&raw, "/platformId")?),
            None => None,
        };
        let created = auth
            .dream(&state)
            .create_products(platform.as_ref(), req.mode.into(), tiers)
            .await?;
        Ok(Json(created.into()))
    }

    /// Issue a key pair for a platform.
    #[oai(
        path = "/admin/platforms/:platform_id/keys",
        method = "post",
        operation_id = "createKey"
    )]
    async fn create_key(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        /// The platform (`plt_…`).
        #[oai(name = "platform_id", validator(pattern = r"^plt_[0-9A-Za-z]{1,64}$"))]
        platform_id_param: Path<String>,
        body: JsonBody<CreateKeyRequest>,
        /// Makes a retry safe: same key and body → same response (with the same secret).
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKeyHeader>>,
    ) -> ApiResult<KeyIssued> {
        let platform = platform_id(&platform_id_param.0, "platform_id")?;
        let req = body.0;
        let issued = auth
            .dream(&state)
            .issue_key(
                &Tenant::new(platform, req.mode.into()),
                req.label,
                req.expires_at,
            )
            .await?;
        Ok(KeyIssued::Created(Json(IssuedKeyDto {
            secret_key: issued.secret.expose_secret().to_owned(),
            key: issued.record.into(),
        })))
    }

    /// List a platform's key pairs (secrets masked).
    #[oai(
        path = "/admin/platforms/:platform_id/keys",
        method = "get",
        operation_id = "listKeys"
    )]
    async fn list_keys(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The platform (`plt_…`).
        #[oai(name = "platform_id", validator(pattern = r"^plt_[0-9A-Za-z]{1,64}$"))]
        platform_id_param: Path<String>,
        /// Only this mode's pairs.
        mode: Query<Option<ModeDto>>,
    ) -> ApiResult<Json<KeyList>> {
        let platform = platform_id(&platform_id_param.0, "platform_id")?;
        let keys = state
            .dream
            .list_keys(&platform, mode.0.map(Mode::from))
            .await?;
        Ok(Json(KeyList {
            data: keys.into_iter().map(KeyDto::from).collect(),
            has_more: false,
        }))
    }

    /// Revoke a key pair at once.
    #[oai(
        path = "/admin/keys/:key_id",
        method = "delete",
        operation_id = "revokeKey"
    )]
    async fn revoke_key(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        /// The pair (`key_…`).
        key_id: Path<String>,
    ) -> ApiResult<Json<KeyDto>> {
        let id = KeyId::parse(&key_id.0).ok_or_else(|| ApiError::not_found("key"))?;
        let record = auth.dream(&state).revoke_key(&id).await?;
        Ok(Json(record.into()))
    }

    /// Roll a key pair: a new pair now, the old one expiring after `overlapSeconds`.
    ///
    /// As Stripe and Unkey do: the new pair (same mode, same label, same expiry)
    /// is in this response only; the old pair keeps working for `overlapSeconds`
    /// (0 to 2592000 = 30 days; default 0 = it stops at once), so your servers can
    /// switch without downtime. An earlier expiry of the old pair is kept. A
    /// revoked or expired pair cannot be rolled (409 `conflict`): issue a new one.
    #[oai(
        path = "/admin/keys/:key_id/roll",
        method = "post",
        operation_id = "rollKey"
    )]
    async fn roll_key(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        /// The pair (`key_…`).
        key_id: Path<String>,
        body: OptionalJsonBody<RollKeyRequest>,
        /// Makes a retry safe: same key and body → same response (with the same secret).
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKeyHeader>>,
    ) -> ApiResult<KeyRolled> {
        let id = KeyId::parse(&key_id.0).ok_or_else(|| ApiError::not_found("key"))?;
        // Out of chrono's range is out of ours too: the service refuses it by name.
        let overlap = chrono::Duration::try_seconds(body.0.overlap_seconds.unwrap_or(0))
            .unwrap_or(chrono::Duration::MAX);
        let rolled = auth.dream(&state).roll_key(&id, overlap).await?;
        Ok(KeyRolled::Created(Json(RolledKeyDto {
            secret_key: rolled.issued.secret.expose_secret().to_owned(),
            key: rolled.issued.record.into(),
            rolled: rolled.old.into(),
        })))
    }

    /// Create a developer account, whether sign-up is open or closed
    /// (`DREAM_SIGNUP`).
    ///
    /// The way to give someone an account on a server with closed sign-up: they
    /// log in with this email and password, and should change the password
    /// (`POST /account/password`). 409 `conflict` if the email has an account.
    #[oai(
        path = "/admin/accounts",
        method = "post",
        operation_id = "createAccount"
    )]
    async fn create_account(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        body: JsonBody<CredentialsRequest>,
        /// Makes a retry safe: same key and body → same response.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKeyHeader>>,
    ) -> ApiResult<AccountCreated> {
        let req = body.0;
        let account = state.dream.create_account(&req.email, req.password).await?;
        // Not the email: the log is no place for it. The id finds the account.
        tracing::info!(account = %account.id, "account created with the admin token");
        let plan = state.dream.account_plan(&account).await?;
        Ok(AccountCreated::Created(Json(AccountDto::new(
            &account,
            plan,
            Vec::new(),
        ))))
    }

    /// Metrics of this process in the OpenMetrics text format: requests and their
    /// latency by operation, store call latency, webhooks received (by source:
    /// applied, duplicates, ignored, failures) and deliveries to developers'
    /// endpoints (attempts, successes, failures, exhausted, disabled).
    #[oai(path = "/admin/metrics", method = "get", operation_id = "getMetrics")]
    async fn metrics(&self, _auth: AdminAuth) -> ApiResult<MetricsPage> {
        Ok(MetricsPage::Ok(PlainText(crate::metrics::render())))
    }
}
