//! JSON request bodies parsed with serde, so errors name the exact field
//! (`/tiers/0/price`) and unknown fields are refused; the schema still comes from
//! the poem-openapi type, so the spec stays exact.

use poem::{Request, RequestBody};
use poem_openapi::{
    payload::Payload,
    registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry},
    types::Type,
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
};
use serde::de::DeserializeOwned;

use crate::{
    error::{ApiError, ErrorBody, ErrorCode},
    state::AppState,
};

/// A required JSON body.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

/// An optional JSON body: an empty body means `T::default()`.
#[derive(Debug)]
pub struct OptionalJsonBody<T>(pub T);

const JSON: &str = "application/json";

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == JSON || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Turns a serde path into a JSON pointer: `tiers[0].name` → `/tiers/0/name`.
fn pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        out.push('/');
        match segment {
            Segment::Seq { index } => out.push_str(&index.to_string()),
            Segment::Map { key } => out.push_str(&key.replace('~', "~0").replace('/', "~1")),
            Segment::Enum { variant } => out.push_str(variant),
            Segment::Unknown => out.push('?'),
        }
    }
    out
}

/// Whether the first non-whitespace byte opens a JSON object.
fn starts_as_object(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// serde_json appends " at line L column C"; the pointer says where, more usefully.
fn strip_position(message: &str) -> &str {
    message
        .rfind(" at line ")
        .map_or(message, |at| &message[..at])
}

async fn parse<T: DeserializeOwned>(
    req: &Request,
    body: &mut RequestBody,
    default: Option<fn() -> T>,
) -> poem::Result<T> {
    let limit = req
        .data::<AppState>()
        .map_or(AppState::DEFAULT_BODY_LIMIT, |s| s.body_limit);
    let bytes = body
        .take()?
        .into_bytes_limit(limit)
        .await
        .map_err(|err| ApiError::unreadable_body(err, limit))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return match default {
            Some(default) => Ok(default()),
            None => Err(ApiError::invalid("body", "A JSON body is required.").into()),
        };
    }
    if let Some(content_type) = req.content_type() {
        if !is_json(content_type) {
            return Err(ApiError::UnsupportedMediaType(poem_openapi::payload::Json(
                ErrorBody::new(
                    ErrorCode::UnsupportedMediaType,
                    "Unsupported media type",
                    format!("Send the body as JSON with `Content-Type: application/json` (got `{content_type}`)."),
                ),
            ))
            .into());
        }
    }
    Ok(parse_bytes(&bytes)?)
}

/// Parses a non-empty JSON body into `T`: an object only, errors naming the field.
pub(crate) fn parse_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body is a JSON object. serde would also fill a struct from an array,
    // field by field in declaration order (`[null, null]` as a PATCH cleared the
    // email and first name), so anything else is refused before parsing.
    if !starts_as_object(bytes) {
        return Err(ApiError::invalid("body", "The body must be a JSON object."));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        if err.inner().is_syntax() || err.inner().is_eof() {
            return ApiError::invalid("body", format!("Malformed JSON: {}.", err.inner()));
        }
        let field = pointer(err.path());
        let message = strip_position(&err.inner().to_string()).to_owned();
        let field = if field.is_empty() {
            "body".to_owned()
        } else {
            field
        };
        ApiError::invalid(field.clone(), format!("{field}: {message}"))
    })?;
    de.end()
        .map_err(|_| ApiError::invalid("body", "Unexpected data after the JSON value."))?;
    Ok(value)
}

macro_rules! json_extractor {
    ($ty:ident, $required:expr, $($bound:tt)*) => {
        impl<T: Type> Payload for $ty<T> {
            const CONTENT_TYPE: &'static str = JSON;

            fn check_content_type(content_type: &str) -> bool {
                is_json(content_type)
            }

            fn schema_ref() -> MetaSchemaRef {
                T::schema_ref()
            }

            fn register(registry: &mut Registry) {
                T::register(registry);
            }
        }

        impl<'a, T: Type + DeserializeOwned + Send $($bound)*> ApiExtractor<'a> for $ty<T> {
            const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
            type ParamType = ();
            type ParamRawType = ();

            fn register(registry: &mut Registry) {
                T::register(registry);
            }

            fn request_meta() -> Option<MetaRequest> {
                Some(MetaRequest {
                    description: None,
                    content: vec![MetaMediaType {
                        content_type: JSON,
                        schema: T::schema_ref(),
                    }],
                    required: $required,
                })
            }

            async fn from_request(
                req: &'a Request,
                body: &mut RequestBody,
                _param_opts: ExtractParamOptions<Self::ParamType>,
            ) -> poem::Result<Self> {
                json_extractor!(@parse $ty, req, body)
            }
        }
    };
    (@parse JsonBody, $req:ident, $body:ident) => {
        parse::<T>($req, $body, None).await.map(JsonBody)
    };
    (@parse OptionalJsonBody, $req:ident, $body:ident) => {
        parse::<T>($req, $body, Some(T::default)).await.map(OptionalJsonBody)
    };
}

json_extractor!(JsonBody, true,);
json_extractor!(OptionalJsonBody, false, + Default);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("application/x-www-form-urlencoded"));
        assert!(!is_json("text/plain"));
    }

    #[test]
    fn only_objects_are_bodies() {
        assert!(starts_as_object(b" \n{\"plan\": \"pro\"}"));
        assert!(starts_as_object(b"{bad"));
        assert!(!starts_as_object(b"[null, null]"));
        assert!(!starts_as_object(b"null"));
        assert!(!starts_as_object(b"\"s\""));
    }

    #[test]
    fn null_is_refused_unless_the_field_is_nullable() {
        use crate::dto::{CreateCustomerRequest, UpdateCustomerRequest};
        let err = serde_json::from_str::<CreateCustomerRequest>(r#"{"email": null}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("invalid type: null"), "{err}");
        let update: UpdateCustomerRequest =
            serde_json::from_str(r#"{"email": null}"#).expect("null clears the email");
        assert!(update.email.is_null());
        assert!(serde_json::from_str::<UpdateCustomerRequest>(r#"{"plan": null}"#).is_err());
    }

    #[test]
    fn strips_serde_position() {
        assert_eq!(
            strip_position("invalid type: string \"a\", expected u64 at line 1 column 12"),
            "invalid type: string \"a\", expected u64"
        );
    }
}
