//! One downstream TCP connection through a plugin running as a network filter (`envoy.filters.network.wasm`) in
//! front of Envoy's TCP proxy, driven step by step like Envoy's network filter manager drives it.

use std::cell::RefMut;
use std::fmt;

use super::Plugin;
use super::stream::{context_filter_state, context_properties};
use crate::envoy::{
    Action, ConnectionClosed, FilterStateObject, HttpCall, Properties, PropertyValue, VmHold,
};

/// The cluster the TCP proxy behind the filter connects to unless the filter picks another (with
/// `set_envoy_filter_state("envoy.tcp_proxy.cluster", …)`) or the test names one ([`Plugin::tcp_connection_to`]).
pub const TCP_PROXY_CLUSTER: &str = "upstream";

/// What one end of the connection received from the filter: the bytes, and whether the end of stream (the other
/// side's half-close) reached it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    pub bytes: Vec<u8>,
    pub end_of_stream: bool,
}

impl Received {
    /// The bytes as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// A downstream TCP connection: connect, send what the client and the upstream send, close from either side, and
/// observe what each end received and how the connection ended.
pub struct TcpConnection<'p> {
    plugin: &'p Plugin,
    generation: usize,
    id: u32,
    connected: bool,
    _vm: VmHold,
}

impl<'p> TcpConnection<'p> {
    pub(crate) fn new(
        plugin: &'p Plugin,
        generation: usize,
        id: u32,
        vm: VmHold,
    ) -> TcpConnection<'p> {
        TcpConnection {
            plugin,
            generation,
            id,
            connected: false,
            _vm: vm,
        }
    }

    fn vm(&self) -> RefMut<'p, crate::envoy::Vm> {
        self.plugin.driven_of(self.generation)
    }

    fn observed(&self) -> RefMut<'p, crate::envoy::Vm> {
        self.plugin.worker_of(self.generation)
    }

    /// The connection's context id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The client connects: `on_context_create`, then `on_new_connection` (Envoy `Context::onNewConnection`).
    /// Continue lets the TCP proxy connect upstream now; Pause keeps it waiting until the filter lets data through
    /// or resumes with `continue_downstream`.
    #[track_caller]
    pub fn connect(&mut self) -> Action {
        if self.connected {
            panic!("connect: connection {} is already connected", self.id);
        }
        self.connected = true;
        self.vm().open_connection(self.id)
    }

    /// Bytes from the client (`on_downstream_data(size, false)`; the size is everything Envoy's read buffer holds,
    /// the bytes the filter stopped on before included). Panics before [`connect`](Self::connect), after the client
    /// half-closed, or once the connection closed.
    #[track_caller]
    pub fn send_downstream(&mut self, data: impl AsRef<[u8]>) -> Action {
        match self.try_send_downstream(data) {
            Ok(action) => action,
            Err(e) => panic!("send_downstream: {e}"),
        }
    }

    /// [`send_downstream`](Self::send_downstream), returning why no bytes can come from the client instead of
    /// panicking.
    pub fn try_send_downstream(
        &mut self,
        data: impl AsRef<[u8]>,
    ) -> Result<Action, ConnectionRefused> {
        self.client_can_send()?;
        Ok(self.vm().downstream_data(self.id, data.as_ref(), false))
    }

    /// The client half-closes (its FIN): `on_downstream_data(size, true)`. Once the end of stream has also reached
    /// the client from the upstream, the connection closes (`on_downstream_connection_close(Remote)`).
    #[track_caller]
    pub fn close_downstream(&mut self) -> Action {
        self.refuse_from_client("close_downstream");
        self.vm().downstream_data(self.id, &[], true)
    }

    /// The client resets the connection: `on_downstream_connection_close(Remote)`, then `on_done → on_log →
    /// on_delete`; no end of stream reaches the filter.
    #[track_caller]
    pub fn reset_downstream(&mut self) {
        self.refuse_when_closed("reset_downstream");
        self.vm().downstream_reset(self.id);
    }

    /// Bytes from the upstream towards the client (`on_upstream_data(size, false)`). Panics while the TCP proxy has
    /// no upstream connection (the filter stopped iteration before anything passed it), after the upstream
    /// half-closed, or once the connection closed.
    #[track_caller]
    pub fn send_upstream(&mut self, data: impl AsRef<[u8]>) -> Action {
        match self.try_send_upstream(data) {
            Ok(action) => action,
            Err(e) => panic!("send_upstream: {e}"),
        }
    }

    /// [`send_upstream`](Self::send_upstream), returning why no bytes can come from the upstream instead of
    /// panicking.
    pub fn try_send_upstream(
        &mut self,
        data: impl AsRef<[u8]>,
    ) -> Result<Action, ConnectionRefused> {
        self.upstream_can_send(true)?;
        Ok(self.vm().upstream_data(self.id, data.as_ref(), false))
    }

    /// The upstream half-closes: `on_upstream_data(size, true)`, then `on_upstream_connection_close(Unknown)` (Envoy
    /// learns of the upstream's close only from its end of stream, so never which peer closed). Once the client
    /// had half-closed too, the connection closes (`on_downstream_connection_close(Local)`).
    #[track_caller]
    pub fn close_upstream(&mut self) -> Action {
        self.refuse_from_upstream("close_upstream");
        self.vm().upstream_data(self.id, &[], true)
    }

    /// The upstream connection fails or is reset: the TCP proxy closes the downstream connection, so the filter
    /// hears `on_downstream_connection_close(Local)` (and no upstream close callback).
    #[track_caller]
    pub fn reset_upstream(&mut self) {
        self.refuse_from_upstream("reset_upstream");
        self.vm().upstream_reset(self.id);
    }

    /// What the upstream received: every byte that passed the filter towards it, and whether the client's
    /// half-close did.
    pub fn upstream_received(&self) -> Received {
        let vm = self.observed();
        let flow = &vm.connection(self.id).downstream;
        Received {
            bytes: flow.passed.clone(),
            end_of_stream: flow.passed_end,
        }
    }

    /// What the client received from the upstream through the filter.
    pub fn client_received(&self) -> Received {
        let vm = self.observed();
        let flow = &vm.connection(self.id).upstream;
        Received {
            bytes: flow.passed.clone(),
            end_of_stream: flow.passed_end,
        }
    }

    /// What passed the filter towards the upstream since the last take, taken out of the connection: for a driver
    /// that writes it on a socket (serve's TCP listener), so a long connection does not keep every byte it carried.
    /// [`upstream_received`](Self::upstream_received) shows only what was not taken.
    pub fn take_upstream_received(&mut self) -> Received {
        let mut vm = self.observed();
        let flow = &mut vm.connection_mut(self.id).downstream;
        Received {
            bytes: std::mem::take(&mut flow.passed),
            end_of_stream: flow.passed_end,
        }
    }

    /// What passed the filter towards the client since the last take, as
    /// [`take_upstream_received`](Self::take_upstream_received).
    pub fn take_client_received(&mut self) -> Received {
        let mut vm = self.observed();
        let flow = &mut vm.connection_mut(self.id).upstream;
        Received {
            bytes: std::mem::take(&mut flow.passed),
            end_of_stream: flow.passed_end,
        }
    }

    /// Bytes from the client the filter holds (it stopped iteration on them): they reach the upstream when it lets
    /// them through.
    pub fn held_downstream(&self) -> Vec<u8> {
        self.observed().connection(self.id).downstream.held.clone()
    }

    /// Bytes from the upstream the filter holds.
    pub fn held_upstream(&self) -> Vec<u8> {
        self.observed().connection(self.id).upstream.held.clone()
    }

    /// The cluster the TCP proxy connected to, once iteration first passed the filter: the one the filter chose with
    /// `set_envoy_filter_state("envoy.tcp_proxy.cluster", NAME)` before that, else the proxy's own. `None`: no
    /// upstream connection yet.
    pub fn upstream_cluster(&self) -> Option<String> {
        self.observed().connection(self.id).upstream_cluster.clone()
    }

    /// How the connection closed (which end, and why: `wasm_downstream_close`, `wasm_upstream_close`,
    /// `wasm_fail_stream`, `both sides half-closed`, `downstream reset`, `upstream reset`), once it did.
    pub fn closed(&self) -> Option<ConnectionClosed> {
        self.observed().connection(self.id).closed.clone()
    }

    /// Sets attribute `path` for this connection only (on top of the plugin's), see [`Properties::set`].
    #[track_caller]
    pub fn set_property(&mut self, path: &[&str], value: impl Into<PropertyValue>) {
        if let Err(e) = self.properties().set(path, value) {
            panic!("property {}: {e}", path.join("."));
        }
    }

    /// `source.address` and `source.port` from `IP:PORT`, for this connection only.
    #[track_caller]
    pub fn set_source_address(&mut self, address: &str) {
        if let Err(e) = self.properties().source_address(address) {
            panic!("source address: {e}");
        }
    }

    /// `destination.address` and `destination.port` from `IP:PORT`, for this connection only.
    #[track_caller]
    pub fn set_destination_address(&mut self, address: &str) {
        if let Err(e) = self.properties().destination_address(address) {
            panic!("destination address: {e}");
        }
    }

    fn properties(&mut self) -> RefMut<'_, Properties> {
        context_properties(self.observed(), self.id)
    }

    /// The value the plugin stored with `set_property(path, …)` on this connection (filter state `wasm.<path>`).
    pub fn filter_state(&self, path: &[&str]) -> Option<Vec<u8>> {
        context_filter_state(&self.observed(), self.id, path)
    }

    /// Every value the plugin stored with `set_property` on this connection (see
    /// [`HttpStream::filter_states`](super::HttpStream::filter_states)).
    pub fn filter_states(&self) -> Vec<(Vec<String>, Vec<u8>)> {
        super::stream::context_filter_states(&self.observed(), self.id)
    }

    /// Every object the plugin stored with `set_envoy_filter_state` on this connection, by key.
    pub fn envoy_filter_states(&self) -> Vec<(String, FilterStateObject)> {
        self.observed().state().envoy_filter_states(self.id)
    }

    /// The object the plugin stored under `key` with Envoy's `set_envoy_filter_state` on this connection (what the
    /// TCP proxy reads for `envoy.tcp_proxy.cluster`).
    pub fn envoy_filter_state(&self, key: &str) -> Option<FilterStateObject> {
        self.observed()
            .state()
            .envoy_filter_state(self.id, key)
            .cloned()
    }

    /// Pending HTTP callouts this connection's context dispatched.
    pub fn http_calls(&self) -> Vec<HttpCall> {
        self.plugin
            .http_calls()
            .into_iter()
            .filter(|c| c.context_id == self.id)
            .collect()
    }

    #[track_caller]
    fn refuse_when_closed(&self, what: &str) {
        if let Err(e) = self.open() {
            panic!("{what}: {e}");
        }
    }

    #[track_caller]
    fn refuse_from_client(&self, what: &str) {
        if let Err(e) = self.client_can_send() {
            panic!("{what}: {e}");
        }
    }

    #[track_caller]
    fn refuse_from_upstream(&self, what: &str) {
        if let Err(e) = self.upstream_can_send(what != "reset_upstream") {
            panic!("{what}: {e}");
        }
    }

    fn open(&self) -> Result<(), ConnectionRefused> {
        if !self.connected {
            return Err(ConnectionRefused::NotConnected);
        }
        match self.closed() {
            Some(closed) => Err(ConnectionRefused::Closed {
                connection: self.id,
                closed,
            }),
            None => Ok(()),
        }
    }

    fn client_can_send(&self) -> Result<(), ConnectionRefused> {
        self.open()?;
        if self.observed().connection(self.id).downstream.end_stream {
            return Err(ConnectionRefused::ClientHalfClosed);
        }
        Ok(())
    }

    /// `half_close_matters`: false for a reset, which may come after the upstream's end of stream.
    fn upstream_can_send(&self, half_close_matters: bool) -> Result<(), ConnectionRefused> {
        self.open()?;
        let vm = self.observed();
        let connection = vm.connection(self.id);
        if connection.upstream_cluster.is_none() {
            return Err(ConnectionRefused::NoUpstreamYet);
        }
        if half_close_matters && connection.upstream.end_stream {
            return Err(ConnectionRefused::UpstreamHalfClosed);
        }
        Ok(())
    }
}

