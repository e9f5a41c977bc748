//! Billing connections, Connect onboarding states and Stripe customer links.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use dream_core::{
    ports::Stores, BillingConnection, CustomerId, MasterKey, Mode, OAuthState, PlatformId,
    RevealedSecret, StoreError, StripeCustomerLink, StripeLink, Tenant,
};

use super::fixtures::{at, customer, insert_customer, new_tenants, t0};

fn connect(tenant: &Tenant, account_id: &str, connected_at: DateTime<Utc>) -> BillingConnection {
    BillingConnection {
        tenant: tenant.clone(),
        link: StripeLink::Connect {
            account_id: account_id.into(),
        },
        connected_at,
    }
}

fn direct(
    key: &MasterKey,
    tenant: &Tenant,
    secret: &str,
    connected_at: DateTime<Utc>,
) -> BillingConnection {
    direct_with_webhook(key, tenant, secret, None, connected_at)
}

fn direct_with_webhook(
    key: &MasterKey,
    tenant: &Tenant,
    secret: &str,
    webhook_secret: Option<&str>,
    connected_at: DateTime<Utc>,
) -> BillingConnection {
    let seal = |s: &str| key.seal(tenant, &RevealedSecret::new(s.into()));
    BillingConnection {
        tenant: tenant.clone(),
        link: StripeLink::Direct {
            sealed_key: seal(secret),
            sealed_webhook_secret: webhook_secret.map(seal),
        },
        connected_at,
    }
}

/// The sealed webhook secret of a direct connection, opened for its tenant.
fn opened_webhook_secret(key: &MasterKey, connection: &BillingConnection) -> Option<String> {
    match &connection.link {
        StripeLink::Direct {
            sealed_webhook_secret: Some(sealed),
            ..
        } => key
            .open(&connection.tenant, sealed)
            .map(|s| s.expose().to_owned())
            .ok(),
        _ => None,
    }
}

/// An `acct_…` id no other test (or earlier run on a shared store) uses.
fn fresh_account() -> String {
    format!("acct_{}", PlatformId::generate().as_str())
}

async fn put(store: &Stores, connection: &BillingConnection) {
    store
        .billing
        .put_billing_connection(connection)
        .await
        .unwrap_or_else(|e| panic!("put_billing_connection({connection:?}) failed: {e:?}"));
}

async fn get(store: &Stores, tenant: &Tenant) -> Option<BillingConnection> {
    store
        .billing
        .get_billing_connection(tenant)
        .await
        .unwrap_or_else(|e| panic!("get_billing_connection({tenant}) failed: {e:?}"))
}

async fn delete(store: &Stores, tenant: &Tenant) -> bool {
    store
        .billing
        .delete_billing_connection(tenant)
        .await
        .unwrap_or_else(|e| panic!("delete_billing_connection({tenant}) failed: {e:?}"))
}

async fn tenants_of(store: &Stores, account_id: &str) -> Vec<Tenant> {
    store
        .billing
        .tenants_for_stripe_account(account_id)
        .await
        .unwrap_or_else(|e| panic!("tenants_for_stripe_account({account_id}) failed: {e:?}"))
}

async fn insert_state(store: &Stores, state: &OAuthState) {
    store
        .billing
        .insert_oauth_state(state)
        .await
        .unwrap_or_else(|e| panic!("insert_oauth_state failed: {e:?}"));
}

async fn take(store: &Stores, digest: &[u8; 32], now: DateTime<Utc>) -> Option<OAuthState> {
    store
        .billing
        .take_oauth_state(digest, now)
        .await
        .unwrap_or_else(|e| panic!("take_oauth_state failed: {e:?}"))
}

fn customer_link(
    tenant: &Tenant,
    customer: &CustomerId,
    account: &str,
    stripe_customer_id: &str,
) -> StripeCustomerLink {
    StripeCustomerLink {
        tenant: tenant.clone(),
        customer: customer.clone(),
        account: account.into(),
        stripe_customer_id: stripe_customer_id.into(),
    }
}

async fn link(store: &Stores, link: &StripeCustomerLink) -> String {
    store
        .billing
        .link_stripe_customer(link)
        .await
        .unwrap_or_else(|e| panic!("link_stripe_customer({link:?}) failed: {e:?}"))
}

