//! Customers: the list (newest first, paged, by email prefix and plan, or one
//! found by id or external id),
//! and a customer's page with plan, usage against the limit, subscription and a
//! plan change.

use askama::Template;
use dream_core::{CustomerId, CustomerPatch, CustomerQuery, Dream, PageRequest};
use serde::Deserialize;

use crate::{
    access::AppAccess,
    chrome::{app_href, Chrome, Flash, Section},
    error::PageError,
    format,
};

/// Rows per page of the list.
const PAGE_SIZE: usize = 25;

/// The list's query string.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    /// A customer id (`usr_…`), your own external id, or the start of an email.
    #[serde(default)]
    pub q: Option<String>,
    /// Only this plan.
    #[serde(default)]
    pub plan: Option<String>,
    /// `oldest` for oldest first; newest first otherwise.
    #[serde(default)]
    pub order: Option<String>,
    /// Cursor: the last id of the previous page.
    #[serde(default)]
    pub after: Option<String>,
}

#[derive(Template)]
#[template(path = "customers.html")]
struct ListPage {
    chrome: Chrome,
    query: String,
    plan: String,
    plans: Vec<String>,
    oldest_first: bool,
    rows: Vec<Row>,
    next_href: Option<String>,
    first_href: Option<String>,
    searched: bool,
}

struct Row {
    href: String,
    id: String,
    email: String,
    external_id: String,
    plan: String,
    created: String,
}

impl Row {
    fn new(access: &AppAccess, customer: &dream_core::Customer) -> Self {
        Self {
            href: customer_href(access, &customer.id),
            id: customer.id.to_string(),
            email: customer.email.clone().unwrap_or_default(),
            external_id: customer.external_id.clone().unwrap_or_default(),
            plan: customer.plan.clone(),
            created: format::date(customer.created_at),
        }
    }
}

fn customer_href(access: &AppAccess, id: &CustomerId) -> String {
    app_href(
        &access.platform,
        access.tenant.mode,
        &format!("customers/{id}"),
    )
}

/// `GET …/customers`.
pub(crate) async fn list(
    dream: &Dream,
    access: &AppAccess,
    query: ListQuery,
) -> Result<String, PageError> {
    let list_href = app_href(&access.platform, access.tenant.mode, "customers");
    let search = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let plan = query.plan.as_deref().filter(|p| !p.is_empty());
    let oldest_first = query.order.as_deref() == Some("oldest");
    // An id or your own id finds that customer; anything else is an email prefix.
    let exact = match search {
        Some(reference) => dream.find_customer(&access.tenant, reference).await?,
        None => None,
    };
    let (rows, next_href) = match exact {
        Some(customer) => (vec![Row::new(access, &customer)], None),
        None => {
            let filter = CustomerQuery {
                email_prefix: search.map(str::to_owned),
                plan: plan.map(str::to_owned),
                oldest_first,
            };
            let after = query.after.as_deref().and_then(CustomerId::parse);
            let page = dream
                .list_customers(
                    &access.tenant,
                    &filter,
                    &PageRequest {
                        limit: PAGE_SIZE,
                        starting_after: after,
                    },
                )
                .await?;
            let next = match page.data.last() {
                Some(last) if page.has_more => Some(format!(
                    "{list_href}?q={}&plan={}&order={}&after={}",
                    crate::error::query_value(search.unwrap_or_default()),
                    crate::error::query_value(plan.unwrap_or_default()),
                    if oldest_first { "oldest" } else { "newest" },
                    last.id
                )),
                _ => None,
            };
            (
                page.data.iter().map(|c| Row::new(access, c)).collect(),
                next,
            )
        }
    };
    let plans = dream
        .tier_config(&access.tenant)
        .await?
        .tiers
        .iter()
        .filter(|t| t.is_plan())
        .map(|t| t.name.clone())
        .collect();
    let page = ListPage {
        chrome: Chrome::for_app(
            "Customers",
            access.account_email.clone(),
            &access.platform,
            access.tenant.mode,
            Section::Customers,
        ),
        query: search.unwrap_or_default().to_owned(),
        plan: plan.unwrap_or_default().to_owned(),
        plans,
        oldest_first,
        rows,
        next_href,
        first_href: (query.after.is_some() || search.is_some() || plan.is_some())
            .then_some(list_href),
        searched: search.is_some() || plan.is_some(),
    };
    Ok(page.render()?)
}

