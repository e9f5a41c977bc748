//! Usage counters in PostgreSQL: one `dream_consume` call per track, or one
//! `dream_consume_batch` call for all the consumes that waited while the store
//! was busy (group commit, `crate::group_commit`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::UsageStore, ConsumeOutcome, ConsumeRequest, CreditGrant, CreditGrantOutcome, CustomerId,
    MeterPeriod, MetersReading, Period, StoreError, Tenant, CREDIT_BALANCE_FULL,
    MAX_CREDIT_BALANCE, REQUESTS_METER,
};
use std::sync::Arc;

use super::{held::HeldConnections, PostgresStore};
use crate::{
    group_commit::{Answer, BatchError, ConsumeExecutor},
    sql::{backend, corrupt, mode_str, to_i64, to_u64},
};

/// The consume paths of one pool, for [`crate::group_commit::GroupCommit`].
#[derive(Debug, Clone)]
pub(super) struct PgConsumer {
    pub(super) connections: Arc<HeldConnections>,
}

/// One row of `dream_consume` / `dream_consume_batch`: outcome, used,
/// retry_after_ms, credits_spent.
type ConsumeRow = (i16, i64, i64, i64);

fn decode((outcome, used, retry_after_ms, credits_spent): ConsumeRow) -> Answer {
    let used = to_u64(used)?;
    match outcome {
        0 => Ok(ConsumeOutcome::Accepted {
            used,
            credits_spent: to_u64(credits_spent)?,
        }),
        1 => Ok(ConsumeOutcome::LimitReached { used }),
        2 => Ok(ConsumeOutcome::RateLimited {
            retry_after_ms: to_u64(retry_after_ms)?,
        }),
        other => Err(corrupt(format!("dream_consume returned outcome {other}"))),
    }
}

/// The arrays of `dream_consume_batch`, one element per consume.
#[derive(Default)]
struct BatchArrays<'a> {
    platform: Vec<&'a str>,
    mode: Vec<&'a str>,
    customer: Vec<&'a str>,
    meter: Vec<&'a str>,
    period: Vec<DateTime<Utc>>,
    amount: Vec<i64>,
    limit: Vec<Option<i64>>,
    rate: Vec<Option<i32>>,
    now: Vec<DateTime<Utc>>,
    now_us: Vec<i64>,
    receipt: Vec<Option<&'a str>>,
    key: Vec<Option<&'a str>>,
    key_rate: Vec<Option<i32>>,
    key_cost: Vec<Option<i64>>,
}

impl<'a> BatchArrays<'a> {
    fn push(&mut self, req: &'a ConsumeRequest) -> Result<(), StoreError> {
        self.amount.push(to_i64(req.amount)?);
        self.limit
            .push(req.limit.as_option().map(to_i64).transpose()?);
        self.platform.push(req.tenant.platform.as_str());
        self.mode.push(mode_str(req.tenant.mode));
        self.customer.push(req.customer.as_str());
        self.meter.push(req.meter.as_ref());
        self.period.push(req.period.start);
        self.rate.push(req.rate_limit_per_minute.map(|r| r as i32));
        self.now.push(req.now);
        self.now_us.push(req.now.timestamp_micros());
        self.receipt.push(req.receipt.as_deref());
        let key = req.key_rate.as_ref();
        self.key.push(key.map(|k| k.window.as_str()));
        self.key_rate.push(key.map(|k| k.per_minute as i32));
        self.key_cost.push(key.map(|k| to_i64(k.cost)).transpose()?);
        Ok(())
    }
}

