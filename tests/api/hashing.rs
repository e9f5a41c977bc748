//! Password hashing is bounded: a burst of customer creates with passwords cannot
//! make the server allocate Argon2id's 19 MiB per request without limit (issue 14,
//! defect 1). Runs the real binary so the measured memory is the server's alone.

use std::time::Duration;

use futures::{stream, StreamExt};
use serde_json::json;

use crate::processes::{bootstrap, Server};

/// Peak resident set size ("high water mark") of `pid`, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

const REQUESTS: usize = 600;
const CONCURRENCY: usize = 300;
const RSS_LIMIT_KIB: u64 = 300 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_hashing_burst_is_bounded_in_memory() {
    let server = Server::start(&[("DREAM_STORE", "memory".into())]).await;
    let pid = server.pid().expect("running");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .expect("client");
    let sk = bootstrap(&http, &server, 100).await;

    let url = format!("{}/api/customers", server.base);
    let burst = stream::iter(0..REQUESTS)
        .map(|i| {
            let http = http.clone();
            let url = url.clone();
            let sk = sk.clone();
            async move {
                let resp = http
                    .post(url)
                    .bearer_auth(sk)
                    .json(&json!({"externalId": format!("hash-{i}"), "password": "correct horse battery staple"}))
                    .send()
                    .await
                    .expect("the server answers");
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                let body: serde_json::Value = resp.json().await.unwrap_or_default();
                (status, retry_after, body)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>();
    // Samples the peak while the burst runs, so an unbounded server is stopped
    // (by failing the test, which kills it) long before it exhausts the machine.
    let watch = async {
        loop {
            let peak = peak_rss_kib(pid).unwrap_or(0);
            assert!(
                peak < RSS_LIMIT_KIB,
                "server peak RSS {} MiB during the burst (limit {} MiB)",
                peak / 1024,
                RSS_LIMIT_KIB / 1024
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let replies = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::select! {
            replies = burst => replies,
            () = watch => unreachable!("the watcher only ends by failing"),
        }
    })
    .await
    .expect("600 creates answered within 30 s");

    let mut created = 0;
    let mut busy = 0;
    for (status, retry_after, body) in &replies {
        match status {
            201 => created += 1,
            503 => {
                assert_eq!(body["code"], "busy", "{body}");
                assert!(
                    retry_after.is_some_and(|s| s >= 1),
                    "busy without Retry-After: {body}"
                );
                busy += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(created + busy, REQUESTS);
    assert!(created > 0, "some creates must succeed");
    let peak = peak_rss_kib(pid).expect("server still running");
    eprintln!(
        "hashing burst: {created} created, {busy} busy, peak RSS {} MiB",
        peak / 1024
    );
    assert!(
        peak < RSS_LIMIT_KIB,
        "server peak RSS {} MiB (limit {} MiB)",
        peak / 1024,
        RSS_LIMIT_KIB / 1024
    );
}
