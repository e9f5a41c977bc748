//! Developer accounts, sessions, failed logins, and platforms owned by accounts.

use std::sync::Arc;

use chrono::Duration;
use dream_core::{
    email_key, ports::Stores, Account, AccountId, LoginAttemptId, PasswordHash, Platform,
    PlatformId, Session, SessionToken, StoreError,
};

use super::fixtures::{at, t0};

fn account(email: &str) -> Account {
    Account {
        id: AccountId::generate(),
        email: email.to_owned(),
        password_hash: PasswordHash::from_phc(format!("$argon2id$v=19$conformance${email}")),
        created_at: t0(),
    }
}

/// A unique email, so a backend whose stores are not perfectly fresh still works.
fn fresh_email(name: &str) -> String {
    format!("{name}.{}@Example.com", AccountId::generate().as_str())
}

fn session(account: &AccountId, created_secs: i64) -> Session {
    Session {
        digest: SessionToken::generate().digest(),
        account: account.clone(),
        created_at: at(created_secs),
        last_seen_at: at(created_secs),
    }
}

async fn insert(store: &Stores, account: &Account) {
    store
        .accounts
        .insert_account(account)
        .await
        .expect("insert_account of a fresh account must succeed");
}

/// Accounts round-trip by id and by email key; a second account whose email
/// differs only in case is `Conflict` and changes nothing.
pub async fn accounts_insert_and_find(store: Stores) {
    let email = fresh_email("Ada");
    let ada = account(&email);
    insert(&store, &ada).await;
    assert_eq!(
        store
            .accounts
            .get_account(&ada.id)
            .await
            .expect("get_account"),
        Some(ada.clone()),
        "get_account must return the inserted account unchanged"
    );
    assert_eq!(
        store
            .accounts
            .find_account_by_email(&email_key(&email))
            .await
            .expect("find_account_by_email"),
        Some(ada.clone()),
        "find_account_by_email must find the account by its lower-cased email"
    );
    assert_eq!(
        store
            .accounts
            .get_account(&AccountId::generate())
            .await
            .expect("get_account"),
        None,
        "an unknown account id must be None"
    );
    let twin = account(&email.to_uppercase());
    let dup = store.accounts.insert_account(&twin).await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(_))),
        "an email differing only in case must be Conflict, got {dup:?}"
    );
    assert_eq!(
        store
            .accounts
            .get_account(&twin.id)
            .await
            .expect("get_account"),
        None,
        "a refused account must not be stored"
    );
}

/// 16 concurrent sign-ups with one email in different cases: exactly one wins,
/// the others are `Conflict`.
pub async fn accounts_concurrent_signups_one_wins(store: Stores) {
    let email = fresh_email("race");
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            let variant = if i % 2 == 0 {
                email.to_uppercase()
            } else {
                email.to_lowercase()
            };
            tokio::spawn(async move { store.accounts.insert_account(&account(&variant)).await })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.expect("task must not panic") {
            Ok(()) => won += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("a losing sign-up must be Conflict, got {other:?}"),
        }
    }
    assert_eq!(won, 1, "exactly one of 16 concurrent sign-ups must win");
}

/// Sessions round-trip, `touch_session` moves `last_seen_at`, deleting is
/// idempotent and a duplicate digest is `Conflict`.
pub async fn accounts_sessions_round_trip(store: Stores) {
    let ada = account(&fresh_email("sessions"));
    insert(&store, &ada).await;
    let one = session(&ada.id, 0);
    store
        .accounts
        .insert_session(&one)
        .await
        .expect("insert_session");
    assert_eq!(
        store
            .accounts
            .find_session(&one.digest)
            .await
            .expect("find_session"),
        Some(one.clone()),
        "find_session must return the inserted session unchanged"
    );
    let dup = store.accounts.insert_session(&one).await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(_))),
        "a duplicate session digest must be Conflict, got {dup:?}"
    );
    store
        .accounts
        .touch_session(&one.digest, at(90))
        .await
        .expect("touch_session");
    let touched = store
        .accounts
        .find_session(&one.digest)
        .await
        .expect("find_session")
        .expect("the session must still exist");
    assert_eq!(
        touched.last_seen_at,
        at(90),
        "touch_session must set last_seen_at"
    );
    assert_eq!(
        touched.created_at,
        at(0),
        "touch_session must not change created_at"
    );
    store
        .accounts
        .delete_session(&one.digest)
        .await
        .expect("delete_session");
    assert_eq!(
        store
            .accounts
            .find_session(&one.digest)
            .await
            .expect("find_session"),
        None,
        "a deleted session must be gone"
    );
    store
        .accounts
        .delete_session(&one.digest)
        .await
        .expect("deleting a missing session must not be an error");
    store
        .accounts
        .touch_session(&one.digest, at(100))
        .await
        .expect("touching a missing session must not be an error");
}

