//! Where the layers meet: the ABI layer's host functions handed to the Envoy layer once per process, and where
//! compiled modules are cached.

use std::sync::OnceLock;

use super::target_dir;
use crate::abi;
use crate::envoy::{DiskCache, HostFunctions, engine};

/// Turns the on-disk cache off for every plugin of the process, whatever the builder says.
const NO_CACHE_ENV: &str = "PROXY_WASM_HOST_NO_CACHE";

/// The host functions every plugin of the process links against (one linker per engine, as wasmtime advises).
pub(crate) fn host_functions() -> Result<&'static HostFunctions, String> {
    static FUNCTIONS: OnceLock<HostFunctions> = OnceLock::new();
    if let Some(functions) = FUNCTIONS.get() {
        return Ok(functions);
    }
    let functions =
        abi::host_functions(engine()).map_err(|e| format!("defining the host functions: {e:#}"))?;
    Ok(FUNCTIONS.get_or_init(|| functions))
}

/// `<target>/proxy-wasm-host/`, unless `PROXY_WASM_HOST_NO_CACHE` is set.
pub(crate) fn disk_cache(enabled: bool) -> DiskCache {
    let turned_off = std::env::var_os(NO_CACHE_ENV).is_some_and(|v| !v.is_empty());
    if enabled && !turned_off {
        DiskCache::In(target_dir().join("proxy-wasm-host"))
    } else {
        DiskCache::Skip
    }
}
