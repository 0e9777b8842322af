//! The events of one downstream connection reaching the network filter, as Envoy raises them
//! (`source/extensions/common/wasm/context.cc` @ b40935ac: `Context::onNewConnection`, `onData`, `onWrite`,
//! `onEvent`, `onDownstreamConnectionClose`, `onUpstreamConnectionClose`, `onCloseTCP`, `continueStream`,
//! `closeStream`; cpp-host `src/context.cc` @ 52a0291: `ContextBase::onNetworkNewConnection`, `onDownstreamData`,
//! `onUpstreamData`, `CHECK_FAIL_NET`), and what the TCP proxy behind the filter does with what passes it
//! (Envoy's `FilterManagerImpl::onContinueReading`: the next filter initializes on the first pass, then gets the
//! read buffer whenever it holds bytes or the end of stream).

use super::{Connection, ConnectionClosed};
use crate::envoy::http::StreamLife;
use crate::envoy::vm::{Callback, Exports};
use crate::envoy::{Action, FailurePolicy, Vm};
use crate::spec::{FilterStatus, PeerType};

/// The filter state key the TCP proxy reads for the cluster of this connection (`PerConnectionCluster`).
pub(crate) const TCP_PROXY_CLUSTER: &str = "envoy.tcp_proxy.cluster";

impl Vm {
    /// A new downstream connection's context (its id from the counter root contexts share), in front of a TCP
    /// proxy to `default_cluster`. The guest hears of it with [`Vm::open_connection`].
    pub(crate) fn new_connection(&mut self, default_cluster: &str) -> u32 {
        let id = self.new_stream();
        self.state_mut()
            .streams
            .get_mut(&id)
            .expect("the stream just made")
            .network = Some(Box::new(Connection::new(default_cluster.to_string())));
        id
    }

    /// The connection context `id`.
    pub(crate) fn connection(&self, id: u32) -> &Connection {
        self.stream(id)
            .network
            .as_deref()
            .expect("a connection context")
    }

    pub(crate) fn connection_mut(&mut self, id: u32) -> &mut Connection {
        self.state_mut()
            .streams
            .get_mut(&id)
            .and_then(|s| s.network.as_deref_mut())
            .expect("a connection context")
    }

    /// `Context::onNewConnection`: the context is created (`on_context_create`), then `on_new_connection`; on
    /// Continue iteration goes on to the TCP proxy, which picks its cluster and connects upstream. On StopIteration
    /// it does not until the filter lets data through or calls `continue_downstream`.
    pub(crate) fn open_connection(&mut self, id: u32) -> Action {
        if let Some(action) = self.network_bypass(id) {
            return action;
        }
        self.ensure_created(id);
        let result = self.call_network(id, |e| &e.on_new_connection, id as i32);
        let action = self.after_network_call(id, result);
        if action == Action::Continue {
            self.reading_passed(id);
        }
        self.settle();
        action
    }

    /// Bytes (and perhaps the end of stream) from the client: they join Envoy's read buffer, and `onData` shows the
    /// filter the whole buffer (`on_downstream_data(size, end_of_stream)`) whenever it holds bytes or the end.
    pub(crate) fn downstream_data(&mut self, id: u32, data: &[u8], end_stream: bool) -> Action {
        if self.connection(id).closed.is_some() {
            return Action::Pause;
        }
        let flow = &mut self.connection_mut(id).downstream;
        flow.held.extend_from_slice(data);
        flow.end_stream |= end_stream;
        if flow.held.is_empty() && !flow.end_stream {
            return Action::Continue;
        }
        if let Some(action) = self.network_bypass(id) {
            return action;
        }
        if self.stream(id).life == StreamLife::Pending {
            // `in_vm_context_created_` is false: Envoy's `onData` returns Continue without the VM.
            self.reading_passed(id);
            return Action::Continue;
        }
        let flow = &mut self.connection_mut(id).downstream;
        flow.reach = true;
        let (size, end) = (flow.held.len() as i32, flow.end_stream as i32);
        let result = self.call_network(id, |e| &e.on_downstream_data, (id as i32, size, end));
        let action = self.after_network_call(id, result);
        if action == Action::Continue {
            self.connection_mut(id).downstream.reach = false;
            self.reading_passed(id);
        }
        self.settle();
        self.close_if_both_sides_ended(id, PeerType::Remote);
        action
    }

