//! # dream-core
//!
//! The domain of dream: platforms and their test/live tenants, key pairs, tiers
//! with usage limits, end customers, exact usage counting, and an event log, with
//! the rules in [`Dream`] and storage behind the traits of [`ports`].
//!
//! This crate does no I/O of its own (no runtime, no HTTP, no database driver), so
//! a Rust service can embed it with any backend from `dream-store`:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), dream_core::CoreError> {
//! use std::sync::Arc;
//! use dream_core::{Dream, Mode, Tenant};
//!
//! let dream = Dream::new(Arc::new(dream_store::MemoryStore::new()));
//! let platform = dream.create_platform(None).await?;
//! let issued = dream.issue_key(&Tenant::new(platform.id, Mode::Live), None, None).await?;
//! let key = dream.authenticate_secret(issued.secret.expose_secret()).await?;
//! assert_eq!(key.tenant.mode, Mode::Live);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod account;
mod audit;
mod billing;
mod clock;
mod customer;
mod error;
mod event;
mod idempotency;
// `macro_use`: `prefixed_id!` is also used by `inventory`, declared after it.
#[macro_use]
mod ids;
// After `ids`: uses `prefixed_id!`.
mod customer_keys;
mod inventory;
mod keys;
mod meter;
mod origins;
mod outbound;
mod page;
mod platform;
pub mod ports;
mod services;
mod sign_in;
mod signing;
mod tenant;
mod tier;
mod usage;
mod usage_history;

pub use account::{
    email_key, validate_account_password, Account, LoginAttemptId, LoginFailures, LoginThrottle,
    Session, SessionDigest, SessionPolicy, SessionToken, MIN_ACCOUNT_PASSWORD_CHARS,
};
pub use audit::{scrub_secrets, Actor, AuditAction, AuditContext, AuditEntry};
pub use billing::{
    limit_text, metadata_keys, needs_stripe_price, next_sync_step, price_fingerprint,
    product_fingerprint, AccountAccess, BillingAccount, BillingConnection, BillingError,
    BillingErrorKind, CheckoutKind, CheckoutLine, CheckoutSession, CheckoutSpec, ConnectedAccount,
    CustomerSpec, MasterKey, OAuthState, PortalSession, PortalSpec, PriceSpec, ProductSpec,
    ProductUpdate, RevealedSecret, SealError, SealedSecret, StripeCustomerLink, StripeLink,
    StripeTierRefs, SyncStep,
};
pub use billing::{
    monthly_minor, BillingChange, ProviderEvent, SubscriptionApply, SubscriptionState,
    SubscriptionStatus, WebhookError,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use customer::{
    Customer, CustomerPatch, CustomerQuery, HashMemory, Metadata, NewCustomer, PasswordHash,
};
pub use customer_keys::{
    CustomerKeyId, CustomerKeyRecord, CustomerKeySecret, IssuedCustomerKey, NewCustomerKey,
    Verification, VerifyCode, VerifyUsage,
};
pub use error::{BoxError, CoreError, LimitReached, StoreError};
pub use event::{Event, EventKind};
pub use idempotency::{
    ClaimToken, IdempotencyClaim, IdempotencyScope, IdempotencyTimes, StoredResponse,
};
pub use ids::{
    AccountId, AuditId, CustomerId, DeliveryId, EventId, KeyId, PlatformId, WebhookEndpointId,
};
pub use inventory::{
    demand_of, InventoryCounts, ProductDemand, ProductSold, Reservation, ReservationCommit,
    ReservationId, ReservationLine, ReservationState, ReservationTransition, ReserveOutcome,
    ReserveRequest,
};
pub use keys::{
    generate_publishable_key, IssuedKey, KeyDigest, KeyKind, KeyRecord, SecretKey, TokenShape,
};
pub use meter::{
    credits_needed, decide_usage, validate_meter_name, CreditGrant, CreditGrantOutcome,
    MeterPeriod, MeterReset, MeterSpec, MetersReading, CREDIT_BALANCE_FULL, MAX_CREDIT_BALANCE,
    MAX_CREDIT_GRANT, MAX_METERS_PER_TIER,
};
pub use origins::{origin_allowed, validate_allowed_origins, MAX_ALLOWED_ORIGINS};
pub use outbound::{
    delivery_payload, is_public_ip, validate_endpoint_url, AttemptRecorded, Delivery,
    DeliveryAttempt, DeliveryJob, DeliveryNext, DeliveryPolicy, DeliveryState, DisabledReason,
    EndpointPolicy, EventFilter, LeaseToken, WebhookEndpoint, HOSTILE_ENDPOINT_URLS,
    MAX_ATTEMPT_ERROR_LEN, MAX_ENDPOINTS_PER_TENANT, MAX_ENDPOINT_DESCRIPTION_LEN,
    MAX_ENDPOINT_URL_LEN,
};
pub use page::{Page, PageRequest};
pub use platform::Platform;
pub use services::{
    validate_redirect_url, AccountPlan, AccountSettings, Cart, CartCheckout, CartItem,
    CheckOutcome, CheckQuery, CheckoutUrls, ClerkEndpoint, CreditsGranted, Dashboard, DeliveryPass,
    Dream, EndpointPatch, Entitlements, Granularity, HistoryQuery, HousePlatform, MeterState, Mrr,
    NewEndpoint, OversoldProduct, ProductListing, ProductsCreated, RolledCustomerKey, RolledKey,
    SignInSettings, SignUp, SignedIn, SignedInAccount, SweepReport, TenantLimits, TierPriceIds,
    TokenAudience, TokenPair, TrackOutcome, UsageHistory, UsageReport, WebhookOutcome,
    CART_SESSION_MINUTES, DEFAULT_HISTORY_RETENTION_DAYS, MAX_CART_LINES, MAX_CART_QUANTITY,
    MAX_HISTORY_BUCKETS, MAX_PRESENTED_KEY_LEN, MAX_ROLL_OVERLAP_SECS, RESERVATION_MARGIN_MINUTES,
    SIGNING_KEY_CACHE_SECS, WEBHOOK_DEDUP_DAYS,
};
pub use sign_in::{
    AccessClaims, Jwk, RefreshDigest, RefreshFamily, RefreshFamilyId, RefreshOutcome, RefreshToken,
    SigningKey, SigningKeyError, SigningKeyRecord, StoredPrivateKey, SIGNING_ALG,
};
pub use signing::{
    verify_signed, verify_signed_by, SignedHeaders, SigningSecret, StoredSigningSecret,
    SIGNATURE_TOLERANCE_SECS,
};
pub use tenant::{Mode, Tenant};
pub use tier::{
    crossed_thresholds, validate_flag_name, validate_tier_name, validate_tiers, CreditsPerUnit,
    Interval, MeterRule, Money, Tier, TierConfig, TierKind, UsageLimit, DEFAULT_ALERTS,
    REQUESTS_METER,
};
pub use usage::{
    gcra, within_limit, ConsumeOutcome, ConsumeRequest, KeyRate, Period, MAX_RATE_PER_MINUTE,
    RECEIPT_RETENTION_HOURS,
};
pub use usage_history::{hour_start, DailyUsage, HourlyUsage, UsageTally};

/// Largest amount a single track call may count.
pub use services::MAX_TRACK_AMOUNT;
