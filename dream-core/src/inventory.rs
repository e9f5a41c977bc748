//! Inventory of one-off products: reservations held while a buyer pays, and the
//! rules every backend of [`InventoryStore`](crate::ports::InventoryStore) applies.
//!
//! A cart checkout *reserves* its lines for the lifetime of the checkout session;
//! the payment webhook then *commits* the reservation (the units are sold) or
//! *releases* it (the units are free again). A reservation that is neither stops
//! holding stock at its `expires_at` (lazy expiry: nothing has to run for it).
//!
//! For a product with stock `S`, at any instant `now`:
//! `available = S − sold − Σ quantities of active reservations with expires_at > now`
//! (never below 0). The pure rules live here so that every backend decides the
//! same way; the backends only make the decision atomic.

use std::{collections::HashMap, fmt};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    ids::{is_base62, random_base62_128},
    Tenant,
};

prefixed_id!(
    /// A reservation of inventory, usually one per checkout session.
    ///
    /// ```
    /// use dream_core::ReservationId;
    /// let id = ReservationId::generate();
    /// assert!(id.as_str().starts_with("res_"));
    /// assert_eq!(ReservationId::parse(id.as_str()), Some(id));
    /// ```
    ReservationId,
    "res"
);

/// One line of a cart: `quantity` units of `product`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationLine {
    /// The product's tier name.
    pub product: String,
    /// Units wanted.
    pub quantity: u64,
    /// The product's total inventory (from its tier, [`TierKind::OneTime`]), or
    /// `None` for unlimited stock. In a stored [`Reservation`] it is the stock the
    /// line was checked against.
    ///
    /// [`TierKind::OneTime`]: crate::TierKind::OneTime
    pub stock: Option<u64>,
}

/// One atomic reservation decision for a whole cart.
#[derive(Debug, Clone)]
pub struct ReserveRequest {
    /// Tenant.
    pub tenant: Tenant,
    /// The new reservation's id; unique per tenant.
    pub reservation: ReservationId,
    /// The cart, in the buyer's order. Lines naming the same product count together.
    pub lines: Vec<ReservationLine>,
    /// When the reservation stops holding stock (the checkout session's expiry).
    pub expires_at: DateTime<Utc>,
    /// The time of the call: reservations with `expires_at <= now` no longer count.
    pub now: DateTime<Utc>,
}

/// What one product of a cart needs: the cart's lines for it, added up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductDemand {
    /// The product.
    pub product: String,
    /// The sum of the quantities of the cart's lines for this product (saturating,
    /// so an absurd sum can never fit a finite stock).
    pub quantity: u64,
    /// The stock of the product's first line in the cart.
    pub stock: Option<u64>,
}

impl ReserveRequest {
    /// The cart's demand per product, in order of each product's first line.
    ///
    /// ```
    /// # use chrono::Utc;
    /// # use dream_core::{Mode, PlatformId, ReservationId, ReservationLine, ReserveRequest, Tenant};
    /// let line = |product: &str, quantity| ReservationLine { product: product.into(), quantity, stock: Some(5) };
    /// let request = ReserveRequest {
    ///     tenant: Tenant::new(PlatformId::generate(), Mode::Test),
    ///     reservation: ReservationId::generate(),
    ///     lines: vec![line("mug", 2), line("cap", 1), line("mug", 3)],
    ///     expires_at: Utc::now(),
    ///     now: Utc::now(),
    /// };
    /// let demand = request.demand();
    /// assert_eq!((demand[0].product.as_str(), demand[0].quantity), ("mug", 5));
    /// assert_eq!((demand[1].product.as_str(), demand[1].quantity), ("cap", 1));
    /// ```
    pub fn demand(&self) -> Vec<ProductDemand> {
        demand_of(&self.lines)
    }

    /// The decision every backend makes, given each product's counts at `now`
    /// (read while the backend holds whatever makes the decision atomic): the first
    /// product, in cart order, whose stock cannot cover its demand is `SoldOut`;
    /// if there is none, `Reserved`. `counts` is only asked about products with a
    /// stock.
    pub fn decide(&self, mut counts: impl FnMut(&str) -> InventoryCounts) -> ReserveOutcome {
        for demand in self.demand() {
            let Some(stock) = demand.stock else { continue };
            let available = units_left(stock, counts(&demand.product));
            if demand.quantity > available {
                return ReserveOutcome::SoldOut {
                    product: demand.product,
                    available,
                };
            }
        }
        ReserveOutcome::Reserved
    }
}

