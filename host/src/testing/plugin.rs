//! A started plugin (one VM, one root context) and the builder that configures it.

use std::cell::{RefCell, RefMut};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::envoy::Envoy;
use super::modules::{extension_module, guest_module};
use super::stream::HttpStream;
use super::wiring;
use crate::envoy::{
    Builtin, Clusters, DEFAULT_HOST_MEMORY_LIMIT, DeclaredProperty, FailurePolicy, ForeignFunction,
    GrpcCall, GrpcResponse, HttpCall, HttpCallResponse, LogEntry, LogOrigin, Metric, MetricKind,
    PluginVms, Properties, PropertyValue, Settings, StartFailure, Vm, VmRole,
};
use crate::spec::{AbiVersion, LogLevel, Status};

/// A plugin on one worker, started like Envoy starts one: the base VM runs `_initialize`/`main`, a throw-away
/// configuration canary runs `on_vm_start` and `on_configure`, then the worker's VM does it all again
/// (`on_context_create(1, 0)` → `on_vm_start` → `on_configure`) and is ready for streams. Dropping it drops the VMs;
/// [`Plugin::shutdown`] runs `on_done`/`on_delete`.
pub struct Plugin {
    vms: RefCell<PluginVms>,
}

/// Configures a plugin before [`PluginBuilder::start`]; every setting has an Envoy-like default.
pub struct PluginBuilder {
    module: Result<Module, String>,
    settings: Settings,
    /// Envoy's `failure_policy`, unset (UNSPECIFIED) until the test sets it.
    failure_policy: Option<FailurePolicy>,
    /// `vm_config.environment_variables`: `key_values` and `host_env_keys`.
    env: Vec<(String, String)>,
    host_env: Vec<String>,
    foreign: HashMap<String, ForeignFunction>,
    envoy: Option<Envoy>,
}

/// Why [`PluginBuilder::start`] failed, with the plugin's logs (its logged reason is usually the useful part).
#[derive(Debug)]
pub struct StartError {
    pub failure: StartFailure,
    pub message: String,
    pub logs: Vec<LogEntry>,
}

enum Module {
    Path(PathBuf),
    Bytes(Vec<u8>),
}

impl Plugin {
    /// An extension's shipped module, `target/extensions/<name>/plugin.wasm`, built first from the current sources
    /// with `cargo xtask build -p <name>` (once per test process; a no-op when nothing changed), so a test never
    /// runs an older module. A failed build is a load error carrying the compiler's output.
    pub fn extension(name: &str) -> PluginBuilder {
        PluginBuilder::new(
            extension_module(name)
                .map(Module::Path)
                .map_err(|e| format!("{e:#}")),
        )
    }

    /// A workspace cdylib's module, `target/wasm32-unknown-unknown/release/<crate>.wasm` (e.g. a conformance
    /// guest), built first from the current sources like [`Plugin::extension`].
    pub fn guest(crate_name: &str) -> PluginBuilder {
        PluginBuilder::new(
            guest_module(crate_name)
                .map(Module::Path)
                .map_err(|e| format!("{e:#}")),
        )
    }

    /// Any module file (`.wasm`).
    pub fn load(path: impl AsRef<Path>) -> PluginBuilder {
        PluginBuilder::new(Ok(Module::Path(path.as_ref().to_path_buf())))
    }

    /// A module in memory (for example WAT compiled with the `wat` crate).
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> PluginBuilder {
        PluginBuilder::new(Ok(Module::Bytes(bytes.into())))
    }

