//! Usage routes: track a call (`POST /api/data`), read usage (`GET /api/usage`),
//! entitlements (`GET /api/entitlements`, `GET /api/check`) and the usage history
//! (`GET /api/usage/history`).

use chrono::{DateTime, NaiveDate, Utc};
use dream_core::{CheckQuery, Granularity, HistoryQuery, REQUESTS_METER};
use poem::web::Data;
use poem_openapi::{
    param::{Header, Query},
    payload::Json,
    ApiResponse, OpenApi,
};

use crate::header_token::{IdempotencyKeyHeader, UserRef};

use super::ApiTags;
use crate::{
    auth::SecretKeyAuth,
    body::OptionalJsonBody,
    dto::{
        CheckResponse, DirectJson, EntitlementsResponse, HistoryGranularity, MeterDto,
        TrackRequest, TrackResponse, UsageBucketDto, UsageCounts, UsageHistoryResponse,
        UsageResponse,
    },
    error::{ApiError, ApiResult},
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
        DirectJson<TrackResponse>,
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
            DirectJson(TrackResponse {
                success: true,
                customer_id: outcome.customer.id.to_string(),
                usage: UsageCounts {
                    count: outcome.used,
                    limit: outcome.limit.into(),
                    remaining: remaining.into(),
                    period_end: outcome.period.end,
                    meter: outcome.meter.into_owned(),
                    credits_spent: outcome.credits_spent,
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
    /// Counts `requests` (the tier's `limit`) unless `meter` names another of your
    /// tiers' meters. The plan's allowance is used first, then the customer's
    /// credits for the meter, all or nothing. A negative `amount` gives units back
    /// on a meter that never resets (`reset: never`, e.g. seats). The per-minute
    /// rate limit applies to `requests`.
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
        let meter = body.0.meter.as_deref().unwrap_or(REQUESTS_METER);
        // The receipt makes the consume itself idempotent, so a retry after a crash
        // between counting and answering is not counted twice. The `requests`
        // receipt keeps its earlier shape, so retries across an upgrade match.
        let receipt = idempotency_key.0.map(|key| {
            let user = &user_id.0 .0;
            if meter == REQUESTS_METER {
                format!("POST /api/data\n{}\n{user}\n{amount}", key.0)
            } else {
                format!("POST /api/data\n{}\n{user}\n{amount}\n{meter}", key.0)
            }
        });
        let outcome = state
            .dream
            .track_meter(
                auth.tenant(),
                &user_id.0 .0,
                user_plan.0.as_deref(),
                meter,
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

    /// What the customer's plan allows now: its flags and meters, from one read.
    ///
    /// `flags` lists every flag any of your tiers names, `true` when this plan has
    /// it. Creates an unknown `X-User-Id` on first sight, like `GET /api/usage`.
    #[oai(
        path = "/entitlements",
        method = "get",
        operation_id = "getEntitlements"
    )]
    async fn entitlements(
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
    ) -> ApiResult<Json<EntitlementsResponse>> {
        let entitlements = state
            .dream
            .entitlements(auth.tenant(), &user_id.0 .0, user_plan.0.as_deref())
            .await?;
        Ok(Json(entitlements.into()))
    }

    /// Check a flag (`?flag=sso`) or whether an amount of a meter would be
    /// accepted now (`?meter=requests&amount=3`), without consuming anything and
    /// without touching the per-minute rate window.
    ///
    /// Exactly one of `flag` and `meter`. An unknown flag is `allowed: false`; an
    /// unknown meter is a 400.
    #[oai(path = "/check", method = "get", operation_id = "checkEntitlement")]
    #[allow(clippy::too_many_arguments)]
    async fn check(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// Our customer id (`usr_…`) or your external id.
        #[oai(name = "X-User-Id")]
        user_id: Header<UserRef>,
        /// Plan for a customer seen for the first time; ignored afterwards.
        #[oai(name = "X-User-Plan")]
        user_plan: Header<Option<String>>,
        /// A flag name (`[a-z0-9_]{1,40}`).
        #[oai(validator(pattern = r"^[a-z0-9_]{1,40}$"))]
        flag: Query<Option<String>>,
        /// A meter name (`requests` or one your tiers define).
        #[oai(validator(pattern = r"^[a-z0-9_]{1,40}$"))]
        meter: Query<Option<String>>,
        /// Units about to be used (meter checks; default 1).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        amount: Query<Option<u64>>,
    ) -> ApiResult<Json<CheckResponse>> {
        let query = match (flag.0, meter.0) {
            (Some(flag), None) => {
                if amount.0.is_some() {
                    return Err(ApiError::invalid(
                        "amount",
                        "only meter checks take an amount",
                    ));
                }
                CheckQuery::Flag(flag)
            }
            (None, Some(meter)) => CheckQuery::Meter {
                meter,
                amount: amount.0.unwrap_or(1),
            },
            (None, None) => {
                return Err(ApiError::invalid(
                    "flag",
                    "give exactly one of `flag` or `meter`",
                ))
            }
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "meter",
                    "give exactly one of `flag` or `meter`, not both",
                ))
            }
        };
        let outcome = state
            .dream
            .check(auth.tenant(), &user_id.0 .0, user_plan.0.as_deref(), &query)
            .await?;
        let meter = outcome.meter.as_ref().map(MeterDto::from);
        let (flag, meter_name) = match query {
            CheckQuery::Flag(flag) => (Some(flag), None),
            CheckQuery::Meter { meter, .. } => (None, Some(meter)),
        };
        Ok(Json(CheckResponse {
            allowed: outcome.allowed,
            customer_id: outcome.customer.id.to_string(),
            plan: outcome.plan,
            flag,
            meter: meter_name,
            used: meter.as_ref().map(|m| m.used),
            limit: meter.as_ref().map(|m| m.limit),
            remaining: meter.as_ref().map(|m| m.remaining),
            credits: meter.as_ref().map(|m| m.credits),
            resets_at: meter.and_then(|m| m.resets_at),
        }))
    }

    /// Your usage of a meter per hour or per UTC day, across customers.
    ///
    /// Buckets cover `[from, to)`, `from` rounded down and `to` up to a bucket
    /// boundary; every bucket is listed (zero when unused), at most 1000 per
    /// request. Defaults: `to` now, `from` a day (hours) or 30 days (days) before.
    /// Kept for `DREAM_USAGE_HISTORY_RETENTION_DAYS` (default 400).
    #[oai(
        path = "/usage/history",
        method = "get",
        operation_id = "getUsageHistory"
    )]
    async fn history(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// The meter (default `requests`).
        #[oai(validator(pattern = r"^[a-z0-9_]{1,40}$"))]
        meter: Query<Option<String>>,
        /// Start: RFC 3339 (`2026-12-01T00:00:00Z`) or a date (`2026-12-01`).
        from: Query<Option<String>>,
        /// End (exclusive): RFC 3339 or a date.
        to: Query<Option<String>>,
        /// `hour` or `day` (default `day`).
        granularity: Query<Option<HistoryGranularity>>,
    ) -> ApiResult<Json<UsageHistoryResponse>> {
        let granularity = match granularity.0 {
            None | Some(HistoryGranularity::Day) => Granularity::Day,
            Some(HistoryGranularity::Hour) => Granularity::Hour,
        };
        let query = HistoryQuery {
            meter: meter.0.unwrap_or_else(|| REQUESTS_METER.to_owned()),
            from: from.0.as_deref().map(|t| instant(t, "from")).transpose()?,
            to: to.0.as_deref().map(|t| instant(t, "to")).transpose()?,
            granularity,
        };
        let history = state.dream.usage_history(auth.tenant(), &query).await?;
        Ok(Json(UsageHistoryResponse {
            meter: query.meter,
            granularity: match history.granularity {
                Granularity::Hour => HistoryGranularity::Hour,
                Granularity::Day => HistoryGranularity::Day,
            },
            from: history.from,
            to: history.to,
            total: history
                .buckets
                .iter()
                .fold(0u64, |sum, (_, n)| sum.saturating_add(*n)),
            buckets: history
                .buckets
                .into_iter()
                .map(|(start, amount)| UsageBucketDto { start, amount })
                .collect(),
        }))
    }
}

/// An RFC 3339 time or a `YYYY-MM-DD` date (midnight UTC).
fn instant(text: &str, field: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        })
        .ok_or_else(|| {
            ApiError::invalid(
                field,
                "must be an RFC 3339 time (2026-12-01T00:00:00Z) or a date (2026-12-01)",
            )
        })
}