async fn stripe_customer(
    store: &Stores,
    tenant: &Tenant,
    customer: &CustomerId,
    account: &str,
) -> Option<String> {
    store
        .billing
        .get_stripe_customer(tenant, customer, account)
        .await
        .unwrap_or_else(|e| panic!("get_stripe_customer failed: {e:?}"))
}

async fn find(
    store: &Stores,
    tenant: &Tenant,
    account: &str,
    stripe_customer_id: &str,
) -> Option<CustomerId> {
    store
        .billing
        .find_customer_by_stripe_id(tenant, account, stripe_customer_id)
        .await
        .unwrap_or_else(|e| panic!("find_customer_by_stripe_id failed: {e:?}"))
}

/// A stored customer of `tenant`, so links point at a real record.
async fn new_customer(store: &Stores, tenant: &Tenant) -> CustomerId {
    let c = customer(tenant, None, t0());
    insert_customer(store, &c, "billing fixture").await;
    c.id
}

/// Connections round-trip per tenant (test and live of one platform are separate):
/// a Connect link keeps its account id, a direct link its sealed key and its
/// optional sealed webhook secret byte for byte (both still open for their tenant),
/// `put` replaces the whole link (no column of the previous kind survives, nor a
/// webhook secret the new direct link does not carry), and `delete` removes only
/// that tenant's, saying whether there was one.
pub async fn billing_connections_round_trip(store: Stores) {
    let store = &store;
    let (test, live) = new_tenants(store).await;
    let (other, _) = new_tenants(store).await;
    let key = MasterKey::generate();
    assert_eq!(
        get(store, &test).await,
        None,
        "a new tenant has no connection"
    );

    let account = fresh_account();
    let test_connect = connect(&test, &account, at(10));
    put(store, &test_connect).await;
    assert_eq!(
        get(store, &test).await,
        Some(test_connect.clone()),
        "get_billing_connection must return the Connect link that was put"
    );
    assert_eq!(
        get(store, &live).await,
        None,
        "a connection of the test mode must not appear in the live mode"
    );

    // A direct link without a webhook secret reads back without one.
    let live_plain = direct(&key, &live, "rk_live_plain", at(15));
    put(store, &live_plain).await;
    assert_eq!(
        get(store, &live).await,
        Some(live_plain),
        "a direct link without a webhook secret must round-trip without one"
    );

    let live_direct =
        direct_with_webhook(&key, &live, "rk_live_51Hx✓", Some("whsec_live_✓"), at(20));
    put(store, &live_direct).await;
    let got = get(store, &live).await;
    assert_eq!(
        got,
        Some(live_direct.clone()),
        "a direct link must round-trip with its sealed key and sealed webhook secret byte \
         for byte (and replace the direct link without a secret)"
    );
    let Some(got) = got else {
        unreachable!("asserted equal to a direct connection just above")
    };
    let StripeLink::Direct { sealed_key, .. } = &got.link else {
        unreachable!("asserted equal to a direct connection just above")
    };
    assert_eq!(
        key.open(&live, sealed_key)
            .map(|s| s.expose().to_owned())
            .ok(),
        Some("rk_live_51Hx✓".to_owned()),
        "a stored sealed key must still open for its tenant"
    );
    assert_eq!(
        opened_webhook_secret(&key, &got).as_deref(),
        Some("whsec_live_✓"),
        "a stored sealed webhook secret must still open for its tenant"
    );

    // Replacing it by a direct link without a secret must drop the secret (a
    // backend that kept the old column would accept events the developer revoked).
    let live_unhooked = direct(&key, &live, "rk_live_51Hx✓", at(21));
    put(store, &live_unhooked).await;
    assert_eq!(
        get(store, &live).await,
        Some(live_unhooked),
        "put_billing_connection must replace a direct link's webhook secret by none"
    );
    put(store, &live_direct).await;
    assert_eq!(
        get(store, &test).await,
        Some(test_connect.clone()),
        "putting the live connection must leave the test one alone"
    );

    // Kind changes both ways: a backend that merges columns instead of replacing
    // the row would keep a stale key or account.
    let test_direct =
        direct_with_webhook(&key, &test, "sk_test_abc", Some("whsec_test_abc"), at(30));
    put(store, &test_direct).await;
    assert_eq!(
        get(store, &test).await,
        Some(test_direct),
        "put_billing_connection must replace a Connect link by a direct one"
    );
    let test_reconnect = connect(&test, &fresh_account(), at(40));
    put(store, &test_reconnect).await;
    assert_eq!(
        get(store, &test).await,
        Some(test_reconnect.clone()),
        "put_billing_connection must replace a direct link by a Connect one, with the new \
         account and time"
    );

    let other_connect = connect(&other, &account, at(50));
    put(store, &other_connect).await;
    assert!(
        delete(store, &test).await,
        "deleting an existing connection must say true"
    );
    assert_eq!(
        get(store, &test).await,
        None,
        "a deleted connection is gone"
    );
    assert!(
        !delete(store, &test).await,
        "deleting a connection that is not there must say false"
    );
    assert_eq!(
        get(store, &live).await,
        Some(live_direct),
        "deleting the test connection must leave the live one of the same platform"
    );
    assert_eq!(
        get(store, &other).await,
        Some(other_connect),
        "deleting one platform's connection must leave another platform's"
    );
    put(store, &test_connect).await;
    assert_eq!(
        get(store, &test).await,
        Some(test_connect),
        "a tenant can connect again after deleting its connection"
    );
}

