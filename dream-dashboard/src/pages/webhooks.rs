//! Webhook endpoints: the list and "add", and an endpoint's page with its
//! settings, signing secret (revealed on request), delivery log and replay.

use askama::Template;
use dream_core::{
    CoreError, Delivery, DeliveryId, Dream, EndpointPatch, EventFilter, NewEndpoint, PageRequest,
    WebhookEndpoint,
};
use serde::Deserialize;

use crate::{
    access::AppAccess,
    chrome::{app_href, Chrome, Flash, Section},
    error::PageError,
    format,
};

const DELIVERIES_PER_PAGE: usize = 25;

#[derive(Template)]
#[template(path = "webhooks.html")]
struct ListPage {
    chrome: Chrome,
    action: String,
    rows: Vec<EndpointRow>,
    form: EndpointForm,
    error: Option<(String, String)>,
}

struct EndpointRow {
    href: String,
    url: String,
    description: String,
    events: String,
    status: &'static str,
    status_class: &'static str,
}

impl EndpointRow {
    fn new(access: &AppAccess, endpoint: &WebhookEndpoint) -> Self {
        let (status, status_class) = status(endpoint);
        Self {
            href: endpoint_href(access, endpoint),
            url: endpoint.url.clone(),
            description: endpoint.description.clone().unwrap_or_default(),
            events: endpoint.filter.names().join(", "),
            status,
            status_class,
        }
    }
}

fn status(endpoint: &WebhookEndpoint) -> (&'static str, &'static str) {
    match endpoint.disabled {
        Some(dream_core::DisabledReason::Manual) => ("disabled", "warn"),
        Some(dream_core::DisabledReason::Failing) => ("disabled: kept failing", "bad"),
        None if endpoint.failing_since.is_some() => ("failing", "bad"),
        None => ("enabled", "ok"),
    }
}

fn endpoint_href(access: &AppAccess, endpoint: &WebhookEndpoint) -> String {
    app_href(
        &access.platform,
        access.tenant.mode,
        &format!("webhooks/{}", endpoint.id),
    )
}

/// The add and edit forms.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct EndpointForm {
    #[serde(default)]
    pub intent: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub description: String,
    /// Comma-separated event types, empty or `*` for all.
    #[serde(default)]
    pub events: String,
    #[serde(default)]
    pub delivery_id: Option<String>,
}

impl EndpointForm {
    fn filter(&self) -> Result<EventFilter, CoreError> {
        let names: Vec<String> = self
            .events
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
        EventFilter::from_names(&names)
    }

    fn description(&self) -> Option<String> {
        Some(self.description.trim().to_owned()).filter(|d| !d.is_empty())
    }
}

/// The field a refusal names, as this page's inputs are named.
fn field_error(err: CoreError) -> Result<(String, String), PageError> {
    match err {
        CoreError::InvalidInput { field, reason } => {
            let input = if field.contains("event") {
                "events"
            } else if field.contains("description") {
                "description"
            } else {
                "url"
            };
            Ok((input.to_owned(), reason))
        }
        CoreError::LimitExceeded { what, limit } => Ok((
            "url".to_owned(),
            format!("at most {limit} {what} per app and mode"),
        )),
        other => Err(other.into()),
    }
}

/// `GET …/webhooks`.
pub(crate) async fn list(
    dream: &Dream,
    access: &AppAccess,
    flash: Option<Flash>,
) -> Result<String, PageError> {
    list_page(dream, access, flash, EndpointForm::default(), None).await
}

async fn list_page(
    dream: &Dream,
    access: &AppAccess,
    flash: Option<Flash>,
    form: EndpointForm,
    error: Option<(String, String)>,
) -> Result<String, PageError> {
    let endpoints = dream.webhook_endpoints(&access.tenant).await?;
    let page = ListPage {
        chrome: Chrome::for_app(
            "Webhooks",
            access.account_email.clone(),
            &access.platform,
            access.tenant.mode,
            Section::Webhooks,
        )
        .with_flash(flash),
        action: app_href(&access.platform, access.tenant.mode, "webhooks"),
        rows: endpoints
            .iter()
            .map(|e| EndpointRow::new(access, e))
            .collect(),
        form,
        error,
    };
    Ok(page.render()?)
}

