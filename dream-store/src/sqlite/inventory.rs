//! Inventory reservations in SQLite.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    demand_of, ports::InventoryStore, InventoryCounts, ProductSold, Reservation, ReservationCommit,
    ReservationId, ReservationLine, ReservationState, ReservationTransition, ReserveOutcome,
    ReserveRequest, StoreError, Tenant,
};
use sqlx::{sqlite::SqliteRow, Row, SqliteConnection};

use super::{from_opt_ts, from_ts, ts, SqliteStore};
use crate::sql::{backend, classify, corrupt, from_json, mode_str, to_i64, to_json, to_u64};

/// Sold and reserved in one statement, so both come from one snapshot.
async fn counts(
    conn: &mut SqliteConnection,
    tenant: &Tenant,
    product: &str,
    now: DateTime<Utc>,
) -> Result<InventoryCounts, StoreError> {
    let (sold, reserved): (Option<i64>, i64) = sqlx::query_as(
        "SELECT \
           (SELECT sold FROM inventory WHERE platform_id = ?1 AND mode = ?2 AND product = ?3), \
           (SELECT COALESCE(sum(quantity), 0) FROM inventory_holds \
             WHERE platform_id = ?1 AND mode = ?2 AND product = ?3 AND expires_at > ?4)",
    )
    .bind(tenant.platform.as_str())
    .bind(mode_str(tenant.mode))
    .bind(product)
    .bind(ts(now))
    .fetch_one(conn)
    .await
    .map_err(backend)?;
    Ok(InventoryCounts {
        sold: to_u64(sold.unwrap_or(0))?,
        reserved: to_u64(reserved)?,
    })
}

fn reservation_from_row(tenant: &Tenant, row: &SqliteRow) -> Result<Reservation, StoreError> {
    let id: String = row.try_get("id").map_err(backend)?;
    let state: String = row.try_get("state").map_err(backend)?;
    let lines: String = row.try_get("lines").map_err(backend)?;
    Ok(Reservation {
        id: ReservationId::parse(&id)
            .ok_or_else(|| corrupt(format!("bad reservation id {id:?}")))?,
        tenant: tenant.clone(),
        lines: from_json::<Vec<ReservationLine>>(&lines)?,
        state: parse_state(&state)?,
        created_at: from_ts(row.try_get("created_at").map_err(backend)?)?,
        expires_at: from_ts(row.try_get("expires_at").map_err(backend)?)?,
        settled_at: from_opt_ts(row.try_get("settled_at").map_err(backend)?)?,
    })
}

fn parse_state(s: &str) -> Result<ReservationState, StoreError> {
    ReservationState::parse(s).ok_or_else(|| corrupt(format!("unknown reservation state {s:?}")))
}

impl SqliteStore {
    /// Commit or release in one `BEGIN IMMEDIATE` transaction: the state read, the
    /// state written and the counters changed under one write lock, so exactly one
    /// of any number of racing callers settles the reservation.
    async fn settle(
        &self,
        tenant: &Tenant,
        id: &ReservationId,
        now: DateTime<Utc>,
        rule: fn(ReservationState) -> ReservationTransition,
    ) -> Result<ReservationCommit, StoreError> {
        let platform = tenant.platform.as_str();
        let mode = mode_str(tenant.mode);
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let found: Option<(String, String)> = sqlx::query_as(
            "SELECT state, lines FROM reservations \
             WHERE platform_id = ?1 AND mode = ?2 AND id = ?3",
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
            "UPDATE reservations SET state = ?4, settled_at = ?5 \
             WHERE platform_id = ?1 AND mode = ?2 AND id = ?3",
        )
        .bind(platform)
        .bind(mode)
        .bind(id.as_str())
        .bind(transition.after.as_str())
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query(
            "DELETE FROM inventory_holds \
             WHERE platform_id = ?1 AND mode = ?2 AND reservation_id = ?3",
        )
        .bind(platform)
        .bind(mode)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if transition.after == ReservationState::Committed {
            for demand in demand_of(&from_json::<Vec<ReservationLine>>(&lines)?) {
                let total: i64 = sqlx::query_scalar(
                    "INSERT INTO inventory (platform_id, mode, product, sold) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (platform_id, mode, product) \
                     DO UPDATE SET sold = sold + excluded.sold RETURNING sold",
                )
                .bind(platform)
                .bind(mode)
                .bind(&demand.product)
                .bind(to_i64(demand.quantity)?)
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
                sold.push(ProductSold {
                    product: demand.product,
                    quantity: demand.quantity,
                    stock: demand.stock,
                    sold: to_u64(total)?,
                });
            }
        }
        tx.commit().await.map_err(backend)?;
        Ok(ReservationCommit { transition, sold })
    }
}

