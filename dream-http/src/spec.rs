//! The published spec: poem-openapi's output plus what poem-openapi cannot say, and
//! the route table derived from it (for `Allow` on 405 answers, and the operation
//! id that labels a request's metrics and span).

use std::{collections::HashMap, sync::OnceLock};

use serde_json::{json, Map, Value};

use crate::{account_scope::SHARED_PREFIXES, dto};

/// Marks the request schemas as `additionalProperties: false`.
///
/// Their parser (serde with `deny_unknown_fields`, see `body.rs`) refuses unknown
/// fields with a 400, and the spec must say so: schemathesis and the generated
/// clients rely on it (openapi-python-client otherwise gives every request model a
/// free-form `additional_properties` dict that the server would refuse).
/// poem-openapi has no way to express `false` (`MetaSchema::additional_properties`
/// is a schema, not a boolean), so it is added to the pretty-printed JSON here, on
/// the line after the schema's `"type": "object"`; the tests below check the result.
pub(crate) fn finish(raw: &str) -> String {
    let raw = &with_account_paths(raw);
    let strict: Vec<String> = dto::strict_request_schemas()
        .iter()
        .map(|name| format!("      \"{name}\": {{"))
        .collect();
    let mut out = String::with_capacity(raw.len() + 40 * strict.len());
    let mut in_strict_schema = false;
    for line in raw.split_inclusive('\n') {
        out.push_str(line);
        let content = line.trim_end_matches(['\n', '\r']);
        if in_strict_schema && content == "        \"type\": \"object\"," {
            out.push_str("        \"additionalProperties\": false,\n");
            in_strict_schema = false;
        } else {
            in_strict_schema = strict.iter().any(|s| s == content);
        }
    }
    out
}

/// Adds the account front door's copy of every shared `/api` operation (see
/// `account_scope.rs`): `/api/X` becomes `/account/apps/{platformId}/X` with the
/// session cookie as its security scheme, `platformId` and `mode` parameters,
/// and an operation id prefixed with `account`. poem-openapi cannot declare one
/// handler at two paths, so the copies are made here from its own output.
fn with_account_paths(raw: &str) -> String {
    const END_OF_PATHS: &str = "\n  },\n  \"components\": {";
    let Ok(spec) = serde_json::from_str::<Value>(raw) else {
        return raw.to_owned();
    };
    let (Some(paths), Some(end)) = (
        spec.get("paths").and_then(Value::as_object),
        raw.find(END_OF_PATHS),
    ) else {
        return raw.to_owned();
    };
    let mut copies = String::new();
    for (path, item) in paths {
        let Some(rest) = path.strip_prefix("/api/") else {
            continue;
        };
        let first = rest.split('/').next().unwrap_or_default();
        let Some(operations) = item.as_object() else {
            continue;
        };
        if !SHARED_PREFIXES.contains(&first) {
            continue;
        }
        let copied: Map<String, Value> = operations
            .iter()
            .map(|(method, op)| (method.clone(), account_operation(method, path, op)))
            .collect();
        let item = json!({ format!("/account/apps/{{platformId}}/{rest}"): copied });
        let Ok(text) = serde_json::to_string_pretty(&item) else {
            continue;
        };
        // `{ "/account…": {…} }` → the entry alone, indented as a member of `paths`.
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines[1..lines.len() - 1].iter().enumerate() {
            copies.push_str(if i == 0 { ",\n  " } else { "\n  " });
            copies.push_str(line);
        }
    }
    let mut out = String::with_capacity(raw.len() + copies.len());
    out.push_str(&raw[..end]);
    out.push_str(&copies);
    out.push_str(&raw[end..]);
    out
}

