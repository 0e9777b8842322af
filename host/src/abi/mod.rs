//! The proxy-wasm ABI as Envoy (proxy-wasm-cpp-host) exposes it: the enumerations, the wire formats, the guest
//! memory contract and every import a module may link against. Each import is a thin shim: it reads and checks
//! guest memory, hands the request to the Envoy layer (`crate::envoy`) and returns the status Envoy would.

mod buffers;
mod callouts;
mod context;
mod headers;
mod logging;
pub(crate) mod memory;
mod metrics;
mod properties;
mod shared;
mod stream;
mod wasi;

use wasmtime::Linker;

use crate::envoy::{HostFunctions, HostState};
use crate::spec::{AbiVersion, Status};

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

/// Host functions every ABI version gets, in module `env` (cpp-host `FOR_ALL_HOST_FUNCTIONS`).
const COMMON_IMPORTS: &[&str] = &[
    "proxy_log",
    "proxy_get_current_time_nanoseconds",
    "proxy_set_tick_period_milliseconds",
    "proxy_get_buffer_bytes",
    "proxy_set_buffer_bytes",
    "proxy_get_buffer_status",
    "proxy_get_header_map_pairs",
    "proxy_set_header_map_pairs",
    "proxy_get_header_map_value",
    "proxy_add_header_map_value",
    "proxy_replace_header_map_value",
    "proxy_remove_header_map_value",
    "proxy_get_header_map_size",
    "proxy_send_local_response",
    "proxy_http_call",
    "proxy_grpc_call",
    "proxy_grpc_stream",
    "proxy_grpc_send",
    "proxy_grpc_cancel",
    "proxy_grpc_close",
    "proxy_get_status",
    "proxy_get_property",
    "proxy_set_property",
    "proxy_get_shared_data",
    "proxy_set_shared_data",
    "proxy_register_shared_queue",
    "proxy_resolve_shared_queue",
    "proxy_enqueue_shared_queue",
    "proxy_dequeue_shared_queue",
    "proxy_define_metric",
    "proxy_increment_metric",
    "proxy_record_metric",
    "proxy_get_metric",
    "proxy_set_effective_context",
    "proxy_done",
    "proxy_call_foreign_function",
    "pthread_equal",
    "emscripten_notify_memory_growth",
];

/// Registered only for ABI 0.1.0 modules (cpp-host `registerCallbacks`).
const V0_1_0_IMPORTS: &[&str] = &[
    "proxy_get_configuration",
    "proxy_continue_request",
    "proxy_continue_response",
    "proxy_clear_route_cache",
];

/// The WASI preview1 functions the host provides, under both `wasi_snapshot_preview1` and `wasi_unstable`.
pub(crate) const WASI_MODULES: [&str; 2] = ["wasi_snapshot_preview1", "wasi_unstable"];

/// Whether a module speaking `abi` may import `module.name`: the same set cpp-host registers for that version.
fn provides(abi: AbiVersion, module: &str, name: &str) -> bool {
    match module {
        "env" => {
            COMMON_IMPORTS.contains(&name)
                || match abi {
                    AbiVersion::V0_1_0 => V0_1_0_IMPORTS.contains(&name),
                    AbiVersion::V0_2_0 => {
                        matches!(name, "proxy_continue_stream" | "proxy_close_stream")
                    }
                    AbiVersion::V0_2_1 => matches!(
                        name,
                        "proxy_continue_stream" | "proxy_close_stream" | "proxy_get_log_level"
                    ),
                }
        }
        m if WASI_MODULES.contains(&m) => wasi::FUNCTIONS.contains(&name),
        _ => false,
    }
}

/// Every host function of every ABI version, for the Envoy layer to link modules with; `provides` decides what a
/// given module may use.
pub(crate) fn host_functions(engine: &wasmtime::Engine) -> anyhow::Result<HostFunctions> {
    Ok(HostFunctions {
        linker: linker(engine)?,
        provides,
    })
}

fn linker(engine: &wasmtime::Engine) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    logging::add(&mut linker)?;
    buffers::add(&mut linker)?;
    headers::add(&mut linker)?;
    stream::add(&mut linker)?;
    callouts::add(&mut linker)?;
    properties::add(&mut linker)?;
    metrics::add(&mut linker)?;
    context::add(&mut linker)?;
    shared::add(&mut linker)?;
    for module in WASI_MODULES {
        wasi::add(&mut linker, module)?;
    }
    Ok(linker)
}
