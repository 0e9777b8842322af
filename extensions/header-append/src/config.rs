//! The filter's configuration, parsed and validated once in `on_configure`. No SDK calls here, so every rule is
//! unit-tested natively (`cargo test -p header-append`).
//!
//! How a configuration is told apart (after trimming surrounding whitespace):
//! - starts with `{`: the JSON object format (Maistra 2.1+ map, plus the per-header options of this filter);
//! - empty, `null` or `{}`: rejected, there is nothing to add;
//! - starts with `[` or `"`: rejected, JSON that is not an object (a string in quotes is not the 2.0 format);
//! - anything else: the Maistra 2.0 string, sent as `custom-header: <string>` on every response.

mod json;

use json::Json;
use std::fmt;

/// What the filter adds, in the order the configuration lists it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Config {
    /// Added to every request before it goes upstream.
    pub request: Vec<Header>,
    /// Added to every response, local replies included.
    pub response: Vec<Header>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Lowercase: Envoy lowercases header names, and HTTP/2 requires it.
    pub name: String,
    pub value: String,
    pub mode: Mode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Adds a value, keeping any the message already has (the Maistra filter's behaviour).
    Append,
    /// Removes every existing value first.
    Replace,
}

/// One line naming the field and the problem; logged as is when the configuration is rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

/// The header the Maistra 2.0 string configuration sets.
pub const LEGACY_HEADER: &str = "custom-header";

impl Config {
    pub fn parse(bytes: &[u8]) -> Result<Config, ConfigError> {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            ConfigError(format!(
                "configuration is not UTF-8 text: invalid byte at offset {}",
                e.valid_up_to()
            ))
        })?;
        let trimmed = text.trim();
        match trimmed {
            "" => Err(nothing_to_add("empty")),
            "null" => Err(nothing_to_add("null")),
            // Untrimmed, so the line and column serde_json reports match the user's text.
            _ if trimmed.starts_with(['{', '[', '"']) => parse_object(text),
            _ => maistra_2_0_string(trimmed),
        }
    }

    /// For the log line on success: `responses: x-a, x-b (replace); requests: x-c`.
    pub fn summary(&self) -> String {
        let list = |headers: &[Header]| {
            let names: Vec<String> = headers
                .iter()
                .map(|h| match h.mode {
                    Mode::Append => h.name.clone(),
                    Mode::Replace => format!("{} (replace)", h.name),
                })
                .collect();
            names.join(", ")
        };
        match (self.response.is_empty(), self.request.is_empty()) {
            (false, true) => format!("responses: {}", list(&self.response)),
            (true, false) => format!("requests: {}", list(&self.request)),
            _ => format!(
                "responses: {}; requests: {}",
                list(&self.response),
                list(&self.request)
            ),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

const EXAMPLE: &str = r#"{"x-powered-by": "mesh"}"#;

/// Where a header goes, from its `"on"` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum On {
    Response,
    Request,
    Both,
}

fn nothing_to_add(what: &str) -> ConfigError {
    ConfigError(format!(
        "configuration is {what}: nothing to add; set the plugin configuration (WasmPlugin `pluginConfig`, \
         ServiceMeshExtension `config`) to an object such as {EXAMPLE}"
    ))
}

fn maistra_2_0_string(text: &str) -> Result<Config, ConfigError> {
    let value = check_value(text).map_err(|problem| {
        ConfigError(format!(
            "configuration (Maistra 2.0 string for \"{LEGACY_HEADER}\"): {problem}"
        ))
    })?;
    let header = Header {
        name: LEGACY_HEADER.to_owned(),
        value,
        mode: Mode::Append,
    };
    Ok(Config {
        request: Vec::new(),
        response: vec![header],
    })
}

fn parse_object(text: &str) -> Result<Config, ConfigError> {
    let members = match json::parse(text) {
        Ok(Json::Object(members)) => members,
        Ok(other) => {
            return Err(ConfigError(format!(
                "configuration must be a JSON object, not {}: write an object such as {EXAMPLE}",
                other.kind()
            )));
        }
        Err(e) => return Err(ConfigError(format!("configuration is not valid JSON: {e}"))),
    };
    if members.is_empty() {
        return Err(nothing_to_add("an empty object"));
    }
    let mut config = Config::default();
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in members {
        let (header, on) = header(&name, value).map_err(ConfigError)?;
        if seen.contains(&header.name) {
            return Err(ConfigError(format!(
                "header \"{name}\" is listed twice (names are case-insensitive); use \"on\": \"both\" to add it to \
                 requests and responses"
            )));
        }
        seen.push(header.name.clone());
        match on {
            On::Response => config.response.push(header),
            On::Request => config.request.push(header),
            On::Both => {
                config.request.push(header.clone());
                config.response.push(header);
            }
        }
    }
    Ok(config)
}

/// One member of the object: `"name": "value"` (the Maistra 2.1 form) or
/// `"name": {"value": "...", "mode": "append"|"replace", "on": "response"|"request"|"both"}`.
fn header(name: &str, value: Json) -> Result<(Header, On), String> {
    let at = |problem: String| format!("header \"{name}\": {problem}");
    let lowercase = check_name(name).map_err(at)?;
    let (value, mode, on) = match value {
        Json::String(value) => (value, Mode::Append, On::Response),
        Json::Object(options) => {
            let (mut value, mut mode, mut on) = (None, Mode::Append, On::Response);
            let mut given: Vec<&str> = Vec::new();
            for (option, setting) in &options {
                if given.contains(&option.as_str()) {
                    return Err(at(format!("option \"{option}\" is given twice")));
                }
                match option.as_str() {
                    "value" => match setting {
                        Json::String(s) => value = Some(s.clone()),
                        other => {
                            return Err(at(format!(
                                "\"value\" must be a string, not {}",
                                other.kind()
                            )));
                        }
                    },
                    "mode" => {
                        mode = match choice(option, setting, &["append", "replace"]).map_err(at)? {
                            "replace" => Mode::Replace,
                            _ => Mode::Append,
                        }
                    }
                    "on" => {
                        on = match choice(option, setting, &["response", "request", "both"])
                            .map_err(at)?
                        {
                            "request" => On::Request,
                            "both" => On::Both,
                            _ => On::Response,
                        }
                    }
                    unknown => {
                        return Err(at(format!(
                            "unknown option \"{unknown}\" (the options are \"value\", \"mode\" and \"on\")"
                        )));
                    }
                }
                given.push(option);
            }
            let value = value.ok_or_else(|| at("\"value\" is missing".to_owned()))?;
            (value, mode, on)
        }
        Json::Other(kind) => {
            return Err(at(format!(
                "expected a string or an object like {{\"value\": \"...\", \"mode\": \"replace\"}}, not {kind}"
            )));
        }
    };
    let value = check_value(&value).map_err(at)?;
    Ok((
        Header {
            name: lowercase,
            value,
            mode,
        },
        on,
    ))
}

/// A string option that must be one of `allowed`.
fn choice<'a>(option: &str, setting: &'a Json, allowed: &[&str]) -> Result<&'a str, String> {
    let expected = || {
        let quoted: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
        match quoted.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    };
    match setting {
        Json::String(s) if allowed.contains(&s.as_str()) => Ok(s),
        Json::String(s) => Err(format!("\"{option}\" must be {}, not \"{s}\"", expected())),
        other => Err(format!(
            "\"{option}\" must be {}, not {}",
            expected(),
            other.kind()
        )),
    }
}