#[async_trait]
impl InventoryStore for SqliteStore {
    /// Decides inside one `BEGIN IMMEDIATE` transaction: SQLite's write lock is held
    /// from the id check and the counts to the commit, so no other reserve or
    /// commit, in this process or another on the same file, can interleave.
    async fn reserve_inventory(&self, req: &ReserveRequest) -> Result<ReserveOutcome, StoreError> {
        let platform = req.tenant.platform.as_str();
        let mode = mode_str(req.tenant.mode);
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let exists: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM reservations WHERE platform_id = ?1 AND mode = ?2 AND id = ?3",
        )
        .bind(platform)
        .bind(mode)
        .bind(req.reservation.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        if exists.is_some() {
            tx.rollback().await.map_err(backend)?;
            return Err(StoreError::Conflict("reservation id exists"));
        }
        let demand = req.demand();
        let mut current = HashMap::new();
        for d in demand.iter().filter(|d| d.stock.is_some()) {
            let c = counts(&mut tx, &req.tenant, &d.product, req.now).await?;
            current.insert(d.product.as_str(), c);
        }
        let outcome = req.decide(|product| current.get(product).copied().unwrap_or_default());
        if outcome != ReserveOutcome::Reserved {
            tx.rollback().await.map_err(backend)?;
            return Ok(outcome);
        }
        sqlx::query(
            "INSERT INTO reservations \
               (platform_id, mode, id, state, lines, created_at, expires_at, settled_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL)",
        )
        .bind(platform)
        .bind(mode)
        .bind(req.reservation.as_str())
        .bind(ReservationState::Active.as_str())
        .bind(to_json(&req.lines)?)
        .bind(ts(req.now))
        .bind(ts(req.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| classify(e, "reservation id exists"))?;
        for d in &demand {
            sqlx::query(
                "INSERT INTO inventory_holds \
                   (platform_id, mode, reservation_id, product, quantity, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .bind(platform)
            .bind(mode)
            .bind(req.reservation.as_str())
            .bind(&d.product)
            .bind(to_i64(d.quantity)?)
            .bind(ts(req.expires_at))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
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

    /// One `BEGIN IMMEDIATE` transaction: the expired reservations are released
    /// and their holds deleted under the write lock, so a commit racing the sweep
    /// finds the reservation either active or released, never half of each.
    async fn release_expired_reservations(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let released: Vec<(String, String, String)> = sqlx::query_as(
            "UPDATE reservations SET state = 'released', settled_at = ?1 \
             WHERE rowid IN (SELECT rowid FROM reservations \
               WHERE state = 'active' AND expires_at <= ?1 ORDER BY expires_at LIMIT ?2) \
             RETURNING platform_id, mode, id",
        )
        .bind(ts(now))
        .bind(to_i64(limit as u64)?)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        for (platform, mode, id) in &released {
            sqlx::query(
                "DELETE FROM inventory_holds \
                 WHERE platform_id = ?1 AND mode = ?2 AND reservation_id = ?3",
            )
            .bind(platform)
            .bind(mode)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(released.len() as u64)
    }

    async fn inventory_counts(
        &self,
        tenant: &Tenant,
        product: &str,
        now: DateTime<Utc>,
    ) -> Result<InventoryCounts, StoreError> {
        let mut conn = self.reader.acquire().await.map_err(backend)?;
        counts(&mut conn, tenant, product, now).await
    }

    async fn get_reservation(
        &self,
        tenant: &Tenant,
        id: &ReservationId,
    ) -> Result<Option<Reservation>, StoreError> {
        sqlx::query(
            "SELECT id, state, lines, created_at, expires_at, settled_at FROM reservations \
             WHERE platform_id = ?1 AND mode = ?2 AND id = ?3",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(id.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?
        .map(|row| reservation_from_row(tenant, &row))
        .transpose()
    }
}
