//! Developer accounts and their browser sessions.
//!
//! An [`Account`] is a person who signs in with an email and a password and owns
//! platforms. A [`Session`] is one signed-in browser: the cookie holds a random
//! [`SessionToken`], the store only its [`SessionDigest`], so a leaked database
//! does not let anyone sign in, and deleting the row ends the session in every
//! process at once.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::{
    ids::{hex, random_base62_128},
    AccountId, CoreError, PasswordHash,
};

/// Shortest password a developer account accepts.
pub const MIN_ACCOUNT_PASSWORD_CHARS: usize = 10;

/// A developer account.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// `acc_…`.
    pub id: AccountId,
    /// The email as given at sign-up (unique case-insensitively, see [`email_key`]).
    pub email: String,
    /// Argon2id.
    pub password_hash: PasswordHash,
    /// Signed up.
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The email is personal data: ids are enough in logs.
        f.debug_struct("Account")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The form of an email that uniqueness and login throttling compare: lower case.
///
/// ```
/// assert_eq!(dream_core::email_key("Ada@Example.COM"), "ada@example.com");
/// ```
pub fn email_key(email: &str) -> String {
    email.to_lowercase()
}

/// The password rule of developer accounts: 10 to 256 characters, checked before
/// any hashing. The error names `field`.
///
/// ```
/// assert!(dream_core::validate_account_password("short", "/password").is_err());
/// assert!(dream_core::validate_account_password("long enough pass", "/password").is_ok());
/// ```
pub fn validate_account_password(password: &str, field: &str) -> Result<(), CoreError> {
    let n = password.chars().count();
    if !(MIN_ACCOUNT_PASSWORD_CHARS..=256).contains(&n) {
        return Err(CoreError::invalid(
            field,
            format!("must be between {MIN_ACCOUNT_PASSWORD_CHARS} and 256 characters"),
        ));
    }
    Ok(())
}

/// The secret a session cookie carries. Never logged: `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    /// A fresh token: 256 random bits.
    pub fn generate() -> Self {
        Self(format!(
            "ses_{}{}",
            random_base62_128(),
            random_base62_128()
        ))
    }

    /// A token presented by a client (a cookie value), not checked in any way: an
    /// unknown token simply has no session.
    pub fn presented(value: &str) -> Self {
        Self(value.to_owned())
    }

    /// What the store keeps.
    pub fn digest(&self) -> SessionDigest {
        SessionDigest(Sha256::digest(self.0.as_bytes()).into())
    }

    /// The token, to put in the cookie.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(…)")
    }
}

/// SHA-256 of a [`SessionToken`]: how the store names a session.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionDigest(pub [u8; 32]);

impl SessionDigest {
    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Debug for SessionDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionDigest({}…)", &self.to_hex()[..8])
    }
}

/// One signed-in browser of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The digest of the cookie's token.
    pub digest: SessionDigest,
    /// Whose session it is.
    pub account: AccountId,
    /// Signed in.
    pub created_at: DateTime<Utc>,
    /// Last request seen (written at most once a minute, see [`Session::needs_touch`]).
    pub last_seen_at: DateTime<Utc>,
}

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after sign-in, however busy.
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    /// 24 hours idle, 30 days absolute.
    fn default() -> Self {
        Self {
            idle: Duration::hours(24),
            absolute: Duration::days(30),
        }
    }
}

impl Session {
    /// How stale `last_seen_at` may get before a request rewrites it: a busy
    /// dashboard then costs one write a minute, not one per request.
    pub const TOUCH_INTERVAL_SECS: i64 = 60;

