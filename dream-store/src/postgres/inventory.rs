//! Inventory on PostgreSQL. Exact across processes by row locks on the
//! per-product `inventory` rows, always taken in product order (byte order, the
//! columns are `COLLATE "C"`, like Rust's `String` order), so carts and commits
//! naming the same products in any order queue instead of deadlocking.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    demand_of, ports::InventoryStore, InventoryCounts, ProductSold, Reservation, ReservationCommit,
    ReservationId, ReservationLine, ReservationState, ReservationTransition, ReserveOutcome,
    ReserveRequest, StoreError, Tenant,
};
use sqlx::{postgres::PgRow, Row};

use super::PostgresStore;
use crate::sql::{backend, classify, corrupt, from_json, mode_str, to_i64, to_json, to_u64};

fn reservation_from_row(tenant: &Tenant, row: &PgRow) -> Result<Reservation, StoreError> {
    let id: String = row.try_get("id").map_err(backend)?;
    let state: String = row.try_get("state").map_err(backend)?;
    let lines: String = row.try_get("lines").map_err(backend)?;
    Ok(Reservation {
        id: ReservationId::parse(&id)
            .ok_or_else(|| corrupt(format!("bad reservation id {id:?}")))?,
        tenant: tenant.clone(),
        lines: from_json::<Vec<ReservationLine>>(&lines)?,
        state: parse_state(&state)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        expires_at: row.try_get("expires_at").map_err(backend)?,
        settled_at: row.try_get("settled_at").map_err(backend)?,
    })
}

fn parse_state(s: &str) -> Result<ReservationState, StoreError> {
    ReservationState::parse(s).ok_or_else(|| corrupt(format!("unknown reservation state {s:?}")))
}

