//! The VMs Envoy runs for one plugin, and when: the base VM and the configuration canary at start-up (cpp-host
//! `createWasm` / `WasmHandleBase::canary`), the worker's VM, and a fresh worker VM after a run-time failure under
//! FAIL_RELOAD (Envoy `PluginConfig::maybeReloadHandleIfNeeded`).

use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::budget::entry_cost;
use super::vm::{Kept, VmStartError};
use super::{
    ByteBudget, FailurePolicy, ForeignFunction, GrpcCall, HostFunctions, HttpCall, Loaded,
    LogEntry, LogOrigin, Metrics, Settings, SharedProcess, StartFailure, Vm, VmInit, VmRole,
};

/// What one Envoy process remembers of start-ups: which base VMs exist (cpp-host `base_wasms`, keyed by vm_id, VM
/// configuration and code) and each plugin configuration's canary result (`plugin_canary_cache_`). A plugin started
/// again on the same [`crate::testing::Envoy`] (a second worker) runs neither again.
#[derive(Debug, Default)]
pub(crate) struct StartCache {
    base_vms: HashSet<[u8; 32]>,
    canaries: HashMap<([u8; 32], [u8; 32]), bool>,
}

/// What the configuration canary left behind: Envoy sent its callouts, then cancelled them when it dropped the VM.
#[derive(Debug, Clone, Default)]
pub(crate) struct CanaryCallouts {
    pub(crate) http: Vec<HttpCall>,
    pub(crate) grpc: Vec<GrpcCall>,
}

/// One plugin's VMs on one worker.
pub(crate) struct PluginVms {
    loaded: Loaded,
    /// The configuration every worker VM starts with (a reloaded one too).
    settings: Settings,
    process: SharedProcess,
    /// What the host holds for the plugin, in all its VMs together (a reloaded VM does not start from zero).
    budget: ByteBudget,
    /// Worker VMs, oldest first. The last runs new streams; the others failed and were replaced by FAIL_RELOAD,
    /// and are kept for the streams that were in them (which get FAIL_CLOSED's 503, as in Envoy) until no stream
    /// handle refers to them: then only their logs are kept.
    workers: Vec<Worker>,
    /// One per worker VM, cloned into each handle to one of its streams.
    holds: Vec<VmHold>,
    /// What the base VM and the canary logged, in order.
    start_logs: Vec<LogEntry>,
    canary_callouts: CanaryCallouts,
    /// Reload attempts whose new VM did not start, with the generation that was current then.
    failed_reloads: Vec<(usize, Vec<LogEntry>)>,
    /// When the current worker VM was loaded or a reload was last tried: FAIL_RELOAD's backoff counts from here.
    last_load: Duration,
}

impl PluginVms {
    /// Starts a plugin as Envoy does: the base VM runs `_initialize`/`main`, a canary clone runs them and
    /// `on_vm_start` and `on_configure` and is dropped (no `on_done`), then the worker's VM starts for real. With a
    /// shared `cache`, a base VM or canary this process already ran is not run again.
    pub(crate) fn start(
        bytes: &[u8],
        settings: Settings,
        foreign: HashMap<String, ForeignFunction>,
        process: SharedProcess,
        cache: Option<&Mutex<StartCache>>,
        functions: &'static HostFunctions,
    ) -> Result<PluginVms, VmStartError> {
        let loaded = Vm::load(bytes, &settings, functions)?;
        let keys = cache.map(|_| StartKeys::new(loaded.compiled.id, &settings));
        let mut start_logs = Vec::new();
        let mut kept = Kept {
            foreign,
            metrics: Metrics::default(),
        };
        let budget = ByteBudget::new(settings.host_memory_limit);
        let init = |kept: Kept, role| VmInit {
            settings: settings.clone(),
            foreign: kept.foreign,
            process: process.clone(),
            metrics: kept.metrics,
            role,
            budget: budget.clone(),
            now: settings.start_time,
        };
        let fail = |mut error: VmStartError, start_logs: &mut Vec<LogEntry>| {
            start_logs.append(&mut error.logs);
            error.logs = std::mem::take(start_logs);
            error
        };

        let base_known = match (cache, &keys) {
            (Some(cache), Some(keys)) => cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .base_vms
                .contains(&keys.vm),
            _ => false,
        };
        if !base_known {
            // cpp-host keeps a base VM only once it initialized.
            let mut base = Vm::initialize_only(&loaded, init(kept, VmRole::Base))
                .map_err(|e| fail(e, &mut start_logs))?;
            if let (Some(cache), Some(keys)) = (cache, &keys) {
                cache
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .base_vms
                    .insert(keys.vm);
            }
            start_logs.append(&mut base.state_mut().logs);
            kept = Kept::take(base.state_mut());
            // Its log lines and metrics live on (charged still); what else it held is dropped with it.
            base.state_mut().release_held();
        }

        let canary_known = match (cache, &keys) {
            (Some(cache), Some(keys)) => cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .canaries
                .get(&(keys.vm, keys.plugin))
                .copied(),
            _ => None,
        };
        let mut canary_callouts = CanaryCallouts::default();
        match canary_known {
            Some(true) => {}
            Some(false) => {
                return Err(VmStartError {
                    failure: StartFailure::Configure,
                    message: "the configuration canary of this plugin configuration already failed in this Envoy \
                              (cpp-host caches the canary's result per plugin): Envoy rejects it again without \
                              running it"
                        .into(),
                    logs: start_logs,
                    trap: None,
                    kept: None,
                });
            }
            None => {
                let started = Vm::start(&loaded, init(kept, VmRole::Canary));
                let remember = |passed: bool| {
                    if let (Some(cache), Some(keys)) = (cache, &keys) {
                        cache
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .canaries
                            .insert((keys.vm, keys.plugin), passed);
                    }
                };
                let mut canary = match started {
                    Ok(canary) => canary,
                    Err(mut error) => {
                        // cpp-host caches only a refused configuration; a failed start is tried again next time.
                        if error.failure == StartFailure::Configure {
                            remember(false);
                        }
                        error.message = format!("in the configuration canary: {}", error.message);
                        return Err(fail(error, &mut start_logs));
                    }
                };
                remember(true);
                let state = canary.state_mut();
                start_logs.append(&mut state.logs);
                canary_callouts = CanaryCallouts {
                    http: state.callouts.http.clone(),
                    grpc: state.callouts.grpc.clone(),
                };
                kept = Kept::take(state);
                state.release_held();
            }
        }

        let worker = Vm::start(&loaded, init(kept, VmRole::Worker(0)))
            .map_err(|e| fail(e, &mut start_logs))?;
        Ok(PluginVms {
            budget,
            loaded,
            last_load: settings.start_time,
            settings,
            process,
            workers: vec![Worker::Running(worker)],
            holds: vec![VmHold::default()],
            start_logs,
            canary_callouts,
            failed_reloads: Vec::new(),
        })
    }

