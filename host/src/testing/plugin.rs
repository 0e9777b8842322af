//! A started plugin (one VM, one root context) and the builder that configures it.

use std::cell::{RefCell, RefMut};
use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::builder::{Module, PluginBuilder};
use super::connection::{TCP_PROXY_CLUSTER, TcpConnection};
use super::modules::{extension_module, guest_module};
use super::stream::HttpStream;
use crate::envoy::{
    DeclaredProperty, GrpcCall, GrpcResponse, HttpCall, HttpCallResponse, LogEntry, LogOrigin,
    Metric, MetricKind, PluginVms, RefusedCall, TrapReport, Vm, VmRole,
};
use crate::spec::{AbiVersion, LogLevel, Status};

/// A plugin on one worker, started like Envoy starts one: the base VM runs `_initialize`/`main`, a throw-away
/// configuration canary runs `on_vm_start` and `on_configure`, then the worker's VM does it all again
/// (`on_context_create(1, 0)` → `on_vm_start` → `on_configure`) and is ready for streams. Dropping it drops the VMs;
/// [`Plugin::shutdown`] runs `on_done`/`on_delete`.
pub struct Plugin {
    pub(super) vms: RefCell<PluginVms>,
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
        let (generation, id, vm) = self.vms.borrow_mut().new_stream();
        HttpStream::new(self, generation, id, vm)
    }

    /// A new downstream TCP connection through the plugin as a network filter (`envoy.filters.network.wasm`) in
    /// front of Envoy's TCP proxy to [`TCP_PROXY_CLUSTER`]; the guest hears of it at
    /// [`TcpConnection::connect`]. Under [`FailurePolicy::Reload`](crate::testing::FailurePolicy) a failed VM is
    /// replaced here, as for a stream.
    pub fn tcp_connection(&self) -> TcpConnection<'_> {
        self.tcp_connection_to(TCP_PROXY_CLUSTER)
    }

    /// [`Plugin::tcp_connection`] in front of a TCP proxy whose configured cluster is `cluster`.
    pub fn tcp_connection_to(&self, cluster: &str) -> TcpConnection<'_> {
        let (generation, id, vm) = self.vms.borrow_mut().new_connection(cluster);
        TcpConnection::new(self, generation, id, vm)
    }

    /// The ABI version the module declared.
    pub fn abi_version(&self) -> AbiVersion {
        self.worker().state().abi()
    }

    /// The size of the worker VM's linear memory in bytes (a multiple of 64 KiB: what the module declared, plus what
    /// it grew by). How much of it is resident depends on the pages the guest touched.
    pub fn memory_bytes(&self) -> usize {
        self.worker().linear_memory_bytes()
    }

    /// Why the current worker VM failed (trap, deadline, memory limit), if it did. After a failure streams get
    /// what the [`FailurePolicy`] says, as in Envoy: a 503, the bypass, or (FAIL_RELOAD) a fresh VM.
    pub fn failure(&self) -> Option<String> {
        self.worker().state().failure().map(str::to_owned)
    }

    /// The trap that failed the current worker VM, if the guest trapped: the callback, the host call it was
    /// answering, the panic message and the backtrace with Rust function names.
    pub fn trap(&self) -> Option<TrapReport> {
        self.worker().state().trap().cloned()
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
        self.worker().state().http_calls().to_vec()
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

    /// Callouts and gRPC calls Envoy refused when the worker VM dispatched them (unknown cluster, missing
    /// pseudo-headers, negative timeout, an unusable `GrpcService`): the plugin got the status and no token. The
    /// first 64 are kept; see [`Plugin::refused_calls_omitted`].
    pub fn refused_calls(&self) -> Vec<RefusedCall> {
        self.worker().state().refused_calls().0.to_vec()
    }

    /// How many refused dispatches came after the 64 [`Plugin::refused_calls`] keeps.
    pub fn refused_calls_omitted(&self) -> usize {
        self.worker().state().refused_calls().1
    }

    /// gRPC calls and streams dispatched and not yet answered.
    pub fn grpc_calls(&self) -> Vec<GrpcCall> {
        self.worker().state().grpc_calls().to_vec()
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

    /// Lets gRPC call `token` time out now: closed with 14 Unavailable, "upstream request timeout", as Envoy's
    /// router answers (4 DeadlineExceeded with
    /// [`grpc_timeout_returns_deadline_exceeded`](crate::testing::PluginBuilder::grpc_timeout_returns_deadline_exceeded)).
    /// Advancing time past a call's timeout does the same; streams have no timeout in Envoy.
    #[track_caller]
    pub fn time_out_grpc_call(&self, token: u32) {
        self.answer_grpc_call(token, self.grpc_timeout_response());
    }

    /// What a gRPC call whose timeout expires is closed with on this plugin's Envoy (see
    /// [`time_out_grpc_call`](Self::time_out_grpc_call)).
    pub fn grpc_timeout_response(&self) -> GrpcResponse {
        GrpcResponse::timed_out(self.worker().state().settings())
    }

    /// Advances the virtual clock: ticks (`set_tick_period`) and callout timeouts fire in order, as Envoy's
    /// dispatcher would fire them.
    pub fn advance_time(&self, by: Duration) {
        self.driven().advance_time(by);
    }

    /// The virtual wall-clock time the plugin sees.
    pub fn now(&self) -> SystemTime {
        UNIX_EPOCH + self.worker().state().clock().now()
    }

    /// The root context's tick period, if a timer is set.
    pub fn tick_period(&self) -> Option<Duration> {
        self.worker().state().clock().tick_period()
    }

    /// A shared-data value and its CAS.
    pub fn shared_data(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.worker().state().shared_data(key.as_bytes())
    }

    /// Stores a shared-data value, as another plugin on the same vm_id would.
    pub fn set_shared_data(&self, key: &str, value: impl AsRef<[u8]>) {
        let _ = self.set_shared_data_with_cas(key, value, 0);
    }

    /// Enqueues an item on the queue the plugin registered as `name` (as a producer elsewhere would), then delivers
    /// `on_queue_ready`. Panics if the plugin registered no such queue.
    #[track_caller]
    pub fn enqueue(&self, name: &str, item: impl AsRef<[u8]>) {
        let mut vm = self.driven();
        let state = vm.state_mut();
        let Some(token) = state.resolve_queue(b"", name.as_bytes()) else {
            panic!("the plugin registered no shared queue named {name:?}");
        };
        let enqueued = state.enqueue(token, item.as_ref().to_vec());
        debug_assert_eq!(enqueued, Ok(()), "a resolved queue exists");
        vm.settle();
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
        self.worker()
            .state()
            .set_shared_data(key.as_bytes(), value.as_ref().to_vec(), cas)
    }

    /// Takes the oldest item from shared queue `name` (what the plugin enqueued); `None` if empty or unknown.
    pub fn dequeue(&self, name: &str) -> Option<Vec<u8>> {
        let vm = self.worker();
        let state = vm.state();
        let token = state.resolve_queue(b"", name.as_bytes())?;
        state.dequeue(token).ok()
    }

    /// A metric the plugin defined, by name.
    pub fn metric(&self, name: &str) -> Option<Metric> {
        self.worker().state().metrics().by_name(name).cloned()
    }

    /// Every metric the plugin defined.
    pub fn metrics(&self) -> Vec<Metric> {
        self.worker().state().metrics().all().cloned().collect()
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
        !self.worker().state().contexts().root_is_live()
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
        if vm.state_mut().take_posted() {
            vm.settle();
        }
        vm
    }

    /// The worker VM a stream runs in (an older one after a FAIL_RELOAD), to read: runs no guest code.
    pub(crate) fn worker_of(&self, generation: usize) -> RefMut<'_, Vm> {
        RefMut::map(self.vms.borrow_mut(), |vms| vms.generation(generation))
    }

    /// Drops stream `id` of VM `generation` if Envoy destroyed it. Skipped while the VMs are borrowed (a handle
    /// dropped while a panic unwinds through a verb): the plugin then frees the stream with the VM.
    pub(crate) fn forget_stream(&self, generation: usize, id: u32) {
        if let Ok(mut vms) = self.vms.try_borrow_mut() {
            vms.generation(generation).forget_stream(id);
        }
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

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("failure", &self.failure())
            .finish_non_exhaustive()
    }
}

pub(super) fn format_logs(logs: &[LogEntry]) -> String {
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
