//! Products and prices.

use std::collections::HashMap;

use dream_core::{BillingError, Interval, Metadata, PriceSpec, ProductSpec, ProductUpdate};
use stripe_client_core::StripeRequest;
use stripe_product::{
    price::{CreatePrice, CreatePriceRecurring, CreatePriceRecurringInterval, UpdatePrice},
    product::{CreateProduct, UpdateProduct},
};
use stripe_types::Currency;

use crate::clients::Target;

/// `POST /v1/products`: name and metadata.
pub(crate) async fn create_product(
    target: &Target,
    spec: &ProductSpec,
) -> Result<String, BillingError> {
    let mut request = CreateProduct::new(spec.name.clone());
    if !spec.metadata.is_empty() {
        request = request.metadata(stripe_metadata(&spec.metadata));
    }
    let product = target
        .send(request.customize(), &spec.idempotency_key)
        .await?;
    Ok(product.id.to_string())
}

/// `POST /v1/products/{id}`: name, metadata (key by key) and `active`.
pub(crate) async fn update_product(
    target: &Target,
    product_id: &str,
    update: &ProductUpdate,
) -> Result<(), BillingError> {
    let mut request = UpdateProduct::new(product_id.to_owned())
        .name(update.name.clone())
        .active(update.active);
    if !update.metadata.is_empty() {
        request = request.metadata(stripe_metadata(&update.metadata));
    }
    target
        .send(request.customize(), &update.idempotency_key)
        .await?;
    Ok(())
}

/// `POST /v1/prices`: amount, currency, interval for a recurring price, metadata, and the
/// lookup key with `transfer_lookup_key=true` so it moves from the tier's previous price.
pub(crate) async fn create_price(
    target: &Target,
    spec: &PriceSpec,
) -> Result<String, BillingError> {
    let currency = spec
        .currency
        .to_ascii_lowercase()
        .parse::<Currency>()
        .unwrap_or_else(|never| match never {});
    let mut request = CreatePrice::new(currency)
        .product(spec.product_id.clone())
        .unit_amount(spec.unit_amount);
    if let Some(interval) = spec.recurring {
        request = request.recurring(CreatePriceRecurring::new(match interval {
            Interval::Month => CreatePriceRecurringInterval::Month,
            Interval::Year => CreatePriceRecurringInterval::Year,
        }));
    }
    if let Some(lookup_key) = &spec.lookup_key {
        request = request
            .lookup_key(lookup_key.clone())
            .transfer_lookup_key(true);
    }
    if !spec.metadata.is_empty() {
        request = request.metadata(stripe_metadata(&spec.metadata));
    }
    let price = target
        .send(request.customize(), &spec.idempotency_key)
        .await?;
    Ok(price.id.to_string())
}

/// `POST /v1/prices/{id}` with `active=false`.
pub(crate) async fn deactivate_price(
    target: &Target,
    price_id: &str,
    idempotency_key: &str,
) -> Result<(), BillingError> {
    let request = UpdatePrice::new(price_id.to_owned()).active(false);
    target.send(request.customize(), idempotency_key).await?;
    Ok(())
}

/// dream's metadata in async-stripe's shape.
pub(crate) fn stripe_metadata(metadata: &Metadata) -> HashMap<String, String> {
    metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
