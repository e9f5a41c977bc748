//! `dream backup PATH` while a real `dream serve` (SQLite) keeps counting: the
//! copy is consistent, a second server runs on it, and a backup never overwrites
//! a file.

use std::{
    process::{Command, Output},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use serde_json::json;

use crate::processes::{bootstrap, call, temp_dir, track, usage, Server};

const BIN: &str = env!("CARGO_BIN_EXE_dream");
const USER: &str = "backup-user";

/// `dream backup` as a separate process, as an operator runs it.
fn run_backup(data_dir: &std::path::Path, target: &std::path::Path) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("backup")
        .arg(target)
        .env("DREAM_DATA_DIR", data_dir)
        .env_remove("DATABASE_URL")
        .env_remove("DREAM_DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("DREAM_REDIS_URL")
        .env_remove("DREAM_STORE")
        .env_remove("DREAM_CONFIG");
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("dream backup starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("dream backup did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

fn usage_count(body: &serde_json::Value) -> u64 {
    body["usageCount"].as_u64().expect("usageCount")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_backup_while_tracking_restores_on_a_second_server() {
    let data_dir = temp_dir("backup-live");
    let restore_dir = temp_dir("backup-restore");
    let http = reqwest::Client::new();
    let server = Server::start(&[("DREAM_DATA_DIR", data_dir.display().to_string())]).await;
    let sk = bootstrap(&http, &server, 1_000_000).await;
    let (status, created) = call(
        &http,
        reqwest::Method::POST,
        format!("{}/api/customers", server.base),
        &sk,
        &[],
        Some(json!({"email": "backup@example.com", "externalId": USER})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    for _ in 0..20 {
        assert_eq!(track(&http, &server, &sk, USER).await, 200);
    }

    // Tracks keep arriving while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicU64::new(0));
    let tracker = {
        let (http, stop, accepted) = (http.clone(), stop.clone(), accepted.clone());
        let (url, sk) = (format!("{}/api/data", server.base), sk.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (status, body) = call(
                    &http,
                    reqwest::Method::POST,
                    url.clone(),
                    &sk,
                    &[("X-User-Id", USER)],
                    None,
                )
                .await;
                assert_eq!(status, 200, "track during the backup: {body}");
                accepted.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = usage_count(&usage(&http, &server, &sk, USER).await);
    let target = data_dir.with_extension("backup.sqlite3");
    let _ = std::fs::remove_file(&target);
    let out = {
        let (data_dir, target) = (data_dir.clone(), target.clone());
        tokio::task::spawn_blocking(move || run_backup(&data_dir, &target))
            .await
            .expect("backup task")
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dream backup failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let size = std::fs::metadata(&target).expect("the backup exists").len();
    assert!(
        stdout.contains(&format!("({size} bytes)")),
        "prints the size: {stdout}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    tracker.await.expect("tracker");
    assert!(
        accepted.load(Ordering::Relaxed) > 0,
        "no track ran during the backup"
    );
    let after = usage_count(&usage(&http, &server, &sk, USER).await);

    // Never overwrites, even a backup.
    let again = {
        let (data_dir, target) = (data_dir.clone(), target.clone());
        tokio::task::spawn_blocking(move || run_backup(&data_dir, &target))
            .await
            .expect("backup task")
    };
    assert!(
        !again.status.success(),
        "a second backup overwrote the first"
    );
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(std::fs::metadata(&target).expect("still there").len(), size);

    // Restore: the copy is a whole database for a second server.
    std::fs::create_dir_all(&restore_dir).expect("restore dir");
    std::fs::copy(&target, restore_dir.join("dream.sqlite3")).expect("copy into place");
    let restored = Server::start(&[("DREAM_DATA_DIR", restore_dir.display().to_string())]).await;
    let got = usage(&http, &restored, &sk, USER).await;
    let count = usage_count(&got);
    assert!(
        (before..=after).contains(&count),
        "restored count {count} outside [{before}, {after}]: {got}"
    );
    assert_eq!(got["customerId"], created["customer"]["id"], "{got}");
    assert_eq!(
        track(&http, &restored, &sk, USER).await,
        200,
        "the restored server serves"
    );

    drop(restored);
    drop(server);
    for path in [&data_dir, &restore_dir] {
        let _ = std::fs::remove_dir_all(path);
    }
    let _ = std::fs::remove_file(&target);
}

#[test]
fn backup_refuses_a_missing_database() {
    let empty = temp_dir("backup-none");
    let target = empty.join("copy.sqlite3");
    let out = run_backup(&empty, &target);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no database at"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !empty.exists(),
        "a failed backup must not create the data dir"
    );
    assert!(!target.exists());
}
