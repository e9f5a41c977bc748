//! Dashboard and event bodies.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dream_core::Event;
use poem_openapi::Object;

use super::{CustomerDto, TierDto};

/// A usage period.
#[derive(Object, Debug)]
pub struct PeriodDto {
    /// Start (inclusive).
    pub start: DateTime<Utc>,
    /// End (exclusive).
    pub end: DateTime<Utc>,
}

/// MRR in one currency.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct MrrDto {
    /// ISO 4217 code.
    pub currency: String,
    /// Minor units per month.
    pub amount_minor: i64,
}

/// Headline numbers.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct Metrics {
    /// All customers.
    pub total_customers: u64,
    /// Customers with usage this period.
    pub active_customers: u64,
    /// Usage of all customers this period.
    pub total_usage: u64,
    /// Customers per plan.
    pub customers_by_plan: BTreeMap<String, u64>,
    /// Monthly recurring revenue from plan list prices, per currency.
    pub mrr: Vec<MrrDto>,
    /// Paying customers lost in the last 30 days.
    pub churned_last30_days: u64,
    /// Churned / (paying now + churned), 0–1.
    pub churn_rate: f64,
}

/// A customer with this period's usage.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct CustomerUsageDto {
    // The customer.
    pub customer: CustomerDto,
    /// Usage this period.
    pub usage_count: u64,
}

/// An entry of the event log.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct EventDto {
    /// `evt_…`.
    pub id: String,
    /// `customer.created`, `plan.changed`, `usage.limit_reached`, …
    #[oai(rename = "type")]
    pub kind: String,
    /// The customer concerned.
    #[oai(skip_serializing_if_is_none)]
    pub customer_id: Option<String>,
    /// Details.
    pub data: BTreeMap<String, serde_json::Value>,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<Event> for EventDto {
    fn from(e: Event) -> Self {
        Self {
            id: e.id.to_string(),
            kind: e.kind.as_str().to_owned(),
            customer_id: e.customer.map(|c| c.to_string()),
            data: match e.data {
                serde_json::Value::Object(map) => map.into_iter().collect(),
                other => BTreeMap::from([("value".to_owned(), other)]),
            },
            created_at: e.created_at,
        }
    }
}

/// A page of events.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct EventList {
    /// Events, newest first.
    pub data: Vec<EventDto>,
    /// Whether another page follows.
    pub has_more: bool,
}

/// A one-off product sold past its stock (late payments for expired or
/// released holds; each also sent as `inventory.oversold`).
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct OversoldProductDto {
    /// The product's tier name.
    pub tier: String,
    /// Its current stock.
    pub stock: u64,
    /// Units sold.
    pub sold: u64,
    /// Units sold past the stock: refund or restock.
    pub oversold: u64,
}

/// The dashboard snapshot.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct DashboardResponse {
    // The current usage period.
    pub period: PeriodDto,
    // Headline numbers.
    pub metrics: Metrics,
    /// The newest customers with their usage.
    pub customers: Vec<CustomerUsageDto>,
    /// All tiers, archived ones included.
    pub tiers: Vec<TierDto>,
    /// The newest events.
    pub recent_events: Vec<EventDto>,
    /// One-off products sold past their stock, in tier order (empty when none).
    pub oversold: Vec<OversoldProductDto>,
}

impl From<dream_core::Dashboard> for DashboardResponse {
    fn from(d: dream_core::Dashboard) -> Self {
        DashboardResponse {
            period: PeriodDto {
                start: d.period.start,
                end: d.period.end,
            },
            metrics: Metrics {
                total_customers: d.total_customers,
                active_customers: d.active_customers,
                total_usage: d.total_usage,
                customers_by_plan: d.customers_by_plan,
                mrr: d
                    .mrr
                    .into_iter()
                    .map(|m| MrrDto {
                        currency: m.currency,
                        amount_minor: m.amount_minor,
                    })
                    .collect(),
                churned_last30_days: d.churned_last_30_days,
                churn_rate: d.churn_rate,
            },
            customers: d
                .recent_customers
                .into_iter()
                .map(|(customer, usage_count)| CustomerUsageDto {
                    customer: customer.into(),
                    usage_count,
                })
                .collect(),
            tiers: d.tiers.tiers.iter().map(TierDto::from).collect(),
            recent_events: d.recent_events.into_iter().map(EventDto::from).collect(),
            oversold: d
                .oversold
                .into_iter()
                .map(|p| OversoldProductDto {
                    tier: p.tier,
                    stock: p.stock,
                    sold: p.sold,
                    oversold: p.oversold,
                })
                .collect(),
        }
    }
}
