//! Usage counters and rate windows in SQLite. Concurrent consumes share one
//! `BEGIN IMMEDIATE` transaction and its one commit (group commit,
//! `crate::group_commit`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    decide_usage, gcra, ports::UsageStore, within_limit, ConsumeOutcome, ConsumeRequest,
    CreditGrant, CreditGrantOutcome, CustomerId, MeterPeriod, MetersReading, Period, StoreError,
    Tenant, UsageLimit, CREDIT_BALANCE_FULL, MAX_CREDIT_BALANCE, RECEIPT_RETENTION_HOURS,
    REQUESTS_METER,
};
use sqlx::{Connection, SqliteConnection, SqlitePool};

use super::{from_opt_ts, ts, SqliteStore};
use crate::{
    group_commit::{Answer, BatchError, ConsumeExecutor},
    sql::{backend, mode_str, to_i64, to_u64},
};

/// The limit as SQL binds it: `Some(None)` when unlimited, `None` when it does
/// not fit SQLite's integers (the transactional path compares it in Rust).
fn sql_limit(limit: UsageLimit) -> Option<Option<i64>> {
    match limit {
        UsageLimit::Unlimited => Some(None),
        UsageLimit::Limited(max) => i64::try_from(max).ok().map(Some),
    }
}

/// The limit for the one-statement path, when the consume can take it.
fn counter_only_limit(req: &ConsumeRequest) -> Option<Option<i64>> {
    if req.receipt.is_none() && req.rate_limit_per_minute.is_none() && req.key_rate.is_none() {
        sql_limit(req.limit)
    } else {
        None
    }
}

/// The consume paths of the writer connection, for
/// [`crate::group_commit::GroupCommit`].
#[derive(Debug, Clone)]
pub(super) struct SqliteConsumer {
    pub(super) writer: SqlitePool,
}

/// A consume without receipt or rate limit: the limit check and the increment
/// are one conditional upsert, atomic under SQLite's write lock, instead of the
/// statements of [`decide`] (each a hop to the connection's worker thread).
/// `None` when the allowance refused: credits may still pay, which the caller
/// decides with [`decide`] (or [`refused_without_credits`] first).
async fn consume_counter_only(
    conn: &mut SqliteConnection,
    req: &ConsumeRequest,
    limit: Option<i64>,
) -> Result<Option<ConsumeOutcome>, StoreError> {
    Ok(consume_counter_run(conn, std::slice::from_ref(req), limit)
        .await?
        .and_then(|mut outcomes| outcomes.pop()))
}

/// Consecutive counter-only consumes of one counter (see [`counter_run`]) as one
/// conditional upsert of their sum: when the sum fits the allowance, so does
/// every prefix of it (amounts are never negative here), so each is accepted in
/// arrival order with the count its place gives it. `None`, having written
/// nothing, when the sum does not fit: the caller then decides them one by one.
/// A hot customer's N waiting consumes so cost one statement, not N.
async fn consume_counter_run(
    conn: &mut SqliteConnection,
    run: &[ConsumeRequest],
    limit: Option<i64>,
) -> Result<Option<Vec<ConsumeOutcome>>, StoreError> {
    let (Some(first), Some(last)) = (run.first(), run.last()) else {
        return Ok(Some(Vec::new()));
    };
    let Some(total) = run
        .iter()
        .try_fold(0u64, |sum, req| sum.checked_add(req.amount))
    else {
        return Ok(None);
    };
    let counted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO usage_counters \
           (platform_id, mode, meter, period_start, customer_id, used, updated_at) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE ?8 IS NULL OR ?6 <= ?8 \
         ON CONFLICT (platform_id, mode, meter, period_start, customer_id) \
         DO UPDATE SET used = used + excluded.used, updated_at = excluded.updated_at \
         WHERE ?8 IS NULL OR usage_counters.used + excluded.used <= ?8 \
         RETURNING used",
    )
    .bind(first.tenant.platform.as_str())
    .bind(mode_str(first.tenant.mode))
    .bind(first.meter.as_ref())
    .bind(ts(first.period.start))
    .bind(first.customer.as_str())
    .bind(to_i64(total)?)
    .bind(ts(last.now))
    .bind(limit)
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?;
    let Some(counted) = counted else {
        return Ok(None);
    };
    // The count before the run, then each consume's count in order.
    let mut used = to_u64(counted)?
        .checked_sub(total)
        .ok_or_else(|| StoreError::Backend("usage counter below the amount just added".into()))?;
    Ok(Some(
        run.iter()
            .map(|req| {
                used += req.amount;
                ConsumeOutcome::accepted(used)
            })
            .collect(),
    ))
}

