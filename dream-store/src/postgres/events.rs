//! The event log in PostgreSQL, fanning out deliveries in the same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::EventStore, CustomerId, Event, EventId, EventKind, Page, PageRequest, StoreError, Tenant,
};
use sqlx::{postgres::PgRow, PgConnection, Row};

use super::{outbound::enqueue, PostgresStore};
use crate::sql::{backend, classify, corrupt, from_json, mode_str, to_i64, to_json};

fn event_from_row(tenant: &Tenant, row: &PgRow) -> Result<Event, StoreError> {
    event_from_prefixed_row(tenant, row, "")
}

/// Reads an event whose columns are named `{prefix}{column}` (joined queries).
pub(super) fn event_from_prefixed_row(
    tenant: &Tenant,
    row: &PgRow,
    prefix: &str,
) -> Result<Event, StoreError> {
    let column = |name: &str| format!("{prefix}{name}");
    let id: String = row.try_get(column("id").as_str()).map_err(backend)?;
    let kind: String = row.try_get(column("kind").as_str()).map_err(backend)?;
    let customer: Option<String> = row
        .try_get(column("customer_id").as_str())
        .map_err(backend)?;
    let data: String = row.try_get(column("data").as_str()).map_err(backend)?;
    Ok(Event {
        id: EventId::parse(&id).ok_or_else(|| corrupt(format!("bad event id {id:?}")))?,
        tenant: tenant.clone(),
        kind: EventKind::parse(&kind).ok_or_else(|| corrupt(format!("bad event kind {kind:?}")))?,
        customer: customer
            .map(|c| CustomerId::parse(&c).ok_or_else(|| corrupt(format!("bad customer id {c:?}"))))
            .transpose()?,
        data: from_json(&data)?,
        created_at: row
            .try_get(column("created_at").as_str())
            .map_err(backend)?,
    })
}

/// Inserts `e` and queues its deliveries, inside the caller's transaction: the
/// log is the webhooks' outbox, and through this helper also the outbox of the
/// domain writes that commit together with their event.
pub(super) async fn insert_event(conn: &mut PgConnection, e: &Event) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO events (id, platform_id, mode, kind, customer_id, data, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(e.id.as_str())
    .bind(e.tenant.platform.as_str())
    .bind(mode_str(e.tenant.mode))
    .bind(e.kind.as_str())
    .bind(e.customer.as_ref().map(CustomerId::as_str))
    .bind(to_json(&e.data)?)
    .bind(e.created_at)
    .execute(&mut *conn)
    .await
    .map_err(|err| classify(err, "event id exists"))?;
    enqueue(conn, e).await
}

#[async_trait]
impl EventStore for PostgresStore {
    async fn append_event(&self, e: &Event) -> Result<(), StoreError> {
        // One transaction with the deliveries it queues: the log is the webhooks'
        // outbox, so an event is never stored without them.
        let mut tx = self.pool.begin().await.map_err(backend)?;
        insert_event(&mut tx, e).await?;
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn purge_events(&self, before: DateTime<Utc>, limit: usize) -> Result<u64, StoreError> {
        // Oldest first by sequence (the primary key), so the scan stops early
        // without an index on the time; the deliveries' event ids are read once
        // (a hashed NOT IN; `event_id` is never NULL).
        let done = sqlx::query(
            "DELETE FROM events WHERE seq IN ( \
               SELECT seq FROM events e WHERE created_at < $1 \
               AND e.id NOT IN (SELECT event_id FROM webhook_deliveries) \
               ORDER BY seq LIMIT $2)",
        )
        .bind(before)
        .bind(to_i64(limit as u64)?)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn list_events(
        &self,
        tenant: &Tenant,
        page: &PageRequest<EventId>,
    ) -> Result<Page<Event>, StoreError> {
        self.events_page(tenant, None, page).await
    }

    async fn list_customer_events(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        page: &PageRequest<EventId>,
    ) -> Result<Page<Event>, StoreError> {
        self.events_page(tenant, Some(customer), page).await
    }
}

impl PostgresStore {
    /// One page of a tenant's events, newest first; with `customer`, only the
    /// events about that customer.
    async fn events_page(
        &self,
        tenant: &Tenant,
        customer: Option<&CustomerId>,
        page: &PageRequest<EventId>,
    ) -> Result<Page<Event>, StoreError> {
        let before: i64 = match &page.starting_after {
            None => i64::MAX,
            Some(cursor) => sqlx::query_scalar(
                "SELECT seq FROM events WHERE platform_id = $1 AND mode = $2 AND id = $3",
            )
            .bind(tenant.platform.as_str())
            .bind(mode_str(tenant.mode))
            .bind(cursor.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?,
        };
        // Two statements rather than `$5 IS NULL OR …`, so each keeps its index.
        let sql = match customer {
            None => {
                "SELECT id, kind, customer_id, data, created_at FROM events \
                 WHERE platform_id = $1 AND mode = $2 AND seq < $3 ORDER BY seq DESC LIMIT $4"
            }
            Some(_) => {
                "SELECT id, kind, customer_id, data, created_at FROM events \
                 WHERE platform_id = $1 AND mode = $2 AND seq < $3 AND customer_id = $5 \
                 ORDER BY seq DESC LIMIT $4"
            }
        };
        let mut query = sqlx::query(sql)
            .bind(tenant.platform.as_str())
            .bind(mode_str(tenant.mode))
            .bind(before)
            .bind(to_i64(page.limit as u64 + 1)?);
        if let Some(customer) = customer {
            query = query.bind(customer.as_str());
        }
        let rows = query.fetch_all(&self.pool).await.map_err(backend)?;
        let mut data = rows
            .iter()
            .map(|row| event_from_row(tenant, row))
            .collect::<Result<Vec<_>, _>>()?;
        let has_more = data.len() > page.limit;
        data.truncate(page.limit);
        Ok(Page { data, has_more })
    }
}
