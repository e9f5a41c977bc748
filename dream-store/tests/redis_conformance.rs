//! The Redis usage store against the conformance suite, the model test and the
//! memory store, as the `usage` port of a `MemoryStore`'s `Stores`.
//!
//! Needs a Redis server: `./scripts/test` starts a throwaway one and sets
//! `DREAM_TEST_REDIS_URL`. Without it these tests fail rather than skip, so a CI
//! run can never pass by not testing Redis.
#![cfg(all(feature = "redis", feature = "memory"))]

use std::{
    net::TcpListener,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, TimeZone, Utc};
use dream_core::{
    ports::{Stores, UsageStore},
    ConsumeOutcome, ConsumeRequest, CreditGrant, CustomerId, MeterPeriod, MeterReset, Mode, Period,
    PlatformId, StoreError, Tenant, UsageLimit, CREDIT_BALANCE_FULL, MAX_CREDIT_BALANCE,
    RECEIPT_RETENTION_HOURS,
};
use dream_store::{
    MemoryStore, RedisUsageError, RedisUsageStore, GRANT_ID_RETENTION, PERIOD_RETENTION,
};
use proptest::{
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};

fn redis_url() -> String {
    std::env::var("DREAM_TEST_REDIS_URL").unwrap_or_else(|_| {
        panic!(
            "DREAM_TEST_REDIS_URL is not set: run ./scripts/test, which starts a throwaway Redis"
        )
    })
}

/// A fresh key space per store, so tests never see each other's counters.
fn unique_prefix() -> String {
    format!("dream-test:{}", PlatformId::generate())
}

async fn fresh_usage() -> RedisUsageStore {
    RedisUsageStore::connect(&redis_url(), unique_prefix())
        .await
        .unwrap_or_else(|e| panic!("cannot connect to DREAM_TEST_REDIS_URL: {e:?}"))
}

/// Usage counters in Redis, every other port in memory.
fn with_redis_usage(usage: RedisUsageStore) -> Stores {
    let mut stores = Stores::new(Arc::new(MemoryStore::new()));
    stores.usage = Arc::new(usage);
    stores
}

async fn fresh_store() -> Stores {
    with_redis_usage(fresh_usage().await)
}

dream_conformance::store_conformance_tests!(async fresh_store);

#[test]
fn model_property_test() {
    let url = redis_url();
    dream_conformance::run_model_property_test(
        move || {
            // Called outside the case's fresh runtime: connect lazily, so the
            // connection is made by, and belongs to, that runtime.
            let usage = RedisUsageStore::connect_lazy(&url, unique_prefix())
                .unwrap_or_else(|e| panic!("DREAM_TEST_REDIS_URL is not a Redis URL: {e:?}"));
            with_redis_usage(usage)
        },
        64,
    );
}

fn t0() -> DateTime<Utc> {
    // Not a whole second, to check that times survive the round trip exactly.
    Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0)
        .single()
        .expect("a valid instant")
        + chrono::Duration::nanoseconds(123_456_789)
}

fn request(
    tenant: &Tenant,
    customer: &CustomerId,
    amount: u64,
    limit: UsageLimit,
    rate_limit_per_minute: Option<u32>,
    now: DateTime<Utc>,
) -> ConsumeRequest {
    ConsumeRequest {
        tenant: tenant.clone(),
        customer: customer.clone(),
        meter: std::borrow::Cow::Borrowed(dream_core::REQUESTS_METER),
        period: Period::calendar_month(now),
        amount,
        limit,
        rate_limit_per_minute,
        key_rate: None,
        now,
        receipt: None,
    }
}

fn test_tenant() -> Tenant {
    Tenant::new(PlatformId::generate(), Mode::Test)
}

#[tokio::test]
async fn unreachable_redis_fails_closed_quickly() {
    let request = request(
        &test_tenant(),
        &CustomerId::generate(),
        1,
        UsageLimit::Limited(10),
        None,
        t0(),
    );
    // Nothing listens on port 1: refused at once.
    let refused =
        RedisUsageStore::connect_lazy("redis://127.0.0.1:1", unique_prefix()).expect("a valid URL");
    // A socket that accepts connections and never answers: only timeouts end it.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    let silent_url = format!(
        "redis://{}",
        silent.local_addr().expect("the listener's address")
    );
    let stalled = RedisUsageStore::connect_lazy(&silent_url, unique_prefix()).expect("a valid URL");

    for (what, store) in [("refused", &refused), ("stalled", &stalled)] {
        let started = Instant::now();
        let outcome = tokio::time::timeout(Duration::from_secs(15), store.consume_usage(&request))
            .await
            .unwrap_or_else(|_| panic!("{what}: consume_usage hung instead of failing"));
        assert!(
            matches!(outcome, Err(StoreError::Unavailable(_))),
            "{what}: consume_usage must fail closed with Unavailable, got {outcome:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{what}: failing took {:?}",
            started.elapsed()
        );
        let read = store
            .get_usage(&request.tenant, &request.customer, &request.period)
            .await;
        assert!(
            matches!(read, Err(StoreError::Unavailable(_))),
            "{what}: reads must fail with Unavailable too, got {read:?}"
        );
    }
    let eager = RedisUsageStore::connect("redis://127.0.0.1:1", unique_prefix()).await;
    assert!(
        matches!(eager, Err(StoreError::Unavailable(_))),
        "connect to a closed port must be Unavailable, got {eager:?}"
    );
}

