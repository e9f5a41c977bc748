//! Developer webhooks on PostgreSQL, for any number of server processes sharing
//! one database.
//!
//! - A claim is one statement: the due rows are picked with `FOR UPDATE OF d
//!   SKIP LOCKED` and stamped with a lease in the same statement, so concurrent
//!   claimers skip each other's rows instead of waiting or taking them twice.
//!   Each row gets its own token from `gen_random_uuid()` (PostgreSQL 13+).
//! - A record is one transaction that locks the endpoint's row first and then
//!   moves the delivery only `WHERE lease_token = $lease`: records under one lease
//!   queue on the endpoint lock, and every one after the first matches no row.
//!   Endpoint first is also the order an endpoint delete takes (the endpoint,
//!   then its deliveries by cascade), so the two cannot deadlock.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use dream_core::{
    ports::OutboundStore, AttemptRecorded, Delivery, DeliveryAttempt, DeliveryId, DeliveryJob,
    DeliveryNext, DeliveryState, DisabledReason, Event, EventFilter, EventId, EventKind,
    LeaseToken, Page, PageRequest, PlatformId, StoreError, StoredSigningSecret, Tenant,
    WebhookEndpoint, WebhookEndpointId,
};
use sqlx::{postgres::PgRow, PgConnection, PgExecutor, Row};

use super::{events::event_from_prefixed_row, lock_tenant, PostgresStore};
use crate::sql::{backend, classify, corrupt, fan_out_target, mode_str, parse_mode, to_i64};

// Macros rather than consts so `concat!` builds each statement at compile time.
macro_rules! endpoint_columns {
    () => {
        "id, platform_id, mode, url, description, event_types, secret, disabled_reason, \
         failing_since, created_at, updated_at"
    };
}

macro_rules! delivery_columns {
    () => {
        "id, platform_id, mode, endpoint_id, event_id, event_kind, state, attempts, \
         next_attempt_at, last_status, created_at, updated_at"
    };
}

fn get<'r, T>(row: &'r PgRow, prefix: &str, name: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(format!("{prefix}{name}").as_str())
        .map_err(backend)
}

fn tenant_from_row(row: &PgRow, prefix: &str) -> Result<Tenant, StoreError> {
    let platform: String = get(row, prefix, "platform_id")?;
    let mode: String = get(row, prefix, "mode")?;
    Ok(Tenant::new(
        PlatformId::parse(&platform)
            .ok_or_else(|| corrupt(format!("bad platform id {platform:?}")))?,
        parse_mode(&mode)?,
    ))
}

/// Reads an endpoint whose columns are named `{prefix}{column}`.
fn endpoint_from_row(row: &PgRow, prefix: &str) -> Result<WebhookEndpoint, StoreError> {
    let id: String = get(row, prefix, "id")?;
    let event_types: String = get(row, prefix, "event_types")?;
    let secret: String = get(row, prefix, "secret")?;
    let disabled: Option<String> = get(row, prefix, "disabled_reason")?;
    Ok(WebhookEndpoint {
        id: WebhookEndpointId::parse(&id)
            .ok_or_else(|| corrupt(format!("bad webhook endpoint id {id:?}")))?,
        tenant: tenant_from_row(row, prefix)?,
        url: get(row, prefix, "url")?,
        description: get(row, prefix, "description")?,
        filter: EventFilter::from_text(&event_types)
            .ok_or_else(|| corrupt(format!("bad event types {event_types:?}")))?,
        secret: StoredSigningSecret::from_stored(&secret).map_err(|_| {
            corrupt(format!(
                "the secret of webhook endpoint {id} does not parse"
            ))
        })?,
        disabled: disabled
            .map(|d| {
                DisabledReason::parse(&d)
                    .ok_or_else(|| corrupt(format!("bad disabled reason {d:?}")))
            })
            .transpose()?,
        failing_since: get(row, prefix, "failing_since")?,
        created_at: get(row, prefix, "created_at")?,
        updated_at: get(row, prefix, "updated_at")?,
    })
}

