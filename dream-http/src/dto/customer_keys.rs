//! Customer key (`ck_…`) and verification bodies; keys never appear in `Debug`.

use chrono::{DateTime, Utc};
use dream_core::{CustomerKeyRecord, Verification};
use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};

use super::{ModeDto, Nullable};

/// Issue an API key to a customer. A key counts against its customer's plan,
/// whose limits and rate limit apply; `meter` picks what its verifications count
/// by default and `ratePerMinute` adds the key's own rate limit.
#[derive(Object, Deserialize, Debug, Default)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCustomerKeyRequest {
    /// Your name for it ("production"), at most 100 characters, no control characters.
    #[oai(validator(max_length = 100, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub name: Option<String>,
    /// When it stops working (in the future).
    #[serde(default, deserialize_with = "super::non_null")]
    pub expires_at: Option<DateTime<Utc>>,
    /// The meter `POST /api/keys/verify` counts for this key when the call
    /// names none (default `requests`; one your tiers define).
    #[oai(validator(pattern = r"^[a-z0-9_]{1,40}$"))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub meter: Option<String>,
    /// The key's own rate limit, in requests per minute (1 to 60000), on top of
    /// the plan's: a verification with an `amount` on the `requests` meter costs
    /// `amount`, one on another meter costs 1. Over it, verification answers
    /// `RATE_LIMITED` and counts nothing.
    #[oai(validator(minimum(value = "1"), maximum(value = "60000")))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub rate_per_minute: Option<u32>,
}

/// A customer key record; the key itself is never shown again.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct CustomerKeyDto {
    /// `ckey_…`, used to revoke and roll it.
    pub id: String,
    /// The customer (`usr_…`).
    pub customer_id: String,
    // Mode.
    pub mode: ModeDto,
    /// Your name for it.
    #[oai(skip_serializing_if_is_none)]
    pub name: Option<String>,
    /// `ck_test_…a1b2`: the prefix and last four characters.
    pub hint: String,
    /// Issued.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    #[oai(skip_serializing_if_is_none)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Revocation time.
    #[oai(skip_serializing_if_is_none)]
    pub revoked_at: Option<DateTime<Utc>>,
    /// The key's own rate limit in requests per minute (absent: none).
    #[oai(skip_serializing_if_is_none)]
    pub rate_per_minute: Option<u32>,
    /// The meter verifications count when they name none (absent: `requests`).
    #[oai(skip_serializing_if_is_none)]
    pub meter: Option<String>,
}

impl From<CustomerKeyRecord> for CustomerKeyDto {
    fn from(k: CustomerKeyRecord) -> Self {
        Self {
            id: k.id.to_string(),
            customer_id: k.customer.to_string(),
            mode: k.tenant.mode.into(),
            name: k.name,
            hint: k.hint,
            created_at: k.created_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            meter: k.meter,
            rate_per_minute: k.rate_per_minute,
        }
    }
}

/// A newly issued customer key, shown this once.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct IssuedCustomerKeyDto {
    // The record.
    pub key: CustomerKeyDto,
    /// The key (`ck_test_…` / `ck_live_…`). Shown once: hand it to your customer now.
    pub secret: String,
}

/// Never prints the key.
impl std::fmt::Debug for IssuedCustomerKeyDto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCustomerKeyDto")
            .field("key", &self.key)
            .field("secret", &super::redact::REDACTED)
            .finish()
    }
}

/// A rolled customer key: the new key shown this once, and the old record with
/// its new expiry.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct RolledCustomerKeyDto {
    /// The new key's record.
    pub key: CustomerKeyDto,
    /// The new key. Shown once.
    pub secret: String,
    /// The old key, now expiring at `expiresAt`.
    pub rolled: CustomerKeyDto,
}

/// Never prints the key.
impl std::fmt::Debug for RolledCustomerKeyDto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RolledCustomerKeyDto")
            .field("key", &self.key)
            .field("secret", &super::redact::REDACTED)
            .field("rolled", &self.rolled)
            .finish()
    }
}

/// One customer's keys.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct CustomerKeyList {
    /// Keys, oldest first (revoked and expired ones included).
    pub data: Vec<CustomerKeyDto>,
    /// Always false: a customer's keys fit one page.
    pub has_more: bool,
}