#[derive(Template)]
#[template(path = "customer.html")]
struct DetailPage {
    chrome: Chrome,
    id: String,
    email: String,
    name: String,
    external_id: String,
    plan: String,
    plans: Vec<String>,
    used: String,
    limit: String,
    /// `used / limit` as 0–100, `None` when unlimited.
    share: Option<u64>,
    period_end: String,
    subscription: Option<SubscriptionRow>,
    created: String,
    action: String,
    events: Vec<EventRow>,
}

struct EventRow {
    kind: &'static str,
    data: String,
    at: String,
}

struct SubscriptionRow {
    id: String,
    status: String,
    renews: String,
    cancel_at_period_end: bool,
}

/// `GET …/customers/{id}`.
pub(crate) async fn detail(
    dream: &Dream,
    access: &AppAccess,
    id: &str,
    flash: Option<Flash>,
) -> Result<String, PageError> {
    let id = CustomerId::parse(id).ok_or(PageError::NotFound)?;
    let customer = dream.customer(&access.tenant, id.as_str()).await?;
    let usage = dream
        .usage(&access.tenant, customer.id.as_str(), None)
        .await?;
    let tiers = dream.tier_config(&access.tenant).await?;
    let subscription = dream
        .subscription_state(&access.tenant, &customer.id)
        .await?
        .map(|s| SubscriptionRow {
            id: s.subscription_id,
            status: format!("{:?}", s.status).to_lowercase(),
            renews: s.current_period_end.map(format::date).unwrap_or_default(),
            cancel_at_period_end: s.cancel_at_period_end,
        });
    let events = dream
        .customer_events(
            &access.tenant,
            customer.id.as_str(),
            &PageRequest::first(20),
        )
        .await?
        .data
        .into_iter()
        .map(|event| EventRow {
            kind: event.kind.as_str(),
            data: event.data.to_string(),
            at: format::time(event.created_at),
        })
        .collect();
    let name = [
        customer.first_name.as_deref(),
        customer.last_name.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let page = DetailPage {
        chrome: Chrome::for_app(
            "Customer",
            access.account_email.clone(),
            &access.platform,
            access.tenant.mode,
            Section::Customers,
        )
        .with_flash(flash),
        id: customer.id.to_string(),
        email: customer.email.clone().unwrap_or_default(),
        name,
        external_id: customer.external_id.clone().unwrap_or_default(),
        plan: usage.plan.clone(),
        plans: tiers.active().map(|t| t.name.clone()).collect(),
        used: format::count(usage.used),
        limit: usage
            .limit
            .map_or_else(|| "unlimited".to_owned(), format::count),
        share: usage
            .limit
            .map(|limit| (usage.used.saturating_mul(100) / limit.max(1)).min(100)),
        period_end: format::date(usage.period.end),
        subscription,
        created: format::time(customer.created_at),
        action: customer_href(access, &customer.id),
        events,
    };
    Ok(page.render()?)
}

/// The plan change form.
#[derive(Debug, Deserialize)]
pub(crate) struct PlanForm {
    pub plan: String,
}

/// `POST …/customers/{id}`: change the plan, through the same service as
/// `PATCH /api/customers/{id}`.
pub(crate) async fn change_plan(
    dream: &Dream,
    access: &AppAccess,
    id: &str,
    form: PlanForm,
) -> Result<Flash, PageError> {
    let id = CustomerId::parse(id).ok_or(PageError::NotFound)?;
    let patch = CustomerPatch {
        plan: Some(form.plan),
        ..CustomerPatch::default()
    };
    match dream
        .update_customer(&access.tenant, id.as_str(), patch)
        .await
    {
        Ok(customer) => Ok(Flash::ok(format!("Plan changed to {}.", customer.plan))),
        Err(dream_core::CoreError::InvalidInput { reason, .. }) => Ok(Flash::error(reason)),
        Err(other) => Err(other.into()),
    }
}
