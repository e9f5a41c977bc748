//! Per-tenant caps over HTTP: 30 concurrent creations racing for the last slot of
//! `DREAM_MAX_CUSTOMERS_PER_TENANT` give exactly one 201 and 29 clear 409s, and
//! first-sight creation on track is capped too.

use futures::future::join_all;
use serde_json::json;

use crate::support::TestServer;

const CAP: u64 = 5;

async fn capped_server() -> TestServer {
    TestServer::start_with(|config| config.max_customers_per_tenant = Some(CAP)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_creations_race_for_the_last_slot_and_one_wins() {
    let server = capped_server().await;
    for run in 0..10 {
        let sk = server.tenant("test", 5).await.secret_key;
        for i in 0..CAP - 1 {
            server
                .customer(&sk, json!({ "email": format!("fill{i}@example.com") }))
                .await;
        }
        let replies = join_all((0..30).map(|i| {
            let (server, sk) = (&server, &sk);
            async move {
                server
                    .post(
                        "/api/customers",
                        sk,
                        json!({ "email": format!("racer{i}@example.com") }),
                    )
                    .await
            }
        }))
        .await;
        let created = replies.iter().filter(|r| r.status == 201).count();
        assert_eq!(
            created, 1,
            "run {run}: {created} creations took the last slot"
        );
        for reply in replies.iter().filter(|r| r.status != 201) {
            reply.assert_error(409, "limit_exceeded");
            assert_eq!(reply.json["limit"], CAP, "{}", reply.text);
            assert!(
                reply.json["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("5 customers")),
                "{}",
                reply.text
            );
        }
    }
}

#[tokio::test]
async fn first_sight_creation_on_track_respects_the_cap() {
    let server = capped_server().await;
    let sk = server.tenant("test", 5).await.secret_key;
    for i in 0..CAP {
        assert_eq!(server.track(&sk, &format!("seen-{i}")).await.status, 200);
    }
    server
        .track(&sk, "one-too-many")
        .await
        .assert_error(409, "limit_exceeded");
    // Known customers keep working.
    assert_eq!(server.track(&sk, "seen-0").await.status, 200);
}
