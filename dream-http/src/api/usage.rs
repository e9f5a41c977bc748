//! Usage routes: track a call (`POST /api/data`) and read usage (`GET /api/usage`).

use poem::web::Data;
use poem_openapi::{param::Header, payload::Json, ApiResponse, OpenApi};

use crate::header_token::{IdempotencyKeyHeader, UserRef};

use super::ApiTags;
use crate::{
    auth::SecretKeyAuth,
    body::OptionalJsonBody,
    dto::{TrackRequest, TrackResponse, UsageCounts, UsageResponse},
    error::ApiResult,
    state::AppState,
};

/// Usage tracking.
pub struct UsageApi;

/// A counted call, with the usage limit in IETF `RateLimit-*` headers.
#[derive(ApiResponse)]
enum Tracked {
    /// Counted.
    #[oai(status = 200)]
    Ok(
        Json<TrackResponse>,
        /// The plan's limit for the period (absent when unlimited).
        #[oai(header = "RateLimit-Limit")]
        Option<u64>,
        /// Units left in the period (absent when unlimited).
        #[oai(header = "RateLimit-Remaining")]
        Option<u64>,
        /// Seconds until the period ends.
        #[oai(header = "RateLimit-Reset")]
        u64,
    ),
}

impl Tracked {
    fn new(outcome: dream_core::TrackOutcome, now: chrono::DateTime<chrono::Utc>) -> Self {
        let reset = outcome.period.seconds_until_end(now);
        let remaining = outcome.remaining();
        Tracked::Ok(
            Json(TrackResponse {
                success: true,
                customer_id: outcome.customer.id.to_string(),
                usage: UsageCounts {
                    count: outcome.used,
                    limit: outcome.limit.into(),
                    remaining: remaining.into(),
                    period_end: outcome.period.end,
                },
                plan: outcome.plan,
            }),
            outcome.limit,
            remaining,
            reset,
        )
    }
}

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Usage")]
impl UsageApi {
    /// Track usage: count a call against the customer's plan, or refuse it at the limit.
    ///
    /// An unknown `X-User-Id` creates the customer on first sight, on `X-User-Plan`
    /// if that is one of your plans, else on your default plan. For a known customer
    /// the stored plan wins and `X-User-Plan` is ignored.
    #[oai(path = "/data", method = "post", operation_id = "trackUsage")]
    async fn track(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// Our customer id (`usr_…`) or your external id: 1–255 visible ASCII
        /// characters (spaces inside allowed).
        #[oai(name = "X-User-Id")]
        user_id: Header<UserRef>,
        /// Plan for a customer seen for the first time; ignored afterwards.
        #[oai(name = "X-User-Plan")]
        user_plan: Header<Option<String>>,
        /// Makes a retry safe: same key and request → same response, counted once.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<IdempotencyKeyHeader>>,
        body: OptionalJsonBody<TrackRequest>,
    ) -> ApiResult<Tracked> {
        let amount = body.0.amount.unwrap_or(1);
        // The receipt makes the consume itself idempotent, so a retry after a crash
        // between counting and answering is not counted twice.
        let receipt = idempotency_key
            .0
            .map(|key| format!("POST /api/data\n{}\n{}\n{amount}", key.0, user_id.0 .0));
        let outcome = state
            .dream
            .track_idempotent(
                auth.tenant(),
                &user_id.0 .0,
                user_plan.0.as_deref(),
                amount,
                receipt.as_deref(),
            )
            .await?;
        Ok(Tracked::new(outcome, state.dream.now()))
    }

    /// Read a customer's usage in the current period (never changes it).
    #[oai(path = "/usage", method = "get", operation_id = "getUsage")]
    async fn usage(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// Our customer id (`usr_…`) or your external id: 1–255 visible ASCII
        /// characters (spaces inside allowed).
        #[oai(name = "X-User-Id")]
        user_id: Header<UserRef>,
        /// Plan for a customer seen for the first time; ignored afterwards.
        #[oai(name = "X-User-Plan")]
        user_plan: Header<Option<String>>,
    ) -> ApiResult<Json<UsageResponse>> {
        let report = state
            .dream
            .usage(auth.tenant(), &user_id.0 .0, user_plan.0.as_deref())
            .await?;
        Ok(Json(UsageResponse {
            customer_id: report.customer.id.to_string(),
            usage_count: report.used,
            limit: report.limit.into(),
            remaining: report.remaining().into(),
            plan: report.plan,
            period_start: report.period.start,
            period_end: report.period.end,
        }))
    }
}
