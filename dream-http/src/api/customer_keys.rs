//! Customer key routes: issue, list, revoke and roll a customer's `ck_…` keys,
//! and verify one (`POST /api/keys/verify`), counting it against the plan.

use dream_core::{CustomerKeyId, NewCustomerKey};
use poem::web::Data;
use poem_openapi::{
    param::{Header, Path},
    payload::Json,
    ApiResponse, OpenApi,
};

use super::ApiTags;
use crate::{
    auth::SecretKeyAuth,
    body::{JsonBody, OptionalJsonBody},
    dto::{
        CreateCustomerKeyRequest, CustomerKeyDto, CustomerKeyList, DirectJson,
        IssuedCustomerKeyDto, RollKeyRequest, RolledCustomerKeyDto, VerifyKeyRequest,
        VerifyKeyResponse,
    },
    error::{ApiError, ApiResult},
    header_token::IdempotencyKeyHeader,
    state::AppState,
};

/// Customer keys and their verification.
pub struct CustomerKeysApi;

/// An issued customer key.
#[derive(ApiResponse)]
enum Issued {
    /// Issued; the key is in this response only.
    #[oai(status = 201)]
    Created(Json<IssuedCustomerKeyDto>),
}

/// A rolled customer key.
#[derive(ApiResponse)]
enum Rolled {
    /// Rolled; the new key is in this response only.
    #[oai(status = 201)]
    Created(Json<RolledCustomerKeyDto>),
}

/// A key id from the path; a malformed one names no key (404, like a missing one).
fn key_id(raw: &str) -> Result<CustomerKeyId, ApiError> {
    CustomerKeyId::parse(raw).ok_or_else(|| ApiError::not_found("key"))
}

#[OpenApi(tag = "ApiTags::CustomerKeys")]
impl CustomerKeysApi {
    /// Issue an API key to a customer (`ck_test_…` / `ck_live_…` by the mode of
    /// your key). The key is in this response only; dream keeps its digest.
    #[oai(
        path = "/api/customers/:id/keys",
        method = "post",
        operation_id = "createCustomerKey"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// `usr_…` or your external id.
        id: Path<String>,
        body: OptionalJsonBody<CreateCustomerKeyRequest>,
        /// Makes a retry safe: same key and body → same response (replayed only
        /// with a master key configured, since it holds the new key).
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKeyHeader>>,
    ) -> ApiResult<Issued> {
        let req = body.0;
        let issued = auth
            .dream(&state)
            .issue_customer_key_with(
                auth.tenant(),
                &id.0,
                NewCustomerKey {
                    name: req.name,
                    expires_at: req.expires_at,
                    meter: req.meter,
                    rate_per_minute: req.rate_per_minute,
                },
            )
            .await?;
        Ok(Issued::Created(Json(IssuedCustomerKeyDto {
            secret: issued.secret.expose_secret().to_owned(),
            key: issued.record.into(),
        })))
    }

    /// List a customer's keys, oldest first (never the keys themselves).
    #[oai(
        path = "/api/customers/:id/keys",
        method = "get",
        operation_id = "listCustomerKeys"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// `usr_…` or your external id.
        id: Path<String>,
    ) -> ApiResult<Json<CustomerKeyList>> {
        let keys = state.dream.list_customer_keys(auth.tenant(), &id.0).await?;
        Ok(Json(CustomerKeyList {
            data: keys.into_iter().map(Into::into).collect(),
            has_more: false,
        }))
    }

    /// Revoke a customer's key at once: `REVOKED` here now, and from every other
    /// server process within the cache bound (`DREAM_CACHE_TTL_MS`, 1 s).
    #[oai(
        path = "/api/customers/:id/keys/:keyId",
        method = "delete",
        operation_id = "revokeCustomerKey"
    )]
    async fn revoke(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// `usr_…` or your external id.
        id: Path<String>,
        /// The key (`ckey_…`).
        #[oai(name = "keyId")]
        key: Path<String>,
    ) -> ApiResult<Json<CustomerKeyDto>> {
        let record = auth
            .dream(&state)
            .revoke_customer_key(auth.tenant(), &id.0, &key_id(&key.0)?)
            .await?;
        Ok(Json(record.into()))
    }

    /// Roll a customer's key: a new key now, the old one expiring after
    /// `overlapSeconds` (0 to 2592000 = 30 days; default 0 = at once). An earlier
    /// expiry of the old key is kept. A revoked or expired key cannot be rolled
    /// (409 `conflict`): issue a new one.
    #[oai(
        path = "/api/customers/:id/keys/:keyId/roll",
        method = "post",
        operation_id = "rollCustomerKey"
    )]
    async fn roll(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// `usr_…` or your external id.
        id: Path<String>,
        /// The key (`ckey_…`).
        #[oai(name = "keyId")]
        key: Path<String>,
        body: OptionalJsonBody<RollKeyRequest>,
        /// Makes a retry safe: same key and body → same response (replayed only
        /// with a master key configured, since it holds the new key).
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKeyHeader>>,
    ) -> ApiResult<Rolled> {
        let key = key_id(&key.0)?;
        // Out of chrono's range is out of ours too: the service refuses it by name.
        let overlap = chrono::Duration::try_seconds(body.0.overlap_seconds.unwrap_or(0))
            .unwrap_or(chrono::Duration::MAX);
        let rolled = auth
            .dream(&state)
            .roll_customer_key(auth.tenant(), &id.0, &key, overlap)
            .await?;
        Ok(Rolled::Created(Json(RolledCustomerKeyDto {
            secret: rolled.issued.secret.expose_secret().to_owned(),
            key: rolled.issued.record.into(),
            rolled: rolled.old.into(),
        })))
    }

    /// Verify a customer's key and, with `amount`, count it against the
    /// customer's plan in the same atomic decision as `POST /api/data`.
    ///
    /// Always 200 with a verdict: branch on `valid`, read `code` for why
    /// (`VALID`, `NOT_FOUND`, `REVOKED`, `EXPIRED`, `USAGE_EXCEEDED`,
    /// `RATE_LIMITED`). Another app's key, the other mode's key, a made-up key
    /// and a deleted customer's key are all `NOT_FOUND`. A refused amount counts
    /// nothing. Errors are only for a bad request (400), a bad secret key (401)
    /// or an unreachable store (503: usage fails closed).
    #[oai(path = "/api/keys/verify", method = "post", operation_id = "verifyKey")]
    async fn verify(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        body: JsonBody<VerifyKeyRequest>,
        /// Makes a counted retry safe: same key and request → same response,
        /// counted once.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<IdempotencyKeyHeader>>,
    ) -> ApiResult<DirectJson<VerifyKeyResponse>> {
        let req = body.0;
        let verdict = state
            .dream
            .verify_customer_key(
                auth.tenant(),
                &req.key,
                req.meter.as_deref(),
                req.amount,
                idempotency_key.0.as_ref().map(|k| k.0.as_str()),
            )
            .await?;
        Ok(DirectJson(verdict.into()))
    }
}
