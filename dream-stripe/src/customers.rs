//! Customers.

use dream_core::{BillingError, CustomerSpec};
use stripe_client_core::StripeRequest;
use stripe_core::customer::CreateCustomer;

use crate::{clients::Target, products::stripe_metadata};

/// `POST /v1/customers`: email, name and metadata (carrying our customer id).
pub(crate) async fn create_customer(
    target: &Target,
    spec: &CustomerSpec,
) -> Result<String, BillingError> {
    let mut request = CreateCustomer::new();
    if let Some(email) = &spec.email {
        request = request.email(email.clone());
    }
    if let Some(name) = &spec.name {
        request = request.name(name.clone());
    }
    if !spec.metadata.is_empty() {
        request = request.metadata(stripe_metadata(&spec.metadata));
    }
    let customer = target
        .send(request.customize(), &spec.idempotency_key)
        .await?;
    Ok(customer.id.to_string())
}
