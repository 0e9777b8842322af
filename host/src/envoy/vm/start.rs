//! Loading and starting a VM as cpp-host does: compile and check the module, link it, run its start functions,
//! then the root context through `on_context_create`, `on_vm_start` and `on_configure`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use anyhow::bail;
use wasmtime::{PoolConcurrencyLimitError, Store, StoreLimitsBuilder, Trap};

use super::calls::describe_trap;
use super::engine::{MAX_LIVE_VMS, MAX_TABLE_ELEMENTS, MAX_TABLES, arm_deadline, engine};
use super::{
    HostFunctions, Kept, Loaded, Settings, StartFailure, Vm, VmInit, VmStartError, abi_version,
};
use crate::envoy::budget::BudgetExceeded;
use crate::envoy::cache::{Compiled, compile};
use crate::envoy::{
    Callouts, Clock, Contexts, FunctionNames, HostState, Phase, Randomness, RecentCalls,
};
use crate::spec::AbiVersion;

impl Vm {
    /// Compiles the module and checks it as cpp-host's `WasmBase::load` does, once for every VM of the plugin.
    pub(crate) fn load(
        bytes: &[u8],
        settings: &Settings,
        functions: &'static HostFunctions,
    ) -> Result<Loaded, VmStartError> {
        Vm::check(bytes, settings, functions)
            .map(|(compiled, abi)| Loaded {
                names: Arc::new(FunctionNames::new(
                    Arc::clone(&compiled.bytes),
                    &settings.names_twin,
                )),
                compiled,
                abi,
                functions,
            })
            .map_err(|e| VmStartError {
                failure: StartFailure::Load,
                message: format!("{e:#}"),
                logs: Vec::new(),
                trap: None,
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
            trap: None,
            kept,
        };
        let VmInit {
            settings,
            foreign,
            process,
            metrics,
            role,
            budget,
            now,
        } = init;
        let abi = loaded.abi;
        // One instance with one memory (the engine refuses a second) and a bounded function table: what a
        // proxy-wasm module needs, so the memory limit bounds the whole store.
        let limits = StoreLimitsBuilder::new()
            .memory_size(settings.memory_limit)
            .memories(1)
            .instances(1)
            .tables(MAX_TABLES as usize)
            .table_elements(MAX_TABLE_ELEMENTS)
            .trap_on_grow_failure(true)
            .build();
        let plugin_id = process.lock().join();
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
            touched_streams: Vec::new(),
            spare_maps: Default::default(),
            spare_stream: None,
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
            trap: None,
            recent_calls: RecentCalls::default(),
            names: Arc::clone(&loaded.names),
            rng: match settings.randomness {
                Randomness::Seeded(seed) => seed,
                Randomness::Os => 0,
            },
            foreign,
            foreign_state: Default::default(),
            call_data: Vec::new(),
            settings,
        };
        let mut store = Store::new(engine(), state);
        store.limiter(|state| &mut state.limits);
        store.epoch_deadline_trap();
        arm_deadline(&mut store);
        let linker = &loaded.functions.linker;
        let instance = match loaded
            .compiled
            .linked(|module| linker.instantiate_pre(module))
            .and_then(|linked| linked.instantiate(&mut store))
        {
            Ok(instance) => instance,
            Err(error)
                if error.downcast_ref::<Trap>().is_some()
                    || error.downcast_ref::<BudgetExceeded>().is_some() =>
            {
                return Err(VmStartError {
                    failure: StartFailure::Initialize,
                    message: describe_trap(store.data_mut(), "the module's start function", error),
                    logs: store.data().logs.clone(),
                    trap: store.data().trap.clone().map(Box::new),
                    kept: Some(Kept::boxed(store.data_mut())),
                });
            }
            Err(error) => {
                let kept = Kept::boxed(store.data_mut());
                let pool_full = error.downcast_ref::<PoolConcurrencyLimitError>().is_some();
                let error = anyhow::Error::from(error);
                let error = if pool_full {
                    error.context(format!(
                        "this process already runs {MAX_LIVE_VMS} VMs, the most the host keeps at once (each \
                         plugin's base, canary and worker VMs count; Envoy has no such limit): drop the plugins \
                         that are no longer needed, or run fewer workers"
                    ))
                } else {
                    error
                };
                return Err(load_error(error, Some(kept)));
            }
        };
        let mut kept_store = None;
        Vm::finish_instantiate(store, instance, &loaded.compiled, abi, &mut kept_store)
            .map_err(|e| load_error(e, kept_store))
    }

