//! The behaviour functions of the conformance suite, one module per aggregate.
//!
//! Each function takes a fresh store, exercises one behaviour through the port
//! traits only, and panics with a message naming the broken rule. They use fixed
//! instants (`2026-03-10T12:00:00Z` and offsets) and fresh random platforms, so a
//! backend whose stores are not perfectly fresh still gets isolated data.

mod accounts;
mod audit;
mod billing;
mod customer_caps;
mod customer_keys;
mod customer_list;
mod customer_outbox;
mod customers;
mod events;
mod events_retention;
mod fixtures;
mod group_commit;
mod idempotency;
mod identity;
mod inventory;
mod inventory_races;
mod key_rate;
mod keys;
mod meters;
mod outbound;
mod outbound_caps;
mod outbound_corrupt;
mod platforms;
mod rate;
mod receipts;
mod subscriptions;
mod tokens;
mod usage;
mod usage_history;

pub use accounts::{
    accounts_concurrent_signups_one_wins, accounts_insert_and_find,
    accounts_login_failures_concurrent, accounts_login_failures_window,
    accounts_password_change_ends_other_sessions, accounts_sessions_round_trip,
    platforms_owned_by_accounts,
};
pub use audit::{
    audit_append_and_list, audit_mode_filter, audit_pagination, audit_platform_isolation,
};
pub use billing::{
    billing_connections_round_trip, billing_customer_link_concurrent,
    billing_customer_link_first_wins, billing_customer_link_isolation,
    billing_oauth_state_concurrent_take, billing_oauth_state_duplicate_conflicts,
    billing_oauth_state_expiry, billing_oauth_state_single_use, billing_oauth_state_sweep,
    billing_tenants_for_stripe_account,
};
pub use customer_caps::{customers_cap_last_slot_concurrent, customers_cap_sequential};
pub use customer_keys::{
    customer_keys_duplicates_conflict, customer_keys_expire_concurrent_earliest_wins,
    customer_keys_expire_keeps_earlier, customer_keys_insert_and_find,
    customer_keys_list_per_customer, customer_keys_revoke_scoped_and_keeps_first_time,
};
pub use customer_list::{customers_list_filters, customers_list_pagination, customers_plan_counts};
pub use customer_outbox::{
    customers_insert_with_event_is_all_or_nothing, customers_plan_change_writes_its_events,
};
pub use customers::{
    customers_delete, customers_external_id_unique_per_tenant, customers_insert_get_find,
    customers_profile_updates_never_write_plan, customers_tenant_isolation, customers_update,
};
pub use events::{
    events_append_and_list, events_by_customer, events_conflicts_and_cursors, events_pagination,
    events_tenant_isolation,
};
pub use events_retention::events_purge_old_unreferenced;
pub use group_commit::{
    consume_batch_mixes_receipts_and_rates, consume_batch_window_hot_customer,
    consume_exact_across_two_stores,
};
pub use idempotency::{
    idempotency_claim_and_replay, idempotency_expiry, idempotency_purge_after_retention,
    idempotency_release, idempotency_scopes_independent,
    idempotency_stale_claimant_changes_nothing,
};
pub use identity::{
    identity_links_concurrent_advances, identity_links_move_forward_only,
    identity_links_round_trip, identity_links_stay_in_their_tenant,
    identity_links_tombstone_without_tenant,
};
pub use inventory::{
    inventory_carts_all_or_nothing, inventory_commit_release_state_machine,
    inventory_duplicate_id_conflicts, inventory_duplicate_lines_count_together,
    inventory_expiry_frees_stock, inventory_late_commit_reports_oversold,
    inventory_release_expired_reservations, inventory_reserve_commit_counts,
    inventory_sold_out_reports_available, inventory_tenant_isolation,
    inventory_unlimited_never_sells_out,
};
pub use inventory_races::{
    inventory_last_unit_concurrent_carts, inventory_reserve_is_exact_under_concurrency,
    inventory_settle_under_concurrency,
};
pub use key_rate::{key_rate_exact_under_concurrency, key_rate_windows};
pub use keys::{
    keys_count_active, keys_duplicates_conflict, keys_expire_concurrent_earliest_wins,
    keys_expire_keeps_earlier, keys_insert_and_find, keys_list_order_and_filters,
    keys_revoke_keeps_first_time,
};
pub use meters::{
    credits_after_allowance_all_or_nothing, credits_and_meters_in_concurrent_batches,
    credits_concurrent_grants, credits_exact_under_concurrency, meters_are_separate_counters,
    meters_daily_limit_exact_under_concurrency, meters_release_never_below_zero,
};
pub use outbound::{
    outbound_auto_disable, outbound_claim_due, outbound_concurrent_claims,
    outbound_concurrent_records, outbound_deliveries_pagination, outbound_endpoints_isolation,
    outbound_endpoints_round_trip, outbound_fan_out, outbound_purge_finished,
    outbound_record_lease_checks, outbound_record_outcomes, outbound_retry_delivery,
};
pub use outbound_caps::{outbound_endpoint_cap_is_atomic, outbound_update_if_unchanged};
pub use outbound_corrupt::outbound_fan_out_skips_corrupt_endpoints;
pub use platforms::{platforms_allowed_origins, platforms_and_tier_configs};
pub use rate::{rate_limit_gcra, refused_requests_consume_nothing};
pub use receipts::{consume_receipts_replay, consume_receipts_under_concurrency};
pub use subscriptions::{
    subscriptions_apply_writes_its_events, subscriptions_concurrent_applies,
    subscriptions_deleted_customer, subscriptions_round_trip, subscriptions_stale_and_plans,
    subscriptions_tenant_isolation, subscriptions_unknown_customer,
};
pub use tokens::{
    tokens_concurrent_rotation_exactly_one, tokens_customer_login_throttle_per_tenant,
    tokens_first_signing_key_race, tokens_lapsed_families_are_swept_in_batches,
    tokens_revoke_family_and_customer, tokens_rotation_and_reuse_revokes_family,
    tokens_signing_key_rotation, tokens_tenant_isolation_and_absolute_expiry,
};
pub use usage::{consume_exact_sequential, consume_is_exact_under_concurrency};
pub use usage_history::{
    usage_history_adds_and_ranges, usage_history_concurrent_batches_sum_exactly,
    usage_history_concurrent_hourly_batches_sum_exactly, usage_history_hours_sum_to_days,
    usage_history_meters_kept_apart, usage_history_purge_before_cutoff,
};
