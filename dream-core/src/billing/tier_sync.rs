//! Tier sync: which Stripe objects a tier needs, as a pure step function.
//!
//! The service asks [`next_sync_step`] what to do for a tier, performs that one
//! provider call, records the result in the tier's [`StripeTierRefs`], and asks
//! again until the answer is `None`. Recording after every call means a crash or a
//! failed call resumes where it stopped, and every call's idempotency key is derived
//! from the refs (a counter per tier), so a retry after a crash reuses the object
//! Stripe already created instead of making a second one.

use serde::{Deserialize, Serialize};

use crate::{Interval, Tier, TierKind, UsageLimit};

/// What dream knows about a tier's objects on the developer's Stripe account.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StripeTierRefs {
    /// [`BillingConnection::account_key`](crate::BillingConnection::account_key) the
    /// ids below belong to. Refs of another account are ignored (the developer
    /// reconnected elsewhere) and the objects are created afresh.
    pub account: String,
    /// `prod_…`.
    pub product_id: Option<String>,
    /// Whether the product is active on Stripe.
    pub product_active: bool,
    /// [`product_fingerprint`] of what the product was last set to.
    pub product_fingerprint: String,
    /// The price checkouts use (`price_…`).
    pub price_id: Option<String>,
    /// [`price_fingerprint`] of `price_id`.
    pub price_fingerprint: Option<String>,
    /// Replaced prices still active on Stripe, to deactivate.
    pub retiring_prices: Vec<String>,
    /// Prices created so far for this tier: the idempotency counter of the next one.
    pub prices_created: u32,
    /// Product updates so far: the idempotency counter of the next one.
    pub product_updates: u32,
}

/// One provider call of a tier sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncStep {
    /// Create the tier's product.
    CreateProduct,
    /// Set the product's name and metadata and make it `active`.
    UpdateProduct {
        /// Whether the product should be on sale.
        active: bool,
    },
    /// Create a price for the tier's current amount (prices are immutable).
    CreatePrice,
    /// Deactivate a price that is no longer current.
    DeactivatePrice {
        /// `price_…`.
        price_id: String,
    },
}

/// What the product's name and metadata depend on.
pub fn product_fingerprint(tier: &Tier) -> String {
    format!(
        "{}|{}|{}",
        tier.display_name,
        limit_text(tier.limit),
        kind_text(&tier.kind)
    )
}

/// What makes a price different: amount, currency and interval.
pub fn price_fingerprint(tier: &Tier) -> String {
    format!(
        "{}|{}|{}",
        tier.price.amount_minor,
        tier.price.currency,
        kind_text(&tier.kind)
    )
}

/// `"unlimited"` or the number, as written to Stripe metadata.
pub fn limit_text(limit: UsageLimit) -> String {
    match limit {
        UsageLimit::Limited(n) => n.to_string(),
        UsageLimit::Unlimited => "unlimited".into(),
    }
}

fn kind_text(kind: &TierKind) -> &'static str {
    match kind {
        TierKind::Recurring {
            interval: Interval::Month,
        } => "month",
        TierKind::Recurring {
            interval: Interval::Year,
        } => "year",
        TierKind::OneTime { .. } => "one_time",
    }
}

/// Whether a tier is sold through Stripe: offered and not free. Free tiers need no
/// Stripe object at all.
pub fn needs_stripe_price(tier: &Tier) -> bool {
    !tier.archived && !tier.price.is_free()
}

/// The next call that brings Stripe in line with `tier`, or `None` when it is.
///
/// `refs` must already be those of the current account (see
/// [`StripeTierRefs::account`]).
///
/// ```
/// use dream_core::{next_sync_step, Interval, Money, StripeTierRefs, SyncStep, Tier, TierKind, UsageLimit};
/// let tier = Tier {
///     name: "pro".into(), display_name: "Pro".into(),
///     price: Money::from_major(29.0, "usd").unwrap(),
///     kind: TierKind::Recurring { interval: Interval::Month },
///     limit: UsageLimit::Limited(1000), rate_limit_per_minute: None,
///     features: vec![], flags: vec![], alerts: vec![80, 100], meters: Default::default(), grants: None, archived: false,
/// };
/// assert_eq!(next_sync_step(&tier, &StripeTierRefs::default()), Some(SyncStep::CreateProduct));
/// ```
pub fn next_sync_step(tier: &Tier, refs: &StripeTierRefs) -> Option<SyncStep> {
    if needs_stripe_price(tier) {
        if refs.product_id.is_none() {
            return Some(SyncStep::CreateProduct);
        }
        if !refs.product_active || refs.product_fingerprint != product_fingerprint(tier) {
            return Some(SyncStep::UpdateProduct { active: true });
        }
        if refs.price_id.is_none()
            || refs.price_fingerprint.as_deref() != Some(price_fingerprint(tier).as_str())
        {
            return Some(SyncStep::CreatePrice);
        }
        if let Some(old) = refs.retiring_prices.first() {
            return Some(SyncStep::DeactivatePrice {
                price_id: old.clone(),
            });
        }
        return None;
    }
    if let Some(price_id) = refs.retiring_prices.first().or(refs.price_id.as_ref()) {
        return Some(SyncStep::DeactivatePrice {
            price_id: price_id.clone(),
        });
    }
    if refs.product_id.is_some() && refs.product_active {
        return Some(SyncStep::UpdateProduct { active: false });
    }
    None
}

