//! # dream-conformance
//!
//! Test support shared by every store backend and decorator of `dream-core`'s
//! ports (not published; a dev-dependency of the backends).
//!
//! - The **conformance suite**: one `pub async fn` per behaviour of the
//!   [`ports`](dream_core::ports), each taking a fresh [`Stores`](dream_core::ports::Stores) and panicking
//!   with a clear message on a violation.
//!   [`store_conformance_tests!`](crate::store_conformance_tests) expands to one
//!   `#[tokio::test]` per behaviour.
//! - [`run_model_property_test`]: random sequences of tracks, plan changes, period
//!   rollovers and key revocations through [`Dream`](dream_core::Dream), checked
//!   against a small reference model after every step.
//!
//! A backend's integration test runs both, unchanged:
//!
//! ```text
//! use std::sync::Arc;
//!
//! dream_conformance::store_conformance_tests!(|| Arc::new(my_backend::Store::new()));
//!
//! #[test]
//! fn model_property_test() {
//!     dream_conformance::run_model_property_test(
//!         || Arc::new(my_backend::Store::new()),
//!         256,
//!     );
//! }
//! ```

mod conformance;
mod model;

pub use conformance::*;
pub use model::{run_model_property_test, run_model_property_test_async};

/// Expands to the whole conformance suite: a module `store_conformance` with one
/// `#[tokio::test(flavor = "multi_thread", worker_threads = 4)]` per behaviour of
/// this crate, each on a fresh store.
///
/// Two forms:
///
/// - `store_conformance_tests!(factory)` where `factory` is an expression of type
///   `impl Fn() -> S` with `S: Into<Stores>` (one backend's `Arc`, or a
///   composed or decorated `Stores`), for example `|| Arc::new(MemoryStore::new())`;
/// - `store_conformance_tests!(async factory)` where `factory()` returns a future
///   of such an `S` (for backends that connect or migrate asynchronously),
///   for example an `async fn fresh_store() -> Arc<PostgresStore>`.
///
/// The factory is evaluated inside each test, within the tokio runtime. Paths in
/// it resolve as in the calling module (the generated module does `use super::*`).
/// The calling crate needs `tokio` (features `rt-multi-thread`, `macros`) as a
/// dev-dependency. Invoke it once per module; wrap invocations in modules of your
/// own to run the suite against several backends from one file.
#[macro_export]
macro_rules! store_conformance_tests {
    (async $factory:expr) => {
        $crate::__store_conformance_tests!(@module { ($factory)().await });
    };
    ($factory:expr) => {
        $crate::__store_conformance_tests!(@module { ($factory)() });
    };
}

