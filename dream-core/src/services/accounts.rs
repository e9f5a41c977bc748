//! Developer accounts: sign-up, login (throttled), sessions, password change.
//!
//! Sessions are looked up in the store on every request (no cache), so logging out
//! or changing the password ends them in every process at once.

use std::sync::{Arc, OnceLock};

use crate::{
    customer::validate_email, email_key, validate_account_password, Account, AccountId, CoreError,
    LoginAttemptId, LoginFailures, LoginThrottle, PasswordHash, Session, SessionPolicy,
    SessionToken, StoreError,
};

use super::{house::HousePlatform, Dream};

/// How accounts behave on this server.
#[derive(Debug, Clone, Default)]
pub struct AccountSettings {
    /// Idle and absolute session lifetimes.
    pub sessions: SessionPolicy,
    /// Failed logins allowed per email and window.
    pub throttle: LoginThrottle,
    /// The platform whose customers developer accounts are (the plan gate);
    /// `None`: no gate, every account may use live mode.
    pub house: Option<HousePlatform>,
    /// Whether anyone may create an account by signing up.
    pub sign_up: SignUp,
}

/// Who may create a developer account.
///
/// A server reachable from the internet with open sign-up lets any visitor
/// create apps on it; an operator who runs dream for their own products closes
/// it and creates the accounts they need with [`Dream::create_account`]
/// (`POST /admin/accounts`).
///
/// ```
/// use dream_core::SignUp;
/// assert_eq!(SignUp::default(), SignUp::Open);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignUp {
    /// Anyone may sign up.
    #[default]
    Open,
    /// Sign-up is refused ([`CoreError::SignUpClosed`]); only the operator
    /// creates accounts.
    Closed,
}

/// A successful sign-up or login: the account and its new session's token (for
/// the cookie; shown once, stored only as a digest).
#[derive(Debug)]
pub struct SignedIn {
    /// The account.
    pub account: Account,
    /// The new session's token.
    pub token: SessionToken,
}

/// A request's valid session and whose it is.
#[derive(Debug, Clone)]
pub struct SignedInAccount {
    /// The account.
    pub account: Account,
    /// The session the request came with.
    pub session: Session,
}

/// The answer to a wrong email or password, the same for both.
const WRONG_CREDENTIALS: &str = "wrong email or password";
/// The answer to a missing, unknown, expired or ended session.
const NO_SESSION: &str = "no valid session";

/// A long password is refused before hashing: Argon2 cost grows with input size.
const MAX_PRESENTED_PASSWORD_BYTES: usize = 1024;

/// A hash to verify against when the email is unknown, so that answering takes as
/// long as for a known email and timing does not reveal which accounts exist.
#[derive(Debug, Clone, Default)]
pub(super) struct DummyHash(Arc<OnceLock<PasswordHash>>);

impl Dream {
    /// Uses `settings` for accounts from now on.
    pub fn with_account_settings(mut self, settings: AccountSettings) -> Self {
        self.accounts = settings;
        self
    }

    /// The account settings in force.
    pub fn account_settings(&self) -> &AccountSettings {
        &self.accounts
    }

    /// Creates an account (email unique case-insensitively, password of 10 to 256
    /// characters) and signs it in. With a house platform, the account also becomes
    /// its customer (on its default plan). Refused with [`CoreError::SignUpClosed`]
    /// when [`AccountSettings::sign_up`] is [`SignUp::Closed`].
    pub async fn sign_up(&self, email: &str, password: String) -> Result<SignedIn, CoreError> {
        if self.accounts.sign_up == SignUp::Closed {
            return Err(CoreError::SignUpClosed);
        }
        let account = self.create_account(email, password).await?;
        let token = self.start_session(&account.id).await?;
        Ok(SignedIn { account, token })
    }

