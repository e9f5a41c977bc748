//! The real `dream` binary as a process: spec output, bootstrap, account creation
//! by the operator, graceful shutdown, and no secret in its logs.

use std::{
    io::Read,
    process::{Child, Command, Stdio},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_dream");

/// Reads the child's stdout and stderr as it writes them: a pipe nobody reads
/// fills up (64 KiB), and the server then blocks on its next log line.
fn drain_output(child: &mut Child) -> JoinHandle<String> {
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text + &err.join().unwrap_or_default()
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[test]
fn openapi_command_prints_the_committed_spec() {
    let out = Command::new(BIN).arg("openapi").output().expect("runs");
    assert!(out.status.success());
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../openapi/openapi.json"
    ))
    .expect("spec file");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        committed.trim_end()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_bootstrap_track_and_sigterm_without_leaking_secrets() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let admin_token = "cli-test-admin-token-7f3a9c";
    let data_dir = std::env::temp_dir().join(format!("dream-cli-{port}"));
    let mut server = Command::new(BIN)
        .arg("serve")
        .env("DREAM_DATA_DIR", &data_dir)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("DREAM_ADDR", format!("127.0.0.1:{port}"))
        .env("DREAM_ADMIN_TOKEN", admin_token)
        .env("DREAM_SIGNUP", "closed")
        .env("DREAM_LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .env_remove("DREAM_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("server starts");
    let output = drain_output(&mut server);
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while http.get(format!("{base}/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let boot = Command::new(BIN)
        .args(["admin", "bootstrap", "--url", &base])
        .env("DREAM_ADMIN_TOKEN", admin_token)
        .output()
        .expect("bootstrap runs");
    assert!(
        boot.status.success(),
        "{}",
        String::from_utf8_lossy(&boot.stderr)
    );
    let creds: Value = serde_json::from_slice(&boot.stdout).expect("bootstrap prints JSON");
    let sk = creds["secretKey"].as_str().expect("secret").to_owned();
    let tiers: Vec<&str> = creds["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tiers, ["free", "pro", "enterprise"]);

    for _ in 0..3 {
        let r = http
            .post(format!("{base}/api/data"))
            .bearer_auth(&sk)
            .header("X-User-Id", "cli-user")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let bad = http
        .get(format!("{base}/api/usage?key={sk}"))
        .bearer_auth(format!("{sk}x"))
        .header("X-User-Id", "cli-user")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);

    // Sign-up is closed: the operator gives an account, the password on stdin.
    let password = "cli-account-password-5e1d";
    let created = create_account(&base, admin_token, "ops@example.com", password);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let account: Value = serde_json::from_slice(&created.stdout).expect("account JSON");
    assert_eq!(account["email"], "ops@example.com");
    let login = http
        .post(format!("{base}/account/login"))
        .header("Origin", &base)
        .json(&serde_json::json!({ "email": "ops@example.com", "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let refused = create_account(&base, "not-the-token", "eve@example.com", password);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let empty = create_account(&base, admin_token, "eve@example.com", "");
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("no password"));

    let pid = server.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = server.wait().expect("server exits");
    assert!(status.success(), "exit {status:?}");
    let logs = output.join().expect("output reader");
    assert!(
        logs.contains("\"status\":200"),
        "request logs missing:\n{logs}"
    );
    assert!(logs.contains("shutting down"), "no shutdown log:\n{logs}");
    let secret_body = &sk[8..];
    assert!(!logs.contains(secret_body), "secret key in logs");
    assert!(!logs.contains(admin_token), "admin token in logs");
    assert!(!logs.contains(password), "an account's password in logs");
    assert!(
        logs.contains("account created with the admin token"),
        "{logs}"
    );
}

/// `dream admin create-account` with `password` (and a line ending) on stdin.
fn create_account(
    base: &str,
    admin_token: &str,
    email: &str,
    password: &str,
) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(["admin", "create-account", "--email", email, "--url", base])
        .env("DREAM_ADMIN_TOKEN", admin_token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("create-account runs");
    let mut stdin = child.stdin.take().expect("piped stdin");
    if !password.is_empty() {
        writeln!(stdin, "{password}").expect("password written");
    }
    drop(stdin);
    child.wait_with_output().expect("create-account ends")
}
