//! A plugin started as a Wasm service (Envoy's bootstrap extension `envoy.bootstrap.wasm`): a VM with a root context
//! and no listener, so no streams or connections; it lives on ticks, callouts, shared data and queues.

use std::time::{Duration, SystemTime};

use super::Plugin;
use crate::envoy::{GrpcCall, GrpcResponse, HttpCall, HttpCallResponse, LogEntry, Metric};
use crate::spec::{AbiVersion, LogLevel, Status};

/// A Wasm service, started as Envoy starts one (`WasmServiceExtension::createWasm` @ envoy 13e92c5: the base VM,
/// the configuration canary, then `getOrCreateThreadLocalPlugin` on the main thread for a `singleton` service, or
/// on each worker otherwise: start one per worker on a shared [`Envoy`](super::Envoy) to model that). Plugins of
/// any kind started on the same `Envoy` share its shared data and queues.
pub struct Service {
    plugin: Plugin,
}

impl Service {
    pub(crate) fn new(plugin: Plugin) -> Service {
        Service { plugin }
    }

    /// The ABI version the module declared.
    pub fn abi_version(&self) -> AbiVersion {
        self.plugin.abi_version()
    }

    /// Advances the virtual clock: ticks and callout timeouts fire in order.
    pub fn advance_time(&self, by: Duration) {
        self.plugin.advance_time(by);
    }

    /// Runs what other plugins of its `Envoy` posted to it (`on_queue_ready`), see [`Plugin::dispatch`].
    pub fn dispatch(&self) {
        self.plugin.dispatch();
    }

    /// The virtual wall-clock time the service sees.
    pub fn now(&self) -> SystemTime {
        self.plugin.now()
    }

    /// The root context's tick period, if a timer is set.
    pub fn tick_period(&self) -> Option<Duration> {
        self.plugin.tick_period()
    }

    /// What the service's VM logged, in order (the start-up VMs' lines are in [`Service::all_logs`]).
    pub fn logs(&self) -> Vec<LogEntry> {
        self.plugin.logs()
    }

    /// What the start-up VMs (base VM, configuration canary) logged.
    pub fn start_up_logs(&self) -> Vec<LogEntry> {
        self.plugin.start_up_logs()
    }

    /// The service VM's lines since the last call, moved out (see [`Plugin::take_logs`]): a long-running driver
    /// prints them as they come.
    pub fn take_logs(&self) -> Vec<LogEntry> {
        self.plugin.take_logs()
    }

    /// The start-up VMs' lines, then the service VM's.
    pub fn all_logs(&self) -> Vec<LogEntry> {
        self.plugin.all_logs()
    }

    /// The messages logged at exactly `level`.
    pub fn logs_at(&self, level: LogLevel) -> Vec<String> {
        self.plugin.logs_at(level)
    }

    /// Panics, showing every log line, unless a message at `level` contains `text`.
    #[track_caller]
    pub fn assert_logged(&self, level: LogLevel, text: &str) {
        self.plugin.assert_logged(level, text);
    }

    /// Why the VM failed, if it did.
    pub fn failure(&self) -> Option<String> {
        self.plugin.failure()
    }

    /// Panics with the failure and the logs if the VM failed.
    #[track_caller]
    pub fn assert_not_failed(&self) {
        self.plugin.assert_not_failed();
    }

    /// A metric the service defined, by name.
    pub fn metric(&self, name: &str) -> Option<Metric> {
        self.plugin.metric(name)
    }

    /// Every metric the service defined.
    pub fn metrics(&self) -> Vec<Metric> {
        self.plugin.metrics()
    }

    /// A counter's value; panics, listing the metrics, if there is no such counter.
    #[track_caller]
    pub fn counter(&self, name: &str) -> i64 {
        self.plugin.counter(name)
    }

    /// A gauge's value; panics, listing the metrics, if there is no such gauge.
    #[track_caller]
    pub fn gauge(&self, name: &str) -> i64 {
        self.plugin.gauge(name)
    }

    /// A shared-data value and its CAS (for the service's vm_id).
    pub fn shared_data(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.plugin.shared_data(key)
    }

    /// Stores a shared-data value, as another plugin on the same vm_id would.
    pub fn set_shared_data(&self, key: &str, value: impl AsRef<[u8]>) {
        self.plugin.set_shared_data(key, value);
    }

    /// Stores a shared-data value with a CAS, see [`Plugin::set_shared_data_with_cas`].
    pub fn set_shared_data_with_cas(
        &self,
        key: &str,
        value: impl AsRef<[u8]>,
        cas: u32,
    ) -> Result<(), Status> {
        self.plugin.set_shared_data_with_cas(key, value, cas)
    }

    /// Enqueues an item on the queue the service registered as `name`, then delivers `on_queue_ready`.
    #[track_caller]
    pub fn enqueue(&self, name: &str, item: impl AsRef<[u8]>) {
        self.plugin.enqueue(name, item);
    }

    /// Takes the oldest item from shared queue `name` (of the service's vm_id).
    pub fn dequeue(&self, name: &str) -> Option<Vec<u8>> {
        self.plugin.dequeue(name)
    }

    /// HTTP callouts dispatched and not yet answered.
    pub fn http_calls(&self) -> Vec<HttpCall> {
        self.plugin.http_calls()
    }

    /// Answers HTTP callout `token`.
    #[track_caller]
    pub fn answer_http_call(&self, token: u32, response: HttpCallResponse) {
        self.plugin.answer_http_call(token, response);
    }

    /// Fails HTTP callout `token` like a reset.
    #[track_caller]
    pub fn fail_http_call(&self, token: u32) {
        self.plugin.fail_http_call(token);
    }

    /// gRPC calls and streams dispatched and not yet answered.
    pub fn grpc_calls(&self) -> Vec<GrpcCall> {
        self.plugin.grpc_calls()
    }

    /// Answers gRPC call `token`.
    #[track_caller]
    pub fn answer_grpc_call(&self, token: u32, response: GrpcResponse) {
        self.plugin.answer_grpc_call(token, response);
    }

    /// Shuts the service down like Envoy: `on_done(root)`, then `on_delete` (at once, or once it calls
    /// `proxy_done`).
    pub fn shutdown(&self) {
        self.plugin.shutdown();
    }

    /// Whether the root context was deleted.
    pub fn is_deleted(&self) -> bool {
        self.plugin.is_deleted()
    }
}
