//! `POST /api/data` through the whole server on each durable store, each beside the
//! raw store doing the same one-row increment in the same run, so the overhead of
//! dream over the store reads as a ratio:
//!
//! - `sqlite/`: dream on SQLite vs `UPDATE … RETURNING` through sqlx on a WAL file;
//! - `postgres/`: dream on PostgreSQL vs `UPDATE … RETURNING` through sqlx;
//! - `redis/`: dream with Redis counters (rest in SQLite) vs a bare `INCR`.
//!
//! Needs the servers `./scripts/bench` starts (DREAM_TEST_DATABASE_URL,
//! DREAM_TEST_REDIS_URL). Run: `./scripts/bench stores`.

use std::{hint::black_box, str::FromStr};

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use dream_bin::{Config, StoreKind};
use sqlx::Executor;
use tokio::runtime::Runtime;

fn env_url(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run ./scripts/bench"))
}

fn bench_dream(
    c: &mut Criterion,
    group: &str,
    rt: &Runtime,
    config: Config,
    baseline: &mut dyn FnMut(&mut criterion::Bencher<'_, criterion::measurement::WallTime>),
) {
    let (url, sk) = rt.block_on(support::start_server(config));
    let client = reqwest::Client::new();
    let mut g = c.benchmark_group(group);
    g.bench_function("baseline_raw_store", |b| baseline(b));
    g.bench_function("dream_post_api_data", |b| {
        b.to_async(rt).iter(|| async {
            let resp = client
                .post(&url)
                .bearer_auth(&sk)
                .header("X-User-Id", "bench-user")
                .send()
                .await
                .expect("send");
            assert!(resp.status().is_success());
            black_box(resp.bytes().await.expect("body"))
        })
    });
    g.finish();
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dream-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn sqlite(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let dir = temp_dir("sqlite");
    let pool = rt.block_on(async {
        std::fs::create_dir_all(&dir).expect("dir");
        let options = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")
            .expect("options")
            .filename(dir.join("baseline.sqlite3"))
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .expect("sqlite");
        pool.execute("CREATE TABLE counters (id INTEGER PRIMARY KEY, used INTEGER NOT NULL); INSERT INTO counters VALUES (1, 0)")
            .await
            .expect("table");
        pool
    });
    let config = Config {
        store: Some(StoreKind::Sqlite),
        data_dir: dir.join("dream"),
        ..Config::default()
    };
    bench_dream(c, "sqlite", &rt, config, &mut |b| {
        b.to_async(&rt).iter(|| async {
            let used: i64 = sqlx::query_scalar(
                "UPDATE counters SET used = used + 1 WHERE id = 1 RETURNING used",
            )
            .fetch_one(&pool)
            .await
            .expect("update");
            black_box(used)
        })
    });
}

fn postgres(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let url = env_url("DREAM_TEST_DATABASE_URL");
    let pool = rt.block_on(async {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(&url)
            .await
            .expect("postgres");
        pool.execute("DROP TABLE IF EXISTS bench_counters; CREATE TABLE bench_counters (id INT PRIMARY KEY, used BIGINT NOT NULL); INSERT INTO bench_counters VALUES (1, 0)")
            .await
            .expect("table");
        pool
    });
    let mut config = Config {
        store: Some(StoreKind::Postgres),
        ..Config::default()
    };
    config
        .apply_env(|n| (n == "DATABASE_URL").then(|| url.clone()))
        .expect("config");
    bench_dream(c, "postgres", &rt, config, &mut |b| {
        b.to_async(&rt).iter(|| async {
            let used: i64 = sqlx::query_scalar(
                "UPDATE bench_counters SET used = used + 1 WHERE id = 1 RETURNING used",
            )
            .fetch_one(&pool)
            .await
            .expect("update");
            black_box(used)
        })
    });
}

fn redis(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let url = env_url("DREAM_TEST_REDIS_URL");
    let conn = rt.block_on(async {
        let client = redis::Client::open(url.as_str()).expect("redis url");
        client.get_connection_manager().await.expect("redis")
    });
    let dir = temp_dir("redis");
    let mut config = Config {
        store: Some(StoreKind::Sqlite),
        data_dir: dir,
        ..Config::default()
    };
    config
        .apply_env(|n| (n == "REDIS_URL").then(|| url.clone()))
        .expect("config");
    bench_dream(c, "redis", &rt, config, &mut |b| {
        b.to_async(&rt).iter(|| {
            let mut conn = conn.clone();
            async move {
                let n: i64 = redis::cmd("INCR")
                    .arg("dream-bench:baseline")
                    .query_async(&mut conn)
                    .await
                    .expect("incr");
                black_box(n)
            }
        })
    });
}

criterion_group!(benches, sqlite, postgres, redis);
criterion_main!(benches);
