//! The values the dry run's flags and a scenario file's fields take, read the same way in both: headers
//! (`NAME: VALUE`), bytes (text, `@FILE`, `hex:…`, `base64:…`), callout and gRPC answers, durations. A `@FILE` is
//! read relative to `base` (the working directory for flags, the scenario file's directory for a scenario).

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{CalloutAnswer, GrpcAnswer};

/// `TEXT`, or `@FILE` for the file's bytes (as curl reads `-d @file`).
pub fn text_or_file(value: &str, base: &Path) -> Result<Vec<u8>, String> {
    match value.strip_prefix('@') {
        Some(path) => {
            let path = base.join(path);
            std::fs::read(&path)
                .map_err(|e| format!("cannot read the file `{}`: {e}", path.display()))
        }
        None => Ok(value.as_bytes().to_vec()),
    }
}

/// An answer's bytes: `@FILE` (the file's bytes), `hex:…`, `base64:…`, or the text itself.
pub fn bytes(value: &str, base: &Path) -> Result<Vec<u8>, String> {
    if value.starts_with('@') {
        return text_or_file(value, base);
    }
    if let Some(digits) = value.strip_prefix("hex:") {
        return hex::decode(digits.trim()).map_err(|e| {
            format!("`{value}` is not hex ({e}): write two hex digits a byte, e.g. `hex:0a1bff`")
        });
    }
    if let Some(encoded) = value.strip_prefix("base64:") {
        return STANDARD.decode(encoded.trim()).map_err(|e| {
            format!("`{value}` is not base64 ({e}): write standard base64 with padding, e.g. `base64:CgP/`")
        });
    }
    Ok(value.as_bytes().to_vec())
}

/// `name: value`; the name may start with `:` (pseudo-headers such as `:path: /x`), and is lowercased.
pub fn header(value: &str) -> Result<(String, String), String> {
    let split = value
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == ':')
        .map(|(i, _)| i);
    match split {
        Some(i) if !value[..i].trim().is_empty() => Ok((
            value[..i].trim().to_ascii_lowercase(),
            value[i + 1..].trim().to_string(),
        )),
        _ => Err(format!(
            "`{value}` is not a header: write `NAME: VALUE`, e.g. `x-user: alice` or `:path: /login`"
        )),
    }
}

/// `STATUS[:BODY]`, `reset` or `timeout`.
pub fn callout_answer(value: &str, base: &Path) -> Result<CalloutAnswer, String> {
    match value {
        "reset" => return Ok(CalloutAnswer::Reset),
        "timeout" => return Ok(CalloutAnswer::Timeout),
        _ => {}
    }
    let (status, body) = value.split_once(':').unwrap_or((value, ""));
    let status = status
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|s| (100..=599).contains(s))
        .ok_or_else(|| {
            format!(
                "`{value}` is not a callout answer: write an HTTP status and an optional body (`200`, \
                 `403:denied`, `200:@answer.json`), `reset` or `timeout`"
            )
        })?;
    Ok(CalloutAnswer::Response {
        status,
        headers: Vec::new(),
        body: bytes(body, base)?,
    })
}

/// `CODE[:DATA]`, `0:json:TEXT|@FILE` or `timeout`.
pub fn grpc_answer(value: &str, base: &Path) -> Result<GrpcAnswer, String> {
    if value == "timeout" {
        return Ok(GrpcAnswer::Timeout);
    }
    let (code, data) = value.split_once(':').unwrap_or((value, ""));
    let code = code
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|c| *c <= 16)
        .ok_or_else(|| {
            format!(
                "`{value}` is not a gRPC answer: write a gRPC status code 0-16 and optional data (`0:@reply.bin` \
                 for a response message, `14:unavailable` for a status message), or `timeout`"
            )
        })?;
    if let Some(json) = data.strip_prefix("json:") {
        return grpc_json_answer(value, code, json, base);
    }
    Ok(GrpcAnswer::Status {
        code,
        data: bytes(data, base)?,
    })
}

/// `0:json:TEXT|@FILE`: a response message in JSON, checked to be JSON now and encoded when its call is known.
fn grpc_json_answer(value: &str, code: u32, json: &str, base: &Path) -> Result<GrpcAnswer, String> {
    if code != 0 {
        return Err(format!(
            "`{value}`: only code 0 answers with a message (in JSON); code {code} takes a status message \
             (`{code}:denied`)"
        ));
    }
    let text = String::from_utf8(text_or_file(json, base)?)
        .map_err(|_| format!("`{value}`: the JSON is not UTF-8"))?;
    serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|e| format!("`{value}`: not JSON ({e})"))?;
    Ok(GrpcAnswer::Json { text })
}

