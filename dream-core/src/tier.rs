//! Tiers (recurring plans with usage limits) and one-off products, and money.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    CoreError, MeterReset, MeterSpec, StripeTierRefs, MAX_METERS_PER_TIER, MAX_RATE_PER_MINUTE,
};

/// An amount in integer minor units of a currency. Money is never a float.
///
/// ```
/// use dream_core::Money;
/// let price = Money::from_major(29.99, "usd").unwrap();
/// assert_eq!(price.amount_minor, 2999);
/// assert!(Money::from_major(1.001, "usd").is_err());
/// assert_eq!(Money::from_major(500.0, "jpy").unwrap().amount_minor, 500);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// Minor units (cents for `usd`).
    pub amount_minor: i64,
    /// Lower-case ISO 4217 code.
    pub currency: String,
}

/// Currencies whose minor unit is not a hundredth, per ISO 4217 / Stripe.
fn currency_decimals(currency: &str) -> u32 {
    match currency {
        "bif" | "clp" | "djf" | "gnf" | "jpy" | "kmf" | "krw" | "mga" | "pyg" | "rwf" | "ugx"
        | "vnd" | "vuv" | "xaf" | "xof" | "xpf" => 0,
        "bhd" | "jod" | "kwd" | "omr" | "tnd" => 3,
        _ => 2,
    }
}

impl Money {
    /// Largest amount accepted, in minor units (Stripe's own cap is 99,999,999).
    pub const MAX_MINOR: i64 = 99_999_999;

    /// Converts a price in major units (`29.99`) exactly, refusing more decimals than
    /// the currency has, negative, non-finite and oversized amounts.
    pub fn from_major(major: f64, currency: &str) -> Result<Self, CoreError> {
        let currency = normalize_currency(currency)?;
        if !major.is_finite() || major < 0.0 {
            return Err(CoreError::invalid("price", "must be a finite number >= 0"));
        }
        let decimals = currency_decimals(&currency);
        // Rust prints the shortest text that round-trips, so `29.99` reads back as
        // "29.99" and the conversion below is exact decimal arithmetic on that text.
        let text = format!("{major}");
        let (int_part, frac_part) = text.split_once('.').unwrap_or((&text, ""));
        if frac_part.len() > decimals as usize {
            return Err(CoreError::invalid(
                "price",
                format!("{currency} allows at most {decimals} decimal places"),
            ));
        }
        let scale = 10i64.pow(decimals);
        let int: i64 = int_part
            .parse()
            .map_err(|_| CoreError::invalid("price", "is too large"))?;
        let frac: i64 = if frac_part.is_empty() {
            0
        } else {
            let padded = format!("{frac_part:0<width$}", width = decimals as usize);
            padded
                .parse()
                .map_err(|_| CoreError::invalid("price", "is not a decimal number"))?
        };
        let amount_minor = int
            .checked_mul(scale)
            .and_then(|v| v.checked_add(frac))
            .filter(|v| *v <= Self::MAX_MINOR)
            .ok_or_else(|| CoreError::invalid("price", "is too large"))?;
        Ok(Self {
            amount_minor,
            currency,
        })
    }

    /// The amount in major units, for display next to `amount_minor`.
    pub fn major(&self) -> f64 {
        self.amount_minor as f64 / 10f64.powi(currency_decimals(&self.currency) as i32)
    }

    /// Whether the amount is zero.
    pub fn is_free(&self) -> bool {
        self.amount_minor == 0
    }
}

fn normalize_currency(currency: &str) -> Result<String, CoreError> {
    let lower = currency.to_ascii_lowercase();
    if lower.len() == 3 && lower.bytes().all(|b| b.is_ascii_lowercase()) {
        Ok(lower)
    } else {
        Err(CoreError::invalid(
            "currency",
            "must be a three-letter ISO 4217 code such as \"usd\"",
        ))
    }
}

/// How often a recurring tier bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    /// Monthly.
    Month,
    /// Yearly.
    Year,
}

/// A usage allowance per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UsageLimit {
    /// At most this many units per period.
    Limited(u64),
    /// Counted, never refused.
    Unlimited,
}

