//! The account front door before routing: cross-site write protection for every
//! `/account…` request, and for `/account/apps/{platformId}…` the session, the
//! app's ownership and the `mode`, checked once here for every route.
//!
//! Operations that also exist under `/api` (customers, dashboard, events, CSV,
//! webhooks, products) are not declared twice: the request is
//! rewritten onto the `/api` route with an [`AppScope`] attached, and the key
//! extractors (`auth.rs`) take the tenant from it. `spec.rs` publishes those
//! account paths with the session cookie as their security scheme.

use dream_core::{AccountId, Mode, Platform, PlatformId, SignedInAccount, Tenant};
use poem::{
    http::{header, uri::PathAndQuery, Method, Uri},
    Endpoint, IntoResponse, Request, Response,
};

use crate::{error::ApiError, state::AppState};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "dream_session";

/// The first path segment after `/api/` of the operations both doors share.
/// (`tiers` is not among them: `/account/apps/{id}/tiers` also replaces them, and
/// one path of the spec cannot come from two places.)
pub(crate) const SHARED_PREFIXES: [&str; 6] = [
    "customers",
    "dashboard",
    "events",
    "webhooks",
    "products",
    "audit",
];

/// A request on one of the signed-in account's apps, in one mode.
#[derive(Debug, Clone)]
pub struct AppScope {
    /// Who is signed in.
    pub signed_in: SignedInAccount,
    /// The app (owned by the account, not deleted).
    pub app: Platform,
    /// The app's tenant in the requested mode.
    pub tenant: Tenant,
}

impl AppScope {
    /// The signed-in account's id.
    pub fn account(&self) -> &AccountId {
        &self.signed_in.account.id
    }
}

/// The session token in the request's cookies, if any.
pub fn session_token(req: &Request) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
}

/// `Set-Cookie` for a new session: `HttpOnly` (no script reads it), `SameSite=Lax`
/// (not sent on cross-site subrequests), `Secure` when the public URL is https.
pub fn session_cookie(state: &AppState, token: &str) -> String {
    let max_age = state
        .dream
        .account_settings()
        .sessions
        .absolute
        .num_seconds();
    format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
        secure_flag(state)
    )
}

/// `Set-Cookie` that makes the browser forget the session cookie.
pub fn cleared_cookie(state: &AppState) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{}",
        secure_flag(state)
    )
}

fn secure_flag(state: &AppState) -> &'static str {
    let https = state
        .account_door
        .public_url
        .as_deref()
        .is_some_and(|url| url.starts_with("https://"));
    if https {
        "; Secure"
    } else {
        ""
    }
}

/// `scheme://host[:port]` of a URL, lower-cased; `None` for anything else.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty() && !scheme.is_empty())
        .then(|| format!("{scheme}://{authority}").to_ascii_lowercase())
}

/// Whether a state-changing request comes from an origin allowed to use the
/// cookie: this server's (`DREAM_PUBLIC_URL`, else the request's `Host`) or a
/// trusted one. Browsers send `Origin` on every cross-site POST, so a request
/// with neither `Origin` nor `Referer` is refused too; scripts send `Origin`.
pub fn from_allowed_origin(state: &AppState, req: &Request) -> bool {
    let header_text = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let presented = match header_text(header::ORIGIN) {
        Some(origin) => origin_of(origin),
        None => header_text(header::REFERER).and_then(origin_of),
    };
    let Some(presented) = presented else {
        return false;
    };
    let own = match &state.account_door.public_url {
        Some(url) => origin_of(url),
        // No public URL: the host the client addressed, with either scheme (a TLS
        // proxy in front changes the scheme, not the host).
        None => header_text(header::HOST).and_then(|host| {
            let host = host.to_ascii_lowercase();
            let authority = presented.split_once("://").map(|(_, a)| a)?;
            (authority == host).then(|| presented.clone())
        }),
    };
    own.as_deref() == Some(presented.as_str())
        || state
            .account_door
            .trusted_origins
            .iter()
            .filter_map(|o| origin_of(o))
            .any(|o| o == presented)
}

/// An absolute URL of this server for `path`: `DREAM_PUBLIC_URL` when set, else
/// the scheme and `Host` the request came with (for links and redirects back).
pub fn own_url(state: &AppState, req: &Request, path: &str) -> String {
    let base = match &state.account_door.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("127.0.0.1");
            let scheme = req.uri().scheme_str().unwrap_or("http");
            format!("{scheme}://{host}")
        }
    };
    format!("{base}{path}")
}