/// The length of the run at the start of `requests` that [`consume_counter_run`]
/// can count as one: counter-only consumes of the first one's counter, under the
/// same limit. 0 when the first is not counter-only.
fn counter_run(requests: &[ConsumeRequest]) -> (usize, Option<i64>) {
    let Some((first, rest)) = requests.split_first() else {
        return (0, None);
    };
    let Some(limit) = counter_only_limit(first) else {
        return (0, None);
    };
    let same_counter = |req: &ConsumeRequest| {
        counter_only_limit(req).is_some()
            && req.limit == first.limit
            && req.customer == first.customer
            && req.tenant == first.tenant
            && req.meter == first.meter
            && req.period.start == first.period.start
    };
    (
        1 + rest.iter().take_while(|req| same_counter(req)).count(),
        limit,
    )
}

/// After the one-statement path refused: the refusal, when the count and the
/// credit balance (read by one statement, so at one instant) cannot pay for the
/// amount; `None` when credits may pay, for [`decide`] to settle under the write
/// lock. Most refusals so cost two statements and no transaction.
async fn refused_without_credits(
    conn: &mut SqliteConnection,
    req: &ConsumeRequest,
) -> Result<Option<ConsumeOutcome>, StoreError> {
    let (used, balance): (i64, i64) = sqlx::query_as(
        "SELECT \
           COALESCE((SELECT used FROM usage_counters WHERE platform_id = ?1 AND mode = ?2 \
             AND meter = ?3 AND period_start = ?4 AND customer_id = ?5), 0), \
           COALESCE((SELECT balance FROM credit_balances WHERE platform_id = ?1 \
             AND mode = ?2 AND customer_id = ?5 AND meter = ?3), 0)",
    )
    .bind(req.tenant.platform.as_str())
    .bind(mode_str(req.tenant.mode))
    .bind(req.meter.as_ref())
    .bind(ts(req.period.start))
    .bind(req.customer.as_str())
    .fetch_one(&mut *conn)
    .await
    .map_err(backend)?;
    let used = to_u64(used)?;
    Ok(
        match decide_usage(used, req.amount, req.limit, to_u64(balance)?) {
            None => Some(ConsumeOutcome::LimitReached { used }),
            Some(_) => None,
        },
    )
}

/// The customer's count of a meter in the period (0 before the first), on the
/// pool or on a connection inside a transaction.
async fn counted_so_far<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    tenant: &Tenant,
    customer: &CustomerId,
    meter: &str,
    period: &Period,
) -> Result<u64, StoreError> {
    let used: Option<i64> = sqlx::query_scalar(
        "SELECT used FROM usage_counters WHERE platform_id = ?1 AND mode = ?2 \
         AND meter = ?3 AND period_start = ?4 AND customer_id = ?5",
    )
    .bind(tenant.platform.as_str())
    .bind(mode_str(tenant.mode))
    .bind(meter)
    .bind(ts(period.start))
    .bind(customer.as_str())
    .fetch_optional(executor)
    .await
    .map_err(backend)?;
    to_u64(used.unwrap_or(0))
}

/// The customer's credit balance for a meter (0 without a row).
async fn credit_balance<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    tenant: &Tenant,
    customer: &CustomerId,
    meter: &str,
) -> Result<u64, StoreError> {
    let balance: Option<i64> = sqlx::query_scalar(
        "SELECT balance FROM credit_balances WHERE platform_id = ?1 AND mode = ?2 \
         AND customer_id = ?3 AND meter = ?4",
    )
    .bind(tenant.platform.as_str())
    .bind(mode_str(tenant.mode))
    .bind(customer.as_str())
    .bind(meter)
    .fetch_optional(executor)
    .await
    .map_err(backend)?;
    to_u64(balance.unwrap_or(0))
}

/// A rate window's theoretical arrival time: a customer's (by customer id) or a
/// customer key's (by key id, in the same table: `ckey_…` is never a customer id).
async fn rate_window(
    conn: &mut SqliteConnection,
    tenant: &Tenant,
    window: &str,
) -> Result<Option<i64>, StoreError> {
    sqlx::query_scalar(
        "SELECT tat_us FROM rate_windows WHERE platform_id = ?1 AND mode = ?2 \
         AND customer_id = ?3",
    )
    .bind(tenant.platform.as_str())
    .bind(mode_str(tenant.mode))
    .bind(window)
    .fetch_optional(conn)
    .await
    .map_err(backend)
}

