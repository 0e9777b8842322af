//! One VM: the process-wide engine and compiled-module cache, loading a module like cpp-host (ABI detection,
//! import check, `_initialize`), calling into the guest under a deadline, plugin start, virtual time.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, bail};
use wasmtime::{
    Engine, Linker, Module, Store, StoreLimitsBuilder, Trap, TypedFunc, WasmParams, WasmResults,
};

use super::budget::{BudgetExceeded, ByteBudget};
use super::cache::{DiskCache, compile};
use super::{
    Callouts, Clock, Contexts, ForeignFunction, HostState, LogEntry, Metrics, Phase, Process,
    Properties, VmRole,
};
use crate::spec::{AbiVersion, LogLevel};

/// How often the epoch ticker advances: the granularity of the per-call deadline.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Function tables a module may have: a proxy-wasm module has one (`call_indirect`); reference types allow more.
const MAX_TABLES: usize = 4;

/// Elements one table may hold: SDK modules have a few thousand functions; a million is 8 MiB per table.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// The plugin-level configuration a VM starts with (what Envoy's `PluginConfig`/`VmConfig` carry).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) name: String,
    pub(crate) root_id: String,
    pub(crate) vm_id: String,
    pub(crate) vm_config: Vec<u8>,
    pub(crate) config: Vec<u8>,
    /// What happens to streams once the VM failed at run time (Envoy `PluginConfig.failure_policy`).
    pub(crate) failure_policy: FailurePolicy,
    /// Envoy's legacy `PluginConfig.fail_open`, which cpp-host's `CHECK_FAIL` still reads (`PluginBase::fail_open_`):
    /// a stream already in the VM when it fails bypasses the plugin only with this, not with `FailurePolicy::Open`.
    pub(crate) legacy_fail_open: bool,
    /// FAIL_RELOAD's `reload_config.backoff.base_interval`: a failed VM is replaced at most this often.
    pub(crate) reload_backoff: Duration,
    /// The VM's environment variables (`vm_config.environment_variables`), what WASI `environ_get` returns.
    pub(crate) env: Vec<(String, String)>,
    pub(crate) log_level: LogLevel,
    /// The clusters Envoy's configuration has (callouts to others are refused).
    pub(crate) clusters: super::Clusters,
    /// Attribute values the test set for every stream (and `xds.node` for the root context too).
    pub(crate) properties: Properties,
    pub(crate) memory_limit: usize,
    /// What the host may hold for the plugin (logs, callouts, queue items): see [`ByteBudget`].
    pub(crate) host_memory_limit: usize,
    pub(crate) disk_cache: DiskCache,
    /// Envoy's `allow_on_headers_stop_iteration`: Pause on headers is a plain StopIteration.
    pub(crate) allow_on_headers_stop_iteration: bool,
    /// Envoy's per-stream buffer limit (the listener's `per_connection_buffer_limit_bytes`).
    pub(crate) buffer_limit: usize,
    pub(crate) call_deadline: Duration,
    pub(crate) start_time: Duration,
}

/// What Envoy does with a plugin whose VM failed at run time (a trap, a deadline, a memory limit): Envoy's
/// `PluginConfig.failure_policy` (Istio `failStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// FAIL_CLOSED, the default: every stream gets a 503 from then on.
    #[default]
    Closed,
    /// FAIL_OPEN: streams created after the failure bypass the plugin. A stream already in the VM still gets the 503
    /// (cpp-host's `CHECK_FAIL` reads only the legacy `fail_open`).
    Open,
    /// FAIL_RELOAD: the next stream created once the reload backoff has passed gets a fresh VM (started and
    /// configured again; its memory is new, shared data and metrics are the process's and survive). Until then, and
    /// for the streams of the failed VM, FAIL_CLOSED.
    Reload,
}

/// Why a plugin did not start, Envoy's way: the configuration was refused, the module did not load, `_initialize`
/// trapped, or the root context refused (`on_vm_start`/`on_configure` returned false or trapped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFailure {
    /// Envoy refused the plugin configuration itself (for example both `fail_open` and `failure_policy`, or an
    /// environment variable named twice).
    Config,
    /// The file could not be read, compiled or linked (unknown import, missing ABI marker or allocator).
    Load,
    /// `_initialize`/`_start`/`main` trapped.
    Initialize,
    /// `proxy_on_vm_start` returned false or trapped.
    VmStart,
    /// `proxy_on_configure` returned false or trapped.
    Configure,
}

