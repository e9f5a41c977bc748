//! Consume requests and limits for the SQL stores' unit tests.

use chrono::{TimeZone, Utc};
use dream_core::{ConsumeRequest, CustomerId, Mode, Period, PlatformId, Tenant, UsageLimit};
use proptest::prelude::*;

/// A plain consume (no receipt, no rate limit) of `requests` by `usr_{customer}`
/// of one test tenant, at one fixed instant.
pub(crate) fn consume(customer: &str, amount: u64, limit: UsageLimit) -> ConsumeRequest {
    let now = Utc
        .with_ymd_and_hms(2026, 3, 10, 12, 0, 0)
        .single()
        .expect("time");
    ConsumeRequest {
        tenant: Tenant {
            platform: PlatformId::parse("plt_tests").expect("platform"),
            mode: Mode::Test,
        },
        customer: CustomerId::parse(&format!("usr_{customer}")).expect("customer"),
        meter: std::borrow::Cow::Borrowed(dream_core::REQUESTS_METER),
        period: Period::calendar_month(now),
        amount,
        limit,
        rate_limit_per_minute: None,
        key_rate: None,
        now,
        receipt: None,
    }
}

/// Small limits (0 included, so refusals come early) or none.
pub(crate) fn limits() -> impl Strategy<Value = UsageLimit> {
    prop_oneof![
        (0u64..12).prop_map(UsageLimit::Limited),
        Just(UsageLimit::Unlimited),
    ]
}