/// One operation of `/api/…` as the account front door serves it.
fn account_operation(method: &str, api_path: &str, op: &Value) -> Value {
    let mut op = op.clone();
    let id = op["operationId"].as_str().unwrap_or_default().to_owned();
    let mut chars = id.chars();
    let capitalized: String = chars
        .next()
        .map(|c| c.to_ascii_uppercase())
        .into_iter()
        .chain(chars)
        .collect();
    op["operationId"] = json!(format!("account{capitalized}"));
    op["tags"] = json!(["Accounts"]);
    op["security"] = json!([{ "SessionCookie": [] }]);
    op["description"] = json!(format!(
        "`{} {api_path}` on one of your apps, with the session cookie instead of a secret key.",
        method.to_ascii_uppercase()
    ));
    let mut parameters = vec![
        json!({
            "name": "platformId",
            "schema": { "type": "string", "pattern": "^plt_[0-9A-Za-z]{1,64}$" },
            "in": "path",
            "description": "Your app (`plt_…`); another account's app is a 404.",
            "required": true,
            "deprecated": false,
            "explode": true
        }),
        json!({
            "name": "mode",
            "schema": { "$ref": "#/components/schemas/ModeDto" },
            "in": "query",
            "description": "The app's test or live data (default `test`).",
            "required": false,
            "deprecated": false,
            "explode": true
        }),
    ];
    // Idempotency keys are scoped by the bearer key: not offered through the cookie.
    parameters.extend(
        op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["name"] != "Idempotency-Key")
            .cloned(),
    );
    op["parameters"] = Value::Array(parameters);
    op
}

/// One path of the spec: its segments (`None` for a `{parameter}`) and methods.
struct PathMethods {
    segments: Vec<Option<String>>,
    allow: String,
    /// `(METHOD, operationId)` pairs.
    operations: Vec<(String, String)>,
}

/// The spec's paths, in the spec's order, and the answer of [`scan`] for each
/// path without parameters (most hot paths: `/api/data`, `/health`), so those
/// are found without scanning.
struct Routes {
    all: Vec<PathMethods>,
    literal: HashMap<String, usize>,
}

fn routes() -> &'static Routes {
    static ROUTES: OnceLock<Routes> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let spec: serde_json::Value =
            serde_json::from_str(&crate::openapi_json()).unwrap_or_default();
        let all: Vec<PathMethods> = spec
            .get("paths")
            .and_then(|p| p.as_object())
            .into_iter()
            .flatten()
            .map(|(path, item)| {
                let mut methods: Vec<String> = item
                    .as_object()
                    .map(|ops| ops.keys().map(|m| m.to_ascii_uppercase()).collect())
                    .unwrap_or_default();
                // poem answers HEAD wherever GET is routed.
                if methods.iter().any(|m| m == "GET") {
                    methods.push("HEAD".to_owned());
                }
                let operations = item
                    .as_object()
                    .map(|ops| {
                        ops.iter()
                            .filter_map(|(method, op)| {
                                let id = op.get("operationId")?.as_str()?;
                                Some((method.to_ascii_uppercase(), id.to_owned()))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                PathMethods {
                    operations,
                    segments: path
                        .trim_start_matches('/')
                        .split('/')
                        .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                        .collect(),
                    allow: methods.join(", "),
                }
            })
            .collect();
        // Whatever the scan answers for a literal path, the map answers the same
        // (an earlier templated path may match it too).
        let literal = all
            .iter()
            .filter(|route| route.segments.iter().all(Option::is_some))
            .filter_map(|route| {
                let path: Vec<&str> = route
                    .segments
                    .iter()
                    .flatten()
                    .map(String::as_str)
                    .collect();
                let path = format!("/{}", path.join("/"));
                let found = scan(&all, &path)?;
                Some((path, found))
            })
            .collect();
        Routes { all, literal }
    })
}

/// The first of `all` whose template matches `path`, segment by segment.
fn scan(all: &[PathMethods], path: &str) -> Option<usize> {
    let path = path.trim_start_matches('/');
    let count = path.split('/').count();
    all.iter().position(|route| {
        route.segments.len() == count
            && route
                .segments
                .iter()
                .zip(path.split('/'))
                .all(|(want, got)| match want {
                    Some(literal) => literal == got,
                    None => !got.is_empty(),
                })
    })
}

fn route(path: &str) -> Option<&'static PathMethods> {
    let routes = routes();
    let index = match routes.literal.get(path) {
        Some(&index) => Some(index),
        None => scan(&routes.all, path),
    };
    index.map(|index| &routes.all[index])
}

