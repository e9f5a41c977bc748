//! Tier bodies and their conversion to and from core tiers.

use std::collections::BTreeMap;

use dream_core::{
    CoreError, Interval, MeterReset, MeterSpec, Money, Tier, TierKind, UsageLimit, DEFAULT_ALERTS,
};
use poem_openapi::{Enum, Object};
use serde::Deserialize;

use super::Nullable;

/// Billing interval of a recurring tier.
#[derive(Enum, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum IntervalDto {
    /// Monthly.
    Month,
    /// Yearly.
    Year,
}

/// Recurring plan or one-off product.
#[derive(Enum, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum TierType {
    /// A subscription plan with a usage limit.
    Recurring,
    /// A one-off product, optionally with inventory.
    OneTime,
}

/// When a meter's count starts again.
#[derive(Enum, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum MeterResetDto {
    /// Every UTC day.
    Day,
    /// Every ISO week (Monday 00:00 UTC).
    Week,
    /// Every calendar month (UTC).
    Month,
    /// Every calendar year (UTC).
    Year,
    /// Never: a lifetime count (seats), which negative tracks give back.
    Never,
}

impl From<MeterResetDto> for MeterReset {
    fn from(r: MeterResetDto) -> Self {
        match r {
            MeterResetDto::Day => MeterReset::Day,
            MeterResetDto::Week => MeterReset::Week,
            MeterResetDto::Month => MeterReset::Month,
            MeterResetDto::Year => MeterReset::Year,
            MeterResetDto::Never => MeterReset::Never,
        }
    }
}

impl From<MeterReset> for MeterResetDto {
    fn from(r: MeterReset) -> Self {
        match r {
            MeterReset::Day => MeterResetDto::Day,
            MeterReset::Week => MeterResetDto::Week,
            MeterReset::Month => MeterResetDto::Month,
            MeterReset::Year => MeterResetDto::Year,
            MeterReset::Never => MeterResetDto::Never,
        }
    }
}

/// One meter of a tier, besides the tier's own `requests` (its `limit`).
#[derive(Object, Deserialize, Debug, Clone)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeterInput {
    /// Units allowed per period; absent or null means unlimited.
    #[oai(nullable)]
    #[serde(default)]
    pub limit: Option<u64>,
    // When the count starts again: `day`, `week`, `month`, `year` or `never`.
    pub reset: MeterResetDto,
    /// Alert thresholds in percent of `limit` (1–100, unique, at most 10);
    /// default `[80, 100]`, `[]` turns them off.
    #[serde(default, deserialize_with = "super::non_null")]
    pub alerts: Option<Vec<u32>>,
}

/// A meter of a tier as shown to API users.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct TierMeterDto {
    /// Units allowed per period; null means unlimited.
    pub limit: Nullable<u64>,
    // When the count starts again.
    pub reset: MeterResetDto,
    /// Alert thresholds in percent of `limit`.
    pub alerts: Vec<u32>,
}

/// Alert thresholds from a request: default [`DEFAULT_ALERTS`], each 1–100
/// (`field` locates errors; uniqueness is checked with the tier).
fn parse_alerts(list: Option<Vec<u32>>, field: &str) -> Result<Vec<u8>, CoreError> {
    match list {
        None => Ok(DEFAULT_ALERTS.to_vec()),
        Some(list) => list
            .into_iter()
            .enumerate()
            .map(|(j, percent)| {
                u8::try_from(percent)
                    .ok()
                    .filter(|p| (1..=100).contains(p))
                    .ok_or_else(|| {
                        CoreError::invalid(
                            format!("{field}/{j}"),
                            "must be a percentage between 1 and 100",
                        )
                    })
            })
            .collect(),
    }
}

/// Credits of one meter that each unit of a one-off product grants its buyer.
#[derive(Object, Deserialize, Debug, Clone)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreditsPerUnitInput {
    /// The meter credited (`requests` or one your tiers define).
    pub meter: String,
    /// Credits per unit bought (1 to 1000000000).
    pub amount: u64,
}

/// Credits of one meter that each unit of a one-off product grants its buyer.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct CreditsPerUnitDto {
    /// The meter credited.
    pub meter: String,
    /// Credits per unit bought.
    pub amount: u64,
}