async fn save_rate_window(
    conn: &mut SqliteConnection,
    tenant: &Tenant,
    window: &str,
    tat_us: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO rate_windows (platform_id, mode, customer_id, tat_us) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (platform_id, mode, customer_id) \
         DO UPDATE SET tat_us = excluded.tat_us",
    )
    .bind(tenant.platform.as_str())
    .bind(mode_str(tenant.mode))
    .bind(window)
    .bind(tat_us)
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

/// Decides one consume on a connection inside a `BEGIN IMMEDIATE` transaction:
/// SQLite's write lock is held from the first read to the commit, so no other
/// writer can interleave. A refusal writes nothing. The credit balance is read
/// only when the allowance cannot hold the amount.
async fn decide(
    conn: &mut SqliteConnection,
    req: &ConsumeRequest,
) -> Result<ConsumeOutcome, StoreError> {
    let platform = req.tenant.platform.as_str();
    let mode = mode_str(req.tenant.mode);
    let customer = req.customer.as_str();
    let meter = req.meter.as_ref();
    let cutoff = ts(req.now - chrono::Duration::hours(RECEIPT_RETENTION_HOURS));
    if let Some(receipt) = &req.receipt {
        let replay: Option<(i64, i64)> = sqlx::query_as(
            "SELECT used, credits_spent FROM usage_receipts WHERE platform_id = ?1 \
             AND mode = ?2 AND receipt = ?3 AND created_at > ?4",
        )
        .bind(platform)
        .bind(mode)
        .bind(receipt)
        .bind(cutoff)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
        if let Some((used, credits_spent)) = replay {
            return Ok(ConsumeOutcome::Accepted {
                used: to_u64(used)?,
                credits_spent: to_u64(credits_spent)?,
            });
        }
    }
    let used = counted_so_far(&mut *conn, &req.tenant, &req.customer, meter, &req.period).await?;
    let credits_spent = if within_limit(used, req.amount, req.limit) {
        0
    } else {
        let balance = credit_balance(&mut *conn, &req.tenant, &req.customer, meter).await?;
        match decide_usage(used, req.amount, req.limit, balance) {
            Some(spent) => spent,
            None => return Ok(ConsumeOutcome::LimitReached { used }),
        }
    };
    // Both windows decide before either is written: a refusal changes nothing.
    let now_us = req.now.timestamp_micros();
    let mut customer_tat = None;
    if let Some(rate) = req.rate_limit_per_minute {
        let tat = rate_window(&mut *conn, &req.tenant, customer).await?;
        match gcra(tat, now_us, rate, req.amount) {
            Ok(new_tat) => customer_tat = Some(new_tat),
            Err(retry_after_ms) => return Ok(ConsumeOutcome::RateLimited { retry_after_ms }),
        }
    }
    let mut key_tat = None;
    if let Some(key) = &req.key_rate {
        let tat = rate_window(&mut *conn, &req.tenant, &key.window).await?;
        match gcra(tat, now_us, key.per_minute, key.cost) {
            Ok(new_tat) => key_tat = Some((key.window.as_str(), new_tat)),
            Err(retry_after_ms) => return Ok(ConsumeOutcome::RateLimited { retry_after_ms }),
        }
    }
    if let Some(new_tat) = customer_tat {
        save_rate_window(&mut *conn, &req.tenant, customer, new_tat).await?;
    }
    if let Some((window, new_tat)) = key_tat {
        save_rate_window(&mut *conn, &req.tenant, window, new_tat).await?;
    }
    let used: i64 = sqlx::query_scalar(
        "INSERT INTO usage_counters \
           (platform_id, mode, meter, period_start, customer_id, used, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (platform_id, mode, meter, period_start, customer_id) \
         DO UPDATE SET used = used + excluded.used, updated_at = excluded.updated_at \
         RETURNING used",
    )
    .bind(platform)
    .bind(mode)
    .bind(meter)
    .bind(ts(req.period.start))
    .bind(customer)
    .bind(to_i64(req.amount)?)
    .bind(ts(req.now))
    .fetch_one(&mut *conn)
    .await
    .map_err(backend)?;
    if credits_spent > 0 {
        sqlx::query(
            "UPDATE credit_balances SET balance = balance - ?5 WHERE platform_id = ?1 \
             AND mode = ?2 AND customer_id = ?3 AND meter = ?4",
        )
        .bind(platform)
        .bind(mode)
        .bind(customer)
        .bind(meter)
        .bind(to_i64(credits_spent)?)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    if let Some(receipt) = &req.receipt {
        sqlx::query(
            "DELETE FROM usage_receipts WHERE platform_id = ?1 AND mode = ?2 \
             AND created_at <= ?3",
        )
        .bind(platform)
        .bind(mode)
        .bind(cutoff)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
        sqlx::query(
            "INSERT INTO usage_receipts \
               (platform_id, mode, receipt, used, credits_spent, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (platform_id, mode, receipt) \
             DO UPDATE SET used = excluded.used, credits_spent = excluded.credits_spent, \
               created_at = excluded.created_at",
        )
        .bind(platform)
        .bind(mode)
        .bind(receipt)
        .bind(used)
        .bind(to_i64(credits_spent)?)
        .bind(ts(req.now))
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    Ok(ConsumeOutcome::Accepted {
        used: to_u64(used)?,
        credits_spent,
    })
}

impl SqliteConsumer {
    /// [`decide`] in its own `BEGIN IMMEDIATE` transaction.
    async fn decide_alone(&self, req: &ConsumeRequest) -> Answer {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let outcome = decide(&mut tx, req).await?;
        // A refusal wrote nothing: rolling back ends the transaction as cheaply.
        if matches!(outcome, ConsumeOutcome::Accepted { .. }) {
            tx.commit().await.map_err(backend)?;
        } else {
            tx.rollback().await.map_err(backend)?;
        }
        Ok(outcome)
    }
}

#[async_trait]
impl ConsumeExecutor for SqliteConsumer {
    /// A consume without receipt or rate limit is one statement (its own
    /// transaction) while the allowance holds it; any other is [`decide`] in a
    /// `BEGIN IMMEDIATE` transaction.
    async fn consume_one(&self, req: &ConsumeRequest) -> Answer {
        if let Some(limit) = counter_only_limit(req) {
            let mut conn = self.writer.acquire().await.map_err(backend)?;
            if let Some(outcome) = consume_counter_only(&mut conn, req, limit).await? {
                return Ok(outcome);
            }
            if let Some(refused) = refused_without_credits(&mut conn, req).await? {
                return Ok(refused);
            }
        }
        self.decide_alone(req).await
    }

    /// Every consume of the batch, in order, in one `BEGIN IMMEDIATE` transaction
    /// with one commit (one WAL append instead of one per consume). A run of
    /// counter-only consumes of one counter is one statement
    /// ([`consume_counter_run`]); a batch that is only such a run (a hot
    /// customer) is that one statement, without `BEGIN` and `COMMIT`.
    async fn consume_batch(&self, requests: &[ConsumeRequest]) -> Result<Vec<Answer>, BatchError> {
        let failed = |e: StoreError| match e {
            StoreError::Unavailable(_) => BatchError::Failed(e),
            _ => BatchError::RolledBack,
        };
        // One checkout of the writer for the whole batch, whichever way it goes.
        let mut conn = self
            .writer
            .acquire()
            .await
            .map_err(|e| failed(backend(e)))?;
        let (whole, limit) = counter_run(requests);
        let one_run = whole == requests.len() && whole > 1;
        if one_run {
            // One statement is its own transaction: committed when it answers.
            if let Some(outcomes) = consume_counter_run(&mut conn, requests, limit)
                .await
                .map_err(failed)?
            {
                return Ok(outcomes.into_iter().map(Ok).collect());
            }
        }
        let mut tx = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| failed(backend(e)))?;
        let mut answers = Vec::with_capacity(requests.len());
        let mut rest = requests;
        while !rest.is_empty() {
            let (run, limit) = counter_run(rest);
            // The whole batch's run already failed to fit above.
            if run > 1 && !one_run {
                if let Some(outcomes) = consume_counter_run(&mut tx, &rest[..run], limit)
                    .await
                    .map_err(failed)?
                {
                    answers.extend(outcomes.into_iter().map(Ok));
                    rest = &rest[run..];
                    continue;
                }
            }
            // The run's sum did not fit the allowance (or it is one consume):
            // each of its consumes is decided alone, in order.
            let (alone, later) = rest.split_at(run.max(1));
            for req in alone {
                let fast = match counter_only_limit(req) {
                    Some(limit) => consume_counter_only(&mut tx, req, limit)
                        .await
                        .map_err(failed)?,
                    None => None,
                };
                let outcome = match fast {
                    Some(outcome) => outcome,
                    // Refused by the allowance (credits may pay) or not a
                    // counter-only consume: the write lock is held, so decide
                    // settles it.
                    None => decide(&mut tx, req).await.map_err(failed)?,
                };
                // Dropping the transaction rolls it back.
                answers.push(Ok(outcome));
            }
            rest = later;
        }
        tx.commit().await.map_err(|e| failed(backend(e)))?;
        Ok(answers)
    }
}

#[async_trait]
impl UsageStore for SqliteStore {
    async fn consume_usage(&self, req: &ConsumeRequest) -> Result<ConsumeOutcome, StoreError> {
        self.consumes.consume(req).await
    }

    async fn release_usage(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        meter: &str,
        period: &Period,
        amount: u64,
    ) -> Result<u64, StoreError> {
        // A count never passes i64::MAX, so a larger release empties it.
        let amount = i64::try_from(amount).unwrap_or(i64::MAX);
        let used: Option<i64> = sqlx::query_scalar(
            "UPDATE usage_counters SET used = max(used - ?6, 0) WHERE platform_id = ?1 \
             AND mode = ?2 AND meter = ?3 AND period_start = ?4 AND customer_id = ?5 \
             RETURNING used",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(meter)
        .bind(ts(period.start))
        .bind(customer.as_str())
        .bind(amount)
        .fetch_optional(&self.writer)
        .await
        .map_err(backend)?;
        to_u64(used.unwrap_or(0))
    }

    async fn grant_credits(&self, grant: &CreditGrant) -> Result<CreditGrantOutcome, StoreError> {
        let platform = grant.tenant.platform.as_str();
        let mode = mode_str(grant.tenant.mode);
        // The write lock from the first read: a concurrent grant of the same id
        // waits and then finds this one in the ledger.
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let replay: Option<i64> = sqlx::query_scalar(
            "SELECT balance_after FROM credit_grants WHERE platform_id = ?1 AND mode = ?2 \
             AND grant_id = ?3",
        )
        .bind(platform)
        .bind(mode)
        .bind(&grant.grant_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        if let Some(balance) = replay {
            tx.rollback().await.map_err(backend)?;
            return Ok(CreditGrantOutcome {
                balance: to_u64(balance)?,
                replayed: true,
            });
        }
        let balance = credit_balance(&mut *tx, &grant.tenant, &grant.customer, &grant.meter)
            .await?
            .checked_add(grant.amount)
            .filter(|b| *b <= MAX_CREDIT_BALANCE)
            .ok_or(StoreError::Conflict(CREDIT_BALANCE_FULL))?;
        sqlx::query(
            "INSERT INTO credit_balances (platform_id, mode, customer_id, meter, balance) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (platform_id, mode, customer_id, meter) \
             DO UPDATE SET balance = excluded.balance",
        )
        .bind(platform)
        .bind(mode)
        .bind(grant.customer.as_str())
        .bind(&grant.meter)
        .bind(to_i64(balance)?)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query(
            "INSERT INTO credit_grants (platform_id, mode, grant_id, customer_id, meter, \
               amount, balance_after, reason, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(platform)
        .bind(mode)
        .bind(&grant.grant_id)
        .bind(grant.customer.as_str())
        .bind(&grant.meter)
        .bind(to_i64(grant.amount)?)
        .bind(to_i64(balance)?)
        .bind(&grant.reason)
        .bind(ts(grant.now))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(CreditGrantOutcome {
            balance,
            replayed: false,
        })
    }

    async fn read_meters(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        meters: &[MeterPeriod],
    ) -> Result<MetersReading, StoreError> {
        // One read transaction: WAL gives every statement of it the same snapshot.
        let mut tx = self.reader.begin().await.map_err(backend)?;
        let mut used = Vec::with_capacity(meters.len());
        for m in meters {
            used.push(counted_so_far(&mut *tx, tenant, customer, &m.meter, &m.period).await?);
        }
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT meter, balance FROM credit_balances WHERE platform_id = ?1 AND mode = ?2 \
             AND customer_id = ?3 AND balance > 0",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(customer.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        let credits = rows
            .into_iter()
            .map(|(meter, balance)| Ok((meter, to_u64(balance)?)))
            .collect::<Result<_, StoreError>>()?;
        Ok(MetersReading { used, credits })
    }

    async fn get_usage(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        period: &Period,
    ) -> Result<u64, StoreError> {
        counted_so_far(&self.reader, tenant, customer, REQUESTS_METER, period).await
    }

    async fn last_consumed_at(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let last: Option<i64> = sqlx::query_scalar(
            "SELECT max(updated_at) FROM usage_counters \
             WHERE platform_id = ?1 AND mode = ?2 AND customer_id = ?3",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(customer.as_str())
        .fetch_one(&self.reader)
        .await
        .map_err(backend)?;
        from_opt_ts(last)
    }

    async fn active_customers(&self, tenant: &Tenant, period: &Period) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM usage_counters WHERE platform_id = ?1 AND mode = ?2 \
             AND meter = ?3 AND period_start = ?4 AND used > 0",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(REQUESTS_METER)
        .bind(ts(period.start))
        .fetch_one(&self.reader)
        .await
        .map_err(backend)?;
        to_u64(n)
    }

    async fn total_usage(&self, tenant: &Tenant, period: &Period) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COALESCE(sum(used), 0) FROM usage_counters \
             WHERE platform_id = ?1 AND mode = ?2 AND meter = ?3 AND period_start = ?4",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(REQUESTS_METER)
        .bind(ts(period.start))
        .fetch_one(&self.reader)
        .await
        .map_err(backend)?;
        to_u64(n)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use proptest::prelude::*;

    use super::*;

    use crate::test_requests::{consume as request, limits};

    async fn consumer() -> SqliteConsumer {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "dream-sqlite-runs-{}-{}.sqlite3",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let store = SqliteStore::open(&path).await.expect("open");
        SqliteConsumer {
            writer: store.writer.clone(),
        }
    }

    /// Each consume decided alone, in order: what a batch must answer.
    async fn one_by_one(requests: &[ConsumeRequest]) -> Vec<ConsumeOutcome> {
        let alone = consumer().await;
        let mut outcomes = Vec::new();
        for req in requests {
            outcomes.push(alone.consume_one(req).await.expect("consume"));
        }
        outcomes
    }

    async fn batched(requests: &[ConsumeRequest]) -> Vec<ConsumeOutcome> {
        let Ok(answers) = consumer().await.consume_batch(requests).await else {
            panic!("the batch was not committed");
        };
        answers.into_iter().map(|a| a.expect("answer")).collect()
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn a_run_over_the_limit_is_decided_one_by_one_up_to_the_limit() {
        let limit = UsageLimit::Limited(3);
        let run: Vec<_> = (0..5).map(|_| request("hot", 1, limit)).collect();
        let outcomes = runtime().block_on(batched(&run));
        assert_eq!(
            outcomes,
            [
                ConsumeOutcome::accepted(1),
                ConsumeOutcome::accepted(2),
                ConsumeOutcome::accepted(3),
                ConsumeOutcome::LimitReached { used: 3 },
                ConsumeOutcome::LimitReached { used: 3 },
            ]
        );
    }

    #[test]
    fn a_run_within_the_limit_gives_each_consume_its_place_in_the_count() {
        let limit = UsageLimit::Limited(100);
        let run = [
            request("hot", 2, limit),
            request("hot", 0, limit),
            request("hot", 5, limit),
        ];
        let outcomes = runtime().block_on(batched(&run));
        assert_eq!(
            outcomes,
            [
                ConsumeOutcome::accepted(2),
                ConsumeOutcome::accepted(2),
                ConsumeOutcome::accepted(7),
            ]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// A batch (runs of one counter counted as one statement, the rest one by
        /// one) answers exactly what deciding each consume alone in order answers.
        #[test]
        fn a_batch_answers_as_its_consumes_one_by_one(
            limit_a in limits(),
            limit_b in limits(),
            only_a in any::<bool>(),
            steps in prop::collection::vec((0u8..4, 0u64..4, 0u8..8), 1..24),
        ) {
            // Mostly customer a under one limit, so runs form; now and then its
            // plan changes (another limit) mid-batch.
            let requests: Vec<_> = steps
                .iter()
                .map(|&(who, amount, plan)| {
                    if only_a || who < 3 {
                        let limit = if plan == 0 { limit_b } else { limit_a };
                        request("a", amount, limit)
                    } else {
                        request("b", amount, limit_b)
                    }
                })
                .collect();
            let rt = runtime();
            let expected = rt.block_on(one_by_one(&requests));
            prop_assert_eq!(rt.block_on(batched(&requests)), expected);
        }
    }
}
