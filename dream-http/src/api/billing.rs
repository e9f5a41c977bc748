//! Billing routes for a secret key: subscription checkout, portal, products and carts.

use dream_core::CheckoutUrls;
use poem::web::Data;
use poem_openapi::{param::Header, payload::Json, OpenApi};

use super::ApiTags;
use crate::{
    auth::{AnyKeyAuth, SecretKeyAuth},
    body::{JsonBody, OptionalJsonBody},
    cors::PublicResponse,
    dto::{
        CartCheckoutRequest, CartCheckoutResponse, CheckoutResponse, CreateCheckoutRequest,
        PortalRequest, PortalResponse, ProductDto, ProductList,
    },
    error::{ApiError, ApiResult},
    header_token::{IdempotencyKeyHeader, UserRef},
    state::{AppState, BillingSettings},
};

/// Checkout, portal, products and carts on the developer's Stripe account.
pub struct BillingApi;

/// The body's URLs, else the server's defaults, else a 400 naming the field.
pub(super) fn checkout_urls(
    settings: &BillingSettings,
    success_url: Option<String>,
    cancel_url: Option<String>,
) -> Result<CheckoutUrls, ApiError> {
    let pick = |given: Option<String>, default: &Option<String>, field: &str, var: &str| {
        given.or_else(|| default.clone()).ok_or_else(|| {
            ApiError::invalid(
                field,
                format!(
                    "{field} is required: send it, or start the server with {var} as the default"
                ),
            )
        })
    };
    Ok(CheckoutUrls {
        success_url: pick(
            success_url,
            &settings.checkout_success_url,
            "/successUrl",
            "DREAM_CHECKOUT_SUCCESS_URL",
        )?,
        cancel_url: pick(
            cancel_url,
            &settings.checkout_cancel_url,
            "/cancelUrl",
            "DREAM_CHECKOUT_CANCEL_URL",
        )?,
    })
}

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Billing")]
impl BillingApi {
    /// Subscription checkout: a Stripe Checkout URL for the customer to subscribe to a tier.
    ///
    /// The Stripe customer is created on first use and reused. Our customer and
    /// platform ids ride in the session's and the subscription's metadata, so the
    /// Stripe webhook moves the customer to the tier once they pay.
    #[oai(
        path = "/create-checkout",
        method = "post",
        operation_id = "createCheckout"
    )]
    async fn create_checkout(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// Our customer id (`usr_…`) or your external id.
        #[oai(name = "X-User-Id")]
        user_id: Header<UserRef>,
        /// Makes a retry safe: same key and body → same session.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKeyHeader>>,
        body: JsonBody<CreateCheckoutRequest>,
    ) -> ApiResult<Json<CheckoutResponse>> {
        let req = body.0;
        let urls = checkout_urls(&state.billing, req.success_url, req.cancel_url)?;
        let session = state
            .dream
            .subscription_checkout(auth.tenant(), &user_id.0 .0, &req.tier, &urls)
            .await?;
        Ok(Json(CheckoutResponse {
            url: session.url,
            session_id: session.id,
            expires_at: session.expires_at,
        }))
    }

    /// Billing portal: a Stripe URL where the customer manages or cancels their subscription.
    #[oai(
        path = "/customer-portal",
        method = "post",
        operation_id = "createCustomerPortal"
    )]
    async fn customer_portal(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// Our customer id (`usr_…`) or your external id.
        #[oai(name = "X-User-Id")]
        user_id: Header<UserRef>,
        /// Makes a retry safe: same key and body → same session.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKeyHeader>>,
        body: OptionalJsonBody<PortalRequest>,
    ) -> ApiResult<Json<PortalResponse>> {
        let session = state
            .dream
            .portal_session(auth.tenant(), &user_id.0 .0, body.0.return_url.as_deref())
            .await?;
        Ok(Json(PortalResponse { url: session.url }))
    }

    /// One-off products on offer, with stock left (`soldOut` when none). A publishable key is enough.
    ///
    /// Callable from a browser on one of the platform's `allowedOrigins` (CORS).
    #[oai(path = "/products", method = "get", operation_id = "listProducts")]
    async fn products(
        &self,
        state: Data<&AppState>,
        auth: AnyKeyAuth,
        /// Sent by browsers; answered with `Access-Control-Allow-Origin` when allowed.
        #[oai(name = "Origin")]
        origin: Header<Option<String>>,
    ) -> ApiResult<PublicResponse<ProductList>> {
        let products = state.dream.products(auth.tenant()).await?;
        let list = ProductList {
            products: products.into_iter().map(ProductDto::from).collect(),
        };
        Ok(PublicResponse::new(&state, auth.tenant(), origin.0, list).await)
    }

    /// Cart checkout: a Stripe Checkout URL for one-off products.
    ///
    /// The units are reserved when the session is created, so two buyers can never
    /// both get the last one; a sold-out or over-quantity cart is refused with
    /// `sold_out` and nothing is held. Payment commits the reservation; an expired
    /// session releases it.
    #[oai(
        path = "/cart/checkout",
        method = "post",
        operation_id = "cartCheckout"
    )]
    async fn cart_checkout(
        &self,
        state: Data<&AppState>,
        auth: SecretKeyAuth,
        /// Optional: the buyer as one of your customers (`usr_…` or your external id).
        #[oai(name = "X-User-Id")]
        user_id: Header<Option<UserRef>>,
        /// Makes a retry safe: same key and body → same session, one reservation.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<IdempotencyKeyHeader>>,
        body: JsonBody<CartCheckoutRequest>,
    ) -> ApiResult<Json<CartCheckoutResponse>> {
        let req = body.0;
        let urls = checkout_urls(
            &state.billing,
            req.success_url.clone(),
            req.cancel_url.clone(),
        )?;
        let cart = req.into_cart(urls, user_id.0.map(|u| u.0));
        let checkout = state.dream.cart_checkout(auth.tenant(), &cart).await?;
        Ok(Json(checkout.into()))
    }
}