/// Splits `/account/apps/{platformId}[/rest]` into the raw id and the rest.
fn app_path(path: &str) -> Option<(&str, Option<&str>)> {
    let tail = path.strip_prefix("/account/apps/")?;
    match tail.split_once('/') {
        Some((id, rest)) => Some((id, Some(rest))),
        None => Some((tail, None)),
    }
}

/// The `mode` query parameter (default test).
fn requested_mode(req: &Request) -> Result<Mode, ApiError> {
    let query = req.uri().query().unwrap_or_default();
    let mut mode = Mode::Test;
    for pair in query.split('&') {
        if let Some(value) = pair.strip_prefix("mode=") {
            mode = value
                .parse()
                .map_err(|()| ApiError::invalid("mode", "mode must be `test` or `live`"))?;
        }
    }
    Ok(mode)
}

/// Whether `/api/{rest}` is an operation both doors share.
fn shared_operation(method: &Method, rest: &str) -> bool {
    let first = rest.split('/').next().unwrap_or_default();
    SHARED_PREFIXES.contains(&first)
        && crate::spec::operation_id(method.as_str(), &format!("/api/{rest}")).is_some()
}

async fn app_scope(state: &AppState, req: &Request, raw_id: &str) -> Result<AppScope, ApiError> {
    let token = session_token(req).ok_or_else(ApiError::unauthenticated)?;
    let signed_in = state.dream.authenticate_session(&token).await?;
    // A malformed id is a missing app: the same 404 as another account's.
    let id = PlatformId::parse(raw_id).ok_or_else(|| ApiError::not_found("platform"))?;
    let app = state.dream.owned_app(&signed_in.account.id, &id).await?;
    let tenant = Tenant::new(id, requested_mode(req)?);
    Ok(AppScope {
        signed_in,
        app,
        tenant,
    })
}

/// The layer: see the module doc.
pub async fn account_scope<E: Endpoint>(ep: E, req: Request) -> poem::Result<Response> {
    let path = req.uri().path();
    if path != "/account" && !path.starts_with("/account/") {
        return ep.call(req).await.map(IntoResponse::into_response);
    }
    // Boxed: the account checks' state stays out of every other request's future.
    Box::pin(account_request(ep, req)).await
}

async fn account_request<E: Endpoint>(ep: E, mut req: Request) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    let state = req
        .data::<AppState>()
        .cloned()
        .ok_or_else(ApiError::internal)?;
    // Writes the API has; a method a path does not have goes on to routing (405).
    let write = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && crate::spec::operation_id(req.method().as_str(), &path).is_some();
    if write && !from_allowed_origin(&state, &req) {
        return Err(ApiError::foreign_origin().into());
    }
    if let Some((raw_id, rest)) = app_path(&path) {
        let scope = app_scope(&state, &req, raw_id).await?;
        req.extensions_mut().insert(scope);
        if let Some(rest) = rest.filter(|rest| shared_operation(req.method(), rest)) {
            let target = match req.uri().query() {
                Some(query) => format!("/api/{rest}?{query}"),
                None => format!("/api/{rest}"),
            };
            let mut parts = req.uri().clone().into_parts();
            parts.path_and_query =
                Some(PathAndQuery::try_from(target).map_err(|_| ApiError::not_found("endpoint"))?);
            *req.uri_mut() = Uri::from_parts(parts).map_err(|_| ApiError::not_found("endpoint"))?;
        }
    }
    ep.call(req).await.map(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::{app_path, origin_of};

    #[test]
    fn origins_are_scheme_and_authority() {
        assert_eq!(
            origin_of("https://Dash.Example.com:8443/path?q#f").as_deref(),
            Some("https://dash.example.com:8443")
        );
        assert_eq!(origin_of("null"), None);
        assert_eq!(origin_of("https://"), None);
    }

    #[test]
    fn app_paths_split() {
        assert_eq!(app_path("/account/apps/plt_1"), Some(("plt_1", None)));
        assert_eq!(
            app_path("/account/apps/plt_1/customers/usr_2"),
            Some(("plt_1", Some("customers/usr_2")))
        );
        assert_eq!(app_path("/account/apps"), None);
    }
}
