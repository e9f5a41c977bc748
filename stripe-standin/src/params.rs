//! Typed access to parsed form parameters, with Stripe's error messages.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// One level of parameters (the top level or a nested hash like `recurring`), with the bracket
/// name used in error messages.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    map: Map<String, Value>,
    prefix: String,
}

/// A metadata parameter: `metadata=` clears everything; `metadata[k]=` deletes one key.
#[derive(Debug, Clone)]
pub(crate) enum MetadataUpdate {
    Clear,
    Set(Vec<(String, Option<String>)>),
}

impl Params {
    pub fn new(map: Map<String, Value>) -> Self {
        Self {
            map,
            prefix: String::new(),
        }
    }

    /// The full bracket name of `key` at this level, e.g. `recurring[interval]`.
    pub fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}[{key}]", self.prefix)
        }
    }

    /// Rejects any parameter at this level that is not in `allowed`.
    pub fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(unknown) => Err(ApiError::unknown_param(&self.name(unknown))),
            None => Ok(()),
        }
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// A string parameter (may be empty).
    pub fn string(&self, key: &str) -> Result<Option<String>, ApiError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::invalid_param(
                &self.name(key),
                format!("Invalid string: {}", self.name(key)),
            )),
        }
    }

    /// A string parameter that must be present and non-empty.
    pub fn required_string(&self, key: &str) -> Result<String, ApiError> {
        match self.string(key)? {
            None => Err(ApiError::missing_param(&self.name(key))),
            Some(s) if s.is_empty() => Err(ApiError::empty_param(&self.name(key))),
            Some(s) => Ok(s),
        }
    }

    /// A string parameter of at most `max` characters; empty means `None` (unset).
    pub fn text(&self, key: &str, max: usize) -> Result<Option<Option<String>>, ApiError> {
        match self.string(key)? {
            None => Ok(None),
            Some(s) if s.is_empty() => Ok(Some(None)),
            Some(s) if s.chars().count() > max => Err(ApiError::invalid_param(
                &self.name(key),
                format!(
                    "Invalid string: {}...; must be at most {max} characters",
                    s.chars().take(20).collect::<String>()
                ),
            )),
            Some(s) => Ok(Some(Some(s))),
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.string(key)?.as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(ApiError::invalid_param(
                &self.name(key),
                format!("Invalid boolean: {other}"),
            )),
        }
    }

    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.string(key)? {
            None => Ok(None),
            Some(s) => s.parse::<i64>().map(Some).map_err(|_| {
                ApiError::invalid_param(&self.name(key), format!("Invalid integer: {s}"))
                    .code("parameter_invalid_integer")
            }),
        }
    }

    /// An integer in `min..=max`.
    pub fn int_in(&self, key: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        match self.int(key)? {
            Some(n) if n < min || n > max => Err(ApiError::invalid_param(
                &self.name(key),
                if min == 0 && n < 0 {
                    format!("Invalid non-negative integer: {n}")
                } else {
                    format!("This value must be between {min} and {max} (inclusive).")
                },
            )),
            other => Ok(other),
        }
    }

    /// One of `allowed`.
    pub fn enumeration(&self, key: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
        match self.string(key)? {
            None => Ok(None),
            Some(s) if allowed.contains(&s.as_str()) => Ok(Some(s)),
            Some(_) => Err(ApiError::invalid_param(
                &self.name(key),
                format!(
                    "Invalid {}: must be one of {}",
                    self.name(key),
                    one_of(allowed)
                ),
            )),
        }
    }

    /// A nested hash. `key=` (empty) counts as absent.
    pub fn object(&self, key: &str) -> Result<Option<Params>, ApiError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Params {
                map: map.clone(),
                prefix: self.name(key),
            })),
            Some(_) => Err(ApiError::invalid_param(
                &self.name(key),
                format!("Invalid hash: {}", self.name(key)),
            )),
        }
    }

    /// A list of hashes (`line_items[0][price]`).
    pub fn list(&self, key: &str) -> Result<Option<Vec<Params>>, ApiError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(Some(Vec::new())),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(map) => Ok(Params {
                        map: map.clone(),
                        prefix: format!("{}[{i}]", self.name(key)),
                    }),
                    _ => Err(ApiError::invalid_param(
                        &format!("{}[{i}]", self.name(key)),
                        format!("Invalid hash: {}[{i}]", self.name(key)),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(ApiError::invalid_param(
                &self.name(key),
                format!("Invalid array: {}", self.name(key)),
            )),
        }
    }

    /// A list of strings (`expand[0]=…` or `expand[]=…`).
    pub fn string_list(&self, key: &str) -> Result<Option<Vec<String>>, ApiError> {
        let invalid = || {
            ApiError::invalid_param(
                &self.name(key),
                format!("Invalid array: {}", self.name(key)),
            )
        };
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(Some(Vec::new())),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned).ok_or_else(invalid))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(invalid()),
        }
    }

    /// A metadata hash, checked like Stripe: at most 50 keys of at most 40 characters, values of
    /// at most 500 characters, no `[` in keys.
    pub fn metadata(&self, key: &str) -> Result<Option<MetadataUpdate>, ApiError> {
        let name = self.name(key);
        let map = match self.map.get(key) {
            None => return Ok(None),
            Some(Value::String(s)) if s.is_empty() => return Ok(Some(MetadataUpdate::Clear)),
            Some(Value::Object(map)) => map,
            Some(_) => {
                return Err(ApiError::invalid_param(
                    &name,
                    format!("Invalid hash: {name}"),
                ))
            }
        };
        let mut entries = Vec::new();
        for (k, v) in map {
            let param = format!("{name}[{k}]");
            let Value::String(v) = v else {
                return Err(ApiError::invalid_param(
                    &param,
                    format!("Invalid string: {param}"),
                ));
            };
            if k.chars().count() > 40 {
                return Err(ApiError::invalid_param(
                    &param,
                    "Invalid metadata: keys can be at most 40 characters long.",
                ));
            }
            if v.chars().count() > 500 {
                return Err(ApiError::invalid_param(
                    &param,
                    "Invalid metadata: values can be at most 500 characters long.",
                ));
            }
            entries.push((k.clone(), (!v.is_empty()).then(|| v.clone())));
        }
        Ok(Some(MetadataUpdate::Set(entries)))
    }
}

