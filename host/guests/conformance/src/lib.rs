//! The guest of the host's conformance tests (`host/tests/integration/conformance_*.rs`): one filter whose behaviour
//! the plugin configuration selects, so a single module exercises every host function and lifecycle path.
//!
//! The configuration is words: a scenario name, then arguments, e.g. `callout request deny` or `ticker 100
//! stop-after=3`; `panic=<callback>` added to any scenario makes that callback panic. Every callback logs itself
//! at Debug (`on_request_headers 4 false`) so tests can assert the order Envoy calls them in; what the guest
//! observes is logged at Info (`request body: abc`), raw host-function statuses as
//! `status <what> = <n>`. The VM configuration `fail` makes `on_vm_start` refuse, `panic` makes it panic.
//! Scenario `properties` reads properties in the phases it names (see `properties.rs`). `then-fail` added to any
//! scenario makes `on_configure` refuse after it set the scenario up (metrics defined, calls dispatched).
//! `read-header=<name>` with any scenario reads that request header with the SDK's `String` getter in
//! `on_request_headers`.

mod edits;
mod foreign;
mod properties;
mod raw;
mod root;
mod stream;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::RootContext;
use proxy_wasm::types::{Bytes, LogLevel};

proxy_wasm::main! {{
    // Also installs the panic hook that logs a panic's message at Critical before the trap.
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> {
        trace(format!("root on_context_create {context_id}"));
        Box::new(root::Root::new())
    });
}}

/// The plugin configuration: a scenario name and its arguments.
#[derive(Debug, Default)]
pub(crate) struct Scenario {
    words: Vec<String>,
}

impl Scenario {
    pub(crate) fn parse(text: &str) -> Scenario {
        Scenario {
            words: text.split_whitespace().map(str::to_string).collect(),
        }
    }

    /// The scenario name is `name`.
    pub(crate) fn is(&self, name: &str) -> bool {
        self.words.first().is_some_and(|w| w == name)
    }

    /// One of the arguments is `flag`.
    pub(crate) fn has(&self, flag: &str) -> bool {
        self.words.iter().skip(1).any(|w| w == flag)
    }

    /// The argument after the name, by position.
    pub(crate) fn arg(&self, index: usize) -> Option<&str> {
        self.words.get(index + 1).map(String::as_str)
    }

    /// The value of a `key=value` argument.
    pub(crate) fn value(&self, key: &str) -> Option<&str> {
        self.words
            .iter()
            .skip(1)
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
    }

    /// `panic=<callback>` (with any scenario): the named callback panics.
    pub(crate) fn panic_in(&self, callback: &str) {
        if self.value("panic") == Some(callback) {
            panic!("guest panic in {callback}");
        }
    }
}

/// A callback was called (Debug).
pub(crate) fn trace(message: impl AsRef<str>) {
    let _ = hostcalls::log(LogLevel::Debug, message.as_ref());
}

/// Something the guest observed (Info).
pub(crate) fn note(message: impl AsRef<str>) {
    let _ = hostcalls::log(LogLevel::Info, message.as_ref());
}

/// A raw host-function status (Info): `status <what> = <n>`.
pub(crate) fn status(what: &str, status: u32) {
    note(format!("status {what} = {status}"));
}

/// Bytes as text when they are printable UTF-8, else as hex (`0x…`).
pub(crate) fn show(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.chars().any(char::is_control) => text.to_string(),
        _ => {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("0x{hex}")
        }
    }
}

/// A header map as `name: value | name: value`.
pub(crate) fn show_map(map: &[(String, Bytes)]) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}: {}", show(v)))
        .collect::<Vec<_>>()
        .join(" | ")
}