/// A VM that failed to start, with everything it logged meanwhile.
#[derive(Debug)]
pub(crate) struct VmStartError {
    pub(crate) failure: StartFailure,
    pub(crate) message: String,
    pub(crate) logs: Vec<LogEntry>,
    /// What the VM was lent and outlives it, when it got that far.
    pub(crate) kept: Option<Box<Kept>>,
}

/// What a plugin's VMs hand on to the next one: the test's foreign functions and the plugin's stats.
pub(crate) struct Kept {
    pub(crate) foreign: HashMap<String, ForeignFunction>,
    pub(crate) metrics: Metrics,
}

impl Kept {
    pub(crate) fn take(state: &mut HostState) -> Kept {
        Kept {
            foreign: std::mem::take(&mut state.foreign),
            metrics: std::mem::take(&mut state.metrics),
        }
    }

    fn boxed(state: &mut HostState) -> Box<Kept> {
        Box::new(Kept::take(state))
    }
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kept").finish_non_exhaustive()
    }
}

/// The host functions modules link against. The ABI layer defines them; this layer checks a module's imports
/// against them and instantiates modules with them, without knowing what they are.
pub(crate) struct HostFunctions {
    pub(crate) linker: Linker<HostState>,
    /// Whether a module speaking `abi` may import `module.name` (cpp-host registers a set per ABI version).
    pub(crate) provides: fn(abi: AbiVersion, module: &str, name: &str) -> bool,
}

/// A compiled, checked module: what every VM of a plugin (base, canary, workers) is instantiated from.
#[derive(Clone)]
pub(crate) struct Loaded {
    pub(crate) module: Module,
    pub(crate) abi: AbiVersion,
    functions: &'static HostFunctions,
}

/// What one VM starts with besides the module.
pub(crate) struct VmInit {
    pub(crate) settings: Settings,
    pub(crate) foreign: HashMap<String, ForeignFunction>,
    pub(crate) process: Rc<RefCell<Process>>,
    /// The plugin's stats: Envoy keeps them in its stats store, so they outlive a VM (canary, FAIL_RELOAD).
    pub(crate) metrics: Metrics,
    pub(crate) role: VmRole,
    /// The virtual time the VM starts at.
    pub(crate) now: Duration,
}

/// A header callback export: 2 arguments in ABI 0.1.0, 3 (with end_of_stream) since 0.2.0.
#[derive(Clone)]
pub(crate) enum HeadersFn {
    V1(TypedFunc<(i32, i32), i32>),
    V2(TypedFunc<(i32, i32, i32), i32>),
}

/// A callback the module may export, by its export name.
#[derive(Clone)]
pub(crate) struct Callback<P, R> {
    name: &'static str,
    func: Option<TypedFunc<P, R>>,
}

/// The callbacks a module exports (missing ones are skipped, as cpp-host does).
#[derive(Clone)]
pub(crate) struct Exports {
    /// `_initialize` (+ `main`/`__main_void`) or `_start`, in call order.
    pub(crate) start: Vec<(String, wasmtime::Func)>,
    pub(crate) on_context_create: Callback<(i32, i32), ()>,
    pub(crate) on_vm_start: Callback<(i32, i32), i32>,
    pub(crate) on_configure: Callback<(i32, i32), i32>,
    pub(crate) on_tick: Callback<i32, ()>,
    pub(crate) on_queue_ready: Callback<(i32, i32), ()>,
    pub(crate) on_done: Callback<i32, i32>,
    pub(crate) on_log: Callback<i32, ()>,
    pub(crate) on_delete: Callback<i32, ()>,
    pub(crate) on_request_headers: Option<HeadersFn>,
    pub(crate) on_request_body: Callback<(i32, i32, i32), i32>,
    pub(crate) on_request_trailers: Callback<(i32, i32), i32>,
    pub(crate) on_response_headers: Option<HeadersFn>,
    pub(crate) on_response_body: Callback<(i32, i32, i32), i32>,
    pub(crate) on_response_trailers: Callback<(i32, i32), i32>,
    pub(crate) on_http_call_response: Callback<(i32, i32, i32, i32, i32), ()>,
    pub(crate) on_grpc_receive_initial_metadata: Callback<(i32, i32, i32), ()>,
    pub(crate) on_grpc_receive: Callback<(i32, i32, i32), ()>,
    pub(crate) on_grpc_receive_trailing_metadata: Callback<(i32, i32, i32), ()>,
    pub(crate) on_grpc_close: Callback<(i32, i32, i32), ()>,
}