    /// Bytes (and perhaps the end of stream) from the upstream, written towards the client through the filter
    /// (`onWrite` → `on_upstream_data`). Held bytes stay in the upstream's read buffer and come again with the next
    /// chunk. The upstream's end of stream also runs `on_upstream_connection_close(Unknown)` right after, whatever
    /// the filter answered: Envoy signals the upstream's close from there, not from a connection event.
    pub(crate) fn upstream_data(&mut self, id: u32, data: &[u8], end_stream: bool) -> Action {
        if self.connection(id).closed.is_some() {
            return Action::Pause;
        }
        let flow = &mut self.connection_mut(id).upstream;
        flow.held.extend_from_slice(data);
        flow.end_stream |= end_stream;
        if let Some(action) = self.network_bypass(id) {
            return action;
        }
        if self.stream(id).life == StreamLife::Pending {
            self.connection_mut(id).upstream.pass();
            return Action::Continue;
        }
        let flow = &mut self.connection_mut(id).upstream;
        flow.reach = true;
        let (size, end) = (flow.held.len() as i32, flow.end_stream as i32);
        let result = self.call_network(id, |e| &e.on_upstream_data, (id as i32, size, end));
        let action = self.after_network_call(id, result);
        self.settle();
        if end_stream {
            self.upstream_connection_close(id);
        }
        if action == Action::Continue && self.connection(id).closed.is_none() {
            let flow = &mut self.connection_mut(id).upstream;
            flow.reach = false;
            flow.pass();
        }
        self.close_if_both_sides_ended(id, PeerType::Local);
        action
    }

    /// The client reset the connection: Envoy raises `RemoteClose` without any end of stream reaching the filter.
    pub(crate) fn downstream_reset(&mut self, id: u32) {
        self.close_connection(id, PeerType::Remote, "downstream reset");
    }

    /// The upstream connection closed or failed: the TCP proxy closes the downstream connection after flushing what
    /// it wrote (`FlushWrite`), so the filter hears `on_downstream_connection_close(Local)`; no upstream close
    /// callback runs (Envoy's filter does not watch the upstream connection).
    pub(crate) fn upstream_reset(&mut self, id: u32) {
        self.close_connection(id, PeerType::Local, "upstream reset");
    }

    /// `proxy_continue_stream(Downstream)`, deferred: `continueReading()` resumes iteration after this filter with
    /// what the read buffer holds.
    pub(crate) fn continue_reading(&mut self, id: u32) {
        if self.connection(id).closed.is_some() {
            return;
        }
        self.reading_passed(id);
    }

    /// The downstream connection closes (`ConnectionImpl::closeSocket`): its close event reaches the filter
    /// (`Context::onEvent` → `on_downstream_connection_close(peer)`), then `onCloseTCP` ends the context. The TCP proxy
    /// then closes its upstream connection.
    pub(crate) fn close_connection(&mut self, id: u32, by: PeerType, reason: &str) {
        let connection = self.connection_mut(id);
        if connection.closed.is_some() {
            return;
        }
        connection.closed = Some(ConnectionClosed {
            by,
            reason: reason.to_string(),
        });
        if self.stream(id).life == StreamLife::Pending {
            self.stream_mut(id).life = StreamLife::Deleted;
            return;
        }
        self.call_network(
            id,
            |e| &e.on_downstream_connection_close,
            (id as i32, by as i32),
        );
        self.settle();
        self.connection_mut(id).downstream_close_heard = true;
        self.close_tcp(id);
    }

    /// `Context::onUpstreamConnectionClose(Unknown)`: the callback, then `onCloseTCP` if the downstream side already
    /// closed.
    fn upstream_connection_close(&mut self, id: u32) {
        // A close the filter asked for in `on_upstream_data` already ended the context (the deferred close runs as
        // that call returns): the host does not call into a context the SDK has deleted.
        if self.connection(id).tcp_closed {
            return;
        }
        self.call_network(
            id,
            |e| &e.on_upstream_connection_close,
            (id as i32, PeerType::Unknown as i32),
        );
        self.settle();
        if self.connection(id).downstream_close_heard {
            self.close_tcp(id);
        }
    }

