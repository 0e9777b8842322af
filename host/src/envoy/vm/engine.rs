//! The process-wide wasmtime engine: compiled code shared by every store, and the epoch ticker that bounds
//! each guest call.

use std::sync::OnceLock;
use std::time::Duration;

use wasmtime::{Engine, Store};

use crate::envoy::HostState;

/// How often the epoch ticker advances: the granularity of the per-call deadline.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The process-wide engine: compiled code is shared by every store, and an epoch ticker bounds guest calls.
pub(crate) fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        // What Envoy's runtimes (V8, WAMR, wasmtime as Envoy configures it) and cpp-host's one 32-bit `memory`
        // export agree on. wasmtime's defaults would also accept these, and a module using them would run here and fail
        // to load in Envoy; several memories would also multiply the memory limit. Threads, GC, exceptions and
        // the component model are left out of the build (Cargo features).
        config
            .wasm_multi_memory(false)
            .wasm_memory64(false)
            .wasm_wide_arithmetic(false)
            .wasm_custom_page_sizes(false)
            .wasm_stack_switching(false)
            .wasm_gc(false);
        let engine = Engine::new(&config)
            .expect("the default wasmtime configuration is valid on this platform");
        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("proxy-wasm-host-epoch".into())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .expect("spawning the epoch ticker thread");
        engine
    })
}

/// Gives the next guest call (or the module's start function) the per-call deadline.
pub(super) fn arm_deadline(store: &mut Store<HostState>) {
    let ticks =
        store.data().settings.call_deadline.as_millis() as u64 / EPOCH_TICK.as_millis() as u64;
    store.set_epoch_deadline(ticks.max(1) + 1);
}