/// `POST …/webhooks`: add an endpoint. Answers the page to show and, on
/// success, where to go instead.
pub(crate) async fn create(
    dream: &Dream,
    access: &AppAccess,
    form: EndpointForm,
) -> Result<Result<String, String>, PageError> {
    let filter = match form.filter() {
        Ok(filter) => filter,
        Err(err) => {
            let error = field_error(err)?;
            return list_page(dream, access, None, form, Some(error))
                .await
                .map(Ok);
        }
    };
    let new = NewEndpoint {
        url: form.url.clone(),
        description: form.description(),
        filter: Some(filter),
    };
    match dream.create_webhook_endpoint(&access.tenant, new).await {
        Ok(endpoint) => Ok(Err(endpoint_href(access, &endpoint))),
        Err(err) => {
            let error = field_error(err)?;
            list_page(dream, access, None, form, Some(error))
                .await
                .map(Ok)
        }
    }
}

#[derive(Template)]
#[template(path = "webhook.html")]
struct DetailPage {
    chrome: Chrome,
    action: String,
    id: String,
    url: String,
    description: String,
    events: String,
    status: &'static str,
    status_class: &'static str,
    enabled: bool,
    secret: Option<String>,
    deliveries: Vec<DeliveryRow>,
    next_href: Option<String>,
    error: Option<(String, String)>,
}

struct DeliveryRow {
    id: String,
    event: String,
    event_kind: &'static str,
    state: &'static str,
    state_class: &'static str,
    attempts: u32,
    last_status: String,
    updated: String,
    attempt_log: Vec<AttemptRow>,
}

struct AttemptRow {
    number: u32,
    at: String,
    status: String,
    latency: String,
    error: String,
}

/// The endpoint page's query string.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DeliveriesQuery {
    #[serde(default)]
    pub after: Option<String>,
}

/// `GET …/webhooks/{id}` (and the answer to its forms).
pub(crate) async fn detail(
    dream: &Dream,
    access: &AppAccess,
    id: &str,
    query: DeliveriesQuery,
    flash: Option<Flash>,
    reveal: bool,
    error: Option<(String, String)>,
) -> Result<String, PageError> {
    let endpoint = dream.webhook_endpoint(&access.tenant, id).await?;
    let href = endpoint_href(access, &endpoint);
    let page = dream
        .webhook_deliveries(
            &access.tenant,
            id,
            &PageRequest {
                limit: DELIVERIES_PER_PAGE,
                starting_after: query.after.as_deref().and_then(DeliveryId::parse),
            },
        )
        .await?;
    let mut deliveries = Vec::with_capacity(page.data.len());
    for delivery in &page.data {
        deliveries.push(delivery_row(dream, access, delivery).await?);
    }
    let secret = if reveal {
        Some(dream.reveal_endpoint_secret(&endpoint)?.expose().to_owned())
    } else {
        None
    };
    let (status, status_class) = status(&endpoint);
    let detail = DetailPage {
        chrome: Chrome::for_app(
            "Webhook endpoint",
            access.account_email.clone(),
            &access.platform,
            access.tenant.mode,
            Section::Webhooks,
        )
        .with_flash(flash),
        next_href: match page.data.last() {
            Some(last) if page.has_more => Some(format!("{href}?after={}", last.id)),
            _ => None,
        },
        action: href,
        id: endpoint.id.to_string(),
        url: endpoint.url.clone(),
        description: endpoint.description.clone().unwrap_or_default(),
        events: endpoint.filter.names().join(", "),
        status,
        status_class,
        enabled: endpoint.disabled.is_none(),
        secret,
        deliveries,
        error,
    };
    Ok(detail.render()?)
}