/// The demand per product of `lines`, in order of each product's first line.
/// Backends use it to turn a stored reservation's lines into per-product amounts.
pub fn demand_of(lines: &[ReservationLine]) -> Vec<ProductDemand> {
    let mut demand: Vec<ProductDemand> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for line in lines {
        match index.get(line.product.as_str()) {
            Some(&i) => demand[i].quantity = demand[i].quantity.saturating_add(line.quantity),
            None => {
                index.insert(&line.product, demand.len());
                demand.push(ProductDemand {
                    product: line.product.clone(),
                    quantity: line.quantity,
                    stock: line.stock,
                });
            }
        }
    }
    demand
}

/// What [`reserve_inventory`](crate::ports::InventoryStore::reserve_inventory) decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// Every line fits; the reservation is recorded and holds its units.
    Reserved,
    /// This product (the first in cart order that does not fit) has too few units
    /// left; nothing was recorded.
    SoldOut {
        /// The product.
        product: String,
        /// Units still available at the time of the call (less than wanted).
        available: u64,
    },
}

/// A product's units sold and currently held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InventoryCounts {
    /// Units of committed reservations.
    pub sold: u64,
    /// Units of active reservations that have not expired.
    pub reserved: u64,
}

impl InventoryCounts {
    /// Units still for sale given the product's `stock`: `None` when unlimited,
    /// else `stock − sold − reserved`, at least 0 (stock may have been lowered
    /// below what is already sold).
    ///
    /// ```
    /// use dream_core::InventoryCounts;
    /// let counts = InventoryCounts { sold: 3, reserved: 1 };
    /// assert_eq!(counts.available(Some(5)), Some(1));
    /// assert_eq!(counts.available(Some(2)), Some(0));
    /// assert_eq!(counts.available(None), None);
    /// ```
    pub fn available(&self, stock: Option<u64>) -> Option<u64> {
        stock.map(|s| units_left(s, *self))
    }
}

/// The one availability rule: what `stock` leaves after sold and reserved units.
fn units_left(stock: u64, counts: InventoryCounts) -> u64 {
    stock
        .saturating_sub(counts.sold)
        .saturating_sub(counts.reserved)
}

/// Where a reservation is in its life. `Active` → `Committed` or `Released`, once;
/// `Committed` is final. `Released` → `Committed` too, when a payment arrives for a
/// released cart: the money was taken, so the sale is recorded (and may oversell,
/// see [`ReservationCommit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReservationState {
    /// Holding its units until `expires_at` (and committable even after).
    Active,
    /// Paid: its units are sold.
    Committed,
    /// Abandoned or cancelled: its units were never sold.
    Released,
}

impl ReservationState {
    /// `"active"`, `"committed"` or `"released"` (how SQL backends store it).
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationState::Active => "active",
            ReservationState::Committed => "committed",
            ReservationState::Released => "released",
        }
    }

    /// The inverse of [`ReservationState::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(ReservationState::Active),
            "committed" => Some(ReservationState::Committed),
            "released" => Some(ReservationState::Released),
            _ => None,
        }
    }
}

impl fmt::Display for ReservationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a commit or release did: the state before and after, read and written in
/// one atomic step, so a webhook handler knows whether *it* settled the
/// reservation.
///
/// | call    | before      | after       | meaning for the handler                    |
/// |---------|-------------|-------------|--------------------------------------------|
/// | commit  | `Active`    | `Committed` | sold now (even if past `expires_at`): fulfil |
/// | commit  | `Committed` | `Committed` | a repeat: already sold, do nothing         |
/// | commit  | `Released`  | `Committed` | paid for a released cart: sold after all, may oversell |
/// | release | `Active`    | `Released`  | units free again                           |
/// | release | `Released`  | `Released`  | a repeat: do nothing                       |
/// | release | `Committed` | `Committed` | already sold: nothing released             |
///
/// ```
/// use dream_core::{ReservationState::*, ReservationTransition};
/// let t = ReservationTransition::commit(Active);
/// assert!(t.changed());
/// assert_eq!(t.after, Committed);
/// assert!(!ReservationTransition::release(Committed).changed());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservationTransition {
    /// The state the call found.
    pub before: ReservationState,
    /// The state the call left.
    pub after: ReservationState,
}

impl ReservationTransition {
    /// What committing a reservation in state `before` does: whatever it was, it
    /// ends committed, because a commit means the buyer paid and a payment must
    /// never be lost.
    pub fn commit(before: ReservationState) -> Self {
        Self {
            before,
            after: ReservationState::Committed,
        }
    }

    /// What releasing a reservation in state `before` does.
    pub fn release(before: ReservationState) -> Self {
        let after = match before {
            ReservationState::Active => ReservationState::Released,
            settled => settled,
        };
        Self { before, after }
    }

    /// Whether this call changed the state (false for every repeat or no-op).
    pub fn changed(&self) -> bool {
        self.before != self.after
    }
}