/// `tenants_for_stripe_account` lists exactly the tenants whose Connect link names
/// the account (exact match; direct links never, whatever they hold), ordered by
/// platform id then mode whatever the insertion order, and follows replacements
/// and deletions.
pub async fn billing_tenants_for_stripe_account(store: Stores) {
    let store = &store;
    let key = MasterKey::generate();
    let account = fresh_account();
    let elsewhere = fresh_account();
    let mut platforms = Vec::new();
    for _ in 0..3 {
        platforms.push(new_tenants(store).await);
    }
    platforms.sort_by(|a, b| a.0.platform.as_str().cmp(b.0.platform.as_str()));
    let [(a_test, a_live), (b_test, b_live), (c_test, c_live)] = &platforms[..] else {
        unreachable!("three platforms were created")
    };
    assert_eq!(
        tenants_of(store, &account).await,
        Vec::<Tenant>::new(),
        "an account nobody connected has no tenants"
    );

    // Inserted against the expected order: last platform first, test before live.
    put(store, &connect(c_test, &account, at(1))).await;
    put(store, &connect(c_live, &account, at(2))).await;
    put(store, &connect(b_test, &account, at(3))).await;
    put(store, &connect(a_test, &account, at(4))).await;
    put(store, &connect(a_live, &account, at(5))).await;
    put(store, &connect(b_live, &elsewhere, at(6))).await;
    let (d_test, d_live) = new_tenants(store).await;
    // A prefix or suffix of the account must not match.
    put(store, &connect(&d_test, &format!("{account}x"), at(7))).await;
    put(store, &direct(&key, &d_live, &account, at(8))).await;

    assert_eq!(
        tenants_of(store, &account).await,
        vec![
            a_live.clone(),
            a_test.clone(),
            b_test.clone(),
            c_live.clone(),
            c_test.clone()
        ],
        "the tenants of an account must come in platform-id order, then mode \
         (\"live\" before \"test\"), and only those whose Connect link names exactly it"
    );
    assert_eq!(
        tenants_of(store, &elsewhere).await,
        vec![b_live.clone()],
        "each account lists only its own tenants"
    );
    assert_eq!(
        tenants_of(store, "direct").await,
        Vec::<Tenant>::new(),
        "direct links are not Connect accounts, not even under their account key"
    );

    assert!(delete(store, b_test).await, "delete an existing connection");
    put(store, &direct(&key, a_live, "sk_live_x", at(9))).await;
    put(store, &connect(c_test, &elsewhere, at(10))).await;
    assert_eq!(
        tenants_of(store, &account).await,
        vec![a_test.clone(), c_live.clone()],
        "a deleted connection, one replaced by a direct link and one moved to another \
         account must all leave the account's tenants"
    );
    assert_eq!(
        tenants_of(store, &elsewhere).await,
        vec![b_live.clone(), c_test.clone()],
        "a connection moved to another account must be listed there"
    );
}

