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
    DeliveryPolicy, EndpointPolicy,
};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::{config::Config, AppError};

/// Posts signed deliveries with reqwest: no redirects (a redirect could point
/// anywhere), a timeout, and, unless private addresses are allowed, a resolver
/// that drops every non-public address, so DNS cannot route a delivery into the
/// server's own network after the URL was checked.
pub struct HttpSender {
    client: reqwest::Client,
    policy: EndpointPolicy,
}

impl HttpSender {
    /// A sender with `timeout` per request.
    pub fn new(policy: EndpointPolicy, timeout: Duration) -> Result<Self, AppError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
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

    /// Addresses written literally in the URL skip DNS, so they are checked here.
    fn refused_literal(&self, url: &str) -> Option<String> {
        if self.policy.allow_private {
            return None;
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
        if let Some(error) = self.refused_literal(&request.url) {
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
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
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
        // A name that resolves to loopback: refused by the resolver, not sent.
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
        assert!(literal
            .error
            .unwrap_or_default()
            .contains("not a public address"));

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
}
