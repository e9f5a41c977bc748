//! Developer webhooks out, in the server: an HTTP sender that will not reach
//! private networks (the loop that drives it is [`crate::delivery_loop`]).

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use dream_core::{
    is_public_ip,
    ports::{OutboundRequest, OutboundSender, SendResult},
    validate_endpoint_url, DeliveryPolicy, EndpointPolicy, Mode,
};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::{config::Config, AppError};

/// Posts signed deliveries with reqwest: no redirects (a redirect could point
/// anywhere), no proxy from the environment (a proxy would resolve and connect on
/// our behalf, past every check below), a timeout, and, unless private addresses
/// are allowed, a resolver that drops every non-public address, so DNS cannot
/// route a delivery into the server's own network after the URL was checked.
pub struct HttpSender {
    client: reqwest::Client,
    policy: EndpointPolicy,
}

impl HttpSender {
    /// A sender with `timeout` per request.
    pub fn new(policy: EndpointPolicy, timeout: Duration) -> Result<Self, AppError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // reqwest honours HTTP_PROXY/HTTPS_PROXY/ALL_PROXY by default; with a
            // proxy the target's name is resolved by the proxy, not by
            // PublicOnlyResolver, so the SSRF checks would not apply.
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("dream-webhooks/", env!("CARGO_PKG_VERSION")));
        if !policy.allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
        }
        let client = builder
            .build()
            .map_err(|e| AppError::Config(format!("cannot build the webhook HTTP client: {e}")))?;
        Ok(Self { client, policy })
    }

    /// The URL is checked again before every attempt, as at registration: an
    /// endpoint stored before a rule was added is held to it, and addresses
    /// written literally in the URL skip DNS (and so the resolver), so they are
    /// checked here, before any connection.
    fn refused(&self, url: &str) -> Option<String> {
        if self.policy.allow_private {
            return None;
        }
        // Mode::Test: the scheme rule (https in live mode) was applied when the
        // endpoint was registered; this re-check is about where the URL points.
        if let Err(err) = validate_endpoint_url(url, Mode::Test, self.policy) {
            return Some(format!("refused: {err}"));
        }
        let host = reqwest::Url::parse(url).ok()?.host()?.to_owned();
        let ip = match host {
            url::Host::Ipv4(ip) => IpAddr::V4(ip),
            url::Host::Ipv6(ip) => IpAddr::V6(ip),
            url::Host::Domain(_) => return None,
        };
        (!is_public_ip(ip)).then(|| format!("refused: {ip} is not a public address"))
    }
}

#[async_trait]
impl OutboundSender for HttpSender {
    async fn send(&self, request: OutboundRequest) -> SendResult {
        let started = Instant::now();
        if let Some(error) = self.refused(&request.url) {
            return SendResult {
                status: None,
                error: Some(error),
                latency: started.elapsed(),
            };
        }
        let mut builder = self.client.post(&request.url).body(request.body);
        for (name, value) in request.headers {
            builder = builder.header(name, value);
        }
        match builder.send().await {
            Ok(response) => SendResult {
                status: Some(response.status().as_u16()),
                error: None,
                latency: started.elapsed(),
            },
            Err(err) => SendResult {
                status: None,
                error: Some(describe(&err)),
                latency: started.elapsed(),
            },
        }
    }
}

/// A short reason, with the cause chain (reqwest's top-level message alone is
/// "error sending request").
fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Resolves with the system resolver and keeps only public addresses.
struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let addrs: Addrs = Box::new(public_only(&host, resolved)?.into_iter());
            Ok(addrs)
        })
    }
}

/// The public addresses among those `host` resolved to, or an error when none is.
fn public_only(
    host: &str,
    resolved: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
    let public: Vec<SocketAddr> = resolved
        .into_iter()
        .filter(|addr| is_public_ip(addr.ip()))
        .collect();
    if public.is_empty() {
        return Err(format!(
            "refused: {host} resolves only to loopback, private or link-local addresses"
        )
        .into());
    }
    Ok(public)
}