fn delivery_from_row(row: &PgRow) -> Result<Delivery, StoreError> {
    let id: String = get(row, "", "id")?;
    let endpoint: String = get(row, "", "endpoint_id")?;
    let event: String = get(row, "", "event_id")?;
    let kind: String = get(row, "", "event_kind")?;
    let state: String = get(row, "", "state")?;
    let attempts: i32 = get(row, "", "attempts")?;
    let last_status: Option<i32> = get(row, "", "last_status")?;
    Ok(Delivery {
        id: DeliveryId::parse(&id).ok_or_else(|| corrupt(format!("bad delivery id {id:?}")))?,
        tenant: tenant_from_row(row, "")?,
        endpoint: WebhookEndpointId::parse(&endpoint)
            .ok_or_else(|| corrupt(format!("bad webhook endpoint id {endpoint:?}")))?,
        event: EventId::parse(&event).ok_or_else(|| corrupt(format!("bad event id {event:?}")))?,
        event_kind: EventKind::parse(&kind)
            .ok_or_else(|| corrupt(format!("bad event kind {kind:?}")))?,
        state: DeliveryState::parse(&state)
            .ok_or_else(|| corrupt(format!("bad delivery state {state:?}")))?,
        attempts: u32::try_from(attempts)
            .map_err(|_| corrupt(format!("bad attempt count {attempts}")))?,
        next_attempt_at: get(row, "", "next_attempt_at")?,
        last_status: last_status.map(status_from_db).transpose()?,
        created_at: get(row, "", "created_at")?,
        updated_at: get(row, "", "updated_at")?,
    })
}

fn status_from_db(status: i32) -> Result<u16, StoreError> {
    u16::try_from(status).map_err(|_| corrupt(format!("bad HTTP status {status}")))
}

fn attempt_from_row(row: &PgRow) -> Result<DeliveryAttempt, StoreError> {
    let delivery: String = get(row, "", "delivery_id")?;
    let number: i32 = get(row, "", "number")?;
    let status: Option<i32> = get(row, "", "status")?;
    let latency: i64 = get(row, "", "latency_ms")?;
    Ok(DeliveryAttempt {
        delivery: DeliveryId::parse(&delivery)
            .ok_or_else(|| corrupt(format!("bad delivery id {delivery:?}")))?,
        number: u32::try_from(number)
            .map_err(|_| corrupt(format!("bad attempt number {number}")))?,
        at: get(row, "", "at")?,
        status: status.map(status_from_db).transpose()?,
        latency_ms: u32::try_from(latency)
            .map_err(|_| corrupt(format!("bad attempt latency {latency}")))?,
        error: get(row, "", "error")?,
    })
}

/// `INTEGER` columns hold counts that fit in `u32` only up to `i32::MAX`.
fn to_i32(n: u32) -> Result<i32, StoreError> {
    i32::try_from(n).map_err(|_| StoreError::Backend("counter exceeds i32".into()))
}