/// The longest step of virtual time: the guest reads time as u64 nanoseconds since 1970, which run out in 2554,
/// and a century is more than any timeout or tick period a plugin means.
const MAX_ADVANCE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A step of virtual time: a [`duration`] of at most a century.
pub fn advance(value: &str) -> Result<Duration, String> {
    let by = duration(value)?;
    if by > MAX_ADVANCE {
        return Err(format!(
            "`{value}` is more than the runner advances virtual time at once (at most {} s, a century: the plugin \
             reads the time as nanoseconds in 64 bits)",
            MAX_ADVANCE.as_secs()
        ));
    }
    Ok(by)
}

/// `250ms`, `2s`, or milliseconds.
pub fn duration(value: &str) -> Result<Duration, String> {
    let (number, unit) = match value.strip_suffix("ms") {
        Some(n) => (n, 1),
        None => match value.strip_suffix('s') {
            Some(n) => (n, 1000),
            None => (value, 1),
        },
    };
    number
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .map(Duration::from_millis)
        .ok_or_else(|| {
            format!("`{value}` is not a duration: write milliseconds (`1500`, `1500ms`) or seconds (`2s`)")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HERE: &str = "";

    #[test]
    fn headers_split_at_the_first_colon_after_a_pseudo_header_prefix() {
        assert_eq!(
            header(":path: /a:b").unwrap(),
            (":path".into(), "/a:b".into())
        );
        assert_eq!(
            header("X-User:alice").unwrap(),
            ("x-user".into(), "alice".into())
        );
        assert!(header("no-colon").unwrap_err().contains("NAME: VALUE"));
        assert!(header(": value").is_err());
    }

    #[test]
    fn callout_answers_are_a_status_with_an_optional_body_reset_or_timeout() {
        let here = Path::new(HERE);
        assert_eq!(
            callout_answer("403:denied: no", here).unwrap(),
            CalloutAnswer::Response {
                status: 403,
                headers: Vec::new(),
                body: b"denied: no".to_vec()
            }
        );
        assert_eq!(
            callout_answer("200", here).unwrap(),
            CalloutAnswer::Response {
                status: 200,
                headers: Vec::new(),
                body: Vec::new()
            }
        );
        assert_eq!(callout_answer("reset", here).unwrap(), CalloutAnswer::Reset);
        assert_eq!(
            callout_answer("timeout", here).unwrap(),
            CalloutAnswer::Timeout
        );
        assert!(
            callout_answer("ok", here)
                .unwrap_err()
                .contains("`ok` is not a callout answer")
        );
        assert!(callout_answer("999", here).is_err());
    }

    #[test]
    fn grpc_answers_are_a_code_with_optional_data_or_timeout() {
        let here = Path::new(HERE);
        assert_eq!(
            grpc_answer("0:pong", here).unwrap(),
            GrpcAnswer::Status {
                code: 0,
                data: b"pong".to_vec()
            }
        );
        assert_eq!(
            grpc_answer("14", here).unwrap(),
            GrpcAnswer::Status {
                code: 14,
                data: Vec::new()
            }
        );
        assert_eq!(grpc_answer("timeout", here).unwrap(), GrpcAnswer::Timeout);
        assert!(
            grpc_answer("17", here)
                .unwrap_err()
                .contains("`17` is not a gRPC answer")
        );
        assert!(grpc_answer("ok", here).is_err());
    }

    #[test]
    fn answers_are_text_a_file_hex_or_base64() {
        let here = Path::new(HERE);
        assert_eq!(bytes("pong", here).unwrap(), b"pong");
        assert_eq!(bytes("hex:00ff0A", here).unwrap(), b"\x00\xff\x0a");
        assert_eq!(bytes("base64:AP8=", here).unwrap(), b"\x00\xff");
        let error = bytes("hex:0g", here).unwrap_err();
        assert!(error.contains("`hex:0g` is not hex"), "{error}");
        let error = bytes("base64:!!", here).unwrap_err();
        assert!(error.contains("`base64:!!` is not base64"), "{error}");
        let error = bytes("@/nonexistent/answer.bin", here).unwrap_err();
        assert!(
            error.contains("cannot read the file `/nonexistent/answer.bin`"),
            "{error}"
        );
    }

    #[test]
    fn a_file_is_read_relative_to_the_base() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = text_or_file("@Cargo.toml", dir).unwrap();
        assert!(text.starts_with(b"[package]"));
        let error = text_or_file("@missing.json", Path::new("/nonexistent")).unwrap_err();
        assert!(
            error.contains("cannot read the file `/nonexistent/missing.json`"),
            "{error}"
        );
    }

    #[test]
    fn durations_are_milliseconds_or_seconds() {
        assert_eq!(duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(duration("1500").unwrap(), Duration::from_millis(1500));
        assert!(
            duration("soon")
                .unwrap_err()
                .contains("`soon` is not a duration")
        );
    }

    #[test]
    fn an_enormous_advance_is_refused_by_name() {
        assert_eq!(advance("1000s").unwrap(), Duration::from_secs(1000));
        let error = advance("18446744073709551615").unwrap_err();
        assert!(
            error.contains("more than the runner advances virtual time at once"),
            "{error}"
        );
    }
}