/// `set_account_password` replaces the hash and deletes every session of the
/// account but the one kept; other accounts' sessions stay.
pub async fn accounts_password_change_ends_other_sessions(store: Stores) {
    let ada = account(&fresh_email("pw"));
    let bob = account(&fresh_email("other"));
    insert(&store, &ada).await;
    insert(&store, &bob).await;
    let (kept, ended, also_ended, bobs) = (
        session(&ada.id, 0),
        session(&ada.id, 1),
        session(&ada.id, 2),
        session(&bob.id, 3),
    );
    for s in [&kept, &ended, &also_ended, &bobs] {
        store
            .accounts
            .insert_session(s)
            .await
            .expect("insert_session");
    }
    let new_hash = PasswordHash::from_phc("$argon2id$v=19$new".into());
    store
        .accounts
        .set_account_password(&ada.id, &new_hash, Some(&kept.digest))
        .await
        .expect("set_account_password");
    let stored = store
        .accounts
        .get_account(&ada.id)
        .await
        .expect("get_account")
        .expect("the account must exist");
    assert_eq!(
        stored.password_hash, new_hash,
        "the new hash must be stored"
    );
    let find = |s: &Session| {
        let digest = s.digest;
        let accounts = store.accounts.clone();
        async move { accounts.find_session(&digest).await }
    };
    assert!(
        find(&kept).await.expect("find").is_some(),
        "the kept session must stay"
    );
    assert!(
        find(&ended).await.expect("find").is_none(),
        "other sessions must end"
    );
    assert!(
        find(&also_ended).await.expect("find").is_none(),
        "other sessions must end"
    );
    assert!(
        find(&bobs).await.expect("find").is_some(),
        "another account's session must stay"
    );

    store
        .accounts
        .set_account_password(&ada.id, &new_hash, None)
        .await
        .expect("set_account_password without a kept session");
    assert!(
        find(&kept).await.expect("find").is_none(),
        "with no kept session, all must end"
    );
    let missing = store
        .accounts
        .set_account_password(&AccountId::generate(), &new_hash, None)
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound)),
        "an unknown account must be NotFound, got {missing:?}"
    );
}

/// Failed logins count per email key within the window (strictly after its
/// start): older ones do not count, the answer includes the failure just recorded, and keys are separate.
pub async fn accounts_login_failures_window(store: Stores) {
    let key = email_key(&fresh_email("throttle"));
    let other = email_key(&fresh_email("elsewhere"));
    let window = Duration::minutes(15);
    let none = store
        .accounts
        .login_failures(&key, t0())
        .await
        .expect("login_failures");
    assert_eq!((none.count, none.oldest), (0, None), "no failures yet");
    let old = store
        .accounts
        .record_login_failure(&key, &LoginAttemptId::generate(), at(0), at(0) - window)
        .await
        .expect("record_login_failure");
    assert_eq!((old.count, old.oldest), (1, Some(at(0))));
    for i in 1..=3 {
        let now = at(1000 + i);
        let seen = store
            .accounts
            .record_login_failure(&key, &LoginAttemptId::generate(), now, now - window)
            .await
            .expect("record_login_failure");
        assert_eq!(
            seen.count,
            u32::try_from(i).expect("small"),
            "a failure 16 minutes old must not count, and the new one must"
        );
        assert_eq!(seen.oldest, Some(at(1001)), "oldest within the window");
    }
    let later = store
        .accounts
        .login_failures(&key, at(1001))
        .await
        .expect("login_failures");
    assert_eq!(
        (later.count, later.oldest),
        (2, Some(at(1002))),
        "only failures strictly after `since` count"
    );
    let elsewhere = store
        .accounts
        .login_failures(&other, t0() - window)
        .await
        .expect("login_failures");
    assert_eq!(
        elsewhere.count, 0,
        "failures of one email must not count for another"
    );
    let forgotten = LoginAttemptId::generate();
    let now = at(1010);
    let with = store
        .accounts
        .record_login_failure(&key, &forgotten, now, now - window)
        .await
        .expect("record_login_failure");
    store
        .accounts
        .forget_login_failure(&key, &forgotten)
        .await
        .expect("forget_login_failure");
    let without = store
        .accounts
        .login_failures(&key, now - window)
        .await
        .expect("login_failures");
    assert_eq!(
        without.count,
        with.count - 1,
        "a forgotten attempt must no longer count"
    );
    store
        .accounts
        .forget_login_failure(&key, &forgotten)
        .await
        .expect("forgetting a missing attempt must not be an error");
}

