//! CORS for the publishable-key endpoints, and for nothing else.
//!
//! `GET /api/tiers` and `GET /api/products` may be called from a browser with a
//! `pk_…` key. A preflight carries no key, so it cannot tell which platform is
//! asking: it is answered for any origin, and permits only `GET` with an
//! `Authorization` header, which reveals nothing. The protection is on the actual
//! response: it carries `Access-Control-Allow-Origin` only when the key's
//! platform lists the request's `Origin` ([`PublicResponse`]), so a page on any
//! other origin cannot read it. Every other route (all secret-key and admin
//! routes) never answers a preflight and never sends CORS headers, so a browser
//! can never use them cross-origin.

use dream_core::Tenant;
use poem::{
    http::{header, Method, StatusCode},
    Endpoint, IntoResponse, Request, Response,
};
use poem_openapi::{payload::Json, types::ToJSON, ApiResponse};

use crate::state::AppState;

/// The routes a browser may read cross-origin (with a publishable key).
const PUBLIC_PATHS: [&str; 2] = ["/api/tiers", "/api/products"];

/// The end-user sign-in routes: called with `POST` and a JSON body from a
/// developer's frontend with the app's publishable key. Their responses (errors
/// included, so a page can tell a wrong password from a network failure) carry
/// `Access-Control-Allow-Origin` when the key's platform allows the `Origin`.
const SIGN_IN_PATHS: [&str; 3] = ["/api/auth/login", "/api/auth/refresh", "/api/auth/logout"];

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE_SECS: &str = "600";

/// A publishable-key response, with the CORS headers its platform allows.
#[derive(ApiResponse)]
pub enum PublicResponse<T: ToJSON> {
    /// The data.
    #[oai(status = 200)]
    Ok(
        Json<T>,
        /// The request's `Origin`, echoed when the platform allows it
        /// (`PATCH /admin/platforms/{platform_id}` `allowedOrigins`); absent otherwise.
        #[oai(header = "Access-Control-Allow-Origin")]
        Option<String>,
        /// Always `Origin`: the answer depends on it.
        #[oai(header = "Vary")]
        String,
    ),
}

impl<T: ToJSON> PublicResponse<T> {
    /// `body` for `tenant`'s platform, readable by `origin` if the platform allows it.
    pub async fn new(state: &AppState, tenant: &Tenant, origin: Option<String>, body: T) -> Self {
        let allowed = match origin {
            Some(origin) => match state.dream.allows_origin(&tenant.platform, &origin).await {
                Ok(true) => Some(origin),
                Ok(false) => None,
                // Fail closed: without the list, no origin is allowed.
                Err(err) => {
                    tracing::warn!(error = %err, "could not read the platform's allowed origins");
                    None
                }
            },
            None => None,
        };
        PublicResponse::Ok(Json(body), allowed, "Origin".to_owned())
    }
}

/// Answers CORS preflights of the public routes; lets everything else through
/// untouched (a preflight of any other route gets that route's usual refusal,
/// without CORS headers). Responses of the sign-in routes get the platform's
/// CORS headers here, errors included.
pub async fn preflight<E: Endpoint>(ep: E, req: Request) -> poem::Result<Response> {
    let path = req.uri().path();
    let sign_in = SIGN_IN_PATHS.contains(&path);
    if req.method() == Method::OPTIONS
        && (PUBLIC_PATHS.contains(&path) || sign_in)
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        if let Some(origin) = req.headers().get(header::ORIGIN).cloned() {
            let (methods, headers) = if sign_in {
                ("POST", "Authorization, Content-Type")
            } else {
                ("GET", "Authorization")
            };
            return Ok(Response::builder()
                .status(StatusCode::NO_CONTENT)
                .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin)
                .header(header::ACCESS_CONTROL_ALLOW_METHODS, methods)
                .header(header::ACCESS_CONTROL_ALLOW_HEADERS, headers)
                .header(header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE_SECS)
                .header(header::VARY, "Origin")
                .finish());
        }
    }
    if !(sign_in && req.method() == Method::POST) {
        return Ok(ep.call(req).await?.into_response());
    }
    // Boxed: the sign-in path's state stays out of every other request's future.
    Box::pin(sign_in_request(ep, req)).await
}

/// A sign-in `POST`: the answer, errors included, with the platform's CORS headers.
async fn sign_in_request<E: Endpoint>(ep: E, req: Request) -> poem::Result<Response> {
    let allowed = sign_in_origin(&req).await;
    let path = req.uri().path().to_owned();
    // Errors become their (JSON) responses here, so that they carry the headers too.
    let mut response = match ep.call(req).await {
        Ok(response) => response.into_response(),
        Err(err) => crate::middleware::error_response(err, &path),
    };
    response
        .headers_mut()
        .insert(header::VARY, header::HeaderValue::from_static("Origin"));
    if let Some(origin) = allowed {
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    Ok(response)
}

/// The request's `Origin` when the platform of its publishable key allows it.
async fn sign_in_origin(req: &Request) -> Option<header::HeaderValue> {
    let origin = req.headers().get(header::ORIGIN)?.clone();
    let token = req
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    let state = req.data::<AppState>()?;
    let (key, _) = state.dream.authenticate_any(token).await.ok()?;
    let allowed = state
        .dream
        .allows_origin(&key.tenant.platform, origin.to_str().ok()?)
        .await
        .unwrap_or(false);
    allowed.then_some(origin)
}