/// An onboarding state is taken once: the first take returns it as stored (digest,
/// tenant, times), the next gets `None`; unknown digests give `None`; states of
/// different tenants are independent.
pub async fn billing_oauth_state_single_use(store: Stores) {
    let store = &store;
    let (test, live) = new_tenants(store).await;
    let (token, state) = OAuthState::issue(live.clone(), t0());
    assert_eq!(OAuthState::digest_of(&token), state.digest);
    let (_, other) = OAuthState::issue(test.clone(), at(1));
    insert_state(store, &state).await;
    insert_state(store, &other).await;

    assert_eq!(
        take(store, &OAuthState::digest_of("never issued"), at(2)).await,
        None,
        "an unknown digest must give None"
    );
    assert_eq!(
        take(store, &state.digest, at(60)).await,
        Some(state.clone()),
        "the first take of an unexpired state must return it as stored"
    );
    assert_eq!(
        take(store, &state.digest, at(61)).await,
        None,
        "a state must be usable once: the second take must give None"
    );
    assert_eq!(
        take(store, &other.digest, at(62)).await,
        Some(other),
        "taking one state must leave the others"
    );
}

/// A state taken at or after its expiry gives `None` (the expiry instant itself is
/// too late; a microsecond before is not) and is removed, so even a later take
/// with an earlier clock cannot use it.
pub async fn billing_oauth_state_expiry(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let (_, expiring) = OAuthState::issue(test.clone(), t0());
    let (_, just_in_time) = OAuthState::issue(test.clone(), t0());
    insert_state(store, &expiring).await;
    insert_state(store, &just_in_time).await;

    assert_eq!(
        take(store, &expiring.digest, expiring.expires_at).await,
        None,
        "a state taken at its expiry instant must give None"
    );
    assert_eq!(
        take(store, &expiring.digest, at(1)).await,
        None,
        "an expired state must be removed by the take that found it expired"
    );
    assert_eq!(
        take(
            store,
            &just_in_time.digest,
            just_in_time.expires_at - Duration::microseconds(1)
        )
        .await,
        Some(just_in_time),
        "a state taken a microsecond before its expiry must still be returned"
    );
}

/// The sweep deletes states expired at `now` (the expiry instant included), at
/// most `limit` per call, across tenants, and never an unexpired one.
pub async fn billing_oauth_state_sweep(store: Stores) {
    let store = &store;
    let (test, live) = new_tenants(store).await;
    // Far in the past, so states of other behaviours on a shared database (all
    // near `t0`) have not expired at this sweep's `now`.
    let ancient = |s: i64| at(-1_000_000_000 + s);
    let state = |tenant: &Tenant, expires: i64| OAuthState {
        expires_at: ancient(expires),
        ..OAuthState::issue(tenant.clone(), ancient(0)).1
    };
    let expired = [state(&test, 10), state(&live, 20), state(&test, 30)];
    let fresh = state(&test, 31);
    for s in expired.iter().chain([&fresh]) {
        insert_state(store, s).await;
    }
    let sweep = |limit| async move {
        store
            .billing
            .delete_expired_oauth_states(ancient(30), limit)
            .await
            .unwrap_or_else(|e| panic!("delete_expired_oauth_states failed: {e:?}"))
    };
    assert_eq!(sweep(2).await, 2, "at most `limit` states per call");
    assert_eq!(
        sweep(10).await,
        1,
        "the rest of the expired states, the expiry instant included"
    );
    assert_eq!(sweep(10).await, 0, "nothing more has expired");
    for s in &expired {
        assert_eq!(
            take(store, &s.digest, ancient(0)).await,
            None,
            "a swept state is gone, even for an early clock"
        );
    }
    assert_eq!(
        take(store, &fresh.digest, ancient(30)).await,
        Some(fresh),
        "an unexpired state must survive the sweep"
    );
}