    /// A new HTTP stream; its context is created when the request headers arrive, as in Envoy. Under
    /// [`FailurePolicy::Reload`] a failed VM is replaced here, for the new stream, once the backoff has passed.
    pub fn http_stream(&self) -> HttpStream<'_> {
        let (generation, id) = self.vms.borrow_mut().new_stream();
        HttpStream::new(self, generation, id)
    }

    /// The ABI version the module declared.
    pub fn abi_version(&self) -> AbiVersion {
        self.worker().state().abi
    }

    /// Why the current worker VM failed (trap, deadline, memory limit), if it did. After a failure streams get
    /// what the [`FailurePolicy`] says, as in Envoy: a 503, the bypass, or (FAIL_RELOAD) a fresh VM.
    pub fn failure(&self) -> Option<String> {
        self.worker().state().failed.clone()
    }

    /// Panics with the failure and the plugin's logs if the VM failed.
    #[track_caller]
    pub fn assert_not_failed(&self) {
        if let Some(failure) = self.failure() {
            panic!(
                "the plugin failed: {}\n\n{}",
                super::printable(&failure),
                self.format_logs()
            );
        }
    }

    /// Everything the plugin's worker VMs logged, in order (after a FAIL_RELOAD, the failed VM's lines, then the new
    /// VM's). The start-up VMs' lines are in [`Plugin::start_up_logs`]; [`Plugin::all_logs`] has both.
    pub fn logs(&self) -> Vec<LogEntry> {
        self.vms.borrow().worker_logs()
    }

    /// What Envoy logged for the plugin before the worker VM started: the base VM's `_initialize`/`main` and the
    /// configuration canary's `on_vm_start`/`on_configure` (`LogEntry::vm` tells which).
    pub fn start_up_logs(&self) -> Vec<LogEntry> {
        self.vms.borrow().start_logs().to_vec()
    }

    /// What the configuration canary logged: the first run of `on_vm_start` and `on_configure`.
    pub fn canary_logs(&self) -> Vec<LogEntry> {
        let vms = self.vms.borrow();
        let canary = vms.start_logs().iter().filter(|l| l.vm == VmRole::Canary);
        canary.cloned().collect()
    }

    /// Every line, in the order Envoy's log shows them: start-up VMs, then worker VMs.
    pub fn all_logs(&self) -> Vec<LogEntry> {
        let mut logs = self.start_up_logs();
        logs.extend(self.logs());
        logs
    }

    /// HTTP callouts the configuration canary dispatched: Envoy sent them, then cancelled them when it dropped the
    /// canary, so the cluster saw each twice (once from the canary, once from the worker) and only the worker gets
    /// an answer.
    pub fn canary_http_calls(&self) -> Vec<HttpCall> {
        self.vms.borrow().canary_callouts().http.clone()
    }

    /// gRPC calls and streams the configuration canary opened (cancelled with it).
    pub fn canary_grpc_calls(&self) -> Vec<GrpcCall> {
        self.vms.borrow().canary_callouts().grpc.clone()
    }

    /// How many times FAIL_RELOAD replaced a failed worker VM with a fresh one.
    pub fn reloads(&self) -> usize {
        self.vms.borrow().reloads()
    }

    /// The messages the worker VMs logged at exactly `level`.
    pub fn logs_at(&self, level: LogLevel) -> Vec<String> {
        self.logs()
            .into_iter()
            .filter(|l| l.level == level)
            .map(|l| l.message)
            .collect()
    }

    /// Panics, showing every log line, unless a message at `level` contains `text`.
    #[track_caller]
    pub fn assert_logged(&self, level: LogLevel, text: &str) {
        if !self.logs_at(level).iter().any(|m| m.contains(text)) {
            panic!(
                "expected a {level:?} log containing {text:?}\n\n{}",
                self.format_logs()
            );
        }
    }

    /// HTTP callouts dispatched and not yet answered, oldest first.
    pub fn http_calls(&self) -> Vec<HttpCall> {
        self.worker().state().callouts.http.clone()
    }

    /// Answers HTTP callout `token`: the plugin's `on_http_call_response` runs (on the root context; the SDK routes
    /// it to the dispatching context) and whatever it resumes or replies runs afterwards.
    #[track_caller]
    pub fn answer_http_call(&self, token: u32, response: HttpCallResponse) {
        let result = self.driven().answer_http_call(token, Some(response));
        if let Err(e) = result {
            panic!("{e}");
        }
    }

    /// Fails HTTP callout `token` like a reset: `on_http_call_response(token, 0, 0, 0)`, `get_status` =
    /// (11, "reset").
    #[track_caller]
    pub fn fail_http_call(&self, token: u32) {
        let result = self.driven().answer_http_call(token, None);
        if let Err(e) = result {
            panic!("{e}");
        }
    }

    /// Lets HTTP callout `token` time out now: Envoy answers with a 504 "upstream request timeout" response.
    /// (Advancing time past a callout's timeout does the same.)
    #[track_caller]
    pub fn time_out_http_call(&self, token: u32) {
        if !self.http_calls().iter().any(|c| c.token == token) {
            panic!(
                "no pending HTTP callout with token {token}; pending: {:?}",
                self.http_calls()
            );
        }
        self.driven().time_out_callout(token);
    }

    /// gRPC calls and streams dispatched and not yet answered.
    pub fn grpc_calls(&self) -> Vec<GrpcCall> {
        self.worker().state().callouts.grpc.clone()
    }

    /// Answers gRPC call (or ends stream) `token`. A stream hears initial metadata, the message, trailing metadata,
    /// then the close. A unary call hears what Envoy passes on: `on_grpc_receive` alone for status 0 with a message,
    /// `on_grpc_close` alone otherwise (status 0 without a message closes with 13 Internal); its metadata is dropped.
    #[track_caller]
    pub fn answer_grpc_call(&self, token: u32, response: GrpcResponse) {
        let result = self.driven().answer_grpc_call(token, response);
        if let Err(e) = result {
            panic!("{e}");
        }
    }

    /// Lets gRPC call `token` time out now: closed with 4 DeadlineExceeded, "upstream request timeout", as Envoy's
    /// router answers. (Advancing time past a call's timeout does the same; streams have no timeout in Envoy.)
    #[track_caller]
    pub fn time_out_grpc_call(&self, token: u32) {
        self.answer_grpc_call(token, GrpcResponse::deadline_exceeded());
    }

    /// Advances the virtual clock: ticks (`set_tick_period`) and callout timeouts fire in order, as Envoy's
    /// dispatcher would fire them.
    pub fn advance_time(&self, by: Duration) {
        self.driven().advance_time(by);
    }

    /// The virtual wall-clock time the plugin sees.
    pub fn now(&self) -> SystemTime {
        UNIX_EPOCH + self.worker().state().clock.now()
    }

    /// The root context's tick period, if a timer is set.
    pub fn tick_period(&self) -> Option<Duration> {
        self.worker().state().clock.tick_period()
    }

    /// A shared-data value and its CAS.
    pub fn shared_data(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        let vm = self.worker();
        let state = vm.state();
        let process = state.process.borrow();
        process
            .get(state.settings.vm_id.as_bytes(), key.as_bytes())
            .cloned()
    }

    /// Stores a shared-data value, as another plugin on the same vm_id would.
    pub fn set_shared_data(&self, key: &str, value: impl AsRef<[u8]>) {
        let vm = self.worker();
        let state = vm.state();
        let _ = state.process.borrow_mut().set(
            state.settings.vm_id.as_bytes(),
            key.as_bytes(),
            value.as_ref().to_vec(),
            0,
        );
    }

    /// Enqueues an item on the queue the plugin registered as `name` (as a producer elsewhere would), then delivers
    /// `on_queue_ready`. Panics if the plugin registered no such queue.
    #[track_caller]
    pub fn enqueue(&self, name: &str, item: impl AsRef<[u8]>) {
        let mut vm = self.driven();
        let state = vm.state();
        let mut process = state.process.borrow_mut();
        let Some(token) = process.resolve(state.settings.vm_id.as_bytes(), name.as_bytes()) else {
            panic!("the plugin registered no shared queue named {name:?}");
        };
        let owner = process.enqueue(token, item.as_ref().to_vec());
        drop(process);
        if owner == Ok(state.plugin_id) {
            vm.state_mut().queue_ready.push_back(token);
            vm.settle();
        } else if let Ok(owner) = owner {
            vm.state().process.borrow_mut().post(owner, token);
        }
    }

    /// Stores a shared-data value with a CAS, as another plugin on the same vm_id calling
    /// `proxy_set_shared_data(key, value, cas)` would: `Err(Status::CasMismatch)` when another write came since that
    /// CAS was read (0 writes unconditionally).
    pub fn set_shared_data_with_cas(
        &self,
        key: &str,
        value: impl AsRef<[u8]>,
        cas: u32,
    ) -> Result<(), Status> {
        let vm = self.worker();
        let state = vm.state();
        state.process.borrow_mut().set(
            state.settings.vm_id.as_bytes(),
            key.as_bytes(),
            value.as_ref().to_vec(),
            cas,
        )
    }

    /// Takes the oldest item from shared queue `name` (what the plugin enqueued); `None` if empty or unknown.
    pub fn dequeue(&self, name: &str) -> Option<Vec<u8>> {
        let vm = self.worker();
        let state = vm.state();
        let mut process = state.process.borrow_mut();
        let token = process.resolve(state.settings.vm_id.as_bytes(), name.as_bytes())?;
        process.dequeue(token).ok()
    }

    /// A metric the plugin defined, by name.
    pub fn metric(&self, name: &str) -> Option<Metric> {
        self.worker().state().metrics.by_name(name).cloned()
    }

    /// Every metric the plugin defined.
    pub fn metrics(&self) -> Vec<Metric> {
        self.worker().state().metrics.all().cloned().collect()
    }

    /// A counter's value; panics, listing the defined metrics, if there is no such counter.
    #[track_caller]
    pub fn counter(&self, name: &str) -> i64 {
        self.metric_of(name, MetricKind::Counter).value
    }

    /// A gauge's value; panics, listing the defined metrics, if there is no such gauge.
    #[track_caller]
    pub fn gauge(&self, name: &str) -> i64 {
        self.metric_of(name, MetricKind::Gauge).value
    }

    /// A histogram's samples; panics, listing the defined metrics, if there is no such histogram.
    #[track_caller]
    pub fn histogram(&self, name: &str) -> Vec<u64> {
        self.metric_of(name, MetricKind::Histogram).samples
    }

    /// What the plugin declared for property `name` with Envoy's `declare_property` foreign function from its root
    /// context (the declarations Envoy applies to `set_property`).
    pub fn declared_property(&self, name: &str) -> Option<DeclaredProperty> {
        self.worker()
            .state()
            .declared_property(name.as_bytes())
            .cloned()
    }

    /// Shuts the plugin down like Envoy: `on_done(root)`; `on_delete(root)` if it returned true, else once the
    /// plugin calls `proxy_done`.
    pub fn shutdown(&self) {
        self.driven().shutdown();
    }

    /// Whether the root context was deleted (after [`Plugin::shutdown`]).
    pub fn is_deleted(&self) -> bool {
        !self.worker().state().contexts.root_is_live()
    }

    /// Runs what Envoy's dispatcher holds for this plugin's worker: `on_queue_ready` for the items other plugins of
    /// its [`Envoy`] enqueued on its queues. Every verb (a new stream or stream event, a callout answer,
    /// [`Plugin::advance_time`], [`Plugin::shutdown`], [`Plugin::enqueue`]) does this first, as the worker's event
    /// loop would before the next event; observers (`logs`, `metric`, `shared_data`, …) never run guest code.
    pub fn dispatch(&self) {
        drop(self.driven());
    }

    /// The current worker VM, to read or to change what the host holds: runs no guest code.
    pub(crate) fn worker(&self) -> RefMut<'_, Vm> {
        RefMut::map(self.vms.borrow_mut(), PluginVms::current)
    }

    /// The current worker VM for a verb: what other plugins posted to it runs first (see [`Plugin::dispatch`]).
    pub(crate) fn driven(&self) -> RefMut<'_, Vm> {
        let mut vm = self.worker();
        let state = vm.state();
        let posted = state.process.borrow_mut().take_posted(state.plugin_id);
        if let Some(tokens) = posted {
            vm.state_mut().queue_ready.extend(tokens);
            vm.settle();
        }
        vm
    }

    /// The worker VM a stream runs in (an older one after a FAIL_RELOAD), to read: runs no guest code.
    pub(crate) fn worker_of(&self, generation: usize) -> RefMut<'_, Vm> {
        RefMut::map(self.vms.borrow_mut(), |vms| vms.generation(generation))
    }

    /// The worker VM a stream runs in, for a verb on the stream: the current VM first runs what was posted to it.
    pub(crate) fn driven_of(&self, generation: usize) -> RefMut<'_, Vm> {
        if generation == self.vms.borrow().reloads() {
            return self.driven();
        }
        self.worker_of(generation)
    }

    #[track_caller]
    fn metric_of(&self, name: &str, kind: MetricKind) -> Metric {
        let metrics = self.metrics();
        match metrics.iter().find(|m| m.name == name && m.kind == kind) {
            Some(metric) => metric.clone(),
            None => panic!("no {kind:?} named {name:?}; the plugin defined: {metrics:#?}"),
        }
    }

    fn format_logs(&self) -> String {
        format_logs(&self.all_logs())
    }
}

