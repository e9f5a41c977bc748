//! A bare poem server answering "hello" to `GET /` and `POST /`: the ceiling
//! `scripts/bench-http` divides dream's throughput by. It runs on the same tokio
//! runtime flavour and the same poem version as dream, with nothing else, so the
//! ratio shows what dream's own layers cost.
//!
//! Usage: `bench-hello [ADDR]` (default `127.0.0.1:8788`).

use poem::{get, handler, listener::TcpListener, Route, Server};

#[handler]
fn hello() -> &'static str {
    "hello"
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8788".to_owned());
    let app = Route::new().at("/", get(hello).post(hello));
    Server::new(TcpListener::bind(addr)).run(app).await
}