/// One plugin's VM: the store (all state) and the module's callbacks.
pub(crate) struct Vm {
    pub(crate) store: Store<HostState>,
    /// Shared so a callback can be called by reference while the store is borrowed mutably (cloning a `TypedFunc`
    /// clones its registered type, which costs more than a short callback).
    pub(crate) exports: Arc<Exports>,
}

/// The process-wide engine: compiled code is shared by every store, and an epoch ticker bounds guest calls.
pub(crate) fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        // What Envoy's runtimes (V8, WAMR, wasmtime as Envoy configures it) and cpp-host's one 32-bit `memory`
        // export agree on. wasmtime 50 would also accept these, and a module using them would run here and fail
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

/// Detects the ABI version like cpp-host's `getAbiVersion`: the first marker export in export order.
pub(crate) fn abi_version(module: &Module) -> anyhow::Result<AbiVersion> {
    for export in module.exports() {
        if let Some((_, abi)) = AbiVersion::MARKERS
            .iter()
            .find(|(name, _)| *name == export.name())
        {
            return Ok(*abi);
        }
    }
    bail!(
        "missing or unknown proxy-wasm ABI version: the module exports none of proxy_abi_version_0_1_0, \
         proxy_abi_version_0_2_0, proxy_abi_version_0_2_1 (is it a proxy-wasm filter built with an SDK?)"
    )
}

impl Vm {
    pub(crate) fn state(&self) -> &HostState {
        self.store.data()
    }

    pub(crate) fn state_mut(&mut self) -> &mut HostState {
        self.store.data_mut()
    }

    /// Compiles the module and checks it as cpp-host's `WasmBase::load` does, once for every VM of the plugin.
    pub(crate) fn load(
        bytes: &[u8],
        disk_cache: &DiskCache,
        functions: &'static HostFunctions,
    ) -> Result<Loaded, VmStartError> {
        Vm::check(bytes, disk_cache, functions)
            .map(|(module, abi)| Loaded {
                module,
                abi,
                functions,
            })
            .map_err(|e| VmStartError {
                failure: StartFailure::Load,
                message: format!("{e:#}"),
                logs: Vec::new(),
                kept: None,
            })
    }

    /// Starts a VM of a loaded module: `_initialize`, then the root context (id 1) goes through
    /// `on_context_create → on_vm_start(vm config) → on_configure(plugin config)`. `init` says who the VM is and
    /// what it starts with.
    pub(crate) fn start(loaded: &Loaded, init: VmInit) -> Result<Vm, VmStartError> {
        let mut vm = Vm::instantiate(loaded, init)?;
        vm.initialize()?;
        vm.start_root()?;
        Ok(vm)
    }

    /// A VM that only runs the module's start functions (`_initialize`/`main`): Envoy's base VM.
    pub(crate) fn initialize_only(loaded: &Loaded, init: VmInit) -> Result<Vm, VmStartError> {
        let mut vm = Vm::instantiate(loaded, init)?;
        vm.initialize()?;
        Ok(vm)
    }

