//! # dream-dashboard
//!
//! The developer dashboard of dream: HTML rendered by the server over the same
//! `dream_core::Dream` services the HTTP API calls (never a second
//! implementation of a rule), with every template and asset compiled into the
//! binary. Pages work without JavaScript; a small script adds copy buttons,
//! confirmations and progress on submit.
#![warn(missing_docs)]

mod access;
mod assets;
mod chart;
mod chrome;
mod error;
mod format;
mod pages;
mod routes;

use poem::{web::Html, Endpoint, EndpointExt, Response};

/// The dashboard over `state`'s services, to be nested at `/dashboard`.
pub fn dashboard(state: dream_http::AppState) -> impl Endpoint {
    routes::routes().data(state)
}

/// An HTML response with the headers every page sends: no caching of pages that
/// show account data, no framing, and a policy that allows only our own assets.
pub(crate) fn html(body: String) -> Response {
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .header("Cache-Control", "no-store")
        .header("X-Frame-Options", "DENY")
        .header("Referrer-Policy", "same-origin")
        .header("X-Content-Type-Options", "nosniff")
        .header(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        )
        .body(Html(body).0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_routes_build() {
        // poem checks route paths when they are added, at run time.
        let _ = super::routes::routes();
    }
}
