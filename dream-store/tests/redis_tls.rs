//! Redis over TLS (`rediss://`) on the TLS-only server `./scripts/test` starts
//! (`DREAM_TEST_REDIS_TLS_URL`, with `--port 0`, so a plain connection cannot
//! even reach it), with the certificate checked against the private CA in
//! `DREAM_TEST_TLS_CA`.
#![cfg(all(feature = "redis", feature = "memory"))]

mod support;

use std::sync::Arc;

use dream_core::ports::Stores;
use dream_store::{MemoryStore, RedisUsageStore};
use redis::{aio::ConnectionManager, Client, TlsCertificates};

fn ca_pem() -> Vec<u8> {
    let path = support::env_url("DREAM_TEST_TLS_CA");
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

async fn usage_over_tls(root_cert: Option<Vec<u8>>) -> Result<RedisUsageStore, String> {
    let url = support::env_url("DREAM_TEST_REDIS_TLS_URL");
    assert!(url.starts_with("rediss://"), "{url} is not a TLS URL");
    let client = Client::build_with_tls(
        url.as_str(),
        TlsCertificates {
            client_tls: None,
            root_cert,
        },
    )
    .map_err(|e| e.to_string())?;
    let conn = ConnectionManager::new_with_config(client, RedisUsageStore::connection_config())
        .await
        .map_err(|e| e.to_string())?;
    Ok(RedisUsageStore::new(
        conn,
        format!("dream-tls:{}", support::unique_name("t")),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_the_ca_counts_usage() {
    let usage = usage_over_tls(Some(ca_pem()))
        .await
        .expect("connect over TLS");
    usage.ping().await.expect("PING over TLS");
    let mut stores = Stores::new(Arc::new(MemoryStore::new()));
    stores.usage = Arc::new(usage);
    dream_conformance::consume_exact_sequential(stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_refuses_a_certificate_of_an_unknown_ca() {
    // The system's roots only: the throwaway CA is in none of them.
    let refused = match usage_over_tls(None).await {
        Err(_) => true,
        Ok(usage) => usage.ping().await.is_err(),
    };
    assert!(refused, "an untrusted certificate was accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_redis_cannot_reach_the_tls_server() {
    let url = support::env_url("DREAM_TEST_REDIS_TLS_URL").replacen("rediss://", "redis://", 1);
    let plain = RedisUsageStore::connect_lazy(&url, "dream-tls-plain").expect("a valid URL");
    assert!(
        plain.ping().await.is_err(),
        "a plain connection got an answer from the TLS-only server"
    );
}