    /// `Context::onCloseTCP`, at most once: `on_done → on_log → on_delete` (not HTTP's `on_log` first). Its `on_log`
    /// is a plain call, not the access-log phase of `Context::log`: maps are absent as anywhere on a connection.
    fn close_tcp(&mut self, id: u32) {
        let connection = self.connection_mut(id);
        if connection.tcp_closed {
            return;
        }
        connection.tcp_closed = true;
        self.stream_mut(id).life = StreamLife::Ending;
        self.call(id, |e| &e.on_done, id as i32);
        self.settle();
        self.call(id, |e| &e.on_log, id as i32);
        self.settle();
        self.call(id, |e| &e.on_delete, id as i32);
        self.stream_mut(id).life = StreamLife::Deleted;
        self.state_mut().release_stream(id);
        self.settle();
    }

    /// Iteration passed this filter on the read side (`onContinueReading` goes on to the next filter): the TCP
    /// proxy initializes on the first pass (its `onNewConnection` picks the cluster: the
    /// `envoy.tcp_proxy.cluster` filter state object if set, else its own), then takes what the read buffer holds.
    fn reading_passed(&mut self, id: u32) {
        let chosen = self
            .state()
            .envoy_filter_state(id, TCP_PROXY_CLUSTER)
            .map(|o| o.value.clone());
        let connection = self.connection_mut(id);
        if connection.upstream_cluster.is_none() {
            connection.upstream_cluster =
                Some(chosen.unwrap_or(connection.default_cluster.clone()));
        }
        connection.downstream.pass();
    }

    /// The connection closes once both directions ended on the socket: `by` is the side whose end came last
    /// (`RemoteClose` when the client's FIN is read last, `LocalClose` when the write of the FIN completes last).
    fn close_if_both_sides_ended(&mut self, id: u32, by: PeerType) {
        if self.connection(id).both_sides_half_closed() {
            self.close_connection(id, by, "both sides half-closed");
        }
    }

    /// A network callback: Continue (0) when the module does not export it, as cpp-host.
    fn call_network<P: wasmtime::WasmParams, R: wasmtime::WasmResults + Default>(
        &mut self,
        id: u32,
        callback: fn(&Exports) -> &Callback<P, R>,
        params: P,
    ) -> Option<R> {
        if !callback(&self.exports).is_exported() {
            return Some(R::default());
        }
        self.call(id, callback, params)
    }

    /// What a network callback's answer does: a [`FilterStatus`] (cpp-host maps every non-zero value to
    /// StopIteration); a VM that failed in the call closes the connection (`CHECK_FAIL_NET` after the call).
    fn after_network_call(&mut self, id: u32, result: Option<i32>) -> Action {
        if let Some(action) = self.network_bypass(id) {
            return action;
        }
        match result.map(FilterStatus::from_raw) {
            Some(FilterStatus::Continue) => Action::Continue,
            Some(FilterStatus::StopIteration) | None => Action::Pause,
        }
    }

    /// cpp-host `CHECK_FAIL_NET` once the VM failed: with Envoy's legacy `fail_open` the filter answers Continue,
    /// and a connection that began after the failure under FAIL_OPEN never had the filter (`createFilter` returned
    /// none): both let everything through. Otherwise `failStream(Downstream)` closes the connection at once
    /// (`FlushWrite`, not deferred) and the filter answers StopIteration.
    fn network_bypass(&mut self, id: u32) -> Option<Action> {
        self.state().failed.as_ref()?;
        let settings = &self.state().settings;
        let left_out =
            settings.failure_policy == FailurePolicy::Open && self.stream(id).began_after_failure;
        if settings.legacy_fail_open || left_out {
            let connection = self.connection_mut(id);
            if connection.closed.is_none() {
                connection.downstream.reach = false;
                connection.upstream.reach = false;
                connection.upstream.pass();
                self.reading_passed(id);
                self.close_if_both_sides_ended(id, PeerType::Local);
            }
            return Some(Action::Continue);
        }
        let connection = self.connection_mut(id);
        if !connection.failed {
            connection.failed = true;
            self.close_connection(id, PeerType::Local, "wasm_fail_stream");
        }
        Some(Action::Pause)
    }
}
