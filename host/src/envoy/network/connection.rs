//! What Envoy keeps of one downstream connection for a network filter: the two directions' buffers, whether the TCP
//! proxy behind the filter has connected (and to which cluster), and how the connection ended.

use crate::spec::PeerType;

/// One direction of the connection: from the client towards the upstream (Envoy's read side, `onData`) or from the
/// upstream towards the client (the write side, `onWrite`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Flow {
    /// The bytes this filter is shown: Envoy's read buffer (or the upstream connection's, for the write side), which
    /// keeps what a filter stopped on, so the next callback sees it again with what arrived since.
    pub(crate) held: Vec<u8>,
    /// The sending peer half-closed this direction (its FIN arrived).
    pub(crate) end_stream: bool,
    /// Whether Envoy's `network_{downstream,upstream}_data_buffer_` points at `held`: set for the data callback and
    /// cleared only when it returns Continue (`Context::onData` / `onWrite`), so after a StopIteration the filter
    /// can still read and change the held bytes (from a callout answer, say).
    pub(crate) reach: bool,
    /// What passed the filter: what the upstream (or the client) received.
    pub(crate) passed: Vec<u8>,
    /// The FIN passed the filter.
    pub(crate) passed_end: bool,
}

impl Flow {
    /// Everything held goes on, with the FIN if it arrived.
    pub(super) fn pass(&mut self) {
        self.passed.append(&mut self.held);
        self.passed_end |= self.end_stream;
    }
}

/// How the downstream connection closed: Envoy's connection event (`LocalClose` / `RemoteClose`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionClosed {
    pub by: PeerType,
    pub reason: String,
}

/// A downstream connection through the filter and the TCP proxy behind it.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    /// Client → upstream.
    pub(crate) downstream: Flow,
    /// Upstream → client.
    pub(crate) upstream: Flow,
    /// The cluster the TCP proxy connected to, once iteration passed this filter for the first time (its
    /// `onNewConnection` picks the route: the `envoy.tcp_proxy.cluster` filter state object if a filter set one,
    /// else its configured cluster). `None`: no upstream connection yet.
    pub(crate) upstream_cluster: Option<String>,
    /// The TCP proxy's configured cluster.
    pub(crate) default_cluster: String,
    /// The downstream connection's close event, once it was raised.
    pub(crate) closed: Option<ConnectionClosed>,
    /// Envoy's `downstream_closed_`: `on_downstream_connection_close` ran.
    pub(crate) downstream_close_heard: bool,
    /// Envoy's `tcp_connection_closed_`: `onCloseTCP` (`on_done → on_log → on_delete`) ran.
    pub(crate) tcp_closed: bool,
    /// CHECK_FAIL's `stream_failed_`: the failed VM's close was already requested.
    pub(crate) failed: bool,
}

impl Connection {
    pub(crate) fn new(default_cluster: String) -> Connection {
        Connection {
            downstream: Flow::default(),
            upstream: Flow::default(),
            upstream_cluster: None,
            default_cluster,
            closed: None,
            downstream_close_heard: false,
            tcp_closed: false,
            failed: false,
        }
    }

    /// The flow a data callback or a buffer type addresses.
    pub(crate) fn flow_mut(&mut self, from_client: bool) -> &mut Flow {
        if from_client {
            &mut self.downstream
        } else {
            &mut self.upstream
        }
    }

    /// Both directions ended on the socket (Envoy's `bothSidesHalfClosed`): the client's FIN was read and the FIN
    /// towards the client was written.
    pub(crate) fn both_sides_half_closed(&self) -> bool {
        self.downstream.end_stream && self.upstream.passed_end
    }
}
