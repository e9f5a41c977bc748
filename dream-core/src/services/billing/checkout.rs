//! Subscription checkout and the billing portal: the Stripe customer made once
//! per customer, dream's ids in the session metadata for the webhook.

use serde_json::json;

use super::{short_hash, tenant_key, tenant_metadata};
use crate::services::Dream;
use crate::{
    ids::random_base62_128, metadata_keys as meta, ports::BillingProvider, BillingAccount,
    BillingConnection, CheckoutKind, CheckoutLine, CheckoutSession, CheckoutSpec, CoreError,
    Customer, CustomerSpec, EventKind, PortalSession, PortalSpec, StripeCustomerLink, Tenant, Tier,
    TierConfig,
};

/// Where hosted checkout sends the buyer back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutUrls {
    /// After paying.
    pub success_url: String,
    /// After giving up.
    pub cancel_url: String,
}

impl Dream {
    /// A hosted checkout for `customer` to subscribe to `tier`, on the developer's
    /// Stripe account. The Stripe customer is created once and reused; our customer
    /// and tenant ids ride in the session's and subscription's metadata so the
    /// webhook can route them back.
    pub async fn subscription_checkout(
        &self,
        tenant: &Tenant,
        customer_ref: &str,
        tier_name: &str,
        urls: &CheckoutUrls,
    ) -> Result<CheckoutSession, CoreError> {
        validate_redirect_url("/successUrl", &urls.success_url)?;
        validate_redirect_url("/cancelUrl", &urls.cancel_url)?;
        let customer = self.customer(tenant, customer_ref).await?;
        let config = self.tier_config(tenant).await?;
        let tier = config.offered_plan(tier_name).ok_or_else(|| {
            CoreError::invalid(
                "/tier",
                format!("no recurring tier named \"{tier_name}\" is on offer"),
            )
        })?;
        if customer.plan == tier.name {
            return Err(CoreError::Conflict(format!(
                "the customer is already on \"{}\"",
                tier.name
            )));
        }
        if tier.price.is_free() {
            return Err(CoreError::NotPurchasable {
                tier: tier.name.clone(),
                reason: format!(
                    "\"{}\" is free: change the customer's plan with PATCH /api/customers/{{id}} instead",
                    tier.name
                ),
            });
        }
        let (connection, account, provider) = self.stripe_account(tenant).await?;
        let price_id = current_price(&config, tier, connection.account_key())?;
        let stripe_customer = self
            .ensure_stripe_customer(tenant, &customer, &connection, &account, provider.as_ref())
            .await?;
        let mut metadata = tenant_metadata(tenant);
        metadata.insert(meta::CUSTOMER.into(), customer.id.to_string());
        metadata.insert(meta::TIER.into(), tier.name.clone());
        let session = provider
            .create_checkout_session(
                &account,
                &CheckoutSpec {
                    kind: CheckoutKind::Subscription,
                    customer: Some(stripe_customer),
                    customer_email: None,
                    lines: vec![CheckoutLine {
                        price_id,
                        quantity: 1,
                    }],
                    success_url: urls.success_url.clone(),
                    cancel_url: urls.cancel_url.clone(),
                    client_reference_id: Some(customer.id.to_string()),
                    metadata,
                    expires_at: None,
                    idempotency_key: format!("dream-checkout-{}", random_base62_128()),
                },
            )
            .await
            .map_err(CoreError::Billing)?;
        self.emit(
            tenant,
            EventKind::CheckoutCreated,
            Some(&customer.id),
            json!({ "mode": "subscription", "sessionId": session.id, "tier": tier.name }),
        )
        .await;
        Ok(session)
    }