/// A tier as configured through `/create-products`.
#[derive(Object, Deserialize, Debug, Clone)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TierInput {
    /// Slug, unique per tenant: `[a-z0-9][a-z0-9_-]*`, at most 64.
    #[oai(validator(pattern = r"^[a-z0-9][a-z0-9_-]{0,63}$"))]
    pub name: String,
    /// Human name, at most 200 characters; defaults to `name`.
    #[oai(validator(max_length = 200))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub display_name: Option<String>,
    /// Price in major units (`29.99`), at most the currency's decimals and
    /// 99999999 minor units.
    #[oai(validator(minimum(value = "0"), maximum(value = "99999999")))]
    pub price: f64,
    /// ISO 4217 code; default `usd`.
    #[oai(validator(pattern = r"^[A-Za-z]{3}$"))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub currency: Option<String>,
    // Billing interval of a recurring tier; default `month`.
    #[serde(default, deserialize_with = "super::non_null")]
    pub interval: Option<IntervalDto>,
    // `recurring` (default) or `one_time`.
    #[oai(rename = "type")]
    #[serde(rename = "type", default, deserialize_with = "super::non_null")]
    pub kind: Option<TierType>,
    /// Usage allowed per period; absent or null means unlimited.
    #[oai(nullable)]
    pub limit: Option<u64>,
    /// Optional per-minute rate limit (1–60000).
    #[oai(validator(minimum(value = "1"), maximum(value = "60000")))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub rate_limit_per_minute: Option<u32>,
    /// Features shown on pricing pages: at most 50, of at most 200 characters each.
    #[oai(validator(max_items = 50))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub features: Option<Vec<String>>,
    /// Units for sale (`one_time` only); absent means unlimited stock.
    #[serde(default, deserialize_with = "super::non_null")]
    pub inventory: Option<u64>,
    /// Boolean entitlements of the tier (`["sso", "priority_support"]`): at most
    /// 50 unique names of `[a-z0-9_]{1,40}`; default none.
    #[serde(default, deserialize_with = "super::non_null")]
    pub flags: Option<Vec<String>>,
    /// Usage alert thresholds in percent of `limit` (1–100, unique, at most 10):
    /// crossing one emits `usage.threshold_reached`. Default `[80, 100]`; `[]`
    /// turns alerts off.
    #[serde(default, deserialize_with = "super::non_null")]
    pub alerts: Option<Vec<u32>>,
    /// Meters besides `requests`, by name (`[a-z0-9_]{1,40}`, at most 20):
    /// `{"exports": {"limit": 50, "reset": "day"}, "seats": {"limit": 5, "reset":
    /// "never"}}`. A track names one with `meter`.
    #[serde(default, deserialize_with = "super::non_null")]
    pub meters: Option<BTreeMap<String, MeterInput>>,
    /// `one_time` products only: credits each unit bought grants the buyer when
    /// the payment succeeds (`{"meter": "exports", "amount": 100}`).
    #[serde(default, deserialize_with = "super::non_null")]
    pub grants: Option<CreditsPerUnitInput>,
}

impl TierInput {
    /// Converts to the domain type; `index` locates errors (`/tiers/2/price`).
    pub fn into_tier(self, index: usize) -> Result<Tier, CoreError> {
        let at = |field: &str| format!("/tiers/{index}/{field}");
        let price = Money::from_major(self.price, self.currency.as_deref().unwrap_or("usd"))
            .map_err(|e| match e {
                CoreError::InvalidInput { field, reason } => CoreError::invalid(at(&field), reason),
                other => other,
            })?;
        let kind = match self.kind.unwrap_or(TierType::Recurring) {
            TierType::Recurring => {
                if self.inventory.is_some() {
                    return Err(CoreError::invalid(
                        at("inventory"),
                        "only one_time tiers have inventory",
                    ));
                }
                TierKind::Recurring {
                    interval: match self.interval.unwrap_or(IntervalDto::Month) {
                        IntervalDto::Month => Interval::Month,
                        IntervalDto::Year => Interval::Year,
                    },
                }
            }
            TierType::OneTime => {
                if self.interval.is_some() {
                    return Err(CoreError::invalid(
                        at("interval"),
                        "one_time tiers have no interval",
                    ));
                }
                TierKind::OneTime {
                    inventory: self.inventory,
                }
            }
        };
        let alerts = parse_alerts(self.alerts, &at("alerts"))?;
        let meters = self
            .meters
            .unwrap_or_default()
            .into_iter()
            .map(|(name, input)| {
                let alerts = parse_alerts(input.alerts, &at(&format!("meters/{name}/alerts")))?;
                let spec = MeterSpec {
                    limit: input
                        .limit
                        .map_or(UsageLimit::Unlimited, UsageLimit::Limited),
                    reset: input.reset.into(),
                    alerts,
                };
                Ok((name, spec))
            })
            .collect::<Result<_, CoreError>>()?;
        Ok(Tier {
            display_name: self.display_name.unwrap_or_else(|| self.name.clone()),
            name: self.name,
            price,
            kind,
            limit: self
                .limit
                .map_or(UsageLimit::Unlimited, UsageLimit::Limited),
            rate_limit_per_minute: self.rate_limit_per_minute,
            features: self.features.unwrap_or_default(),
            flags: self.flags.unwrap_or_default(),
            alerts,
            meters,
            grants: self.grants.map(|g| dream_core::CreditsPerUnit {
                meter: g.meter,
                amount: g.amount,
            }),
            archived: false,
        })
    }
}