/// The `Allow` value for a request path, if the path is one of the API's.
pub(crate) fn allowed_methods(path: &str) -> Option<&'static str> {
    route(path).map(|route| route.allow.as_str())
}

/// The spec's `operationId` for a request, if it is one of the API's operations
/// (`HEAD` counts as the `GET` it is answered by).
pub(crate) fn operation_id(method: &str, path: &str) -> Option<&'static str> {
    let method = if method == "HEAD" { "GET" } else { method };
    route(path)?
        .operations
        .iter()
        .find(|(m, _)| m == method)
        .map(|(_, id)| id.as_str())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::{allowed_methods, operation_id};
    use crate::dto;

    fn spec() -> Value {
        serde_json::from_str(&crate::openapi_json()).expect("the spec is JSON")
    }

    fn schema_name(reference: &Value) -> Option<String> {
        reference
            .get("$ref")?
            .as_str()?
            .strip_prefix("#/components/schemas/")
            .map(str::to_owned)
    }

    /// Object schemas reachable from `schema`, following `$ref`, properties, items,
    /// map values and compositions.
    fn reachable(spec: &Value, schema: &Value, seen: &mut BTreeSet<String>) {
        if let Some(name) = schema_name(schema) {
            let target = &spec["components"]["schemas"][&name];
            if target["type"] == "object" && seen.insert(name) {
                reachable(spec, target, seen);
            }
            return;
        }
        if let Some(props) = schema["properties"].as_object() {
            for prop in props.values() {
                reachable(spec, prop, seen);
            }
        }
        for key in ["items", "additionalProperties"] {
            if schema[key].is_object() {
                reachable(spec, &schema[key], seen);
            }
        }
        // A described reference is wrapped: `{"allOf": [{"$ref": …}], "description": …}`.
        for key in ["allOf", "anyOf", "oneOf"] {
            for part in schema[key].as_array().into_iter().flatten() {
                reachable(spec, part, seen);
            }
        }
    }

    #[test]
    fn every_request_object_refuses_unknown_fields_in_the_spec() {
        let spec = spec();
        let mut request_objects = BTreeSet::new();
        for item in spec["paths"].as_object().expect("paths").values() {
            for op in item.as_object().expect("operations").values() {
                for media in op["requestBody"]["content"]
                    .as_object()
                    .into_iter()
                    .flat_map(|c| c.values())
                {
                    reachable(&spec, &media["schema"], &mut request_objects);
                }
            }
        }
        let strict: BTreeSet<String> = dto::strict_request_schemas().into_iter().collect();
        assert_eq!(request_objects, strict, "request objects vs strict list");
        for name in &strict {
            assert_eq!(
                spec["components"]["schemas"][name]["additionalProperties"],
                Value::Bool(false),
                "{name}"
            );
        }
    }

    #[test]
    fn every_strict_schema_parser_refuses_unknown_fields() {
        let refuses = dto::strict_request_parsers_refuse(r#"{"zzUnknownField": 1}"#);
        assert_eq!(refuses.len(), dto::strict_request_schemas().len());
        for (name, error) in refuses {
            assert!(
                error.contains("unknown field `zzUnknownField`"),
                "{name}: {error}"
            );
        }
    }

    #[test]
    fn allow_lists_the_documented_methods() {
        assert_eq!(
            allowed_methods("/api/customers/usr_1"),
            Some("DELETE, GET, PATCH, HEAD")
        );
        assert_eq!(allowed_methods("/api/data"), Some("POST"));
        assert_eq!(allowed_methods("/health"), Some("GET, HEAD"));
        assert_eq!(allowed_methods("/api/customers//"), None);
        assert_eq!(allowed_methods("/nope"), None);
    }

    #[test]
    fn operation_ids_by_method_and_path() {
        assert_eq!(
            operation_id("PATCH", "/api/customers/usr_1"),
            Some("updateCustomer")
        );
        assert_eq!(operation_id("HEAD", "/health"), Some("getHealth"));
        assert_eq!(operation_id("PUT", "/api/data"), None);
        assert_eq!(operation_id("POST", "/webhook/clerk"), None);
    }
}