impl PluginBuilder {
    fn new(module: Result<Module, String>) -> PluginBuilder {
        PluginBuilder {
            module,
            settings: Settings {
                name: "plugin".into(),
                root_id: String::new(),
                vm_id: String::new(),
                vm_config: Vec::new(),
                config: Vec::new(),
                failure_policy: FailurePolicy::Closed,
                legacy_fail_open: false,
                reload_backoff: DEFAULT_RELOAD_BACKOFF,
                env: Vec::new(),
                log_level: LogLevel::Trace,
                clusters: Clusters::Only(Vec::new()),
                properties: Properties::new(),
                memory_limit: 1 << 30,
                host_memory_limit: DEFAULT_HOST_MEMORY_LIMIT,
                disk_cache: wiring::disk_cache(true),
                // Envoy's default `per_connection_buffer_limit_bytes`.
                buffer_limit: 1 << 20,
                allow_on_headers_stop_iteration: false,
                call_deadline: Duration::from_secs(2),
                // 2024-01-01T00:00:00Z: fixed, so tests are reproducible.
                start_time: Duration::from_secs(1_704_067_200),
            },
            failure_policy: None,
            env: Vec::new(),
            host_env: Vec::new(),
            foreign: HashMap::new(),
            envoy: None,
        }
    }