    /// The worker VM new streams go to.
    pub(crate) fn current(&mut self) -> &mut Vm {
        let generation = self.reloads();
        self.generation(generation)
    }

    pub(crate) fn current_ref(&self) -> &Vm {
        match self.workers.last() {
            Some(Worker::Running(vm)) => vm,
            _ => unreachable!("the current worker VM is never retired"),
        }
    }

    /// Worker VM `generation` (0 is the first; each FAIL_RELOAD adds one).
    #[track_caller]
    pub(crate) fn generation(&mut self, generation: usize) -> &mut Vm {
        match &mut self.workers[generation] {
            Worker::Running(vm) => vm,
            Worker::Retired(_) => {
                unreachable!(
                    "worker VM {generation} is retired only once no stream handle refers to it"
                )
            }
        }
    }

    /// Drops the replaced worker VMs no stream handle refers to (their streams can neither be driven nor read),
    /// keeping their log lines; what else they held leaves the plugin's byte budget.
    fn retire_unreferenced(&mut self) {
        let current = self.reloads();
        for (worker, hold) in self.workers[..current].iter_mut().zip(&self.holds) {
            if Rc::strong_count(&hold.0) > 1 {
                continue;
            }
            if let Worker::Running(vm) = worker {
                let state = vm.state_mut();
                let logs = std::mem::take(&mut state.logs);
                state.release_held();
                *worker = Worker::Retired(logs);
            }
        }
    }

    /// How many times FAIL_RELOAD replaced the worker VM.
    pub(crate) fn reloads(&self) -> usize {
        self.workers.len() - 1
    }

    /// A new stream, in the VM Envoy's filter factory picks for it: with FAIL_RELOAD, a failed VM is first replaced
    /// by a fresh one once the backoff has passed (Envoy `PluginConfig::createContext`). Returns the stream's VM
    /// generation, its context id and the hold that keeps its VM. Replaced VMs whose streams nobody holds any more
    /// are dropped first.
    pub(crate) fn new_stream(&mut self) -> (usize, u32, VmHold) {
        self.new_context(Vm::new_stream)
    }

    /// A new downstream connection through the plugin as a network filter in front of a TCP proxy to
    /// `default_cluster`, in the VM the filter factory picks, as [`PluginVms::new_stream`].
    pub(crate) fn new_connection(&mut self, default_cluster: &str) -> (usize, u32, VmHold) {
        self.new_context(|vm| vm.new_connection(default_cluster))
    }

    fn new_context(&mut self, create: impl FnOnce(&mut Vm) -> u32) -> (usize, u32, VmHold) {
        self.retire_unreferenced();
        self.reload_if_due();
        let generation = self.workers.len() - 1;
        let hold = self.holds[generation].clone();
        (generation, create(self.current()), hold)
    }

