//! Readiness: whether this process can serve, as opposed to whether it runs
//! (`/health`). The binary hands in one [`ReadinessProbe`] per backing service it
//! opened (the database, Redis); `GET /ready` runs them all at once, each bounded
//! by [`AppState::readiness_timeout`](crate::AppState::readiness_timeout), so a
//! load balancer's probe never hangs on a stalled backend.
//!
//! The probes live here and not in `dream-core`'s ports on purpose: "can the
//! database be reached" is an operational question about one deployment, not
//! part of the domain a backend must implement.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use async_trait::async_trait;

/// One backing service the server needs to answer requests.
///
/// Object safe (`#[async_trait]`) because the binary picks backends at run time
/// and [`AppState`](crate::AppState) holds `Arc<dyn ReadinessProbe>`.
#[async_trait]
pub trait ReadinessProbe: Send + Sync {
    /// Short, stable name shown in `/ready` answers (`database`, `redis`). Never a
    /// URL or host: the answer is public.
    fn name(&self) -> &'static str;

    /// `Ok` when the service answers. The error text goes to the log only.
    async fn check(&self) -> Result<(), String>;
}

/// The state of one check in a `/ready` answer.
pub(crate) const OK: &str = "ok";
const UNAVAILABLE: &str = "unavailable";
const TIMED_OUT: &str = "timeout";

/// Runs every probe concurrently, each within `timeout`; returns each check's
/// state by name and whether all of them passed.
pub(crate) async fn run(
    probes: &[Arc<dyn ReadinessProbe>],
    timeout: Duration,
) -> (BTreeMap<String, String>, bool) {
    let results = futures::future::join_all(probes.iter().map(|probe| async move {
        let state = match tokio::time::timeout(timeout, probe.check()).await {
            Ok(Ok(())) => OK,
            Ok(Err(error)) => {
                tracing::warn!(check = probe.name(), %error, "readiness check failed");
                UNAVAILABLE
            }
            Err(_) => {
                tracing::warn!(
                    check = probe.name(),
                    timeout_ms = timeout.as_millis() as u64,
                    "readiness check timed out"
                );
                TIMED_OUT
            }
        };
        (probe.name().to_owned(), state.to_owned())
    }))
    .await;
    let ready = results.iter().all(|(_, state)| state == OK);
    (results.into_iter().collect(), ready)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(&'static str, Option<Result<(), String>>);

    #[async_trait]
    impl ReadinessProbe for Fixed {
        fn name(&self) -> &'static str {
            self.0
        }
        async fn check(&self) -> Result<(), String> {
            match &self.1 {
                Some(result) => result.clone(),
                None => std::future::pending().await,
            }
        }
    }

    #[tokio::test]
    async fn every_check_is_reported_and_a_hung_one_times_out() {
        let probes: Vec<Arc<dyn ReadinessProbe>> = vec![
            Arc::new(Fixed("database", Some(Ok(())))),
            Arc::new(Fixed("redis", None)),
            Arc::new(Fixed("other", Some(Err("refused".into())))),
        ];
        let (checks, ready) = run(&probes, Duration::from_millis(50)).await;
        assert!(!ready);
        assert_eq!(checks["database"], "ok");
        assert_eq!(checks["redis"], "timeout");
        assert_eq!(checks["other"], "unavailable");
        let (checks, ready) = run(&probes[..1], Duration::from_millis(50)).await;
        assert!(ready);
        assert_eq!(checks.len(), 1);
        assert!(
            run(&[], Duration::from_millis(50)).await.1,
            "no probe: ready"
        );
    }
}
