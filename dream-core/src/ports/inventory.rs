//! The inventory port: one-off product stock reserved, committed and released atomically.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    InventoryCounts, Reservation, ReservationId, ReservationTransition, ReserveOutcome,
    ReserveRequest, StoreError, Tenant,
};

/// Inventory of one-off products: reservations and the units they sell.
///
/// Object-safe (`#[async_trait]`) like every port, so services hold it as
/// `Arc<dyn Store>`.
///
/// # The atomicity contract
///
/// Two buyers must never both get the last unit, even when they hit different
/// server processes at the same instant. So each of the three writes is **one
/// atomic step in the backend**, never a read, a decision in Rust and a write
/// (another process could write in between):
///
/// - [`reserve_inventory`](Self::reserve_inventory) reads every limited product's
///   counts, decides for the whole cart with [`ReserveRequest::decide`] and
///   records the reservation, with no other reserve or commit of those products
///   in between;
/// - [`commit_reservation`](Self::commit_reservation) and
///   [`release_reservation`](Self::release_reservation) move an `Active`
///   reservation to its end state exactly once, however many callers race.
///
/// Expiry is lazy: a reservation whose `expires_at <= now` simply stops counting
/// as reserved; no job has to run. It stays `Active` until settled, and a commit
/// still sells it (the buyer may have paid just before the session expired and the
/// webhook arrived late), even if its units were reserved again meanwhile.
///
/// Reservation ids are per tenant: another tenant's id is `NotFound`/`None`, and
/// reserving with it is as if it did not exist.
///
/// A minimal backend over a `HashMap`, with one lock around every decision:
///
/// ```
/// use std::{collections::HashMap, sync::Mutex};
/// use async_trait::async_trait;
/// use chrono::{DateTime, Utc};
/// use dream_core::{
///     ports::InventoryStore, InventoryCounts, Reservation, ReservationId,
///     ReservationState, ReservationTransition, ReserveOutcome, ReserveRequest, StoreError, Tenant,
/// };
///
/// #[derive(Default)]
/// struct MapInventory(Mutex<HashMap<(Tenant, ReservationId), Reservation>>);
///
/// fn counts<'a>(all: impl Iterator<Item = &'a Reservation>, t: &Tenant, product: &str, now: DateTime<Utc>) -> InventoryCounts {
///     let mut counts = InventoryCounts::default();
///     for r in all.filter(|r| &r.tenant == t) {
///         let units: u64 = r.lines.iter().filter(|l| l.product == product).map(|l| l.quantity).sum();
///         match r.state {
///             ReservationState::Committed => counts.sold += units,
///             _ if r.holds_stock(now) => counts.reserved += units,
///             _ => {}
///         }
///     }
///     counts
/// }
///
/// impl MapInventory {
///     fn settle(&self, t: &Tenant, id: &ReservationId, now: DateTime<Utc>,
///               rule: fn(ReservationState) -> ReservationTransition) -> Result<ReservationTransition, StoreError> {
///         let mut map = self.0.lock().unwrap();
///         let r = map.get_mut(&(t.clone(), id.clone())).ok_or(StoreError::NotFound)?;
///         let transition = rule(r.state);
///         if transition.changed() {
///             r.state = transition.after;
///             r.settled_at = Some(now);
///         }
///         Ok(transition)
///     }
/// }
///
/// #[async_trait]
/// impl InventoryStore for MapInventory {
///     async fn reserve_inventory(&self, req: &ReserveRequest) -> Result<ReserveOutcome, StoreError> {
///         let mut map = self.0.lock().unwrap();
///         let key = (req.tenant.clone(), req.reservation.clone());
///         if map.contains_key(&key) {
///             return Err(StoreError::Conflict("reservation id exists"));
///         }
///         let outcome = req.decide(|p| counts(map.values(), &req.tenant, p, req.now));
///         if outcome == ReserveOutcome::Reserved {
///             map.insert(key, Reservation {
///                 id: req.reservation.clone(), tenant: req.tenant.clone(), lines: req.lines.clone(),
///                 state: ReservationState::Active, created_at: req.now,
///                 expires_at: req.expires_at, settled_at: None,
///             });
///         }
///         Ok(outcome)
///     }
///     async fn commit_reservation(&self, t: &Tenant, id: &ReservationId, now: DateTime<Utc>)
///         -> Result<ReservationTransition, StoreError> {
///         self.settle(t, id, now, ReservationTransition::commit)
///     }
///     async fn release_reservation(&self, t: &Tenant, id: &ReservationId, now: DateTime<Utc>)
///         -> Result<ReservationTransition, StoreError> {
///         self.settle(t, id, now, ReservationTransition::release)
///     }
///     async fn inventory_counts(&self, t: &Tenant, product: &str, now: DateTime<Utc>)
///         -> Result<InventoryCounts, StoreError> {
///         Ok(counts(self.0.lock().unwrap().values(), t, product, now))
///     }
///     async fn get_reservation(&self, t: &Tenant, id: &ReservationId)
///         -> Result<Option<Reservation>, StoreError> {
///         Ok(self.0.lock().unwrap().get(&(t.clone(), id.clone())).cloned())
///     }
/// }
/// ```
#[async_trait]
pub trait InventoryStore: Send + Sync {
    /// Atomically, for the whole cart: if every product with a stock has room for
    /// its lines (added up) at `req.now`, record the reservation as `Active` with
    /// its lines and expiry and answer `Reserved`; otherwise record nothing and
    /// answer `SoldOut` for the first product, in cart order, that does not fit
    /// (the rule of [`ReserveRequest::decide`]). Products without a stock always fit
    /// and are recorded too, so their counts are kept.
    ///
    /// `Conflict` if the tenant already has a reservation with this id, whatever
    /// its state and whether or not the cart would fit: a retried call learns that
    /// its first attempt was recorded.
    async fn reserve_inventory(&self, req: &ReserveRequest) -> Result<ReserveOutcome, StoreError>;

    /// Atomically: an `Active` reservation (expired or not) becomes `Committed`
    /// and its units count as sold; any other state is left as it is and reported.
    /// `NotFound` if the tenant has no such reservation.
    async fn commit_reservation(
        &self,
        tenant: &Tenant,
        id: &ReservationId,
        now: DateTime<Utc>,
    ) -> Result<ReservationTransition, StoreError>;

    /// Atomically: an `Active` reservation becomes `Released` and its units are
    /// free at once; any other state is left as it is and reported. `NotFound` if
    /// the tenant has no such reservation.
    async fn release_reservation(
        &self,
        tenant: &Tenant,
        id: &ReservationId,
        now: DateTime<Utc>,
    ) -> Result<ReservationTransition, StoreError>;

    /// The product's units sold (committed) and reserved (active and unexpired at
    /// `now`), read consistently; zeros for a product never reserved. Never
    /// changes anything.
    async fn inventory_counts(
        &self,
        tenant: &Tenant,
        product: &str,
        now: DateTime<Utc>,
    ) -> Result<InventoryCounts, StoreError>;

    /// The tenant's reservation with this id, in whatever state.
    async fn get_reservation(
        &self,
        tenant: &Tenant,
        id: &ReservationId,
    ) -> Result<Option<Reservation>, StoreError>;
}