    /// Compiles the module and checks what cpp-host checks before linking: the ABI version, and imports Envoy
    /// provides. Envoy's runtimes stop at the first missing import and name only it; the host names them all, so
    /// one run shows everything to remove.
    fn check(
        bytes: &[u8],
        settings: &Settings,
        functions: &HostFunctions,
    ) -> anyhow::Result<(Arc<Compiled>, AbiVersion)> {
        // Compile time grows with the module: a size past the limit is refused before any of it is parsed.
        if bytes.len() > settings.module_size_limit {
            bail!(
                "the module is larger than the {} byte module size limit; raise \
                 `PluginBuilder::module_size_limit` (proxy-wasm-run --module-size-limit) if it really is that large",
                settings.module_size_limit
            );
        }
        let compiled = compile(bytes, &settings.disk_cache, settings.compile_deadline)?;
        let module = &compiled.module;
        let abi = abi_version(module)?;
        let envoy = settings.envoy;
        if compiled.imports_provided_by(envoy.minor) {
            return Ok((compiled, abi));
        }
        // The host links the newest Envoy's functions; an older release lacks some (`envoy_targets::imports`).
        // Where the table is unsure, the host links it: `check` warns about those.
        let linked = |module: &str, name: &str| {
            (functions.provides)(abi, module, name)
                && !matches!(
                    envoy_targets::imports::import(envoy.minor, abi, module, name),
                    envoy_targets::Verdict::Lacking(_)
                )
        };
        let missing: Vec<(String, String)> = module
            .imports()
            .filter(|import| !linked(import.module(), import.name()))
            .map(|import| (import.module().to_string(), import.name().to_string()))
            .collect();
        if let Some((module_name, name)) = missing.first() {
            let first = format!("{module_name}.{name}");
            let list: Vec<String> = missing.iter().map(|(m, n)| format!("`{m}.{n}`")).collect();
            bail!(
                "Failed to load Wasm module due to a missing import: {first} (Envoy's message; it names the first \
                 only). {envoy} does not provide {} import{} of this proxy-wasm ABI {abi} module: {}. Remove the \
                 code that uses {} (for WASI: a std API that needs files, sockets, threads or processes), build \
                 for wasm32-unknown-unknown, or target a newer release",
                missing.len(),
                if missing.len() == 1 { "" } else { "s" },
                list.join(", "),
                if missing.len() == 1 { "it" } else { "them" },
            );
        }
        compiled.remember_imports_provided(envoy.minor);
        Ok((compiled, abi))
    }

    /// The exports a plugin needs (memory, allocator) and the callbacks it has, from the module's plan.
    fn finish_instantiate(
        mut store: Store<HostState>,
        instance: wasmtime::Instance,
        compiled: &Compiled,
        abi: AbiVersion,
        kept: &mut Option<Box<Kept>>,
    ) -> anyhow::Result<Vm> {
        let found = compiled
            .exports(abi)
            .and_then(|plan| plan.in_vm(&instance, &mut store));
        let (memory, malloc, exports) = match found {
            Ok(found) => found,
            Err(error) => {
                *kept = Some(Kept::boxed(store.data_mut()));
                return Err(error);
            }
        };
        store.data_mut().memory = Some(memory);
        store.data_mut().malloc = Some(malloc);
        Ok(Vm {
            store,
            instance,
            exports: Arc::new(exports),
        })
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
            let logs = vm.state().logs.len();
            vm.state_mut().recent_calls.begin(logs);
            f.call(&mut vm.store, &params, &mut results).map_err(|e| {
                let message = describe_trap(vm.state_mut(), name, e);
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
            trap: self.state().trap.clone().map(Box::new),
            kept: Some(Kept::boxed(self.state_mut())),
        }
    }
}