#[async_trait]
impl ConsumeExecutor for PgConsumer {
    async fn consume_one(&self, req: &ConsumeRequest) -> Answer {
        let query = sqlx::query_as(
            "SELECT outcome, used, retry_after_ms, credits_spent \
             FROM dream_consume($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(req.tenant.platform.as_str())
        .bind(mode_str(req.tenant.mode))
        .bind(req.customer.as_str())
        .bind(req.meter.as_ref())
        .bind(req.period.start)
        .bind(to_i64(req.amount)?)
        .bind(req.limit.as_option().map(to_i64).transpose()?)
        .bind(req.rate_limit_per_minute.map(|r| r as i32))
        .bind(req.now)
        .bind(req.now.timestamp_micros())
        .bind(&req.receipt)
        .bind(req.key_rate.as_ref().map(|k| k.window.as_str()))
        .bind(req.key_rate.as_ref().map(|k| k.per_minute as i32))
        .bind(req.key_rate.as_ref().map(|k| to_i64(k.cost)).transpose()?);
        let mut conn = self.connections.take().await.map_err(backend)?;
        let row: ConsumeRow = query.fetch_one(&mut *conn).await.map_err(backend)?;
        self.connections.keep(conn);
        decode(row)
    }

    /// One `dream_consume_batch` statement (autocommit: one transaction). The
    /// consumes go sorted by counter (platform, mode, customer, meter, period),
    /// arrival order kept within one counter (a stable sort), so every batch of
    /// every process locks rows in one order: per customer its one counter of the
    /// batch (group commit sends no more), then its credit balance, then its rate
    /// window, then its one key's window.
    async fn consume_batch(&self, requests: &[ConsumeRequest]) -> Result<Vec<Answer>, BatchError> {
        let mut order: Vec<usize> = (0..requests.len()).collect();
        let key = |i: &usize| {
            let r = &requests[*i];
            (
                r.tenant.platform.as_str(),
                mode_str(r.tenant.mode),
                r.customer.as_str(),
                r.meter.as_ref(),
                r.period.start,
            )
        };
        order.sort_by(|a, b| key(a).cmp(&key(b)));
        let mut arrays = BatchArrays::default();
        for &i in &order {
            // A value SQL cannot hold: decided alone, where it fails alone.
            arrays
                .push(&requests[i])
                .map_err(|_| BatchError::RolledBack)?;
        }
        let failed = |e: sqlx::Error| match e {
            // The server refused the statement (a deadlock, a serialization
            // failure, an overflow): it rolled back as a whole.
            sqlx::Error::Database(_) => BatchError::RolledBack,
            other => BatchError::Failed(backend(other)),
        };
        let mut conn = self.connections.take().await.map_err(failed)?;
        let rows: Vec<ConsumeRow> = sqlx::query_as(
            "SELECT outcome, used, retry_after_ms, credits_spent \
             FROM dream_consume_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&arrays.platform)
        .bind(&arrays.mode)
        .bind(&arrays.customer)
        .bind(&arrays.meter)
        .bind(&arrays.period)
        .bind(&arrays.amount)
        .bind(&arrays.limit)
        .bind(&arrays.rate)
        .bind(&arrays.now)
        .bind(&arrays.now_us)
        .bind(&arrays.receipt)
        .bind(&arrays.key)
        .bind(&arrays.key_rate)
        .bind(&arrays.key_cost)
        .fetch_all(&mut *conn)
        .await
        .map_err(failed)?;
        self.connections.keep(conn);
        if rows.len() != requests.len() {
            let message = format!(
                "dream_consume_batch returned {} rows for {} consumes",
                rows.len(),
                requests.len()
            );
            return Ok(requests
                .iter()
                .map(|_| Err(corrupt(message.clone())))
                .collect());
        }
        let mut answers: Vec<Option<Answer>> = requests.iter().map(|_| None).collect();
        for (&i, row) in order.iter().zip(rows) {
            answers[i] = Some(decode(row));
        }
        Ok(answers
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Err(corrupt("a consume without its row".into()))))
            .collect())
    }
}

