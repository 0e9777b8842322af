//! The TCP listener: every connection runs through the worker's network filter (`envoy.filters.network.wasm`) and
//! the TCP proxy behind it (`envoy.filters.network.tcp_proxy`) to a real upstream, on the worker that accepted it.
//!
//! The filter's side is the host's connection (`host::testing::TcpConnection`, which models Envoy's
//! `source/extensions/filters/network/wasm/wasm_filter.h` and `common/wasm/context.cc`: `onNewConnection`, `onData`,
//! `onWrite`, `onEvent`); this module is the wire around it and the TCP proxy's part
//! (`source/common/tcp_proxy/tcp_proxy.cc`): once iteration first passes the filter, `Filter::onNewConnection` reads
//! the `envoy.tcp_proxy.cluster` filter state (`PerConnectionCluster`) or takes its own cluster, and connects; the
//! downstream is not read while that connection is being made (`readDisable(true)` until `onPoolReady`); a cluster
//! that does not exist or an upstream that cannot be reached closes the downstream (`onInitFailure`), and so does
//! the upstream's close or failure. What passed the filter is written before a close (`FlushWrite`).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Buf, BytesMut};

use host::testing::{Received, TCP_PROXY_CLUSTER, TcpConnection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::callouts;
use crate::flags::Cluster;
use crate::proxy::InFlight;
use crate::worker::{Worker, print_logs};

/// How much one read takes from a socket (Envoy reads up to 16 KiB a time by default).
const READ_SIZE: usize = 16 << 10;
/// Envoy's default `per_connection_buffer_limit_bytes`: the high watermark of a connection's write buffer.
const BUFFER_LIMIT: usize = 1 << 20;
/// How long a closing connection may take to write what passed the filter before it.
const FLUSH_LIMIT: Duration = Duration::from_secs(5);

/// The TCP proxy's upstream connection (its write side is [`Outbound::socket`] of the bytes towards it).
enum Upstream {
    /// Iteration has not passed the filter yet: the TCP proxy has not started.
    NotYet,
    Connecting {
        address: String,
        connect: Pin<Box<dyn Future<Output = std::io::Result<TcpStream>>>>,
    },
    Open {
        read: OwnedReadHalf,
        /// The upstream's FIN has not arrived.
        reading: bool,
    },
    /// It failed or was never made; the connection is closing.
    Gone,
}

/// What woke a connection's task.
enum Event {
    Client(std::io::Result<usize>),
    Upstream(std::io::Result<usize>),
    Connected(std::io::Result<TcpStream>),
    /// A write towards the upstream (or the client) failed.
    UpstreamWriteFailed,
    ClientWriteFailed,
    /// A write went out, or something outside the connection happened (a callout answer, a tick).
    Wake,
}

/// One direction's bytes on their way to a socket: what passed the filter and is not written yet. Writes are
/// events of their own, so a peer slow to read never stops the task reading the other one (an echo upstream
/// waiting for its answers to be read would otherwise never read more).
#[derive(Default)]
struct Outbound {
    socket: Option<OwnedWriteHalf>,
    pending: BytesMut,
    /// The FIN passed the filter.
    end_due: bool,
    end_sent: bool,
    written: usize,
}

impl Outbound {
    /// What passed the filter since the last take.
    fn take(&mut self, passed: Received) {
        self.pending.extend_from_slice(&passed.bytes);
        self.end_due |= passed.end_of_stream;
    }

    /// More than Envoy's connection buffer limit waits: the other side is not read until it drains (Envoy's
    /// watermarks disable reading on the high one).
    fn backed_up(&self) -> bool {
        self.pending.len() >= BUFFER_LIMIT
    }

    fn has_work(&self) -> bool {
        self.socket.is_some() && (!self.pending.is_empty() || (self.end_due && !self.end_sent))
    }

    /// The next write (or the FIN once everything before it went out); never while there is nothing to write.
    async fn write(&mut self) -> std::io::Result<()> {
        if !self.has_work() {
            return std::future::pending().await;
        }
        let Some(socket) = &mut self.socket else {
            return Ok(());
        };
        if self.pending.is_empty() {
            self.end_sent = true;
            return socket.shutdown().await;
        }
        let n = socket.write(&self.pending).await?;
        self.pending.advance(n);
        self.written += n;
        Ok(())
    }

    /// Everything pending goes out before the socket closes (`ConnectionCloseType::FlushWrite`), bounded.
    async fn flush(&mut self) {
        let _ = tokio::time::timeout(FLUSH_LIMIT, async {
            while self.has_work() {
                if self.write().await.is_err() {
                    return;
                }
            }
        })
        .await;
    }
}

pub async fn serve_connection(worker: Rc<Worker>, socket: TcpStream, peer: SocketAddr) {
    let Some(chain) = worker.tcp_chain.clone() else {
        return;
    };
    let _in_flight = InFlight::new(&worker);
    let started = (SystemTime::now(), Instant::now());
    let filter = &chain.filters[0];
    let _ = socket.set_nodelay(true);
    let mut connection = filter.plugin.tcp_connection();
    connection.set_source_address(&peer.to_string());
    if let Ok(local) = socket.local_addr() {
        connection.set_destination_address(&local.to_string());
    }
    let (mut client_read, client_write) = socket.into_split();
    let mut client_reading = true;
    let mut upstream = Upstream::NotYet;
    let mut to_upstream = Outbound::default();
    let mut to_client = Outbound {
        socket: Some(client_write),
        ..Outbound::default()
    };
    let mut upstream_shown = String::from("-");
    let mut client_buffer = vec![0; READ_SIZE];
    let mut upstream_buffer = vec![0; READ_SIZE];
    worker.catch_up();
    connection.connect();
    loop {
        if matches!(upstream, Upstream::NotYet)
            && let Some(cluster) = connection.upstream_cluster()
        {
            upstream = match worker.tcp_address(&cluster) {
                Ok(address) => {
                    upstream_shown = format!("{cluster} {address}");
                    Upstream::Connecting {
                        connect: Box::pin(TcpStream::connect(address.clone())),
                        address,
                    }
                }
                Err(reason) => {
                    eprintln!("serve: tcp connection from {peer} closed: {reason}");
                    upstream_shown = format!("{cluster} -");
                    connection.reset_upstream();
                    Upstream::Gone
                }
            };
        }
        // Bytes that passed before the upstream connected stay in the connection until it did.
        if to_upstream.socket.is_some() {
            to_upstream.take(connection.take_upstream_received());
        }
        to_client.take(connection.take_client_received());
        callouts::send_new(&worker, &chain);
        print_logs(filter);
        if connection.closed().is_some() {
            break;
        }
        let connecting = matches!(upstream, Upstream::Connecting { .. });
        let read_client = client_reading && !connecting && !to_upstream.backed_up();
        let read_upstream = !to_client.backed_up();
        let event = tokio::select! {
            read = client_read.read(&mut client_buffer), if read_client => Event::Client(read),
            event = upstream_event(&mut upstream, &mut upstream_buffer, read_upstream) => event,
            wrote = to_upstream.write() => wrote.map_or(Event::UpstreamWriteFailed, |()| Event::Wake),
            wrote = to_client.write() => wrote.map_or(Event::ClientWriteFailed, |()| Event::Wake),
            _ = worker.wake.notified() => Event::Wake,
        };
        // Envoy's dispatcher reads the clock as each event begins: timers due by now fire first, and may close the
        // connection (a callout's timeout answered).
        worker.catch_up();
        if connection.closed().is_some() {
            continue;
        }
        match event {
            Event::Client(Ok(0)) => {
                client_reading = false;
                connection.close_downstream();
            }
            Event::Client(Ok(n)) => {
                connection.send_downstream(&client_buffer[..n]);
            }
            Event::Client(Err(_)) | Event::ClientWriteFailed => connection.reset_downstream(),
            Event::Upstream(Ok(0)) => {
                if let Upstream::Open { reading, .. } = &mut upstream {
                    *reading = false;
                }
                connection.close_upstream();
            }
            Event::Upstream(Ok(n)) => {
                connection.send_upstream(&upstream_buffer[..n]);
            }
            Event::Upstream(Err(_)) | Event::UpstreamWriteFailed => {
                upstream = Upstream::Gone;
                connection.reset_upstream();
            }
            Event::Connected(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                let (read, write) = stream.into_split();
                to_upstream.socket = Some(write);
                upstream = Upstream::Open {
                    read,
                    reading: true,
                };
            }
            Event::Connected(Err(e)) => {
                if let Upstream::Connecting { address, .. } = &upstream {
                    eprintln!(
                        "serve: tcp connection from {peer}: cannot connect to {address} ({e}); Envoy's TCP proxy closes the client connection"
                    );
                }
                upstream = Upstream::Gone;
                connection.reset_upstream();
            }
            Event::Wake => {}
        }
    }
    // What passed the filter before the close still goes out: Envoy closes with FlushWrite, and the TCP proxy closes
    // its upstream connection so too (`TcpUpstream::onDownstreamEvent`).
    to_client.flush().await;
    if !matches!(upstream, Upstream::Gone) {
        to_upstream.flush().await;
    }
    print_logs(filter);
    access_log(
        &connection,
        peer,
        &upstream_shown,
        started,
        (to_upstream.written, to_client.written),
    );
}

/// The upstream's next event: its connection made or failed, bytes or its FIN; never while there is none or
/// while the client has not taken what the upstream sent before (`read`).
async fn upstream_event(upstream: &mut Upstream, buffer: &mut [u8], read: bool) -> Event {
    match upstream {
        Upstream::Connecting { connect, .. } => Event::Connected(connect.await),
        Upstream::Open {
            read: socket,
            reading: true,
        } if read => Event::Upstream(socket.read(buffer).await),
        _ => std::future::pending().await,
    }
}

/// One line per connection on stdout: when it began, who connected, the cluster and address the TCP proxy reached,
/// bytes the upstream and the client received, how long it lasted, and how it closed.
fn access_log(
    connection: &TcpConnection<'_>,
    peer: SocketAddr,
    upstream: &str,
    (start_time, started): (SystemTime, Instant),
    (to_upstream, to_client): (usize, usize),
) {
    let closed = connection
        .closed()
        .map_or("open".to_owned(), |c| format!("{:?} {}", c.by, c.reason));
    println!(
        "[{}] tcp {peer} -> {upstream} {} {} {}ms \"{closed}\"",
        humantime::format_rfc3339_millis(start_time),
        to_upstream,
        to_client,
        started.elapsed().as_millis(),
    );
}

impl Worker {
    /// The address of the cluster the TCP proxy connects to: its own (`--tcp-upstream`), or one `--cluster` gives.
    pub fn tcp_address(&self, cluster: &str) -> Result<String, String> {
        if cluster == TCP_PROXY_CLUSTER
            && let Some(tcp) = &self.plan.tcp
        {
            return Ok(tcp.upstream.clone());
        }
        match self.cluster(cluster) {
            Some(Cluster::Tcp(address)) => Ok(address.clone()),
            Some(Cluster::Wire(target)) => target
                .uri
                .authority()
                .map(|a| a.to_string())
                .ok_or_else(|| format!("cluster {cluster} has no address")),
            Some(Cluster::Script(_)) => Err(format!(
                "the filter picked cluster {cluster}, whose answers are scripted: the TCP proxy needs an address \
                 (--cluster {cluster}=tcp://HOST:PORT)"
            )),
            None => Err(format!(
                "the filter picked cluster {cluster} and there is no --cluster {cluster}: Envoy's TCP proxy closes a \
                 connection whose cluster does not exist (NoClusterFound); give --cluster {cluster}=tcp://HOST:PORT"
            )),
        }
    }
}
