//! Customer request and response bodies.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dream_core::{Customer, CustomerPatch};
use poem_openapi::{types::MaybeUndefined, Object};
use serde::Deserialize;

/// Create a customer (the seeds' body).
#[derive(Object, Deserialize, Default)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCustomerRequest {
    /// Email address: something `@` a dotted domain, at most 254 bytes, no spaces.
    #[oai(validator(
        max_length = 254,
        pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^.\s\x00-\x1f\x7f-\x9f][^\s\x00-\x1f\x7f-\x9f]*\.[^\s\x00-\x1f\x7f-\x9f]*[^.\s\x00-\x1f\x7f-\x9f]$"
    ))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub email: Option<String>,
    /// Given name, at most 200 characters, no control characters.
    #[oai(validator(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub first_name: Option<String>,
    /// Family name, at most 200 characters, no control characters.
    #[oai(validator(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub last_name: Option<String>,
    /// Stored only as an Argon2id hash; never returned. 8–256 characters.
    #[oai(validator(min_length = 8, max_length = 256))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub password: Option<String>,
    /// One of your plans (a tier name); the tenant's default plan when absent.
    #[oai(validator(pattern = r"^[a-z0-9][a-z0-9_-]{0,63}$"))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub plan: Option<String>,
    /// Your own id for this user, unique per tenant; usable wherever a customer id is.
    /// At most 255 bytes, no control characters, and not of the form `usr_…`.
    #[oai(validator(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]+$"
    ))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub external_id: Option<String>,
    /// Up to 50 pairs; keys of 1–40 characters, values of at most 500.
    #[oai(validator(max_properties = 50))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// Never prints the password.
impl std::fmt::Debug for CreateCustomerRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateCustomerRequest")
            .field("email", &self.email)
            .field("first_name", &self.first_name)
            .field("last_name", &self.last_name)
            .field("password", &super::redact::redacted(&self.password))
            .field("plan", &self.plan)
            .field("external_id", &self.external_id)
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// Change a customer. Absent fields stay; `null` clears a nullable field.
#[derive(Object, Deserialize, Debug, Default)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateCustomerRequest {
    /// Email address (as on create); `null` clears it.
    #[serde(default)]
    #[oai(
        nullable,
        validator(
            max_length = 254,
            pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^.\s\x00-\x1f\x7f-\x9f][^\s\x00-\x1f\x7f-\x9f]*\.[^\s\x00-\x1f\x7f-\x9f]*[^.\s\x00-\x1f\x7f-\x9f]$"
        )
    )]
    pub email: MaybeUndefined<String>,
    /// Given name (as on create); `null` clears it.
    #[serde(default)]
    #[oai(
        nullable,
        validator(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")
    )]
    pub first_name: MaybeUndefined<String>,
    /// Family name (as on create); `null` clears it.
    #[serde(default)]
    #[oai(
        nullable,
        validator(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")
    )]
    pub last_name: MaybeUndefined<String>,
    /// New plan; takes effect on limits at once.
    #[oai(validator(pattern = r"^[a-z0-9][a-z0-9_-]{0,63}$"))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub plan: Option<String>,
    /// Your own id for this user (as on create); `null` clears it.
    #[serde(default)]
    #[oai(
        nullable,
        validator(
            min_length = 1,
            max_length = 255,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]+$"
        )
    )]
    pub external_id: MaybeUndefined<String>,
    /// Replaces all metadata (as on create).
    #[oai(validator(max_properties = 50))]
    #[serde(default, deserialize_with = "super::non_null")]
    pub metadata: Option<BTreeMap<String, String>>,
}

impl From<UpdateCustomerRequest> for CustomerPatch {
    fn from(r: UpdateCustomerRequest) -> Self {
        Self {
            external_id: r.external_id.into(),
            email: r.email.into(),
            first_name: r.first_name.into(),
            last_name: r.last_name.into(),
            plan: r.plan,
            metadata: r.metadata,
        }
    }
}

/// An end customer.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct CustomerDto {
    /// Our id (`usr_…`).
    pub id: String,
    /// Your id for this user.
    #[oai(skip_serializing_if_is_none)]
    pub external_id: Option<String>,
    /// Email.
    #[oai(skip_serializing_if_is_none)]
    pub email: Option<String>,
    /// Given name.
    #[oai(skip_serializing_if_is_none)]
    pub first_name: Option<String>,
    /// Family name.
    #[oai(skip_serializing_if_is_none)]
    pub last_name: Option<String>,
    /// Current plan.
    pub plan: String,
    /// Whether a password is set (the password itself is never returned).
    pub has_password: bool,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Customer> for CustomerDto {
    fn from(c: Customer) -> Self {
        Self {
            id: c.id.to_string(),
            external_id: c.external_id,
            email: c.email,
            first_name: c.first_name,
            last_name: c.last_name,
            plan: c.plan,
            has_password: c.password_hash.is_some(),
            metadata: c.metadata,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A customer, wrapped as the seeds answer.
#[derive(Object, Debug)]
pub struct CustomerResponse {
    /// Always true.
    pub success: bool,
    // The customer.
    pub customer: CustomerDto,
}

/// A page of customers.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct CustomerList {
    /// Customers, newest first.
    pub data: Vec<CustomerDto>,
    /// Whether another page follows (pass the last id as `startingAfter`).
    pub has_more: bool,
}

/// A deleted customer.
#[derive(Object, Debug)]
pub struct DeletedCustomer {
    /// Always true.
    pub success: bool,
    /// The deleted customer's id.
    pub id: String,
    /// Always true.
    pub deleted: bool,
}
