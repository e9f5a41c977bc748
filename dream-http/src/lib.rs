//! # dream-http
//!
//! The HTTP API of dream on poem-openapi: the seeds' customer API (customers,
//! usage, tiers, dashboard), the operator's product and key endpoints, the OpenAPI
//! spec and interactive docs. Handlers are thin: extract, call `dream_core::Dream`,
//! map the result.
//!
//! ```
//! use std::sync::Arc;
//! let dream = dream_core::Dream::new(Arc::new(dream_store::MemoryStore::new()));
//! let app = dream_http::app(dream_http::AppState::new(dream, Some("admin-secret")));
//! # let _ = app;
//! ```
#![warn(missing_docs)]
// `ApiError` is the error response itself (body inline, as poem-openapi wants it):
// it is built once per failed request and moved into the response, so its size
// costs a copy on the error path only.
#![allow(clippy::result_large_err)]

mod account_scope;
mod api;
/// The session cookie and the cross-site write check of the account door, for
/// other front doors on the same session (the dashboard).
pub mod session {
    pub use crate::account_scope::{
        cleared_cookie, from_allowed_origin, own_url, session_cookie, session_token, SESSION_COOKIE,
    };
}
mod auth;
mod body;
mod cors;
mod csv;
mod dto;
mod error;
mod hashing;
mod header_token;
mod idempotency;
mod inbound;
pub mod metrics;
mod middleware;
mod readiness;
mod spec;
mod state;

use poem::{endpoint::make_sync, web::Html, Endpoint, EndpointExt, Response, Route};
use poem_openapi::{OpenApiService, ServerObject};

pub use error::{ApiError, ErrorBody, ErrorCode};
pub use hashing::BoundedPasswordHasher;
pub use metrics::{observe_store_call, record_delivery_pass};
pub use middleware::RequestId;
pub use readiness::ReadinessProbe;
pub use state::{AccountDoor, AppState, BillingSettings};

/// Entry points for the fuzz targets in `fuzz/`: request bodies parsed exactly as
/// the handlers parse them, reachable only with the `fuzzing` feature.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    /// A `POST /api/cart/checkout` body, parsed and turned into the core's cart.
    pub fn parse_cart_body(bytes: &[u8]) -> Result<dream_core::Cart, crate::ApiError> {
        let body: crate::dto::CartCheckoutRequest = crate::body::parse_bytes(bytes)?;
        let urls = dream_core::CheckoutUrls {
            success_url: body.success_url.clone().unwrap_or_default(),
            cancel_url: body.cancel_url.clone().unwrap_or_default(),
        };
        Ok(body.into_cart(urls, None))
    }
}

/// The API description the spec is generated from.
fn service() -> OpenApiService<api::AllApis, ()> {
    OpenApiService::new(api::all(), "dream", env!("CARGO_PKG_VERSION"))
        .description(
            "API keys, pricing tiers with usage limits, end customers and a dashboard for your app. \
             Authenticate with `Authorization: Bearer sk_test_…` (secret key); errors are always \
             `{error, message, code, field?, requestId}`.",
        )
        .license("MIT OR Apache-2.0")
        .server(ServerObject::new("/").description("This server (`dream serve`)."))
}

/// The OpenAPI 3 spec as pretty JSON, as committed in `openapi/openapi.json`.
pub fn openapi_json() -> String {
    spec::finish(&service().spec())
}

/// The whole HTTP application: API, `/openapi.json`, `/docs`.
pub fn app(state: AppState) -> impl Endpoint {
    let api = service();
    let raw = api.spec();
    let spec = spec::finish(&raw);
    // Swagger UI embeds the spec it is given; give it the published one.
    let docs = api.swagger_ui_html().replacen(&raw, &spec, 1);
    Route::new()
        .at(
            "/openapi.json",
            make_sync(move |_| {
                Response::builder()
                    .content_type("application/json")
                    .body(spec.clone())
            }),
        )
        .nest("/docs", make_sync(move |_| Html(docs.clone())))
        .at("/webhook/stripe", poem::post(inbound::stripe))
        .at(
            "/webhook/stripe/:platform_id",
            poem::post(inbound::stripe_direct),
        )
        .at("/webhook/clerk", poem::post(inbound::clerk))
        .nest("/", api)
        .around(cors::preflight)
        .around(account_scope::account_scope)
        .around(idempotency::idempotent)
        .around(middleware::observe)
        .data(state)
}
