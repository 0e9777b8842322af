//! The plugins' log lines on stderr, in the shape of Envoy's: the time, the level, the `wasm` logger and
//! `wasm log<prefix>: <message>` (`Context::log`), where a stream context's prefix is ` <plugin> <root_id> <vm_id>`
//! and the root context's ` <root_id> <vm_id>`, each part only when not empty (cpp-host `makeLogPrefix`,
//! `makeRootLogPrefix`).

use std::time::SystemTime;

use host::testing::{Level, LogEntry, LogOrigin, printable_line};

/// The root context's id in every VM (streams count up from 2).
const ROOT_CONTEXT: u32 = 1;

pub fn line(plugin: &str, entry: &LogEntry) -> String {
    let level = match entry.level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warning",
        Level::Error => "error",
        Level::Critical => "critical",
    };
    // The dev proxy starts a plugin with its name as root_id and an empty vm_id.
    let prefix = match entry.context_id {
        ROOT_CONTEXT | 0 => format!(" {plugin}"),
        _ => format!(" {plugin} {plugin}"),
    };
    let who = match entry.origin {
        LogOrigin::Guest => format!("wasm log{prefix}"),
        // Envoy logs nothing there; the host says why a call got its status, named by plugin.
        LogOrigin::Host => format!("host ({plugin})"),
    };
    // Envoy's `[%t]`: the thread, here the worker whose VM logged.
    let thread = std::thread::current();
    format!(
        "[{}][{}][{level}][wasm] {who}: {}",
        crate::access_log::rfc3339_millis(SystemTime::now()),
        thread.name().unwrap_or("main"),
        printable_line(&entry.message)
    )
}

pub fn print(plugin: &str, entry: &LogEntry) {
    eprintln!("{}", line(plugin, entry));
}

/// A plugin's VM failed: Envoy logs `Function: ... failed` at critical with the runtime's message; the host's
/// report follows on its own lines (the panic, the host call the guest was answering, the backtrace with Rust
/// names).
pub fn print_failure(plugin: &str, failure: &str) {
    let thread = std::thread::current();
    let mut lines = failure.lines().map(printable_line);
    eprintln!(
        "[{}][{}][critical][wasm] host ({plugin}): the plugin's VM failed: {}",
        crate::access_log::rfc3339_millis(SystemTime::now()),
        thread.name().unwrap_or("main"),
        lines.next().unwrap_or_default()
    );
    for line in lines {
        eprintln!("  {line}");
    }
}