/// Queues `event` for every enabled endpoint of its tenant whose filter matches.
/// Runs inside `append_event`'s transaction, so the event and its deliveries
/// commit together.
pub(super) async fn enqueue(conn: &mut PgConnection, event: &Event) -> Result<(), StoreError> {
    // KEY SHARE holds the endpoints against a concurrent delete until the
    // deliveries referencing them are in (a delete that committed first hides
    // its row here instead of failing the insert's foreign key); it does not
    // block updates of their settings or attempt records.
    // Only the id and the filter: a row whose other columns do not parse (a URL
    // or secret written by hand, say) must not block the tenant's event log.
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, event_types FROM webhook_endpoints \
         WHERE platform_id = $1 AND mode = $2 AND disabled_reason IS NULL \
         ORDER BY created_at, id FOR KEY SHARE",
    )
    .bind(event.tenant.platform.as_str())
    .bind(mode_str(event.tenant.mode))
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    for (id, event_types) in &rows {
        let Some((endpoint, filter)) = fan_out_target(id, event_types) else {
            continue;
        };
        if !filter.matches(event.kind) {
            continue;
        }
        let d = Delivery::to_endpoint(&endpoint, event);
        sqlx::query(
            "INSERT INTO webhook_deliveries \
               (id, platform_id, mode, endpoint_id, event_id, event_kind, state, attempts, \
                next_attempt_at, last_status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(d.id.as_str())
        .bind(d.tenant.platform.as_str())
        .bind(mode_str(d.tenant.mode))
        .bind(d.endpoint.as_str())
        .bind(d.event.as_str())
        .bind(d.event_kind.as_str())
        .bind(d.state.as_str())
        .bind(to_i32(d.attempts)?)
        .bind(d.next_attempt_at)
        .bind(d.last_status.map(i32::from))
        .bind(d.created_at)
        .bind(d.updated_at)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    Ok(())
}

/// Inserts `e` unless `max` is set and the tenant already has that many
/// endpoints; `false` when full. Atomic only under [`lock_tenant`] when capped.
async fn insert_endpoint(
    conn: impl PgExecutor<'_>,
    e: &WebhookEndpoint,
    max: Option<usize>,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(concat!(
        "INSERT INTO webhook_endpoints (",
        endpoint_columns!(),
        ") SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 \
         WHERE $12::BIGINT IS NULL \
            OR (SELECT COUNT(*) FROM webhook_endpoints WHERE platform_id = $2 AND mode = $3) < $12"
    ))
    .bind(e.id.as_str())
    .bind(e.tenant.platform.as_str())
    .bind(mode_str(e.tenant.mode))
    .bind(&e.url)
    .bind(&e.description)
    .bind(e.filter.to_text())
    .bind(e.secret.to_stored())
    .bind(e.disabled.map(DisabledReason::as_str))
    .bind(e.failing_since)
    .bind(e.created_at)
    .bind(e.updated_at)
    .bind(max.map(|m| to_i64(m as u64)).transpose()?)
    .execute(conn)
    .await
    .map_err(|err| classify(err, "webhook endpoint id exists"))?
    .rows_affected();
    Ok(inserted == 1)
}

impl PostgresStore {
    /// Writes `e`'s settings over the stored row; with `seen`, only while the row
    /// still has its `updated_at`, `disabled` and `failing_since`. Whether a row
    /// was written.
    async fn write_endpoint(
        &self,
        e: &WebhookEndpoint,
        seen: Option<&WebhookEndpoint>,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE webhook_endpoints SET url = $4, description = $5, event_types = $6, \
               secret = $7, disabled_reason = $8, failing_since = $9, updated_at = $10 \
             WHERE platform_id = $1 AND mode = $2 AND id = $3 \
               AND (NOT $11 OR (updated_at = $12 AND disabled_reason IS NOT DISTINCT FROM $13 \
                                AND failing_since IS NOT DISTINCT FROM $14))",
        )
        .bind(e.tenant.platform.as_str())
        .bind(mode_str(e.tenant.mode))
        .bind(e.id.as_str())
        .bind(&e.url)
        .bind(&e.description)
        .bind(e.filter.to_text())
        .bind(e.secret.to_stored())
        .bind(e.disabled.map(DisabledReason::as_str))
        .bind(e.failing_since)
        .bind(e.updated_at)
        .bind(seen.is_some())
        .bind(seen.map(|s| s.updated_at))
        .bind(seen.and_then(|s| s.disabled.map(DisabledReason::as_str)))
        .bind(seen.and_then(|s| s.failing_since))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(updated.rows_affected() == 1)
    }
}

#[async_trait]
impl OutboundStore for PostgresStore {
    async fn create_webhook_endpoint(&self, e: &WebhookEndpoint) -> Result<(), StoreError> {
        insert_endpoint(&self.pool, e, None).await.map(|_| ())
    }

