//! `GET /api/tiers`: the tiers on offer, for a publishable or secret key.

use poem::web::Data;
use poem_openapi::{param::Header, OpenApi};

use super::ApiTags;
use crate::{
    auth::AnyKeyAuth,
    cors::PublicResponse,
    dto::{TierDto, TierList},
    error::ApiResult,
    state::AppState,
};

/// Pricing tiers.
pub struct TiersApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Tiers")]
impl TiersApi {
    /// List the tiers on offer (a publishable key is enough).
    ///
    /// Callable from a browser on one of the platform's `allowedOrigins` (CORS).
    #[oai(path = "/tiers", method = "get", operation_id = "listTiers")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: AnyKeyAuth,
        /// Sent by browsers; answered with `Access-Control-Allow-Origin` when allowed.
        #[oai(name = "Origin")]
        origin: Header<Option<String>>,
    ) -> ApiResult<PublicResponse<TierList>> {
        let config = state.dream.tier_config(auth.tenant()).await?;
        let tiers = TierList {
            tiers: config.active().map(TierDto::from).collect(),
        };
        Ok(PublicResponse::new(&state, auth.tenant(), origin.0, tiers).await)
    }
}
