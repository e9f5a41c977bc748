//! Subscription states on SQLite. An apply is one `BEGIN IMMEDIATE` transaction
//! on the single writer: the staleness check, the state and the plan change are
//! decided and written under SQLite's write lock, so no other apply (in this
//! process or another on the same file) can land between them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::SubscriptionStore, CustomerId, Event, StoreError, SubscriptionApply, SubscriptionState,
    SubscriptionStatus, Tenant,
};
use sqlx::{sqlite::SqliteRow, Row};

use super::{events::insert_event, from_opt_ts, from_ts, ts, SqliteStore};
use crate::sql::{backend, corrupt, mode_str};

fn state_from_row(row: &SqliteRow) -> Result<SubscriptionState, StoreError> {
    let status: String = row.try_get("status").map_err(backend)?;
    Ok(SubscriptionState {
        subscription_id: row.try_get("subscription_id").map_err(backend)?,
        provider_customer_id: row.try_get("provider_customer_id").map_err(backend)?,
        status: SubscriptionStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("unknown subscription status {status:?}")))?,
        tier: row.try_get("tier").map_err(backend)?,
        current_period_start: from_opt_ts(row.try_get("current_period_start").map_err(backend)?)?,
        current_period_end: from_opt_ts(row.try_get("current_period_end").map_err(backend)?)?,
        cancel_at_period_end: row.try_get("cancel_at_period_end").map_err(backend)?,
        mrr_minor: row.try_get("mrr_minor").map_err(backend)?,
        currency: row.try_get("currency").map_err(backend)?,
        as_of: from_ts(row.try_get("as_of").map_err(backend)?)?,
    })
}

#[async_trait]
impl SubscriptionStore for SqliteStore {
    async fn apply_subscription_state(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        state: &SubscriptionState,
        plan: Option<&str>,
        now: DateTime<Utc>,
        events: &(dyn for<'p> Fn(&'p str) -> Vec<Event> + Send + Sync),
    ) -> Result<SubscriptionApply, StoreError> {
        let platform = tenant.platform.as_str();
        let mode = mode_str(tenant.mode);
        let as_of = ts(state.as_of);
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        // The plan and the stored state's time in one read: no customer row means
        // `NotFound`, no state row a NULL time.
        let found: Option<(String, Option<i64>)> = sqlx::query_as(
            "SELECT c.plan, s.as_of FROM customers c \
             LEFT JOIN subscription_states s \
               ON s.platform_id = c.platform_id AND s.mode = c.mode AND s.customer_id = c.id \
             WHERE c.platform_id = ?1 AND c.mode = ?2 AND c.id = ?3",
        )
        .bind(platform)
        .bind(mode)
        .bind(customer.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some((previous_plan, stored_as_of)) = found else {
            tx.rollback().await.map_err(backend)?;
            return Err(StoreError::NotFound);
        };
        // Compared as stored (microseconds), so the decision is the one a later
        // read of the row would make.
        if stored_as_of.is_some_and(|stored| stored > as_of) {
            tx.rollback().await.map_err(backend)?;
            return Ok(SubscriptionApply::Stale);
        }
        sqlx::query(
            "INSERT INTO subscription_states \
               (platform_id, mode, customer_id, subscription_id, provider_customer_id, status, \
                tier, current_period_start, current_period_end, cancel_at_period_end, \
                mrr_minor, currency, as_of) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
             ON CONFLICT (platform_id, mode, customer_id) DO UPDATE SET \
               subscription_id = excluded.subscription_id, \
               provider_customer_id = excluded.provider_customer_id, \
               status = excluded.status, tier = excluded.tier, \
               current_period_start = excluded.current_period_start, \
               current_period_end = excluded.current_period_end, \
               cancel_at_period_end = excluded.cancel_at_period_end, \
               mrr_minor = excluded.mrr_minor, currency = excluded.currency, \
               as_of = excluded.as_of",
        )
        .bind(platform)
        .bind(mode)
        .bind(customer.as_str())
        .bind(&state.subscription_id)
        .bind(&state.provider_customer_id)
        .bind(state.status.as_str())
        .bind(&state.tier)
        .bind(state.current_period_start.map(ts))
        .bind(state.current_period_end.map(ts))
        .bind(state.cancel_at_period_end)
        .bind(state.mrr_minor)
        .bind(&state.currency)
        .bind(as_of)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if let Some(plan) = plan {
            sqlx::query(
                "UPDATE customers SET plan = ?4, updated_at = ?5 \
                 WHERE platform_id = ?1 AND mode = ?2 AND id = ?3",
            )
            .bind(platform)
            .bind(mode)
            .bind(customer.as_str())
            .bind(plan)
            .bind(ts(now))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        for event in events(&previous_plan) {
            insert_event(&mut tx, &event).await?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(SubscriptionApply::Applied { previous_plan })
    }

    async fn get_subscription_state(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
    ) -> Result<Option<SubscriptionState>, StoreError> {
        sqlx::query(
            "SELECT subscription_id, provider_customer_id, status, tier, current_period_start, \
               current_period_end, cancel_at_period_end, mrr_minor, currency, as_of \
             FROM subscription_states WHERE platform_id = ?1 AND mode = ?2 AND customer_id = ?3",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(customer.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?
        .as_ref()
        .map(state_from_row)
        .transpose()
    }
}