    /// The plugin configuration (`on_configure`), e.g. JSON text.
    pub fn config(mut self, config: impl AsRef<[u8]>) -> PluginBuilder {
        self.settings.config = config.as_ref().to_vec();
        self
    }

    /// The VM configuration (`on_vm_start`).
    pub fn vm_config(mut self, config: impl AsRef<[u8]>) -> PluginBuilder {
        self.settings.vm_config = config.as_ref().to_vec();
        self
    }

    /// Plugin name (property `plugin_name`); default `plugin`.
    pub fn name(mut self, name: &str) -> PluginBuilder {
        self.settings.name = name.into();
        self
    }

    /// Root id (property `plugin_root_id`); default empty.
    pub fn root_id(mut self, root_id: &str) -> PluginBuilder {
        self.settings.root_id = root_id.into();
        self
    }

    /// VM id (property `plugin_vm_id`, shared-queue resolution); default empty.
    pub fn vm_id(mut self, vm_id: &str) -> PluginBuilder {
        self.settings.vm_id = vm_id.into();
        self
    }

    /// Envoy's legacy `fail_open`: after a failure every stream bypasses the plugin, the one in the VM when it
    /// failed included. Envoy maps it to FAIL_OPEN and refuses a configuration that sets both it and
    /// [`failure_policy`](Self::failure_policy). Envoy Gateway's `failOpen` sets this one.
    pub fn fail_open(mut self, fail_open: bool) -> PluginBuilder {
        self.settings.legacy_fail_open = fail_open;
        self
    }