/// Applies a metadata update to a stored object's `metadata` (an object), enforcing 50 keys.
pub(crate) fn apply_metadata(
    target: &mut Value,
    update: MetadataUpdate,
    param: &str,
) -> Result<(), ApiError> {
    let mut map = match target {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    match update {
        MetadataUpdate::Clear => map.clear(),
        MetadataUpdate::Set(entries) => {
            for (k, v) in entries {
                match v {
                    Some(v) => map.insert(k, Value::String(v)),
                    None => map.remove(&k),
                };
            }
        }
    }
    if map.len() > 50 {
        return Err(ApiError::invalid_param(
            param,
            "Invalid metadata: metadata can have at most 50 keys.",
        ));
    }
    *target = Value::Object(map);
    Ok(())
}

/// A metadata object built from an optional update (for creation).
pub(crate) fn new_metadata(update: Option<MetadataUpdate>, param: &str) -> Result<Value, ApiError> {
    let mut metadata = Value::Object(Map::new());
    if let Some(update) = update {
        apply_metadata(&mut metadata, update, param)?;
    }
    Ok(metadata)
}

/// `a, b, or c`.
pub(crate) fn one_of(allowed: &[&str]) -> String {
    match allowed {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [a, b] => format!("{a} or {b}"),
        [init @ .., last] => format!("{}, or {last}", init.join(", ")),
    }
}

/// Whether `url` is an absolute http(s) URL with a host.
pub(crate) fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && !url.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// Checks an optional URL parameter: absolute http(s), at most 5000 characters.
pub(crate) fn url_param(p: &Params, key: &str) -> Result<Option<String>, ApiError> {
    match p.string(key)? {
        None => Ok(None),
        Some(url) if url.is_empty() => Ok(None),
        Some(url) if url.len() > 5000 || !is_http_url(&url) => Err(ApiError::invalid_param(
            &p.name(key),
            if url.contains("://") {
                "Not a valid URL".to_owned()
            } else {
                "Invalid URL: An explicit scheme (such as https) must be provided.".to_owned()
            },
        )
        .code("url_invalid")),
        Some(url) => Ok(Some(url)),
    }
}

#[cfg(test)]
mod tests {
    use super::{is_http_url, one_of};

    #[test]
    fn urls() {
        assert!(is_http_url(
            "https://example.com/ok?session={CHECKOUT_SESSION_ID}"
        ));
        assert!(is_http_url("http://127.0.0.1:8080"));
        assert!(!is_http_url("example.com/ok"));
        assert!(!is_http_url("https:///path"));
        assert!(!is_http_url("ftp://example.com"));
    }

    #[test]
    fn enumerations() {
        assert_eq!(one_of(&["a", "b", "c"]), "a, b, or c");
        assert_eq!(one_of(&["a", "b"]), "a or b");
    }
}
