use super::*;

fn parse(text: &str) -> Result<Config, String> {
    Config::parse(text.as_bytes()).map_err(|e| e.to_string())
}

fn append(name: &str, value: &str) -> Header {
    Header {
        name: name.to_owned(),
        value: value.to_owned(),
        mode: Mode::Append,
    }
}

fn replace(name: &str, value: &str) -> Header {
    Header {
        name: name.to_owned(),
        value: value.to_owned(),
        mode: Mode::Replace,
    }
}

fn rejected(text: &str) -> String {
    match parse(text) {
        Ok(config) => panic!("expected {text:?} to be rejected, got {config:?}"),
        Err(message) => message,
    }
}

#[track_caller]
fn assert_contains(message: &str, expected: &str) {
    assert!(
        message.contains(expected),
        "expected {expected:?} in the error message, got:\n{message}"
    );
}

#[test]
fn maistra_2_1_map_appends_to_responses_in_order() {
    let config =
        parse(r#"{"header-one": "value one", "Another-Header": "another value", "a": "z"}"#)
            .unwrap();
    assert_eq!(
        config.response,
        [
            append("header-one", "value one"),
            append("another-header", "another value"),
            append("a", "z")
        ]
    );
    assert_eq!(config.request, []);
}

#[test]
fn maistra_2_0_string_is_the_value_of_custom_header() {
    let config = parse("test").unwrap();
    assert_eq!(config.response, [append("custom-header", "test")]);
    assert_eq!(config.request, []);
    // Spaces and quotes inside are kept; the newline a YAML block scalar leaves at the end is not.
    let config = parse("  some \"quoted\" value\n").unwrap();
    assert_eq!(
        config.response,
        [append("custom-header", "some \"quoted\" value")]
    );
}

#[test]
fn options_choose_mode_and_direction() {
    let config = parse(
        r#"{
            "x-powered-by": "mesh",
            "cache-control": {"value": "no-store", "mode": "replace"},
            "x-request-tag": {"value": "blue", "on": "request"},
            "x-trace-zone": {"value": "eu-1", "on": "both", "mode": "append"},
            "x-plain": {"value": ""}
        }"#,
    )
    .unwrap();
    assert_eq!(
        config.response,
        [
            append("x-powered-by", "mesh"),
            replace("cache-control", "no-store"),
            append("x-trace-zone", "eu-1"),
            append("x-plain", ""),
        ]
    );
    assert_eq!(
        config.request,
        [
            append("x-request-tag", "blue"),
            append("x-trace-zone", "eu-1")
        ]
    );
}

