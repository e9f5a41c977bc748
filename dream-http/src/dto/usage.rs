//! Track and usage bodies.

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use super::Nullable;
use serde::Deserialize;

/// Optional body of a track call.
#[derive(Object, Deserialize, Debug, Default)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrackRequest {
    /// Units to count (default 1, at most 1000000). All or nothing.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub amount: Option<u64>,
}

/// Counters after a track call.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct UsageCounts {
    /// Usage in the period including this call.
    pub count: u64,
    /// The plan's limit; null when unlimited.
    pub limit: Nullable<u64>,
    /// Units left; null when unlimited.
    pub remaining: Nullable<u64>,
    /// When the period ends.
    pub period_end: DateTime<Utc>,
}

/// A counted call.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct TrackResponse {
    /// Always true.
    pub success: bool,
    /// The customer's id (`usr_…`).
    pub customer_id: String,
    /// The plan that applied (the stored plan; `X-User-Plan` only seeds new customers).
    pub plan: String,
    // Counters.
    pub usage: UsageCounts,
}

/// A customer's usage this period.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct UsageResponse {
    /// The customer's id (`usr_…`).
    pub customer_id: String,
    /// Usage counted so far.
    pub usage_count: u64,
    /// The plan's limit; null when unlimited.
    pub limit: Nullable<u64>,
    /// Units left; null when unlimited.
    pub remaining: Nullable<u64>,
    /// The plan that applies.
    pub plan: String,
    /// Period start.
    pub period_start: DateTime<Utc>,
    /// Period end.
    pub period_end: DateTime<Utc>,
}
