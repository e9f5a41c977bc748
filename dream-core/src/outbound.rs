//! Developer webhooks out: endpoints a tenant registers, and the deliveries of its
//! events to them, signed with the Standard Webhooks scheme and retried from the
//! store (so a restart loses nothing).
//!
//! Deliveries are created by the store in the same write that appends the event
//! (see [`EventStore::append_event`]), so an event in the log always has its
//! deliveries: the log is the outbox.
//!
//! [`EventStore::append_event`]: crate::ports::EventStore::append_event

use std::{
    collections::BTreeSet,
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    ids::random_bytes, CoreError, DeliveryId, Event, EventId, EventKind, Mode, StoredSigningSecret,
    Tenant, WebhookEndpointId,
};

/// Most endpoints one tenant may register.
pub const MAX_ENDPOINTS_PER_TENANT: usize = 16;
/// Longest endpoint URL.
pub const MAX_ENDPOINT_URL_LEN: usize = 2048;
/// Longest endpoint description.
pub const MAX_ENDPOINT_DESCRIPTION_LEN: usize = 256;
/// Longest error text kept per attempt.
pub const MAX_ATTEMPT_ERROR_LEN: usize = 256;

/// Which events an endpoint receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventFilter {
    /// Every kind, including kinds added later.
    All,
    /// Only these kinds.
    Only(BTreeSet<EventKind>),
}

impl EventFilter {
    /// Whether `kind` passes.
    pub fn matches(&self, kind: EventKind) -> bool {
        match self {
            EventFilter::All => true,
            EventFilter::Only(kinds) => kinds.contains(&kind),
        }
    }

    /// Parses the API's list: `["*"]` (or empty) means all; otherwise dotted names.
    ///
    /// ```
    /// use dream_core::{EventFilter, EventKind};
    /// let f = EventFilter::from_names(&["customer.created".into()]).unwrap();
    /// assert!(f.matches(EventKind::CustomerCreated));
    /// assert!(!f.matches(EventKind::PlanChanged));
    /// assert_eq!(EventFilter::from_names(&["*".into()]).unwrap(), EventFilter::All);
    /// assert!(EventFilter::from_names(&["customer.exploded".into()]).is_err());
    /// ```
    pub fn from_names(names: &[String]) -> Result<Self, CoreError> {
        if names.is_empty() || names.iter().any(|n| n == "*") {
            return Ok(EventFilter::All);
        }
        let kinds = names
            .iter()
            .map(|name| {
                EventKind::parse(name).ok_or_else(|| {
                    CoreError::invalid(
                        "eventTypes",
                        format!(
                            "unknown event type {name:?}; use \"*\" or one of the documented types"
                        ),
                    )
                })
            })
            .collect::<Result<BTreeSet<_>, _>>()?;
        Ok(EventFilter::Only(kinds))
    }

    /// The API's list (`["*"]` for all).
    pub fn names(&self) -> Vec<String> {
        match self {
            EventFilter::All => vec!["*".into()],
            EventFilter::Only(kinds) => kinds.iter().map(|k| k.as_str().to_owned()).collect(),
        }
    }

    /// The stored form: `*` or comma-separated names.
    pub fn to_text(&self) -> String {
        self.names().join(",")
    }

    /// Reads the stored form.
    pub fn from_text(text: &str) -> Option<Self> {
        if text == "*" {
            return Some(EventFilter::All);
        }
        text.split(',')
            .map(EventKind::parse)
            .collect::<Option<BTreeSet<_>>>()
            .map(EventFilter::Only)
    }
}

/// Why an endpoint receives nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DisabledReason {
    /// The developer turned it off.
    Manual,
    /// It kept failing for longer than the policy allows.
    Failing,
}

impl DisabledReason {
    /// Stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DisabledReason::Manual => "manual",
            DisabledReason::Failing => "failing",
        }
    }

    /// Parses [`Self::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "manual" => Some(DisabledReason::Manual),
            "failing" => Some(DisabledReason::Failing),
            _ => None,
        }
    }
}

/// A URL a tenant asked us to deliver its events to.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// `we_…`.
    pub id: WebhookEndpointId,
    /// Owner (platform and mode).
    pub tenant: Tenant,
    /// Where to POST.
    pub url: String,
    /// The developer's note.
    pub description: Option<String>,
    /// Which events.
    pub filter: EventFilter,
    /// Signs every delivery; sealed at rest when a master key is configured.
    pub secret: StoredSigningSecret,
    /// `None` while enabled.
    pub disabled: Option<DisabledReason>,
    /// Start of the current run of failures, if the last attempt failed.
    pub failing_since: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl WebhookEndpoint {
    /// Whether new events are delivered to it.
    pub fn is_enabled(&self) -> bool {
        self.disabled.is_none()
    }
}

