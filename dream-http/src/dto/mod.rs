//! Request and response bodies. Request types derive both `Object` (the schema in
//! the spec) and `Deserialize` (parsing with exact field errors); both use camelCase
//! and refuse unknown fields, so the spec and the parser agree.
//!
//! Rules that keep the spec usable by client generators (openapi-python-client,
//! openapi-typescript) and schemathesis:
//! - A field whose type is itself a schema (an `Object` or `Enum`) gets a plain `//`
//!   comment, not `///`: poem-openapi turns a field doc into
//!   `allOf: [{$ref}, {description}]`, an anonymous type the generators reject or
//!   duplicate. Describe the type instead.
//! - An optional request field is omitted, not sent as `null`: it parses with
//!   `#[serde(default, deserialize_with = "non_null")]`, which refuses `null` as the
//!   spec (not nullable) says. Only where `null` means something (clear a field,
//!   unlimited) is the field `#[oai(nullable)]` and `null` accepted.
//! - A response field is either always present (`Nullable<T>` when it can be null:
//!   required and nullable in the spec) or `skip_serializing_if_is_none`, never a
//!   bare `Option` that sends an undeclared `null`.
//! - Constraints the parser or the core enforces are declared as validators
//!   (lengths, ranges, patterns), so schemathesis and the docs see them; the
//!   validators on request objects are documentation only (serde parses).

mod accounts;
mod audit;
mod billing;
mod customer;
mod customer_keys;
mod dashboard;
mod direct_json;
mod keys;
mod redact;
mod sign_in;
mod tier;
mod usage;
mod webhook_endpoints;

pub use accounts::*;
pub use audit::*;
pub use billing::*;
pub use customer::*;
pub use customer_keys::*;
pub use dashboard::*;
pub use direct_json::{rfc3339, DirectJson};
pub use keys::*;
pub use sign_in::*;
pub use tier::*;
pub use usage::*;
pub use webhook_endpoints::*;

use dream_core::Mode;
use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef, Registry},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
    Enum, Object,
};
use serde::{Deserialize, Deserializer};

/// The request bodies and the objects inside them. Their parsers refuse unknown
/// fields (`deny_unknown_fields`), so the published spec marks each of them
/// `additionalProperties: false` (see `spec.rs`, whose tests keep this list complete).
pub(crate) fn strict_request_schemas() -> Vec<String> {
    [
        CreateCustomerRequest::name(),
        UpdateCustomerRequest::name(),
        TrackRequest::name(),
        CreateProductsRequest::name(),
        TierInput::name(),
        MeterInput::name(),
        CreditsPerUnitInput::name(),
        GrantCreditsRequest::name(),
        CreateKeyRequest::name(),
        RollKeyRequest::name(),
        UpdatePlatformRequest::name(),
        CreateCheckoutRequest::name(),
        PortalRequest::name(),
        CartCheckoutRequest::name(),
        CartItemInput::name(),
        DirectConnectRequest::name(),
        CreatePlatformRequest::name(),
        CreateWebhookEndpointRequest::name(),
        UpdateWebhookEndpointRequest::name(),
        CredentialsRequest::name(),
        ChangePasswordRequest::name(),
        UpgradeRequest::name(),
        AppRequest::name(),
        UpdateAppRequest::name(),
        ReplaceTiersRequest::name(),
        AppKeyRequest::name(),
        CreateCustomerKeyRequest::name(),
        VerifyKeyRequest::name(),
        LoginRequest::name(),
        RefreshRequest::name(),
    ]
    .into_iter()
    .map(|name| name.into_owned())
    .collect()
}