/// Implementation detail of [`store_conformance_tests!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_tests {
    (@module $make:block) => {
        /// The store conformance suite of `dream_conformance`.
        mod store_conformance {
            #[allow(unused_imports)]
            use super::*;

            $crate::__store_conformance_tests!(@tests $make;
                platforms_and_tier_configs,
                platforms_allowed_origins,
                platforms_owned_by_accounts,
                accounts_insert_and_find,
                accounts_concurrent_signups_one_wins,
                accounts_sessions_round_trip,
                accounts_password_change_ends_other_sessions,
                accounts_login_failures_window,
                accounts_login_failures_concurrent,
                tokens_rotation_and_reuse_revokes_family,
                tokens_tenant_isolation_and_absolute_expiry,
                tokens_concurrent_rotation_exactly_one,
                tokens_revoke_family_and_customer,
                tokens_first_signing_key_race,
                tokens_signing_key_rotation,
                tokens_lapsed_families_are_swept_in_batches,
                tokens_customer_login_throttle_per_tenant,
                keys_insert_and_find,
                keys_list_order_and_filters,
                keys_revoke_keeps_first_time,
                keys_expire_keeps_earlier,
                keys_expire_concurrent_earliest_wins,
                keys_count_active,
                keys_duplicates_conflict,
                customer_keys_insert_and_find,
                customer_keys_list_per_customer,
                customer_keys_revoke_scoped_and_keeps_first_time,
                customer_keys_expire_keeps_earlier,
                customer_keys_expire_concurrent_earliest_wins,
                customer_keys_duplicates_conflict,
                customers_insert_get_find,
                customers_external_id_unique_per_tenant,
                customers_update,
                customers_profile_updates_never_write_plan,
                customers_delete,
                customers_list_pagination,
                customers_list_filters,
                customers_plan_counts,
                customers_tenant_isolation,
                customers_cap_sequential,
                customers_cap_last_slot_concurrent,
                customers_insert_with_event_is_all_or_nothing,
                customers_plan_change_writes_its_events,
                consume_exact_sequential,
                meters_are_separate_counters,
                meters_release_never_below_zero,
                credits_after_allowance_all_or_nothing,
                meters_daily_limit_exact_under_concurrency,
                credits_exact_under_concurrency,
                credits_concurrent_grants,
                credits_and_meters_in_concurrent_batches,
                rate_limit_gcra,
                refused_requests_consume_nothing,
                key_rate_windows,
                key_rate_exact_under_concurrency,
                consume_receipts_replay,
                consume_receipts_under_concurrency,
                consume_batch_window_hot_customer,
                consume_batch_mixes_receipts_and_rates,
                usage_history_adds_and_ranges,
                usage_history_concurrent_batches_sum_exactly,
                usage_history_hours_sum_to_days,
                usage_history_meters_kept_apart,
                usage_history_concurrent_hourly_batches_sum_exactly,
                usage_history_purge_before_cutoff,
                events_append_and_list,
                events_pagination,
                events_conflicts_and_cursors,
                events_tenant_isolation,
                events_by_customer,
                events_purge_old_unreferenced,
                audit_append_and_list,
                audit_pagination,
                audit_mode_filter,
                audit_platform_isolation,
                idempotency_claim_and_replay,
                idempotency_release,
                idempotency_expiry,
                idempotency_scopes_independent,
                idempotency_stale_claimant_changes_nothing,
                idempotency_purge_after_retention,
                inventory_reserve_commit_counts,
                inventory_sold_out_reports_available,
                inventory_carts_all_or_nothing,
                inventory_duplicate_lines_count_together,
                inventory_unlimited_never_sells_out,
                inventory_expiry_frees_stock,
                inventory_commit_release_state_machine,
                inventory_duplicate_id_conflicts,
                inventory_tenant_isolation,
                inventory_last_unit_concurrent_carts,
                inventory_settle_under_concurrency,
                inventory_late_commit_reports_oversold,
                inventory_release_expired_reservations,
                billing_connections_round_trip,
                billing_tenants_for_stripe_account,
                billing_oauth_state_single_use,
                billing_oauth_state_expiry,
                billing_oauth_state_sweep,
                billing_oauth_state_duplicate_conflicts,
                billing_oauth_state_concurrent_take,
                billing_customer_link_first_wins,
                billing_customer_link_isolation,
                billing_customer_link_concurrent,
                subscriptions_round_trip,
                subscriptions_unknown_customer,
                subscriptions_tenant_isolation,
                subscriptions_stale_and_plans,
                subscriptions_deleted_customer,
                subscriptions_concurrent_applies,
                subscriptions_apply_writes_its_events,
                identity_links_round_trip,
                identity_links_move_forward_only,
                identity_links_stay_in_their_tenant,
                identity_links_tombstone_without_tenant,
                identity_links_concurrent_advances,
                outbound_endpoints_round_trip,
                outbound_endpoints_isolation,
                outbound_fan_out,
                outbound_endpoint_cap_is_atomic,
                outbound_update_if_unchanged,
                outbound_deliveries_pagination,
                outbound_claim_due,
                outbound_record_outcomes,
                outbound_record_lease_checks,
                outbound_auto_disable,
                outbound_retry_delivery,
                outbound_purge_finished,
                outbound_concurrent_claims,
                outbound_concurrent_records,
            );

            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn consume_exact_under_concurrency() {
                let store: ::dream_core::ports::Stores = ::core::convert::Into::into($make);
                $crate::consume_is_exact_under_concurrency(store, 200, 50).await;
            }

            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn inventory_reserve_exact_under_concurrency() {
                let store: ::dream_core::ports::Stores = ::core::convert::Into::into($make);
                $crate::inventory_reserve_is_exact_under_concurrency(store, 40, 5).await;
            }
        }
    };
    (@tests $make:block; $($name:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let store: ::dream_core::ports::Stores = ::core::convert::Into::into($make);
                $crate::$name(store).await;
            }
        )*
    };
}