/// What a commit did: the state change, and, when it sold units, each product's
/// units sold by this commit and in all after it (read in the same atomic step).
///
/// A commit is never refused: it means the buyer paid. So a commit of a
/// reservation that had expired (its units sold again meanwhile) or was released
/// can push `sold` over the stock; [`ProductSold::oversold_by`] says by how much.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationCommit {
    /// The state found and the state left.
    pub transition: ReservationTransition,
    /// One entry per product of the reservation when this call sold it (in the
    /// order of [`demand_of`]); empty for a repeat.
    pub sold: Vec<ProductSold>,
}

/// One product sold by a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductSold {
    /// The product.
    pub product: String,
    /// Units this commit sold.
    pub quantity: u64,
    /// The stock the reservation's line was checked against (`None`: unlimited).
    pub stock: Option<u64>,
    /// Units sold in all, this commit included.
    pub sold: u64,
}

impl ProductSold {
    /// Units sold beyond `stock` (the product's current stock, which may differ
    /// from [`ProductSold::stock`]), or `None` when not oversold.
    ///
    /// ```
    /// use dream_core::ProductSold;
    /// let sold = ProductSold { product: "mug".into(), quantity: 2, stock: Some(5), sold: 6 };
    /// assert_eq!(sold.oversold_by(Some(5)), Some(1));
    /// assert_eq!(sold.oversold_by(Some(6)), None);
    /// assert_eq!(sold.oversold_by(None), None);
    /// ```
    pub fn oversold_by(&self, stock: Option<u64>) -> Option<u64> {
        stock
            .map(|s| self.sold.saturating_sub(s))
            .filter(|over| *over > 0)
    }
}

/// A stored reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// Id.
    pub id: ReservationId,
    /// Tenant.
    pub tenant: Tenant,
    /// The cart's lines as reserved, in order.
    pub lines: Vec<ReservationLine>,
    /// Current state.
    pub state: ReservationState,
    /// The `now` of the reserve call.
    pub created_at: DateTime<Utc>,
    /// When it stops holding stock.
    pub expires_at: DateTime<Utc>,
    /// The `now` of the commit or release that settled it; `None` while active.
    pub settled_at: Option<DateTime<Utc>>,
}

impl Reservation {
    /// Whether it holds its units at `now`: active and not yet expired.
    pub fn holds_stock(&self, now: DateTime<Utc>) -> bool {
        self.state == ReservationState::Active && now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Mode, PlatformId};

    fn line(product: &str, quantity: u64, stock: Option<u64>) -> ReservationLine {
        ReservationLine {
            product: product.into(),
            quantity,
            stock,
        }
    }

    fn request(lines: Vec<ReservationLine>) -> ReserveRequest {
        ReserveRequest {
            tenant: Tenant::new(PlatformId::generate(), Mode::Test),
            reservation: ReservationId::generate(),
            lines,
            expires_at: Utc::now(),
            now: Utc::now(),
        }
    }

    #[test]
    fn decide_reports_the_first_product_that_does_not_fit() {
        let req = request(vec![
            line("a", 1, Some(10)),
            line("b", 2, Some(1)),
            line("c", 5, Some(0)),
            line("u", u64::MAX, None),
        ]);
        let outcome = req.decide(|_| InventoryCounts::default());
        assert_eq!(
            outcome,
            ReserveOutcome::SoldOut {
                product: "b".into(),
                available: 1
            }
        );
        let fits = request(vec![line("a", 2, Some(3)), line("u", 9, None)]);
        let mut asked = Vec::new();
        let outcome = fits.decide(|p| {
            asked.push(p.to_owned());
            InventoryCounts {
                sold: 1,
                reserved: 0,
            }
        });
        assert_eq!(outcome, ReserveOutcome::Reserved);
        assert_eq!(asked, ["a"], "unlimited products need no counts");
    }

    #[test]
    fn duplicate_lines_add_up_saturating() {
        let req = request(vec![line("a", u64::MAX, Some(5)), line("a", 2, Some(5))]);
        assert_eq!(req.demand()[0].quantity, u64::MAX);
        assert!(matches!(
            req.decide(|_| InventoryCounts::default()),
            ReserveOutcome::SoldOut { available: 5, .. }
        ));
    }

    #[test]
    fn state_machine() {
        use ReservationState::*;
        for state in [Active, Committed, Released] {
            assert_eq!(ReservationState::parse(state.as_str()), Some(state));
        }
        assert_eq!(ReservationTransition::commit(Released).after, Committed);
        assert!(ReservationTransition::commit(Released).changed());
        assert_eq!(ReservationTransition::release(Active).after, Released);
        assert!(!ReservationTransition::commit(Committed).changed());
    }
}
