//! Accounts, sessions and failed logins in memory, under one lock.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dream_core::{
    email_key, ports::AccountStore, Account, AccountId, LoginAttemptId, LoginFailures,
    PasswordHash, Session, SessionDigest, StoreError,
};

use super::{lock, MemoryStore};

#[derive(Debug, Default)]
pub(super) struct Accounts {
    accounts: HashMap<AccountId, Account>,
    by_email: HashMap<String, AccountId>,
    sessions: HashMap<SessionDigest, Session>,
    login_failures: HashMap<String, Vec<(DateTime<Utc>, LoginAttemptId)>>,
}

fn failures_since(
    times: &[(DateTime<Utc>, LoginAttemptId)],
    since: DateTime<Utc>,
) -> LoginFailures {
    let within = times.iter().map(|(at, _)| at).filter(|at| **at > since);
    LoginFailures {
        count: u32::try_from(within.clone().count()).unwrap_or(u32::MAX),
        oldest: within.min().copied(),
    }
}

#[async_trait]
impl AccountStore for MemoryStore {
    async fn insert_account(&self, account: &Account) -> Result<(), StoreError> {
        let mut c = lock(&self.accounts);
        let key = email_key(&account.email);
        if c.by_email.contains_key(&key) {
            return Err(StoreError::Conflict("account email exists"));
        }
        if c.accounts.contains_key(&account.id) {
            return Err(StoreError::Conflict("account id exists"));
        }
        c.by_email.insert(key, account.id.clone());
        c.accounts.insert(account.id.clone(), account.clone());
        Ok(())
    }

    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        Ok(lock(&self.accounts).accounts.get(id).cloned())
    }

    async fn find_account_by_email(&self, email_key: &str) -> Result<Option<Account>, StoreError> {
        let c = lock(&self.accounts);
        Ok(c.by_email
            .get(email_key)
            .and_then(|id| c.accounts.get(id))
            .cloned())
    }

    async fn set_account_password(
        &self,
        id: &AccountId,
        hash: &PasswordHash,
        keep: Option<&SessionDigest>,
    ) -> Result<(), StoreError> {
        let mut c = lock(&self.accounts);
        let account = c.accounts.get_mut(id).ok_or(StoreError::NotFound)?;
        account.password_hash = hash.clone();
        c.sessions
            .retain(|digest, session| &session.account != id || Some(digest) == keep);
        Ok(())
    }

    async fn insert_session(&self, session: &Session) -> Result<(), StoreError> {
        let mut c = lock(&self.accounts);
        if c.sessions.contains_key(&session.digest) {
            return Err(StoreError::Conflict("session exists"));
        }
        c.sessions.insert(session.digest, session.clone());
        Ok(())
    }

    async fn find_session(&self, digest: &SessionDigest) -> Result<Option<Session>, StoreError> {
        Ok(lock(&self.accounts).sessions.get(digest).cloned())
    }

    async fn touch_session(
        &self,
        digest: &SessionDigest,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if let Some(session) = lock(&self.accounts).sessions.get_mut(digest) {
            session.last_seen_at = at;
        }
        Ok(())
    }

    async fn delete_session(&self, digest: &SessionDigest) -> Result<(), StoreError> {
        lock(&self.accounts).sessions.remove(digest);
        Ok(())
    }

    async fn record_login_failure(
        &self,
        email_key: &str,
        attempt: &LoginAttemptId,
        at: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> Result<LoginFailures, StoreError> {
        let mut c = lock(&self.accounts);
        let times = c.login_failures.entry(email_key.to_owned()).or_default();
        times.retain(|(t, _)| *t > since);
        times.push((at, attempt.clone()));
        Ok(failures_since(times, since))
    }

    async fn forget_login_failure(
        &self,
        email_key: &str,
        attempt: &LoginAttemptId,
    ) -> Result<(), StoreError> {
        if let Some(times) = lock(&self.accounts).login_failures.get_mut(email_key) {
            times.retain(|(_, a)| a != attempt);
        }
        Ok(())
    }

    async fn login_failures(
        &self,
        email_key: &str,
        since: DateTime<Utc>,
    ) -> Result<LoginFailures, StoreError> {
        let c = lock(&self.accounts);
        Ok(c.login_failures
            .get(email_key)
            .map(|times| failures_since(times, since))
            .unwrap_or_default())
    }
}
