//! `--property` and `--properties`: attribute paths with quoted segments, values typed by a prefix, and a JSON file
//! of attributes, each checked against the attributes Envoy has.

use std::time::{Duration, UNIX_EPOCH};

use host::testing::{Properties, PropertyValue};

/// `a.b."c.d"=[TYPE:]value`: the path split at dots outside quotes, the value typed by its prefix, and checked
/// against Envoy's attributes.
pub(crate) fn property(value: &str) -> Result<(Vec<String>, PropertyValue), String> {
    let usage = "write `PATH=VALUE` with a dotted path, e.g. `source.address=10.1.2.3:5000`, quoting a segment \
                 that contains dots: `metadata.filter_metadata.\"envoy.filters.http.lua\".key=v`";
    let mut quoted = false;
    let split = value.char_indices().find(|&(_, c)| {
        if c == '"' {
            quoted = !quoted;
        }
        c == '=' && !quoted
    });
    let Some((at, _)) = split else {
        let why = if quoted {
            " (a quote is not closed)"
        } else {
            ""
        };
        return Err(format!("`{value}` is not a property: {usage}{why}"));
    };
    let path = property_path(&value[..at])
        .map_err(|e| format!("`{value}` is not a property: {usage} ({e})"))?;
    let typed = typed_value(&value[at + 1..])?;
    let segments: Vec<&str> = path.iter().map(String::as_str).collect();
    Properties::new()
        .set(&segments, typed.clone())
        .map_err(|e| format!("property `{}`: {e}", value))?;
    Ok((path, typed))
}

/// A dotted path whose segments may be double-quoted to hold dots.
fn property_path(path: &str) -> Result<Vec<String>, String> {
    let mut segments = Vec::new();
    let mut segment = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    for c in path.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                was_quoted = true;
            }
            '.' if !quoted => {
                if segment.is_empty() && !was_quoted {
                    return Err(format!("the path `{path}` has an empty segment"));
                }
                segments.push(std::mem::take(&mut segment));
                was_quoted = false;
            }
            c => segment.push(c),
        }
    }
    if quoted {
        return Err(format!("the path `{path}` has an unclosed quote"));
    }
    if segment.is_empty() && !was_quoted {
        return Err(format!("the path `{path}` has an empty segment"));
    }
    segments.push(segment);
    Ok(segments)
}

/// `[TYPE:]VALUE`; text without a known type prefix is a string (so `10.1.2.3:5000` stays one).
fn typed_value(text: &str) -> Result<PropertyValue, String> {
    let Some((kind, rest)) = text.split_once(':') else {
        return Ok(PropertyValue::String(text.to_string()));
    };
    let bad = |what: &str| {
        format!(
            "`{text}` is not {what}: write e.g. `int:5`, `uint:5`, `double:0.5`, `bool:true`, `duration:250ms`, \
                 `timestamp:1704067200`, `bytes:raw text` or `string:{rest}`"
        )
    };
    Ok(match kind {
        "string" => PropertyValue::String(rest.to_string()),
        "bytes" => PropertyValue::Bytes(rest.as_bytes().to_vec()),
        "int" => PropertyValue::Int(rest.trim().parse().map_err(|_| bad("an int (int64)"))?),
        "uint" => PropertyValue::Uint(rest.trim().parse().map_err(|_| bad("a uint (uint64)"))?),
        "double" => PropertyValue::Double(rest.trim().parse().map_err(|_| bad("a double"))?),
        "bool" => PropertyValue::Bool(match rest.trim() {
            "true" => true,
            "false" => false,
            _ => return Err(bad("a bool (true or false)")),
        }),
        "duration" => PropertyValue::Duration(
            property_duration(rest.trim()).ok_or_else(|| bad("a duration"))?,
        ),
        "timestamp" => {
            let seconds: f64 = rest
                .trim()
                .parse()
                .map_err(|_| bad("a timestamp in seconds"))?;
            let since_epoch =
                Duration::try_from_secs_f64(seconds.abs()).map_err(|_| bad("a timestamp"))?;
            PropertyValue::Timestamp(if seconds < 0.0 {
                UNIX_EPOCH - since_epoch
            } else {
                UNIX_EPOCH + since_epoch
            })
        }
        _ => PropertyValue::String(text.to_string()),
    })
}

