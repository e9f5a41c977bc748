//! Inventory reservations in memory.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    demand_of, ports::InventoryStore, InventoryCounts, ProductSold, Reservation, ReservationCommit,
    ReservationId, ReservationState, ReservationTransition, ReserveOutcome, ReserveRequest,
    StoreError, Tenant,
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
    ) -> Result<ReservationCommit, StoreError> {
        let reservation = self
            .reservations
            .get_mut(&(tenant.clone(), id.clone()))
            .ok_or(StoreError::NotFound)?;
        let transition = rule(reservation.state);
        let mut sold = vec![];
        if !transition.changed() {
            return Ok(ReservationCommit { transition, sold });
        }
        reservation.state = transition.after;
        reservation.settled_at = Some(now);
        for demand in demand_of(&reservation.lines) {
            let product = self
                .products
                .entry((tenant.clone(), demand.product.clone()))
                .or_default();
            product.holds.remove(id);
            if transition.after == ReservationState::Committed {
                product.sold = product.sold.saturating_add(demand.quantity);
                sold.push(ProductSold {
                    product: demand.product,
                    quantity: demand.quantity,
                    stock: demand.stock,
                    sold: product.sold,
                });
            }
        }
        Ok(ReservationCommit { transition, sold })
    }

    /// Releases up to `limit` active reservations expired at `now`, oldest
    /// expiry first.
    fn release_expired(&mut self, now: DateTime<Utc>, limit: usize) -> u64 {
        let mut expired: Vec<(DateTime<Utc>, (Tenant, ReservationId))> = self
            .reservations
            .iter()
            .filter(|(_, r)| r.state == ReservationState::Active && r.expires_at <= now)
            .map(|(key, r)| (r.expires_at, key.clone()))
            .collect();
        expired.sort_by_key(|(expires_at, _)| *expires_at);
        let mut released = 0;
        for (_, (tenant, id)) in expired.into_iter().take(limit) {
            if self
                .settle(&tenant, &id, now, ReservationTransition::release)
                .is_ok_and(|c| c.transition.changed())
            {
                released += 1;
            }
        }
        released
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
    ) -> Result<ReservationCommit, StoreError> {
        lock(&self.inventory).settle(tenant, id, now, ReservationTransition::commit)
    }

    async fn release_reservation(
        &self,
        tenant: &Tenant,
        id: &ReservationId,
        now: DateTime<Utc>,
    ) -> Result<ReservationTransition, StoreError> {
        Ok(lock(&self.inventory)
            .settle(tenant, id, now, ReservationTransition::release)?
            .transition)
    }

    async fn release_expired_reservations(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError> {
        Ok(lock(&self.inventory).release_expired(now, limit))
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
