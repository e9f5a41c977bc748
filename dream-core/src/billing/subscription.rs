//! Subscriptions and the payment provider's events, in dream's words.
//!
//! The provider adapter turns a verified webhook into a [`ProviderEvent`]; the
//! billing service routes it to a tenant and applies its [`BillingChange`]. A
//! customer's [`SubscriptionState`] only moves forward: the store applies a state
//! only if it is at least as recent (`as_of`) as the stored one, atomically with
//! the plan change it implies, so an old event delivered late never overwrites
//! newer state.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{CheckoutKind, Interval, Metadata};

/// Where a subscription is in its life, as the provider reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// Paid and running.
    Active,
    /// In a free trial.
    Trialing,
    /// A payment failed; the provider is retrying.
    PastDue,
    /// Created, first payment not done yet.
    Incomplete,
    /// The first payment never happened.
    IncompleteExpired,
    /// Payments failed for good.
    Unpaid,
    /// Ended.
    Canceled,
    /// Paused (no invoices).
    Paused,
}

impl SubscriptionStatus {
    /// Every status.
    pub const ALL: [SubscriptionStatus; 8] = [
        Self::Active,
        Self::Trialing,
        Self::PastDue,
        Self::Incomplete,
        Self::IncompleteExpired,
        Self::Unpaid,
        Self::Canceled,
        Self::Paused,
    ];

    /// The provider's name (`past_due`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Trialing => "trialing",
            Self::PastDue => "past_due",
            Self::Incomplete => "incomplete",
            Self::IncompleteExpired => "incomplete_expired",
            Self::Unpaid => "unpaid",
            Self::Canceled => "canceled",
            Self::Paused => "paused",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s form.
    ///
    /// ```
    /// use dream_core::SubscriptionStatus;
    /// for s in SubscriptionStatus::ALL {
    ///     assert_eq!(SubscriptionStatus::parse(s.as_str()), Some(s));
    /// }
    /// assert_eq!(SubscriptionStatus::parse("nope"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// Whether the customer keeps the subscribed tier's limits. A failed payment
    /// (`past_due`) keeps them while the provider retries; an ended, unpaid or
    /// never-paid subscription does not.
    pub fn grants_plan(self) -> bool {
        matches!(self, Self::Active | Self::Trialing | Self::PastDue)
    }
}

/// A customer's subscription as the last applied provider event left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionState {
    /// The provider's subscription (`sub_…`).
    pub subscription_id: String,
    /// The provider's customer (`cus_…`).
    pub provider_customer_id: Option<String>,
    /// Status.
    pub status: SubscriptionStatus,
    /// The tier subscribed to, when known.
    pub tier: Option<String>,
    /// Current billing period start.
    pub current_period_start: Option<DateTime<Utc>>,
    /// Current billing period end.
    pub current_period_end: Option<DateTime<Utc>>,
    /// Ends at the period's end instead of renewing.
    pub cancel_at_period_end: bool,
    /// Monthly recurring revenue in minor units (0 when not paying).
    pub mrr_minor: i64,
    /// Currency of `mrr_minor`.
    pub currency: Option<String>,
    /// The time of the provider event that produced this state. A state with an
    /// earlier `as_of` than the stored one is stale and never applied.
    pub as_of: DateTime<Utc>,
}

/// What applying a subscription state did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionApply {
    /// Stored (and the plan set, when one was given).
    Applied {
        /// The customer's plan before.
        previous_plan: String,
    },
    /// A newer state is stored already; nothing changed.
    Stale,
}