/// Inserting a state whose digest exists is `Conflict` and keeps the first.
pub async fn billing_oauth_state_duplicate_conflicts(store: Stores) {
    let store = &store;
    let (test, live) = new_tenants(store).await;
    let (_, state) = OAuthState::issue(test, t0());
    insert_state(store, &state).await;
    let impostor = OAuthState {
        tenant: live,
        created_at: at(5),
        expires_at: at(5000),
        ..state.clone()
    };
    let dup = store.billing.insert_oauth_state(&impostor).await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(_))),
        "insert_oauth_state with an existing digest must be Conflict, got {dup:?}"
    );
    assert_eq!(
        take(store, &state.digest, at(10)).await,
        Some(state),
        "a refused duplicate state must not replace the stored one"
    );
}

/// 16 tasks (`tokio::spawn`) take one state at once, for several states: exactly
/// one task per state gets it.
pub async fn billing_oauth_state_concurrent_take(store: Stores) {
    const TASKS: usize = 16;
    let (test, _) = new_tenants(&store).await;
    for round in 0..4 {
        let (_, state) = OAuthState::issue(test.clone(), t0());
        insert_state(&store, &state).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
        let handles: Vec<_> = (0..TASKS)
            .map(|_| {
                let store = store.clone();
                let barrier = barrier.clone();
                let digest = state.digest;
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.billing.take_oauth_state(&digest, at(30)).await
                })
            })
            .collect();
        let mut taken = Vec::new();
        for handle in handles {
            let got = handle
                .await
                .expect("a taking task panicked")
                .unwrap_or_else(|e| {
                    panic!("take_oauth_state must not fail under concurrency: {e:?}")
                });
            taken.extend(got);
        }
        assert_eq!(
            taken,
            vec![state],
            "round {round}: of {TASKS} concurrent takes of one state exactly one must get it"
        );
    }
}

/// The first Stripe customer linked to (customer, account) wins: later links
/// return it and change nothing, and the loser's id finds no customer.
/// `find_customer_by_stripe_id` maps each recorded `cus_…` back to its customer.
pub async fn billing_customer_link_first_wins(store: Stores) {
    let store = &store;
    let (test, _) = new_tenants(store).await;
    let ada = new_customer(store, &test).await;
    let bob = new_customer(store, &test).await;
    let account = fresh_account();
    assert_eq!(
        stripe_customer(store, &test, &ada, &account).await,
        None,
        "a customer never linked has no Stripe customer"
    );
    assert_eq!(
        find(store, &test, &account, "cus_ada1").await,
        None,
        "an unknown Stripe customer finds nobody"
    );

    assert_eq!(
        link(store, &customer_link(&test, &ada, &account, "cus_ada1")).await,
        "cus_ada1",
        "the first link must be recorded and returned"
    );
    assert_eq!(
        link(store, &customer_link(&test, &ada, &account, "cus_ada2")).await,
        "cus_ada1",
        "a second link of the same customer and account must return the first one"
    );
    assert_eq!(
        stripe_customer(store, &test, &ada, &account).await,
        Some("cus_ada1".into()),
        "a later link must not replace the first"
    );
    assert_eq!(
        link(store, &customer_link(&test, &bob, &account, "cus_bob")).await,
        "cus_bob",
        "another customer on the same account links independently"
    );

    assert_eq!(
        find(store, &test, &account, "cus_ada1").await,
        Some(ada.clone()),
        "the recorded Stripe customer must find its customer"
    );
    assert_eq!(
        find(store, &test, &account, "cus_bob").await,
        Some(bob.clone()),
        "each Stripe customer must find its own customer, not the account's first"
    );
    assert_eq!(
        find(store, &test, &account, "cus_ada2").await,
        None,
        "a link that lost must not be findable"
    );
    assert_eq!(
        stripe_customer(store, &test, &bob, &account).await,
        Some("cus_bob".into()),
        "get_stripe_customer must answer per customer"
    );
}