async fn delivery_row(
    dream: &Dream,
    access: &AppAccess,
    delivery: &Delivery,
) -> Result<DeliveryRow, PageError> {
    let (_, attempts) = dream
        .webhook_delivery(&access.tenant, delivery.id.as_str())
        .await?;
    let (state, state_class) = match delivery.state {
        dream_core::DeliveryState::Pending => ("pending", "warn"),
        dream_core::DeliveryState::Succeeded => ("succeeded", "ok"),
        dream_core::DeliveryState::Failed => ("failed", "bad"),
    };
    Ok(DeliveryRow {
        id: delivery.id.to_string(),
        event: delivery.event.to_string(),
        event_kind: delivery.event_kind.as_str(),
        state,
        state_class,
        attempts: delivery.attempts,
        last_status: delivery
            .last_status
            .map(|s| s.to_string())
            .unwrap_or_default(),
        updated: format::time(delivery.updated_at),
        attempt_log: attempts
            .iter()
            .map(|a| AttemptRow {
                number: a.number,
                at: format::time(a.at),
                status: a
                    .status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "–".into()),
                latency: format!("{} ms", a.latency_ms),
                error: a.error.clone().unwrap_or_default(),
            })
            .collect(),
    })
}

/// What a form on an endpoint's page leads to.
pub(crate) enum EndpointOutcome {
    /// Show the endpoint page with a message (and the secret, when asked for).
    Page {
        flash: Option<Flash>,
        reveal: bool,
        error: Option<(String, String)>,
    },
    /// The endpoint is gone: back to the list.
    Deleted,
}

/// `POST …/webhooks/{id}`, one `intent` per button.
pub(crate) async fn act(
    dream: &Dream,
    access: &AppAccess,
    id: &str,
    form: EndpointForm,
) -> Result<EndpointOutcome, PageError> {
    let page = |flash: Flash| EndpointOutcome::Page {
        flash: Some(flash),
        reveal: false,
        error: None,
    };
    let patch = |patch: EndpointPatch| async move {
        dream
            .update_webhook_endpoint(&access.tenant, id, patch)
            .await
    };
    match form.intent.as_str() {
        "save" => {
            let filter = match form.filter() {
                Ok(filter) => filter,
                Err(err) => {
                    return Ok(EndpointOutcome::Page {
                        flash: None,
                        reveal: false,
                        error: Some(field_error(err)?),
                    })
                }
            };
            let result = patch(EndpointPatch {
                url: Some(form.url.clone()),
                description: Some(form.description()),
                filter: Some(filter),
                ..EndpointPatch::default()
            })
            .await;
            match result {
                Ok(_) => Ok(page(Flash::ok("Endpoint saved."))),
                Err(err) => Ok(EndpointOutcome::Page {
                    flash: None,
                    reveal: false,
                    error: Some(field_error(err)?),
                }),
            }
        }
        "enable" | "disable" => {
            let enabled = form.intent == "enable";
            patch(EndpointPatch {
                enabled: Some(enabled),
                ..EndpointPatch::default()
            })
            .await?;
            Ok(page(Flash::ok(if enabled {
                "Endpoint enabled."
            } else {
                "Endpoint disabled: events are not sent to it."
            })))
        }
        "rotate" => {
            patch(EndpointPatch {
                rotate_secret: true,
                ..EndpointPatch::default()
            })
            .await?;
            Ok(EndpointOutcome::Page {
                flash: Some(Flash::ok("Signing secret rotated.")),
                reveal: true,
                error: None,
            })
        }
        "reveal" => Ok(EndpointOutcome::Page {
            flash: None,
            reveal: true,
            error: None,
        }),
        "retry" => {
            let delivery = form.delivery_id.as_deref().ok_or(PageError::NotFound)?;
            dream
                .retry_webhook_delivery(&access.tenant, delivery)
                .await?;
            Ok(page(Flash::ok("Delivery queued to be sent again.")))
        }
        "delete" => {
            dream.delete_webhook_endpoint(&access.tenant, id).await?;
            Ok(EndpointOutcome::Deleted)
        }
        _ => Err(PageError::NotFound),
    }
}
