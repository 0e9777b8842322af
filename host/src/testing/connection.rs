//! One downstream TCP connection through a plugin running as a network filter (`envoy.filters.network.wasm`) in
//! front of Envoy's TCP proxy, driven step by step like Envoy's network filter manager drives it.

use std::cell::RefMut;

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
        self.refuse_from_client("send_downstream");
        self.vm().downstream_data(self.id, data.as_ref(), false)
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
        self.refuse_from_upstream("send_upstream");
        self.vm().upstream_data(self.id, data.as_ref(), false)
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
        if !self.connected {
            panic!("{what}: call connect() first: the client has not connected");
        }
        if let Some(closed) = self.closed() {
            panic!(
                "{what}: connection {} is closed ({:?}, {}): nothing more reaches the filter",
                self.id, closed.by, closed.reason
            );
        }
    }

    #[track_caller]
    fn refuse_from_client(&self, what: &str) {
        self.refuse_when_closed(what);
        if self.observed().connection(self.id).downstream.end_stream {
            panic!(
                "{what}: the client already half-closed its side (close_downstream): no more bytes can come from it"
            );
        }
    }

    #[track_caller]
    fn refuse_from_upstream(&self, what: &str) {
        self.refuse_when_closed(what);
        let vm = self.observed();
        let connection = vm.connection(self.id);
        if connection.upstream_cluster.is_none() {
            panic!(
                "{what}: the TCP proxy has no upstream connection yet: the filter stopped iteration before anything \
                 passed it (on_new_connection or on_downstream_data returned Pause and nothing resumed it), so no \
                 upstream exists to send or close. Let data through first, or assert on the held connection \
                 (held_downstream(), upstream_received())."
            );
        }
        if what != "reset_upstream" && connection.upstream.end_stream {
            panic!(
                "{what}: the upstream already half-closed its side (close_upstream): no more bytes can come from it"
            );
        }
    }
}
