//! `GET /api/tiers`: the tiers on offer, for a publishable or secret key.

use poem::web::Data;
use poem_openapi::{payload::Json, OpenApi};

use super::ApiTags;
use crate::{
    auth::AnyKeyAuth,
    dto::{TierDto, TierList},
    error::ApiResult,
    state::AppState,
};

/// Pricing tiers.
pub struct TiersApi;

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Tiers")]
impl TiersApi {
    /// List the tiers on offer (a publishable key is enough).
    #[oai(path = "/tiers", method = "get", operation_id = "listTiers")]
    async fn list(&self, state: Data<&AppState>, auth: AnyKeyAuth) -> ApiResult<Json<TierList>> {
        let config = state.dream.tier_config(auth.tenant()).await?;
        Ok(Json(TierList {
            tiers: config.active().map(TierDto::from).collect(),
        }))
    }
}