/// Raw commands, to look at what the store wrote.
async fn raw() -> ::redis::aio::MultiplexedConnection {
    ::redis::Client::open(redis_url())
        .expect("a valid URL")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to DREAM_TEST_REDIS_URL")
}

async fn keys_of(prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = ::redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut raw().await)
        .await
        .expect("KEYS");
    keys.sort();
    keys
}

async fn pttl(key: &str) -> i64 {
    ::redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut raw().await)
        .await
        .expect("PTTL")
}

#[tokio::test]
async fn keys_share_the_tenant_slot_and_expire() {
    let store = fresh_usage().await;
    let prefix = store.prefix().to_owned();
    let tenant = test_tenant();
    let customer = CustomerId::generate();
    // The period is "now" on the caller's clock, whatever the real date.
    let now = t0();
    let req = request(&tenant, &customer, 1, UsageLimit::Limited(5), Some(10), now);
    assert_eq!(
        store.consume_usage(&req).await.expect("consume"),
        ConsumeOutcome::Accepted {
            used: 1,
            credits_spent: 0
        }
    );
    let keys = keys_of(&prefix).await;
    assert_eq!(keys.len(), 4, "usage, total, last, rate: {keys:?}");
    let tag = format!("{{{}:{}}}", tenant.platform, tenant.mode);
    for key in &keys {
        let open = key.find('{').expect("a hash tag");
        let close = key.find('}').expect("a hash tag");
        assert_eq!(&key[open..=close], tag, "{key} must hash on the tenant");
    }
    let retention_ms = i64::try_from(PERIOD_RETENTION.as_millis()).expect("small");
    let until_end_ms = (req.period.end - now).num_milliseconds();
    for key in keys.iter().filter(|k| !k.contains(":rate:")) {
        let ttl = pttl(key).await;
        assert!(
            ttl > retention_ms + until_end_ms - 60_000 && ttl <= retention_ms + until_end_ms,
            "{key} must expire {PERIOD_RETENTION:?} after the period's end, PTTL {ttl}"
        );
    }
    let rate_key = keys
        .iter()
        .find(|k| k.contains(":rate:"))
        .expect("a rate key");
    let ttl = pttl(rate_key).await;
    assert!(
        ttl > 60_000 && ttl <= 61_000,
        "the rate key must outlive the 60 s window, briefly: PTTL {ttl}"
    );

    // A receipt, braces and all, stays in the tenant's slot and outlives its
    // replay time by a little.
    let mut with_receipt = req.clone();
    with_receipt.receipt = Some("{odd}:receipt".into());
    assert_eq!(
        store.consume_usage(&with_receipt).await.expect("consume"),
        ConsumeOutcome::Accepted {
            used: 2,
            credits_spent: 0
        }
    );
    let keys = keys_of(&prefix).await;
    let receipt_key = keys
        .iter()
        .find(|k| k.contains(":receipt:"))
        .expect("a receipt key");
    assert!(
        receipt_key.contains(&format!("{tag}:{{odd}}:receipt")),
        "{receipt_key}"
    );
    let retention_ms = RECEIPT_RETENTION_HOURS * 3600 * 1000;
    let ttl = pttl(receipt_key).await;
    assert!(
        ttl > retention_ms && ttl <= retention_ms + 3_600_000,
        "the receipt must outlive its replay time, briefly: PTTL {ttl}"
    );
}

#[tokio::test]
async fn refusals_write_nothing_at_all() {
    let store = fresh_usage().await;
    let prefix = store.prefix().to_owned();
    let tenant = test_tenant();
    let customer = CustomerId::generate();
    let limited = request(&tenant, &customer, 2, UsageLimit::Limited(1), Some(5), t0());
    assert_eq!(
        store.consume_usage(&limited).await.expect("consume"),
        ConsumeOutcome::LimitReached { used: 0 }
    );
    assert_eq!(
        keys_of(&prefix).await,
        Vec::<String>::new(),
        "a first call refused for usage must create no key"
    );
    let rated = request(&tenant, &customer, 6, UsageLimit::Unlimited, Some(5), t0());
    assert!(matches!(
        store.consume_usage(&rated).await.expect("consume"),
        ConsumeOutcome::RateLimited { .. }
    ));
    assert_eq!(
        keys_of(&prefix).await,
        Vec::<String>::new(),
        "a first call refused for rate must create no key"
    );
}

