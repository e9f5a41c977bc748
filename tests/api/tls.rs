//! `dream serve` with PostgreSQL and Redis over TLS, configured only through
//! their URLs: `DATABASE_URL=…?sslmode=verify-full&sslrootcert=<ca>` and
//! `REDIS_URL=rediss://…` with the private CA in `SSL_CERT_FILE`, against the
//! TLS-only servers `./scripts/test` starts. Both refuse plain connections, so a
//! ready, counting server proves both links are encrypted and verified.

use crate::processes::{bootstrap, track, usage, Server};

fn env_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run ./scripts/test, which starts throwaway TLS servers")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_over_tls_to_postgres_and_redis() {
    let ca = env_var("DREAM_TEST_TLS_CA");
    let pg = env_var("DREAM_TEST_DATABASE_TLS_URL");
    let (base, _) = pg.split_once('?').unwrap_or((&pg, ""));
    let database_url = format!("{base}?sslmode=verify-full&sslrootcert={ca}");
    let redis_url = env_var("DREAM_TEST_REDIS_TLS_URL");
    let server = Server::start(&[
        ("DATABASE_URL", database_url),
        ("REDIS_URL", redis_url),
        ("SSL_CERT_FILE", ca),
        ("DREAM_WEBHOOK_WORKER", "false".into()),
    ])
    .await;
    let http = reqwest::Client::new();
    let ready = http
        .get(format!("{}/ready", server.base))
        .send()
        .await
        .expect("GET /ready");
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.expect("JSON");
    assert_eq!(body["checks"]["database"], "ok", "{body}");
    assert_eq!(body["checks"]["redis"], "ok", "{body}");

    let sk = bootstrap(&http, &server, 5).await;
    for _ in 0..3 {
        assert_eq!(track(&http, &server, &sk, "tls-user").await, 200);
    }
    assert_eq!(
        usage(&http, &server, &sk, "tls-user").await["usageCount"],
        3
    );
}