    /// Links and instantiates the module: a failure is a load failure, except a trap of the module's own start
    /// function (the `start` section), which runs under the per-call deadline like `_initialize`.
    fn instantiate(loaded: &Loaded, init: VmInit) -> Result<Vm, VmStartError> {
        let load_error = |e: anyhow::Error, kept: Option<Box<Kept>>| VmStartError {
            failure: StartFailure::Load,
            message: format!("{e:#}"),
            logs: Vec::new(),
            kept,
        };
        let VmInit {
            settings,
            foreign,
            process,
            metrics,
            role,
            now,
        } = init;
        let (module, abi) = (&loaded.module, loaded.abi);
        // One instance with one memory (the engine refuses a second) and a bounded function table: what a
        // proxy-wasm module needs, so the memory limit bounds the whole store.
        let limits = StoreLimitsBuilder::new()
            .memory_size(settings.memory_limit)
            .memories(1)
            .instances(1)
            .tables(MAX_TABLES)
            .table_elements(MAX_TABLE_ELEMENTS)
            .trap_on_grow_failure(true)
            .build();
        let budget = ByteBudget::new(settings.host_memory_limit);
        let plugin_id = process.borrow_mut().join();
        let state = HostState {
            phase: Phase::Starting,
            abi,
            memory: None,
            malloc: None,
            limits,
            contexts: Contexts::new(),
            configuring: false,
            stop_next_iteration: false,
            streams: HashMap::default(),
            deferred: VecDeque::new(),
            queue_ready: VecDeque::new(),
            logs: Vec::new(),
            budget,
            metrics,
            plugin_id,
            process,
            clock: Clock::starting_at(now),
            role,
            proc_exit: None,
            callouts: Callouts::default(),
            failed: None,
            rng: 0x5EED,
            foreign,
            foreign_state: Default::default(),
            call_data: Vec::new(),
            settings,
        };
        let mut store = Store::new(engine(), state);
        store.limiter(|state| &mut state.limits);
        store.epoch_deadline_trap();
        arm_deadline(&mut store);
        let instance = match loaded.functions.linker.instantiate(&mut store, module) {
            Ok(instance) => instance,
            Err(error)
                if error.downcast_ref::<Trap>().is_some()
                    || error.downcast_ref::<BudgetExceeded>().is_some() =>
            {
                return Err(VmStartError {
                    failure: StartFailure::Initialize,
                    message: describe_trap(store.data(), "the module's start function", error),
                    logs: store.data().logs.clone(),
                    kept: Some(Kept::boxed(store.data_mut())),
                });
            }
            Err(error) => {
                let kept = Kept::boxed(store.data_mut());
                return Err(load_error(anyhow::Error::from(error), Some(kept)));
            }
        };
        let mut kept_store = None;
        Vm::finish_instantiate(store, &instance, abi, &mut kept_store)
            .map_err(|e| load_error(e, kept_store))
    }

    /// Compiles the module and checks what cpp-host checks before linking: the ABI version, and imports Envoy
    /// provides. Envoy's runtimes stop at the first missing import and name only it; the host names them all, so
    /// one run shows everything to remove.
    fn check(
        bytes: &[u8],
        disk_cache: &DiskCache,
        functions: &HostFunctions,
    ) -> anyhow::Result<(Module, AbiVersion)> {
        let module = compile(bytes, disk_cache)?;
        let abi = abi_version(&module)?;
        let missing: Vec<(String, String)> = module
            .imports()
            .filter(|import| !(functions.provides)(abi, import.module(), import.name()))
            .map(|import| (import.module().to_string(), import.name().to_string()))
            .collect();
        if let Some((module_name, name)) = missing.first() {
            let first = format!("{module_name}.{name}");
            let list: Vec<String> = missing.iter().map(|(m, n)| format!("`{m}.{n}`")).collect();
            bail!(
                "Failed to load Wasm module due to a missing import: {first} (Envoy's message; it names the first \
                 only). Envoy (cpp-host 52a0291) does not provide {} import{} of this proxy-wasm ABI {abi} module: \
                 {}. Remove the code that uses {} (for WASI: a std API that needs files, sockets, threads or \
                 processes), or build for wasm32-unknown-unknown",
                missing.len(),
                if missing.len() == 1 { "" } else { "s" },
                list.join(", "),
                if missing.len() == 1 { "it" } else { "them" },
            );
        }
        Ok((module, abi))
    }

    /// The exports a plugin needs (memory, allocator) and the callbacks it has.
    fn finish_instantiate(
        mut store: Store<HostState>,
        instance: &wasmtime::Instance,
        abi: AbiVersion,
        kept: &mut Option<Box<Kept>>,
    ) -> anyhow::Result<Vm> {
        let result = Vm::find_exports(&mut store, instance, abi);
        if result.is_err() {
            *kept = Some(Kept::boxed(store.data_mut()));
        }
        let exports = result?;
        Ok(Vm {
            store,
            exports: Arc::new(exports),
        })
    }

    fn find_exports(
        store: &mut Store<HostState>,
        instance: &wasmtime::Instance,
        abi: AbiVersion,
    ) -> anyhow::Result<Exports> {
        let memory = instance
            .get_memory(&mut *store, "memory")
            .context("the module exports no `memory`")?;
        let malloc = match instance.get_func(&mut *store, "malloc") {
            Some(f) => f,
            None => instance
                .get_func(&mut *store, "proxy_on_memory_allocate")
                .context("Wasm module is missing malloc function (neither `malloc` nor `proxy_on_memory_allocate` is exported)")?,
        };
        let malloc = malloc
            .typed::<i32, i32>(&*store)
            .map_err(anyhow::Error::from)
            .context("the allocator export must be (i32) -> i32")?;
        store.data_mut().memory = Some(memory);
        store.data_mut().malloc = Some(malloc);
        Exports::lookup(instance, store, abi)
    }