/// The header name in lowercase, if it is an HTTP token (RFC 9110 §5.6.2) and not a pseudo-header.
fn check_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("the name is empty".to_owned());
    }
    if name.starts_with(':') {
        return Err("pseudo-headers (names starting with `:`) cannot be added".to_owned());
    }
    if let Some(bad) = name.chars().find(|&c| !is_tchar(c)) {
        return Err(format!(
            "the name contains {}, which an HTTP header name cannot (allowed: letters, digits and \
             !#$%&'*+-.^_`|~)",
            describe(bad)
        ));
    }
    Ok(name.to_ascii_lowercase())
}

/// The value, if Envoy can carry it: CR and LF would split the header, NUL ends it early.
fn check_value(value: &str) -> Result<String, String> {
    match value
        .char_indices()
        .find(|&(_, c)| matches!(c, '\r' | '\n' | '\0'))
    {
        Some((at, c)) => Err(format!(
            "the value contains {} at byte {at}; header values cannot contain CR, LF or NUL",
            describe(c)
        )),
        None => Ok(value.to_owned()),
    }
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn describe(c: char) -> String {
    match c {
        '\r' => "a carriage return (\\r)".to_owned(),
        '\n' => "a line feed (\\n)".to_owned(),
        '\0' => "a NUL byte".to_owned(),
        ' ' => "a space".to_owned(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("`{c}`"),
    }
}

#[cfg(test)]
mod tests;
