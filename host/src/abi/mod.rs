//! The proxy-wasm ABI as Envoy (proxy-wasm-cpp-host) exposes it: the guest memory contract and every import a module
//! may link against, listed once in `imports`. Each import is a thin shim, a Rust function named as the import with
//! typed arguments (`args` decodes them): it reads and checks guest memory, hands the request to one Envoy-layer
//! operation (`crate::envoy`) and returns the status Envoy would.

mod args;
mod buffers;
mod callouts;
mod context;
mod headers;
mod imports;
mod logging;
mod memory;
mod metrics;
mod properties;
mod shared;
mod stream;
mod wasi;

pub(crate) use imports::host_functions;

use crate::spec::Status;

/// What a host function body can end with: a status for the guest, or a trap that stops the guest.
pub(crate) enum Fail {
    Status(Status),
    Trap(wasmtime::Error),
}

/// Result of a host function body; `Ok` becomes `Status::Ok`.
pub(crate) type HostResult<T = ()> = Result<T, Fail>;

impl From<Status> for Fail {
    fn from(status: Status) -> Fail {
        Fail::Status(status)
    }
}

impl From<crate::envoy::Refusal> for Fail {
    fn from(refusal: crate::envoy::Refusal) -> Fail {
        match refusal {
            crate::envoy::Refusal::Status(status) => Fail::Status(status),
            crate::envoy::Refusal::OverBudget(exceeded) => exceeded.into(),
        }
    }
}

/// Going over the byte budget stops the guest (fails the VM), whatever the host call would have returned.
impl From<crate::envoy::BudgetExceeded> for Fail {
    fn from(exceeded: crate::envoy::BudgetExceeded) -> Fail {
        Fail::Trap(wasmtime::Error::new(exceeded))
    }
}
