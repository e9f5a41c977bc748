//! Black-box tests of the dream server over real HTTP on loopback.

mod private_servers;
mod support;

mod accounts;
mod accounts_processes;
mod audit;
mod backup;
mod billing;
mod billing_secrets;
mod caps;
mod clerk_webhooks;
mod cli;
mod concurrency;
mod cors;
mod customer_keys;
mod dashboard;
mod entitlements;
mod errors;
mod faults;
mod hashing;
mod idempotency;
mod isolation;
mod key_roll;
mod keys;
mod meters;
mod metrics;
mod outbound_webhooks;
mod processes;
mod ready;
mod seed_flow;
mod sign_in;
mod spec;
mod stripe_direct_webhooks;
mod stripe_webhooks;
mod telemetry;
mod tls;