/// A property duration: `250ms`, `2s`, `1.5s`, `1m`, `1h`, `10us`, `5ns`.
fn property_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.trim().parse().ok()?;
    let seconds = match unit {
        "ns" => number / 1e9,
        "us" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}

/// `--properties [@]FILE`: a JSON object walked down to its values, each set at its path.
pub(crate) fn properties_file(value: &str) -> Result<Properties, String> {
    let path = value.strip_prefix('@').unwrap_or(value);
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read the file `{path}`: {e}"))?;
    let example = r#"{"xds": {"node": {"metadata": {"REGION": "eu"}}}}"#;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        format!("the properties file `{path}` is not JSON ({e}): write one object of path segments, e.g. {example}")
    })?;
    let serde_json::Value::Object(top) = json else {
        return Err(format!(
            "the properties file `{path}` holds {}, not an object of path segments such as {example}",
            json_kind(&json)
        ));
    };
    let mut properties = Properties::new();
    let mut at = Vec::new();
    set_json(&mut properties, &mut at, top)
        .map_err(|e| format!("the properties file `{path}`: {e}"))?;
    Ok(properties)
}

fn set_json(
    properties: &mut Properties,
    at: &mut Vec<String>,
    object: serde_json::Map<String, serde_json::Value>,
) -> Result<(), String> {
    for (key, value) in object {
        at.push(key);
        match value {
            serde_json::Value::Object(inner) => set_json(properties, at, inner)?,
            leaf => {
                let segments: Vec<&str> = at.iter().map(String::as_str).collect();
                properties
                    .set(&segments, json_value(leaf))
                    .map_err(|e| e.to_string())?;
            }
        }
        at.pop();
    }
    Ok(())
}

fn json_value(value: serde_json::Value) -> PropertyValue {
    use serde_json::Value as Json;
    match value {
        Json::Null => PropertyValue::Null,
        Json::Bool(b) => PropertyValue::Bool(b),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => PropertyValue::Int(i),
            (None, Some(u)) => PropertyValue::Uint(u),
            _ => PropertyValue::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => PropertyValue::String(s),
        Json::Array(items) => PropertyValue::List(items.into_iter().map(json_value).collect()),
        Json::Object(map) => {
            PropertyValue::Map(map.into_iter().map(|(k, v)| (k, json_value(v))).collect())
        }
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a bool",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_paths_split_at_dots_outside_quotes_and_values_take_a_type_prefix() {
        let (path, value) =
            property(r#"metadata.filter_metadata."envoy.filters.http.lua".key=a=b"#).unwrap();
        assert_eq!(
            path,
            [
                "metadata",
                "filter_metadata",
                "envoy.filters.http.lua",
                "key"
            ]
        );
        assert_eq!(value, PropertyValue::String("a=b".into()));
        assert_eq!(
            property("source.address=10.1.2.3:5000").unwrap().1,
            PropertyValue::String("10.1.2.3:5000".into())
        );
        assert_eq!(
            property("connection.id=uint:7").unwrap().1,
            PropertyValue::Uint(7)
        );
        assert_eq!(
            property("upstream.cx_pool_ready_duration=duration:1.5s")
                .unwrap()
                .1,
            PropertyValue::Duration(Duration::from_millis(1500))
        );
        assert_eq!(
            property("filter_state.k=timestamp:1704067200").unwrap().1,
            PropertyValue::Timestamp(UNIX_EPOCH + Duration::from_secs(1_704_067_200))
        );
        assert!(
            property("a..b=x")
                .unwrap_err()
                .contains("has an empty segment")
        );
        assert!(
            property("novalue")
                .unwrap_err()
                .contains("is not a property")
        );
        assert!(
            property("upstream.port=duration:soon")
                .unwrap_err()
                .contains("is not a duration")
        );
    }
}
