//! The operations of the model test and their proptest strategies.

use proptest::prelude::*;

use dream_core::UsageLimit;

/// Tenants: platform A test, platform A live, platform B test.
pub(super) const TENANTS: usize = 3;
/// Key pairs issued per tenant.
pub(super) const KEYS: usize = 2;
/// Customer references (`c0`, `c1`, `c2`) used per tenant.
pub(super) const CUSTOMERS: usize = 3;
/// Longest generated sequence.
const MAX_OPS: usize = 60;

/// The plans every tenant offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Plan {
    /// `free`: 3 per period, the default plan.
    Free,
    /// `pro`: 7 per period.
    Pro,
    /// `max`: unlimited.
    Max,
}

impl Plan {
    pub(super) const ALL: [Plan; 3] = [Plan::Free, Plan::Pro, Plan::Max];

    pub(super) fn name(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Pro => "pro",
            Plan::Max => "max",
        }
    }

    pub(super) fn limit(self) -> UsageLimit {
        match self {
            Plan::Free => UsageLimit::Limited(3),
            Plan::Pro => UsageLimit::Limited(7),
            Plan::Max => UsageLimit::Unlimited,
        }
    }

    /// Monthly price in cents; `free` is the tenant's default plan.
    pub(super) fn price_minor(self) -> i64 {
        match self {
            Plan::Free => 0,
            Plan::Pro => 2_900,
            Plan::Max => 9_900,
        }
    }

    /// The limit of `meter` on this plan: `exports` resets daily, `seats` never.
    pub(super) fn meter_limit(self, meter: Meter) -> UsageLimit {
        match (meter, self) {
            (Meter::Requests, plan) => plan.limit(),
            (Meter::Exports, Plan::Free) => UsageLimit::Limited(2),
            (Meter::Exports, Plan::Pro) => UsageLimit::Limited(5),
            (Meter::Seats, Plan::Free) => UsageLimit::Limited(1),
            (Meter::Seats, Plan::Pro) => UsageLimit::Limited(3),
            (_, Plan::Max) => UsageLimit::Unlimited,
        }
    }
}

/// The reference rule, written independently of `decide_usage`: the credits a
/// call of `amount` spends with `used` counted and `credits` held, or `None` when
/// it is refused. The allowance is used first; what it cannot hold is paid by
/// credits, all of it or the call is refused.
pub(super) fn reference_decision(
    limit: UsageLimit,
    used: u64,
    amount: u64,
    credits: u64,
) -> Option<u64> {
    match limit {
        UsageLimit::Unlimited => Some(0),
        UsageLimit::Limited(limit) => {
            let left = limit.saturating_sub(used);
            let from_credits = amount.saturating_sub(left);
            (from_credits <= credits).then_some(from_credits)
        }
    }
}

/// The meters every tier has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Meter {
    /// The tier's own monthly `limit`.
    Requests,
    /// Resets every UTC day.
    Exports,
    /// Never resets; negative tracks give seats back.
    Seats,
}

impl Meter {
    pub(super) const ALL: [Meter; 3] = [Meter::Requests, Meter::Exports, Meter::Seats];

    pub(super) fn name(self) -> &'static str {
        match self {
            Meter::Requests => "requests",
            Meter::Exports => "exports",
            Meter::Seats => "seats",
        }
    }
}

/// One step of a generated sequence.
#[derive(Debug, Clone)]
pub(super) enum Op {
    /// Authenticate key `key` of `tenant`, then track `amount` for `c{customer}`.
    Track {
        tenant: usize,
        key: usize,
        customer: usize,
        amount: u64,
    },
    /// Move `c{customer}` of `tenant` to `plan`.
    ChangePlan {
        tenant: usize,
        customer: usize,
        plan: Plan,
    },
    /// Track `amount` (negative: give back) of a meter for `c{customer}`.
    TrackMeter {
        tenant: usize,
        customer: usize,
        meter: Meter,
        amount: i64,
    },
    /// Grant `amount` credits of a meter to `c{customer}`, with grant id
    /// `g{grant}` (a repeated id adds nothing).
    GrantCredits {
        tenant: usize,
        customer: usize,
        meter: Meter,
        amount: u64,
        grant: u8,
    },
    /// Move the clock into the next calendar month.
    Rollover,
    /// Move the clock into the next UTC day (a new month when it is one).
    NextDay,
    /// Revoke key `key` of `tenant`.
    RevokeKey { tenant: usize, key: usize },
}

fn plan_strategy() -> impl Strategy<Value = Plan> {
    prop::sample::select(Plan::ALL.to_vec())
}

fn meter_strategy() -> impl Strategy<Value = Meter> {
    prop::sample::select(Meter::ALL.to_vec())
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..TENANTS, 0..CUSTOMERS, meter_strategy(), prop_oneof![-2i64..=-1, 1i64..=3])
            .prop_map(|(tenant, customer, meter, amount)| Op::TrackMeter {
                tenant, customer, meter, amount
            }),
        3 => (0..TENANTS, 0..CUSTOMERS, meter_strategy(), 1u64..=4, 0u8..4).prop_map(
            |(tenant, customer, meter, amount, grant)| Op::GrantCredits {
                tenant, customer, meter, amount, grant
            }
        ),
        1 => Just(Op::NextDay),
        10 => (0..TENANTS, 0..KEYS, 0..CUSTOMERS, 1u64..=4).prop_map(
            |(tenant, key, customer, amount)| Op::Track { tenant, key, customer, amount }
        ),
        3 => (0..TENANTS, 0..CUSTOMERS, plan_strategy())
            .prop_map(|(tenant, customer, plan)| Op::ChangePlan { tenant, customer, plan }),
        1 => Just(Op::Rollover),
        1 => (0..TENANTS, 0..KEYS).prop_map(|(tenant, key)| Op::RevokeKey { tenant, key }),
    ]
}

/// Sequences of 1 to 60 operations; shrinking drops and simplifies operations.
pub(super) fn ops_strategy() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op_strategy(), 1..=MAX_OPS)
}
