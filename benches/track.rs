//! Track benchmarks, each beside a baseline measured in the same run so the result
//! reads as a ratio that survives a noisy machine:
//!
//! - `core/`: `Dream::track` on the memory store vs a bare `AtomicU64::fetch_add`.
//! - `http/`: `POST /api/data` through the whole stack on loopback vs an empty
//!   poem handler on the same kind of server and client.
//!
//! Run: `cargo bench -p dream-bin --bench track`.

use std::{
    hint::black_box,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use dream_bin::Config;
use dream_core::{Dream, Mode, Tenant};
use poem::{handler, listener::TcpAcceptor, post, Route, Server};
use support::unlimited_tier;
use tokio::runtime::Runtime;

fn core_track(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let dream = Dream::new(Arc::new(dream_store::MemoryStore::new()));
    let tenant = rt.block_on(async {
        let platform = dream.create_platform(None).await.expect("platform");
        let tenant = Tenant::new(platform.id, Mode::Test);
        dream
            .configure_tiers(&tenant, vec![unlimited_tier()])
            .await
            .expect("tiers");
        dream
            .track(&tenant, "bench-user", None, 1)
            .await
            .expect("warm");
        tenant
    });
    let mut group = c.benchmark_group("core");
    let counter = AtomicU64::new(0);
    group.bench_function("baseline_atomic_increment", |b| {
        b.iter(|| black_box(counter.fetch_add(1, Ordering::SeqCst)))
    });
    group.bench_function("dream_track_memory", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                dream
                    .track(&tenant, "bench-user", None, 1)
                    .await
                    .expect("track"),
            )
        })
    });
    group.finish();
}

#[handler]
fn empty() -> &'static str {
    ""
}

fn http_track(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let client = reqwest::Client::new();
    let (dream_url, baseline_url, sk) = rt.block_on(async {
        let config = Config {
            store: Some(dream_bin::StoreKind::Memory),
            ..Config::default()
        };
        let (dream_url, sk) = support::start_server(config).await;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let baseline_url = format!(
            "http://127.0.0.1:{}/api/data",
            listener.local_addr().expect("addr").port()
        );
        let acceptor = TcpAcceptor::from_tokio(listener).expect("acceptor");
        tokio::spawn(
            Server::new_with_acceptor(acceptor).run(Route::new().at("/api/data", post(empty))),
        );
        (dream_url, baseline_url, sk)
    });
    let mut group = c.benchmark_group("http");
    group.bench_function("baseline_empty_poem_handler", |b| {
        b.to_async(&rt).iter(|| async {
            let resp = client
                .post(&baseline_url)
                .bearer_auth(&sk)
                .header("X-User-Id", "bench-user")
                .send()
                .await
                .expect("send");
            black_box(resp.bytes().await.expect("body"))
        })
    });
    group.bench_function("dream_post_api_data", |b| {
        b.to_async(&rt).iter(|| async {
            let resp = client
                .post(&dream_url)
                .bearer_auth(&sk)
                .header("X-User-Id", "bench-user")
                .send()
                .await
                .expect("send");
            assert!(resp.status().is_success());
            black_box(resp.bytes().await.expect("body"))
        })
    });
    group.finish();
}

criterion_group!(benches, core_track, http_track);
criterion_main!(benches);
