//! Stripe connections, onboarding states and customer links in memory.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    ports::BillingStore, BillingConnection, CustomerId, OAuthState, StoreError, StripeCustomerLink,
    StripeLink, Tenant,
};

use super::{lock, MemoryStore};

/// Connections, onboarding states and customer links, behind one mutex.
#[derive(Debug, Default)]
pub(super) struct Billing {
    connections: HashMap<Tenant, BillingConnection>,
    oauth_states: HashMap<[u8; 32], OAuthState>,
    /// (tenant, customer, account) → `cus_…`.
    customer_links: BTreeMap<(Tenant, CustomerId, String), String>,
}

#[async_trait]
impl BillingStore for MemoryStore {
    async fn put_billing_connection(
        &self,
        connection: &BillingConnection,
    ) -> Result<(), StoreError> {
        lock(&self.billing)
            .connections
            .insert(connection.tenant.clone(), connection.clone());
        Ok(())
    }

    async fn get_billing_connection(
        &self,
        tenant: &Tenant,
    ) -> Result<Option<BillingConnection>, StoreError> {
        Ok(lock(&self.billing).connections.get(tenant).cloned())
    }

    async fn delete_billing_connection(&self, tenant: &Tenant) -> Result<bool, StoreError> {
        Ok(lock(&self.billing).connections.remove(tenant).is_some())
    }

    async fn tenants_for_stripe_account(
        &self,
        account_id: &str,
    ) -> Result<Vec<Tenant>, StoreError> {
        let billing = lock(&self.billing);
        let mut tenants: Vec<Tenant> = billing
            .connections
            .values()
            .filter(|c| matches!(&c.link, StripeLink::Connect { account_id: a } if a == account_id))
            .map(|c| c.tenant.clone())
            .collect();
        tenants.sort_by(|a, b| {
            (a.platform.as_str(), a.mode.as_str()).cmp(&(b.platform.as_str(), b.mode.as_str()))
        });
        Ok(tenants)
    }

    async fn insert_oauth_state(&self, state: &OAuthState) -> Result<(), StoreError> {
        let mut billing = lock(&self.billing);
        if billing.oauth_states.contains_key(&state.digest) {
            return Err(StoreError::Conflict("oauth state exists"));
        }
        billing.oauth_states.insert(state.digest, state.clone());
        Ok(())
    }

    async fn take_oauth_state(
        &self,
        digest: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<OAuthState>, StoreError> {
        Ok(lock(&self.billing)
            .oauth_states
            .remove(digest)
            .filter(|s| now < s.expires_at))
    }

    async fn delete_expired_oauth_states(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let mut billing = lock(&self.billing);
        let expired: Vec<[u8; 32]> = billing
            .oauth_states
            .values()
            .filter(|s| s.expires_at <= now)
            .map(|s| s.digest)
            .take(limit)
            .collect();
        for digest in &expired {
            billing.oauth_states.remove(digest);
        }
        Ok(expired.len() as u64)
    }

    async fn link_stripe_customer(&self, link: &StripeCustomerLink) -> Result<String, StoreError> {
        Ok(lock(&self.billing)
            .customer_links
            .entry((
                link.tenant.clone(),
                link.customer.clone(),
                link.account.clone(),
            ))
            .or_insert_with(|| link.stripe_customer_id.clone())
            .clone())
    }

    async fn get_stripe_customer(
        &self,
        tenant: &Tenant,
        customer: &CustomerId,
        account: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(lock(&self.billing)
            .customer_links
            .get(&(tenant.clone(), customer.clone(), account.to_owned()))
            .cloned())
    }

    async fn find_customer_by_stripe_id(
        &self,
        tenant: &Tenant,
        account: &str,
        stripe_customer_id: &str,
    ) -> Result<Option<CustomerId>, StoreError> {
        Ok(lock(&self.billing)
            .customer_links
            .iter()
            .find(|((t, _, a), cus)| t == tenant && a == account && *cus == stripe_customer_id)
            .map(|((_, customer, _), _)| customer.clone()))
    }
}