/// Verify a customer key and, with `amount`, count it against the customer's plan.
#[derive(Object, Deserialize, Default)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyKeyRequest {
    /// The key your customer presented (`ck_test_…` / `ck_live_…`).
    #[oai(validator(max_length = 512))]
    pub key: String,
    /// Units to count in the same call (1 to 1000000), as `POST /api/data` does:
    /// limit, rate limit and `Idempotency-Key` apply. Absent: verify only.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub amount: Option<u64>,
    /// The meter to read or count (`requests` by default, or one your tiers
    /// define).
    #[oai(validator(pattern = r"^[a-z0-9_]{1,40}$"))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub meter: Option<String>,
}

/// Never prints the key.
impl std::fmt::Debug for VerifyKeyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKeyRequest")
            .field("key", &super::redact::REDACTED)
            .field("amount", &self.amount)
            .field("meter", &self.meter)
            .finish()
    }
}

/// The verdict of a verification.
#[derive(Enum, Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerifyCodeDto {
    /// The key is active (and `amount`, if given, was counted).
    Valid,
    /// No such key for this app and mode: unknown, malformed, another app's or
    /// the other mode's, or its customer was deleted.
    NotFound,
    /// The key was revoked.
    Revoked,
    /// The key expired (or was rolled and its overlap ended).
    Expired,
    /// The customer's plan has no room for `amount` this period (nothing counted).
    UsageExceeded,
    /// The plan's per-minute rate limit refused `amount` (nothing counted).
    RateLimited,
}

impl From<dream_core::VerifyCode> for VerifyCodeDto {
    fn from(code: dream_core::VerifyCode) -> Self {
        use dream_core::VerifyCode as C;
        match code {
            C::Valid => Self::Valid,
            C::NotFound => Self::NotFound,
            C::Revoked => Self::Revoked,
            C::Expired => Self::Expired,
            C::UsageExceeded => Self::UsageExceeded,
            C::RateLimited => Self::RateLimited,
        }
    }
}

/// Usage of the key's customer in the current period.
#[derive(Object, Serialize, Debug)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct VerifyUsageDto {
    /// Units counted in the period (including this call when it was counted).
    pub count: u64,
    /// The plan's limit; null when unlimited.
    pub limit: Nullable<u64>,
    /// Units left; null when unlimited.
    pub remaining: Nullable<u64>,
    /// When the period ends.
    #[serde(serialize_with = "super::rfc3339")]
    pub period_end: DateTime<Utc>,
}

/// The answer of `POST /api/keys/verify`: always HTTP 200; branch on `valid`.
#[derive(Object, Serialize, Debug)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct VerifyKeyResponse {
    /// Whether to serve the request (`code` is `VALID`).
    pub valid: bool,
    // Why.
    pub code: VerifyCodeDto,
    /// The key's id (`ckey_…`); null for `NOT_FOUND`.
    pub key_id: Nullable<String>,
    /// The key's customer (`usr_…`); null for `NOT_FOUND`.
    pub customer_id: Nullable<String>,
    /// The customer's plan; null for `NOT_FOUND`, `REVOKED`, `EXPIRED`, `RATE_LIMITED`.
    pub plan: Nullable<String>,
    /// Usage this period; null where `plan` is.
    pub usage: Nullable<VerifyUsageDto>,
    /// For `RATE_LIMITED`: seconds until the amount could be admitted.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl From<Verification> for VerifyKeyResponse {
    fn from(v: Verification) -> Self {
        Self {
            valid: v.valid(),
            code: v.code.into(),
            key_id: v.key_id.map(|id| id.to_string()).into(),
            customer_id: v.customer.map(|id| id.to_string()).into(),
            plan: v.plan.into(),
            usage: v
                .usage
                .map(|u| VerifyUsageDto {
                    count: u.used,
                    limit: u.limit.into(),
                    remaining: u.remaining.into(),
                    period_end: u.period_end,
                })
                .into(),
            retry_after: v.retry_after_ms.map(|ms| ms.div_ceil(1000).max(1)),
        }
    }
}