    /// Runs the module's start functions like cpp-host's `startVm`: `_initialize` (then `main(0, 0)` or
    /// `__main_void()` if exported), else `_start`.
    fn initialize(&mut self) -> Result<(), VmStartError> {
        let start = self.exports.start.clone();
        let run = |vm: &mut Vm, name: &str, f: &wasmtime::Func| -> Result<(), VmStartError> {
            let mut results = vec![wasmtime::Val::I32(0); f.ty(&vm.store).results().len()];
            let params: Vec<_> = f
                .ty(&vm.store)
                .params()
                .map(|_| wasmtime::Val::I32(0))
                .collect();
            arm_deadline(&mut vm.store);
            f.call(&mut vm.store, &params, &mut results).map_err(|e| {
                let message = describe_trap(vm.state(), name, e);
                vm.start_error(StartFailure::Initialize, message)
            })
        };
        for (name, f) in &start {
            run(self, name, f)?;
        }
        self.state_mut().phase = Phase::Running;
        Ok(())
    }

    fn start_root(&mut self) -> Result<(), VmStartError> {
        let state = self.state_mut();
        state.contexts.create();
        state.configuring = true;
        self.call_root(|e| &e.on_context_create, |root| (root, 0));
        self.state_mut().configuring = false;
        self.check_start(StartFailure::VmStart, "proxy_on_context_create", Some(1))?;
        let vm_config_len = self.state().settings.vm_config.len() as i32;
        let started = self.call_root_or_true(|e| &e.on_vm_start, |root| (root, vm_config_len));
        self.check_start(StartFailure::VmStart, "proxy_on_vm_start", started)?;
        let config_len = self.state().settings.config.len() as i32;
        self.state_mut().configuring = true;
        let configured = self.call_root_or_true(|e| &e.on_configure, |root| (root, config_len));
        self.state_mut().configuring = false;
        self.check_start(StartFailure::Configure, "proxy_on_configure", configured)?;
        self.settle();
        Ok(())
    }

    fn check_start(
        &mut self,
        failure: StartFailure,
        name: &str,
        result: Option<i32>,
    ) -> Result<(), VmStartError> {
        let message = match (&self.state().failed, result) {
            (Some(trap), _) => trap.clone(),
            (None, Some(0)) => format!("{name} returned false"),
            _ => return Ok(()),
        };
        Err(self.start_error(failure, message))
    }

    /// The VM did not start: what it logged, and what it was lent back.
    fn start_error(&mut self, failure: StartFailure, message: String) -> VmStartError {
        VmStartError {
            failure,
            message,
            logs: self.state().logs.clone(),
            kept: Some(Kept::boxed(self.state_mut())),
        }
    }

    /// Calls a guest callback for context `ctx` like cpp-host: current context set, effective context reset, under
    /// the per-call deadline. `None` when the export is missing, the VM has failed, or the call trapped (which
    /// fails the VM, as Envoy's `FailState::RuntimeError`).
    pub(crate) fn call<P: WasmParams, R: WasmResults>(
        &mut self,
        ctx: u32,
        callback: fn(&Exports) -> &Callback<P, R>,
        params: P,
    ) -> Option<R> {
        let exports = Arc::clone(&self.exports);
        let Callback { name, func } = callback(&exports);
        self.call_func(ctx, name, func.as_ref()?, params)
    }

    /// Calls a callback of the root context, whose id `params` receives.
    pub(crate) fn call_root<P: WasmParams, R: WasmResults>(
        &mut self,
        callback: fn(&Exports) -> &Callback<P, R>,
        params: impl FnOnce(i32) -> P,
    ) -> Option<R> {
        let root = self.state().contexts.root();
        self.call(root, callback, params(root as i32))
    }

    /// Calls a root callback that returns a bool, which cpp-host takes as true when the module does not export it
    /// (`on_vm_start`, `on_configure`, `on_done`).
    pub(crate) fn call_root_or_true<P: WasmParams>(
        &mut self,
        callback: fn(&Exports) -> &Callback<P, i32>,
        params: impl FnOnce(i32) -> P,
    ) -> Option<i32> {
        if !callback(&self.exports).is_exported() {
            return Some(1);
        }
        self.call_root(callback, params)
    }