/// The delivery policy from configuration.
pub fn policy(config: &Config) -> DeliveryPolicy {
    let timeout = chrono::Duration::seconds(config.webhook_timeout_secs as i64);
    DeliveryPolicy {
        retry_delays: config
            .webhook_retry_schedule
            .iter()
            .map(|s| chrono::Duration::seconds(*s as i64))
            .collect(),
        // The lease must outlive the request, or a slow endpoint would be retried
        // by another process while the first attempt is still waiting.
        lease: timeout * 2 + chrono::Duration::seconds(15),
        disable_after: chrono::Duration::seconds(config.webhook_disable_after_secs as i64),
        log_retention: chrono::Duration::days(config.webhook_log_retention_days as i64),
        ..DeliveryPolicy::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str) -> OutboundRequest {
        OutboundRequest {
            url: url.to_owned(),
            headers: vec![("content-type", "application/json".into())],
            body: b"{}".to_vec(),
        }
    }

    /// A loopback listener that answers every connection with a 204.
    async fn loopback_204() -> (u16, tokio::task::JoinHandle<()>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                    .await;
            }
        });
        (port, task)
    }

    #[tokio::test]
    async fn private_addresses_are_refused_after_resolution_unless_allowed() {
        let (port, server) = loopback_204().await;
        let strict =
            HttpSender::new(EndpointPolicy::default(), Duration::from_secs(2)).expect("client");
        // A name for loopback: refused (by name, else by the resolver), not sent.
        let by_name = strict
            .send(request(&format!("http://localhost:{port}/hook")))
            .await;
        assert_eq!(by_name.status, None);
        let error = by_name.error.unwrap_or_default();
        assert!(error.contains("refused"), "{error}");
        // A literal address skips DNS and is checked on its own.
        let literal = strict
            .send(request(&format!("http://127.0.0.1:{port}/hook")))
            .await;
        assert_eq!(literal.status, None);
        assert!(literal.error.unwrap_or_default().starts_with("refused"));

        let open = HttpSender::new(
            EndpointPolicy {
                allow_private: true,
            },
            Duration::from_secs(2),
        )
        .expect("client");
        let sent = open
            .send(request(&format!("http://localhost:{port}/hook")))
            .await;
        assert_eq!(sent.status, Some(204), "{:?}", sent.error);
        server.abort();
    }

    #[tokio::test]
    async fn redirects_are_not_followed_and_failures_say_why() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 307 Temporary Redirect\r\nlocation: http://169.254.169.254/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            }
        });
        let open = HttpSender::new(
            EndpointPolicy {
                allow_private: true,
            },
            Duration::from_secs(2),
        )
        .expect("client");
        let sent = open
            .send(request(&format!("http://127.0.0.1:{port}/hook")))
            .await;
        assert_eq!(
            sent.status,
            Some(307),
            "the redirect is the answer, not followed"
        );
        server.abort();
        let _ = server.await;
        // Nothing listens on the port any more.
        let refused = open
            .send(request(&format!("http://127.0.0.1:{port}/hook")))
            .await;
        assert_eq!(refused.status, None);
        assert!(refused
            .error
            .unwrap_or_default()
            .starts_with("could not connect"));
    }

    #[tokio::test]
    async fn hostile_urls_are_refused_before_any_connection() {
        let strict =
            HttpSender::new(EndpointPolicy::default(), Duration::from_secs(2)).expect("client");
        for url in dream_core::HOSTILE_ENDPOINT_URLS {
            // The refusal comes from the checks, not from a failed connection.
            let refusal = strict.refused(url);
            assert!(
                refusal.as_deref().is_some_and(|e| e.starts_with("refused")),
                "{url}: {refusal:?}"
            );
            let sent = strict.send(request(url)).await;
            assert_eq!(sent.status, None, "{url}");
            let error = sent.error.unwrap_or_default();
            assert!(error.starts_with("refused"), "{url}: {error}");
        }
    }

    #[test]
    fn the_resolver_drops_every_hostile_address() {
        for url in dream_core::HOSTILE_ENDPOINT_URLS {
            let Some(ip) = reqwest::Url::parse(url).ok().and_then(|u| match u.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            }) else {
                continue;
            };
            // As if a name the attacker controls resolved to this address.
            let result = public_only("attacker.example", vec![SocketAddr::new(ip, 443)]);
            assert!(result.is_err(), "{url} resolved to {ip} must be dropped");
        }
        let mixed = vec![
            SocketAddr::new("10.0.0.1".parse().expect("ip"), 443),
            SocketAddr::new("93.184.216.34".parse().expect("ip"), 443),
        ];
        assert_eq!(
            public_only("x.example", mixed).map(|v| v.len()).ok(),
            Some(1)
        );
    }

    /// Set by [`proxies_from_the_environment_are_ignored`] in the child process it
    /// starts: the port of a loopback listener posing as a proxy.
    const PROXY_PORT_VAR: &str = "DREAM_TEST_PROXY_PORT";

    /// reqwest reads the proxy variables once per process, so the check runs in
    /// a child process (this test binary, filtered to the test below) whose
    /// environment sets them from the start.
    #[test]
    fn proxies_from_the_environment_are_ignored() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let proxy = format!("http://127.0.0.1:{port}");
        let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "delivery::tests::sender_in_a_proxied_environment",
                "--nocapture",
            ])
            .env(PROXY_PORT_VAR, port.to_string())
            .env("HTTP_PROXY", &proxy)
            .env("HTTPS_PROXY", &proxy)
            .env("ALL_PROXY", &proxy)
            .env("http_proxy", &proxy)
            .env("https_proxy", &proxy)
            .env("all_proxy", &proxy)
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .output()
            .expect("run the child test");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "child failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        match listener.accept() {
            Ok((_, from)) => panic!("the proxy got a connection from {from}"),
            Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock),
        }
    }

    /// Runs only inside [`proxies_from_the_environment_are_ignored`].
    #[tokio::test]
    async fn sender_in_a_proxied_environment() {
        if std::env::var(PROXY_PORT_VAR).is_err() {
            return;
        }
        let strict =
            HttpSender::new(EndpointPolicy::default(), Duration::from_secs(2)).expect("client");
        // A name that resolves to loopback: with a proxy, the proxy would be asked
        // to fetch it (and resolve it itself); without, the resolver refuses it.
        let sent = strict.send(request("http://localhost:9/hook")).await;
        assert_eq!(sent.status, None);
        let error = sent.error.unwrap_or_default();
        assert!(error.contains("refused"), "{error}");
        // Even with private addresses allowed, the proxy is not used: the
        // connection goes straight to the (closed) target port.
        let open = HttpSender::new(
            EndpointPolicy {
                allow_private: true,
            },
            Duration::from_secs(2),
        )
        .expect("client");
        let sent = open.send(request("http://127.0.0.1:9/hook")).await;
        assert_eq!(sent.status, None, "{:?}", sent.error);
    }
}
