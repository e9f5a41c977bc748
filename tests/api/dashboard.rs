//! Dashboard metrics, events and the CSV export.

use reqwest::Method;
use serde_json::json;

use crate::support::TestServer;

#[tokio::test]
async fn dashboard_counts_plans_usage_mrr_and_churn() {
    let server = TestServer::start().await;
    let sk = server.tenant("test", 5).await.secret_key;
    let a = server
        .customer(&sk, json!({"externalId": "a", "plan": "pro"}))
        .await;
    server
        .customer(&sk, json!({"externalId": "b", "plan": "pro"}))
        .await;
    server.customer(&sk, json!({"externalId": "c"})).await;
    for _ in 0..3 {
        server.track(&sk, "a").await;
    }
    server.track(&sk, "c").await;
    server
        .send(
            Method::PATCH,
            &format!("/api/customers/{a}"),
            Some(&sk),
            &[],
            Some(json!({"plan": "free"})),
        )
        .await;
    let d = server.get("/api/dashboard", &sk).await;
    assert_eq!(d.status, 200, "{}", d.text);
    let m = &d.json["metrics"];
    assert_eq!(m["totalCustomers"], 3);
    assert_eq!(m["customersByPlan"], json!({"free": 2, "pro": 1}));
    assert_eq!(m["activeCustomers"], 2);
    assert_eq!(m["totalUsage"], 4);
    assert_eq!(m["mrr"], json!([{"currency": "usd", "amountMinor": 2900}]));
    assert_eq!(m["churnedLast30Days"], 1);
    assert_eq!(m["churnRate"], 0.5);
    let kinds: Vec<&str> = d.json["recentEvents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"plan.changed"));
    assert!(kinds.contains(&"customer.created"));

    let events = server.get("/api/events?limit=2", &sk).await;
    assert_eq!(events.json["hasMore"], true);
    let last = events.json["data"][1]["id"].as_str().unwrap();
    let next = server
        .get(&format!("/api/events?limit=100&startingAfter={last}"), &sk)
        .await;
    assert!(!next
        .text
        .contains(events.json["data"][0]["id"].as_str().unwrap()));
}

#[tokio::test]
async fn csv_export_quotes_and_defuses_and_pages_through_everyone() {
    let server = TestServer::start().await;
    let sk = server.tenant("test", 5).await.secret_key;
    server
        .customer(
            &sk,
            json!({"externalId": "tricky", "firstName": "Smith, \"Jo\"", "lastName": "=HYPERLINK(1)",
                   "email": "t@example.com", "metadata": {"note": "line1\nline2"}}),
        )
        .await;
    for i in 0..230 {
        server.track(&sk, &format!("bulk-{i}")).await;
    }
    let resp = server
        .http
        .get(format!("{}/api/dashboard/customers.csv", server.base))
        .bearer_auth(&sk)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = resp.text().await.unwrap();
    let rows = parse_csv(&text);
    assert_eq!(rows[0][0], "id");
    assert_eq!(rows.len(), 1 + 231, "header + every customer once");
    let tricky = rows.iter().find(|r| r[1] == "tricky").unwrap();
    assert_eq!(tricky[3], "Smith, \"Jo\"");
    assert_eq!(tricky[4], "'=HYPERLINK(1)");
    assert!(tricky[9].contains("line1\\nline2"));
    let bulk = rows.iter().find(|r| r[1] == "bulk-7").unwrap();
    assert_eq!(bulk[6], "1");
}

/// A strict RFC 4180 reader, enough to check our writer.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = vec![];
    let mut row = vec![];
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    rows
}

#[tokio::test]
async fn events_of_one_customer_by_either_id() {
    let server = TestServer::start().await;
    let sk = server.tenant("test", 5).await.secret_key;
    let a = server
        .customer(&sk, json!({"externalId": "a", "plan": "pro"}))
        .await;
    server.customer(&sk, json!({"externalId": "b"})).await;
    server
        .send(
            Method::PATCH,
            &format!("/api/customers/{a}"),
            Some(&sk),
            &[],
            Some(json!({"plan": "free"})),
        )
        .await;
    for reference in [a.as_str(), "a"] {
        let page = server
            .get(&format!("/api/events?customer={reference}"), &sk)
            .await;
        assert_eq!(page.status, 200, "{}", page.text);
        let kinds: Vec<&str> = page.json["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|e| e["type"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(
            kinds,
            vec!["plan.changed", "customer.created"],
            "{}",
            page.text
        );
        assert!(page.json["data"]
            .as_array()
            .expect("data")
            .iter()
            .all(|e| e["customerId"] == json!(a)));
    }
    server
        .get("/api/events?customer=nobody", &sk)
        .await
        .assert_error(404, "not_found");
}