    /// Creates an account as sign-up does, without signing it in and whether
    /// sign-up is open or not: the operator's way to give someone an account.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), dream_core::CoreError> {
    /// use std::sync::Arc;
    /// use dream_core::{AccountSettings, CoreError, Dream, SignUp};
    /// let dream = Dream::new(Arc::new(dream_store::MemoryStore::new()))
    ///     .with_account_settings(AccountSettings { sign_up: SignUp::Closed, ..Default::default() });
    /// let refused = dream.sign_up("ada@example.com", "correct horse battery".into()).await;
    /// assert!(matches!(refused, Err(CoreError::SignUpClosed)));
    /// let account = dream.create_account("ada@example.com", "correct horse battery".into()).await?;
    /// assert_eq!(account.email, "ada@example.com");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_account(
        &self,
        email: &str,
        password: String,
    ) -> Result<Account, CoreError> {
        validate_email(email)?;
        validate_account_password(&password, "/password")?;
        let password_hash = self.password_hasher.hash(password).await?;
        let account = Account {
            id: AccountId::generate(),
            email: email.to_owned(),
            password_hash,
            created_at: self.now(),
        };
        self.stores
            .accounts
            .insert_account(&account)
            .await
            .map_err(|err| match err {
                StoreError::Conflict(_) => {
                    CoreError::Conflict("an account with this email exists: log in instead".into())
                }
                other => other.into(),
            })?;
        if self.accounts.house.is_some() {
            // The account exists now; a failure here is repaired when the plan is
            // next read (the house customer is found or created on demand).
            if let Err(err) = self.house_customer(&account).await {
                tracing::warn!(account = %account.id, error = %err, "could not create the house customer");
            }
        }
        Ok(account)
    }

    /// Signs in with email and password. After too many failures for the email
    /// within the window, refuses with [`CoreError::TooManyAttempts`] whatever the
    /// password; a wrong password and an unknown email get the same answer.
    pub async fn log_in(&self, email: &str, password: String) -> Result<SignedIn, CoreError> {
        let key = email_key(email);
        let account = self
            .throttled_login(&key, async {
                let (account, matches) = self.check_password(&key, password).await?;
                Ok(account.filter(|_| matches))
            })
            .await?
            .ok_or(CoreError::Unauthenticated {
                reason: WRONG_CREDENTIALS,
            })?;
        let token = self.start_session(&account.id).await?;
        Ok(SignedIn { account, token })
    }

    /// Runs one password check under the login throttle of `key` (an account's
    /// email key, or a tenant's customer email: one mechanism for both doors).
    /// `check` answers who signed in, or `None` for wrong credentials, which
    /// count as a failure. After too many failures within the window, refuses
    /// with [`CoreError::TooManyAttempts`] without running `check`.
    pub(super) async fn throttled_login<T>(
        &self,
        key: &str,
        check: impl std::future::Future<Output = Result<Option<T>, CoreError>>,
    ) -> Result<Option<T>, CoreError> {
        let now = self.now();
        let throttle = self.accounts.throttle;
        // Counted before the password is checked, so concurrent attempts cannot
        // all slip under the limit; forgotten again unless it fails.
        let attempt = LoginAttemptId::generate();
        let counted = self
            .stores
            .accounts
            .record_login_failure(key, &attempt, now, now - throttle.window)
            .await?;
        let before = LoginFailures {
            count: counted.count.saturating_sub(1),
            ..counted
        };
        if let Some(retry_after_secs) = throttle.retry_after(&before, now) {
            self.stores
                .accounts
                .forget_login_failure(key, &attempt)
                .await?;
            return Err(CoreError::TooManyAttempts { retry_after_secs });
        }
        match check.await {
            // A failure stays counted.
            Ok(None) => Ok(None),
            // Success, or not a failed login (the pool was full, the store failed).
            other => {
                self.stores
                    .accounts
                    .forget_login_failure(key, &attempt)
                    .await?;
                other
            }
        }
    }

    /// The account of `key`, and whether `password` is its password; an unknown
    /// email costs the same hash as a known one.
    async fn check_password(
        &self,
        key: &str,
        password: String,
    ) -> Result<(Option<Account>, bool), CoreError> {
        let account = self.stores.accounts.find_account_by_email(key).await?;
        if password.len() > MAX_PRESENTED_PASSWORD_BYTES {
            return Ok((account, false));
        }
        let hash = match &account {
            Some(account) => account.password_hash.clone(),
            None => self.dummy_hash().await?,
        };
        let matches = self.password_hasher.verify(hash, password).await?;
        Ok((account, matches))
    }

    /// The account behind a session cookie's token, if the session is valid;
    /// an expired session is deleted. Records activity at most once a minute.
    pub async fn authenticate_session(&self, token: &str) -> Result<SignedInAccount, CoreError> {
        let no_session = || CoreError::Unauthenticated { reason: NO_SESSION };
        let digest = SessionToken::presented(token).digest();
        let session = self
            .stores
            .accounts
            .find_session(&digest)
            .await?
            .ok_or_else(no_session)?;
        let now = self.now();
        if !session.is_live(now, &self.accounts.sessions) {
            self.stores.accounts.delete_session(&digest).await?;
            return Err(no_session());
        }
        if session.needs_touch(now) {
            self.stores.accounts.touch_session(&digest, now).await?;
        }
        let account = self
            .stores
            .accounts
            .get_account(&session.account)
            .await?
            .ok_or_else(no_session)?;
        Ok(SignedInAccount { account, session })
    }

    /// Ends this session (everywhere at once: it is deleted).
    pub async fn log_out(&self, signed_in: &SignedInAccount) -> Result<(), CoreError> {
        Ok(self
            .stores
            .accounts
            .delete_session(&signed_in.session.digest)
            .await?)
    }

    /// Changes the password after checking the current one, and ends every other
    /// session of the account in the same store step.
    pub async fn change_password(
        &self,
        signed_in: &SignedInAccount,
        current: String,
        new: String,
    ) -> Result<(), CoreError> {
        validate_account_password(&new, "/newPassword")?;
        let matches = current.len() <= MAX_PRESENTED_PASSWORD_BYTES
            && self
                .password_hasher
                .verify(signed_in.account.password_hash.clone(), current)
                .await?;
        if !matches {
            return Err(CoreError::invalid(
                "/currentPassword",
                "is not the current password",
            ));
        }
        let hash = self.password_hasher.hash(new).await?;
        self.stores
            .accounts
            .set_account_password(
                &signed_in.account.id,
                &hash,
                Some(&signed_in.session.digest),
            )
            .await?;
        Ok(())
    }

    async fn start_session(&self, account: &AccountId) -> Result<SessionToken, CoreError> {
        let token = SessionToken::generate();
        let now = self.now();
        let session = Session {
            digest: token.digest(),
            account: account.clone(),
            created_at: now,
            last_seen_at: now,
        };
        self.stores.accounts.insert_session(&session).await?;
        Ok(token)
    }

    pub(super) async fn dummy_hash(&self) -> Result<PasswordHash, CoreError> {
        if let Some(hash) = self.dummy_hash.0.get() {
            return Ok(hash.clone());
        }
        let hash = self
            .password_hasher
            .hash("not the password of any account".to_owned())
            .await?;
        Ok(self.dummy_hash.0.get_or_init(|| hash).clone())
    }
}