impl fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .field("url", &self.url)
            .field("filter", &self.filter)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryState {
    /// Waiting for its next attempt (or in flight).
    Pending,
    /// An attempt got a 2xx.
    Succeeded,
    /// Every scheduled attempt failed; only a manual retry sends it again.
    Failed,
}

impl DeliveryState {
    /// Stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Succeeded => "succeeded",
            DeliveryState::Failed => "failed",
        }
    }

    /// Parses [`Self::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(DeliveryState::Pending),
            "succeeded" => Some(DeliveryState::Succeeded),
            "failed" => Some(DeliveryState::Failed),
            _ => None,
        }
    }
}

/// One event on its way to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// `dlv_…`.
    pub id: DeliveryId,
    /// Owner.
    pub tenant: Tenant,
    /// Destination.
    pub endpoint: WebhookEndpointId,
    /// What is delivered.
    pub event: EventId,
    /// The event's kind (so listings need not read the event).
    pub event_kind: EventKind,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last attempt's HTTP status, if it got a response.
    pub last_status: Option<u16>,
    /// Created (the event's time).
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Delivery {
    /// A pending delivery of `event` to `endpoint`, due at once.
    pub fn new(endpoint: &WebhookEndpoint, event: &Event) -> Self {
        Self::to_endpoint(&endpoint.id, event)
    }

    /// A pending delivery of `event` to the endpoint with this id, due at once:
    /// for the fan-out of an append, which reads only endpoint ids and filters.
    pub fn to_endpoint(endpoint: &WebhookEndpointId, event: &Event) -> Self {
        Self {
            id: DeliveryId::generate(),
            tenant: event.tenant.clone(),
            endpoint: endpoint.clone(),
            event: event.id.clone(),
            event_kind: event.kind,
            state: DeliveryState::Pending,
            attempts: 0,
            next_attempt_at: Some(event.created_at),
            last_status: None,
            created_at: event.created_at,
            updated_at: event.created_at,
        }
    }
}

/// One HTTP attempt of a delivery, as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// The delivery.
    pub delivery: DeliveryId,
    /// 1 for the first attempt.
    pub number: u32,
    /// When it was sent.
    pub at: DateTime<Utc>,
    /// The response status, if any response came.
    pub status: Option<u16>,
    /// Time to the response (or the failure).
    pub latency_ms: u32,
    /// Why it failed without a response (timeout, refused address, …).
    pub error: Option<String>,
}

impl DeliveryAttempt {
    /// Whether the receiver acknowledged it (2xx).
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryNext {
    /// Done.
    Succeeded,
    /// Try again then.
    RetryAt(DateTime<Utc>),
    /// Out of attempts.
    Failed,
}

/// A delivery claimed for one attempt, with what it needs to send.
#[derive(Debug, Clone)]
pub struct DeliveryJob {
    /// The delivery (its `attempts` counts the attempts made before this one).
    pub delivery: Delivery,
    /// Where to.
    pub endpoint: WebhookEndpoint,
    /// What.
    pub event: Event,
    /// Proves this claim when recording the attempt, so an attempt whose lease
    /// expired (a slow or dead process) cannot record over a newer one.
    pub lease: LeaseToken,
}

/// A random claim token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseToken(pub String);

impl LeaseToken {
    /// A fresh token.
    pub fn generate() -> Self {
        Self(crate::ids::hex(&random_bytes::<16>()))
    }
}

/// What recording an attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AttemptRecorded {
    /// False when the lease was lost (someone else owns the delivery now).
    pub recorded: bool,
    /// True when this failure disabled the endpoint.
    pub endpoint_disabled: bool,
}

/// How deliveries are retried and endpoints disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// Wait before attempt 2, 3, …; the delivery fails after the last.
    pub retry_delays: Vec<Duration>,
    /// Each wait varies by up to this many percent either way, so the retries of
    /// many deliveries that failed together do not arrive together.
    pub jitter_percent: u32,
    /// How long a claimed delivery is reserved for its attempt (must exceed the
    /// send timeout: after it, another process may attempt it).
    pub lease: Duration,
    /// Most deliveries claimed per pass.
    pub batch: usize,
    /// An endpoint failing without a success for this long is disabled.
    pub disable_after: Duration,
    /// Finished deliveries (and their attempts) are kept this long.
    pub log_retention: Duration,
}