/// A tier as shown to API users.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct TierDto {
    /// Slug.
    pub name: String,
    /// Human name.
    pub display_name: String,
    /// Price in major units (display only; use `unitAmount` for arithmetic).
    pub price: f64,
    /// Price in minor units.
    pub unit_amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    // `recurring` or `one_time`.
    #[oai(rename = "type")]
    pub kind: TierType,
    // Billing interval (recurring tiers).
    #[oai(skip_serializing_if_is_none)]
    pub interval: Option<IntervalDto>,
    /// Usage per period; null means unlimited.
    pub limit: Nullable<u64>,
    /// Per-minute rate limit, if any.
    #[oai(skip_serializing_if_is_none)]
    pub rate_limit_per_minute: Option<u32>,
    /// Features.
    pub features: Vec<String>,
    /// Boolean entitlements customers on this tier have.
    pub flags: Vec<String>,
    /// Usage alert thresholds in percent of `limit`.
    pub alerts: Vec<u32>,
    /// Meters besides `requests`, by name.
    pub meters: BTreeMap<String, TierMeterDto>,
    /// Credits each unit of this one-off product grants its buyer.
    #[oai(skip_serializing_if_is_none)]
    pub grants: Option<CreditsPerUnitDto>,
    /// Units for sale (one-off products with limited stock).
    #[oai(skip_serializing_if_is_none)]
    pub inventory: Option<u64>,
    /// No longer offered; customers on it keep it.
    pub archived: bool,
}

impl From<&Tier> for TierDto {
    fn from(t: &Tier) -> Self {
        let (kind, interval, inventory) = match &t.kind {
            TierKind::Recurring { interval } => (
                TierType::Recurring,
                Some(match interval {
                    Interval::Month => IntervalDto::Month,
                    Interval::Year => IntervalDto::Year,
                }),
                None,
            ),
            TierKind::OneTime { inventory } => (TierType::OneTime, None, *inventory),
        };
        Self {
            name: t.name.clone(),
            display_name: t.display_name.clone(),
            price: t.price.major(),
            unit_amount: t.price.amount_minor,
            currency: t.price.currency.clone(),
            kind,
            interval,
            limit: t.limit.as_option().into(),
            rate_limit_per_minute: t.rate_limit_per_minute,
            features: t.features.clone(),
            flags: t.flags.clone(),
            alerts: t.alerts.iter().map(|p| u32::from(*p)).collect(),
            meters: t
                .meters
                .iter()
                .map(|(name, m)| {
                    let dto = TierMeterDto {
                        limit: m.limit.as_option().into(),
                        reset: m.reset.into(),
                        alerts: m.alerts.iter().map(|p| u32::from(*p)).collect(),
                    };
                    (name.clone(), dto)
                })
                .collect(),
            grants: t.grants.as_ref().map(|g| CreditsPerUnitDto {
                meter: g.meter.clone(),
                amount: g.amount,
            }),
            inventory,
            archived: t.archived,
        }
    }
}

/// The tiers on offer.
#[derive(Object, Debug)]
pub struct TierList {
    /// Active tiers, in configured order.
    pub tiers: Vec<TierDto>,
}
