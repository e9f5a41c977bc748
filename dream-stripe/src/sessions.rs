//! Hosted sessions: Checkout and the billing portal.

use chrono::DateTime;
use dream_core::{
    BillingError, BillingErrorKind, CheckoutKind, CheckoutSession, CheckoutSpec, PortalSession,
    PortalSpec,
};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionPaymentIntentData,
    CreateCheckoutSessionSubscriptionData,
};
use stripe_client_core::StripeRequest;
use stripe_shared::CheckoutSessionMode;

use crate::{clients::Target, products::stripe_metadata};

/// `POST /v1/checkout/sessions`. The metadata goes on the session and, so that later
/// subscription or payment events route too, on the subscription (`subscription_data`)
/// or payment intent (`payment_intent_data`). `customer_email` is sent only without a
/// customer (Stripe refuses both).
pub(crate) async fn create_checkout_session(
    target: &Target,
    spec: &CheckoutSpec,
) -> Result<CheckoutSession, BillingError> {
    let lines: Vec<CreateCheckoutSessionLineItems> = spec
        .lines
        .iter()
        .map(|line| {
            let mut item = CreateCheckoutSessionLineItems::new();
            item.price = Some(line.price_id.clone());
            item.quantity = Some(line.quantity);
            item
        })
        .collect();
    let mut request = CreateCheckoutSession::new()
        .line_items(lines)
        .success_url(spec.success_url.clone())
        .cancel_url(spec.cancel_url.clone());
    match &spec.customer {
        Some(customer) => request = request.customer(customer.clone()),
        None => {
            if let Some(email) = &spec.customer_email {
                request = request.customer_email(email.clone());
            }
        }
    }
    if let Some(reference) = &spec.client_reference_id {
        request = request.client_reference_id(reference.clone());
    }
    if let Some(expires_at) = spec.expires_at {
        request = request.expires_at(expires_at.timestamp());
    }
    let metadata = (!spec.metadata.is_empty()).then(|| stripe_metadata(&spec.metadata));
    request = match spec.kind {
        CheckoutKind::Subscription => {
            let request = request.mode(CheckoutSessionMode::Subscription);
            match &metadata {
                Some(metadata) => {
                    let mut data = CreateCheckoutSessionSubscriptionData::new();
                    data.metadata = Some(metadata.clone());
                    request.subscription_data(data)
                }
                None => request,
            }
        }
        CheckoutKind::Payment => {
            let request = request.mode(CheckoutSessionMode::Payment);
            match &metadata {
                Some(metadata) => {
                    let mut data = CreateCheckoutSessionPaymentIntentData::new();
                    data.metadata = Some(metadata.clone());
                    request.payment_intent_data(data)
                }
                None => request,
            }
        }
    };
    if let Some(metadata) = metadata {
        request = request.metadata(metadata);
    }
    let session = target
        .send(request.customize(), &spec.idempotency_key)
        .await?;
    let url = session.url.ok_or_else(|| {
        BillingError::new(
            BillingErrorKind::Unavailable,
            "Stripe created a checkout session without a URL",
        )
    })?;
    let expires_at = DateTime::from_timestamp(session.expires_at, 0).ok_or_else(|| {
        BillingError::new(
            BillingErrorKind::Unavailable,
            "Stripe returned a checkout session with an invalid expires_at",
        )
    })?;
    Ok(CheckoutSession {
        id: session.id.to_string(),
        url,
        expires_at,
    })
}

/// `POST /v1/billing_portal/sessions`: customer and return URL.
pub(crate) async fn create_portal_session(
    target: &Target,
    spec: &PortalSpec,
) -> Result<PortalSession, BillingError> {
    let mut request = CreateBillingPortalSession::new().customer(spec.customer.clone());
    if let Some(return_url) = &spec.return_url {
        request = request.return_url(return_url.clone());
    }
    let session = target
        .send(request.customize(), &spec.idempotency_key)
        .await?;
    Ok(PortalSession {
        id: session.id.to_string(),
        url: session.url,
    })
}