impl StripeTierRefs {
    /// Records a created product.
    pub fn product_created(&mut self, product_id: String, tier: &Tier) {
        self.product_id = Some(product_id);
        self.product_active = true;
        self.product_fingerprint = product_fingerprint(tier);
    }

    /// Records a product update.
    pub fn product_updated(&mut self, active: bool, tier: &Tier) {
        self.product_active = active;
        self.product_fingerprint = product_fingerprint(tier);
        self.product_updates += 1;
    }

    /// Records a created price; the one it replaces is queued for deactivation.
    pub fn price_created(&mut self, price_id: String, tier: &Tier) {
        if let Some(old) = self.price_id.take() {
            self.retiring_prices.push(old);
        }
        self.price_id = Some(price_id);
        self.price_fingerprint = Some(price_fingerprint(tier));
        self.prices_created += 1;
    }

    /// Records a deactivated price.
    pub fn price_deactivated(&mut self, price_id: &str) {
        self.retiring_prices.retain(|p| p != price_id);
        if self.price_id.as_deref() == Some(price_id) {
            self.price_id = None;
            self.price_fingerprint = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::Money;

    fn tier(amount: i64, interval: Option<Interval>, archived: bool, name: &str) -> Tier {
        Tier {
            name: "t".into(),
            display_name: name.into(),
            price: Money {
                amount_minor: amount,
                currency: "usd".into(),
            },
            kind: match interval {
                Some(interval) => TierKind::Recurring { interval },
                None => TierKind::OneTime { inventory: None },
            },
            limit: UsageLimit::Limited(10),
            rate_limit_per_minute: None,
            features: vec![],
            flags: vec![],
            alerts: crate::DEFAULT_ALERTS.to_vec(),
            meters: Default::default(),
            grants: None,
            archived,
        }
    }

    /// Runs steps like the service does, with a fake provider that numbers objects.
    fn converge(tier: &Tier, refs: &mut StripeTierRefs, next_id: &mut u32) -> Vec<SyncStep> {
        let mut steps = vec![];
        while let Some(step) = next_sync_step(tier, refs) {
            assert!(
                steps.len() < 4,
                "sync takes more than four calls: {steps:?}"
            );
            steps.push(step.clone());
            *next_id += 1;
            match step {
                SyncStep::CreateProduct => refs.product_created(format!("prod_{next_id}"), tier),
                SyncStep::UpdateProduct { active } => refs.product_updated(active, tier),
                SyncStep::CreatePrice => refs.price_created(format!("price_{next_id}"), tier),
                SyncStep::DeactivatePrice { price_id } => refs.price_deactivated(&price_id),
            }
        }
        steps
    }

    fn arb_tier() -> impl Strategy<Value = Tier> {
        (
            prop_oneof![Just(0i64), 1i64..5000],
            prop_oneof![
                Just(Some(Interval::Month)),
                Just(Some(Interval::Year)),
                Just(None)
            ],
            any::<bool>(),
            prop_oneof![Just("Pro"), Just("Pro plan")],
        )
            .prop_map(|(amount, interval, archived, name)| tier(amount, interval, archived, name))
    }

    proptest! {
        /// Whatever sequence of tier edits, after each sync: a tier on sale has an
        /// active product and exactly one active price at its current amount; any
        /// other tier has no active price; and a second sync does nothing.
        #[test]
        fn sync_converges_and_is_idempotent(edits in proptest::collection::vec(arb_tier(), 1..8)) {
            let mut refs = StripeTierRefs::default();
            let mut next_id = 0;
            let mut active_prices: Vec<String> = vec![];
            for tier in &edits {
                for step in converge(tier, &mut refs, &mut next_id) {
                    match step {
                        SyncStep::CreatePrice => active_prices.push(refs.price_id.clone().unwrap()),
                        SyncStep::DeactivatePrice { price_id } => active_prices.retain(|p| *p != price_id),
                        _ => {}
                    }
                }
                prop_assert_eq!(next_sync_step(tier, &refs), None);
                if needs_stripe_price(tier) {
                    prop_assert!(refs.product_active);
                    prop_assert_eq!(active_prices.len(), 1);
                    prop_assert_eq!(refs.price_id.as_ref(), active_prices.first());
                    prop_assert_eq!(refs.price_fingerprint.clone(), Some(price_fingerprint(tier)));
                } else {
                    prop_assert!(active_prices.is_empty());
                    prop_assert!(refs.price_id.is_none());
                    prop_assert!(!refs.product_active);
                }
                prop_assert!(refs.retiring_prices.is_empty());
            }
        }
    }

    #[test]
    fn a_price_change_creates_a_new_price_then_retires_the_old_one() {
        let mut refs = StripeTierRefs::default();
        let mut n = 0;
        converge(
            &tier(2900, Some(Interval::Month), false, "Pro"),
            &mut refs,
            &mut n,
        );
        let steps = converge(
            &tier(3900, Some(Interval::Month), false, "Pro"),
            &mut refs,
            &mut n,
        );
        assert_eq!(
            steps,
            vec![
                SyncStep::CreatePrice,
                SyncStep::DeactivatePrice {
                    price_id: "price_2".into()
                }
            ]
        );
        assert_eq!(refs.prices_created, 2);
    }

    #[test]
    fn free_tiers_get_nothing() {
        let mut refs = StripeTierRefs::default();
        assert!(converge(
            &tier(0, Some(Interval::Month), false, "Free"),
            &mut refs,
            &mut 0
        )
        .is_empty());
    }
}
