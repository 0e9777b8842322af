//! Header map operations the configuration lists (scenario `edit`, or words added to any scenario), each applied
//! in the callback it names, so a test pins how the host keeps a map (inline headers joined, `host` as
//! `:authority`, positions, sizes).
//!
//! An operation is a word `PHASE:OP,NAME[,VALUE]`: PHASE `request` (in `on_request_headers`, on the request
//! headers) or `response` (in `on_response_headers`, on the response headers); OP `add`, `set`, `remove`, `get`
//! (logs `get NAME = VALUE` or `get NAME: status N`), or `size,MAP` (logs `size MAP = N, status S` from
//! `proxy_get_header_map_size`, MAP one of `request`, `request-trailers`, `response`, `response-trailers`).

use proxy_wasm::hostcalls;
use proxy_wasm::types::MapType;

use crate::{Scenario, note, raw, show};

/// Runs the scenario's operations for `phase` on `map`.
pub(crate) fn run(s: &Scenario, phase: &str, map: MapType) {
    for word in (0..).map_while(|i| s.arg(i)) {
        let Some(op) = word
            .strip_prefix(phase)
            .and_then(|rest| rest.strip_prefix(':'))
        else {
            continue;
        };
        let mut parts = op.splitn(3, ',');
        let (verb, name, value) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        match verb {
            "add" => hostcalls::add_map_value(map, name, value).unwrap(),
            "set" => hostcalls::set_map_value(map, name, Some(value)).unwrap(),
            "remove" => hostcalls::set_map_value(map, name, None).unwrap(),
            "get" => {
                let (status, value) = raw::header_value(map as u32, name);
                if status == 0 {
                    note(format!("get {name} = {}", show(&value)));
                } else {
                    note(format!("get {name}: status {status}"));
                }
            }
            "size" => {
                let target = match name {
                    "request" => MapType::HttpRequestHeaders,
                    "request-trailers" => MapType::HttpRequestTrailers,
                    "response" => MapType::HttpResponseHeaders,
                    _ => MapType::HttpResponseTrailers,
                };
                let (status, size) = raw::header_map_size(target as u32);
                note(format!("size {name} = {size}, status {status}"));
            }
            _ => note(format!("unknown edit {word}")),
        }
    }
}

/// Whether `word` is a header map operation (`request:…` or `response:…`) rather than a scenario argument.
pub(crate) fn is_edit(word: &str) -> bool {
    word.starts_with("request:") || word.starts_with("response:")
}