    async fn create_webhook_endpoint_capped(
        &self,
        e: &WebhookEndpoint,
        max: usize,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        lock_tenant(&mut tx, "webhook_endpoints", &e.tenant).await?;
        let inserted = insert_endpoint(&mut *tx, e, Some(max)).await?;
        tx.commit().await.map_err(backend)?;
        Ok(inserted)
    }

    async fn get_webhook_endpoint(
        &self,
        tenant: &Tenant,
        id: &WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            endpoint_columns!(),
            " FROM webhook_endpoints WHERE platform_id = $1 AND mode = $2 AND id = $3"
        ))
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .map(|row| endpoint_from_row(&row, ""))
        .transpose()
    }

    async fn list_webhook_endpoints(
        &self,
        tenant: &Tenant,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            endpoint_columns!(),
            " FROM webhook_endpoints WHERE platform_id = $1 AND mode = $2 \
             ORDER BY created_at, id"
        ))
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?
        .iter()
        .map(|row| endpoint_from_row(row, ""))
        .collect()
    }

    async fn update_webhook_endpoint(&self, e: &WebhookEndpoint) -> Result<(), StoreError> {
        if self.write_endpoint(e, None).await? {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }

    async fn update_webhook_endpoint_if(
        &self,
        e: &WebhookEndpoint,
        seen: &WebhookEndpoint,
    ) -> Result<bool, StoreError> {
        if self.write_endpoint(e, Some(seen)).await? {
            return Ok(true);
        }
        let exists: Option<i64> = sqlx::query_scalar(
            "SELECT 1::BIGINT FROM webhook_endpoints WHERE platform_id = $1 AND mode = $2 AND id = $3",
        )
        .bind(e.tenant.platform.as_str())
        .bind(mode_str(e.tenant.mode))
        .bind(e.id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        exists.map(|_| false).ok_or(StoreError::NotFound)
    }

    async fn delete_webhook_endpoint(
        &self,
        tenant: &Tenant,
        id: &WebhookEndpointId,
    ) -> Result<bool, StoreError> {
        // Deliveries and attempts go with it (ON DELETE CASCADE).
        let deleted = sqlx::query(
            "DELETE FROM webhook_endpoints WHERE platform_id = $1 AND mode = $2 AND id = $3",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn claim_due_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DeliveryJob>, StoreError> {
        if limit == 0 {
            return Ok(vec![]);
        }
        // Under READ COMMITTED a row another claimer stamped after our snapshot is
        // re-checked once locked (its new lease no longer matches) and skipped;
        // rows still locked by a claim in flight are skipped outright.
        // `d.state = 'pending'` spelled out so the partial index applies.
        let rows = sqlx::query(
            "WITH due AS ( \
               SELECT d.id FROM webhook_deliveries d \
               JOIN webhook_endpoints e ON e.id = d.endpoint_id \
               JOIN events v ON v.id = d.event_id \
               WHERE d.state = 'pending' AND d.next_attempt_at <= $1 \
                 AND (d.lease_until IS NULL OR d.lease_until <= $1) \
                 AND e.disabled_reason IS NULL \
               ORDER BY d.next_attempt_at, d.seq LIMIT $3 \
               FOR UPDATE OF d SKIP LOCKED \
             ), claimed AS ( \
               UPDATE webhook_deliveries d \
               SET lease_token = replace(gen_random_uuid()::text, '-', ''), lease_until = $2 \
               FROM due WHERE d.id = due.id \
               RETURNING d.seq, d.id, d.platform_id, d.mode, d.endpoint_id, d.event_id, \
                 d.event_kind, d.state, d.attempts, d.next_attempt_at, d.last_status, \
                 d.created_at, d.updated_at, d.lease_token \
             ) \
             SELECT c.id, c.platform_id, c.mode, c.endpoint_id, c.event_id, c.event_kind, \
               c.state, c.attempts, c.next_attempt_at, c.last_status, c.created_at, \
               c.updated_at, c.lease_token, \
               e.id AS e_id, e.platform_id AS e_platform_id, e.mode AS e_mode, e.url AS e_url, \
               e.description AS e_description, e.event_types AS e_event_types, \
               e.secret AS e_secret, e.disabled_reason AS e_disabled_reason, \
               e.failing_since AS e_failing_since, e.created_at AS e_created_at, \
               e.updated_at AS e_updated_at, \
               v.id AS v_id, v.kind AS v_kind, v.customer_id AS v_customer_id, \
               v.data AS v_data, v.created_at AS v_created_at \
             FROM claimed c \
             JOIN webhook_endpoints e ON e.id = c.endpoint_id \
             JOIN events v ON v.id = c.event_id \
             ORDER BY c.next_attempt_at, c.seq",
        )
        .bind(now)
        .bind(lease_until)
        .bind(to_i64(limit as u64)?)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                let delivery = delivery_from_row(row)?;
                Ok(DeliveryJob {
                    endpoint: endpoint_from_row(row, "e_")?,
                    event: event_from_prefixed_row(&delivery.tenant, row, "v_")?,
                    delivery,
                    lease: LeaseToken(get(row, "", "lease_token")?),
                })
            })
            .collect()
    }

    async fn record_delivery_attempt(
        &self,
        tenant: &Tenant,
        lease: &LeaseToken,
        attempt: &DeliveryAttempt,
        next: DeliveryNext,
        disable_after: Duration,
    ) -> Result<AttemptRecorded, StoreError> {
        let (state, next_at) = match next {
            DeliveryNext::Succeeded => (DeliveryState::Succeeded, None),
            DeliveryNext::RetryAt(at) => (DeliveryState::Pending, Some(at)),
            DeliveryNext::Failed => (DeliveryState::Failed, None),
        };
        let platform = tenant.platform.as_str();
        let mode = mode_str(tenant.mode);
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // NO KEY UPDATE: strong enough to queue records of one endpoint, weak
        // enough not to block `append_event`'s KEY SHARE on the same row. Once
        // the lock is ours the row read is the latest committed one.
        let run: Option<(String, Option<DateTime<Utc>>, Option<String>)> = sqlx::query_as(
            "SELECT e.id, e.failing_since, e.disabled_reason \
             FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
             WHERE d.platform_id = $1 AND d.mode = $2 AND d.id = $3 AND d.lease_token = $4 \
             FOR NO KEY UPDATE OF e",
        )
        .bind(platform)
        .bind(mode)
        .bind(attempt.delivery.as_str())
        .bind(&lease.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some((endpoint_id, failing_since, disabled)) = run else {
            tx.rollback().await.map_err(backend)?;
            return Ok(AttemptRecorded::default());
        };
        // The lease check that counts: a record that held the lock before us has
        // cleared the token, and this matches no row.
        let moved = sqlx::query(
            "UPDATE webhook_deliveries SET state = $5, next_attempt_at = $6, \
               attempts = GREATEST(attempts, $7), last_status = $8, lease_token = NULL, \
               lease_until = NULL, updated_at = $9 \
             WHERE platform_id = $1 AND mode = $2 AND id = $3 AND lease_token = $4",
        )
        .bind(platform)
        .bind(mode)
        .bind(attempt.delivery.as_str())
        .bind(&lease.0)
        .bind(state.as_str())
        .bind(next_at)
        .bind(to_i32(attempt.number)?)
        .bind(attempt.status.map(i32::from))
        .bind(attempt.at)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if moved.rows_affected() == 0 {
            tx.rollback().await.map_err(backend)?;
            return Ok(AttemptRecorded::default());
        }
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, number, at, status, latency_ms, error) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(attempt.delivery.as_str())
        .bind(to_i32(attempt.number)?)
        .bind(attempt.at)
        .bind(attempt.status.map(i32::from))
        .bind(i64::from(attempt.latency_ms))
        .bind(&attempt.error)
        .execute(&mut *tx)
        .await
        .map_err(|err| classify(err, "delivery attempt number exists"))?;

        let mut outcome = AttemptRecorded {
            recorded: true,
            endpoint_disabled: false,
        };
        if next == DeliveryNext::Succeeded {
            if failing_since.is_some() {
                sqlx::query("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1")
                    .bind(&endpoint_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
        } else {
            let since = failing_since.unwrap_or(attempt.at);
            outcome.endpoint_disabled = disabled.is_none() && attempt.at - since >= disable_after;
            sqlx::query(
                "UPDATE webhook_endpoints SET failing_since = $2, \
                   disabled_reason = CASE WHEN $3 THEN 'failing' ELSE disabled_reason END, \
                   updated_at = CASE WHEN $3 THEN $4 ELSE updated_at END \
                 WHERE id = $1",
            )
            .bind(&endpoint_id)
            .bind(since)
            .bind(outcome.endpoint_disabled)
            .bind(attempt.at)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(outcome)
    }

    async fn get_delivery(
        &self,
        tenant: &Tenant,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM webhook_deliveries WHERE platform_id = $1 AND mode = $2 AND id = $3"
        ))
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .map(|row| delivery_from_row(&row))
        .transpose()
    }

    async fn list_delivery_attempts(
        &self,
        tenant: &Tenant,
        id: &DeliveryId,
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        sqlx::query(
            "SELECT a.delivery_id, a.number, a.at, a.status, a.latency_ms, a.error \
             FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id \
             WHERE d.platform_id = $1 AND d.mode = $2 AND d.id = $3 ORDER BY a.number",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?
        .iter()
        .map(attempt_from_row)
        .collect()
    }

    async fn list_deliveries(
        &self,
        tenant: &Tenant,
        endpoint: &WebhookEndpointId,
        page: &PageRequest<DeliveryId>,
    ) -> Result<Page<Delivery>, StoreError> {
        let before: i64 = match &page.starting_after {
            None => i64::MAX,
            Some(cursor) => sqlx::query_scalar(
                "SELECT seq FROM webhook_deliveries \
                 WHERE platform_id = $1 AND mode = $2 AND endpoint_id = $3 AND id = $4",
            )
            .bind(tenant.platform.as_str())
            .bind(mode_str(tenant.mode))
            .bind(endpoint.as_str())
            .bind(cursor.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?,
        };
        let rows = sqlx::query(concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM webhook_deliveries \
             WHERE platform_id = $1 AND mode = $2 AND endpoint_id = $3 AND seq < $4 \
             ORDER BY seq DESC LIMIT $5"
        ))
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(endpoint.as_str())
        .bind(before)
        .bind(to_i64(page.limit as u64 + 1)?)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut data = rows
            .iter()
            .map(delivery_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let has_more = data.len() > page.limit;
        data.truncate(page.limit);
        Ok(Page { data, has_more })
    }

    async fn retry_delivery(
        &self,
        tenant: &Tenant,
        id: &DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<Option<Delivery>, StoreError> {
        // The lease columns are left alone: an attempt in flight still records.
        sqlx::query(concat!(
            "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = $4, \
               updated_at = $4 \
             WHERE platform_id = $1 AND mode = $2 AND id = $3 RETURNING ",
            delivery_columns!()
        ))
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(id.as_str())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .map(|row| delivery_from_row(&row))
        .transpose()
    }

    async fn purge_finished_deliveries(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError> {
        // Attempts go with their delivery (ON DELETE CASCADE).
        let done = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE id IN ( \
               SELECT id FROM webhook_deliveries \
               WHERE state IN ('succeeded', 'failed') AND updated_at < $1 LIMIT $2)",
        )
        .bind(before)
        .bind(to_i64(limit as u64)?)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }
}