impl Default for DeliveryPolicy {
    /// Svix's schedule: at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
    /// (8 attempts over about 27.5 hours); disabled after 5 days of failures;
    /// finished deliveries kept 30 days.
    fn default() -> Self {
        Self {
            retry_delays: [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000]
                .into_iter()
                .map(Duration::seconds)
                .collect(),
            jitter_percent: 10,
            lease: Duration::seconds(60),
            batch: 32,
            disable_after: Duration::days(5),
            log_retention: Duration::days(30),
        }
    }
}

impl DeliveryPolicy {
    /// What follows attempt number `attempt` (1-based), which ended at `now`.
    ///
    /// ```
    /// use chrono::{Duration, Utc};
    /// use dream_core::{DeliveryNext, DeliveryPolicy};
    /// let policy = DeliveryPolicy { jitter_percent: 0, ..DeliveryPolicy::default() };
    /// let now = Utc::now();
    /// assert_eq!(policy.after(1, false, now), DeliveryNext::RetryAt(now + Duration::seconds(5)));
    /// assert_eq!(policy.after(8, false, now), DeliveryNext::Failed);
    /// assert_eq!(policy.after(3, true, now), DeliveryNext::Succeeded);
    /// ```
    pub fn after(&self, attempt: u32, succeeded: bool, now: DateTime<Utc>) -> DeliveryNext {
        if succeeded {
            return DeliveryNext::Succeeded;
        }
        let index = attempt.saturating_sub(1) as usize;
        match self.retry_delays.get(index) {
            Some(delay) => DeliveryNext::RetryAt(now + self.jittered(*delay)),
            None => DeliveryNext::Failed,
        }
    }

    /// The number of attempts a delivery gets.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.retry_delays.len()).unwrap_or(u32::MAX - 1) + 1
    }

    fn jittered(&self, delay: Duration) -> Duration {
        let spread = delay.num_milliseconds() * i64::from(self.jitter_percent.min(100)) / 100;
        if spread <= 0 {
            return delay;
        }
        let roll = i64::from(u32::from_le_bytes(random_bytes::<4>())) % (2 * spread + 1);
        delay + Duration::milliseconds(roll - spread)
    }
}

/// The JSON body sent for an event (Standard Webhooks' `type`/`timestamp`/`data`,
/// plus the event id, mode and customer).
///
/// ```
/// use chrono::Utc;
/// use dream_core::{delivery_payload, Event, EventKind, Mode, PlatformId, Tenant};
/// let tenant = Tenant::new(PlatformId::generate(), Mode::Test);
/// let event = Event::new(tenant, EventKind::CustomerCreated, None, serde_json::json!({"a": 1}), Utc::now());
/// let body: serde_json::Value = serde_json::from_slice(&delivery_payload(&event)).unwrap();
/// assert_eq!(body["type"], "customer.created");
/// assert_eq!(body["livemode"], false);
/// assert_eq!(body["data"]["a"], 1);
/// ```
pub fn delivery_payload(event: &Event) -> Vec<u8> {
    let body = json!({
        "id": event.id.as_str(),
        "type": event.kind.as_str(),
        "timestamp": event.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "livemode": event.tenant.mode == Mode::Live,
        "customerId": event.customer.as_ref().map(|c| c.as_str()),
        "data": event.data,
    });
    body.to_string().into_bytes()
}

/// Whether deliveries may go to loopback, private and link-local addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EndpointPolicy {
    /// Allow them (local development, a private network you trust). Off by default:
    /// otherwise any tenant could make the server call its own network (SSRF).
    pub allow_private: bool,
}