#[tokio::test]
async fn counters_past_the_exact_range_fail_and_change_nothing() {
    let store = fresh_usage().await;
    let tenant = test_tenant();
    let customer = CustomerId::generate();
    let max = 1u64 << 51;
    let at_max = request(&tenant, &customer, max, UsageLimit::Unlimited, None, t0());
    assert_eq!(
        store.consume_usage(&at_max).await.expect("consume"),
        ConsumeOutcome::Accepted {
            used: max,
            credits_spent: 0
        }
    );
    for (amount, limit) in [
        (1, UsageLimit::Unlimited),
        (1, UsageLimit::Limited(u64::MAX)),
        (u64::MAX, UsageLimit::Unlimited),
    ] {
        let over = request(&tenant, &customer, amount, limit, Some(10), t0());
        let outcome = store.consume_usage(&over).await;
        match outcome {
            Err(StoreError::Backend(source)) => assert_eq!(
                source.downcast_ref::<RedisUsageError>(),
                Some(&RedisUsageError::CounterOverflow { max }),
            ),
            other => panic!("amount {amount} past 2^51 must fail, got {other:?}"),
        }
    }
    // Limits still answer exactly for huge amounts: refusing never grows a counter.
    let huge = request(
        &tenant,
        &customer,
        u64::MAX,
        UsageLimit::Limited(max + 5),
        None,
        t0(),
    );
    assert!(matches!(
        store.consume_usage(&huge).await,
        Err(StoreError::Backend(_))
    ));
    let refused = request(
        &tenant,
        &customer,
        u64::MAX,
        UsageLimit::Limited(3),
        None,
        t0(),
    );
    assert_eq!(
        store.consume_usage(&refused).await.expect("consume"),
        ConsumeOutcome::LimitReached { used: max }
    );
    assert_eq!(
        store
            .get_usage(&tenant, &customer, &at_max.period)
            .await
            .expect("get_usage"),
        max
    );
    assert_eq!(
        store
            .total_usage(&tenant, &at_max.period)
            .await
            .expect("total_usage"),
        max
    );
    let far = request(
        &tenant,
        &customer,
        1,
        UsageLimit::Unlimited,
        None,
        Utc.with_ymd_and_hms(2200, 1, 1, 0, 0, 0)
            .single()
            .expect("valid"),
    );
    assert!(matches!(
        store.consume_usage(&far).await,
        Err(StoreError::Backend(_))
    ));
}

#[tokio::test]
async fn receipts_replay_until_exactly_the_retention() {
    let store = fresh_usage().await;
    let tenant = test_tenant();
    let customer = CustomerId::generate();
    let retention = chrono::Duration::hours(RECEIPT_RETENTION_HOURS);
    let at = |offset: chrono::Duration| {
        let mut r = request(
            &tenant,
            &customer,
            1,
            UsageLimit::Unlimited,
            None,
            t0() + offset,
        );
        r.receipt = Some("edge".into());
        r
    };
    let zero = chrono::Duration::zero();
    let one_ns = chrono::Duration::nanoseconds(1);
    for (offset, expected, what) in [
        (zero, 1, "the first call counts"),
        (
            retention - one_ns,
            1,
            "one nanosecond before the retention it replays",
        ),
        (retention, 2, "at the retention it is a new consume"),
        (retention + retention - one_ns, 2, "which replays in turn"),
    ] {
        assert_eq!(
            store.consume_usage(&at(offset)).await.expect("consume"),
            ConsumeOutcome::Accepted {
                used: expected,
                credits_spent: 0
            },
            "{what}"
        );
    }
}

/// One generated call of the differential test.
#[derive(Debug, Clone)]
struct Call {
    tenant: usize,
    customer: usize,
    amount: u64,
    limit: UsageLimit,
    rate: Option<u32>,
    /// Nanoseconds the clock moves before the call (sometimes backwards).
    advance_ns: i64,
    receipt: Option<&'static str>,
    /// Index into [`METERS`].
    meter: usize,
    /// What the call does besides a consume.
    op: Op,
}

/// The meters of the differential test: `requests` (monthly), a daily meter and
/// a lifetime one.
const METERS: [(&str, MeterReset); 3] = [
    (dream_core::REQUESTS_METER, MeterReset::Month),
    ("calls", MeterReset::Day),
    ("seats", MeterReset::Never),
];

#[derive(Debug, Clone)]
enum Op {
    Consume,
    /// A credit grant of `amount` with one of a few ids (so some replay), on
    /// the call's meter.
    Grant {
        id: &'static str,
    },
    /// A release of `amount` of the call's meter (not `requests`: see
    /// `releases_lower_the_requests_total_and_write_nothing_for_nobody`).
    Release,
}

