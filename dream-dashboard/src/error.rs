//! What a page can fail with, and the page each failure shows.

use askama::Template;
use dream_core::CoreError;
use poem::{error::ResponseError, http::StatusCode, IntoResponse, Response};

use crate::chrome::Chrome;

/// A page that could not be built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PageError {
    /// No such object, or one the account may not see (the same page for both).
    #[error("not found")]
    NotFound,
    /// Not signed in: go to the sign-in page, then back.
    #[error("sign-in required")]
    SignInRequired { back_to: String },
    /// A write from another site's page (cross-site request forgery).
    #[error("foreign origin")]
    ForeignOrigin,
    /// A service refused or failed.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A template failed to render (a bug: templates are checked at compile time).
    #[error("template: {0}")]
    Render(#[from] askama::Error),
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    heading: &'static str,
    detail: String,
}

impl ResponseError for PageError {
    fn status(&self) -> StatusCode {
        self.page().0
    }

    fn as_response(&self) -> Response {
        if let PageError::SignInRequired { back_to } = self {
            let target = format!("/dashboard/login?next={}", query_value(back_to));
            return Response::builder()
                .status(StatusCode::SEE_OTHER)
                .header("Location", target)
                .finish();
        }
        let (status, heading, detail) = self.page();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "dashboard page failed");
        }
        let page = ErrorPage {
            chrome: Chrome::new(heading, None),
            heading,
            detail,
        };
        let body = page.render().unwrap_or_else(|_| {
            format!("<!doctype html><title>{heading}</title><h1>{heading}</h1>")
        });
        crate::html(body).with_status(status).into_response()
    }
}

impl PageError {
    /// The status, heading and explanation of the error page.
    fn page(&self) -> (StatusCode, &'static str, String) {
        match self {
            PageError::SignInRequired { .. } => (
                StatusCode::SEE_OTHER,
                "Sign in",
                "Sign in to continue.".to_owned(),
            ),
            PageError::NotFound | PageError::Core(CoreError::NotFound(_)) => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or it belongs to another account.".to_owned(),
            ),
            PageError::ForeignOrigin => (
                StatusCode::FORBIDDEN,
                "Refused",
                "This form was sent from another site. Open the dashboard yourself and try again."
                    .to_owned(),
            ),
            PageError::Core(CoreError::PlanRequired(_)) => (
                StatusCode::PAYMENT_REQUIRED,
                "Paid plan required",
                "Live mode needs the paid plan: upgrade on your account page.".to_owned(),
            ),
            PageError::Core(CoreError::StoreUnavailable(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The database did not answer. Try again in a few seconds.".to_owned(),
            ),
            PageError::Core(other @ CoreError::InvalidInput { .. }) => (
                StatusCode::BAD_REQUEST,
                "Invalid request",
                other.to_string(),
            ),
            PageError::Core(_) | PageError::Render(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The error is logged. Try again, and tell the operator if it persists.".to_owned(),
            ),
        }
    }
}

/// `raw` encoded as a query parameter value.
pub(crate) fn query_value(raw: &str) -> String {
    form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}