/// Parses `json` with each strict request type's parser; returns each error.
#[cfg(test)]
pub(crate) fn strict_request_parsers_refuse(json: &str) -> Vec<(String, String)> {
    fn refuse<T: Type + serde::de::DeserializeOwned>(json: &str) -> (String, String) {
        let error = serde_json::from_str::<T>(json)
            .err()
            .map_or_else(|| "accepted".to_owned(), |e| e.to_string());
        (T::name().into_owned(), error)
    }
    vec![
        refuse::<CreateCustomerRequest>(json),
        refuse::<UpdateCustomerRequest>(json),
        refuse::<TrackRequest>(json),
        refuse::<CreateProductsRequest>(json),
        refuse::<TierInput>(json),
        refuse::<MeterInput>(json),
        refuse::<CreditsPerUnitInput>(json),
        refuse::<GrantCreditsRequest>(json),
        refuse::<CreateKeyRequest>(json),
        refuse::<RollKeyRequest>(json),
        refuse::<UpdatePlatformRequest>(json),
        refuse::<UpdateAppRequest>(json),
        refuse::<CreateCheckoutRequest>(json),
        refuse::<PortalRequest>(json),
        refuse::<CartCheckoutRequest>(json),
        refuse::<CartItemInput>(json),
        refuse::<DirectConnectRequest>(json),
        refuse::<CreatePlatformRequest>(json),
        refuse::<CreateWebhookEndpointRequest>(json),
        refuse::<UpdateWebhookEndpointRequest>(json),
        refuse::<CredentialsRequest>(json),
        refuse::<ChangePasswordRequest>(json),
        refuse::<UpgradeRequest>(json),
        refuse::<AppRequest>(json),
        refuse::<ReplaceTiersRequest>(json),
        refuse::<AppKeyRequest>(json),
        refuse::<CreateCustomerKeyRequest>(json),
        refuse::<VerifyKeyRequest>(json),
        refuse::<LoginRequest>(json),
        refuse::<RefreshRequest>(json),
    ]
}

/// For an optional request field that may be omitted but not sent as `null`:
/// `#[serde(default, deserialize_with = "non_null")]`. The spec does not mark such a
/// field nullable, so the parser must refuse `null` (400 naming the field).
pub(crate) fn non_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Test or live data.
#[derive(Enum, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum ModeDto {
    /// Test mode.
    Test,
    /// Live mode.
    Live,
}

impl From<ModeDto> for Mode {
    fn from(m: ModeDto) -> Self {
        match m {
            ModeDto::Test => Mode::Test,
            ModeDto::Live => Mode::Live,
        }
    }
}

impl From<Mode> for ModeDto {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Test => ModeDto::Test,
            Mode::Live => ModeDto::Live,
        }
    }
}

/// A plain acknowledgement.
#[derive(Object, Debug)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// Server version.
    pub version: String,
}

/// Every backing service answered.
#[derive(Object, Debug)]
pub struct Ready {
    /// `ready`.
    pub status: String,
    /// Each check by name (`database`, `redis`) and its state (`ok`); empty when
    /// the server keeps everything in memory.
    pub checks: std::collections::BTreeMap<String, String>,
}

/// A response field that is always present and may be `null` (an unlimited
/// tier's `limit`). poem-openapi never marks an `Option` field required, which
/// would tell clients the field may be missing; this one is `required` and
/// `nullable` in the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nullable<T>(pub Option<T>);

/// `null` or the value, as its `ToJSON` writes it.
impl<T: serde::Serialize> serde::Serialize for Nullable<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<T> From<Option<T>> for Nullable<T> {
    fn from(value: Option<T>) -> Self {
        Self(value)
    }
}

impl<T: Type> Type for Nullable<T> {
    const IS_REQUIRED: bool = true;

    type RawValueType = T::RawValueType;

    type RawElementValueType = T::RawElementValueType;

    fn name() -> std::borrow::Cow<'static, str> {
        format!("nullable_{}", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        match T::schema_ref() {
            // OpenAPI 3.0 ignores `nullable` without a `type` beside it, and a
            // `$ref` can have no sibling: a nullable object is an inline object
            // schema, nullable, made of the reference.
            MetaSchemaRef::Reference(name) => MetaSchemaRef::Inline(Box::new(MetaSchema {
                ty: "object",
                nullable: true,
                all_of: vec![MetaSchemaRef::Reference(name)],
                ..MetaSchema::ANY
            })),
            inline => inline.merge(MetaSchema {
                nullable: true,
                ..MetaSchema::ANY
            }),
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.0.as_ref().and_then(Type::as_raw_value)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        match &self.0 {
            Some(value) => value.raw_element_iter(),
            None => Box::new(std::iter::empty()),
        }
    }
}

impl<T: ParseFromJSON> ParseFromJSON for Nullable<T> {
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            serde_json::Value::Null => Ok(Self(None)),
            value => T::parse_from_json(Some(value))
                .map(|v| Self(Some(v)))
                .map_err(ParseError::propagate),
        }
    }
}

impl<T: ToJSON> ToJSON for Nullable<T> {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(
            self.0
                .as_ref()
                .and_then(ToJSON::to_json)
                .unwrap_or_default(),
        )
    }
}
