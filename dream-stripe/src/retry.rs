//! Retrying transient failures: which failures are worth another attempt, how long to
//! wait (exponential backoff with jitter), and the loop itself.
//!
//! async-stripe's own `RequestStrategy::ExponentialBackoff(n)` cannot carry a caller's
//! idempotency key (it generates a random one, or none without its `uuid` feature) and
//! sleeps whole seconds, so the transport sends every attempt as
//! `RequestStrategy::Idempotent(key)` and this module decides about the next one.

use std::{future::Future, time::Duration};

use crate::error::CallError;

/// The longest single backoff delay.
const MAX_DELAY: Duration = Duration::from_secs(8);

/// How many times, and how patiently, to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Extra attempts after the first.
    pub max_retries: u32,
    /// The delay before the first retry; doubled for each one after.
    pub base_delay: Duration,
}

impl RetryPolicy {
    /// The longest delay before retry number `retry`: `base · 2^retry`, capped.
    pub fn max_delay(&self, retry: u32) -> Duration {
        self.base_delay
            .saturating_mul(1u32 << retry.min(16))
            .min(MAX_DELAY)
    }

    /// The delay before retry number `retry` (0 for the first retry): `base · 2^retry`,
    /// capped, then jittered into its upper half so concurrent clients spread out.
    pub fn delay(&self, retry: u32) -> Duration {
        let full = self.max_delay(retry);
        let half = full / 2;
        let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let jitter = if jitter_nanos == 0 {
            0
        } else {
            random_u64() % (jitter_nanos + 1)
        };
        half + Duration::from_nanos(jitter)
    }
}

/// Whether Stripe may succeed if asked again: it says so (`Stripe-Should-Retry: true`),
/// or, when it does not say, a conflict (409, lock timeout), rate limit (429), server error
/// (5xx) or network failure. `Stripe-Should-Retry: false` always wins; other 4xx (declines,
/// invalid requests, auth) never retry.
pub(crate) fn is_retryable(error: &CallError) -> bool {
    match error {
        CallError::Api(api) => match api.should_retry {
            Some(explicit) => explicit,
            None => matches!(api.status, 409 | 429 | 500..=599),
        },
        CallError::Network { .. } => true,
        CallError::Decode(_) | CallError::Local { .. } => false,
    }
}

/// Runs `attempt` (given its 0-based number) until it succeeds, fails for good, or the
/// policy's retries are spent. `retry_safe` is false for a request that could take effect
/// twice (a POST without an idempotency key): such a request runs once.
pub(crate) async fn run<T, F, Fut>(
    policy: RetryPolicy,
    retry_safe: bool,
    mut attempt: F,
) -> Result<T, CallError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
{
    let mut number = 0;
    loop {
        match attempt(number).await {
            Ok(value) => return Ok(value),
            Err(error) if retry_safe && number < policy.max_retries && is_retryable(&error) => {
                let delay = policy.delay(number);
                tracing::debug!(attempt = number + 1, ?delay, %error, "retrying Stripe request");
                tokio::time::sleep(delay).await;
                number += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

fn random_u64() -> u64 {
    // Jitter needs no cryptographic quality; if the OS source fails, use the clock.
    getrandom::u64().unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::from(d.subsec_nanos()))
            .unwrap_or(0)
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::error::{ApiFailure, StripeErrorBody};

    fn api(status: u16, should_retry: Option<bool>) -> CallError {
        CallError::Api(Box::new(ApiFailure {
            status,
            request_id: None,
            should_retry,
            body: StripeErrorBody::default(),
        }))
    }

    #[test]
    fn classification() {
        assert!(is_retryable(&api(429, None)));
        assert!(is_retryable(&api(500, None)));
        assert!(is_retryable(&api(503, None)));
        assert!(is_retryable(&api(409, None)));
        assert!(is_retryable(&api(400, Some(true))));
        assert!(!is_retryable(&api(500, Some(false))));
        assert!(!is_retryable(&api(402, None)));
        assert!(!is_retryable(&api(400, None)));
        assert!(!is_retryable(&api(401, None)));
        assert!(!is_retryable(&api(404, None)));
        assert!(is_retryable(&CallError::Network {
            message: "reset".into()
        }));
        assert!(!is_retryable(&CallError::Decode("bad".into())));
    }

    #[test]
    fn delays_grow_with_jitter_and_a_cap() {
        let policy = RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(100),
        };
        for retry in 0..3 {
            let full = Duration::from_millis(100 * (1 << retry));
            for _ in 0..20 {
                let d = policy.delay(retry);
                assert!(d >= full / 2 && d <= full, "{d:?} for retry {retry}");
            }
        }
        assert!(policy.delay(30) <= MAX_DELAY);
        let zero = RetryPolicy {
            max_retries: 1,
            base_delay: Duration::ZERO,
        };
        assert_eq!(zero.delay(0), Duration::ZERO);
    }

    #[tokio::test]
    async fn stops_after_max_retries_and_on_final_errors() {
        let policy = RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(1),
        };
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = run(policy, true, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(api(500, None)) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        calls.store(0, Ordering::SeqCst);
        let result: Result<(), _> = run(policy, true, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(api(402, None)) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        calls.store(0, Ordering::SeqCst);
        let result: Result<(), _> = run(policy, false, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(api(500, None)) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let result = run(policy, true, |n| async move {
            if n < 2 {
                Err(api(429, None))
            } else {
                Ok(n)
            }
        })
        .await;
        assert_eq!(result.ok(), Some(2));
    }
}