    fn reload_if_due(&mut self) {
        let failed = self.current_ref().state().failed.is_some();
        if !failed || self.settings.failure_policy != FailurePolicy::Reload {
            return;
        }
        // Envoy draws the wait from [base, 1.5 × base) for every new stream (`JitteredLowerBoundBackOffStrategy`);
        // the host waits for the longest draw, so a reload seen here happens in Envoy too.
        let now = self.current_ref().state().clock.now();
        if now.saturating_sub(self.last_load) < self.settings.reload_backoff * 3 / 2 {
            return;
        }
        self.last_load = now;
        let generation = self.workers.len();
        let kept = Kept::take(self.current().state_mut());
        let init = VmInit {
            settings: self.settings.clone(),
            foreign: kept.foreign,
            process: self.process.clone(),
            metrics: kept.metrics,
            role: VmRole::Worker(generation as u32),
            budget: self.budget.clone(),
            now,
        };
        match Vm::start(&self.loaded, init) {
            Ok(vm) => {
                self.workers.push(Worker::Running(vm));
                self.holds.push(VmHold::default());
                self.retire_unreferenced();
            }
            Err(error) => {
                // VmReloadFailure: the failed VM stays, and the next stream after another backoff tries again.
                if let Some(kept) = error.kept {
                    let state = self.current().state_mut();
                    state.foreign = kept.foreign;
                    state.metrics = kept.metrics;
                }
                let mut logs = error.logs;
                logs.push(LogEntry {
                    level: crate::spec::LogLevel::Critical,
                    message: format!(
                        "FAIL_RELOAD could not start a new VM, the failed one stays: {}",
                        error.message
                    ),
                    context_id: 0,
                    origin: LogOrigin::Host,
                    vm: VmRole::Worker(generation as u32),
                });
                self.failed_reloads.push((generation - 1, logs));
            }
        }
    }

    /// What the worker VMs logged (failed reload attempts included), in order.
    pub(crate) fn worker_logs(&self) -> Vec<LogEntry> {
        let mut logs = Vec::new();
        for (generation, worker) in self.workers.iter().enumerate() {
            match worker {
                Worker::Running(vm) => logs.extend_from_slice(&vm.state().logs),
                Worker::Retired(retired) => logs.extend_from_slice(retired),
            }
            for (_, failed) in self.failed_reloads.iter().filter(|(g, _)| *g == generation) {
                logs.extend_from_slice(failed);
            }
        }
        logs
    }

    /// What the worker VMs logged since the last call, moved out.
    pub(crate) fn take_worker_logs(&mut self) -> Vec<LogEntry> {
        let mut logs = Vec::new();
        for (generation, worker) in self.workers.iter_mut().enumerate() {
            match worker {
                Worker::Running(vm) => logs.append(&mut vm.state_mut().take_logs()),
                Worker::Retired(retired) => {
                    self.budget
                        .release(retired.iter().map(|l| entry_cost(l.message.len())).sum());
                    logs.append(retired);
                }
            }
            for (_, failed) in self
                .failed_reloads
                .iter_mut()
                .filter(|(g, _)| *g == generation)
            {
                logs.append(failed);
            }
        }
        logs
    }

    /// What the base VM and the configuration canary logged.
    pub(crate) fn start_logs(&self) -> &[LogEntry] {
        &self.start_logs
    }

    pub(crate) fn canary_callouts(&self) -> &CanaryCallouts {
        &self.canary_callouts
    }
}

/// What a handle to a stream holds so that the plugin keeps the stream's worker VM.
#[derive(Debug, Clone, Default)]
pub(crate) struct VmHold(Rc<()>);

/// A worker VM, or what is left of one FAIL_RELOAD replaced once no stream refers to it: its log lines.
enum Worker {
    Running(Vm),
    Retired(Vec<LogEntry>),
}

/// cpp-host's cache keys: the VM's (vm_id, VM configuration, code) and the plugin's (name, root_id, configuration).
struct StartKeys {
    vm: [u8; 32],
    plugin: [u8; 32],
}

impl StartKeys {
    /// `code` is the compiled module's id in this process, which stands for the code's hash.
    fn new(code: u64, settings: &Settings) -> StartKeys {
        let hash = |parts: &[&[u8]]| -> [u8; 32] {
            let mut hasher = Sha256::new();
            for part in parts {
                hasher.update((part.len() as u64).to_le_bytes());
                hasher.update(part);
            }
            hasher.finalize().into()
        };
        let vm = hash(&[
            settings.vm_id.as_bytes(),
            &settings.vm_config,
            &code.to_le_bytes(),
        ]);
        StartKeys {
            vm,
            plugin: hash(&[
                &vm,
                settings.name.as_bytes(),
                settings.root_id.as_bytes(),
                &settings.config,
            ]),
        }
    }
}
