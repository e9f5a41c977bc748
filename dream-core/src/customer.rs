//! End customers of a developer's app.

use std::{collections::BTreeMap, fmt};

use argon2::{
    password_hash::{Output, ParamsString, PasswordVerifier, SaltString},
    Algorithm, Argon2, Block, Params, Version,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{CoreError, CustomerId, Tenant};

/// Free-form string pairs a developer attaches to a customer (Stripe's limits).
pub type Metadata = BTreeMap<String, String>;

/// An end customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// Our id (`usr_…`).
    pub id: CustomerId,
    /// The tenant the customer belongs to.
    pub tenant: Tenant,
    /// The developer's own id for this user, unique per tenant.
    pub external_id: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// The tier the customer is on; authoritative for limits.
    pub plan: String,
    /// Argon2id hash of a password, when one was given. Never returned by the API.
    pub password_hash: Option<PasswordHash>,
    /// Developer metadata.
    pub metadata: Metadata,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// An Argon2id PHC string. `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Hashes `password` with Argon2id (OWASP parameters: 19 MiB, t=2, p=1).
    ///
    /// This costs tens of milliseconds of CPU by design: call it off the async
    /// executor (for example in `spawn_blocking`).
    ///
    /// ```
    /// use dream_core::PasswordHash;
    /// let hash = PasswordHash::hash("correct horse battery").unwrap();
    /// assert!(hash.verify("correct horse battery"));
    /// assert!(!hash.verify("wrong"));
    /// assert!(!format!("{hash:?}").contains("argon2"));
    /// ```
    pub fn hash(password: &str) -> Result<Self, CoreError> {
        Self::hash_in(password, &mut HashMemory::new())
    }

    /// [`PasswordHash::hash`] in caller-owned working memory, so a thread that
    /// hashes repeatedly allocates the 19 MiB once instead of on every call.
    pub fn hash_in(password: &str, memory: &mut HashMemory) -> Result<Self, CoreError> {
        validate_password(password)?;
        let failed = |_| CoreError::invalid("password", "could not be hashed");
        let salt_bytes = crate::ids::random_bytes::<16>();
        let salt = SaltString::encode_b64(&salt_bytes).map_err(failed)?;
        let params = Params::default();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let blocks = memory.blocks(params.block_count());
        let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
            Ok(argon.hash_password_into_with_memory(
                password.as_bytes(),
                &salt_bytes,
                out,
                &mut *blocks,
            )?)
        })
        .map_err(failed)?;
        let phc = argon2::PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(failed)?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok(Self(phc.to_string()))
    }

    /// Whether `password` matches.
    pub fn verify(&self, password: &str) -> bool {
        argon2::PasswordHash::new(&self.0)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    }

    /// [`PasswordHash::verify`] in caller-owned working memory.
    pub fn verify_in(&self, password: &str, memory: &mut HashMemory) -> bool {
        let Ok(parsed) = argon2::PasswordHash::new(&self.0) else {
            return false;
        };
        let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
            return false;
        };
        let (Ok(algorithm), Ok(params)) = (
            Algorithm::try_from(parsed.algorithm),
            Params::try_from(&parsed),
        ) else {
            return false;
        };
        let version = parsed
            .version
            .map_or(Ok(Version::V0x13), Version::try_from)
            .unwrap_or(Version::V0x13);
        let mut salt_buf = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
            return false;
        };
        let argon = Argon2::new(algorithm, version, params.clone());
        let blocks = memory.blocks(params.block_count());
        Output::init_with(expected.len(), |out| {
            Ok(argon.hash_password_into_with_memory(
                password.as_bytes(),
                salt,
                out,
                &mut *blocks,
            )?)
        })
        // `Output` compares in constant time.
        .is_ok_and(|computed| computed == expected)
    }

    /// Rebuilds from a stored PHC string (for store backends).
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string to store.
    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

/// Argon2id working memory (19 MiB with the default parameters), kept by a
/// thread that hashes repeatedly. Allocating it per hash lets the allocator's
/// heap grow with fragmentation under load; reusing it bounds the memory to one
/// buffer per hashing thread.
pub struct HashMemory(Vec<Block>);

impl HashMemory {
    /// Memory for the default parameters.
    pub fn new() -> Self {
        Self(vec![Block::default(); Params::default().block_count()])
    }

    /// At least `count` blocks (grown only for parameters larger than ours).
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.0.len() < count {
            self.0.resize(count, Block::default());
        }
        &mut self.0[..count]
    }
}

impl Default for HashMemory {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for HashMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HashMemory({} blocks)", self.0.len())
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(…)")
    }
}

/// The length rule for passwords (8–256 characters), checked before any hashing.
pub(crate) fn validate_password(password: &str) -> Result<(), CoreError> {
    let n = password.chars().count();
    if !(8..=256).contains(&n) {
        return Err(CoreError::invalid(
            "/password",
            "must be between 8 and 256 characters",
        ));
    }
    Ok(())
}

