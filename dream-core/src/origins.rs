//! Browser origins a platform allows to read its publishable-key endpoints (CORS).

use crate::CoreError;

/// Most origins one platform may list.
pub const MAX_ALLOWED_ORIGINS: usize = 20;

/// Longest origin accepted.
const MAX_ORIGIN_LEN: usize = 200;

/// Checks a list of allowed origins and returns it in canonical form (lower case,
/// default port dropped, duplicates removed, order kept).
///
/// Each origin is exactly `scheme://host[:port]` as a browser sends it in
/// `Origin`: https, or http for `localhost`/`127.0.0.1` (local development); no
/// path, query, credentials or wildcard. A refusal names the field
/// `/allowedOrigins/{i}`.
///
/// ```
/// use dream_core::validate_allowed_origins;
/// let ok = validate_allowed_origins(&["https://App.example.com:443".into(), "http://localhost:3000".into()]);
/// assert_eq!(ok.unwrap(), vec!["https://app.example.com", "http://localhost:3000"]);
/// assert!(validate_allowed_origins(&["https://*.example.com".into()]).is_err());
/// assert!(validate_allowed_origins(&["http://example.com".into()]).is_err());
/// assert!(validate_allowed_origins(&["https://example.com/".into()]).is_err());
/// ```
pub fn validate_allowed_origins(origins: &[String]) -> Result<Vec<String>, CoreError> {
    if origins.len() > MAX_ALLOWED_ORIGINS {
        return Err(CoreError::invalid(
            "/allowedOrigins",
            format!("at most {MAX_ALLOWED_ORIGINS} origins"),
        ));
    }
    let mut canonical: Vec<String> = Vec::with_capacity(origins.len());
    for (i, origin) in origins.iter().enumerate() {
        let origin = canonical_origin(origin)
            .map_err(|why| CoreError::invalid(format!("/allowedOrigins/{i}"), why))?;
        if !canonical.contains(&origin) {
            canonical.push(origin);
        }
    }
    Ok(canonical)
}

/// `origin` in the form browsers send, or why it cannot be an allowed origin.
fn canonical_origin(origin: &str) -> Result<String, &'static str> {
    const SHAPE: &str = "must be an origin like https://app.example.com (scheme, host and \
                         optional port; no path, no wildcard)";
    if origin.len() > MAX_ORIGIN_LEN {
        return Err("must be at most 200 characters");
    }
    if origin.contains('*') {
        return Err("must not contain a wildcard: list each origin");
    }
    let url = url::Url::parse(origin).map_err(|_| SHAPE)?;
    // The URL parser adds a `/` path to a bare origin: anything more was in the text.
    let bare = !origin.ends_with('/')
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    let host = url.host_str().ok_or(SHAPE)?;
    if !bare {
        return Err(SHAPE);
    }
    let local = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    match url.scheme() {
        "https" => {}
        "http" if local => {}
        "http" => return Err("must use https (http only for localhost)"),
        _ => return Err(SHAPE),
    }
    // `Url` lower-cases the scheme and host and drops the scheme's default port.
    Ok(url.origin().ascii_serialization())
}

/// Whether `origin` (an `Origin` header) is one of `allowed` (canonical forms).
///
/// ```
/// use dream_core::origin_allowed;
/// let allowed = vec!["https://app.example.com".to_owned()];
/// assert!(origin_allowed(&allowed, "https://app.example.com"));
/// assert!(!origin_allowed(&allowed, "https://evil.example.com"));
/// assert!(!origin_allowed(&allowed, "null"));
/// ```
pub fn origin_allowed(allowed: &[String], origin: &str) -> bool {
    canonical_origin(origin).is_ok_and(|origin| allowed.contains(&origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: CoreError) -> String {
        match err {
            CoreError::InvalidInput { field, .. } => field,
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[test]
    fn refusals_name_the_index() {
        for bad in [
            "",
            "example.com",
            "https://",
            "https://example.com/path",
            "https://example.com?x=1",
            "https://user@example.com",
            "ftp://example.com",
            "http://example.com",
            "https://*.example.com",
            "null",
        ] {
            let err = validate_allowed_origins(&["https://ok.example".into(), bad.into()])
                .expect_err(bad);
            assert_eq!(field_of(err), "/allowedOrigins/1", "{bad}");
        }
    }

    #[test]
    fn canonical_and_deduplicated() {
        let got = validate_allowed_origins(&[
            "HTTPS://Example.COM".into(),
            "https://example.com:443".into(),
            "https://example.com:8443".into(),
            "http://127.0.0.1:5173".into(),
        ])
        .unwrap();
        assert_eq!(
            got,
            vec![
                "https://example.com",
                "https://example.com:8443",
                "http://127.0.0.1:5173"
            ]
        );
    }

    #[test]
    fn at_most_twenty() {
        let many: Vec<String> = (0..21).map(|i| format!("https://a{i}.example")).collect();
        assert_eq!(
            field_of(validate_allowed_origins(&many).unwrap_err()),
            "/allowedOrigins"
        );
        assert!(validate_allowed_origins(&many[..20]).is_ok());
    }
}
