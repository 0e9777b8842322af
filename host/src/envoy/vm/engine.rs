//! The process-wide wasmtime engine: compiled code shared by every store, and the epoch ticker that bounds
//! each guest call.

use std::sync::OnceLock;
use std::time::Duration;

use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

use crate::envoy::HostState;

/// How often the epoch ticker advances: the granularity of the per-call deadline.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// VMs alive at once in one process (base, canary and worker VMs of every plugin): the pooling allocator's slots.
/// Each slot reserves 4 GiB of address space (not memory) for a linear memory, as every wasmtime memory does, so
/// the pool reserves about 4 TiB.
pub(crate) const MAX_LIVE_VMS: u32 = 1000;

/// Function tables a module may have: a proxy-wasm module has one (`call_indirect`); reference types allow more.
pub(crate) const MAX_TABLES: u32 = 4;

/// Elements one table may hold: SDK modules have a few thousand functions; a million is 8 MiB per table.
pub(crate) const MAX_TABLE_ELEMENTS: usize = 1 << 20;

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
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool()));
        // Where the pool's terabytes of address space cannot be reserved (`ulimit -v`, valgrind), each VM maps its
        // own memory instead: slower starts, no limit on live VMs, the same behaviour otherwise.
        let engine = Engine::new(&config)
            .or_else(|_| {
                config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
                Engine::new(&config)
            })
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

/// Instances, memories and tables come from slots reserved once per process: a VM start then maps nothing, and a
/// slot that held the same module keeps its copy-on-write image mapped. Mapping and unmapping a fresh 4 GiB
/// reservation and image for each of a plugin's VMs was most of a start's time (kernel page-table work).
fn pool() -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_core_instances(MAX_LIVE_VMS)
        .total_memories(MAX_LIVE_VMS)
        .max_tables_per_module(MAX_TABLES)
        .table_elements(MAX_TABLE_ELEMENTS)
        .total_tables(MAX_LIVE_VMS * MAX_TABLES)
        .max_memory_size(1 << 32)
        // An instance grows by 32 bytes per function its tables and exports reach: the default 1 MiB would refuse
        // a module with more than about 30,000 of them, which Envoy loads.
        .max_core_instance_size(16 << 20);
    pool
}

/// Gives the next guest call (or the module's start function) the per-call deadline.
pub(super) fn arm_deadline(store: &mut Store<HostState>) {
    let ticks =
        store.data().settings.call_deadline.as_millis() as u64 / EPOCH_TICK.as_millis() as u64;
    store.set_epoch_deadline(ticks.max(1) + 1);
}
