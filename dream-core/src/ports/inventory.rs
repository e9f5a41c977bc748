//! The inventory port: one-off product stock reserved, committed and released atomically.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    InventoryCounts, Reservation, ReservationCommit, ReservationId, ReservationTransition,
    ReserveOutcome, ReserveRequest, StoreError, Tenant,
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
///   [`release_reservation`](Self::release_reservation) settle a reservation
///   exactly once, however many callers race (a commit may still follow a
///   release: a payment is never lost).
///
/// Expiry is lazy: a reservation whose `expires_at <= now` simply stops counting
/// as reserved; no job has to run (a sweeper may release expired reservations
/// with [`release_expired_reservations`](Self::release_expired_reservations),
/// which changes no count).
/// It stays `Active` until settled, and a commit still sells it (the buyer may
/// have paid just before the session expired and the webhook arrived late), even
/// if its units were reserved again meanwhile: the commit reports the products it
/// pushed over their stock ([`ReservationCommit`]) instead of refusing.
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
///     demand_of, ports::InventoryStore, InventoryCounts, ProductSold, Reservation,
///     ReservationCommit, ReservationId, ReservationState, ReservationTransition, ReserveOutcome,
///     ReserveRequest, StoreError, Tenant,
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
///               rule: fn(ReservationState) -> ReservationTransition)
///               -> Result<ReservationCommit, StoreError> {
///         let mut map = self.0.lock().unwrap();
///         let r = map.get_mut(&(t.clone(), id.clone())).ok_or(StoreError::NotFound)?;
///         let transition = rule(r.state);
///         if !transition.changed() {
///             return Ok(ReservationCommit { transition, sold: vec![] });
///         }
///         r.state = transition.after;
///         r.settled_at = Some(now);
///         let lines = r.lines.clone();
///         let sold = if transition.after == ReservationState::Committed {
///             demand_of(&lines).into_iter().map(|d| ProductSold {
///                 sold: counts(map.values(), t, &d.product, now).sold,
///                 product: d.product, quantity: d.quantity, stock: d.stock,
///             }).collect()
///         } else {
///             vec![]
///         };
///         Ok(ReservationCommit { transition, sold })
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
///         -> Result<ReservationCommit, StoreError> {
///         self.settle(t, id, now, ReservationTransition::commit)
///     }
///     async fn release_reservation(&self, t: &Tenant, id: &ReservationId, now: DateTime<Utc>)
///         -> Result<ReservationTransition, StoreError> {
///         Ok(self.settle(t, id, now, ReservationTransition::release)?.transition)
///     }
///     async fn release_expired_reservations(&self, now: DateTime<Utc>, limit: usize)
///         -> Result<u64, StoreError> {
///         let expired: Vec<(Tenant, ReservationId)> = self.0.lock().unwrap().iter()
///             .filter(|(_, r)| r.state == ReservationState::Active && r.expires_at <= now)
///             .map(|(key, _)| key.clone()).take(limit).collect();
///         let mut released = 0;
///         for (t, id) in expired {
///             if self.settle(&t, &id, now, ReservationTransition::release)?.transition.changed() {
///                 released += 1;
///             }
///         }
///         Ok(released)
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

    /// Atomically: an `Active` reservation (expired or not) or a `Released` one
    /// becomes `Committed` and its units count as sold, and each product's total
    /// sold after the commit is reported ([`ReservationCommit::sold`]); a
    /// `Committed` one is left as it is and reported, with nothing sold. A commit
    /// means the buyer paid, so it is never refused for stock. `NotFound` if the
    /// tenant has no such reservation.
    async fn commit_reservation(
        &self,
        tenant: &Tenant,
        id: &ReservationId,
        now: DateTime<Utc>,
    ) -> Result<ReservationCommit, StoreError>;

    /// Atomically: an `Active` reservation becomes `Released` and its units are
    /// free at once; any other state is left as it is and reported. `NotFound` if
    /// the tenant has no such reservation.
    async fn release_reservation(
        &self,
        tenant: &Tenant,
        id: &ReservationId,
        now: DateTime<Utc>,
    ) -> Result<ReservationTransition, StoreError>;

    /// Releases up to `limit` reservations (across tenants, earliest expiry first)
    /// that are `Active` with `expires_at <= now`, as
    /// [`release_reservation`](Self::release_reservation) would at `now`, and
    /// returns how many. Counts do not change (expired holds count for nothing);
    /// the rows their holds kept are freed. A commit arriving later still sells
    /// the reservation. For a periodic sweeper: any number may run at once.
    async fn release_expired_reservations(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError>;

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