/// Links are kept per tenant (platform and mode) and per Stripe account: the same
/// customer gets its own link on another account (after switching Connect
/// accounts, or to direct), and nothing is visible from another tenant.
pub async fn billing_customer_link_isolation(store: Stores) {
    let store = &store;
    let (test, live) = new_tenants(store).await;
    let (stranger, _) = new_tenants(store).await;
    let ada = new_customer(store, &test).await;
    let first = fresh_account();
    let second = fresh_account();

    link(store, &customer_link(&test, &ada, &first, "cus_first")).await;
    assert_eq!(
        link(store, &customer_link(&test, &ada, &second, "cus_second")).await,
        "cus_second",
        "a link on another account is independent of the first account's"
    );
    assert_eq!(
        link(store, &customer_link(&test, &ada, "direct", "cus_direct")).await,
        "cus_direct",
        "a link on the direct account is independent of the Connect accounts'"
    );
    // The same ids in the live mode and on another platform: a backend that keys
    // links by customer and account only would return the test link here.
    assert_eq!(
        link(store, &customer_link(&live, &ada, &first, "cus_live")).await,
        "cus_live",
        "the live mode links independently of the test mode"
    );
    assert_eq!(
        link(
            store,
            &customer_link(&stranger, &ada, &first, "cus_stranger")
        )
        .await,
        "cus_stranger",
        "another platform links independently"
    );

    for (tenant, account, expected) in [
        (&test, first.as_str(), "cus_first"),
        (&test, second.as_str(), "cus_second"),
        (&test, "direct", "cus_direct"),
        (&live, first.as_str(), "cus_live"),
        (&stranger, first.as_str(), "cus_stranger"),
    ] {
        assert_eq!(
            stripe_customer(store, tenant, &ada, account)
                .await
                .as_deref(),
            Some(expected),
            "get_stripe_customer({tenant}, {account}) must return that tenant's link on \
             that account"
        );
        assert_eq!(
            find(store, tenant, account, expected).await,
            Some(ada.clone()),
            "find_customer_by_stripe_id({tenant}, {account}, {expected}) must find the customer"
        );
    }
    assert_eq!(
        stripe_customer(store, &live, &ada, &second).await,
        None,
        "a link of the test mode must not appear in the live mode"
    );
    assert_eq!(
        find(store, &test, &second, "cus_first").await,
        None,
        "a Stripe customer of one account must not be found on another"
    );
    assert_eq!(
        find(store, &live, &first, "cus_first").await,
        None,
        "a Stripe customer of the test mode must not be found in the live mode"
    );
    assert_eq!(
        find(store, &stranger, &first, "cus_live").await,
        None,
        "a Stripe customer of one platform must not be found on another"
    );
    assert_eq!(
        find(
            store,
            &Tenant::new(PlatformId::generate(), Mode::Test),
            &first,
            "cus_first"
        )
        .await,
        None,
        "an unknown tenant finds nobody"
    );
}

/// 16 tasks (`tokio::spawn`) link one customer on one account at once, each with
/// its own `cus_…`: every caller gets the same winner, which is one of theirs and
/// is what is stored; only the winner finds the customer.
pub async fn billing_customer_link_concurrent(store: Stores) {
    const TASKS: usize = 16;
    let (test, _) = new_tenants(&store).await;
    let account = fresh_account();
    for round in 0..4 {
        let customer = new_customer(&store, &test).await;
        let candidates: Vec<String> = (0..TASKS).map(|i| format!("cus_r{round}t{i}")).collect();
        let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
        let handles: Vec<_> = candidates
            .iter()
            .map(|cus| {
                let store = store.clone();
                let barrier = barrier.clone();
                let request = customer_link(&test, &customer, &account, cus);
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.billing.link_stripe_customer(&request).await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for handle in handles {
            answers.push(
                handle
                    .await
                    .expect("a linking task panicked")
                    .unwrap_or_else(|e| {
                        panic!("link_stripe_customer must not fail under concurrency: {e:?}")
                    }),
            );
        }
        let winner = answers[0].clone();
        assert!(
            answers.iter().all(|a| *a == winner),
            "round {round}: {TASKS} concurrent links must all return the same winner, got \
             {answers:?}"
        );
        assert!(
            candidates.contains(&winner),
            "round {round}: the winner {winner} must be one of the linked ids"
        );
        assert_eq!(
            stripe_customer(&store, &test, &customer, &account).await,
            Some(winner.clone()),
            "round {round}: the stored link must be the winner every caller was told"
        );
        for cus in &candidates {
            let expected = (*cus == winner).then(|| customer.clone());
            assert_eq!(
                find(&store, &test, &account, cus).await,
                expected,
                "round {round}: only the winning {winner} may find the customer, asked {cus}"
            );
        }
    }
}
