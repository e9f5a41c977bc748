//! The loop that delivers developer webhooks from this process, fairly: every
//! send is its own task, so a slow endpoint holds up only its own deliveries.
//!
//! Each turn claims as many due deliveries as there are free send slots
//! ([`MAX_IN_FLIGHT`]) and starts each as a task, at most
//! [`MAX_IN_FLIGHT_PER_ENDPOINT`] at a time per endpoint. A delivery claimed for
//! an endpoint that is already at its cap is left alone: its lease ends and it is
//! claimed again later, so an endpoint that answers slowly (or never: a tarpit)
//! slows its own queue, never another tenant's. Store errors are logged and
//! retried; an attempt cut off by shutdown is retried by any process once its
//! lease ends. Hourly it also applies the retention of the delivery log and of
//! the event log.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use dream_core::{
    ports::OutboundSender, CoreError, DeliveryNext, DeliveryPass, DeliveryPolicy, Dream,
    WebhookEndpointId,
};
use tokio::task::JoinSet;

/// Sends running at once from this process.
pub const MAX_IN_FLIGHT: usize = 64;
/// Sends running at once to one endpoint (Svix and Stripe throttle per endpoint
/// too): a tarpit can hold at most this many slots.
pub const MAX_IN_FLIGHT_PER_ENDPOINT: usize = 4;
/// How often finished deliveries past their retention are purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

type Sent = (WebhookEndpointId, Result<(DeliveryNext, bool), CoreError>);

/// Delivers until the task is dropped (which aborts the sends in flight; their
/// leases end and any process retries them).
pub async fn run(
    dream: Dream,
    sender: Arc<dyn OutboundSender>,
    policy: DeliveryPolicy,
    poll: Duration,
    event_retention: chrono::Duration,
) {
    let mut sends: JoinSet<Sent> = JoinSet::new();
    let mut per_endpoint: HashMap<WebhookEndpointId, usize> = HashMap::new();
    let mut next_purge = Instant::now();
    loop {
        if Instant::now() >= next_purge {
            next_purge = Instant::now() + PURGE_EVERY;
            purge(&dream, &policy, event_retention).await;
        }
        while let Some(done) = sends.try_join_next() {
            finished(done, &mut per_endpoint);
        }
        let free = MAX_IN_FLIGHT.saturating_sub(sends.len());
        let mut claimed = 0;
        if free > 0 {
            match dream.claim_due_webhooks(&policy, free).await {
                Ok(jobs) => {
                    claimed = jobs.len();
                    for job in jobs {
                        let endpoint = job.endpoint.id.clone();
                        let running = per_endpoint.entry(endpoint.clone()).or_default();
                        if *running >= MAX_IN_FLIGHT_PER_ENDPOINT {
                            // Left to its lease: claimed again once it ends.
                            continue;
                        }
                        *running += 1;
                        let (dream, sender, policy) =
                            (dream.clone(), sender.clone(), policy.clone());
                        sends.spawn(async move {
                            let result = dream.deliver_webhook(sender.as_ref(), &policy, job).await;
                            (endpoint, result)
                        });
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "could not claim webhook deliveries; retrying")
                }
            }
        }
        if claimed > 0 && claimed == free {
            // There may be more due: claim again at once.
            continue;
        }
        tokio::select! {
            Some(done) = sends.join_next(), if !sends.is_empty() => finished(done, &mut per_endpoint),
            () = tokio::time::sleep(poll) => {}
        }
    }
}

/// Frees the send's endpoint slot and counts what it did.
fn finished(
    done: Result<Sent, tokio::task::JoinError>,
    per_endpoint: &mut HashMap<WebhookEndpointId, usize>,
) {
    let Ok((endpoint, result)) = done else {
        // A send task panicked or was aborted: its lease ends and it is retried.
        tracing::error!("a webhook send task failed; the delivery is retried when its lease ends");
        return;
    };
    if let Some(running) = per_endpoint.get_mut(&endpoint) {
        *running = running.saturating_sub(1);
        if *running == 0 {
            per_endpoint.remove(&endpoint);
        }
    }
    match result {
        Ok((next, disabled)) => {
            let mut pass = DeliveryPass::default();
            pass.count(next, disabled);
            dream_http::record_delivery_pass(&pass);
        }
        Err(err) => {
            tracing::warn!(error = %err, "could not record a webhook attempt; it is retried when its lease ends")
        }
    }
}

/// The log's retention: finished deliveries first, then the events no delivery
/// refers to any more.
async fn purge(dream: &Dream, policy: &DeliveryPolicy, event_retention: chrono::Duration) {
    match dream.purge_webhook_log(policy).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(purged = n, "old webhook deliveries purged"),
        Err(err) => tracing::warn!(error = %err, "could not purge the webhook delivery log"),
    }
    match dream.purge_event_log(event_retention).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(purged = n, "old events purged"),
        Err(err) => tracing::warn!(error = %err, "could not purge the event log"),
    }
}