#[test]
fn example_config_is_valid_and_shows_every_option() {
    let text = include_str!("../../example-config.json");
    let config = parse(text).unwrap();
    assert!(
        config.response.iter().any(|h| h.mode == Mode::Replace),
        "{config:?}"
    );
    assert!(!config.request.is_empty(), "{config:?}");
    assert!(text.contains(r#""on": "both""#), "{text}");
}

#[test]
fn summary_lists_headers_per_direction() {
    let config = parse(r#"{"x-a": "1", "x-b": {"value": "2", "mode": "replace"}}"#).unwrap();
    assert_eq!(config.summary(), "responses: x-a, x-b (replace)");
    let config = parse(r#"{"x-a": {"value": "1", "on": "request"}}"#).unwrap();
    assert_eq!(config.summary(), "requests: x-a");
    let config = parse(r#"{"x-a": {"value": "1", "on": "both"}}"#).unwrap();
    assert_eq!(config.summary(), "responses: x-a; requests: x-a");
}

#[test]
fn nothing_to_add_is_rejected() {
    assert_contains(&rejected(""), "configuration is empty: nothing to add");
    assert_contains(&rejected(" \n\t"), "configuration is empty: nothing to add");
    // What a v1 ServiceMeshExtension without `config` sends.
    assert_contains(&rejected("null"), "configuration is null: nothing to add");
    assert_contains(
        &rejected("{}"),
        "configuration is an empty object: nothing to add",
    );
    assert_contains(&rejected("{ }"), "pluginConfig");
}

#[test]
fn json_that_is_not_an_object_is_rejected() {
    assert_eq!(
        rejected(r#"["x-a", "b"]"#),
        r#"configuration must be a JSON object, not an array: write an object such as {"x-powered-by": "mesh"}"#
    );
    assert_contains(
        &rejected(r#""x-a: b""#),
        "configuration must be a JSON object, not a string",
    );
    assert_contains(
        &rejected(r#"["x-a"#),
        "configuration is not valid JSON: EOF while parsing a string at line 1 column 5",
    );
}

#[test]
fn invalid_json_is_rejected_with_its_position() {
    assert_eq!(
        rejected(r#"{"x-a": "b",}"#),
        "configuration is not valid JSON: trailing comma at line 1 column 13"
    );
    assert_contains(
        &rejected("{\"x-a\": \"b\"\n"),
        "configuration is not valid JSON: EOF while parsing an object at line 2",
    );
    assert_contains(
        &rejected(r#"{"x-a": "b"} {"x-c": "d"}"#),
        "trailing characters at line 1 column 14",
    );
    assert_contains(
        &rejected(r#"{x-a: "b"}"#),
        "key must be a string at line 1 column 2",
    );
    assert_contains(
        &rejected("\n\n  {\"x-a\" \"b\"}"),
        "expected `:` at line 3 column 10",
    );
}

#[test]
fn non_utf8_is_rejected() {
    assert_eq!(
        Config::parse(b"{\"x-a\": \"caf\xe9\"}")
            .unwrap_err()
            .to_string(),
        "configuration is not UTF-8 text: invalid byte at offset 12"
    );
    assert_contains(
        &Config::parse(b"caf\xe9").unwrap_err().to_string(),
        "offset 3",
    );
}

#[test]
fn values_that_are_not_strings_are_rejected() {
    assert_eq!(
        rejected(r#"{"x-a": 1}"#),
        "header \"x-a\": expected a string or an object like {\"value\": \"...\", \"mode\": \"replace\"}, \
         not a number"
    );
    assert_contains(
        &rejected(r#"{"x-a": null}"#),
        "header \"x-a\": expected a string or an object",
    );
    assert_contains(
        &rejected(r#"{"x-a": [1, [-2.5e3, {"a": null}], true]}"#),
        "header \"x-a\": expected a string or an object like",
    );
    assert_contains(
        &rejected(r#"{"x-a": [1, [-2.5e3, {"a": null}], true]}"#),
        "not an array",
    );
    assert_contains(&rejected(r#"{"x-a": -2.5e3}"#), "not a number");
    assert_contains(&rejected(r#"{"x-a": false}"#), "not a boolean");
    assert_contains(
        &rejected(r#"{"x-a": {"value": true}}"#),
        "header \"x-a\": \"value\" must be a string, not a boolean",
    );
}

#[test]
fn bad_header_names_are_rejected() {
    assert_contains(
        &rejected(r#"{"x a": "b"}"#),
        "header \"x a\": the name contains a space, which an HTTP header name cannot",
    );
    assert_contains(&rejected(r#"{"x:a": "b"}"#), "the name contains `:`");
    assert_contains(
        &rejected(r#"{"x\u0001": "b"}"#),
        "the control character U+0001",
    );
    assert_contains(&rejected(r#"{"café": "b"}"#), "the name contains `é`");
    assert_contains(&rejected(r#"{"": "b"}"#), "header \"\": the name is empty");
    assert_contains(
        &rejected(r#"{":status": "200"}"#),
        "header \":status\": pseudo-headers (names starting with `:`) cannot be added",
    );
    assert_eq!(
        parse(r#"{"x-!#$%&'*+.^_`|~9": "b"}"#)
            .unwrap()
            .response
            .len(),
        1
    );
}

#[test]
fn values_with_cr_lf_or_nul_are_rejected() {
    assert_contains(
        &rejected(r#"{"x-a": "b\r\nx-injected: 1"}"#),
        "header \"x-a\": the value contains a carriage return (\\r) at byte 1; header values cannot contain CR, LF or NUL",
    );
    assert_contains(
        &rejected(r#"{"x-a": {"value": "b\nc"}}"#),
        "a line feed (\\n) at byte 1",
    );
    assert_contains(&rejected(r#"{"x-a": "b\u0000"}"#), "a NUL byte at byte 1");
    assert_contains(
        &rejected("first line\nsecond line"),
        "configuration (Maistra 2.0 string for \"custom-header\"): the value contains a line feed (\\n) at byte 10",
    );
    assert_contains(&rejected("a\0b"), "a NUL byte at byte 1");
}

#[test]
fn unknown_options_are_rejected() {
    assert_contains(
        &rejected(r#"{"x-a": {"value": "b", "append": true}}"#),
        "header \"x-a\": unknown option \"append\" (the options are \"value\", \"mode\" and \"on\")",
    );
    assert_contains(
        &rejected(r#"{"x-a": {"valeu": "b"}}"#),
        "unknown option \"valeu\"",
    );
}

#[test]
fn bad_option_values_are_rejected() {
    assert_contains(
        &rejected(r#"{"x-a": {"mode": "replace"}}"#),
        "header \"x-a\": \"value\" is missing",
    );
    assert_contains(
        &rejected(r#"{"x-a": {"value": "b", "mode": "add"}}"#),
        "header \"x-a\": \"mode\" must be \"append\" or \"replace\", not \"add\"",
    );
    assert_contains(
        &rejected(r#"{"x-a": {"value": "b", "on": "upstream"}}"#),
        "header \"x-a\": \"on\" must be \"response\", \"request\" or \"both\", not \"upstream\"",
    );
    assert_contains(
        &rejected(r#"{"x-a": {"value": "b", "on": 1}}"#),
        "\"on\" must be",
    );
    assert_contains(
        &rejected(r#"{"x-a": {"value": "b", "mode": null}}"#),
        "not null",
    );
}

#[test]
fn a_header_listed_twice_is_rejected() {
    assert_contains(
        &rejected(r#"{"x-a": "1", "X-A": {"value": "2", "on": "request"}}"#),
        "header \"X-A\" is listed twice (names are case-insensitive)",
    );
}
