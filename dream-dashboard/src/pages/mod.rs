//! One module per page; each gathers its data through `Dream` and renders.

pub(crate) mod auth;
pub(crate) mod customers;
pub(crate) mod events;
pub(crate) mod keys;
pub(crate) mod overview;
pub(crate) mod stripe;
#[cfg(test)]
mod tests;
pub(crate) mod tiers;
pub(crate) mod webhooks;
