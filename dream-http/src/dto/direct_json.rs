//! [`DirectJson`]: a JSON response body serialized straight to bytes.

use poem::{IntoResponse, Response};
use poem_openapi::{
    payload::{Json, Payload},
    registry::{MetaResponses, MetaSchemaRef, Registry},
    types::{ToJSON, Type},
    ApiResponse,
};
use serde::{Serialize, Serializer};

/// A JSON response body written by serde in one pass, for the hot answers
/// (`POST /api/data`, `POST /api/keys/verify`). poem-openapi's [`Json`] first builds a
/// `serde_json::Value` tree of the body (an ordered map per object) and then
/// writes it: about 5% of a track's CPU.
///
/// The schema and content type are [`Json<T>`]'s. `T` derives both `Object`
/// (the spec) and `Serialize` (the bytes) with the same names; dates go
/// through [`rfc3339`] as `ToJSON` writes them. The tests check, for random
/// values, that both give the same JSON.
pub struct DirectJson<T>(pub T);

impl<T: Type> Payload for DirectJson<T> {
    const CONTENT_TYPE: &'static str = <Json<T> as Payload>::CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        <Json<T> as Payload>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        <Json<T> as Payload>::schema_ref()
    }

    fn register(registry: &mut Registry) {
        <Json<T> as Payload>::register(registry);
    }
}

impl<T: Serialize + Send> IntoResponse for DirectJson<T> {
    fn into_response(self) -> Response {
        poem::web::Json(self.0).into_response()
    }
}

impl<T: Type + ToJSON + Serialize> ApiResponse for DirectJson<T> {
    fn meta() -> MetaResponses {
        Json::<T>::meta()
    }

    fn register(registry: &mut Registry) {
        <Json<T> as ApiResponse>::register(registry);
    }
}

/// Writes a date as poem-openapi's `ToJSON` does (`to_rfc3339`: `+00:00`, not
/// serde's `Z`), so both writers agree.
pub fn rfc3339<S: Serializer>(
    at: &chrono::DateTime<chrono::Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    use super::*;
    use crate::dto::{
        TrackResponse, UsageCounts, VerifyCodeDto, VerifyKeyResponse, VerifyUsageDto,
    };

    /// Any date poem-openapi and chrono can write: years -1900 to 9900, with
    /// and without fractions of a second.
    fn date() -> impl Strategy<Value = chrono::DateTime<Utc>> {
        (
            -122_000_000_000_i64..250_000_000_000,
            prop_oneof![Just(0_u32), 0_u32..1_000_000_000],
        )
            .prop_map(|(secs, nanos)| {
                Utc.timestamp_opt(secs, nanos)
                    .single()
                    .expect("in chrono's range")
            })
    }

    fn verify_response() -> impl Strategy<Value = VerifyKeyResponse> {
        let code = prop_oneof![
            Just(VerifyCodeDto::Valid),
            Just(VerifyCodeDto::NotFound),
            Just(VerifyCodeDto::Revoked),
            Just(VerifyCodeDto::Expired),
            Just(VerifyCodeDto::UsageExceeded),
            Just(VerifyCodeDto::RateLimited),
        ];
        let usage = proptest::option::of(
            (
                any::<u64>(),
                proptest::option::of(any::<u64>()),
                proptest::option::of(any::<u64>()),
                date(),
            )
                .prop_map(|(count, limit, remaining, period_end)| VerifyUsageDto {
                    count,
                    limit: limit.into(),
                    remaining: remaining.into(),
                    period_end,
                }),
        );
        (
            (any::<bool>(), code),
            proptest::option::of(any::<String>()),
            proptest::option::of(any::<String>()),
            proptest::option::of(any::<String>()),
            usage,
            proptest::option::of(any::<u64>()),
        )
            .prop_map(
                |((valid, code), key_id, customer_id, plan, usage, retry_after)| {
                    VerifyKeyResponse {
                        valid,
                        code,
                        key_id: key_id.into(),
                        customer_id: customer_id.into(),
                        plan: plan.into(),
                        usage: usage.into(),
                        retry_after,
                    }
                },
            )
    }

    fn track_response() -> impl Strategy<Value = TrackResponse> {
        let counts = (
            any::<u64>(),
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<u64>()),
            date(),
            any::<String>(),
            any::<u64>(),
        )
            .prop_map(
                |(count, limit, remaining, period_end, meter, credits_spent)| UsageCounts {
                    count,
                    limit: limit.into(),
                    remaining: remaining.into(),
                    period_end,
                    meter,
                    credits_spent,
                },
            );
        (any::<bool>(), any::<String>(), any::<String>(), counts).prop_map(
            |(success, customer_id, plan, usage)| TrackResponse {
                success,
                customer_id,
                plan,
                usage,
            },
        )
    }

    proptest! {
        #[test]
        fn a_track_answer_is_the_json_poem_openapi_writes(response in track_response()) {
            let bytes = serde_json::to_vec(&response).expect("serializes");
            let direct: serde_json::Value = serde_json::from_slice(&bytes).expect("valid JSON");
            prop_assert_eq!(Some(direct), response.to_json());
        }

        #[test]
        fn a_verification_is_the_json_poem_openapi_writes(response in verify_response()) {
            let bytes = serde_json::to_vec(&response).expect("serializes");
            let direct: serde_json::Value = serde_json::from_slice(&bytes).expect("valid JSON");
            prop_assert_eq!(Some(direct), response.to_json());
        }
    }

    #[tokio::test]
    async fn the_body_is_json_with_json_s_content_type() {
        let response = DirectJson(serde_json::json!({"a": [1, null]})).into_response();
        assert_eq!(
            response.content_type(),
            Some(<Json<serde_json::Value> as Payload>::CONTENT_TYPE)
        );
        let body = response.into_body().into_string().await.expect("body");
        assert_eq!(body, r#"{"a":[1,null]}"#);
    }

    #[test]
    fn dates_keep_poem_openapi_s_offset_form() {
        let at = Utc
            .with_ymd_and_hms(2026, 12, 31, 23, 59, 59)
            .single()
            .expect("date");
        let mut out = Vec::new();
        rfc3339(&at, &mut serde_json::Serializer::new(&mut out)).expect("writes");
        assert_eq!(out, br#""2026-12-31T23:59:59+00:00""#);
        assert_eq!(
            Some(serde_json::from_slice(&out).expect("json")),
            at.to_json()
        );
    }
}
