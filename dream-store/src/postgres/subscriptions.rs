//! Subscription states on PostgreSQL. An apply is one transaction that first
//! locks the customer's row (`SELECT … FOR UPDATE`): every apply for that
//! customer, in any process, queues there, so the staleness check, the state and
//! the plan change of one apply can never interleave with another's — an older
//! state's plan cannot land after a newer one's.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::SubscriptionStore, CustomerId, Event, StoreError, SubscriptionApply, SubscriptionState,
    SubscriptionStatus, Tenant,
};
use sqlx::{postgres::PgRow, Row};

use super::{events::insert_event, PostgresStore};
use crate::sql::{backend, corrupt, mode_str};

fn state_from_row(row: &PgRow) -> Result<SubscriptionState, StoreError> {
    let status: String = row.try_get("status").map_err(backend)?;
    Ok(SubscriptionState {
        subscription_id: row.try_get("subscription_id").map_err(backend)?,
        provider_customer_id: row.try_get("provider_customer_id").map_err(backend)?,
        status: SubscriptionStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("unknown subscription status {status:?}")))?,
        tier: row.try_get("tier").map_err(backend)?,
        current_period_start: row.try_get("current_period_start").map_err(backend)?,
        current_period_end: row.try_get("current_period_end").map_err(backend)?,
        cancel_at_period_end: row.try_get("cancel_at_period_end").map_err(backend)?,
        mrr_minor: row.try_get("mrr_minor").map_err(backend)?,
        currency: row.try_get("currency").map_err(backend)?,
        as_of: row.try_get("as_of").map_err(backend)?,
    })
}

#[async_trait]
impl SubscriptionStore for PostgresStore {
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
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Once the lock is ours, this returns the row as the last apply committed
        // it, so the plan is the true previous one.
        let previous_plan: Option<String> = sqlx::query_scalar(
            "SELECT plan FROM customers WHERE platform_id = $1 AND mode = $2 AND id = $3 \
             FOR UPDATE",
        )
        .bind(platform)
        .bind(mode)
        .bind(customer.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some(previous_plan) = previous_plan else {
            tx.rollback().await.map_err(backend)?;
            return Err(StoreError::NotFound);
        };
        // A statement of its own, after the lock: under READ COMMITTED it takes a
        // new snapshot that includes the state of every apply that held the lock
        // before us (a subquery of the locking statement would not). Compared in
        // SQL, at the stored precision.
        let stale: Option<bool> = sqlx::query_scalar(
            "SELECT as_of > $4 FROM subscription_states \
             WHERE platform_id = $1 AND mode = $2 AND customer_id = $3",
        )
        .bind(platform)
        .bind(mode)
        .bind(customer.as_str())
        .bind(state.as_of)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        if stale == Some(true) {
            tx.rollback().await.map_err(backend)?;
            return Ok(SubscriptionApply::Stale);
        }
        sqlx::query(
            "INSERT INTO subscription_states \
               (platform_id, mode, customer_id, subscription_id, provider_customer_id, status, \
                tier, current_period_start, current_period_end, cancel_at_period_end, \
                mrr_minor, currency, as_of) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (platform_id, mode, customer_id) DO UPDATE SET \
               subscription_id = EXCLUDED.subscription_id, \
               provider_customer_id = EXCLUDED.provider_customer_id, \
               status = EXCLUDED.status, tier = EXCLUDED.tier, \
               current_period_start = EXCLUDED.current_period_start, \
               current_period_end = EXCLUDED.current_period_end, \
               cancel_at_period_end = EXCLUDED.cancel_at_period_end, \
               mrr_minor = EXCLUDED.mrr_minor, currency = EXCLUDED.currency, \
               as_of = EXCLUDED.as_of",
        )
        .bind(platform)
        .bind(mode)
        .bind(customer.as_str())
        .bind(&state.subscription_id)
        .bind(&state.provider_customer_id)
        .bind(state.status.as_str())
        .bind(&state.tier)
        .bind(state.current_period_start)
        .bind(state.current_period_end)
        .bind(state.cancel_at_period_end)
        .bind(state.mrr_minor)
        .bind(&state.currency)
        .bind(state.as_of)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if let Some(plan) = plan {
            sqlx::query(
                "UPDATE customers SET plan = $4, updated_at = $5 \
                 WHERE platform_id = $1 AND mode = $2 AND id = $3",
            )
            .bind(platform)
            .bind(mode)
            .bind(customer.as_str())
            .bind(plan)
            .bind(now)
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
             FROM subscription_states WHERE platform_id = $1 AND mode = $2 AND customer_id = $3",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(customer.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .as_ref()
        .map(state_from_row)
        .transpose()
    }
}