/// Concurrent failures of one email are all counted and each sees a distinct
/// count: 20 at once answer 1 to 20, and 20 are in the window.
pub async fn accounts_login_failures_concurrent(store: Stores) {
    let key = email_key(&fresh_email("burst"));
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move {
                store
                    .accounts
                    .record_login_failure(
                        &key,
                        &LoginAttemptId::generate(),
                        at(i),
                        t0() - Duration::minutes(15),
                    )
                    .await
            })
        })
        .collect();
    let mut counts = Vec::new();
    for task in tasks {
        counts.push(
            task.await
                .expect("task must not panic")
                .expect("record_login_failure")
                .count,
        );
    }
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=20).collect::<Vec<u32>>(),
        "concurrent attempts must each see a distinct count (1 to 20)"
    );
    let all = store
        .accounts
        .login_failures(&key, t0() - Duration::seconds(1))
        .await
        .expect("login_failures");
    assert_eq!(all.count, 20, "every concurrent failure must be counted");
    assert_eq!(all.oldest, Some(at(0)));
}

/// Platforms keep their owner; `list_platforms_by_owner` lists an owner's
/// platforms oldest first without deleted ones or other owners'; `update_platform`
/// writes name and deletion, and is `NotFound` for an unknown platform.
pub async fn platforms_owned_by_accounts(store: Stores) {
    let ada = account(&fresh_email("owner"));
    let bob = account(&fresh_email("stranger"));
    insert(&store, &ada).await;
    insert(&store, &bob).await;
    let owned = |name: &str, secs: i64, owner: &AccountId| Platform {
        id: PlatformId::generate(),
        name: Some(name.into()),
        created_at: at(secs),
        owner: Some(owner.clone()),
        deleted_at: None,
    };
    let second = owned("second", 10, &ada.id);
    let first = owned("first", 5, &ada.id);
    let bobs = owned("bob's", 1, &bob.id);
    for p in [&second, &first, &bobs] {
        store
            .platforms
            .insert_platform(p)
            .await
            .expect("insert_platform");
    }
    assert_eq!(
        store
            .platforms
            .get_platform(&first.id)
            .await
            .expect("get_platform"),
        Some(first.clone()),
        "an owned platform must round-trip with its owner"
    );
    let listed = store
        .platforms
        .list_platforms_by_owner(&ada.id)
        .await
        .expect("list_platforms_by_owner");
    assert_eq!(
        listed,
        vec![first.clone(), second.clone()],
        "oldest first, own only"
    );

    let mut renamed = first.clone();
    renamed.name = Some("renamed".into());
    store
        .platforms
        .update_platform(&renamed)
        .await
        .expect("update_platform");
    let mut deleted = second.clone();
    deleted.deleted_at = Some(at(20));
    store
        .platforms
        .update_platform(&deleted)
        .await
        .expect("update_platform");
    assert_eq!(
        store
            .platforms
            .get_platform(&second.id)
            .await
            .expect("get_platform"),
        Some(deleted),
        "a deleted platform is still readable by id, with its deletion time"
    );
    assert_eq!(
        store
            .platforms
            .list_platforms_by_owner(&ada.id)
            .await
            .expect("list_platforms_by_owner"),
        vec![renamed],
        "deleted platforms are not listed; renames are"
    );
    let missing = store
        .platforms
        .update_platform(&owned("x", 0, &ada.id))
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound)),
        "updating an unknown platform must be NotFound, got {missing:?}"
    );
}