    /// Whether the session is still valid at `now` under `policy`.
    ///
    /// ```
    /// use chrono::{Duration, Utc};
    /// use dream_core::{AccountId, Session, SessionPolicy, SessionToken};
    /// let now = Utc::now();
    /// let session = Session {
    ///     digest: SessionToken::generate().digest(),
    ///     account: AccountId::generate(),
    ///     created_at: now,
    ///     last_seen_at: now,
    /// };
    /// let policy = SessionPolicy::default();
    /// assert!(session.is_live(now + Duration::hours(23), &policy));
    /// assert!(!session.is_live(now + Duration::hours(25), &policy));
    /// ```
    pub fn is_live(&self, now: DateTime<Utc>, policy: &SessionPolicy) -> bool {
        now < self.last_seen_at + policy.idle && now < self.created_at + policy.absolute
    }

    /// Whether a request at `now` should record itself in `last_seen_at`.
    pub fn needs_touch(&self, now: DateTime<Utc>) -> bool {
        now - self.last_seen_at >= Duration::seconds(Self::TOUCH_INTERVAL_SECS)
    }
}

/// One login attempt, recorded as a failure before the password is checked (so
/// concurrent attempts count exactly) and forgotten when it succeeds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LoginAttemptId(String);

impl LoginAttemptId {
    /// A fresh random id.
    pub fn generate() -> Self {
        Self(random_base62_128())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Failed logins of one email within the throttling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoginFailures {
    /// How many.
    pub count: u32,
    /// The oldest of them: the window frees a slot when it ages out.
    pub oldest: Option<DateTime<Utc>>,
}

/// The login throttling rule: at most `max_failures` failed logins per email
/// within `window`; beyond that, logins of that email are refused whatever the
/// password until the oldest failure ages out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginThrottle {
    /// Failures allowed in the window.
    pub max_failures: u32,
    /// The window.
    pub window: Duration,
}

impl Default for LoginThrottle {
    /// 5 failures in 15 minutes.
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: Duration::minutes(15),
        }
    }
}

impl LoginThrottle {
    /// Seconds until a login may be tried again, or `None` when it may be now.
    ///
    /// ```
    /// use chrono::{Duration, Utc};
    /// use dream_core::{LoginFailures, LoginThrottle};
    /// let now = Utc::now();
    /// let rule = LoginThrottle::default();
    /// let four = LoginFailures { count: 4, oldest: Some(now) };
    /// assert_eq!(rule.retry_after(&four, now), None);
    /// let five = LoginFailures { count: 5, oldest: Some(now - Duration::minutes(5)) };
    /// assert_eq!(rule.retry_after(&five, now), Some(600));
    /// ```
    pub fn retry_after(&self, failures: &LoginFailures, now: DateTime<Utc>) -> Option<u64> {
        if failures.count < self.max_failures {
            return None;
        }
        let oldest = failures.oldest.unwrap_or(now);
        let wait = (oldest + self.window - now).num_seconds().max(1);
        Some(wait as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_their_digest_is_stable() {
        let a = SessionToken::generate();
        let b = SessionToken::generate();
        assert_ne!(a, b);
        assert_eq!(
            a.digest(),
            SessionToken::presented(a.expose_secret()).digest()
        );
        assert!(!format!("{a:?}").contains(a.expose_secret()));
    }

    #[test]
    fn sessions_end_on_idle_or_absolute_expiry() {
        let now = Utc::now();
        let policy = SessionPolicy::default();
        let session = Session {
            digest: SessionToken::generate().digest(),
            account: AccountId::generate(),
            created_at: now - Duration::days(30) + Duration::minutes(1),
            last_seen_at: now,
        };
        assert!(session.is_live(now, &policy));
        assert!(!session.is_live(now + Duration::minutes(2), &policy));
        assert!(!session.needs_touch(now + Duration::seconds(59)));
        assert!(session.needs_touch(now + Duration::seconds(60)));
    }

    #[test]
    fn password_rule_names_the_field() {
        match validate_account_password("123456789", "/newPassword") {
            Err(CoreError::InvalidInput { field, .. }) => assert_eq!(field, "/newPassword"),
            other => panic!("{other:?}"),
        }
    }
}
