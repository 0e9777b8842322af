//! Envoy's side of the ABI: contexts, the HTTP stream state machine, deferred actions, callouts, timers, shared
//! data and queues, metrics, properties and the failure policy. Everything lives in [`HostState`], the data of one
//! wasmtime `Store`, so plugins (and the tests driving them) never share state — except the shared data and queues
//! of plugins a test deliberately starts on one `testing::Envoy` (`Process`), as Envoy's VMs share them.

mod budget;
mod cache;
mod callouts;
mod clock;
mod contexts;
mod dispatch;
mod foreign;
mod grpc_service;
mod headers;
mod http;
mod lifecycle;
mod local_reply;
mod metrics;
mod network;
mod properties;
mod refusal;
mod shared;
mod trap;
mod vm;

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use wasmtime::{Memory, StoreLimits, TypedFunc};

pub(crate) use budget::{BudgetExceeded, ByteBudget, DEFAULT_HOST_MEMORY_LIMIT};
pub(crate) use cache::DiskCache;
pub(crate) use callouts::{Callouts, Clusters};
pub use callouts::{GrpcCall, GrpcResponse, HttpCall, HttpCallResponse, RefusedCall};
pub(crate) use clock::Clock;
pub(crate) use contexts::Contexts;
pub(crate) use foreign::{Builtin, ForeignState};
pub use foreign::{DeclaredProperty, FilterStateObject, LifeSpan, WasmType};
pub use headers::Headers;
pub(crate) use headers::{MapKind, SpareMaps, same_length_equal};
pub use http::{Action, CallbackOutcome};
pub(crate) use http::{Dir, HttpStream, StreamLife, headers_kind};
pub(crate) use lifecycle::{PluginVms, StartCache, VmHold};
pub use local_reply::LocalReply;
pub(crate) use local_reply::replace_all_empty_space;
pub(crate) use metrics::Metrics;
pub use metrics::{Metric, MetricKind};
pub use network::ConnectionClosed;
pub(crate) use network::Flow;
pub use properties::PropertyValue as Value;
pub(crate) use properties::filter_state_key;
pub use properties::{Properties, PropertyError, PropertyValue};
pub(crate) use refusal::Refusal;
pub(crate) use shared::SharedProcess;
pub(crate) use trap::{FunctionNames, NamesTwin, RecentCalls};
pub use trap::{HostCallAnswer, NamesSource, TrapFrame, TrapKind, TrapReport};
pub use vm::{FailurePolicy, Randomness, StartFailure};
pub(crate) use vm::{HostFunctions, Loaded, Settings, Vm, VmInit, engine};

use crate::spec::{AbiVersion, LogLevel, Status, StreamType};

/// Where the VM is in its life: Envoy restricts host calls while `_initialize`/`main` run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Starting,
    Running,
}

/// One line of the plugin's log: what the guest logged (through `proxy_log` or WASI `fd_write` to
/// stdout/stderr), or what the host adds where Envoy answers with a bare status (an unknown cluster, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub level: LogLevel,
    pub message: String,
    /// The context that was active (the effective context if the guest switched it).
    pub context_id: u32,
    pub origin: LogOrigin,
    /// Which of the plugin's VMs logged it.
    pub vm: VmRole,
}

/// Who wrote a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOrigin {
    Guest,
    /// The host explains a refusal Envoy makes silently; Envoy itself logs nothing there.
    Host,
}

/// Which of the VMs Envoy runs for one plugin did something. Envoy starts three for a plugin on one worker: the base
/// VM (`_initialize`/`main` only, once per vm_id, VM configuration and code in a process), a configuration canary
/// that runs `on_vm_start` and `on_configure` and is thrown away (cpp-host `WasmHandleBase::canary`, once per plugin
/// configuration), and the worker's VM, which runs the streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VmRole {
    Base,
    Canary,
    /// The worker's VM; `n` counts the VMs FAIL_RELOAD replaced before it (0: the first).
    Worker(u32),
}

/// Something Envoy queues with `addAfterVmCallAction`: it runs once the current VM call has returned.
#[derive(Debug, Clone)]
pub(crate) enum Deferred {
    Continue {
        stream: u32,
        dir: Dir,
    },
    Close {
        stream: u32,
    },
    LocalReply {
        stream: u32,
        reply: LocalReply,
    },
    /// `proxy_continue_stream(Downstream)` on a connection: `continueReading()`.
    ContinueReading {
        stream: u32,
    },
    /// `proxy_close_stream(Downstream | Upstream)` on a connection: Envoy closes the downstream connection with
    /// `FlushWrite` (the write filter callbacks' connection is the downstream one too).
    CloseConnection {
        stream: u32,
        reason: &'static str,
    },
}

