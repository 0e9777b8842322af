//! One VM: a wasmtime store holding the plugin's [`HostState`], and the module's callbacks. Loading and starting
//! (`start`), calling into the guest (`calls`), the engine (`engine`), the callbacks (`exports`) and the
//! configuration a VM starts with (`settings`) each have their own module.

mod calls;
mod engine;
mod exports;
mod settings;
mod start;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Linker, Store};

use crate::envoy::cache::Compiled;
use crate::envoy::{
    ByteBudget, ForeignFunction, FunctionNames, HostState, LogEntry, Metrics, SharedProcess,
    TrapReport, VmRole,
};
use crate::spec::AbiVersion;

pub(crate) use engine::{MAX_TABLE_ELEMENTS, MAX_TABLES, engine};
pub(crate) use exports::{Callback, ExportPlan, Exports, HeadersFn, abi_version};
pub(crate) use settings::Settings;
pub use settings::{FailurePolicy, Randomness, StartFailure};

/// A VM that failed to start, with everything it logged meanwhile.
#[derive(Debug)]
pub(crate) struct VmStartError {
    pub(crate) failure: StartFailure,
    pub(crate) message: String,
    pub(crate) logs: Vec<LogEntry>,
    /// The trap that stopped the start, if the guest trapped.
    pub(crate) trap: Option<Box<TrapReport>>,
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
            metrics: std::mem::take(&mut state.metrics).for_next_vm(),
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
    pub(crate) compiled: Arc<Compiled>,
    pub(crate) abi: AbiVersion,
    functions: &'static HostFunctions,
    /// The module's function names (from its names twin or its own name section), for trap reports.
    pub(crate) names: Arc<FunctionNames>,
}

/// What one VM starts with besides the module.
pub(crate) struct VmInit {
    pub(crate) settings: Settings,
    pub(crate) foreign: HashMap<String, ForeignFunction>,
    pub(crate) process: SharedProcess,
    /// The plugin's stats: Envoy keeps them in its stats store, so they outlive a VM (canary, FAIL_RELOAD).
    pub(crate) metrics: Metrics,
    pub(crate) role: VmRole,
    /// The plugin's byte budget, which all its VMs charge.
    pub(crate) budget: ByteBudget,
    /// The virtual time the VM starts at.
    pub(crate) now: Duration,
}

/// One plugin's VM: the store (all state) and the module's callbacks.
pub(crate) struct Vm {
    pub(crate) store: Store<HostState>,
    /// The module's instance in `store`, where callbacks are taken from when first called.
    pub(crate) instance: wasmtime::Instance,
    /// Shared so a callback can be called by reference while the store is borrowed mutably (cloning a `TypedFunc`
    /// clones its registered type, which costs more than a short callback).
    pub(crate) exports: Arc<Exports>,
}

impl Vm {
    pub(crate) fn state(&self) -> &HostState {
        self.store.data()
    }

    pub(crate) fn state_mut(&mut self) -> &mut HostState {
        self.store.data_mut()
    }

    /// The bytes of linear memory the guest can reach now (its `memory` export's size): what wasmtime has mapped
    /// read-write for it, of which the pages touched are resident.
    pub(crate) fn linear_memory_bytes(&self) -> usize {
        self.state()
            .memory()
            .map_or(0, |memory| memory.data_size(&self.store))
    }
}

impl fmt::Display for VmStartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