impl UsageLimit {
    /// The number, or `None` when unlimited.
    pub fn as_option(self) -> Option<u64> {
        match self {
            UsageLimit::Limited(n) => Some(n),
            UsageLimit::Unlimited => None,
        }
    }
}

/// Recurring plan or one-off product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TierKind {
    /// A subscription plan billed every `interval`.
    Recurring {
        /// Billing interval.
        interval: Interval,
    },
    /// A one-off product, optionally with limited stock.
    OneTime {
        /// Units for sale, or `None` for unlimited stock.
        inventory: Option<u64>,
    },
}

/// A tier of a tenant's pricing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    /// Slug, unique per tenant (`free`, `pro`).
    pub name: String,
    /// Human name ("Pro plan").
    pub display_name: String,
    /// Price per interval (recurring) or per unit (one-off).
    pub price: Money,
    /// Recurring or one-off.
    pub kind: TierKind,
    /// Usage allowed per period (recurring tiers).
    pub limit: UsageLimit,
    /// Optional per-minute rate limit, enforced as a GCRA window.
    pub rate_limit_per_minute: Option<u32>,
    /// Marketing features.
    pub features: Vec<String>,
    /// Boolean entitlements customers on this tier have (`sso`,
    /// `priority_support`): names of `[a-z0-9_]{1,40}`, see [`validate_flag_name`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// Usage alert thresholds in percent of [`Tier::limit`] (1–100, unique):
    /// crossing one emits `usage.threshold_reached` once per customer and period.
    /// Configurations stored before alerts existed read as [`DEFAULT_ALERTS`].
    #[serde(default = "default_alerts")]
    pub alerts: Vec<u8>,
    /// Meters besides `requests`, by name (`exports`, `seats`): each with its own
    /// limit and reset. Names follow [`crate::validate_meter_name`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meters: BTreeMap<String, MeterSpec>,
    /// Credits a paid purchase of this one-off product grants the buyer, per unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grants: Option<CreditsPerUnit>,
    /// No longer offered; customers already on it keep working.
    pub archived: bool,
}

/// Credits of one meter that each unit of a one-off product grants its buyer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditsPerUnit {
    /// The meter credited.
    pub meter: String,
    /// Credits per unit bought (1 to [`crate::MAX_CREDIT_GRANT`]).
    pub amount: u64,
}

/// Alert thresholds of a tier that names none: 80 % and 100 % of its limit.
pub const DEFAULT_ALERTS: [u8; 2] = [80, 100];

pub(crate) fn default_alerts() -> Vec<u8> {
    DEFAULT_ALERTS.to_vec()
}

/// The default meter: calls counted monthly against [`Tier::limit`], the one a
/// track without a meter name counts.
pub const REQUESTS_METER: &str = "requests";

/// Validates a flag name: `[a-z0-9_]{1,40}`.
///
/// ```
/// use dream_core::validate_flag_name;
/// assert!(validate_flag_name("sso", "/flag").is_ok());
/// assert!(validate_flag_name("Priority-Support", "/flag").is_err());
/// ```
pub fn validate_flag_name(name: &str, field: &str) -> Result<(), CoreError> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(CoreError::invalid(
            field,
            "must be 1-40 characters of a-z, 0-9 or '_'",
        ))
    }
}

/// The alert thresholds `used` crossed when a call counted `amount` of a
/// `limit`: threshold `t` is crossed iff `used - amount < ceil(t% of limit) <= used`.
/// Calls of one customer and period are counted one after another with strictly
/// increasing `used`, so exactly one accepted call crosses each reachable threshold.
///
/// ```
/// use dream_core::crossed_thresholds;
/// assert_eq!(crossed_thresholds(&[80, 100], 50, 40, 1), vec![80]);
/// assert_eq!(crossed_thresholds(&[80, 100], 50, 41, 1), Vec::<u8>::new());
/// assert_eq!(crossed_thresholds(&[80, 100], 50, 50, 20), vec![80, 100]);
/// // 80 % of 3 is 2.4: the call that reaches 3 crosses it.
/// assert_eq!(crossed_thresholds(&[80], 3, 3, 1), vec![80]);
/// ```
pub fn crossed_thresholds(alerts: &[u8], limit: u64, used: u64, amount: u64) -> Vec<u8> {
    let before = used.saturating_sub(amount);
    alerts
        .iter()
        .copied()
        .filter(|&percent| {
            let mark = threshold_mark(limit, percent);
            // A limit of 0 accepts nothing, so it has no threshold to cross.
            mark > 0 && before < mark && mark <= used
        })
        .collect()
}

