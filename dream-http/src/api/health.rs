use poem_openapi::{payload::Json, ApiResponse, OpenApi};

use super::ApiTags;
use crate::dto::Health;

/// Liveness.
pub struct HealthApi;

/// The liveness answer.
#[derive(ApiResponse)]
enum Alive {
    /// The server is up.
    #[oai(status = 200)]
    Ok(Json<Health>),
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Health check.
    #[oai(path = "/health", method = "get", operation_id = "getHealth")]
    async fn health(&self) -> Alive {
        Alive::Ok(Json(Health {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }))
    }
}