/// Checks an endpoint URL: absolute `https` (or `http` in test mode), no
/// credentials, and, unless `policy` allows it, no loopback/private host. The
/// resolved addresses are checked again at delivery time, so DNS cannot be used
/// to get around this.
///
/// ```
/// use dream_core::{validate_endpoint_url, EndpointPolicy, Mode};
/// let strict = EndpointPolicy::default();
/// assert!(validate_endpoint_url("https://example.com/hooks", Mode::Live, strict).is_ok());
/// assert!(validate_endpoint_url("http://example.com/hooks", Mode::Live, strict).is_err());
/// assert!(validate_endpoint_url("http://127.0.0.1:9000/", Mode::Test, strict).is_err());
/// assert!(validate_endpoint_url("http://10.0.0.8/", Mode::Test, strict).is_err());
/// let dev = EndpointPolicy { allow_private: true };
/// assert!(validate_endpoint_url("http://127.0.0.1:9000/", Mode::Test, dev).is_ok());
/// ```
pub fn validate_endpoint_url(
    text: &str,
    mode: Mode,
    policy: EndpointPolicy,
) -> Result<url::Url, CoreError> {
    let invalid = |why: &str| CoreError::invalid("url", why);
    if text.len() > MAX_ENDPOINT_URL_LEN {
        return Err(invalid("must be at most 2048 characters"));
    }
    let url = url::Url::parse(text).map_err(|_| invalid("must be an absolute http(s) URL"))?;
    match url.scheme() {
        "https" => {}
        // Plain http is fine for a local receiver or a test tunnel; never for live data
        // that crosses a network.
        "http" if mode == Mode::Test || policy.allow_private => {}
        "http" => return Err(invalid("must use https in live mode")),
        _ => return Err(invalid("must be an absolute http(s) URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "must not contain credentials; verify our signature instead",
        ));
    }
    if url.fragment().is_some() {
        return Err(invalid("must not contain a fragment"));
    }
    let refused = || {
        invalid("points at a loopback, private or link-local address, which is refused unless DREAM_WEBHOOK_ALLOW_PRIVATE is set")
    };
    match url.host() {
        None => return Err(invalid("must have a host")),
        Some(url::Host::Domain(domain)) => {
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            let local = domain == "localhost"
                || domain.ends_with(".localhost")
                || domain.ends_with(".local")
                || domain.ends_with(".internal")
                || !domain.contains('.');
            if local && !policy.allow_private {
                return Err(refused());
            }
        }
        Some(url::Host::Ipv4(ip)) if !policy.allow_private && !is_public_ip(IpAddr::V4(ip)) => {
            return Err(refused())
        }
        Some(url::Host::Ipv6(ip)) if !policy.allow_private && !is_public_ip(IpAddr::V6(ip)) => {
            return Err(refused())
        }
        Some(_) => {}
    }
    Ok(url)
}

/// Whether an address is on the public internet: not loopback, private,
/// link-local (cloud metadata lives there), shared/CGNAT, unspecified, multicast,
/// documentation or reserved.
///
/// IPv6 is checked by allow-list: only global unicast (`2000::/3`) can pass, so
/// site-local `fec0::/10`, unique local, link-local and every unassigned range are
/// refused. Inside `2000::/3`, the ranges that carry an IPv4 address a relay or
/// translator would reach (6to4 `2002::/16`, Teredo and the rest of the IETF block
/// `2001::/23`, NAT64 `64:ff9b::/96` and `64:ff9b:1::/48`) are refused outright:
/// the embedded address, not the IPv6 one, decides where the packets go. IPv4
/// mapped into IPv6 (`::ffff:a.b.c.d`) is judged as the IPv4 address it is; the
/// deprecated IPv4-compatible form (`::a.b.c.d`) is refused.
///
/// ```
/// use dream_core::is_public_ip;
/// assert!(is_public_ip("93.184.216.34".parse().unwrap()));
/// assert!(is_public_ip("2606:2800:220:1::1".parse().unwrap()));
/// assert!(!is_public_ip("169.254.169.254".parse().unwrap()));
/// assert!(!is_public_ip("::ffff:127.0.0.1".parse().unwrap()));
/// assert!(!is_public_ip("::127.0.0.1".parse().unwrap()));
/// assert!(!is_public_ip("2002:7f00:1::".parse().unwrap()));
/// assert!(!is_public_ip("fec0::1".parse().unwrap()));
/// assert!(!is_public_ip("fd00::1".parse().unwrap()));
/// ```
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // Allow-list: anything outside global unicast (loopback, unspecified, the
    // IPv4-compatible ::/96, multicast, link-local, site-local, unique local,
    // NAT64 64:ff9b::/96 and 64:ff9b:1::/48, discard 100::/64) is refused.
    let global_unicast = (s[0] & 0xe000) == 0x2000;
    let refused_inside = match s[0] {
        // IETF protocol assignments 2001::/23, incl. Teredo 2001::/32 (tunnels to an
        // IPv4 address of the sender's choosing), benchmarking and ORCHID; and
        // documentation 2001:db8::/32.
        0x2001 => s[1] < 0x0200 || s[1] == 0x0db8,
        // 6to4: routed to the embedded IPv4 address.
        0x2002 => true,
        // Documentation 3fff::/20.
        0x3fff => s[1] < 0x1000,
        // SRv6 segment identifiers, not routed publicly.
        0x5f00 => true,
        _ => false,
    };
    global_unicast && !refused_inside
}

