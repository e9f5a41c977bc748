//! Subscription checkout and the billing portal: the Stripe customer made once
//! per customer, dream's ids in the session metadata for the webhook.

use serde_json::json;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{short_hash, tenant_key, tenant_metadata};
use crate::services::Dream;
use crate::{
    ids::hex, metadata_keys as meta, ports::BillingProvider, BillingAccount, BillingConnection,
    CheckoutKind, CheckoutLine, CheckoutSession, CheckoutSpec, CoreError, Customer, CustomerSpec,
    EventKind, PortalSession, PortalSpec, StripeCustomerLink, Tenant, Tier, TierConfig,
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
        let mut spec = CheckoutSpec {
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
            idempotency_key: String::new(),
        };
        // The customer's last change is part of the request: after a plan change
        // (a subscription that began, or ended) the same tier is a new purchase and
        // must not get the earlier, completed session back.
        let context = format!(
            "{}|{}|{}",
            connection.account_key(),
            crate::price_fingerprint(tier),
            customer.updated_at.to_rfc3339()
        );
        spec.idempotency_key = checkout_idempotency_key(
            &format!("checkout-{}-{}", tenant_key(tenant), customer.id),
            &spec,
            &context,
        );
        let session = provider
            .create_checkout_session(&account, &spec)
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
        let idempotency_key = portal_idempotency_key(
            tenant,
            &customer.id.to_string(),
            connection.account_key(),
            &stripe_customer,
            return_url,
            self.now(),
        );
        provider
            .create_portal_session(
                &account,
                &PortalSpec {
                    customer: stripe_customer,
                    return_url: return_url.map(str::to_owned),
                    idempotency_key,
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

/// The idempotency key of a checkout session: `dream-{scope}-{hash}`, where `scope`
/// names dream's ids (tenant and customer, or the cart's reservation) and the hash
/// covers everything the session is made of (kind, Stripe customer, email, lines,
/// URLs, metadata, expiry) plus `context`. A retry of the same request sends the
/// same key, so Stripe returns the session it already made instead of a second
/// one a buyer could also pay; a different request can never share a key (Stripe
/// would refuse the reuse with other parameters).
pub(super) fn checkout_idempotency_key(scope: &str, spec: &CheckoutSpec, context: &str) -> String {
    let lines: Vec<_> = spec
        .lines
        .iter()
        .map(|l| json!([l.price_id, l.quantity]))
        .collect();
    // serde_json's maps are sorted, so this text is canonical.
    let content = json!({
        "kind": match spec.kind {
            CheckoutKind::Subscription => "subscription",
            CheckoutKind::Payment => "payment",
        },
        "customer": spec.customer,
        "customerEmail": spec.customer_email,
        "lines": lines,
        "successUrl": spec.success_url,
        "cancelUrl": spec.cancel_url,
        "clientReferenceId": spec.client_reference_id,
        "metadata": spec.metadata,
        "expiresAt": spec.expires_at.map(|t| t.timestamp()),
        "context": context,
    });
    format!("dream-{scope}-{}", content_hash(&content.to_string()))
}

/// How long one portal request is answered with the same session. Portal sessions
/// are short-lived, so a later visit needs a new one; retries of one request
/// arrive within seconds.
const PORTAL_KEY_WINDOW_SECS: i64 = 60;

/// The idempotency key of a portal session: dream's ids, a hash of the account,
/// Stripe customer and return URL, and the minute (see [`PORTAL_KEY_WINDOW_SECS`]).
fn portal_idempotency_key(
    tenant: &Tenant,
    customer: &str,
    account: &str,
    stripe_customer: &str,
    return_url: Option<&str>,
    now: DateTime<Utc>,
) -> String {
    let content = json!({
        "account": account,
        "customer": stripe_customer,
        "returnUrl": return_url,
        "window": now.timestamp().div_euclid(PORTAL_KEY_WINDOW_SECS),
    });
    format!(
        "dream-portal-{}-{customer}-{}",
        tenant_key(tenant),
        content_hash(&content.to_string())
    )
}

/// 32 hex characters (128 bits) of SHA-256: collisions between different requests
/// are out of reach.
fn content_hash(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes())[..16])
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

    fn spec() -> CheckoutSpec {
        CheckoutSpec {
            kind: CheckoutKind::Payment,
            customer: None,
            customer_email: Some("a@example.com".into()),
            lines: vec![CheckoutLine {
                price_id: "price_1".into(),
                quantity: 2,
            }],
            success_url: "https://shop.example/ok".into(),
            cancel_url: "https://shop.example/no".into(),
            client_reference_id: None,
            metadata: Default::default(),
            expires_at: None,
            idempotency_key: String::new(),
        }
    }

    #[test]
    fn checkout_keys_are_the_same_for_the_same_request_only() {
        let key = checkout_idempotency_key("cart-res_1", &spec(), "ctx");
        assert_eq!(key, checkout_idempotency_key("cart-res_1", &spec(), "ctx"));
        assert!(
            key.starts_with("dream-cart-res_1-") && key.len() <= 255,
            "{key}"
        );
        let mut more = spec();
        more.lines[0].quantity = 3;
        let mut other_price = spec();
        other_price.lines[0].price_id = "price_2".into();
        let mut other_url = spec();
        other_url.success_url.push('x');
        let keys = [
            checkout_idempotency_key("cart-res_2", &spec(), "ctx"),
            checkout_idempotency_key("cart-res_1", &spec(), "ctx2"),
            checkout_idempotency_key("cart-res_1", &more, "ctx"),
            checkout_idempotency_key("cart-res_1", &other_price, "ctx"),
            checkout_idempotency_key("cart-res_1", &other_url, "ctx"),
        ];
        for other in &keys {
            assert_ne!(&key, other);
        }
    }

    #[test]
    fn portal_keys_hold_for_a_minute() {
        use chrono::TimeZone;
        let tenant = Tenant::new(crate::PlatformId::generate(), crate::Mode::Test);
        let at = |s: i64| {
            Utc.timestamp_opt(1_700_000_040 + s, 0)
                .single()
                .expect("time")
        };
        let key = |url: Option<&str>, now| {
            portal_idempotency_key(&tenant, "usr_1", "acct_1", "cus_1", url, now)
        };
        assert_eq!(key(None, at(0)), key(None, at(59)));
        assert_ne!(key(None, at(0)), key(None, at(60)));
        assert_ne!(key(None, at(0)), key(Some("https://app.example/"), at(0)));
    }

    #[test]
    fn redirect_urls() {
        assert!(validate_redirect_url("/u", "http://localhost:3000/ok").is_ok());
        assert!(validate_redirect_url("/u", "ftp://x.example").is_err());
        assert!(validate_redirect_url("/u", "https://a b.example").is_err());
        assert!(validate_redirect_url("/u", "/relative").is_err());
    }
}