/// What creating a customer takes. Unknown plan names are refused.
#[derive(Debug, Clone, Default)]
pub struct NewCustomer {
    /// The developer's own id, unique per tenant.
    pub external_id: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Plan; the tenant's default plan when absent.
    pub plan: Option<String>,
    /// Already hashed: hashing is slow, so the caller does it off the executor.
    pub password_hash: Option<PasswordHash>,
    /// Metadata.
    pub metadata: Metadata,
}

/// Which customers a list shows, in which order: all, newest first, by default;
/// or those whose email starts with a prefix (ASCII letters compared
/// case-insensitively) and/or on one plan, newest or oldest first.
///
/// ```
/// use dream_core::CustomerQuery;
/// let filter = CustomerQuery { email_prefix: Some("Ada@".into()), ..CustomerQuery::default() };
/// assert!(filter.matches_email(Some("ada@example.com")));
/// assert!(!filter.matches_email(Some("bob@example.com")));
/// assert!(!filter.matches_email(None));
/// assert!(CustomerQuery::default().matches_email(None));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerQuery {
    /// The start of the email, e.g. `ada@` or `ada@exa`.
    pub email_prefix: Option<String>,
    /// Only customers on this plan.
    pub plan: Option<String>,
    /// Oldest first instead of newest first.
    pub oldest_first: bool,
}

impl CustomerQuery {
    /// Whether `email` passes the email part of the filter.
    pub fn matches_email(&self, email: Option<&str>) -> bool {
        match &self.email_prefix {
            None => true,
            Some(prefix) => email.is_some_and(|email| {
                email
                    .to_ascii_lowercase()
                    .starts_with(&prefix.to_ascii_lowercase())
            }),
        }
    }

    /// Whether `customer` passes the filter.
    pub fn matches(&self, customer: &Customer) -> bool {
        self.matches_email(customer.email.as_deref())
            && self.plan.as_ref().is_none_or(|plan| *plan == customer.plan)
    }

    /// The email prefix as a SQL `LIKE` pattern with `\\` as the escape character,
    /// lower-cased like the column it is compared with (`lower(email)`).
    pub fn email_like_pattern(&self) -> Option<String> {
        self.email_prefix.as_ref().map(|prefix| {
            let mut pattern = String::with_capacity(prefix.len() + 1);
            for c in prefix.to_ascii_lowercase().chars() {
                if matches!(c, '\\' | '%' | '_') {
                    pattern.push('\\');
                }
                pattern.push(c);
            }
            pattern.push('%');
            pattern
        })
    }
}

/// A partial update: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct CustomerPatch {
    /// New external id.
    pub external_id: Option<Option<String>>,
    /// New email.
    pub email: Option<Option<String>>,
    /// New given name.
    pub first_name: Option<Option<String>>,
    /// New family name.
    pub last_name: Option<Option<String>>,
    /// New plan; takes effect on limits at once.
    pub plan: Option<String>,
    /// Replaces the metadata.
    pub metadata: Option<Metadata>,
}

/// How a caller names a customer: our `usr_…` id or the developer's external id.
pub(crate) fn validate_external_id(id: &str, field: &str) -> Result<(), CoreError> {
    if id.is_empty() || id.chars().count() > 255 || id.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            field,
            "must be 1-255 characters without control characters",
        ));
    }
    Ok(())
}

pub(crate) fn validate_email(email: &str) -> Result<(), CoreError> {
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(())
    } else {
        Err(CoreError::invalid("/email", "is not a valid email address"))
    }
}

pub(crate) fn validate_name(name: &str, field: &str) -> Result<(), CoreError> {
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            field,
            "at most 200 characters without control characters",
        ));
    }
    Ok(())
}

pub(crate) fn validate_metadata(metadata: &Metadata) -> Result<(), CoreError> {
    if metadata.len() > 50 {
        return Err(CoreError::invalid("/metadata", "at most 50 keys"));
    }
    for (k, v) in metadata {
        if k.is_empty() || k.chars().count() > 40 {
            return Err(CoreError::invalid(
                format!("/metadata/{k}"),
                "keys must be 1-40 characters",
            ));
        }
        if v.chars().count() > 500 {
            return Err(CoreError::invalid(
                format!("/metadata/{k}"),
                "values must be at most 500 characters",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_validation() {
        assert!(validate_email("a@b.co").is_ok());
        for bad in ["", "a", "a@b", "@b.co", "a b@c.de", "a@.com", "a@com."] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hashes_in_reused_memory_verify_with_standard_argon2() {
        let mut memory = HashMemory::new();
        let a = PasswordHash::hash_in("correct horse battery", &mut memory).expect("hash");
        let b = PasswordHash::hash_in("correct horse battery", &mut memory).expect("hash");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(a.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(a.verify("correct horse battery") && b.verify("correct horse battery"));
        assert!(!a.verify("correct horse batterz"));
        assert!(a.verify_in("correct horse battery", &mut memory));
        assert!(!a.verify_in("correct horse batterz", &mut memory));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(PasswordHash::hash("short").is_err());
    }

    #[test]
    fn metadata_limits() {
        let mut m = Metadata::new();
        m.insert("k".into(), "v".repeat(501));
        assert!(validate_metadata(&m).is_err());
    }
}