    /// A billing portal session where `customer` manages their subscription.
    pub async fn portal_session(
        &self,
        tenant: &Tenant,
        customer_ref: &str,
        return_url: Option<&str>,
    ) -> Result<PortalSession, CoreError> {
        if let Some(url) = return_url {
            validate_redirect_url("/returnUrl", url)?;
        }
        let customer = self.customer(tenant, customer_ref).await?;
        let (connection, account, provider) = self.stripe_account(tenant).await?;
        let stripe_customer = self
            .ensure_stripe_customer(tenant, &customer, &connection, &account, provider.as_ref())
            .await?;
        provider
            .create_portal_session(
                &account,
                &PortalSpec {
                    customer: stripe_customer,
                    return_url: return_url.map(str::to_owned),
                    idempotency_key: format!("dream-portal-{}", random_base62_128()),
                },
            )
            .await
            .map_err(CoreError::Billing)
    }

    /// The customer's Stripe customer on the connected account, created on first
    /// need. Concurrent first needs converge on one: the creation's idempotency key
    /// is our customer id, and the store keeps the first link.
    pub(super) async fn ensure_stripe_customer(
        &self,
        tenant: &Tenant,
        customer: &Customer,
        connection: &BillingConnection,
        account: &BillingAccount,
        provider: &dyn BillingProvider,
    ) -> Result<String, CoreError> {
        let account_key = connection.account_key();
        if let Some(id) = self
            .stores
            .billing
            .get_stripe_customer(tenant, &customer.id, account_key)
            .await?
        {
            return Ok(id);
        }
        let mut metadata = tenant_metadata(tenant);
        metadata.insert(meta::CUSTOMER.into(), customer.id.to_string());
        let name = [
            customer.first_name.as_deref(),
            customer.last_name.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        let created = provider
            .create_customer(
                account,
                &CustomerSpec {
                    email: customer.email.clone(),
                    name: (!name.is_empty()).then_some(name),
                    metadata,
                    idempotency_key: format!(
                        "dream-{}-{}-customer-{}",
                        tenant_key(tenant),
                        short_hash(account_key),
                        customer.id
                    ),
                },
            )
            .await
            .map_err(CoreError::Billing)?;
        Ok(self
            .stores
            .billing
            .link_stripe_customer(&StripeCustomerLink {
                tenant: tenant.clone(),
                customer: customer.id.clone(),
                account: account_key.to_owned(),
                stripe_customer_id: created,
            })
            .await?)
    }
}

/// The tier's price on `account`, or why it cannot be bought yet.
pub(super) fn current_price(
    config: &TierConfig,
    tier: &Tier,
    account: &str,
) -> Result<String, CoreError> {
    config
        .stripe_refs(&tier.name, account)
        .filter(|r| r.price_fingerprint.as_deref() == Some(crate::price_fingerprint(tier).as_str()))
        .and_then(|r| r.price_id.clone())
        .ok_or_else(|| CoreError::NotPurchasable {
            tier: tier.name.clone(),
            reason: format!(
                "\"{}\" has no Stripe price yet: run /create-products again now that Stripe is connected",
                tier.name
            ),
        })
}

/// Checks a URL Stripe will redirect a buyer to: absolute `http(s)`, with a host,
/// no whitespace, at most 2,048 characters.
///
/// ```
/// use dream_core::validate_redirect_url;
/// assert!(validate_redirect_url("/successUrl", "https://shop.example/thanks?s={CHECKOUT_SESSION_ID}").is_ok());
/// assert!(validate_redirect_url("/successUrl", "javascript:alert(1)").is_err());
/// assert!(validate_redirect_url("/successUrl", "https://").is_err());
/// ```
pub fn validate_redirect_url(field: &str, url: &str) -> Result<(), CoreError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
    let ok = url.len() <= 2048
        && host.is_some_and(|h| !h.is_empty() && !h.starts_with(':'))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(CoreError::invalid(
            field,
            "must be an absolute http(s) URL of at most 2048 characters",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_urls() {
        assert!(validate_redirect_url("/u", "http://localhost:3000/ok").is_ok());
        assert!(validate_redirect_url("/u", "ftp://x.example").is_err());
        assert!(validate_redirect_url("/u", "https://a b.example").is_err());
        assert!(validate_redirect_url("/u", "/relative").is_err());
    }
}
