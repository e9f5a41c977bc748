//! Track and usage bodies.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use super::Nullable;
use serde::{Deserialize, Serialize};

/// Optional body of a track call.
#[derive(Object, Deserialize, Debug, Default)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrackRequest {
    /// Units to count (default 1, at most 1000000). All or nothing: the plan's
    /// allowance first, then the customer's credits for the meter. Negative
    /// (down to -1000000) only on a meter that never resets: gives units back,
    /// never below zero.
    #[oai(validator(minimum(value = "-1000000"), maximum(value = "1000000")))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub amount: Option<i64>,
    /// The meter to count (`[a-z0-9_]{1,40}`, default `requests`): one your
    /// tiers define in `meters`.
    #[oai(validator(pattern = r"^[a-z0-9_]{1,40}$"))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub meter: Option<String>,
}

/// Counters after a track call.
#[derive(Object, Serialize, Debug)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct UsageCounts {
    /// Usage in the period including this call.
    pub count: u64,
    /// The plan's limit; null when unlimited.
    pub limit: Nullable<u64>,
    /// Units left; null when unlimited.
    pub remaining: Nullable<u64>,
    /// When the period ends.
    #[serde(serialize_with = "super::rfc3339")]
    pub period_end: DateTime<Utc>,
    /// The meter counted.
    pub meter: String,
    /// Credits this call spent, after the plan's allowance.
    pub credits_spent: u64,
}

/// A counted call.
#[derive(Object, Serialize, Debug)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
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

/// One meter of a customer's plan in the current period.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct MeterDto {
    /// Units counted in the period.
    pub used: u64,
    /// The plan's limit; null when unlimited.
    pub limit: Nullable<u64>,
    /// Units of the plan's allowance left; null when unlimited.
    pub remaining: Nullable<u64>,
    /// When the period ends and the meter starts again from zero (absent for a
    /// meter that never resets).
    #[oai(skip_serializing_if_is_none)]
    pub resets_at: Option<DateTime<Utc>>,
    // `day`, `week`, `month`, `year` or `never`. Not a doc comment: a described
    // enum field becomes an `allOf`, which generated clients cannot take.
    pub reset: super::MeterResetDto,
    /// The customer's credit balance for the meter, spent after the allowance.
    pub credits: u64,
}

impl From<&dream_core::MeterState> for MeterDto {
    fn from(m: &dream_core::MeterState) -> Self {
        Self {
            used: m.used,
            limit: m.limit.into(),
            remaining: m.remaining().into(),
            resets_at: (m.reset != dream_core::MeterReset::Never).then_some(m.period.end),
            reset: m.reset.into(),
            credits: m.credits,
        }
    }
}

/// What a customer's plan allows now.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct EntitlementsResponse {
    /// The customer's id (`usr_…`).
    pub customer_id: String,
    /// The plan that applies.
    pub plan: String,
    /// Every flag any of your tiers names, `true` when this plan has it.
    pub flags: BTreeMap<String, bool>,
    /// Each meter by name (`requests`: the tier's `limit`, monthly).
    pub meters: BTreeMap<String, MeterDto>,
}

impl From<dream_core::Entitlements> for EntitlementsResponse {
    fn from(e: dream_core::Entitlements) -> Self {
        Self {
            customer_id: e.customer.id.to_string(),
            plan: e.plan,
            flags: e.flags,
            meters: e
                .meters
                .iter()
                .map(|(name, m)| (name.clone(), MeterDto::from(m)))
                .collect(),
        }
    }
}

/// Whether a flag is on, or an amount of a meter would be accepted now.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct CheckResponse {
    /// The flag is on / the amount fits in the usage limit. Nothing was consumed.
    pub allowed: bool,
    /// The customer's id (`usr_…`).
    pub customer_id: String,
    /// The plan that applies.
    pub plan: String,
    /// The flag asked about (flag checks).
    #[oai(skip_serializing_if_is_none)]
    pub flag: Option<String>,
    /// The meter asked about (meter checks).
    #[oai(skip_serializing_if_is_none)]
    pub meter: Option<String>,
    /// Units counted in the period (meter checks).
    #[oai(skip_serializing_if_is_none)]
    pub used: Option<u64>,
    /// The plan's limit, null when unlimited (meter checks).
    #[oai(skip_serializing_if_is_none)]
    pub limit: Option<Nullable<u64>>,
    /// Units left, null when unlimited (meter checks).
    #[oai(skip_serializing_if_is_none)]
    pub remaining: Option<Nullable<u64>>,
    /// When the meter's period ends (meter checks, except meters that never reset).
    #[oai(skip_serializing_if_is_none)]
    pub resets_at: Option<DateTime<Utc>>,
    /// The customer's credit balance for the meter (meter checks).
    #[oai(skip_serializing_if_is_none)]
    pub credits: Option<u64>,
}

/// Credits to grant a customer.
#[derive(Object, Deserialize, Debug, Clone)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantCreditsRequest {
    /// The meter the credits pay for (`requests` or one your tiers define).
    #[oai(validator(pattern = r"^[a-z0-9_]{1,40}$"))]
    pub meter: String,
    /// Units of credit (1 to 1000000000).
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000000")))]
    pub amount: u64,
    /// Why, for the event and audit log (at most 200 characters).
    #[oai(validator(max_length = 200))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub reason: Option<String>,
}

/// A grant of credits.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct CreditsGrantedResponse {
    /// The customer's id (`usr_…`).
    pub customer_id: String,
    /// The meter credited.
    pub meter: String,
    /// Units granted.
    pub amount: u64,
    /// The meter's credit balance after the grant.
    pub balance: u64,
    /// The grant's id (derived from `Idempotency-Key` when one is sent).
    pub grant_id: String,
    /// True when this `Idempotency-Key` had granted before: nothing was added now.
    pub replayed: bool,
}

/// The width of a usage history bucket.
#[derive(poem_openapi::Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum HistoryGranularity {
    /// A UTC hour.
    Hour,
    /// A UTC day.
    Day,
}

/// Units used in one bucket of the history.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct UsageBucketDto {
    /// Start of the bucket (an hour or a UTC day).
    pub start: DateTime<Utc>,
    /// Units counted in it.
    pub amount: u64,
}

/// A tenant's usage of a meter per hour or day.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct UsageHistoryResponse {
    /// The meter.
    pub meter: String,
    // Bucket width. Not a doc comment: a described enum field becomes an `allOf`
    // of the enum, which generated clients (openapi-python-client) cannot take.
    pub granularity: HistoryGranularity,
    /// Start of the first bucket.
    pub from: DateTime<Utc>,
    /// End of the last bucket (exclusive).
    pub to: DateTime<Utc>,
    /// Sum of the buckets.
    pub total: u64,
    /// Every bucket of the range, oldest first (zero when unused).
    pub buckets: Vec<UsageBucketDto>,
}
