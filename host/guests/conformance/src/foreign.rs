//! Scenario `envoy-foreign`: calls to Envoy's own foreign functions and the properties they shape, one word per
//! step, run in order in the phase the word names:
//!
//! - `root:NAME:HEX` / `stream:NAME:HEX` / `callout:NAME:HEX`: `proxy_call_foreign_function(NAME, bytes)` in
//!   `on_configure` / `on_request_headers` / the stream's `on_http_call_response` (the stream dispatches to `auth`
//!   and pauses; Envoy calls the root context, which the SDK switches to the stream with
//!   `proxy_set_effective_context`); logs `NAME@PHASE: ok <hex>`, `ok none` or `err <status>`.
//! - `set:NAME:TEXT` (stream): raw `proxy_set_property([NAME], TEXT)`; logs `status set NAME = <n>`.
//! - `get:NAME` (stream): raw `proxy_get_property([NAME])`; logs `property NAME = <value> (<status>)`.

use proxy_wasm::hostcalls;

use crate::{Scenario, note, raw, show, status};

pub(crate) fn run(scenario: &Scenario, phase: &str) {
    for word in (0..).map_while(|i| scenario.arg(i)) {
        let Some((step, rest)) = word.split_once(':') else {
            continue;
        };
        match step {
            "root" | "stream" | "callout" if step == phase => {
                let (name, hex) = rest.split_once(':').unwrap_or((rest, ""));
                let result = match hostcalls::call_foreign_function(name, Some(&unhex(hex))) {
                    Ok(Some(bytes)) => format!("ok {}", hex_of(&bytes)),
                    Ok(None) => "ok none".to_string(),
                    Err(status) => format!("err {status:?}"),
                };
                note(format!("{name}@{phase}: {result}"));
            }
            "set" if phase == "stream" => {
                let (name, value) = rest.split_once(':').unwrap_or((rest, ""));
                status(
                    &format!("set {name}"),
                    raw::set_property(&[name], value.as_bytes()),
                );
            }
            "get" if phase == "stream" => {
                let (code, value) = raw::property(&[rest]);
                note(format!("property {rest} = {} ({code})", show(&value)));
            }
            _ => {}
        }
    }
}

/// Whether the scenario has steps for `phase`.
pub(crate) fn has_steps_in(scenario: &Scenario, phase: &str) -> bool {
    (0..)
        .map_while(|i| scenario.arg(i))
        .any(|word| word.split_once(':').is_some_and(|(step, _)| step == phase))
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect()
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
