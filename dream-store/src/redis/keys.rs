//! Key names; the layout is documented on the parent module.

use chrono::{DateTime, Utc};
use dream_core::{CustomerId, Tenant, REQUESTS_METER};

/// The keys of one tenant, all carrying the tenant's hash tag.
pub(super) struct TenantKeys {
    /// `P:<kind>:` is prepended, `{plt_…:mode}` follows.
    prefix: String,
    tag: String,
}

impl TenantKeys {
    pub(super) fn new(prefix: &str, tenant: &Tenant) -> Self {
        Self {
            prefix: prefix.to_owned(),
            tag: format!("{{{}:{}}}", tenant.platform, tenant.mode),
        }
    }

    /// Hash: customer id → units counted in the period starting at `start`.
    pub(super) fn usage(&self, start: DateTime<Utc>) -> String {
        format!("{}:usage:{}:{}", self.prefix, self.tag, instant(start))
    }

    /// Hash: customer id → units of `meter` counted in the period starting at
    /// `start`. The `requests` meter keeps its original key ([`Self::usage`]),
    /// so counts stored before meters existed stay valid; every other meter has
    /// a key of its own with its name in it. Meter names are `[a-z0-9_]` and a
    /// period start has no `:`, so two (meter, period) pairs never share a key.
    pub(super) fn meter_usage(&self, meter: &str, start: DateTime<Utc>) -> String {
        if meter == REQUESTS_METER {
            self.usage(start)
        } else {
            format!(
                "{}:meter:{}:{}:{}",
                self.prefix,
                self.tag,
                meter,
                instant(start)
            )
        }
    }

    /// Hash: meter → the customer's credit balance.
    pub(super) fn credits(&self, customer: &CustomerId) -> String {
        format!("{}:credits:{}:{}", self.prefix, self.tag, customer)
    }

    /// String: the balance the credit grant with this id produced. The id comes
    /// last, so braces in it cannot move the hash tag.
    pub(super) fn grant(&self, grant_id: &str) -> String {
        format!("{}:grant:{}:{}", self.prefix, self.tag, grant_id)
    }

    /// String: the tenant's units in the period starting at `start`.
    pub(super) fn total(&self, start: DateTime<Utc>) -> String {
        format!("{}:total:{}:{}", self.prefix, self.tag, instant(start))
    }

    /// Hash: customer id → last accepted call.
    pub(super) fn last(&self) -> String {
        format!("{}:last:{}", self.prefix, self.tag)
    }

    /// String: the customer's GCRA theoretical arrival time.
    pub(super) fn rate(&self, customer: &CustomerId) -> String {
        format!("{}:rate:{}:{}", self.prefix, self.tag, customer)
    }

    /// String: a customer key's GCRA theoretical arrival time, by key id.
    pub(super) fn key_rate(&self, key: &str) -> String {
        format!("{}:keyrate:{}:{}", self.prefix, self.tag, key)
    }

    /// String: what an accepted consume with this receipt answered, and when.
    /// The receipt comes last, so braces in it cannot move the hash tag.
    pub(super) fn receipt(&self, receipt: &str) -> String {
        format!("{}:receipt:{}:{}", self.prefix, self.tag, receipt)
    }
}

/// Unix seconds, plus nanoseconds when there are any: exact, so two periods
/// never share a key, yet short and readable in `redis-cli` for the usual
/// whole-second period starts.
fn instant(at: DateTime<Utc>) -> String {
    match at.timestamp_subsec_nanos() {
        0 => at.timestamp().to_string(),
        nanos => format!("{}.{nanos:09}", at.timestamp()),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use dream_core::{Mode, PlatformId};

    use super::*;

    #[test]
    fn every_key_carries_the_tenant_tag_and_nothing_else_in_braces() {
        let platform = PlatformId::generate();
        let keys = TenantKeys::new("dream", &Tenant::new(platform.clone(), Mode::Live));
        let customer = CustomerId::generate();
        let start = Utc
            .timestamp_opt(1_772_323_200, 0)
            .single()
            .expect("valid instant");
        let tag = format!("{{{platform}:live}}");
        for key in [
            keys.usage(start),
            keys.total(start),
            keys.last(),
            keys.rate(&customer),
            keys.receipt("{evil}"),
            keys.meter_usage("exports", start),
            keys.credits(&customer),
            keys.grant("{evil}"),
        ] {
            assert!(key.starts_with("dream:"), "{key}");
            let open = key.find('{').expect("a hash tag");
            let close = key.find('}').expect("a hash tag");
            assert_eq!(&key[open..=close], tag, "{key}");
        }
        assert_eq!(keys.usage(start), format!("dream:usage:{tag}:1772323200"));
        assert_eq!(keys.meter_usage(REQUESTS_METER, start), keys.usage(start));
        assert_eq!(
            keys.meter_usage("exports", start),
            format!("dream:meter:{tag}:exports:1772323200")
        );
        let fractional = start + chrono::Duration::nanoseconds(5);
        assert_eq!(
            keys.total(fractional),
            format!("dream:total:{tag}:1772323200.000000005")
        );
    }
}