    /// [`Vm::call`] for an export already looked up (`name` for messages).
    pub(crate) fn call_func<P: WasmParams, R: WasmResults>(
        &mut self,
        ctx: u32,
        name: &str,
        f: &TypedFunc<P, R>,
        params: P,
    ) -> Option<R> {
        if self.state().failed.is_some() {
            return None;
        }
        {
            let state = self.state_mut();
            state.contexts.enter(ctx);
            state.stop_next_iteration = false;
        }
        arm_deadline(&mut self.store);
        let result = f.call(&mut self.store, params);
        self.state_mut().contexts.leave();
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                let message = describe_trap(self.state(), name, error);
                self.state_mut().failed = Some(message);
                None
            }
        }
    }

    /// Advances virtual time, firing ticks and callout timeouts in order, as Envoy's dispatcher would.
    pub(crate) fn advance_time(&mut self, by: Duration) {
        let target = self.state().clock.now() + by;
        loop {
            let tick = self.state().clock.next_tick();
            let timeout = self.state().callouts.next_deadline();
            let next = match (tick, timeout) {
                (Some(a), Some((b, _))) => a.min(b),
                (Some(a), None) => a,
                (None, Some((b, _))) => b,
                (None, None) => break,
            };
            if next > target {
                break;
            }
            self.state_mut().clock.move_to(next);
            if tick == Some(next) {
                self.tick();
            } else if let Some((_, token)) = timeout {
                self.time_out_callout(token);
            }
            self.settle();
        }
        self.state_mut().clock.move_to(target);
    }

    /// `proxy_on_tick(root)`, then the timer re-arms one period after the tick returned (Envoy `tickHandler`).
    fn tick(&mut self) {
        if !self.exports.on_tick.is_exported() || self.state().failed.is_some() {
            self.state_mut().clock.stop_timer();
            return;
        }
        let fired_at = self.state().clock.now();
        self.call_root(|e| &e.on_tick, |root| root);
        self.state_mut().clock.rearm(fired_at);
    }

    /// `proxy_on_queue_ready(root, queue)`, posted by an enqueue.
    pub(crate) fn queue_ready(&mut self, queue: u32) {
        self.call_root(|e| &e.on_queue_ready, |root| (root, queue as i32));
    }

    /// Plugin shutdown: `on_done(root)`; true ⇒ `on_delete(root)`, false ⇒ waits for `proxy_done`.
    pub(crate) fn shutdown(&mut self) {
        if !self.state().contexts.root_is_live() {
            return;
        }
        let done = self.call_root_or_true(|e| &e.on_done, |root| root);
        if done == Some(0) {
            self.state_mut().contexts.root_draining();
        } else {
            self.delete_root();
        }
        self.settle();
    }

    pub(crate) fn delete_root(&mut self) {
        self.call_root(|e| &e.on_delete, |root| root);
        let state = self.state_mut();
        state.contexts.root_deleted();
        state.clock.stop_timer();
    }
}

/// Gives the next guest call (or the module's start function) the per-call deadline.
fn arm_deadline(store: &mut Store<HostState>) {
    let ticks =
        store.data().settings.call_deadline.as_millis() as u64 / EPOCH_TICK.as_millis() as u64;
    store.set_epoch_deadline(ticks.max(1) + 1);
}

/// A trap, explained for the person reading the test output.
fn describe_trap(state: &HostState, name: &str, error: wasmtime::Error) -> String {
    let trap = error.downcast_ref::<Trap>().copied();
    let mut message = if let Some(exceeded) = error.downcast_ref::<BudgetExceeded>() {
        format!("{name} was stopped: {exceeded}")
    } else if trap == Some(Trap::Interrupt) {
        format!(
            "{name} exceeded the {:?} deadline for one guest call (stuck in a loop?) and was stopped",
            state.settings.call_deadline
        )
    } else {
        format!("{name} trapped: {error:?}")
    };
    if let Some(code) = state.proc_exit {
        message.push_str(&format!(
            "\nthe guest called WASI proc_exit({code}) before: Envoy returns from proc_exit, and the guest trapped \
             after it (Rust's std::process::exit and abort end in `unreachable`)"
        ));
    }
    if let Some(last) = state.logs.last().filter(|l| l.level == LogLevel::Critical) {
        message.push_str(&format!("\nthe guest logged (critical): {}", last.message));
    }
    message
}

