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

use poem::{
    endpoint::make_sync, web::Html, Endpoint, IntoEndpoint, IntoResponse, PathPattern, Request,
    Response, Route,
};
use poem_openapi::{OpenApiService, ServerObject};

pub use error::{ApiError, ErrorBody, ErrorCode};
pub use hashing::BoundedPasswordHasher;
pub use metrics::{observe_store_call, record_delivery_pass};
pub use middleware::RequestId;
pub use readiness::ReadinessProbe;
pub use state::{AccessLog, AccountDoor, AppSettings, AppState, BillingSettings};

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
    let outside = Route::new()
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
        .at("/webhook/clerk", poem::post(inbound::clerk));
    Layers {
        inner: Dispatch {
            api: api.into_endpoint(),
            outside,
        },
        state,
    }
}

/// Whether a path belongs to a route outside the spec (see [`app`]); every
/// other path is the API's, found or not.
fn is_outside_spec(path: &str) -> bool {
    match path {
        "/openapi.json" | "/docs" | "/webhook/stripe" | "/webhook/clerk" => true,
        _ => {
            path.starts_with("/docs/")
                || path
                    .strip_prefix("/webhook/stripe/")
                    .is_some_and(|id| !id.is_empty() && !id.contains('/'))
        }
    }
}

/// The API beside the routes outside the spec, chosen by path instead of by one
/// more router level above both (which copied the path and boxed the request's
/// future once more on every call).
struct Dispatch<A, O> {
    api: A,
    outside: O,
}

impl<A: Endpoint, O: Endpoint> Endpoint for Dispatch<A, O> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let path = req.uri().path();
        // As the router level above both did: a request no route matched has the
        // empty template (its metric label); that level matched every path
        // starting with `/`, and nothing else (`OPTIONS *`).
        let nested = path.starts_with('/');
        let result = if is_outside_spec(path) {
            self.outside
                .call(req)
                .await
                .map(IntoResponse::into_response)
        } else {
            self.api.call(req).await.map(IntoResponse::into_response)
        };
        match result {
            Ok(mut resp) => {
                if nested && resp.data::<PathPattern>().is_none() {
                    resp.set_data(PathPattern("".into()));
                }
                Ok(resp)
            }
            Err(mut err) => {
                if nested && err.data::<PathPattern>().is_none() {
                    err.set_data(PathPattern("".into()));
                }
                Err(err)
            }
        }
    }
}

/// The state and the request layers, outermost first: request id, span, log and
/// metrics; idempotency; the account door; CORS. One endpoint calling them in
/// turn, where four `around`s cost a shared pointer's count and a future each.
struct Layers<E> {
    inner: E,
    state: AppState,
}

impl<E: Endpoint> Endpoint for Layers<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        req.extensions_mut().insert(self.state.clone());
        middleware::observe(Idempotent(&self.inner), req, &self.state).await
    }
}

struct Idempotent<'a, E>(&'a E);

impl<E: Endpoint> Endpoint for Idempotent<'_, E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        idempotency::idempotent(AccountScope(self.0), req).await
    }
}

struct AccountScope<'a, E>(&'a E);

impl<E: Endpoint> Endpoint for AccountScope<'_, E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        account_scope::account_scope(Preflight(self.0), req).await
    }
}

struct Preflight<'a, E>(&'a E);

impl<E: Endpoint> Endpoint for Preflight<'_, E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        cors::preflight(self.0, req).await
    }
}
