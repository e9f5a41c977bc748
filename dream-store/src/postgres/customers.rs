//! Customers in PostgreSQL.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::CustomerStore, Customer, CustomerId, CustomerQuery, Event, Page, PageRequest,
    PasswordHash, StoreError, Tenant,
};
use sqlx::{postgres::PgRow, PgExecutor, Row};

use super::{events::insert_event, lock_tenant, PostgresStore};
use crate::sql::{backend, classify, corrupt, from_json, mode_str, to_i64, to_json};

macro_rules! columns {
    () => {
        "id, external_id, email, first_name, last_name, plan, password_hash, \
                       metadata, created_at, updated_at"
    };
}

fn customer_from_row(tenant: &Tenant, row: &PgRow) -> Result<Customer, StoreError> {
    let id: String = row.try_get("id").map_err(backend)?;
    let metadata: String = row.try_get("metadata").map_err(backend)?;
    let password: Option<String> = row.try_get("password_hash").map_err(backend)?;
    Ok(Customer {
        id: CustomerId::parse(&id).ok_or_else(|| corrupt(format!("bad customer id {id:?}")))?,
        tenant: tenant.clone(),
        external_id: row.try_get("external_id").map_err(backend)?,
        email: row.try_get("email").map_err(backend)?,
        first_name: row.try_get("first_name").map_err(backend)?,
        last_name: row.try_get("last_name").map_err(backend)?,
        plan: row.try_get("plan").map_err(backend)?,
        password_hash: password.map(PasswordHash::from_phc),
        metadata: from_json(&metadata)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        updated_at: row.try_get("updated_at").map_err(backend)?,
    })
}

/// Inserts `c` unless `max` is set and the tenant already has that many
/// customers; `false` when full. Atomic only under [`lock_tenant`] when capped.
async fn insert_row(
    conn: impl PgExecutor<'_>,
    c: &Customer,
    max: Option<u64>,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(concat!(
        "INSERT INTO customers (platform_id, mode, ",
        columns!(),
        ") \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 \
         WHERE $13::BIGINT IS NULL \
            OR (SELECT COUNT(*) FROM customers WHERE platform_id = $1 AND mode = $2) < $13"
    ))
    .bind(c.tenant.platform.as_str())
    .bind(mode_str(c.tenant.mode))
    .bind(c.id.as_str())
    .bind(&c.external_id)
    .bind(&c.email)
    .bind(&c.first_name)
    .bind(&c.last_name)
    .bind(&c.plan)
    .bind(c.password_hash.as_ref().map(PasswordHash::as_phc))
    .bind(to_json(&c.metadata)?)
    .bind(c.created_at)
    .bind(c.updated_at)
    .bind(max.map(to_i64).transpose()?)
    .execute(conn)
    .await
    .map_err(|e| classify(e, "customer id or external id exists"))?
    .rows_affected();
    Ok(inserted == 1)
}

#[async_trait]
impl CustomerStore for PostgresStore {
    async fn insert_customer(&self, c: &Customer) -> Result<(), StoreError> {
        insert_row(&self.pool, c, None).await.map(|_| ())
    }

    async fn insert_customer_capped(&self, c: &Customer, max: u64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Uncapped inserts do not take the lock: every process must run with the
        // same cap.
        lock_tenant(&mut tx, "customers", &c.tenant).await?;
        let inserted = insert_row(&mut *tx, c, Some(max)).await?;
        tx.commit().await.map_err(backend)?;
        Ok(inserted)
    }

