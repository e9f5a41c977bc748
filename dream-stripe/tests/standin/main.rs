//! The real adapter against the Stripe stand-in (`dream-stripe-standin`), which checks
//! requests the way Stripe does: keys, `Stripe-Account`, idempotency, unknown parameters.

mod failures;
mod oauth;
mod products;
mod sessions;
mod support;