    /// Envoy's `failure_policy` (Istio's `failStrategy` since 1.25): what streams get once the VM failed at run time.
    /// Default [`FailurePolicy::Closed`], Envoy's meaning of UNSPECIFIED.
    pub fn failure_policy(mut self, policy: FailurePolicy) -> PluginBuilder {
        self.failure_policy = Some(policy);
        self
    }

    /// FAIL_RELOAD's `reload_config.backoff.base_interval`: Envoy waits between 1× and 1.5× this (random) after a
    /// VM was loaded before it replaces it; the host waits 1.5×, so a reload it shows happens in Envoy too. Default
    /// 1 s, Envoy's. Advance virtual time ([`Plugin::advance_time`]) to get past it.
    pub fn reload_backoff(mut self, base_interval: Duration) -> PluginBuilder {
        self.settings.reload_backoff = base_interval;
        self
    }

    /// Environment variables the VM sees through WASI `environ_get` (`vm_config.environment_variables.key_values`;
    /// Istio `vmConfig.env` with `valueFrom: INLINE`). Repeatable. Envoy keeps them in a hash map: do not rely on
    /// their order (the host sorts them by name).
    pub fn env(mut self, variables: &[(&str, &str)]) -> PluginBuilder {
        let variables = variables
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()));
        self.env.extend(variables);
        self
    }

    /// Environment variables the VM takes from the host process (`environment_variables.host_env_keys`; Istio
    /// `valueFrom: HOST`, Envoy Gateway `env.hostKeys`): each is read from this process's environment when the
    /// plugin starts, and left out when it is not set, as Envoy does.
    pub fn host_env(mut self, names: &[&str]) -> PluginBuilder {
        self.host_env.extend(names.iter().map(|n| n.to_string()));
        self
    }

    /// The log level Envoy runs at: what `proxy_get_log_level` returns, and lower levels are dropped. Default
    /// `Trace` (everything captured).
    pub fn log_level(mut self, level: LogLevel) -> PluginBuilder {
        self.settings.log_level = level;
        self
    }

    /// Sets attribute `path` for every stream (and `xds.node.*` for the root context too), typed as Envoy types
    /// it, e.g. `.property(&["xds", "node", "id"], "sidecar~10.0.0.1~app")` or
    /// `.property(&["metadata", "filter_metadata", "envoy.filters.http.lua", "user"], "alice")`. Panics, saying
    /// why, where Envoy has no such attribute or another type (see [`Properties::set`]).
    #[track_caller]
    pub fn property(mut self, path: &[&str], value: impl Into<PropertyValue>) -> PluginBuilder {
        if let Err(e) = self.settings.properties.set(path, value) {
            panic!("property {}: {e}", path.join("."));
        }
        self
    }

    /// Uses `properties` (built and checked beforehand, e.g. from a file) in place of the values set so far; call
    /// it before `.property(..)` and the helpers to add to it.
    pub fn properties(mut self, properties: &Properties) -> PluginBuilder {
        self.settings.properties = properties.clone();
        self
    }

    /// `xds.node.metadata.<key>`: the proxy's node metadata (Istio's labels, `MESH_ID`, `CLUSTER_ID`, …); numbers
    /// become doubles, as in Envoy's `google.protobuf.Struct`.
    #[track_caller]
    pub fn node_metadata(self, key: &str, value: impl Into<PropertyValue>) -> PluginBuilder {
        self.property(&["xds", "node", "metadata", key], value)
    }

    /// `metadata.filter_metadata.<filter>.<key>` for every stream: dynamic metadata an earlier filter left.
    #[track_caller]
    pub fn filter_metadata(
        self,
        filter: &str,
        key: &str,
        value: impl Into<PropertyValue>,
    ) -> PluginBuilder {
        self.property(&["metadata", "filter_metadata", filter, key], value)
    }

    /// `source.address` and `source.port` from `IP:PORT` (the downstream client).
    #[track_caller]
    pub fn source_address(mut self, address: &str) -> PluginBuilder {
        if let Err(e) = self.settings.properties.source_address(address) {
            panic!("source address: {e}");
        }
        self
    }

    /// `destination.address` and `destination.port` from `IP:PORT` (where the request arrived).
    #[track_caller]
    pub fn destination_address(mut self, address: &str) -> PluginBuilder {
        if let Err(e) = self.settings.properties.destination_address(address) {
            panic!("destination address: {e}");
        }
        self
    }

    /// The clusters Envoy's configuration has. A callout to any other name is refused as Envoy refuses it:
    /// `dispatch_http_call` BadArgument, `dispatch_grpc_call`/`open_grpc_stream` ParseFailure, with a host log line
    /// naming the cluster. Default: none, so every callout is refused until the test declares its clusters.
    pub fn clusters(mut self, clusters: &[&str]) -> PluginBuilder {
        self.settings.clusters = Clusters::Only(clusters.iter().map(|c| c.to_string()).collect());
        self
    }

    /// Accepts every cluster name, as no Envoy does: for exploring a module whose clusters are unknown
    /// (`proxy-wasm-run` without `--cluster`). A test should declare its clusters with [`Self::clusters`].
    pub fn any_cluster(mut self) -> PluginBuilder {
        self.settings.clusters = Clusters::Any;
        self
    }

    /// Linear-memory limit; growing beyond it traps (fails the VM). Default 1 GiB, cpp-host's cap. It bounds the
    /// whole module: the host accepts one memory, one instance and at most 4 tables of 2^20 elements.
    pub fn memory_limit(mut self, bytes: usize) -> PluginBuilder {
        self.settings.memory_limit = bytes;
        self
    }

    /// What the host may hold on the plugin's behalf outside its linear memory: the log lines it keeps, pending
    /// HTTP and gRPC callouts (headers, bodies, messages), the items of each shared queue it fills and its vm_id's
    /// shared data. A host call that would go past it fails the VM, naming what the plugin asked for. Default 64 MiB.
    pub fn host_memory_limit(mut self, bytes: usize) -> PluginBuilder {
        self.settings.host_memory_limit = bytes;
        self
    }

    /// Whether compiled code is kept in (and loaded from) `<target>/proxy-wasm-host/`, so the next process skips
    /// the compile; default true. Turn it off for modules you do not trust with a shared target directory; the
    /// environment variable `PROXY_WASM_HOST_NO_CACHE=1` turns it off for every plugin.
    pub fn disk_cache(mut self, enabled: bool) -> PluginBuilder {
        self.settings.disk_cache = wiring::disk_cache(enabled);
        self
    }

    /// Envoy's `allow_on_headers_stop_iteration` (Wasm `PluginConfig`, Envoy 1.35+; Istio's WasmPlugin does not
    /// expose it): `Pause` on headers becomes a plain StopIteration, so the headers wait while body and trailers
    /// still reach the plugin, and a `Continue` from the body or trailers callback sends the headers on with the
    /// data. Default false, as in Envoy: `Pause` holds everything (StopAllIterationAndWatermark) until a resume.
    pub fn allow_on_headers_stop_iteration(mut self, allow: bool) -> PluginBuilder {
        self.settings.allow_on_headers_stop_iteration = allow;
        self
    }

    /// Envoy's per-stream buffer limit: a body a filter buffers (body `Pause`, StopIterationAndBuffer) beyond it
    /// gets Envoy's 413 (request) or 500 / reset (response). Default 1 MiB, Envoy's default
    /// `per_connection_buffer_limit_bytes`; meshes may set another on the listener.
    pub fn buffer_limit(mut self, bytes: usize) -> PluginBuilder {
        self.settings.buffer_limit = bytes;
        self
    }

    /// How long one guest call may run before it is stopped (fails the VM). Default 2 s.
    pub fn call_deadline(mut self, deadline: Duration) -> PluginBuilder {
        self.settings.call_deadline = deadline;
        self
    }

    /// The virtual wall-clock time at start. Default 2024-01-01T00:00:00Z.
    pub fn start_time(mut self, time: SystemTime) -> PluginBuilder {
        self.settings.start_time = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        self
    }

    /// Runs the plugin in `envoy`'s process: it shares shared data and queues with the other plugins there that
    /// have its vm_id (see [`Envoy`]). Without it the plugin has a process of its own.
    pub fn on(mut self, envoy: &Envoy) -> PluginBuilder {
        self.envoy = Some(envoy.clone());
        self
    }

    /// Registers a host function for `proxy_call_foreign_function(name, args)`, as a custom Envoy build would.
    /// Envoy's own functions (`compress`, `uncompress`, `set_envoy_filter_state`, `declare_property`,
    /// `clear_route_cache`) are always there and cannot be replaced: registering one of those names panics.
    #[track_caller]
    pub fn foreign_function(
        mut self,
        name: &str,
        function: impl FnMut(&[u8]) -> Result<Vec<u8>, Status> + 'static,
    ) -> PluginBuilder {
        if Builtin::named(name.as_bytes()).is_some() {
            panic!(
                "`{name}` is one of Envoy's own foreign functions (foreign.cc), which every plugin here has as in \
                 Envoy; a test cannot replace it. Register a stand-in under another name"
            );
        }
        self.foreign.insert(name.to_string(), Box::new(function));
        self
    }

    /// Loads the module and starts the plugin; `Err` if it does not load or its root context refuses to start.
    pub fn start(self) -> Result<Plugin, StartError> {
        let error = |failure: StartFailure, message: String| StartError {
            failure,
            message,
            logs: Vec::new(),
        };
        let load_error = |message: String| error(StartFailure::Load, message);
        let mut settings = self.settings;
        settings.failure_policy = match (settings.legacy_fail_open, self.failure_policy) {
            (true, Some(_)) => {
                return Err(error(
                    StartFailure::Config,
                    "only one of fail_open or failure_policy can be set (Envoy rejects the plugin configuration): \
                     use failure_policy(FailurePolicy::Open) alone"
                        .into(),
                ));
            }
            (true, None) => FailurePolicy::Open,
            (false, policy) => policy.unwrap_or_default(),
        };
        if settings.reload_backoff < Duration::from_millis(1) {
            return Err(error(
                StartFailure::Config,
                format!(
                    "reload_backoff({:?}): Envoy requires reload_config.backoff.base_interval of at least 1ms",
                    settings.reload_backoff
                ),
            ));
        }
        settings.env = environment(&self.env, &self.host_env, &settings.name)
            .map_err(|message| error(StartFailure::Config, message))?;
        let bytes = match self.module.map_err(load_error)? {
            Module::Bytes(bytes) => bytes,
            Module::Path(path) => std::fs::read(&path).map_err(|e| {
                load_error(format!("cannot read the module {}: {e}", path.display()))
            })?,
        };
        let (process, cache) = match &self.envoy {
            Some(envoy) => (envoy.process.clone(), Some(&*envoy.starts)),
            None => Default::default(),
        };
        let functions = wiring::host_functions().map_err(load_error)?;
        let vms = PluginVms::start(&bytes, settings, self.foreign, process, cache, functions)
            .map_err(|e| StartError {
                failure: e.failure,
                message: e.message,
                logs: e.logs,
            })?;
        Ok(Plugin {
            vms: RefCell::new(vms),
        })
    }
}

