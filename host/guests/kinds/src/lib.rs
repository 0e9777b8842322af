//! The guest of the host's network-filter and Wasm-service conformance tests (`host/tests/integration/
//! conformance_network.rs`, `conformance_service.rs`): one module whose kind and behaviour the plugin configuration
//! selects, as words: `tcp …` (a network filter), `service …` (a Wasm service), `producer` (an HTTP filter feeding
//! the service through shared data and a queue). `panic=<callback>` added to any of them makes that callback panic.
//!
//! Every callback logs itself at Debug (`on_downstream_data 5 false`) so tests can assert the order Envoy calls them
//! in; what the guest observes is logged at Info (`downstream data: abc`), raw host-function statuses as
//! `status <what> = <n>`.

mod connection;
mod producer;
mod raw;
mod root;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::RootContext;
use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(root::Root::default()) });
}}

/// The plugin configuration: a kind, then arguments.
#[derive(Debug, Default, Clone)]
pub(crate) struct Scenario {
    words: Vec<String>,
}

impl Scenario {
    pub(crate) fn parse(text: &str) -> Scenario {
        Scenario {
            words: text.split_whitespace().map(str::to_string).collect(),
        }
    }

    /// The kind is `name`.
    pub(crate) fn is(&self, name: &str) -> bool {
        self.words.first().is_some_and(|w| w == name)
    }

    /// One of the arguments is `flag`.
    pub(crate) fn has(&self, flag: &str) -> bool {
        self.words.iter().skip(1).any(|w| w == flag)
    }

    /// The value of a `key=value` argument.
    pub(crate) fn value(&self, key: &str) -> Option<&str> {
        self.words
            .iter()
            .skip(1)
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
    }

    /// A `key=N` argument as a number.
    pub(crate) fn number(&self, key: &str) -> Option<u64> {
        self.value(key)?.parse().ok()
    }

    /// `panic=<callback>`: the named callback panics.
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

/// Bytes as (lossy) text.
pub(crate) fn text(bytes: Option<Vec<u8>>) -> String {
    String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned()
}