impl PostgresStore {
    /// Commit or release in one transaction. `SELECT … FOR UPDATE` on the
    /// reservation is the atomic step: racing callers (and the expiry sweep) queue
    /// on its row lock and each decides on the state the one before left. A
    /// commit then adds its units to `sold` (locking the products in order, as
    /// every reserve does) and drops the holds, in the same transaction, so
    /// "reserved" and "sold" change together for every reader.
    async fn settle(
        &self,
        tenant: &Tenant,
        id: &ReservationId,
        now: DateTime<Utc>,
        rule: fn(ReservationState) -> ReservationTransition,
    ) -> Result<ReservationCommit, StoreError> {
        let platform = tenant.platform.as_str();
        let mode = mode_str(tenant.mode);
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let found: Option<(String, String)> = sqlx::query_as(
            "SELECT state, lines FROM reservations \
             WHERE platform_id = $1 AND mode = $2 AND id = $3 FOR UPDATE",
        )
        .bind(platform)
        .bind(mode)
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some((state, lines)) = found else {
            tx.rollback().await.map_err(backend)?;
            return Err(StoreError::NotFound);
        };
        let transition = rule(parse_state(&state)?);
        let mut sold = vec![];
        if !transition.changed() {
            tx.rollback().await.map_err(backend)?;
            return Ok(ReservationCommit { transition, sold });
        }
        sqlx::query(
            "UPDATE reservations SET state = $4, settled_at = $5 \
             WHERE platform_id = $1 AND mode = $2 AND id = $3",
        )
        .bind(platform)
        .bind(mode)
        .bind(id.as_str())
        .bind(transition.after.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if transition.after == ReservationState::Committed {
            let mut demand = demand_of(&from_json::<Vec<ReservationLine>>(&lines)?);
            demand.sort_by(|a, b| a.product.cmp(&b.product));
            // One statement per product, in product order: each takes its row
            // lock in the same order as every reserve does.
            for d in demand {
                let total: i64 = sqlx::query_scalar(
                    "INSERT INTO inventory AS i (platform_id, mode, product, sold) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (platform_id, mode, product) \
                     DO UPDATE SET sold = i.sold + EXCLUDED.sold RETURNING i.sold",
                )
                .bind(platform)
                .bind(mode)
                .bind(&d.product)
                .bind(to_i64(d.quantity)?)
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
                sold.push(ProductSold {
                    product: d.product,
                    quantity: d.quantity,
                    stock: d.stock,
                    sold: to_u64(total)?,
                });
            }
        }
        sqlx::query(
            "DELETE FROM inventory_holds \
             WHERE platform_id = $1 AND mode = $2 AND reservation_id = $3",
        )
        .bind(platform)
        .bind(mode)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(ReservationCommit { transition, sold })
    }
}

#[async_trait]
impl InventoryStore for PostgresStore {
    /// One transaction that locks the cart's limited products' rows
    /// (`SELECT … ORDER BY product FOR UPDATE`; PostgreSQL sorts before locking),
    /// then reads sold and the unexpired holds and records the reservation. Every
    /// other reserve or commit of those products waits for the lock, in any
    /// process; a release may free units meanwhile, which only makes this decision
    /// conservative.
    async fn reserve_inventory(&self, req: &ReserveRequest) -> Result<ReserveOutcome, StoreError> {
        let platform = req.tenant.platform.as_str();
        let mode = mode_str(req.tenant.mode);
        let demand = req.demand();
        let mut products: Vec<String> = demand.iter().map(|d| d.product.clone()).collect();
        products.sort();
        let limited: Vec<String> = products
            .iter()
            .filter(|p| demand.iter().any(|d| &d.product == *p && d.stock.is_some()))
            .cloned()
            .collect();
        // The rows to lock must exist. Created in a statement of its own, which
        // commits at once and holds no lock while this transaction waits for others;
        // in product order, as everywhere.
        sqlx::query(
            "INSERT INTO inventory (platform_id, mode, product, sold) \
             SELECT $1, $2, p.product, 0 FROM unnest($3::TEXT[]) WITH ORDINALITY AS p(product, n) \
             ORDER BY p.n \
             ON CONFLICT (platform_id, mode, product) DO NOTHING",
        )
        .bind(platform)
        .bind(mode)
        .bind(&products)
        .execute(&self.pool)
        .await
        .map_err(backend)?;

        let mut tx = self.pool.begin().await.map_err(backend)?;
        // The id first, so a duplicate is `Conflict` whether or not the cart fits;
        // rolled back below if it does not.
        sqlx::query(
            "INSERT INTO reservations \
               (platform_id, mode, id, state, lines, created_at, expires_at, settled_at) \
             VALUES ($1, $2, $3, 'active', $4, $5, $6, NULL)",
        )
        .bind(platform)
        .bind(mode)
        .bind(req.reservation.as_str())
        .bind(to_json(&req.lines)?)
        .bind(req.now)
        .bind(req.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| classify(e, "reservation id exists"))?;

        let mut current: HashMap<String, InventoryCounts> = HashMap::new();
        if !limited.is_empty() {
            let sold: Vec<(String, i64)> = sqlx::query_as(
                "SELECT product, sold FROM inventory \
                 WHERE platform_id = $1 AND mode = $2 AND product = ANY($3) \
                 ORDER BY product FOR UPDATE",
            )
            .bind(platform)
            .bind(mode)
            .bind(&limited)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
            // Read after the locks are held: a new snapshot that includes every
            // commit that held them before us.
            let held: Vec<(String, i64)> = sqlx::query_as(
                "SELECT product, COALESCE(sum(quantity), 0)::BIGINT FROM inventory_holds \
                 WHERE platform_id = $1 AND mode = $2 AND product = ANY($3) AND expires_at > $4 \
                 GROUP BY product",
            )
            .bind(platform)
            .bind(mode)
            .bind(&limited)
            .bind(req.now)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
            for (product, n) in sold {
                current.entry(product).or_default().sold = to_u64(n)?;
            }
            for (product, n) in held {
                current.entry(product).or_default().reserved = to_u64(n)?;
            }
        }
        let outcome = req.decide(|product| current.get(product).copied().unwrap_or_default());
        if outcome != ReserveOutcome::Reserved {
            tx.rollback().await.map_err(backend)?;
            return Ok(outcome);
        }
        let quantities = demand
            .iter()
            .map(|d| to_i64(d.quantity))
            .collect::<Result<Vec<i64>, _>>()?;
        let names: Vec<&str> = demand.iter().map(|d| d.product.as_str()).collect();
        sqlx::query(
            "INSERT INTO inventory_holds \
               (platform_id, mode, reservation_id, product, quantity, expires_at) \
             SELECT $1, $2, $3, d.product, d.quantity, $6 \
               FROM unnest($4::TEXT[], $5::BIGINT[]) AS d(product, quantity)",
        )
        .bind(platform)
        .bind(mode)
        .bind(req.reservation.as_str())
        .bind(&names)
        .bind(&quantities)
        .bind(req.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(outcome)
    }

    async fn commit_reservation(
        &self,
        tenant: &Tenant,
        id: &ReservationId,
        now: DateTime<Utc>,
    ) -> Result<ReservationCommit, StoreError> {
        self.settle(tenant, id, now, ReservationTransition::commit)
            .await
    }

    async fn release_reservation(
        &self,
        tenant: &Tenant,
        id: &ReservationId,
        now: DateTime<Utc>,
    ) -> Result<ReservationTransition, StoreError> {
        Ok(self
            .settle(tenant, id, now, ReservationTransition::release)
            .await?
            .transition)
    }

    /// One statement: the expired reservations are locked (`SKIP LOCKED`: one a
    /// commit is settling right now is left to it, and concurrent sweeps take
    /// different rows), released, and their holds deleted.
    async fn release_expired_reservations(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let released: i64 = sqlx::query_scalar(
            "WITH expired AS ( \
               SELECT platform_id, mode, id FROM reservations \
               WHERE state = 'active' AND expires_at <= $1 \
               ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED), \
             released AS ( \
               UPDATE reservations r SET state = 'released', settled_at = $1 FROM expired e \
               WHERE r.platform_id = e.platform_id AND r.mode = e.mode AND r.id = e.id \
               RETURNING r.platform_id, r.mode, r.id), \
             dropped AS ( \
               DELETE FROM inventory_holds h USING released x \
               WHERE h.platform_id = x.platform_id AND h.mode = x.mode \
                 AND h.reservation_id = x.id) \
             SELECT count(*) FROM released",
        )
        .bind(now)
        .bind(to_i64(limit as u64)?)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        to_u64(released)
    }

    /// Sold and reserved in one statement, so both come from one snapshot (a
    /// commit moves units from one to the other atomically).
    async fn inventory_counts(
        &self,
        tenant: &Tenant,
        product: &str,
        now: DateTime<Utc>,
    ) -> Result<InventoryCounts, StoreError> {
        let (sold, reserved): (Option<i64>, i64) = sqlx::query_as(
            "SELECT \
               (SELECT sold FROM inventory WHERE platform_id = $1 AND mode = $2 AND product = $3), \
               (SELECT COALESCE(sum(quantity), 0)::BIGINT FROM inventory_holds \
                 WHERE platform_id = $1 AND mode = $2 AND product = $3 AND expires_at > $4)",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(product)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(InventoryCounts {
            sold: to_u64(sold.unwrap_or(0))?,
            reserved: to_u64(reserved)?,
        })
    }

    async fn get_reservation(
        &self,
        tenant: &Tenant,
        id: &ReservationId,
    ) -> Result<Option<Reservation>, StoreError> {
        sqlx::query(
            "SELECT id, state, lines, created_at, expires_at, settled_at FROM reservations \
             WHERE platform_id = $1 AND mode = $2 AND id = $3",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .map(|row| reservation_from_row(tenant, &row))
        .transpose()
    }
}
