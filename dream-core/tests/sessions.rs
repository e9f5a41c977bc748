//! Session lifetimes and login throttling over time, on a manual clock: a session
//! ends after its idle time or its absolute lifetime and is deleted then; activity
//! is written at most once a minute; a locked email opens again when its oldest
//! failure leaves the window.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use dream_core::{
    ports::Stores, AccountSettings, CoreError, Dream, ManualClock, SessionPolicy, SessionToken,
};
use dream_store::MemoryStore;

const PASSWORD: &str = "correct horse battery";

fn setup() -> (Dream, Arc<ManualClock>, Stores) {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0)
            .single()
            .expect("time"),
    ));
    let stores = Stores::new(Arc::new(MemoryStore::new()));
    let dream =
        Dream::with_clock(stores.clone(), clock.clone()).with_account_settings(AccountSettings {
            sessions: SessionPolicy {
                idle: Duration::hours(1),
                absolute: Duration::hours(3),
            },
            ..AccountSettings::default()
        });
    (dream, clock, stores)
}

fn is_unauthenticated(result: Result<impl std::fmt::Debug, CoreError>) -> bool {
    matches!(result, Err(CoreError::Unauthenticated { .. }))
}

#[tokio::test]
async fn sessions_end_when_idle_and_when_too_old() {
    let (dream, clock, stores) = setup();
    let signed = dream
        .sign_up("idle@example.com", PASSWORD.into())
        .await
        .expect("sign up");
    let token = signed.token.expose_secret().to_owned();
    let digest = SessionToken::presented(&token).digest();

    clock.advance(Duration::seconds(30));
    dream.authenticate_session(&token).await.expect("fresh");
    let seen = stores.accounts.find_session(&digest).await.expect("find");
    assert_eq!(
        seen.map(|s| s.last_seen_at),
        Some(signed_at(&stores, &digest).await),
        "activity within a minute is not written"
    );

    // Busy every 59 minutes: never idle, but ended at 3 h.
    for _ in 0..3 {
        clock.advance(Duration::minutes(59));
        dream
            .authenticate_session(&token)
            .await
            .expect("still live");
    }
    clock.advance(Duration::minutes(5));
    assert!(is_unauthenticated(dream.authenticate_session(&token).await));
    assert!(
        stores
            .accounts
            .find_session(&digest)
            .await
            .expect("find")
            .is_none(),
        "an expired session is deleted"
    );

    let again = dream
        .log_in("IDLE@example.com", PASSWORD.into())
        .await
        .expect("log in");
    let token = again.token.expose_secret().to_owned();
    clock.advance(Duration::minutes(61));
    assert!(
        is_unauthenticated(dream.authenticate_session(&token).await),
        "idle for more than an hour"
    );
}

async fn signed_at(stores: &Stores, digest: &dream_core::SessionDigest) -> chrono::DateTime<Utc> {
    stores
        .accounts
        .find_session(digest)
        .await
        .expect("find")
        .expect("session")
        .created_at
}

#[tokio::test]
async fn a_locked_email_opens_when_its_oldest_failure_leaves_the_window() {
    let (dream, clock, _) = setup();
    dream
        .sign_up("lock@example.com", PASSWORD.into())
        .await
        .expect("sign up");
    for _ in 0..5 {
        assert!(is_unauthenticated(
            dream
                .log_in("lock@example.com", "wrong password".into())
                .await
        ));
        clock.advance(Duration::minutes(1));
    }
    match dream.log_in("lock@example.com", PASSWORD.into()).await {
        Err(CoreError::TooManyAttempts { retry_after_secs }) => {
            assert_eq!(
                retry_after_secs,
                10 * 60,
                "the first failure was 5 minutes ago"
            );
        }
        other => panic!("expected TooManyAttempts, got {other:?}"),
    }
    clock.advance(Duration::minutes(10));
    dream
        .log_in("lock@example.com", PASSWORD.into())
        .await
        .expect("open again after the oldest failure aged out");
}
