//! The dashboard snapshot: customers, plans, usage, MRR, churn, recent events.

use std::collections::BTreeMap;

use chrono::Duration;

use crate::{
    CoreError, Customer, Event, EventKind, Page, PageRequest, Period, Tenant, TierConfig, TierKind,
};

use super::Dream;

/// Monthly recurring revenue in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mrr {
    /// Currency.
    pub currency: String,
    /// Minor units per month.
    pub amount_minor: i64,
}

/// A one-off product with more units sold than its stock: late payments for
/// holds that had expired or been released (see `inventory.oversold`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OversoldProduct {
    /// The product's tier name.
    pub tier: String,
    /// Its current stock.
    pub stock: u64,
    /// Units sold.
    pub sold: u64,
    /// `sold − stock`: units to refund or restock.
    pub oversold: u64,
}

/// A snapshot of a tenant.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// The current usage period.
    pub period: Period,
    /// All customers.
    pub total_customers: u64,
    /// Customers per plan.
    pub customers_by_plan: BTreeMap<String, u64>,
    /// Customers with usage counted in the current period.
    pub active_customers: u64,
    /// Usage of all customers in the current period.
    pub total_usage: u64,
    /// MRR from the plans customers are on (list prices, monthly-normalised), per
    /// currency. Stripe subscription amounts replace this once billing is connected.
    pub mrr: Vec<Mrr>,
    /// Paying customers lost in the last 30 days (downgraded to free or deleted).
    pub churned_last_30_days: u64,
    /// `churned / (paying now + churned)`, 0 when there were none.
    pub churn_rate: f64,
    /// The newest customers with their usage this period.
    pub recent_customers: Vec<(Customer, u64)>,
    /// The tiers.
    pub tiers: TierConfig,
    /// The newest events.
    pub recent_events: Vec<Event>,
    /// One-off products sold past their stock, in tier order.
    pub oversold: Vec<OversoldProduct>,
}

/// How many events back the churn figure looks at most.
const CHURN_SCAN_LIMIT: usize = 10_000;

impl Dream {
    /// A snapshot of the tenant for the dashboard.
    pub async fn dashboard(&self, tenant: &Tenant) -> Result<Dashboard, CoreError> {
        let now = self.now();
        let period = Period::calendar_month(now);
        let tiers = self.tier_config(tenant).await?;
        let store = &self.stores;
        let customers_by_plan = store.customers.plan_counts(tenant).await?;
        let total_customers = customers_by_plan.values().sum();

        let mut mrr: BTreeMap<String, i64> = BTreeMap::new();
        let mut paying_now = 0u64;
        for (plan, count) in &customers_by_plan {
            if let Some(tier) = tiers.find(plan) {
                let monthly = tier.monthly_amount_minor();
                if monthly > 0 {
                    paying_now += count;
                    *mrr.entry(tier.price.currency.clone()).or_default() +=
                        monthly.saturating_mul(*count as i64);
                }
            }
        }

        let recent = store
            .customers
            .list_customers(
                tenant,
                &crate::CustomerQuery::default(),
                &PageRequest::first(10),
            )
            .await?;
        let mut recent_customers = Vec::with_capacity(recent.data.len());
        for customer in recent.data {
            let used = store.usage.get_usage(tenant, &customer.id, &period).await?;
            recent_customers.push((customer, used));
        }

        let churned = self.churned_since(tenant, now - Duration::days(30)).await?;
        let oversold = self.oversold_products(tenant, &tiers).await?;
        let recent_events = store
            .events
            .list_events(tenant, &PageRequest::first(20))
            .await?
            .data;
        Ok(Dashboard {
            period,
            total_customers,
            customers_by_plan,
            active_customers: store.usage.active_customers(tenant, &period).await?,
            total_usage: store.usage.total_usage(tenant, &period).await?,
            mrr: mrr
                .into_iter()
                .map(|(currency, amount_minor)| Mrr {
                    currency,
                    amount_minor,
                })
                .collect(),
            churned_last_30_days: churned,
            churn_rate: if paying_now + churned == 0 {
                0.0
            } else {
                churned as f64 / (paying_now + churned) as f64
            },
            recent_customers,
            tiers,
            recent_events,
            oversold,
        })
    }

    /// The tenant's events, newest first.
    pub async fn list_events(
        &self,
        tenant: &Tenant,
        page: &PageRequest<crate::EventId>,
    ) -> Result<Page<Event>, CoreError> {
        Ok(self.stores.events.list_events(tenant, page).await?)
    }

    /// Events about one customer (`usr_…` or your external id), newest first;
    /// `NotFound` for an unknown customer.
    pub async fn customer_events(
        &self,
        tenant: &Tenant,
        reference: &str,
        page: &PageRequest<crate::EventId>,
    ) -> Result<Page<Event>, CoreError> {
        let customer = self.customer(tenant, reference).await?;
        Ok(self
            .stores
            .events
            .list_customer_events(tenant, &customer.id, page)
            .await?)
    }

    /// The one-off products (archived ones too: their sales stay) whose units
    /// sold exceed their current stock.
    async fn oversold_products(
        &self,
        tenant: &Tenant,
        tiers: &TierConfig,
    ) -> Result<Vec<OversoldProduct>, CoreError> {
        let now = self.now();
        let mut oversold = vec![];
        for tier in &tiers.tiers {
            let TierKind::OneTime {
                inventory: Some(stock),
            } = tier.kind
            else {
                continue;
            };
            let counts = self
                .stores
                .inventory
                .inventory_counts(tenant, &tier.name, now)
                .await?;
            if counts.sold > stock {
                oversold.push(OversoldProduct {
                    tier: tier.name.clone(),
                    stock,
                    sold: counts.sold,
                    oversold: counts.sold - stock,
                });
            }
        }
        Ok(oversold)
    }

    async fn churned_since(
        &self,
        tenant: &Tenant,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, CoreError> {
        let mut churned = 0;
        let mut scanned = 0;
        let mut page = PageRequest::first(PageRequest::<()>::MAX_LIMIT);
        loop {
            let Page { data, has_more } = self.stores.events.list_events(tenant, &page).await?;
            for event in &data {
                if event.created_at < since {
                    return Ok(churned);
                }
                let churn_event = matches!(
                    event.kind,
                    EventKind::PlanChanged | EventKind::CustomerDeleted
                );
                if churn_event && event.data["churned"] == serde_json::Value::Bool(true) {
                    churned += 1;
                }
            }
            scanned += data.len();
            match data.last() {
                Some(last) if has_more && scanned < CHURN_SCAN_LIMIT => {
                    page.starting_after = Some(last.id.clone());
                }
                _ => return Ok(churned),
            }
        }
    }
}