impl<P: WasmParams, R: WasmResults> Callback<P, R> {
    fn lookup(
        instance: &wasmtime::Instance,
        store: &mut Store<HostState>,
        name: &'static str,
    ) -> anyhow::Result<Callback<P, R>> {
        let func = match instance.get_func(&mut *store, name) {
            Some(f) => {
                let ty = f.ty(&*store);
                let typed = f.typed::<P, R>(&*store).map_err(|_| {
                    anyhow::anyhow!("the export `{name}` has the wrong signature {ty}")
                })?;
                Some(typed)
            }
            None => None,
        };
        Ok(Callback { name, func })
    }

    pub(crate) fn is_exported(&self) -> bool {
        self.func.is_some()
    }
}

impl Exports {
    fn lookup(
        instance: &wasmtime::Instance,
        store: &mut Store<HostState>,
        abi: AbiVersion,
    ) -> anyhow::Result<Exports> {
        fn typed<P: WasmParams, R: WasmResults>(
            instance: &wasmtime::Instance,
            store: &mut Store<HostState>,
            name: &str,
        ) -> anyhow::Result<Option<TypedFunc<P, R>>> {
            let Some(f) = instance.get_func(&mut *store, name) else {
                return Ok(None);
            };
            let ty = f.ty(&*store);
            f.typed::<P, R>(&*store)
                .map(Some)
                .map_err(|_| anyhow::anyhow!("the export `{name}` has the wrong signature {ty}"))
        }
        let headers =
            |store: &mut Store<HostState>, name: &str| -> anyhow::Result<Option<HeadersFn>> {
                Ok(match abi {
                    AbiVersion::V0_1_0 => typed(instance, store, name)?.map(HeadersFn::V1),
                    _ => typed(instance, store, name)?.map(HeadersFn::V2),
                })
            };
        let mut start = Vec::new();
        if let Some(f) = instance.get_func(&mut *store, "_initialize") {
            start.push(("_initialize".to_string(), f));
            for name in ["main", "__main_void"] {
                if let Some(f) = instance.get_func(&mut *store, name) {
                    start.push((name.to_string(), f));
                    break;
                }
            }
        } else if let Some(f) = instance.get_func(&mut *store, "_start") {
            start.push(("_start".to_string(), f));
        }
        Ok(Exports {
            start,
            on_context_create: Callback::lookup(instance, store, "proxy_on_context_create")?,
            on_vm_start: Callback::lookup(instance, store, "proxy_on_vm_start")?,
            on_configure: Callback::lookup(instance, store, "proxy_on_configure")?,
            on_tick: Callback::lookup(instance, store, "proxy_on_tick")?,
            on_queue_ready: Callback::lookup(instance, store, "proxy_on_queue_ready")?,
            on_done: Callback::lookup(instance, store, "proxy_on_done")?,
            on_log: Callback::lookup(instance, store, "proxy_on_log")?,
            on_delete: Callback::lookup(instance, store, "proxy_on_delete")?,
            on_request_headers: headers(store, "proxy_on_request_headers")?,
            on_request_body: Callback::lookup(instance, store, "proxy_on_request_body")?,
            on_request_trailers: Callback::lookup(instance, store, "proxy_on_request_trailers")?,
            on_response_headers: headers(store, "proxy_on_response_headers")?,
            on_response_body: Callback::lookup(instance, store, "proxy_on_response_body")?,
            on_response_trailers: Callback::lookup(instance, store, "proxy_on_response_trailers")?,
            on_http_call_response: Callback::lookup(
                instance,
                store,
                "proxy_on_http_call_response",
            )?,
            on_grpc_receive_initial_metadata: Callback::lookup(
                instance,
                store,
                "proxy_on_grpc_receive_initial_metadata",
            )?,
            on_grpc_receive: Callback::lookup(instance, store, "proxy_on_grpc_receive")?,
            on_grpc_receive_trailing_metadata: Callback::lookup(
                instance,
                store,
                "proxy_on_grpc_receive_trailing_metadata",
            )?,
            on_grpc_close: Callback::lookup(instance, store, "proxy_on_grpc_close")?,
        })
    }
}

impl fmt::Display for VmStartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