/// Why a [`TcpConnection`] refuses an event: what its `try_` methods return, and what the plain ones panic with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionRefused {
    /// Nothing happens on a connection before [`TcpConnection::connect`].
    NotConnected,
    /// The connection closed: nothing more reaches the filter.
    Closed {
        connection: u32,
        closed: ConnectionClosed,
    },
    /// The client half-closed (`close_downstream`): no more bytes can come from it.
    ClientHalfClosed,
    /// The filter stopped iteration before anything passed it, so the TCP proxy has not connected upstream.
    NoUpstreamYet,
    /// The upstream half-closed (`close_upstream`): no more bytes can come from it.
    UpstreamHalfClosed,
}

impl fmt::Display for ConnectionRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionRefused::NotConnected => {
                f.write_str("call connect() first: the client has not connected")
            }
            ConnectionRefused::Closed { connection, closed } => write!(
                f,
                "connection {connection} is closed ({:?}, {}): nothing more reaches the filter",
                closed.by, closed.reason
            ),
            ConnectionRefused::ClientHalfClosed => f.write_str(
                "the client already half-closed its side (close_downstream): no more bytes can come from it",
            ),
            ConnectionRefused::NoUpstreamYet => f.write_str(
                "the TCP proxy has no upstream connection yet: the filter stopped iteration before anything passed \
                 it (on_new_connection or on_downstream_data returned Pause and nothing resumed it), so no upstream \
                 exists to send or close. Let data through first, or assert on the held connection \
                 (held_downstream(), upstream_received()).",
            ),
            ConnectionRefused::UpstreamHalfClosed => f.write_str(
                "the upstream already half-closed its side (close_upstream): no more bytes can come from it",
            ),
        }
    }
}

impl std::error::Error for ConnectionRefused {}