/// How much guest text a host log line quotes: enough to recognise a cluster or service name.
pub(crate) const QUOTED_GUEST_TEXT: usize = 256;

/// Guest bytes quoted in a host message, as Rust's debug string: at most [`QUOTED_GUEST_TEXT`] bytes of them, with
/// the length when cut, so a megabyte name does not become a megabyte log line.
pub(crate) fn quote_guest(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(QUOTED_GUEST_TEXT)];
    let text = format!("{:?}", String::from_utf8_lossy(shown));
    if shown.len() == bytes.len() {
        text
    } else {
        format!("{text}… ({} bytes)", bytes.len())
    }
}

impl Deferred {
    /// What the action is called in a budget message.
    fn what(&self) -> &'static str {
        match self {
            Deferred::Continue { .. } => "a deferred continue_stream",
            Deferred::Close { .. } | Deferred::CloseConnection { .. } => "a deferred close_stream",
            Deferred::ContinueReading { .. } => "a deferred continue_stream",
            Deferred::LocalReply { .. } => "a local reply",
        }
    }

    /// The bytes the action holds besides its entry.
    fn held_bytes(&self) -> usize {
        match self {
            Deferred::Continue { .. }
            | Deferred::Close { .. }
            | Deferred::ContinueReading { .. }
            | Deferred::CloseConnection { .. } => 0,
            Deferred::LocalReply { reply, .. } => {
                reply.details.len() + reply.body.len() + reply.headers.byte_len()
            }
        }
    }
}

/// A foreign function the test registered (`proxy_call_foreign_function`).
pub(crate) type ForeignFunction = Box<dyn FnMut(&[u8]) -> Result<Vec<u8>, Status>>;

/// Hashes context ids, which the host hands out itself (no untrusted keys to defend against), with one
/// multiplication instead of SipHash's rounds: every host call looks its stream up.
#[derive(Default)]
pub(crate) struct ContextIdHasher(u64);

/// The state of one plugin's VM: the wasmtime `Store` data.
pub struct HostState {
    phase: Phase,
    abi: AbiVersion,
    memory: Option<Memory>,
    malloc: Option<TypedFunc<i32, i32>>,
    limits: StoreLimits,
    settings: Settings,
    contexts: Contexts,
    /// Envoy's `temp_plugin_`: the plugin configuration is readable only while this is set.
    configuring: bool,
    /// Set by `proxy_send_local_response`: the current callback's return value becomes "stop".
    stop_next_iteration: bool,
    /// Streams are kept after they finish (tests read them), so a plugin holds thousands in a benchmark: hashed
    /// rather than ordered (nothing walks them in order) and boxed, so growing the table moves pointers, not streams.
    streams: HashMap<u32, Box<HttpStream>, BuildHasherDefault<ContextIdHasher>>,
    /// Streams changed since the last check of the headers that left the filters (see `check_required_headers`):
    /// only these are looked at, not every stream kept.
    touched_streams: Vec<u32>,
    /// The maps of forgotten streams, to build new streams' maps in.
    spare_maps: SpareMaps,
    /// The allocation of the last stream forgotten, for the next new one. What it held besides its maps (bodies,
    /// filter state: already out of the byte budget) goes when the next stream takes its place; emptying it at once
    /// cost more than the allocation saved.
    spare_stream: Option<Box<HttpStream>>,
    deferred: VecDeque<Deferred>,
    /// Queue notifications waiting for the dispatcher (delivered after the current test step).
    queue_ready: VecDeque<u32>,
    logs: Vec<LogEntry>,
    /// What the host holds for the guest outside its memory (logs, callouts).
    budget: ByteBudget,
    metrics: Metrics,
    /// Shared data and queues of the Envoy process this plugin runs in (other plugins may share it).
    process: SharedProcess,
    /// This plugin's id in `process`.
    plugin_id: u64,
    /// Virtual time and the root context's timer.
    clock: Clock,
    callouts: Callouts,
    /// Why the VM failed (trap, deadline, memory limit); Envoy's `FailState::RuntimeError`.
    failed: Option<String>,
    /// The trap behind `failed`, when the guest trapped (not for a deadline of the host's own work).
    trap: Option<TrapReport>,
    /// The host calls of the callback running now, for a trap report.
    recent_calls: RecentCalls,
    /// The module's function names, for a trap report's backtrace.
    names: Arc<FunctionNames>,
    rng: u64,
    foreign: HashMap<String, ForeignFunction>,
    /// What Envoy's own foreign functions keep: filter state objects, declared properties.
    foreign_state: ForeignState,
    /// Envoy's shared `CallData` buffer (foreign function arguments).
    call_data: Vec<u8>,
    /// Which of the plugin's VMs this is.
    role: VmRole,
    /// The code the guest passed to WASI `proc_exit` (which returns, as in cpp-host), for the trap that follows.
    proc_exit: Option<i32>,
}