/// `ceil(percent% of limit)`, without overflow.
fn threshold_mark(limit: u64, percent: u8) -> u64 {
    let product = u128::from(limit) * u128::from(percent);
    u64::try_from(product.div_ceil(100)).unwrap_or(u64::MAX)
}

/// A tier's rule for one meter, as the track path applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterRule<'a> {
    /// Units allowed per period.
    pub limit: UsageLimit,
    /// When the count starts again.
    pub reset: MeterReset,
    /// Alert thresholds in percent of `limit`.
    pub alerts: &'a [u8],
}

impl Tier {
    /// The rule for `meter`: [`REQUESTS_METER`] is [`Tier::limit`] counted monthly,
    /// any other name one of [`Tier::meters`]; `None` when the tier has no such meter.
    ///
    /// ```
    /// use dream_core::{MeterReset, Tier, REQUESTS_METER};
    /// # fn tier() -> Tier { serde_json::from_value(serde_json::json!({
    /// #   "name": "pro", "display_name": "Pro",
    /// #   "price": {"amount_minor": 0, "currency": "usd"},
    /// #   "kind": {"Recurring": {"interval": "month"}}, "limit": {"Limited": 100},
    /// #   "rate_limit_per_minute": null, "features": [], "archived": false,
    /// #   "meters": {"exports": {"limit": {"Limited": 5}, "reset": "day"}}
    /// # })).unwrap() }
    /// let pro = tier();
    /// assert_eq!(pro.meter(REQUESTS_METER).unwrap().reset, MeterReset::Month);
    /// assert_eq!(pro.meter("exports").unwrap().reset, MeterReset::Day);
    /// assert!(pro.meter("seats").is_none());
    /// ```
    pub fn meter(&self, meter: &str) -> Option<MeterRule<'_>> {
        if meter == REQUESTS_METER {
            return Some(MeterRule {
                limit: self.limit,
                reset: MeterReset::Month,
                alerts: &self.alerts,
            });
        }
        self.meters.get(meter).map(|spec| MeterRule {
            limit: spec.limit,
            reset: spec.reset,
            alerts: &spec.alerts,
        })
    }

    /// Whether customers can be on this tier.
    pub fn is_plan(&self) -> bool {
        matches!(self.kind, TierKind::Recurring { .. })
    }

    /// Monthly recurring revenue of one subscriber, in minor units.
    pub fn monthly_amount_minor(&self) -> i64 {
        match self.kind {
            TierKind::Recurring {
                interval: Interval::Month,
            } => self.price.amount_minor,
            TierKind::Recurring {
                interval: Interval::Year,
            } => self.price.amount_minor / 12,
            TierKind::OneTime { .. } => 0,
        }
    }
}

/// Validates a tier slug: `[a-z0-9][a-z0-9_-]{0,63}`.
pub fn validate_tier_name(name: &str, field: &str) -> Result<(), CoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(CoreError::invalid(
            field,
            "must be a slug: 1-64 characters of a-z, 0-9, '_' or '-', starting with a letter or digit",
        ))
    }
}

/// A tenant's tiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TierConfig {
    /// All tiers, archived ones included (customers may still be on them).
    pub tiers: Vec<Tier>,
    /// When the configuration last changed.
    pub updated_at: Option<DateTime<Utc>>,
    /// Each tier's objects on the developer's Stripe account, by tier name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stripe: BTreeMap<String, StripeTierRefs>,
}