    /// One transaction (under the tenant's advisory lock when capped, as
    /// `insert_customer_capped`): the customer, the event and its deliveries
    /// commit together or not at all.
    async fn insert_customer_with_event(
        &self,
        c: &Customer,
        max: Option<u64>,
        event: &Event,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        if max.is_some() {
            lock_tenant(&mut tx, "customers", &c.tenant).await?;
        }
        if !insert_row(&mut *tx, c, max).await? {
            tx.rollback().await.map_err(backend)?;
            return Ok(false);
        }
        insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn get_customer(
        &self,
        tenant: &Tenant,
        id: &CustomerId,
    ) -> Result<Option<Customer>, StoreError> {
        let query = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM customers WHERE platform_id = $1 AND mode = $2 AND id = $3"
        ))
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(id.as_str());
        // A cached customer's reload, on the hot path: a kept connection.
        let mut conn = self.held.take().await.map_err(backend)?;
        let row = query.fetch_optional(&mut *conn).await.map_err(backend)?;
        self.held.keep(conn);
        row.map(|row| customer_from_row(tenant, &row)).transpose()
    }

    async fn find_customer_by_external_id(
        &self,
        tenant: &Tenant,
        external_id: &str,
    ) -> Result<Option<Customer>, StoreError> {
        let query = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM customers \
             WHERE platform_id = $1 AND mode = $2 AND external_id = $3"
        ))
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(external_id);
        // A cached customer's reload, on the hot path: a kept connection.
        let mut conn = self.held.take().await.map_err(backend)?;
        let row = query.fetch_optional(&mut *conn).await.map_err(backend)?;
        self.held.keep(conn);
        row.map(|row| customer_from_row(tenant, &row)).transpose()
    }

    async fn update_customer(&self, c: &Customer) -> Result<(), StoreError> {
        // created_at is the listing key and never changes; plan is written only by
        // change_customer_plan and subscription applies.
        let done = sqlx::query(
            "UPDATE customers SET external_id = $4, email = $5, first_name = $6, \
             last_name = $7, password_hash = $8, metadata = $9, updated_at = $10 \
             WHERE platform_id = $1 AND mode = $2 AND id = $3",
        )
        .bind(c.tenant.platform.as_str())
        .bind(mode_str(c.tenant.mode))
        .bind(c.id.as_str())
        .bind(&c.external_id)
        .bind(&c.email)
        .bind(&c.first_name)
        .bind(&c.last_name)
        .bind(c.password_hash.as_ref().map(PasswordHash::as_phc))
        .bind(to_json(&c.metadata)?)
        .bind(c.updated_at)
        .execute(&self.pool)
        .await
        .map_err(|e| classify(e, "customer external id exists"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn change_customer_plan(
        &self,
        tenant: &Tenant,
        id: &CustomerId,
        plan: &str,
        now: DateTime<Utc>,
        events: &(dyn for<'p> Fn(&'p str) -> Vec<Event> + Send + Sync),
    ) -> Result<String, StoreError> {
        // The CTE locks the row first, so the plan returned is the one replaced even
        // when a subscription apply commits in between.
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let previous: Option<String> = sqlx::query_scalar(
            "WITH old AS (SELECT plan FROM customers \
                          WHERE platform_id = $1 AND mode = $2 AND id = $3 FOR UPDATE) \
             UPDATE customers c SET plan = $4, updated_at = $5 FROM old \
             WHERE c.platform_id = $1 AND c.mode = $2 AND c.id = $3 \
             RETURNING old.plan",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(id.as_str())
        .bind(plan)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some(previous) = previous else {
            tx.rollback().await.map_err(backend)?;
            return Err(StoreError::NotFound);
        };
        for event in events(&previous) {
            insert_event(&mut tx, &event).await?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(previous)
    }

    async fn delete_customer(&self, tenant: &Tenant, id: &CustomerId) -> Result<bool, StoreError> {
        let done =
            sqlx::query("DELETE FROM customers WHERE platform_id = $1 AND mode = $2 AND id = $3")
                .bind(tenant.platform.as_str())
                .bind(mode_str(tenant.mode))
                .bind(id.as_str())
                .execute(&self.pool)
                .await
                .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_customers(
        &self,
        tenant: &Tenant,
        query: &CustomerQuery,
        page: &PageRequest<CustomerId>,
    ) -> Result<Page<Customer>, StoreError> {
        let email = query.email_like_pattern();
        // Only these two constant texts are ever spliced into the statement.
        let (order, after) = if query.oldest_first {
            (
                "ORDER BY created_at ASC, id ASC",
                "(created_at, id) > ($3, $4)",
            )
        } else {
            (
                "ORDER BY created_at DESC, id DESC",
                "(created_at, id) < ($3, $4)",
            )
        };
        let limit = to_i64(page.limit as u64 + 1)?;
        let rows = match &page.starting_after {
            None => sqlx::query(sqlx::AssertSqlSafe(format!(
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM customers WHERE platform_id = $1 AND mode = $2 \
                 AND ($4 IS NULL OR lower(email) LIKE $4 ESCAPE '\\') \
                 AND ($5 IS NULL OR plan = $5) \
                 {order} LIMIT $3"
                ),
                order = order,
            )))
            .bind(tenant.platform.as_str())
            .bind(mode_str(tenant.mode))
            .bind(limit)
            .bind(email.as_deref())
            .bind(query.plan.as_deref())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?,
            Some(cursor) => {
                let found: Option<(chrono::DateTime<chrono::Utc>,)> = sqlx::query_as(
                    "SELECT created_at FROM customers \
                     WHERE platform_id = $1 AND mode = $2 AND id = $3",
                )
                .bind(tenant.platform.as_str())
                .bind(mode_str(tenant.mode))
                .bind(cursor.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
                let (created_at,) = found.ok_or(StoreError::NotFound)?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    concat!(
                        "SELECT ",
                        columns!(),
                        " FROM customers WHERE platform_id = $1 AND mode = $2 \
                     AND {after} \
                     AND ($6 IS NULL OR lower(email) LIKE $6 ESCAPE '\\') \
                     AND ($7 IS NULL OR plan = $7) \
                     {order} LIMIT $5"
                    ),
                    order = order,
                    after = after,
                )))
                .bind(tenant.platform.as_str())
                .bind(mode_str(tenant.mode))
                .bind(created_at)
                .bind(cursor.as_str())
                .bind(limit)
                .bind(email.as_deref())
                .bind(query.plan.as_deref())
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?
            }
        };
        let mut data = rows
            .iter()
            .map(|row| customer_from_row(tenant, row))
            .collect::<Result<Vec<_>, _>>()?;
        let has_more = data.len() > page.limit;
        data.truncate(page.limit);
        Ok(Page { data, has_more })
    }

    async fn plan_counts(&self, tenant: &Tenant) -> Result<BTreeMap<String, u64>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT plan, count(*) FROM customers WHERE platform_id = $1 AND mode = $2 \
             GROUP BY plan",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows
            .into_iter()
            .map(|(plan, n)| (plan, n.max(0) as u64))
            .collect())
    }
}