fn call_strategy() -> impl Strategy<Value = Call> {
    let amount = prop_oneof![
        6 => 0u64..=4,
        1 => Just(7u64),
        1 => Just(1_000_000u64),
        1 => Just(1u64 << 40),
        1 => Just(u64::MAX),
    ];
    let limit = prop_oneof![
        6 => (0u64..=12).prop_map(UsageLimit::Limited),
        2 => Just(UsageLimit::Unlimited),
        1 => Just(UsageLimit::Limited(u64::MAX)),
        1 => Just(UsageLimit::Limited(1u64 << 45)),
    ];
    let rate = prop_oneof![
        3 => Just(None),
        4 => (0u32..=6).prop_map(Some),
        1 => Just(Some(7u32)),
        1 => Just(Some(1_000u32)),
        1 => Just(Some(100_000_000u32)),
    ];
    // Receipts replay for exactly this long: probe both sides of the edge.
    let retention_ns = RECEIPT_RETENTION_HOURS * 3600 * 1_000_000_000;
    let advance_ns = prop_oneof![
        8 => Just(0i64),
        12 => 0i64..=70_000_000_000,
        2 => Just(-1_500_000_000i64),
        2 => Just(40 * 24 * 3600 * 1_000_000_000i64),
        2 => Just(retention_ns - 1),
        2 => Just(retention_ns),
        1 => Just(1i64),
    ];
    let receipt = prop_oneof![
        3 => Just(None),
        1 => Just(Some("r0")),
        1 => Just(Some("r1")),
    ];
    let op = prop_oneof![
        8 => Just(Op::Consume),
        1 => Just(Op::Grant { id: "g0" }),
        1 => Just(Op::Grant { id: "g1" }),
        1 => Just(Op::Grant { id: "g2" }),
        1 => Just(Op::Release),
    ];
    (
        (0..2usize, 0..3usize, amount, limit, rate),
        (advance_ns, receipt, 0..METERS.len(), op),
    )
        .prop_map(
            |((tenant, customer, amount, limit, rate), (advance_ns, receipt, meter, op))| Call {
                tenant,
                customer,
                amount,
                // The memory store overflows `u64` where Redis refuses past 2^51:
                // an amount of u64::MAX only meets limits that refuse it.
                limit: match limit {
                    UsageLimit::Limited(l) if amount == u64::MAX && l == u64::MAX => {
                        UsageLimit::Limited(3)
                    }
                    UsageLimit::Unlimited if amount == u64::MAX => UsageLimit::Limited(3),
                    other => other,
                },
                rate,
                advance_ns,
                receipt,
                meter,
                op: match op {
                    Op::Release if meter == 0 => Op::Consume,
                    other => other,
                },
            },
        )
}

async fn differential_case(redis: RedisUsageStore, calls: &[Call]) -> Result<(), TestCaseError> {
    let memory = MemoryStore::new();
    let platform = PlatformId::generate();
    let tenants = [
        Tenant::new(platform.clone(), Mode::Test),
        Tenant::new(platform, Mode::Live),
    ];
    let customers: Vec<CustomerId> = (0..3).map(|_| CustomerId::generate()).collect();
    let mut now = t0();
    for (i, call) in calls.iter().enumerate() {
        now += chrono::Duration::nanoseconds(call.advance_ns);
        let (meter, reset) = METERS[call.meter];
        let tenant = &tenants[call.tenant];
        let customer = &customers[call.customer];
        let mut req = on_meter(
            request(tenant, customer, call.amount, call.limit, call.rate, now),
            meter,
            reset.period(now),
        );
        req.receipt = call.receipt.map(str::to_owned);
        match call.op {
            Op::Consume => {
                let expected = memory.consume_usage(&req).await;
                let got = redis.consume_usage(&req).await;
                match (expected, got) {
                    (Ok(expected), Ok(got)) => {
                        prop_assert_eq!(got, expected, "call #{} {:?}", i, call)
                    }
                    (expected, got) => {
                        return Err(TestCaseError::fail(format!(
                            "call #{i} {call:?}: memory {expected:?}, redis {got:?}"
                        )))
                    }
                }
            }
            Op::Grant { id } => {
                // Some grants fill the balance, so some are refused as full.
                let amount = if call.amount == 1_000_000 {
                    MAX_CREDIT_BALANCE
                } else {
                    call.amount.min(1 << 40)
                };
                let grant = credit_grant(tenant, customer, meter, amount, id);
                let (m, r) = (
                    memory.grant_credits(&grant).await,
                    redis.grant_credits(&grant).await,
                );
                prop_assert_eq!(
                    r.map_err(|e| format!("{e:?}")),
                    m.map_err(|e| format!("{e:?}")),
                    "call #{} {:?}",
                    i,
                    call
                );
            }
            Op::Release => {
                let (m, r) = (
                    memory
                        .release_usage(tenant, customer, meter, &req.period, call.amount)
                        .await,
                    redis
                        .release_usage(tenant, customer, meter, &req.period, call.amount)
                        .await,
                );
                prop_assert_eq!(
                    r.map_err(|e| format!("{e:?}")),
                    m.map_err(|e| format!("{e:?}")),
                    "call #{} {:?}",
                    i,
                    call
                );
            }
        }
        let meters: Vec<MeterPeriod> = METERS
            .iter()
            .map(|(meter, reset)| MeterPeriod {
                meter: (*meter).to_owned(),
                period: reset.period(now),
            })
            .collect();
        for tenant in &tenants {
            for customer in &customers {
                let (m, r) = (
                    memory.read_meters(tenant, customer, &meters).await,
                    redis.read_meters(tenant, customer, &meters).await,
                );
                prop_assert_eq!(
                    r.map_err(|e| format!("{e:?}")),
                    m.map_err(|e| format!("{e:?}")),
                    "read_meters after #{}",
                    i
                );
            }
        }
        let period = Period::calendar_month(now);
        for tenant in &tenants {
            for customer in &customers {
                let (m, r) = (
                    memory.get_usage(tenant, customer, &period).await,
                    redis.get_usage(tenant, customer, &period).await,
                );
                prop_assert_eq!(
                    r.map_err(|e| format!("{e:?}")),
                    m.map_err(|e| format!("{e:?}")),
                    "get_usage after #{}",
                    i
                );
                let (m, r) = (
                    memory.last_consumed_at(tenant, customer).await,
                    redis.last_consumed_at(tenant, customer).await,
                );
                prop_assert_eq!(
                    r.map_err(|e| format!("{e:?}")),
                    m.map_err(|e| format!("{e:?}")),
                    "last_consumed_at after #{}",
                    i
                );
            }
            let (m, r) = (
                memory.active_customers(tenant, &period).await,
                redis.active_customers(tenant, &period).await,
            );
            prop_assert_eq!(
                r.map_err(|e| format!("{e:?}")),
                m.map_err(|e| format!("{e:?}")),
                "active_customers after #{}",
                i
            );
            let (m, r) = (
                memory.total_usage(tenant, &period).await,
                redis.total_usage(tenant, &period).await,
            );
            prop_assert_eq!(
                r.map_err(|e| format!("{e:?}")),
                m.map_err(|e| format!("{e:?}")),
                "total_usage after #{}",
                i
            );
        }
    }
    Ok(())
}