impl TierConfig {
    /// Checks that `meter` is [`REQUESTS_METER`] or a meter one of the tiers
    /// (archived ones included) defines; the error names `field`.
    ///
    /// ```
    /// use dream_core::TierConfig;
    /// let none = TierConfig::default();
    /// assert!(none.require_meter("requests", "/meter").is_ok());
    /// assert!(none.require_meter("exports", "/meter").is_err());
    /// ```
    pub fn require_meter(&self, meter: &str, field: &str) -> Result<(), CoreError> {
        require_meter(&self.tiers, meter, field)
    }

    /// The tier called `name`, archived or not.
    pub fn find(&self, name: &str) -> Option<&Tier> {
        self.tiers.iter().find(|t| t.name == name)
    }

    /// The tier's Stripe refs, if they belong to `account` (see
    /// [`BillingConnection::account_key`](crate::BillingConnection::account_key)).
    pub fn stripe_refs(&self, tier: &str, account: &str) -> Option<&StripeTierRefs> {
        self.stripe.get(tier).filter(|r| r.account == account)
    }

    /// Tiers currently offered.
    pub fn active(&self) -> impl Iterator<Item = &Tier> {
        self.tiers.iter().filter(|t| !t.archived)
    }

    /// The plan new customers get when none is named: the first free recurring
    /// tier, else the first recurring tier.
    pub fn default_plan(&self) -> Option<&Tier> {
        let mut plans = self.active().filter(|t| t.is_plan());
        self.active()
            .find(|t| t.is_plan() && t.price.is_free())
            .or_else(|| plans.next())
    }

    /// The plan a customer may be put on: an active recurring tier.
    pub fn offered_plan(&self, name: &str) -> Option<&Tier> {
        self.active().find(|t| t.name == name && t.is_plan())
    }

    /// Replaces the offered tiers with `new`: tiers not listed are kept but archived,
    /// so customers on them keep working.
    pub fn replace_with(&self, new: Vec<Tier>, now: DateTime<Utc>) -> TierConfig {
        let mut tiers = new;
        for old in &self.tiers {
            if !tiers.iter().any(|t| t.name == old.name) {
                let mut archived = old.clone();
                archived.archived = true;
                tiers.push(archived);
            }
        }
        TierConfig {
            tiers,
            updated_at: Some(now),
            stripe: self.stripe.clone(),
        }
    }
}

/// Checks a list of tiers to be offered: unique valid names, at least one plan,
/// inventory only on one-off products.
pub fn validate_tiers(tiers: &[Tier]) -> Result<(), CoreError> {
    if tiers.is_empty() {
        return Err(CoreError::invalid("/tiers", "must list at least one tier"));
    }
    if tiers.len() > 100 {
        return Err(CoreError::invalid("/tiers", "at most 100 tiers"));
    }
    for (i, tier) in tiers.iter().enumerate() {
        validate_tier_name(&tier.name, &format!("/tiers/{i}/name"))?;
        if tiers[..i].iter().any(|t| t.name == tier.name) {
            return Err(CoreError::invalid(
                format!("/tiers/{i}/name"),
                format!("duplicate tier name \"{}\"", tier.name),
            ));
        }
        if tier.display_name.chars().count() > 200 {
            return Err(CoreError::invalid(
                format!("/tiers/{i}/displayName"),
                "at most 200 characters",
            ));
        }
        if tier.features.len() > 50 || tier.features.iter().any(|f| f.chars().count() > 200) {
            return Err(CoreError::invalid(
                format!("/tiers/{i}/features"),
                "at most 50 features of at most 200 characters",
            ));
        }
        if tier.flags.len() > 50 {
            return Err(CoreError::invalid(
                format!("/tiers/{i}/flags"),
                "at most 50 flags",
            ));
        }
        for (j, flag) in tier.flags.iter().enumerate() {
            validate_flag_name(flag, &format!("/tiers/{i}/flags/{j}"))?;
            if tier.flags[..j].contains(flag) {
                return Err(CoreError::invalid(
                    format!("/tiers/{i}/flags/{j}"),
                    format!("duplicate flag \"{flag}\""),
                ));
            }
        }
        validate_alerts(&tier.alerts, &format!("/tiers/{i}/alerts"))?;
        if tier.meters.len() > MAX_METERS_PER_TIER {
            return Err(CoreError::invalid(
                format!("/tiers/{i}/meters"),
                format!("at most {MAX_METERS_PER_TIER} meters"),
            ));
        }
        for (name, spec) in &tier.meters {
            let field = format!("/tiers/{i}/meters/{name}");
            crate::validate_meter_name(name, &field)?;
            if name == REQUESTS_METER {
                return Err(CoreError::invalid(
                    field,
                    "\"requests\" is the tier's own meter: set the tier's `limit` instead",
                ));
            }
            validate_alerts(&spec.alerts, &format!("{field}/alerts"))?;
        }
        if let Some(grants) = &tier.grants {
            validate_grants(tiers, tier, grants, &format!("/tiers/{i}/grants"))?;
        }
        if tier
            .rate_limit_per_minute
            .is_some_and(|rate| !(1..=MAX_RATE_PER_MINUTE).contains(&rate))
        {
            return Err(CoreError::invalid(
                format!("/tiers/{i}/rateLimitPerMinute"),
                format!("must be between 1 and {MAX_RATE_PER_MINUTE}"),
            ));
        }
    }
    if !tiers.iter().any(Tier::is_plan) {
        return Err(CoreError::invalid(
            "/tiers",
            "must include at least one recurring tier for customers to be on",
        ));
    }
    Ok(())
}