/// Addresses and URLs written to slip past an SSRF check: other spellings of
/// IPv4 loopback, IPv4 inside IPv6 (mapped, compatible, 6to4, Teredo, NAT64),
/// deprecated and private IPv6 ranges, cloud metadata. Shared with the
/// delivery client's tests (`dream-bin/src/delivery.rs`), which must refuse
/// the same list. Test data, public only so that both crates share it.
#[doc(hidden)]
pub const HOSTILE_ENDPOINT_URLS: &[&str] = &[
    "http://2130706433/",
    "http://017700000001/",
    "http://0x7f.1/",
    "http://0x7f000001/",
    "http://127.1/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::127.0.0.1]/",
    "http://[::7f00:1]/",
    "http://[::10.0.0.1]/",
    "http://[::ffff:0:7f00:1]/",
    "http://[2002:7f00:1::]/",
    "http://[2002:a00:1::1]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    "http://[2001::1]/",
    "http://[fec0::1]/",
    "http://[feff::1]/",
    "http://[fc00::1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[64:ff9b:1::a00:1]/",
    "http://[100::1]/",
    "http://[ff02::1]/",
    "http://[::]/",
    "http://[::1]/",
    "http://[3fff::1]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://169.254.169.254/latest/meta-data",
    "http://[fd00:ec2::254]/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://0/",
    "http://192.88.99.1/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.0.1/",
    "http://255.255.255.255/",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_schedule_lasts_at_least_a_day() {
        let policy = DeliveryPolicy::default();
        let total: i64 = policy.retry_delays.iter().map(|d| d.num_seconds()).sum();
        assert!(total >= 24 * 3600, "retries span {total} s");
        assert_eq!(policy.max_attempts(), 8);
    }

    #[test]
    fn jitter_stays_within_its_percent() {
        let policy = DeliveryPolicy::default();
        let now = Utc::now();
        let mut seen = BTreeSet::new();
        for _ in 0..200 {
            let DeliveryNext::RetryAt(at) = policy.after(3, false, now) else {
                panic!("attempt 3 of 8 is retried");
            };
            let waited = (at - now).num_milliseconds();
            assert!(
                (1_620_000..=1_980_000).contains(&waited),
                "waited {waited} ms"
            );
            seen.insert(waited);
        }
        assert!(seen.len() > 1, "jitter varies the wait");
    }

    #[test]
    fn filters_round_trip_through_text() {
        for filter in [
            EventFilter::All,
            EventFilter::from_names(&["plan.changed".into(), "customer.created".into()])
                .unwrap_or(EventFilter::All),
        ] {
            assert_eq!(EventFilter::from_text(&filter.to_text()), Some(filter));
        }
        assert_eq!(EventFilter::from_text("nope"), None);
    }

    #[test]
    fn urls_are_checked_for_ssrf() {
        let strict = EndpointPolicy::default();
        for bad in [
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://localhost/",
            "https://api.localhost/",
            "https://metadata/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/",
            "https://[fe80::1]/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://example.com/#frag",
            "not a url",
        ] {
            assert!(
                validate_endpoint_url(bad, Mode::Test, strict).is_err(),
                "{bad} should be refused"
            );
        }
        assert!(
            validate_endpoint_url("https://hooks.example.com:8443/x?y=1", Mode::Live, strict)
                .is_ok()
        );
        assert!(validate_endpoint_url("http://hooks.example.com/", Mode::Test, strict).is_ok());
    }

    #[test]
    fn hostile_urls_are_refused_at_registration() {
        let strict = EndpointPolicy::default();
        for url in HOSTILE_ENDPOINT_URLS {
            assert!(
                validate_endpoint_url(url, Mode::Test, strict).is_err(),
                "{url} should be refused"
            );
            if let Ok(parsed) = url::Url::parse(url) {
                let ip = match parsed.host() {
                    Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                    Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                    _ => None,
                };
                if let Some(ip) = ip {
                    assert!(!is_public_ip(ip), "{ip} ({url}) is not public");
                }
            }
        }
        // Public addresses in the same families still pass.
        for ip in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "::ffff:93.184.216.34",
        ] {
            let ip: IpAddr = ip.parse().expect("literal");
            assert!(is_public_ip(ip), "{ip} is public");
        }
    }
}
