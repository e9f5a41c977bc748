use poem_openapi::{payload::Json, OpenApi};

use super::ApiTags;
use crate::dto::Health;

/// Liveness.
pub struct HealthApi;

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Health check.
    #[oai(path = "/health", method = "get", operation_id = "getHealth")]
    async fn health(&self) -> Json<Health> {
        Json(Health {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        })
    }
}