/// Monthly amount of `unit_amount × quantity` billed every `interval_count`
/// `interval`s, in minor units, rounded down.
///
/// ```
/// use dream_core::{monthly_minor, Interval};
/// assert_eq!(monthly_minor(2900, 1, Interval::Month, 1), 2900);
/// assert_eq!(monthly_minor(12000, 1, Interval::Year, 1), 1000);
/// assert_eq!(monthly_minor(1000, 3, Interval::Month, 3), 1000);
/// ```
pub fn monthly_minor(
    unit_amount: i64,
    quantity: u64,
    interval: Interval,
    interval_count: u32,
) -> i64 {
    let total = unit_amount.saturating_mul(i64::try_from(quantity).unwrap_or(i64::MAX));
    let months = match interval {
        Interval::Month => i64::from(interval_count.max(1)),
        Interval::Year => 12 * i64::from(interval_count.max(1)),
    };
    total / months
}

/// What a provider event changes, once verified and parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillingChange {
    /// A hosted checkout was paid (`checkout.session.completed`).
    CheckoutCompleted {
        /// `cs_…`.
        session_id: String,
        /// Subscription or payment.
        kind: CheckoutKind,
        /// The session's metadata (dream's routing keys).
        metadata: Metadata,
        /// The provider's customer.
        provider_customer_id: Option<String>,
        /// The subscription it created (subscription mode).
        subscription_id: Option<String>,
        /// `paid`, `unpaid` or `no_payment_required`.
        payment_status: String,
    },
    /// The delayed payment (a bank debit, a voucher) of a checkout that completed
    /// unpaid settled: `checkout.session.async_payment_succeeded` or
    /// `checkout.session.async_payment_failed`.
    CheckoutAsyncPayment {
        /// `cs_…`.
        session_id: String,
        /// Subscription or payment.
        kind: CheckoutKind,
        /// The session's metadata (dream's routing keys).
        metadata: Metadata,
        /// Whether the money arrived.
        succeeded: bool,
    },
    /// A hosted checkout expired unpaid (`checkout.session.expired`).
    CheckoutExpired {
        /// `cs_…`.
        session_id: String,
        /// The session's metadata.
        metadata: Metadata,
    },
    /// A subscription was created, updated or deleted.
    Subscription {
        /// Its state as of the event (`as_of` = the event's time).
        state: SubscriptionState,
        /// The subscription's metadata (dream's routing keys).
        metadata: Metadata,
        /// The price of its first item, to find the tier when metadata lacks it.
        price_id: Option<String>,
        /// `customer.subscription.deleted`.
        deleted: bool,
    },
    /// An invoice was paid or its payment failed.
    Invoice {
        /// `true` for `invoice.paid`, `false` for `invoice.payment_failed`.
        paid: bool,
        /// The subscription billed, if any.
        subscription_id: Option<String>,
        /// The provider's customer.
        provider_customer_id: Option<String>,
        /// The amount paid or due, minor units.
        amount_minor: i64,
        /// Currency.
        currency: Option<String>,
    },
}

/// A verified provider event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEvent {
    /// The provider's event id (`evt_…`): the deduplication key.
    pub id: String,
    /// The provider's event type (`checkout.session.completed`).
    pub kind: String,
    /// The connected account it happened on (`acct_…`); `None` on the platform's
    /// own account (direct mode).
    pub account: Option<String>,
    /// Live or test.
    pub livemode: bool,
    /// When the provider created the event.
    pub created: DateTime<Utc>,
    /// What it changes; `None` for event types dream does not act on.
    pub change: Option<BillingChange>,
}

/// Why a webhook was refused. Each is a 400 to the sender, except `NotConfigured`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// No signing secret is configured (the message names the setting).
    #[error("{0}")]
    NotConfigured(String),
    /// The signature header is absent.
    #[error("the signature header is missing")]
    MissingSignature,
    /// The signature header cannot be parsed.
    #[error("the signature header is malformed")]
    MalformedSignature,
    /// No signature matches the payload under any configured secret.
    #[error("no signature matches the payload")]
    SignatureMismatch,
    /// The signed timestamp is outside the tolerance.
    #[error("the signature timestamp is outside the tolerance")]
    TimestampOutsideTolerance,
    /// Signed correctly, but not an event dream can read (the reason says why).
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
}
