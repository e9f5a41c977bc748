//! Header parameters checked by a byte loop instead of a regex.
//!
//! poem-openapi 5.1's `validator(pattern = …)` compiles its regex on every
//! request (`Regex::new` inside `Pattern::check`), which cost about 300 µs per
//! `POST /api/data`. These types publish the same pattern in the spec, so the spec
//! and generated clients are unchanged, and check it without a regex.

use std::borrow::Cow;

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromParameter, ParseResult, Type},
};

/// 1–255 visible ASCII characters; spaces (and, if allowed, tabs) only inside.
fn is_token(value: &str, tab_inside: bool) -> bool {
    let bytes = value.as_bytes();
    let visible = |b: &u8| (0x21..=0x7e).contains(b);
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) if bytes.len() <= 255 && visible(first) && visible(last) => bytes
            .iter()
            .all(|b| (0x20..=0x7e).contains(b) || (tab_inside && *b == b'\t')),
        _ => false,
    }
}

macro_rules! header_token {
    ($(#[$doc:meta])* $name:ident, $pattern:literal, $tab_inside:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(pub String);

        impl $name {
            /// The pattern published in the spec, equivalent to the check.
            pub const PATTERN: &'static str = $pattern;
        }

        impl Type for $name {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> Cow<'static, str> {
                "string".into()
            }

            fn schema_ref() -> MetaSchemaRef {
                let mut schema = MetaSchema::new("string");
                schema.pattern = Some(Self::PATTERN.to_owned());
                MetaSchemaRef::Inline(Box::new(schema))
            }

            fn as_raw_value(&self) -> Option<&Self::RawValueType> {
                Some(self)
            }

            fn raw_element_iter<'a>(
                &'a self,
            ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
                Box::new(self.as_raw_value().into_iter())
            }
        }

        impl ParseFromParameter for $name {
            fn parse_from_parameter(value: &str) -> ParseResult<Self> {
                if is_token(value, $tab_inside) {
                    Ok(Self(value.to_owned()))
                } else {
                    // Worded like poem-openapi's own validator, which the error
                    // middleware turns into "must match the pattern …".
                    Err(ParseError::custom(format!(
                        "verification failed. pattern(\"{}\")",
                        Self::PATTERN
                    )))
                }
            }
        }
    };
}

header_token!(
    /// `X-User-Id`: our customer id or the developer's external id.
    UserRef,
    r"^[\x21-\x7e]([\x20-\x7e]{0,253}[\x21-\x7e])?$",
    false
);

header_token!(
    /// `Idempotency-Key`.
    IdempotencyKeyHeader,
    r"^[\x21-\x7e]([\x20-\x7e\t]{0,253}[\x21-\x7e])?$",
    true
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert!(is_token("a", false));
        assert!(is_token("user 42", false));
        assert!(!is_token("", false));
        assert!(!is_token(" a", false));
        assert!(!is_token("a ", false));
        assert!(!is_token("a\tb", false));
        assert!(is_token("a\tb", true));
        assert!(!is_token("ü", false));
        assert!(is_token(&"x".repeat(255), false));
        assert!(!is_token(&"x".repeat(256), false));
    }
}
