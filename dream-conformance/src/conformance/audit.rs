//! The audit log: append, newest-first listing, cursors, mode filter, isolation.

use serde_json::json;

use dream_core::{
    ports::Stores, Actor, AuditAction, AuditContext, AuditEntry, AuditId, KeyId, Mode, PageRequest,
    PlatformId, StoreError,
};

use super::fixtures::{at, new_tenants};

/// Appends `n` entries to `platform`, one second apart, cycling through the
/// actors, actions and modes (`None`, test, live); returns them in append order.
async fn append_entries(store: &Stores, platform: &PlatformId, n: usize) -> Vec<AuditEntry> {
    let actors = [
        Actor::Operator,
        Actor::Account("acc_conformance".into()),
        Actor::SecretKey(KeyId::generate()),
        Actor::System,
    ];
    let modes = [None, Some(Mode::Test), Some(Mode::Live)];
    let mut entries = Vec::with_capacity(n);
    for i in 0..n {
        let context = AuditContext::new(
            actors[i % actors.len()].clone(),
            (i % 2 == 0).then(|| format!("req_{i}")),
        );
        let entry = AuditEntry::new(
            &context,
            platform.clone(),
            modes[i % modes.len()],
            AuditAction::ALL[i % AuditAction::ALL.len()],
            (i % 3 != 0).then(|| format!("key_{i}")),
            json!({ "i": i, "nested": { "list": [1, "two", null] } }),
            at(i as i64),
        );
        store
            .audit
            .append_audit(&entry)
            .await
            .unwrap_or_else(|e| panic!("append_audit #{i} must succeed, got {e:?}"));
        entries.push(entry);
    }
    entries
}

fn ids(entries: &[AuditEntry]) -> Vec<AuditId> {
    entries.iter().map(|e| e.id.clone()).collect()
}

/// Entries round-trip unchanged, newest first, with `limit` and `has_more`; an
/// empty log lists nothing.
pub async fn audit_append_and_list(store: Stores) {
    let (test, _) = new_tenants(&store).await;
    let platform = test.platform;
    let empty = store
        .audit
        .list_audit(&platform, None, &PageRequest::first(10))
        .await
        .expect("list_audit (empty)");
    assert!(
        empty.data.is_empty() && !empty.has_more,
        "an empty log must list nothing, got {empty:?}"
    );
    let entries = append_entries(&store, &platform, 7).await;
    let mut newest_first = entries.clone();
    newest_first.reverse();
    let all = store
        .audit
        .list_audit(&platform, None, &PageRequest::first(100))
        .await
        .expect("list_audit");
    assert_eq!(
        all.data, newest_first,
        "list_audit must return every entry unchanged, newest first"
    );
    assert!(!all.has_more, "a page holding every entry has no more");
    let exact = store
        .audit
        .list_audit(&platform, None, &PageRequest::first(7))
        .await
        .expect("list_audit (limit = total)");
    assert!(
        exact.data.len() == 7 && !exact.has_more,
        "a page holding exactly the remaining entries must have has_more = false"
    );
    let duplicate = store.audit.append_audit(&entries[0]).await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict(_))),
        "appending an existing id must be a Conflict, got {duplicate:?}"
    );
}

/// Walking the pages with `starting_after` visits every entry once, newest
/// first, also when entries share a timestamp; an unknown or foreign cursor is
/// `NotFound`.
pub async fn audit_pagination(store: Stores) {
    let (test, _) = new_tenants(&store).await;
    let (other, _) = new_tenants(&store).await;
    let platform = test.platform;
    let mut entries = append_entries(&store, &platform, 11).await;
    // Same instant as the last one: order is append order, not time.
    let same_time = AuditEntry::new(
        &AuditContext::system(),
        platform.clone(),
        None,
        AuditAction::KeyRolled,
        None,
        json!({}),
        entries[10].created_at,
    );
    store
        .audit
        .append_audit(&same_time)
        .await
        .expect("append_audit (same instant)");
    entries.push(same_time);
    let mut expected = ids(&entries);
    expected.reverse();

    let mut seen = Vec::new();
    let mut page = PageRequest::first(5);
    loop {
        let got = store
            .audit
            .list_audit(&platform, None, &page)
            .await
            .expect("list_audit (page)");
        seen.extend(ids(&got.data));
        match (got.has_more, got.data.last()) {
            (true, Some(last)) => page.starting_after = Some(last.id.clone()),
            _ => break,
        }
        assert!(seen.len() <= expected.len(), "paging must terminate");
    }
    assert_eq!(
        seen, expected,
        "pages must visit every entry once, newest (last appended) first"
    );

    for (cursor, what) in [
        (AuditId::generate(), "an unknown cursor"),
        (
            append_entries(&store, &other.platform, 1).await[0]
                .id
                .clone(),
            "another platform's entry as cursor",
        ),
    ] {
        let got = store
            .audit
            .list_audit(
                &platform,
                None,
                &PageRequest {
                    limit: 5,
                    starting_after: Some(cursor),
                },
            )
            .await;
        assert!(
            matches!(got, Err(StoreError::NotFound)),
            "{what} must be NotFound, got {got:?}"
        );
    }
}

/// With a mode, the list holds that mode's entries and the platform-wide ones,
/// newest first, and pages with them.
pub async fn audit_mode_filter(store: Stores) {
    let (test, _) = new_tenants(&store).await;
    let platform = test.platform;
    let entries = append_entries(&store, &platform, 9).await;
    for mode in Mode::ALL {
        let mut expected: Vec<AuditId> = entries
            .iter()
            .filter(|e| e.mode.is_none() || e.mode == Some(mode))
            .map(|e| e.id.clone())
            .collect();
        expected.reverse();
        let all = store
            .audit
            .list_audit(&platform, Some(mode), &PageRequest::first(100))
            .await
            .expect("list_audit (mode)");
        assert_eq!(
            ids(&all.data),
            expected,
            "{mode} must list its own and platform-wide entries, newest first"
        );
        let head = store
            .audit
            .list_audit(&platform, Some(mode), &PageRequest::first(2))
            .await
            .expect("list_audit (mode, head)");
        assert!(head.has_more, "a short filtered page must report has_more");
        let rest = store
            .audit
            .list_audit(
                &platform,
                Some(mode),
                &PageRequest {
                    limit: 100,
                    starting_after: head.data.last().map(|e| e.id.clone()),
                },
            )
            .await
            .expect("list_audit (mode, rest)");
        let mut walked = ids(&head.data);
        walked.extend(ids(&rest.data));
        assert_eq!(
            walked, expected,
            "a filtered walk must visit each entry once"
        );
    }
}

/// One platform's entries never appear in another's log.
pub async fn audit_platform_isolation(store: Stores) {
    let (a, _) = new_tenants(&store).await;
    let (b, _) = new_tenants(&store).await;
    let a_entries = append_entries(&store, &a.platform, 3).await;
    let b_entries = append_entries(&store, &b.platform, 4).await;
    for (platform, own) in [(&a.platform, &a_entries), (&b.platform, &b_entries)] {
        let got = store
            .audit
            .list_audit(platform, None, &PageRequest::first(100))
            .await
            .expect("list_audit");
        let mut expected = ids(own);
        expected.reverse();
        assert_eq!(
            ids(&got.data),
            expected,
            "a platform's log must hold exactly its own entries"
        );
    }
    let nobody = store
        .audit
        .list_audit(&PlatformId::generate(), None, &PageRequest::first(10))
        .await
        .expect("list_audit (unknown platform)");
    assert!(nobody.data.is_empty(), "an unknown platform's log is empty");
}