#[async_trait]
impl UsageStore for PostgresStore {
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
            "UPDATE usage_counters u SET used = GREATEST(u.used - $6, 0) \
             WHERE u.platform_id = $1 AND u.mode = $2 AND u.meter = $3 \
             AND u.period_start = $4 AND u.customer_id = $5 RETURNING u.used",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(meter)
        .bind(period.start)
        .bind(customer.as_str())
        .bind(amount)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        to_u64(used.unwrap_or(0))
    }

    async fn grant_credits(&self, grant: &CreditGrant) -> Result<CreditGrantOutcome, StoreError> {
        let platform = grant.tenant.platform.as_str();
        let mode = mode_str(grant.tenant.mode);
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // The ledger row first: a concurrent grant of the same id waits on its key
        // until this transaction ends, then inserts nothing and reads this one.
        let inserted: Option<i32> = sqlx::query_scalar(
            "INSERT INTO credit_grants (platform_id, mode, grant_id, customer_id, meter, \
               amount, balance_after, reason, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8) \
             ON CONFLICT (platform_id, mode, grant_id) DO NOTHING RETURNING 1",
        )
        .bind(platform)
        .bind(mode)
        .bind(&grant.grant_id)
        .bind(grant.customer.as_str())
        .bind(&grant.meter)
        .bind(i64::try_from(grant.amount).unwrap_or(i64::MAX))
        .bind(&grant.reason)
        .bind(grant.now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        if inserted.is_none() {
            let balance: i64 = sqlx::query_scalar(
                "SELECT balance_after FROM credit_grants \
                 WHERE platform_id = $1 AND mode = $2 AND grant_id = $3",
            )
            .bind(platform)
            .bind(mode)
            .bind(&grant.grant_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
            tx.rollback().await.map_err(backend)?;
            return Ok(CreditGrantOutcome {
                balance: to_u64(balance)?,
                replayed: true,
            });
        }
        // Past the maximum, the amount alone may not fit a BIGINT sum.
        if grant.amount > MAX_CREDIT_BALANCE {
            return Err(StoreError::Conflict(CREDIT_BALANCE_FULL));
        }
        let amount = to_i64(grant.amount)?;
        let balance: Option<i64> = sqlx::query_scalar(
            "INSERT INTO credit_balances AS b (platform_id, mode, customer_id, meter, balance) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (platform_id, mode, customer_id, meter) \
             DO UPDATE SET balance = b.balance + EXCLUDED.balance \
             WHERE b.balance + EXCLUDED.balance <= $6 \
             RETURNING b.balance",
        )
        .bind(platform)
        .bind(mode)
        .bind(grant.customer.as_str())
        .bind(&grant.meter)
        .bind(amount)
        .bind(to_i64(MAX_CREDIT_BALANCE)?)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        // Dropping the transaction rolls the ledger row back.
        let balance = balance.ok_or(StoreError::Conflict(CREDIT_BALANCE_FULL))?;
        sqlx::query(
            "UPDATE credit_grants SET balance_after = $4 \
             WHERE platform_id = $1 AND mode = $2 AND grant_id = $3",
        )
        .bind(platform)
        .bind(mode)
        .bind(&grant.grant_id)
        .bind(balance)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(CreditGrantOutcome {
            balance: to_u64(balance)?,
            replayed: false,
        })
    }

    async fn read_meters(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        meters: &[MeterPeriod],
    ) -> Result<MetersReading, StoreError> {
        let names: Vec<&str> = meters.iter().map(|m| m.meter.as_str()).collect();
        let periods: Vec<DateTime<Utc>> = meters.iter().map(|m| m.period.start).collect();
        // One statement: every part of it reads the same snapshot.
        let (used, credit_meters, balances): (Vec<i64>, Vec<String>, Vec<i64>) = sqlx::query_as(
            "SELECT \
                   ARRAY(SELECT COALESCE(u.used, 0) \
                     FROM unnest($4::TEXT[], $5::TIMESTAMPTZ[]) WITH ORDINALITY \
                       AS m(meter, period_start, ord) \
                     LEFT JOIN usage_counters u ON u.platform_id = $1 AND u.mode = $2 \
                       AND u.customer_id = $3 AND u.meter = m.meter \
                       AND u.period_start = m.period_start \
                     ORDER BY m.ord), \
                   ARRAY(SELECT b.meter FROM credit_balances b WHERE b.platform_id = $1 \
                     AND b.mode = $2 AND b.customer_id = $3 AND b.balance > 0 \
                     ORDER BY b.meter), \
                   ARRAY(SELECT b.balance FROM credit_balances b WHERE b.platform_id = $1 \
                     AND b.mode = $2 AND b.customer_id = $3 AND b.balance > 0 \
                     ORDER BY b.meter)",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(customer.as_str())
        .bind(&names)
        .bind(&periods)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        if used.len() != meters.len() || credit_meters.len() != balances.len() {
            return Err(corrupt(
                "read_meters returned arrays of the wrong length".into(),
            ));
        }
        let used = used.into_iter().map(to_u64).collect::<Result<_, _>>()?;
        let credits = credit_meters
            .into_iter()
            .zip(balances)
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
        let used: Option<i64> = sqlx::query_scalar(
            "SELECT used FROM usage_counters WHERE platform_id = $1 AND mode = $2 \
             AND meter = $3 AND period_start = $4 AND customer_id = $5",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(REQUESTS_METER)
        .bind(period.start)
        .bind(customer.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        to_u64(used.unwrap_or(0))
    }

    async fn last_consumed_at(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        sqlx::query_scalar(
            "SELECT max(updated_at) FROM usage_counters \
             WHERE platform_id = $1 AND mode = $2 AND customer_id = $3",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(customer.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(backend)
    }

    async fn active_customers(&self, tenant: &Tenant, period: &Period) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM usage_counters WHERE platform_id = $1 AND mode = $2 \
             AND meter = $3 AND period_start = $4 AND used > 0",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(REQUESTS_METER)
        .bind(period.start)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        to_u64(n)
    }

    async fn total_usage(&self, tenant: &Tenant, period: &Period) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COALESCE(sum(used), 0)::BIGINT FROM usage_counters \
             WHERE platform_id = $1 AND mode = $2 AND meter = $3 AND period_start = $4",
        )
        .bind(tenant.platform.as_str())
        .bind(mode_str(tenant.mode))
        .bind(REQUESTS_METER)
        .bind(period.start)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        to_u64(n)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use dream_core::UsageLimit;
    use proptest::{prelude::*, test_runner::TestRunner};
    use sqlx::{postgres::PgPoolOptions, Executor};

    use super::*;

    use crate::test_requests::{consume as request, limits};

    /// A consumer on a fresh, migrated schema of the test server
    /// (`DREAM_TEST_DATABASE_URL`, set by `./scripts/test`).
    async fn consumer() -> PgConsumer {
        let url = std::env::var("DREAM_TEST_DATABASE_URL").unwrap_or_else(|_| {
            panic!(
                "DREAM_TEST_DATABASE_URL is not set: run ./scripts/test, which starts PostgreSQL"
            )
        });
        static SCHEMA: AtomicU64 = AtomicU64::new(0);
        let schema = format!(
            "batches_{}_{}",
            std::process::id(),
            SCHEMA.fetch_add(1, Ordering::Relaxed)
        );
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .expect("connect");
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
            )))
            .await
            .expect("schema");
        let options = url
            .parse::<sqlx::postgres::PgConnectOptions>()
            .expect("url")
            .options([("search_path", schema.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .expect("connect");
        let store = PostgresStore::new(pool);
        store.migrate().await.expect("migrate");
        PgConsumer {
            connections: store.held.clone(),
        }
    }

    /// `dream_consume_batch` (its plain groups one UPDATE of their sum, the rest
    /// the general path) answers exactly what `dream_consume` answers for each
    /// consume alone, in order. Each case counts for customers of its own.
    #[test]
    fn a_batch_answers_as_its_consumes_one_by_one() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        // Dropped kept connections go back to the pool on a task: also when a
        // failed case unwinds.
        let _context = rt.enter();
        let consumer = rt.block_on(consumer());
        static CASE: AtomicU64 = AtomicU64::new(0);
        let strategy = (
            limits(),
            limits(),
            any::<bool>(),
            prop::collection::vec((0u8..4, 0u64..4, 0u8..8), 1..24),
            prop::option::of(0u64..8),
        );
        TestRunner::new(ProptestConfig::with_cases(64))
            .run(&strategy, |(limit_a, limit_b, only_a, steps, counted)| {
                let case = CASE.fetch_add(1, Ordering::Relaxed);
                let requests = |side: &str| -> Vec<ConsumeRequest> {
                    steps
                        .iter()
                        .map(|&(who, amount, plan)| {
                            if only_a || who < 3 {
                                let limit = if plan == 0 { limit_b } else { limit_a };
                                request(&format!("{side}{case}a"), amount, limit)
                            } else {
                                request(&format!("{side}{case}b"), amount, limit_b)
                            }
                        })
                        .collect()
                };
                // Customers count apart, so each one's consumes, in order, are
                // all that decides its answers on either side.
                let batch = requests("batch");
                let alone = requests("alone");
                let (batched, one_by_one) = rt.block_on(async {
                    // Counted before (a row exists, as for any known customer)
                    // or not (the batch creates it).
                    if let Some(counted) = counted {
                        for side in ["batch", "alone"] {
                            for who in ["a", "b"] {
                                let customer = format!("{side}{case}{who}");
                                let warm = request(&customer, counted, UsageLimit::Unlimited);
                                consumer.consume_one(&warm).await.expect("warm up");
                            }
                        }
                    }
                    let Ok(answers) = consumer.consume_batch(&batch).await else {
                        panic!("the batch was not committed");
                    };
                    let mut singles = Vec::new();
                    for req in &alone {
                        singles.push(consumer.consume_one(req).await);
                    }
                    (answers, singles)
                });
                let batched: Vec<_> = batched.into_iter().map(|a| a.expect("answer")).collect();
                let one_by_one: Vec<_> =
                    one_by_one.into_iter().map(|a| a.expect("answer")).collect();
                prop_assert_eq!(batched, one_by_one);
                Ok(())
            })
            .expect("property");
    }
}