impl StartError {
    /// The reason the plugin gave: its last warning-or-worse log line, else the host's message.
    pub fn reason(&self) -> &str {
        self.logs
            .iter()
            .rev()
            .find(|l| l.level >= LogLevel::Warn)
            .map_or(self.message.as_str(), |l| l.message.as_str())
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.failure {
            StartFailure::Config => "Envoy rejected the plugin configuration",
            StartFailure::Load => "the module did not load",
            StartFailure::Initialize => "the module's start function failed",
            StartFailure::VmStart => "the plugin failed to start (on_vm_start)",
            StartFailure::Configure => "the plugin failed to configure (on_configure)",
        };
        write!(f, "{what}: {}", super::printable(&self.message))?;
        if !self.logs.is_empty() {
            write!(f, "\n{}", format_logs(&self.logs))?;
        }
        Ok(())
    }
}

impl std::error::Error for StartError {}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("failure", &self.failure())
            .finish_non_exhaustive()
    }
}

/// FAIL_RELOAD's default `base_interval` (Envoy `PluginConfig`: 1000 ms when unset).
const DEFAULT_RELOAD_BACKOFF: Duration = Duration::from_secs(1);

/// The VM's environment as Envoy's `WasmConfig` builds it: `key_values`, then the `host_env_keys` set in this
/// process; a name in both is a configuration error (Envoy's own message).
fn environment(
    key_values: &[(String, String)],
    host_keys: &[String],
    plugin: &str,
) -> Result<Vec<(String, String)>, String> {
    let mut names = BTreeSet::new();
    for name in key_values.iter().map(|(k, _)| k).chain(host_keys) {
        if !names.insert(name) {
            return Err(format!(
                "Key {name} is duplicated in envoy.extensions.wasm.v3.VmConfig.environment_variables for {plugin}. \
                 All the keys must be unique. (Set each variable once, with env() or host_env().)"
            ));
        }
    }
    let mut env: BTreeMap<String, String> = key_values.iter().cloned().collect();
    for name in host_keys {
        if let Some(value) = std::env::var_os(name) {
            env.insert(name.clone(), value.to_string_lossy().into_owned());
        }
    }
    Ok(env.into_iter().collect())
}

fn format_logs(logs: &[LogEntry]) -> String {
    if logs.is_empty() {
        return "the plugin logged nothing".to_string();
    }
    let mut out = String::from("the plugin logged:\n");
    for l in logs {
        let vm = match l.vm {
            VmRole::Worker(0) => String::new(),
            other => format!("{other:?} VM, "),
        };
        let origin = match l.origin {
            LogOrigin::Guest => "",
            LogOrigin::Host => "host: ",
        };
        out.push_str(&format!(
            "  [{:?}] ({vm}context {}) {origin}{}\n",
            l.level,
            l.context_id,
            super::printable_line(&l.message)
        ));
    }
    out
}
