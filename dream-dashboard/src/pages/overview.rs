//! The overview: money, customers and usage of one app in one mode, and the next
//! step for a developer who has just started.

use askama::Template;
use dream_core::{Dream, Mode};

use crate::{
    access::AppAccess,
    chart::{self, DailyChart},
    chrome::{app_href, Chrome, Section},
    error::PageError,
    format,
};

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: Chrome,
    cards: Vec<Card>,
    plans: Vec<PlanRow>,
    recent: Vec<RecentCustomer>,
    next_steps: Vec<NextStep>,
    first_calls: String,
    period: String,
    chart: DailyChart,
    chart_width: u32,
    chart_height: u32,
}

struct Card {
    label: &'static str,
    value: String,
}

struct PlanRow {
    plan: String,
    customers: String,
    /// Share of all customers, 0–100, for the bar.
    share: u64,
}

struct RecentCustomer {
    href: String,
    name: String,
    plan: String,
    used: String,
}

struct NextStep {
    text: &'static str,
    href: String,
    action: &'static str,
}

/// `GET /dashboard/apps/{platform}/{mode}`.
pub(crate) async fn render(
    dream: &Dream,
    access: &AppAccess,
    public_url: &str,
) -> Result<String, PageError> {
    let tenant = &access.tenant;
    let snapshot = dream.dashboard(tenant).await?;
    let paying: u64 = snapshot
        .customers_by_plan
        .iter()
        .filter(|(plan, _)| {
            snapshot
                .tiers
                .find(plan)
                .is_some_and(|tier| tier.monthly_amount_minor() > 0)
        })
        .map(|(_, n)| n)
        .sum();
    let mrr = if snapshot.mrr.is_empty() {
        format::money(0, "usd")
    } else {
        snapshot
            .mrr
            .iter()
            .map(|m| format::money(m.amount_minor, &m.currency))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let cards = vec![
        Card {
            label: "MRR",
            value: mrr,
        },
        Card {
            label: "Active subscribers",
            value: format::count(paying),
        },
        Card {
            label: "Churn, last 30 days",
            value: format!(
                "{} ({})",
                format::percent(snapshot.churn_rate),
                format::count(snapshot.churned_last_30_days)
            ),
        },
        Card {
            label: "Customers",
            value: format::count(snapshot.total_customers),
        },
        Card {
            label: "Tracked calls this period",
            value: format::count(snapshot.total_usage),
        },
        Card {
            label: "Customers with usage this period",
            value: format::count(snapshot.active_customers),
        },
    ];
    let total = snapshot.total_customers.max(1);
    let plans = snapshot
        .customers_by_plan
        .iter()
        .map(|(plan, n)| PlanRow {
            plan: plan.clone(),
            customers: format::count(*n),
            share: n * 100 / total,
        })
        .collect();
    let recent = snapshot
        .recent_customers
        .iter()
        .map(|(customer, used)| RecentCustomer {
            href: app_href(
                &access.platform,
                tenant.mode,
                &format!("customers/{}", customer.id),
            ),
            name: customer
                .email
                .clone()
                .or_else(|| customer.external_id.clone())
                .unwrap_or_else(|| customer.id.to_string()),
            plan: customer.plan.clone(),
            used: format::count(*used),
        })
        .collect();

    let mut next_steps = Vec::new();
    if snapshot.tiers.active().next().is_none() {
        next_steps.push(NextStep {
            text: "Add your pricing tiers: a free tier with a limit, and paid ones.",
            href: app_href(&access.platform, tenant.mode, "tiers"),
            action: "Add tiers",
        });
    }
    if dream.billing_connection(tenant).await?.is_none() {
        next_steps.push(NextStep {
            text: "Connect your Stripe account to take payments on it.",
            href: app_href(&access.platform, tenant.mode, "stripe"),
            action: "Connect Stripe",
        });
    }
    let publishable = dream
        .list_keys(&access.platform.id, Some(tenant.mode))
        .await?
        .into_iter()
        .rev()
        .find(|key| key.is_active(chrono::Utc::now()))
        .map(|key| key.publishable_key);
    if publishable.is_none() {
        next_steps.push(NextStep {
            text: "Create an API key pair to call dream from your server.",
            href: app_href(&access.platform, tenant.mode, "keys"),
            action: "Create a key",
        });
    }
    let secret_placeholder = match tenant.mode {
        Mode::Test => "sk_test_YOUR_SECRET_KEY",
        Mode::Live => "sk_live_YOUR_SECRET_KEY",
    };
    let first_calls = format!(
        "# Your tiers, readable from a browser with the publishable key:\n\
         curl {public_url}/api/tiers -H 'Authorization: Bearer {pk}'\n\n\
         # Count one call for a customer of yours (from your server, with the secret key):\n\
         curl -X POST {public_url}/api/data -H 'Authorization: Bearer {secret_placeholder}' \\\n  \
         -H 'X-User-Id: customer-42'",
        pk = publishable.as_deref().unwrap_or("pk_…"),
    );
    let chart = DailyChart::new(&dream.daily_usage(tenant, 30).await?);
    let page = OverviewPage {
        chart,
        chart_width: chart::WIDTH,
        chart_height: chart::HEIGHT,
        chrome: Chrome::for_app(
            "Overview",
            access.account_email.clone(),
            &access.platform,
            tenant.mode,
            Section::Overview,
        ),
        cards,
        plans,
        recent,
        next_steps,
        first_calls,
        period: format!(
            "{} to {}",
            format::date(snapshot.period.start),
            format::date(snapshot.period.end)
        ),
    };
    Ok(page.render()?)
}
