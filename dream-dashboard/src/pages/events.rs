//! The events feed, newest first, paged; and the CSV export link.

use askama::Template;
use dream_core::{Dream, EventId, PageRequest};
use serde::Deserialize;

use crate::{
    access::AppAccess,
    chrome::{app_href, Chrome, Section},
    error::PageError,
    format,
};

const PAGE_SIZE: usize = 50;

/// The feed's query string.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct EventsQuery {
    /// Cursor: the last id of the previous page.
    #[serde(default)]
    pub after: Option<String>,
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    chrome: Chrome,
    rows: Vec<Row>,
    next_href: Option<String>,
    csv_href: String,
}

struct Row {
    kind: &'static str,
    customer: Option<(String, String)>,
    data: String,
    at: String,
}

/// `GET …/events`.
pub(crate) async fn render(
    dream: &Dream,
    access: &AppAccess,
    query: EventsQuery,
) -> Result<String, PageError> {
    let href = app_href(&access.platform, access.tenant.mode, "events");
    let page = dream
        .list_events(
            &access.tenant,
            &PageRequest {
                limit: PAGE_SIZE,
                starting_after: query.after.as_deref().and_then(EventId::parse),
            },
        )
        .await?;
    let next_href = match page.data.last() {
        Some(last) if page.has_more => Some(format!("{href}?after={}", last.id)),
        _ => None,
    };
    let rows = page
        .data
        .iter()
        .map(|event| Row {
            kind: event.kind.as_str(),
            customer: event.customer.as_ref().map(|id| {
                (
                    app_href(
                        &access.platform,
                        access.tenant.mode,
                        &format!("customers/{id}"),
                    ),
                    id.to_string(),
                )
            }),
            data: event.data.to_string(),
            at: format::time(event.created_at),
        })
        .collect();
    let mode = match access.tenant.mode {
        dream_core::Mode::Test => "test",
        dream_core::Mode::Live => "live",
    };
    let page = EventsPage {
        chrome: Chrome::for_app(
            "Events",
            access.account_email.clone(),
            &access.platform,
            access.tenant.mode,
            Section::Events,
        ),
        rows,
        next_href,
        csv_href: format!(
            "/account/apps/{}/dashboard/customers.csv?mode={mode}",
            access.platform.id
        ),
    };
    Ok(page.render()?)
}
