//! Inventory reservations in memory.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    demand_of, ports::InventoryStore, InventoryCounts, Reservation, ReservationId,
    ReservationState, ReservationTransition, ReserveOutcome, ReserveRequest, StoreError, Tenant,
};

use super::{lock, MemoryStore};

type ProductKey = (Tenant, String);

/// Reservations and per-product counts, all behind one mutex so a reserve's read
/// of the counts and its write of the holds are one step.
#[derive(Debug, Default)]
pub(super) struct Inventory {
    reservations: HashMap<(Tenant, ReservationId), Reservation>,
    products: HashMap<ProductKey, Product>,
}

#[derive(Debug, Default)]
struct Product {
    sold: u64,
    /// Units held by each active reservation, with its expiry. Kept per product so
    /// counting does not walk every reservation; removed when the reservation is
    /// settled, left in place (and ignored) once expired.
    holds: HashMap<ReservationId, (u64, DateTime<Utc>)>,
}

impl Product {
    fn counts(&self, now: DateTime<Utc>) -> InventoryCounts {
        InventoryCounts {
            sold: self.sold,
            reserved: self
                .holds
                .values()
                .filter(|(_, expires_at)| now < *expires_at)
                .fold(0u64, |sum, (units, _)| sum.saturating_add(*units)),
        }
    }
}

impl Inventory {
    fn counts(&self, tenant: &Tenant, product: &str, now: DateTime<Utc>) -> InventoryCounts {
        self.products
            .get(&(tenant.clone(), product.to_owned()))
            .map(|p| p.counts(now))
            .unwrap_or_default()
    }

    fn settle(
        &mut self,
        tenant: &Tenant,
        id: &ReservationId,
        now: DateTime<Utc>,
        rule: fn(ReservationState) -> ReservationTransition,
    ) -> Result<ReservationTransition, StoreError> {
        let reservation = self
            .reservations
            .get_mut(&(tenant.clone(), id.clone()))
            .ok_or(StoreError::NotFound)?;
        let transition = rule(reservation.state);
        if !transition.changed() {
            return Ok(transition);
        }
        reservation.state = transition.after;
        reservation.settled_at = Some(now);
        for demand in demand_of(&reservation.lines) {
            let product = self
                .products
                .entry((tenant.clone(), demand.product))
                .or_default();
            product.holds.remove(id);
            if transition.after == ReservationState::Committed {
                product.sold = product.sold.saturating_add(demand.quantity);
            }
        }
        Ok(transition)
    }
}

#[async_trait]
impl InventoryStore for MemoryStore {
    async fn reserve_inventory(&self, req: &ReserveRequest) -> Result<ReserveOutcome, StoreError> {
        let mut inv = lock(&self.inventory);
        let key = (req.tenant.clone(), req.reservation.clone());
        if inv.reservations.contains_key(&key) {
            return Err(StoreError::Conflict("reservation id exists"));
        }
        let outcome = req.decide(|product| inv.counts(&req.tenant, product, req.now));
        if outcome != ReserveOutcome::Reserved {
            return Ok(outcome);
        }
        for demand in req.demand() {
            inv.products
                .entry((req.tenant.clone(), demand.product))
                .or_default()
                .holds
                .insert(req.reservation.clone(), (demand.quantity, req.expires_at));
        }
        inv.reservations.insert(
            key,
            Reservation {
                id: req.reservation.clone(),
                tenant: req.tenant.clone(),
                lines: req.lines.clone(),
                state: ReservationState::Active,
                created_at: req.now,
                expires_at: req.expires_at,
                settled_at: None,
            },
        );
        Ok(outcome)
    }

    async fn commit_reservation(
        &self,
        tenant: &Tenant,
        id: &ReservationId,
        now: DateTime<Utc>,
    ) -> Result<ReservationTransition, StoreError> {
        lock(&self.inventory).settle(tenant, id, now, ReservationTransition::commit)
    }

    async fn release_reservation(
        &self,
        tenant: &Tenant,
        id: &ReservationId,
        now: DateTime<Utc>,
    ) -> Result<ReservationTransition, StoreError> {
        lock(&self.inventory).settle(tenant, id, now, ReservationTransition::release)
    }

    async fn inventory_counts(
        &self,
        tenant: &Tenant,
        product: &str,
        now: DateTime<Utc>,
    ) -> Result<InventoryCounts, StoreError> {
        Ok(lock(&self.inventory).counts(tenant, product, now))
    }

    async fn get_reservation(
        &self,
        tenant: &Tenant,
        id: &ReservationId,
    ) -> Result<Option<Reservation>, StoreError> {
        Ok(lock(&self.inventory)
            .reservations
            .get(&(tenant.clone(), id.clone()))
            .cloned())
    }
}