impl HostState {
    /// The context host calls act on: the effective context if the guest set one, else the called context.
    pub(crate) fn context(&self) -> u32 {
        self.contexts.acting()
    }

    pub(crate) fn abi(&self) -> AbiVersion {
        self.abi
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    pub(crate) fn clock_mut(&mut self) -> &mut Clock {
        &mut self.clock
    }

    pub(crate) fn contexts(&self) -> &Contexts {
        &self.contexts
    }

    /// HTTP callouts waiting for an answer.
    pub(crate) fn http_calls(&self) -> &[HttpCall] {
        &self.callouts.http
    }

    /// gRPC calls and streams waiting for an answer.
    pub(crate) fn grpc_calls(&self) -> &[GrpcCall] {
        &self.callouts.grpc
    }

    /// `proxy_get_status`: the code and message of the last callout failure or gRPC close.
    pub(crate) fn callout_status(&self) -> (u32, Vec<u8>) {
        self.callouts.status.clone()
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub(crate) fn metrics_mut(&mut self) -> &mut Metrics {
        &mut self.metrics
    }

    /// Whether `_initialize`/`main` still run: Envoy restricts host calls then.
    pub(crate) fn is_starting(&self) -> bool {
        self.phase == Phase::Starting
    }

    /// The module's memory and allocator, once it is instantiated.
    pub(crate) fn memory(&self) -> Option<Memory> {
        self.memory
    }

    pub(crate) fn malloc(&self) -> Option<TypedFunc<i32, i32>> {
        self.malloc.clone()
    }

    /// Why the VM failed, if it did.
    pub(crate) fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// Notes a host call the guest made and the host's answer (`None`: the call stopped the guest).
    pub(crate) fn record_host_call(
        &mut self,
        name: &'static str,
        answer: Option<crate::spec::Status>,
    ) {
        self.recent_calls.record(name, answer);
    }

    /// The trap that failed the VM, if the guest trapped.
    pub(crate) fn trap(&self) -> Option<&TrapReport> {
        self.trap.as_ref()
    }

    /// Refuses, before anything is copied, `bytes` more for `what` if they would not fit the byte budget.
    pub(crate) fn check_budget(
        &self,
        what: &'static str,
        bytes: usize,
    ) -> Result<(), BudgetExceeded> {
        self.budget.check(what, bytes)
    }

    /// [`HostState::check_budget`] for one more entry of `bytes` (a log line): its contents and the entry's own cost.
    pub(crate) fn check_budget_entry(
        &self,
        what: &'static str,
        bytes: usize,
    ) -> Result<(), BudgetExceeded> {
        self.budget.check_entry(what, bytes)
    }

    /// ABI 0.1.0's `proxy_get_configuration`: the plugin configuration inside `on_configure`, the VM configuration
    /// elsewhere.
    pub(crate) fn configuration(&self) -> &[u8] {
        if self.configuring {
            &self.settings.config
        } else {
            &self.settings.vm_config
        }
    }

    /// `proxy_set_effective_context`: host calls act on `id` until the current VM call returns.
    pub(crate) fn set_effective_context(&mut self, id: u32) -> Result<(), Status> {
        if !self.is_context(id) {
            return Err(Status::BadArgument);
        }
        self.contexts.set_effective(id);
        Ok(())
    }

    /// `proxy_done`.
    pub(crate) fn done(&mut self) -> Result<(), Status> {
        self.contexts.root_done()
    }

    /// `proxy_send_local_response`: the callback that sends it returns "stop", whatever it returns, and the reply
    /// goes out once the call returned. Without a stream (root context, no effective stream) Envoy has no decoder
    /// callbacks, so nothing is sent.
    pub(crate) fn send_local_response(&mut self, reply: LocalReply) -> Result<(), BudgetExceeded> {
        self.stop_next_iteration = true;
        // A connection has no decoder callbacks either.
        if let Some(stream) = self.stream().filter(|s| s.network.is_none()).map(|s| s.id) {
            self.defer(Deferred::LocalReply { stream, reply })?;
        }
        Ok(())
    }

    /// Queues `action` for after the current VM call, charged to the byte budget until it runs: a guest can ask
    /// for millions in one call.
    fn defer(&mut self, action: Deferred) -> Result<(), BudgetExceeded> {
        self.budget
            .charge_entry(action.what(), action.held_bytes())?;
        self.deferred.push_back(action);
        Ok(())
    }

    /// The next deferred action, out of the byte budget.
    pub(crate) fn next_deferred(&mut self) -> Option<Deferred> {
        let action = self.deferred.pop_front()?;
        self.budget.release_entry(action.held_bytes());
        Some(action)
    }

    /// A foreign function the test registered.
    pub(crate) fn foreign_function(&mut self, name: &str) -> Option<&mut ForeignFunction> {
        self.foreign.get_mut(name)
    }

    /// WASI `proc_exit`: cpp-host returns to the guest; the trap that follows is explained with the code.
    pub(crate) fn exited(&mut self, code: i32) {
        self.proc_exit = Some(code);
    }

    /// The attribute values of stream `id`, starting from the plugin's the first time the test sets one.
    pub(crate) fn stream_properties_mut(&mut self, id: u32) -> Option<&mut Properties> {
        let plugin_wide = &self.settings.properties;
        let stream = self.streams.get_mut(&id)?;
        Some(
            stream
                .properties
                .get_or_insert_with(|| Box::new(plugin_wide.clone())),
        )
    }

    /// The HTTP stream the acting context belongs to (`None` for the root context).
    pub(crate) fn stream(&self) -> Option<&HttpStream> {
        self.streams.get(&self.context()).map(|s| &**s)
    }

    pub(crate) fn stream_mut(&mut self) -> Option<&mut HttpStream> {
        let id = self.context();
        self.streams.get_mut(&id).map(|s| &mut **s)
    }

    pub(crate) fn is_context(&self, id: u32) -> bool {
        (id == self.contexts.root() && self.contexts.root_is_live())
            || self
                .streams
                .get(&id)
                .is_some_and(|s| s.life != StreamLife::Deleted)
    }

    /// Whether a message at `level` is kept (Envoy drops those below its log level).
    pub(crate) fn logs_at(&self, level: LogLevel) -> bool {
        level >= self.settings.log_level
    }

    /// Keeps a guest's log line, charged to its byte budget (the host keeps every line for the test to read).
    pub(crate) fn log(&mut self, level: LogLevel, message: String) -> Result<(), BudgetExceeded> {
        if !self.logs_at(level) {
            return Ok(());
        }
        self.budget.charge_entry("a log message", message.len())?;
        let context_id = self.context();
        self.logs.push(LogEntry {
            level,
            message,
            context_id,
            origin: LogOrigin::Guest,
            vm: self.role,
        });
        Ok(())
    }

    /// The lines kept so far, moved out; they leave the byte budget.
    pub(crate) fn take_logs(&mut self) -> Vec<LogEntry> {
        let logs = std::mem::take(&mut self.logs);
        let held = logs
            .iter()
            .map(|l| budget::entry_cost(l.message.len()))
            .sum();
        self.budget.release(held);
        logs
    }

    /// A line from the host (kept whatever the log level: it explains a status the guest got), charged to the byte
    /// budget like the guest's own: the guest decides how often the host explains itself. Guest text quoted in it
    /// goes through [`quote_guest`].
    pub(crate) fn host_log(
        &mut self,
        level: LogLevel,
        message: String,
    ) -> Result<(), BudgetExceeded> {
        self.budget.charge_entry("a host log line", message.len())?;
        let context_id = self.context();
        self.logs.push(LogEntry {
            level,
            message,
            context_id,
            origin: LogOrigin::Host,
            vm: self.role,
        });
        Ok(())
    }

    /// Charges `bytes` the guest copies into a header map or body: to the acting stream until it is deleted (the
    /// host keeps a stream's maps while it lives), or only checked for the root context's (a callout's answer,
    /// replaced by the next).
    pub(crate) fn charge_stream(
        &mut self,
        what: &'static str,
        bytes: usize,
    ) -> Result<(), BudgetExceeded> {
        let context = self.context();
        match self.streams.get_mut(&context) {
            Some(stream) => {
                self.budget.charge_entry(what, bytes)?;
                stream.held += budget::entry_cost(bytes);
                Ok(())
            }
            None => self.budget.check_entry(what, bytes),
        }
    }

    /// Releases from the byte budget what this VM holds besides its log lines, before it is dropped: the plugin's
    /// other VMs go on charging the same budget.
    pub(crate) fn release_held(&mut self) {
        let streams: usize = self
            .streams
            .values_mut()
            .map(|s| std::mem::take(&mut s.held))
            .sum();
        let filter_state: usize = self
            .streams
            .values()
            .flat_map(|s| &s.filter_state)
            .map(|(key, value)| budget::entry_cost(key.len() + value.len()))
            .sum();
        let deferred: usize = self
            .deferred
            .drain(..)
            .map(|action| budget::entry_cost(action.held_bytes()))
            .sum();
        let callouts: usize = self
            .callouts
            .http
            .iter()
            .map(HttpCall::held_bytes)
            .sum::<usize>()
            + self
                .callouts
                .grpc
                .iter()
                .map(GrpcCall::held_bytes)
                .sum::<usize>();
        self.budget.release(
            streams + filter_state + deferred + callouts + self.foreign_state.held_bytes(),
        );
    }

    /// Body bytes Envoy buffers for stream `id` while the plugin holds it (no guest call is acting): charged to the
    /// stream until it is deleted.
    pub(crate) fn charge_held_body(&mut self, id: u32, bytes: usize) -> Result<(), BudgetExceeded> {
        self.budget
            .charge("a body held while the plugin pauses", bytes)?;
        self.streams.get_mut(&id).expect("stream exists").held += bytes;
        Ok(())
    }

    /// Stream `id` was deleted: what the guest copied into it leaves the byte budget.
    pub(crate) fn release_stream(&mut self, id: u32) {
        if let Some(stream) = self.streams.get_mut(&id) {
            self.budget.release(std::mem::take(&mut stream.held));
        }
    }

    /// Queues an action for after the current VM call (`proxy_continue_stream`, `proxy_close_stream`).
    pub(crate) fn defer_stream_action(
        &mut self,
        stream_type: StreamType,
        close: bool,
    ) -> Result<Status, BudgetExceeded> {
        let Some(stream) = self.stream() else {
            // No decoder/encoder callbacks (root context): Envoy silently does nothing.
            return Ok(Status::Ok);
        };
        let id = stream.id;
        if stream.network.is_some() {
            return self.defer_connection_action(id, stream_type, close);
        }
        match (stream_type, close) {
            (StreamType::Request | StreamType::Response, false) => {
                let dir = if stream_type == StreamType::Request {
                    Dir::Request
                } else {
                    Dir::Response
                };
                self.defer(Deferred::Continue { stream: id, dir })?;
                // Envoy nulls the request-side pointers right away, for either direction.
                if let Some(stream) = self.streams.get_mut(&id) {
                    stream.request.hide();
                }
                Ok(Status::Ok)
            }
            (StreamType::Request | StreamType::Response, true) => {
                self.defer(Deferred::Close { stream: id })?;
                Ok(Status::Ok)
            }
            (StreamType::Downstream, _) => Ok(Status::Ok),
            (StreamType::Upstream, false) => Ok(Status::Unimplemented),
            (StreamType::Upstream, true) => Ok(Status::Ok),
        }
    }

    /// `Context::continueStream` / `closeStream` on a connection's context: it has read and write filter callbacks
    /// and no decoder or encoder ones.
    fn defer_connection_action(
        &mut self,
        id: u32,
        stream_type: StreamType,
        close: bool,
    ) -> Result<Status, BudgetExceeded> {
        match (stream_type, close) {
            (StreamType::Request | StreamType::Response, _) => Ok(Status::Ok),
            (StreamType::Downstream, false) => {
                self.defer(Deferred::ContinueReading { stream: id })?;
                Ok(Status::Ok)
            }
            (StreamType::Upstream, false) => Ok(Status::Unimplemented),
            (StreamType::Downstream, true) => {
                self.defer(Deferred::CloseConnection {
                    stream: id,
                    reason: "wasm_downstream_close",
                })?;
                Ok(Status::Ok)
            }
            (StreamType::Upstream, true) => {
                self.defer(Deferred::CloseConnection {
                    stream: id,
                    reason: "wasm_upstream_close",
                })?;
                Ok(Status::Ok)
            }
        }
    }

    /// WASI `random_get`'s bytes: by default a pseudo-random stream (splitmix64) from the plugin's seed, so tests
    /// are reproducible; the operating system's with [`Randomness::Os`] (Envoy's `RAND_bytes`). `Err` if the
    /// operating system has none to give.
    pub(crate) fn random_bytes(&mut self, out: &mut [u8]) -> Result<(), getrandom::Error> {
        if self.settings.randomness == Randomness::Os {
            return getrandom::fill(out);
        }
        for chunk in out.chunks_mut(8) {
            self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.rng;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
        Ok(())
    }
}

impl Hasher for ContextIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, id: u32) {
        // Fibonacci hashing spreads consecutive ids over the table's high and low bits alike.
        self.0 = u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}
