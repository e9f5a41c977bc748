//! Stripe's form encoding: `application/x-www-form-urlencoded` with bracket keys.
//!
//! `metadata[tier]=pro&line_items[0][price]=price_1&expand[]=x` becomes
//! `{"metadata":{"tier":"pro"},"line_items":[{"price":"price_1"}],"expand":["x"]}`.
//! Every leaf is a string; the resource handlers check types.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// Parses a form body or query string into a nested object.
pub(crate) fn parse(input: &str) -> Result<Map<String, Value>, ApiError> {
    let mut root = Map::new();
    for (key, value) in form_urlencoded::parse(input.as_bytes()) {
        let segments = split_key(&key)?;
        insert(&mut root, &key, &segments, value.into_owned())?;
    }
    Ok(normalize_map(root))
}

/// `a[b][0]` → `["a", "b", "0"]`; `a[]` → `["a", ""]`.
fn split_key(key: &str) -> Result<Vec<String>, ApiError> {
    let invalid = || ApiError::invalid(format!("Invalid parameter name: {key}"));
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() || head.contains(']') {
        return Err(invalid());
    }
    let mut segments = vec![head.to_owned()];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[').ok_or_else(invalid)?;
        let end = inner.find(']').ok_or_else(invalid)?;
        let segment = &inner[..end];
        if segment.contains('[') {
            return Err(invalid());
        }
        segments.push(segment.to_owned());
        rest = &inner[end + 1..];
    }
    Ok(segments)
}

fn insert(
    node: &mut Map<String, Value>,
    key: &str,
    segments: &[String],
    value: String,
) -> Result<(), ApiError> {
    let Some((first, rest)) = segments.split_first() else {
        return Ok(());
    };
    // `[]` appends: the next index is the number of entries so far.
    let name = if first.is_empty() {
        node.len().to_string()
    } else {
        first.clone()
    };
    if rest.is_empty() {
        if matches!(node.get(&name), Some(Value::Object(_))) {
            return Err(ApiError::invalid_param(key, format!("Invalid hash: {key}")));
        }
        node.insert(name, Value::String(value));
        return Ok(());
    }
    let child = node
        .entry(name)
        .or_insert_with(|| Value::Object(Map::new()));
    match child {
        Value::Object(map) => insert(map, key, rest, value),
        _ => Err(ApiError::invalid_param(
            key,
            format!("Invalid hash: {key} was also given as a plain value"),
        )),
    }
}

/// Turns objects whose keys are all indexes into arrays (ordered by index); metadata keeps its
/// keys whatever they look like.
fn normalize_map(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .map(|(key, value)| {
            let value = if key == "metadata" {
                value
            } else {
                normalize(value)
            };
            (key, value)
        })
        .collect()
}

fn normalize(value: Value) -> Value {
    let Value::Object(map) = value else {
        return value;
    };
    let all_indexes = !map.is_empty()
        && map
            .keys()
            .all(|k| !k.is_empty() && k.len() <= 6 && k.bytes().all(|b| b.is_ascii_digit()));
    let map = normalize_map(map);
    if !all_indexes {
        return Value::Object(map);
    }
    let mut items: Vec<(usize, Value)> = map
        .into_iter()
        .map(|(k, v)| (k.parse::<usize>().unwrap_or(usize::MAX), v))
        .collect();
    items.sort_by_key(|(i, _)| *i);
    Value::Array(items.into_iter().map(|(_, v)| v).collect())
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::parse;

    fn parsed(input: &str) -> Value {
        Value::Object(parse(input).unwrap())
    }

    #[test]
    fn brackets_become_nested_objects_and_lists() {
        assert_eq!(
            parsed(
                "name=Pro+plan&metadata%5Bdream_tier%5D=pro&metadata[0]=x\
                 &line_items[1][price]=p2&line_items[0][price]=p1&line_items[0][quantity]=2\
                 &expand[]=a&expand[]=b&recurring[interval]=month"
            ),
            json!({
                "name": "Pro plan",
                "metadata": {"dream_tier": "pro", "0": "x"},
                "line_items": [{"price": "p1", "quantity": "2"}, {"price": "p2"}],
                "expand": ["a", "b"],
                "recurring": {"interval": "month"},
            })
        );
    }

    #[test]
    fn malformed_keys_are_rejected() {
        assert!(parse("a[b=1").is_err());
        assert!(parse("[a]=1").is_err());
        assert!(parse("a=1&a[b]=2").is_err());
        assert!(parse("a[b]=2&a=1").is_err());
    }

    #[test]
    fn empty_values_are_kept() {
        assert_eq!(
            parsed("metadata=&description="),
            json!({"metadata": "", "description": ""})
        );
    }
}
