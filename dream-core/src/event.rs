//! The append-only event log that the dashboard and outbound webhooks read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{CustomerId, EventId, Tenant};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventKind {
    /// A customer was created (explicitly or on first sight).
    CustomerCreated,
    /// A customer's profile changed.
    CustomerUpdated,
    /// A customer was deleted.
    CustomerDeleted,
    /// A customer's plan changed (`data.from`, `data.to`).
    PlanChanged,
    /// A customer's usage reached the plan limit for the period.
    UsageLimitReached,
    /// A customer's usage crossed one of the tier's alert thresholds
    /// (`data.meter`, `data.percent`, `data.used`, `data.limit`): once per
    /// customer, meter, period and threshold.
    UsageThresholdReached,
    /// Credits were granted to a customer (`data.meter`, `data.amount`,
    /// `data.balance`, `data.reason`, `data.grantId`).
    CreditsGranted,
    /// A track spent credits after the plan's allowance (`data.meter`,
    /// `data.amount`, `data.used`).
    CreditsConsumed,
    /// A key pair was issued.
    KeyCreated,
    /// A key pair was revoked.
    KeyRevoked,
    /// An API key was issued to a customer (`data.keyId`, `data.rolledFrom`).
    CustomerKeyCreated,
    /// A customer's API key was revoked (`data.keyId`).
    CustomerKeyRevoked,
    /// The tenant's tiers were replaced.
    TiersUpdated,
    /// The tenant's Stripe account was connected (`data.type`: `connect` or `direct`).
    BillingConnected,
    /// The tenant's Stripe account was disconnected.
    BillingDisconnected,
    /// A checkout session was created (`data.mode`: `subscription` or `payment`).
    CheckoutCreated,
    /// A customer's subscription changed (status, tier, period, MRR).
    SubscriptionUpdated,
    /// A payment succeeded (a one-off checkout or an invoice).
    PaymentSucceeded,
    /// An invoice payment failed.
    PaymentFailed,
    /// A one-off product has no units left.
    InventorySoldOut,
    /// A payment committed a cart whose hold had expired or been released, and
    /// the product's units sold now exceed its stock (`data.tier`, `data.price`,
    /// `data.quantity`, `data.stock`, `data.sold`): refund or restock.
    InventoryOversold,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 21] = [
        EventKind::CustomerCreated,
        EventKind::CustomerUpdated,
        EventKind::CustomerDeleted,
        EventKind::PlanChanged,
        EventKind::UsageLimitReached,
        EventKind::UsageThresholdReached,
        EventKind::CreditsGranted,
        EventKind::CreditsConsumed,
        EventKind::KeyCreated,
        EventKind::KeyRevoked,
        EventKind::CustomerKeyCreated,
        EventKind::CustomerKeyRevoked,
        EventKind::TiersUpdated,
        EventKind::BillingConnected,
        EventKind::BillingDisconnected,
        EventKind::CheckoutCreated,
        EventKind::SubscriptionUpdated,
        EventKind::PaymentSucceeded,
        EventKind::PaymentFailed,
        EventKind::InventorySoldOut,
        EventKind::InventoryOversold,
    ];

    /// The dotted name used on the wire (`customer.created`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::CustomerCreated => "customer.created",
            EventKind::CustomerUpdated => "customer.updated",
            EventKind::CustomerDeleted => "customer.deleted",
            EventKind::PlanChanged => "plan.changed",
            EventKind::UsageLimitReached => "usage.limit_reached",
            EventKind::UsageThresholdReached => "usage.threshold_reached",
            EventKind::CreditsGranted => "credits.granted",
            EventKind::CreditsConsumed => "credits.consumed",
            EventKind::KeyCreated => "key.created",
            EventKind::KeyRevoked => "key.revoked",
            EventKind::CustomerKeyCreated => "customer_key.created",
            EventKind::CustomerKeyRevoked => "customer_key.revoked",
            EventKind::TiersUpdated => "tiers.updated",
            EventKind::BillingConnected => "billing.connected",
            EventKind::BillingDisconnected => "billing.disconnected",
            EventKind::CheckoutCreated => "checkout.created",
            EventKind::SubscriptionUpdated => "subscription.updated",
            EventKind::PaymentSucceeded => "payment.succeeded",
            EventKind::PaymentFailed => "payment.failed",
            EventKind::InventorySoldOut => "inventory.sold_out",
            EventKind::InventoryOversold => "inventory.oversold",
        }
    }

    /// Parses the dotted name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// `evt_…`.
    pub id: EventId,
    /// Tenant.
    pub tenant: Tenant,
    /// Kind.
    pub kind: EventKind,
    /// The customer concerned, if any.
    pub customer: Option<CustomerId>,
    /// Details; never secrets.
    pub data: serde_json::Value,
    /// When it happened.
    pub created_at: DateTime<Utc>,
}

impl Event {
    /// A new event with a fresh id.
    pub fn new(
        tenant: Tenant,
        kind: EventKind,
        customer: Option<CustomerId>,
        data: serde_json::Value,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: EventId::generate(),
            tenant,
            kind,
            customer,
            data,
            created_at: at,
        }
    }
}
