//! OpenTelemetry: the real `dream` binary with `OTEL_EXPORTER_OTLP_ENDPOINT` set
//! exports its request spans over OTLP/HTTP to a collector, and flushes them on
//! SIGTERM.

use std::{
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use poem::{
    handler, http::StatusCode, listener::TcpAcceptor, web::Data, Body, EndpointExt, Route, Server,
};

const BIN: &str = env!("CARGO_BIN_EXE_dream");

type Received = Arc<Mutex<Vec<Vec<u8>>>>;

/// `POST /v1/traces`: keeps the protobuf body; an empty body is a valid
/// `ExportTraceServiceResponse`.
#[handler]
async fn traces(body: Body, received: Data<&Received>) -> StatusCode {
    match body.into_vec().await {
        Ok(bytes) => {
            received.lock().expect("lock").push(bytes);
            StatusCode::OK
        }
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

/// A tiny OTLP/HTTP collector on loopback; returns its base URL.
async fn collector(received: Received) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let acceptor = TcpAcceptor::from_tokio(listener).expect("acceptor");
    let app = Route::new()
        .at("/v1/traces", poem::post(traces))
        .data(received);
    tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
    format!("http://{addr}")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `dream serve` on `port` with the memory store, info logs, a short shutdown
/// grace and no webhook worker, whatever the test's environment holds.
fn memory_server(port: u16) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("serve")
        .env("DREAM_STORE", "memory")
        .env("DREAM_ADDR", format!("127.0.0.1:{port}"))
        .env("DREAM_SHUTDOWN_GRACE_SECS", "2")
        .env("DREAM_WEBHOOK_WORKER", "false")
        .env("RUST_LOG", "info")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("DREAM_CONFIG");
    command
}

fn sigterm(server: &std::process::Child) {
    assert!(Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill runs")
        .success());
}

/// Waits until the server at `base` answers, then asks `/health` (200) and
/// `/api/tiers` with an unknown key (401).
async fn health_then_unknown_key(base: &str) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = http
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("/health answers");
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("{base}/api/tiers"))
        .bearer_auth("sk_test_unknown")
        .send()
        .await
        .expect("/api/tiers answers");
    assert_eq!(r.status(), 401);
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_spans_reach_an_otlp_collector_by_shutdown() {
    let received = Received::default();
    let endpoint = collector(received.clone()).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = memory_server(port)
        .env("DREAM_ADMIN_TOKEN", "otel-test-admin-token")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env_remove("OTEL_SERVICE_NAME")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("server starts");

    health_then_unknown_key(&base).await;

    // SIGTERM: the server stops and flushes what the batch exporter still holds.
    sigterm(&server);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = server.kill();
            panic!("the server did not stop within 30 s of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let logs = std::io::read_to_string(server.stderr.take().expect("stderr")).unwrap_or_default();
    assert!(status.success(), "exit {status:?}\n{logs}");

    let deadline = Instant::now() + Duration::from_secs(10);
    let exports = loop {
        let exports = received.lock().expect("lock").clone();
        let complete = exports.iter().any(|b| contains(b, "getHealth"))
            && exports.iter().any(|b| contains(b, "listTiers"));
        if complete || Instant::now() > deadline {
            break exports;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!exports.is_empty(), "no OTLP export arrived\n{logs}");
    let all: Vec<u8> = exports.concat();
    // service.name, the span of an operation, a request id attribute, and the
    // store spans (debug level: exported, though the logs at info omit them).
    for needle in [
        "service.name",
        "dream",
        "GET getHealth",
        "listTiers",
        "req_",
        "dream_store::observed",
    ] {
        assert!(
            contains(&all, needle),
            "{needle:?} not in the exports\n{logs}"
        );
    }
}

/// The JSON log lines of a server run with `DREAM_ACCESS_LOG=access_log` (unset:
/// the default) that answered `/health` (200) and `/api/tiers` with an
/// unknown key (401), read after SIGTERM.
async fn log_lines_with_access_log(access_log: Option<&str>) -> Vec<serde_json::Value> {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut command = memory_server(port);
    command
        .env("DREAM_LOG_FORMAT", "json")
        .env_remove("DREAM_ACCESS_LOG")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(access_log) = access_log {
        command.env("DREAM_ACCESS_LOG", access_log);
    }
    let mut server = command.spawn().expect("server starts");
    health_then_unknown_key(&base).await;
    sigterm(&server);
    // Reading to the end waits for the process to close its stdout (exit).
    let out = std::io::read_to_string(server.stdout.take().expect("stdout")).unwrap_or_default();
    let status = server.wait().expect("wait");
    assert!(status.success(), "exit {status:?}\n{out}");
    out.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// The operations of the access lines among `lines`.
fn access_lines(lines: &[serde_json::Value]) -> Vec<String> {
    lines
        .iter()
        .filter(|line| line["fields"]["message"] == "request")
        .map(|line| {
            format!(
                "{} {}",
                line["fields"]["operation"].as_str().unwrap_or("?"),
                line["fields"]["status"]
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_records_all_requests_errors_only_or_none() {
    let all = log_lines_with_access_log(None).await;
    let lines = access_lines(&all);
    assert!(lines.contains(&"getHealth 200".to_owned()), "{lines:?}");
    assert!(lines.contains(&"listTiers 401".to_owned()), "{lines:?}");

    let errors = log_lines_with_access_log(Some("errors")).await;
    assert_eq!(access_lines(&errors), ["listTiers 401"]);

    let off = log_lines_with_access_log(Some("off")).await;
    assert_eq!(access_lines(&off), Vec::<String>::new());
    // Only the access lines go: the server still logs, start-up among it.
    assert!(!off.is_empty());
    assert!(
        off.iter().any(|line| line["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("listening"))),
        "{off:?}"
    );
}