/// The scripts against the reference implementation, call by call, with rate
/// limits, receipts, odd amounts and limits, clock jumps (backwards too, and to
/// either side of a receipt's expiry) and period rollovers, which the model test
/// does not generate; on three meters (monthly `requests`, a daily and a
/// lifetime one) with credit grants (replayed ids, full balances) and releases,
/// comparing every reading after each call.
#[test]
fn redis_answers_exactly_like_memory() {
    let url = redis_url();
    let calls = prop::collection::vec(call_strategy(), 1..=40);
    let mut runner = TestRunner::new(Config {
        cases: 128,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&calls, |calls| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| TestCaseError::fail(format!("no tokio runtime: {e}")))?;
        let redis = RedisUsageStore::connect_lazy(&url, unique_prefix())
            .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        runtime.block_on(differential_case(redis, &calls))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

fn tag(tenant: &Tenant) -> String {
    format!("{{{}:{}}}", tenant.platform, tenant.mode)
}

fn on_meter(mut req: ConsumeRequest, meter: &'static str, period: Period) -> ConsumeRequest {
    req.meter = std::borrow::Cow::Borrowed(meter);
    req.period = period;
    req
}

fn credit_grant(
    tenant: &Tenant,
    customer: &CustomerId,
    meter: &str,
    amount: u64,
    id: &str,
) -> CreditGrant {
    CreditGrant {
        tenant: tenant.clone(),
        customer: customer.clone(),
        meter: meter.to_owned(),
        amount,
        grant_id: id.to_owned(),
        reason: "redis test".to_owned(),
        now: t0(),
    }
}

fn accepted(used: u64, credits_spent: u64) -> ConsumeOutcome {
    ConsumeOutcome::Accepted {
        used,
        credits_spent,
    }
}

fn corrupt(outcome: Result<impl std::fmt::Debug, StoreError>) -> bool {
    matches!(
        &outcome,
        Err(StoreError::Backend(source))
            if matches!(source.downcast_ref::<RedisUsageError>(), Some(RedisUsageError::CorruptValue { .. }))
    )
}

async fn set_raw(key: &str, field: Option<&str>, value: &str) {
    let mut cmd = match field {
        Some(field) => {
            let mut cmd = ::redis::cmd("HSET");
            cmd.arg(key).arg(field);
            cmd
        }
        None => {
            let mut cmd = ::redis::cmd("SET");
            cmd.arg(key);
            cmd
        }
    };
    cmd.arg(value)
        .query_async::<()>(&mut raw().await)
        .await
        .expect("write a raw value");
}

/// Other meters have keys of their own and never touch the `requests` total; a
/// lifetime meter's counter never expires, a daily one expires like the monthly
/// `requests`; credit balances never expire and a grant id is kept 90 days.
#[tokio::test]
async fn meters_have_their_own_keys_and_lifetime_ones_never_expire() {
    let store = fresh_usage().await;
    let prefix = store.prefix().to_owned();
    let tenant = test_tenant();
    let tag = tag(&tenant);
    let customer = CustomerId::generate();
    let now = t0();
    let seats = on_meter(
        request(&tenant, &customer, 2, UsageLimit::Limited(5), None, now),
        "seats",
        Period::lifetime(),
    );
    assert_eq!(
        store.consume_usage(&seats).await.expect("consume"),
        accepted(2, 0)
    );
    let seats_key = format!("{prefix}:meter:{tag}:seats:0");
    let mut expected = vec![seats_key.clone(), format!("{prefix}:last:{tag}")];
    expected.sort();
    assert_eq!(
        keys_of(&prefix).await,
        expected,
        "a lifetime meter writes its counter and last-consumed, no period total"
    );
    assert_eq!(
        pttl(&seats_key).await,
        -1,
        "a lifetime counter never expires"
    );
    let retention_ms = i64::try_from(PERIOD_RETENTION.as_millis()).expect("small");
    let last_ttl = pttl(&format!("{prefix}:last:{tag}")).await;
    assert!(
        last_ttl > retention_ms - 60_000 && last_ttl <= retention_ms,
        "last-consumed lives {PERIOD_RETENTION:?} after a lifetime call: PTTL {last_ttl}"
    );

    let day = MeterReset::Day.period(now);
    let exports = on_meter(
        request(&tenant, &customer, 3, UsageLimit::Limited(5), None, now),
        "exports",
        day,
    );
    assert_eq!(
        store.consume_usage(&exports).await.expect("consume"),
        accepted(3, 0)
    );
    let exports_key = format!("{prefix}:meter:{tag}:exports:{}", day.start.timestamp());
    let until_end_ms = (day.end - now).num_milliseconds();
    let ttl = pttl(&exports_key).await;
    assert!(
        ttl > retention_ms + until_end_ms - 60_000 && ttl <= retention_ms + until_end_ms,
        "a daily meter expires {PERIOD_RETENTION:?} after its day: PTTL {ttl}"
    );
    let month = Period::calendar_month(now);
    assert_eq!(store.total_usage(&tenant, &month).await.expect("total"), 0);
    assert_eq!(
        store
            .active_customers(&tenant, &month)
            .await
            .expect("active"),
        0,
        "other meters are not requests"
    );
    // Releasing a lifetime meter keeps it forever too.
    assert_eq!(
        store
            .release_usage(&tenant, &customer, "seats", &Period::lifetime(), 1)
            .await
            .expect("release"),
        1
    );
    assert_eq!(pttl(&seats_key).await, -1);

    let granted = store
        .grant_credits(&credit_grant(&tenant, &customer, "exports", 7, "grant-{1}"))
        .await
        .expect("grant");
    assert_eq!(granted.balance, 7);
    let credits_key = format!("{prefix}:credits:{tag}:{customer}");
    assert_eq!(pttl(&credits_key).await, -1, "credit balances never expire");
    let grant_key = format!("{prefix}:grant:{tag}:grant-{{1}}");
    let grant_ttl = pttl(&grant_key).await;
    let ninety_days = i64::try_from(GRANT_ID_RETENTION.as_millis()).expect("small");
    assert_eq!(ninety_days, 90 * 24 * 3600 * 1000);
    assert!(
        grant_ttl > ninety_days - 60_000 && grant_ttl <= ninety_days,
        "a grant id is remembered 90 days: PTTL {grant_ttl}"
    );
}

/// A receipt written before credits existed (`<used> <secs> <nanos>`) still
/// replays, as a call that spent no credits.
#[tokio::test]
async fn old_format_receipts_replay_with_no_credits_spent() {
    let store = fresh_usage().await;
    let prefix = store.prefix().to_owned();
    let tenant = test_tenant();
    let customer = CustomerId::generate();
    let now = t0();
    let receipt_key = format!("{prefix}:receipt:{}:old", tag(&tenant));
    set_raw(
        &receipt_key,
        None,
        &format!("41 {} {}", now.timestamp(), now.timestamp_subsec_nanos()),
    )
    .await;
    let mut req = request(&tenant, &customer, 1, UsageLimit::Limited(1), None, now);
    req.receipt = Some("old".into());
    assert_eq!(
        store.consume_usage(&req).await.expect("consume"),
        accepted(41, 0)
    );
    assert_eq!(
        store
            .get_usage(&tenant, &customer, &req.period)
            .await
            .expect("get_usage"),
        0,
        "a replay counts nothing"
    );
    // A new receipt stores the credits it spent, and replays them.
    let calls = Period::calendar_month(now);
    store
        .grant_credits(&credit_grant(&tenant, &customer, "calls", 5, "g"))
        .await
        .expect("grant");
    let mut paid = on_meter(
        request(&tenant, &customer, 3, UsageLimit::Limited(1), None, now),
        "calls",
        calls,
    );
    paid.receipt = Some("new".into());
    assert_eq!(
        store.consume_usage(&paid).await.expect("consume"),
        accepted(3, 2)
    );
    let stored: String = ::redis::cmd("GET")
        .arg(format!("{prefix}:receipt:{}:new", tag(&tenant)))
        .query_async(&mut raw().await)
        .await
        .expect("GET");
    assert_eq!(
        stored,
        format!("3 {} {} 2", now.timestamp(), now.timestamp_subsec_nanos())
    );
    assert_eq!(
        store.consume_usage(&paid).await.expect("consume"),
        accepted(3, 2)
    );
    for bad in ["41 x 0", "41", "41 1 2 3 4", "-1 1 2 3"] {
        set_raw(&receipt_key, None, bad).await;
        assert!(
            corrupt(store.consume_usage(&req).await),
            "receipt {bad:?} must be refused"
        );
    }
}

/// Values dream never writes are refused, and nothing is written: a credit
/// balance that is not a number (or is out of range) when credits are needed, a
/// grant id's record, a counter that a release or a read meets. Within the
/// allowance the balance is never read.
#[tokio::test]
async fn corrupt_credit_balances_are_refused_without_writing() {
    let store = fresh_usage().await;
    let prefix = store.prefix().to_owned();
    let tenant = test_tenant();
    let tag = tag(&tenant);
    let customer = CustomerId::generate();
    let now = t0();
    let credits_key = format!("{prefix}:credits:{tag}:{customer}");
    let month = Period::calendar_month(now);
    let calls = |amount| {
        on_meter(
            request(
                &tenant,
                &customer,
                amount,
                UsageLimit::Limited(2),
                Some(100),
                now,
            ),
            "calls",
            month,
        )
    };
    let over_max = (MAX_CREDIT_BALANCE + 1).to_string();
    for bad in ["abc", "-1", "1.5", "", over_max.as_str()] {
        set_raw(&credits_key, Some("calls"), bad).await;
        let before = keys_of(&prefix).await;
        assert!(
            corrupt(store.consume_usage(&calls(3)).await),
            "balance {bad:?} must be refused"
        );
        assert_eq!(
            keys_of(&prefix).await,
            before,
            "balance {bad:?}: nothing written"
        );
        let balance: String = ::redis::cmd("HGET")
            .arg(&credits_key)
            .arg("calls")
            .query_async(&mut raw().await)
            .await
            .expect("HGET");
        assert_eq!(balance, bad, "the balance is left alone");
        assert!(
            corrupt(
                store
                    .grant_credits(&credit_grant(&tenant, &customer, "calls", 1, bad))
                    .await
            ),
            "a grant onto balance {bad:?} must be refused"
        );
        assert!(corrupt(store.read_meters(&tenant, &customer, &[]).await));
    }
    assert_eq!(
        store.consume_usage(&calls(2)).await.expect("consume"),
        accepted(2, 0),
        "within the allowance the balance is not read"
    );
    let grant_key = format!("{prefix}:grant:{tag}:broken");
    set_raw(&grant_key, None, "many").await;
    assert!(corrupt(
        store
            .grant_credits(&credit_grant(&tenant, &customer, "other", 1, "broken"))
            .await
    ));
    let other: Option<String> = ::redis::cmd("HGET")
        .arg(&credits_key)
        .arg("other")
        .query_async(&mut raw().await)
        .await
        .expect("HGET");
    assert_eq!(other, None, "a refused grant adds nothing");

    let counter_key = format!("{prefix}:meter:{tag}:calls:{}", month.start.timestamp());
    set_raw(&counter_key, Some(customer.as_str()), "lots").await;
    assert!(corrupt(
        store
            .release_usage(&tenant, &customer, "calls", &month, 1)
            .await
    ));
    let meters = [MeterPeriod {
        meter: "calls".to_owned(),
        period: month,
    }];
    set_raw(&credits_key, Some("calls"), "4").await;
    assert!(corrupt(
        store.read_meters(&tenant, &customer, &meters).await
    ));
}

/// Credits stay exact at the edges of what Lua's doubles hold: a full balance
/// (2^50) cannot pay for an amount past 2^52 (the script's clamp), an amount
/// the credits could pay for but the counter cannot hold fails without spending,
/// and a grant past the maximum is a conflict that writes nothing.
#[tokio::test]
async fn credits_at_the_edges_of_the_exact_range() {
    let store = fresh_usage().await;
    let tenant = test_tenant();
    let customer = CustomerId::generate();
    let now = t0();
    let month = Period::calendar_month(now);
    let full = store
        .grant_credits(&credit_grant(
            &tenant,
            &customer,
            "calls",
            MAX_CREDIT_BALANCE,
            "full",
        ))
        .await
        .expect("grant");
    assert_eq!(full.balance, MAX_CREDIT_BALANCE);
    for (amount, limit) in [(u64::MAX, 3), ((1 << 52) + 1, 1 << 51), (1 << 52, 1 << 51)] {
        let req = on_meter(
            request(
                &tenant,
                &customer,
                amount,
                UsageLimit::Limited(limit),
                None,
                now,
            ),
            "calls",
            month,
        );
        let expected =
            dream_core::decide_usage(0, amount, UsageLimit::Limited(limit), MAX_CREDIT_BALANCE);
        assert_eq!(expected, None, "the reference refuses {amount}");
        assert_eq!(
            store.consume_usage(&req).await.expect("consume"),
            ConsumeOutcome::LimitReached { used: 0 },
            "amount {amount}, limit {limit}"
        );
    }
    // 2^51 + 1 units against a limit of 2^51: one credit would do, but the
    // counter would pass 2^51.
    let over = on_meter(
        request(
            &tenant,
            &customer,
            (1 << 51) + 1,
            UsageLimit::Limited(1 << 51),
            None,
            now,
        ),
        "calls",
        month,
    );
    match store.consume_usage(&over).await {
        Err(StoreError::Backend(source)) => assert_eq!(
            source.downcast_ref::<RedisUsageError>(),
            Some(&RedisUsageError::CounterOverflow { max: 1 << 51 }),
        ),
        other => panic!("a counter past 2^51 must fail, got {other:?}"),
    }
    let big = on_meter(
        request(
            &tenant,
            &customer,
            (1 << 50) + 7,
            UsageLimit::Limited(7),
            None,
            now,
        ),
        "calls",
        month,
    );
    assert_eq!(
        store.consume_usage(&big).await.expect("consume"),
        accepted((1 << 50) + 7, 1 << 50),
        "the whole balance pays, exactly"
    );
    let reading = store
        .read_meters(
            &tenant,
            &customer,
            &[MeterPeriod {
                meter: "calls".to_owned(),
                period: month,
            }],
        )
        .await
        .expect("read_meters");
    assert_eq!(reading.used, vec![(1 << 50) + 7]);
    assert!(reading.credits.is_empty(), "a spent balance is not listed");
    for (amount, id) in [(MAX_CREDIT_BALANCE, "again"), (u64::MAX, "huge")] {
        store
            .grant_credits(&credit_grant(
                &tenant,
                &customer,
                "calls",
                1,
                &format!("one-{id}"),
            ))
            .await
            .expect("grant");
        let refused = store
            .grant_credits(&credit_grant(&tenant, &customer, "calls", amount, id))
            .await;
        assert!(
            matches!(refused, Err(StoreError::Conflict(what)) if what == CREDIT_BALANCE_FULL),
            "{refused:?}"
        );
        // The refused id was not remembered: a smaller grant with it succeeds.
        let later = store
            .grant_credits(&credit_grant(&tenant, &customer, "calls", 1, id))
            .await
            .expect("grant");
        assert!(!later.replayed);
    }
}

/// A release of `requests` lowers the period total with the counter, never
/// below zero; a release of a customer never counted writes nothing.
#[tokio::test]
async fn releases_lower_the_requests_total_and_write_nothing_for_nobody() {
    let store = fresh_usage().await;
    let prefix = store.prefix().to_owned();
    let tenant = test_tenant();
    let alice = CustomerId::generate();
    let bob = CustomerId::generate();
    let now = t0();
    let month = Period::calendar_month(now);
    for (who, amount) in [(&alice, 5), (&bob, 3)] {
        store
            .consume_usage(&request(
                &tenant,
                who,
                amount,
                UsageLimit::Unlimited,
                None,
                now,
            ))
            .await
            .expect("consume");
    }
    assert_eq!(store.total_usage(&tenant, &month).await.expect("total"), 8);
    let release = |who: &CustomerId, amount| {
        let (store, tenant, who) = (store.clone(), tenant.clone(), who.clone());
        async move {
            store
                .release_usage(&tenant, &who, dream_core::REQUESTS_METER, &month, amount)
                .await
                .expect("release")
        }
    };
    assert_eq!(release(&alice, 2).await, 3);
    assert_eq!(store.total_usage(&tenant, &month).await.expect("total"), 6);
    assert_eq!(release(&alice, u64::MAX).await, 0);
    assert_eq!(store.total_usage(&tenant, &month).await.expect("total"), 3);
    let before = keys_of(&prefix).await;
    let carol = CustomerId::generate();
    assert_eq!(release(&carol, 1).await, 0);
    let other_month = Period::calendar_month(now + chrono::Duration::days(40));
    assert_eq!(
        store
            .release_usage(&tenant, &bob, "seats", &other_month, 1)
            .await
            .expect("release"),
        0
    );
    assert_eq!(
        keys_of(&prefix).await,
        before,
        "nothing to release, nothing written"
    );
    assert_eq!(
        store
            .active_customers(&tenant, &month)
            .await
            .expect("active"),
        2
    );
}
