use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dream_core::{Customer, CustomerPatch};
use poem_openapi::{types::MaybeUndefined, Object};
use serde::Deserialize;

/// Create a customer (the seeds' body).
#[derive(Object, Deserialize, Debug, Default)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCustomerRequest {
    /// Email address.
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Stored only as an Argon2id hash; never returned. 8–256 characters.
    pub password: Option<String>,
    /// Plan name; the tenant's default plan when absent.
    pub plan: Option<String>,
    /// Your own id for this user, unique per tenant; usable wherever a customer id is.
    pub external_id: Option<String>,
    /// Up to 50 string pairs.
    pub metadata: Option<BTreeMap<String, String>>,
}

/// Change a customer. Absent fields stay; `null` clears a nullable field.
#[derive(Object, Deserialize, Debug, Default)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateCustomerRequest {
    /// Email address.
    #[serde(default)]
    pub email: MaybeUndefined<String>,
    /// Given name.
    #[serde(default)]
    pub first_name: MaybeUndefined<String>,
    /// Family name.
    #[serde(default)]
    pub last_name: MaybeUndefined<String>,
    /// New plan; takes effect on limits at once.
    pub plan: Option<String>,
    /// Your own id for this user.
    #[serde(default)]
    pub external_id: MaybeUndefined<String>,
    /// Replaces all metadata.
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
    /// The customer.
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
