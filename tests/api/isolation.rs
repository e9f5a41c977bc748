//! One tenant's keys can never read, change or count against another's customers.

use reqwest::Method;
use serde_json::json;

use crate::support::{creds, TestServer};

#[tokio::test]
async fn tenants_are_isolated_on_every_endpoint() {
    let server = TestServer::start().await;
    let a = server.tenant("test", 5).await;
    let b = server.tenant("test", 5).await;
    // The same platform's live mode is another tenant too.
    let a_live = creds(
        &server
            .create_products(json!({"mode": "live", "platformId": a.platform_id,
                                    "tiers": crate::support::standard_tiers(5)}))
            .await
            .json,
    );
    let id = server
        .customer(
            &a.secret_key,
            json!({"email": "a@example.com", "externalId": "shared"}),
        )
        .await;
    assert_eq!(server.track(&a.secret_key, &id).await.status, 200);

    let missing = server
        .get("/api/customers/usr_0000000000000000000000", &b.secret_key)
        .await;
    missing.assert_error(404, "not_found");
    for other in [&b.secret_key, &a_live.secret_key] {
        let get = server.get(&format!("/api/customers/{id}"), other).await;
        get.assert_error(404, "not_found");
        assert_eq!(
            get.json["message"], missing.json["message"],
            "foreign == missing"
        );
        assert!(!get.text.contains("a@example.com"));
        let patch = server
            .send(
                Method::PATCH,
                &format!("/api/customers/{id}"),
                Some(other),
                &[],
                Some(json!({"plan": "pro"})),
            )
            .await;
        patch.assert_error(404, "not_found");
        let delete = server
            .send(
                Method::DELETE,
                &format!("/api/customers/{id}"),
                Some(other),
                &[],
                None,
            )
            .await;
        delete.assert_error(404, "not_found");
        server
            .track(other, &id)
            .await
            .assert_error(404, "not_found");
        server
            .usage(other, &id)
            .await
            .assert_error(404, "not_found");
        // The same external id elsewhere is a different customer.
        let theirs = server.track(other, "shared").await;
        assert_eq!(theirs.status, 200);
        assert_ne!(theirs.json["customerId"], id.as_str());
        let list = server.get("/api/customers", other).await;
        assert!(!list.text.contains(&id));
        let dash = server.get("/api/dashboard", other).await;
        assert!(!dash.text.contains(&id));
        let csv = server.get("/api/dashboard/customers.csv", other).await;
        assert!(!csv.text.contains(&id));
        let events = server.get("/api/events", other).await;
        assert!(!events.text.contains(&id));
        let page = server
            .get(&format!("/api/customers?startingAfter={id}"), other)
            .await;
        page.assert_error(400, "invalid_request");
    }
    // A's customer still has exactly its own one call, on its own plan.
    let usage = server.usage(&a.secret_key, &id).await;
    assert_eq!(usage.json["usageCount"], 1);
    assert_eq!(usage.json["plan"], "free");
    let still = server
        .get(&format!("/api/customers/{id}"), &a.secret_key)
        .await;
    assert_eq!(still.status, 200);
}
