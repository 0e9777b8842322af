//! Shared by the conformance tests: the conformance guest (`host/guests/conformance`, behaviour chosen by its
//! plugin configuration) and readers for what it logs — callbacks at Debug, observations at Info, raw host-function
//! statuses as `status <what> = <n>`.

use host::testing::*;

/// The clusters the conformance guest calls out to (its default HTTP cluster and its gRPC upstream).
pub const CLUSTERS: [&str; 2] = ["auth", "grpc-upstream"];

/// The conformance guest, configured with `scenario` (words: a scenario name and its arguments), on an Envoy that
/// has the guest's [`CLUSTERS`].
pub fn guest(scenario: &str) -> PluginBuilder {
    Plugin::guest("conformance-guest")
        .config(scenario)
        .clusters(&CLUSTERS)
}

/// The conformance guest, started; panics with the start error and the guest's logs if it does not start.
#[track_caller]
pub fn start(scenario: &str) -> Plugin {
    match guest(scenario).start() {
        Ok(plugin) => plugin,
        Err(e) => panic!("the conformance guest did not start: {e}"),
    }
}

/// The callbacks context `context_id` received, in order (`on_request_headers 3 false`, `on_log`, …).
pub fn callbacks(plugin: &Plugin, context_id: u32) -> Vec<String> {
    plugin
        .logs()
        .into_iter()
        .filter(|l| l.level == Level::Debug && l.context_id == context_id)
        .map(|l| l.message)
        .collect()
}

/// What the guest observed (Info lines) that starts with `prefix`, in order.
pub fn notes(plugin: &Plugin, prefix: &str) -> Vec<String> {
    plugin
        .logs_at(Level::Info)
        .into_iter()
        .filter(|m| m.starts_with(prefix))
        .collect()
}

/// The one observation starting with `prefix`; panics, listing every log line, if there is not exactly one.
#[track_caller]
pub fn note(plugin: &Plugin, prefix: &str) -> String {
    let found = notes(plugin, prefix);
    match <[String; 1]>::try_from(found) {
        Ok([line]) => line,
        Err(found) => panic!(
            "expected one Info line starting with {prefix:?}, found {found:?}; the guest logged:\n{:#?}",
            plugin.logs()
        ),
    }
}

/// The status the host returned to the guest's raw call `what` (logged as `status <what> = <n>`), as a number to
/// compare with `Status::… as i32`.
#[track_caller]
pub fn status(plugin: &Plugin, what: &str) -> i32 {
    let line = note(plugin, &format!("status {what} = "));
    line.rsplit(" = ")
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {line}"))
}

/// A module whose `proxy_on_vm_start` draws 8 bytes with WASI `random_get` and logs them at Info as 16 hex digits
/// (`tests/modules/random_get.wat`, which the runner's tests run too).
pub fn random_get_module() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/modules/random_get.wat");
    wat::parse_file(path).unwrap_or_else(|e| panic!("{path}: invalid WAT: {e}"))
}
