//! Exact limits under concurrent HTTP load.

use futures::future::join_all;
use serde_json::json;

use crate::support::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_tracks_against_limit_fifty() {
    let server = TestServer::start().await;
    let sk = server.tenant("test", 50).await.secret_key;
    let id = server
        .customer(&sk, json!({"email": "load@example.com", "plan": "free"}))
        .await;
    let replies = join_all((0..200).map(|_| server.track(&sk, &id))).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let refused = replies
        .iter()
        .filter(|r| r.status == 429 && r.json["code"] == "usage_limit_reached")
        .count();
    assert_eq!((ok, refused), (50, 150));
    let mut counts: Vec<u64> = replies
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.json["usage"]["count"].as_u64().unwrap())
        .collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=50).collect::<Vec<_>>(),
        "each count handed out once"
    );
    assert_eq!(server.usage(&sk, &id).await.json["usageCount"], 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_sight_creates_one_customer() {
    let server = TestServer::start().await;
    let sk = server.tenant("test", 1000).await.secret_key;
    let replies = join_all((0..50).map(|_| server.track(&sk, "newcomer"))).await;
    assert!(replies.iter().all(|r| r.status == 200));
    let ids: std::collections::HashSet<_> = replies
        .iter()
        .map(|r| r.json["customerId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "one customer, not {}", ids.len());
    let list = server.get("/api/customers?limit=100", &sk).await;
    assert_eq!(list.json["data"].as_array().unwrap().len(), 1);
    assert_eq!(server.usage(&sk, "newcomer").await.json["usageCount"], 50);
}
