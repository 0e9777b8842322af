//! What a trap report says: the callback the host had called, the host calls the guest made in it, the panic
//! message the SDK's hook logged, and the backtrace with the Rust functions' names. Envoy prints a trap with wasm
//! function indices only (cpp-host `WasmBase::fail` with the runtime's message); the names come from the module's
//! own `name` section or, for a shipped module that has none, from its names twin (`plugin.names.wasm`, which
//! `cargo xtask build` writes beside `plugin.wasm`).

mod names;
mod report;

pub use names::NamesSource;
pub(crate) use names::{FunctionNames, NamesTwin};
pub(crate) use report::RecentCalls;
pub use report::{HostCallAnswer, TrapFrame, TrapKind, TrapReport};
