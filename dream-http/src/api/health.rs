//! Liveness (`/health`) and readiness (`/ready`: the store and Redis answer).

use poem::web::Data;
use poem_openapi::{payload::Json, ApiResponse, OpenApi};

use super::ApiTags;
use crate::{
    dto::{Health, Ready},
    error::{ErrorBody, ErrorCode},
    readiness, AppState,
};

/// Liveness and readiness.
pub struct HealthApi;

/// The liveness answer.
#[derive(ApiResponse)]
enum Alive {
    /// The server is up.
    #[oai(status = 200)]
    Ok(Json<Health>),
}

/// The readiness answer.
// Built once per probe request and moved into the response, like `ApiError`.
#[allow(clippy::large_enum_variant)]
#[derive(ApiResponse)]
enum Readiness {
    /// Every backing service answered.
    #[oai(status = 200)]
    Ready(Json<Ready>),
    /// A backing service did not answer in time: `store_unavailable`, with each
    /// check's state in `checks`. Take this process out of rotation until it
    /// answers 200 again.
    #[oai(status = 503)]
    NotReady(
        Json<ErrorBody>,
        /// Seconds to wait before asking again.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Health check.
    ///
    /// Liveness only: answers 200 while the process runs, whatever its database
    /// does. Use `/ready` to decide whether to send it traffic.
    #[oai(path = "/health", method = "get", operation_id = "getHealth")]
    async fn health(&self) -> Alive {
        Alive::Ok(Json(Health {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }))
    }

    /// Readiness check.
    ///
    /// Asks every backing service this process uses (the database; Redis when
    /// configured), each within a short timeout: 200 when all answer, 503
    /// `store_unavailable` naming the failed checks otherwise.
    #[oai(path = "/ready", method = "get", operation_id = "getReady")]
    async fn ready(&self, state: Data<&AppState>) -> Readiness {
        let (checks, ready) = readiness::run(&state.readiness, state.readiness_timeout).await;
        if ready {
            return Readiness::Ready(Json(Ready {
                status: "ready".into(),
                checks,
            }));
        }
        let failed: Vec<&str> = checks
            .iter()
            .filter(|(_, state)| *state != readiness::OK)
            .map(|(name, _)| name.as_str())
            .collect();
        let message = format!(
            "Not ready: {} did not answer; retry shortly.",
            failed.join(", ")
        );
        Readiness::NotReady(
            Json(ErrorBody {
                retry_after: Some(1),
                checks: Some(checks),
                ..ErrorBody::new(ErrorCode::StoreUnavailable, "Service unavailable", message)
            }),
            1,
        )
    }
}