fn validate_grants(
    tiers: &[Tier],
    tier: &Tier,
    grants: &CreditsPerUnit,
    field: &str,
) -> Result<(), CoreError> {
    if tier.is_plan() {
        return Err(CoreError::invalid(
            field,
            "only one_time products grant credits; plans carry their own meters",
        ));
    }
    require_meter(tiers, &grants.meter, &format!("{field}/meter"))?;
    if !(1..=crate::MAX_CREDIT_GRANT).contains(&grants.amount) {
        return Err(CoreError::invalid(
            format!("{field}/amount"),
            format!("must be between 1 and {}", crate::MAX_CREDIT_GRANT),
        ));
    }
    Ok(())
}

/// Checks that `meter` is a well-formed meter name that is [`REQUESTS_METER`] or
/// a meter one of `tiers` defines; the error names `field`.
fn require_meter(tiers: &[Tier], meter: &str, field: &str) -> Result<(), CoreError> {
    crate::validate_meter_name(meter, field)?;
    if meter == REQUESTS_METER || tiers.iter().any(|t| t.meters.contains_key(meter)) {
        Ok(())
    } else {
        Err(CoreError::invalid(
            field,
            format!("unknown meter \"{meter}\": no tier defines it"),
        ))
    }
}

fn validate_alerts(alerts: &[u8], field: &str) -> Result<(), CoreError> {
    if alerts.len() > 10 {
        return Err(CoreError::invalid(field, "at most 10 thresholds"));
    }
    for (j, percent) in alerts.iter().enumerate() {
        if !(1..=100).contains(percent) {
            return Err(CoreError::invalid(
                format!("{field}/{j}"),
                "must be a percentage between 1 and 100",
            ));
        }
        if alerts[..j].contains(percent) {
            return Err(CoreError::invalid(
                format!("{field}/{j}"),
                format!("duplicate threshold {percent}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn plan(name: &str, price: i64, limit: UsageLimit) -> Tier {
        Tier {
            name: name.into(),
            display_name: name.into(),
            price: Money {
                amount_minor: price,
                currency: "usd".into(),
            },
            kind: TierKind::Recurring {
                interval: Interval::Month,
            },
            limit,
            rate_limit_per_minute: None,
            features: vec![],
            flags: vec![],
            alerts: DEFAULT_ALERTS.to_vec(),
            meters: Default::default(),
            grants: None,
            archived: false,
        }
    }

    #[test]
    fn flags_and_alerts_are_validated_by_position() {
        let mut bad = plan("pro", 0, UsageLimit::Limited(10));
        bad.flags = vec!["sso".into(), "Bad-Flag".into()];
        assert!(matches!(
            validate_tiers(&[bad.clone()]),
            Err(CoreError::InvalidInput { field, .. }) if field == "/tiers/0/flags/1"
        ));
        bad.flags = vec!["sso".into(), "sso".into()];
        assert!(validate_tiers(&[bad.clone()]).is_err());
        bad.flags = vec!["sso".into()];
        bad.alerts = vec![50, 0];
        assert!(matches!(
            validate_tiers(&[bad.clone()]),
            Err(CoreError::InvalidInput { field, .. }) if field == "/tiers/0/alerts/1"
        ));
        bad.alerts = vec![50, 50];
        assert!(validate_tiers(&[bad.clone()]).is_err());
        bad.alerts = vec![];
        assert!(validate_tiers(&[bad]).is_ok());
    }

    #[test]
    fn stored_tiers_without_flags_or_alerts_read_with_defaults() {
        let mut value = serde_json::to_value(plan("free", 0, UsageLimit::Unlimited)).unwrap();
        let object = value.as_object_mut().unwrap();
        assert!(!object.contains_key("flags"), "no flags: not written");
        object.remove("alerts");
        let tier: Tier = serde_json::from_value(value).unwrap();
        assert!(tier.flags.is_empty());
        assert_eq!(tier.alerts, DEFAULT_ALERTS.to_vec());
    }

    #[test]
    fn exactly_one_call_of_a_sequence_crosses_each_threshold() {
        for limit in [1u64, 3, 7, 50, 101] {
            for step in [1u64, 2, 5] {
                let mut used = 0;
                let mut seen = Vec::new();
                while used + step <= limit {
                    used += step;
                    seen.extend(crossed_thresholds(&[1, 33, 80, 100], limit, used, step));
                }
                let reachable: Vec<u8> = [1u8, 33, 80, 100]
                    .into_iter()
                    .filter(|p| threshold_mark(limit, *p) <= used)
                    .collect();
                assert_eq!(seen, reachable, "limit {limit} step {step}");
            }
        }
    }

    #[test]
    fn money_conversion_is_exact() {
        assert_eq!(Money::from_major(0.1, "usd").unwrap().amount_minor, 10);
        assert_eq!(Money::from_major(19.99, "USD").unwrap().currency, "usd");
        assert_eq!(Money::from_major(1.5, "kwd").unwrap().amount_minor, 1500);
        assert!(Money::from_major(0.5, "jpy").is_err());
        assert!(Money::from_major(-1.0, "usd").is_err());
        assert!(Money::from_major(f64::NAN, "usd").is_err());
        assert!(Money::from_major(1e12, "usd").is_err());
        assert!(Money::from_major(1.0, "dollars").is_err());
    }

    #[test]
    fn default_plan_prefers_free() {
        let cfg = TierConfig {
            tiers: vec![
                plan("pro", 2900, UsageLimit::Limited(10)),
                plan("free", 0, UsageLimit::Limited(2)),
            ],
            updated_at: None,
            ..TierConfig::default()
        };
        assert_eq!(cfg.default_plan().unwrap().name, "free");
    }

    #[test]
    fn replace_archives_missing_tiers() {
        let cfg = TierConfig {
            tiers: vec![plan("old", 0, UsageLimit::Unlimited)],
            updated_at: None,
            ..TierConfig::default()
        };
        let next = cfg.replace_with(vec![plan("new", 0, UsageLimit::Unlimited)], Utc::now());
        assert!(next.find("old").unwrap().archived);
        assert!(next.offered_plan("old").is_none());
        assert!(next.offered_plan("new").is_some());
    }

    #[test]
    fn tier_validation() {
        assert!(validate_tiers(&[plan("free", 0, UsageLimit::Unlimited)]).is_ok());
        assert!(validate_tiers(&[]).is_err());
        assert!(validate_tiers(&[plan("Free", 0, UsageLimit::Unlimited)]).is_err());
        let dup = [
            plan("a", 0, UsageLimit::Unlimited),
            plan("a", 0, UsageLimit::Unlimited),
        ];
        assert!(matches!(
            validate_tiers(&dup),
            Err(CoreError::InvalidInput { field, .. }) if field == "/tiers/1/name"
        ));
    }
}
