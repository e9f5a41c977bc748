//! Credit routes: grant prepaid credits to a customer
//! (`POST /api/customers/{id}/credits`); tracks spend them after the allowance.

use poem::web::Data;
use poem_openapi::{
    param::{Header, Path},
    payload::Json,
    ApiResponse, OpenApi,
};

use super::ApiTags;
use crate::{
    auth::SecretKeyAuth,
    body::JsonBody,
    dto::{CreditsGrantedResponse, GrantCreditsRequest},
    error::ApiResult,
    header_token::IdempotencyKeyHeader,
    state::AppState,
};

/// Prepaid credits.
pub struct CreditsApi;

/// A grant.
#[derive(ApiResponse)]
enum Granted {
    /// Granted (or, with a repeated `Idempotency-Key`, granted before).
    #[oai(status = 200)]
    Ok(Json<CreditsGrantedResponse>),
}

#[OpenApi(tag = "ApiTags::Usage")]
impl CreditsApi {
    /// Grant credits of a meter to a customer. Tracks spend them after the plan's
    /// allowance, all or nothing; `GET /api/entitlements` shows the balance.
    ///
    /// With `Idempotency-Key` the grant happens once: a retry answers the first
    /// grant's balance with `replayed: true`. Emits `credits.granted`.
    #[oai(
        path = "/api/customers/:id/credits",
        method = "post",
        operation_id = "grantCredits"
    )]
    async fn grant(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// `usr_…` or your external id.
        id: Path<String>,
        body: JsonBody<GrantCreditsRequest>,
        /// Makes the grant happen once, however often it is sent.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<IdempotencyKeyHeader>>,
    ) -> ApiResult<Granted> {
        let req = body.0;
        let grant_id = idempotency_key.0.map(|key| format!("idem_{}", key.0));
        let granted = auth
            .dream(&state)
            .grant_credits(
                auth.tenant(),
                &id.0,
                &req.meter,
                req.amount,
                req.reason.as_deref().unwrap_or(""),
                grant_id.as_deref(),
            )
            .await?;
        Ok(Granted::Ok(Json(CreditsGrantedResponse {
            customer_id: granted.customer.to_string(),
            meter: granted.meter,
            amount: granted.amount,
            balance: granted.balance,
            grant_id: granted.grant_id,
            replayed: granted.replayed,
        })))
    }
}
