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

    /// The reference rule, written independently of `within_limit`.
    pub(super) fn admits(self, used: u64, amount: u64) -> bool {
        match self.limit() {
            UsageLimit::Unlimited => true,
            UsageLimit::Limited(limit) => used + amount <= limit,
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
    /// Move the clock into the next calendar month.
    Rollover,
    /// Revoke key `key` of `tenant`.
    RevokeKey { tenant: usize, key: usize },
}

fn plan_strategy() -> impl Strategy<Value = Plan> {
    prop::sample::select(Plan::ALL.to_vec())
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
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
