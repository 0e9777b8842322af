//! Starting `proxy-wasm-serve` on ephemeral loopback ports, stopping it even when a test fails, and talking to it
//! with curl and with hyper's client.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// A running proxy; dropping it stops it (SIGTERM, then SIGKILL if it does not drain in time).
pub struct Proxy {
    child: Child,
    pub listen: SocketAddr,
    pub admin: SocketAddr,
    /// The TCP listener, when the proxy runs a network filter.
    pub tcp: Option<SocketAddr>,
    stderr: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
}

/// How long a proxy may take to start (the first start of a module compiles it).
const START: Duration = Duration::from_secs(120);

pub fn header_append() -> PathBuf {
    host::testing::extension_module("header-append").expect("header-append builds")
}

pub fn conformance() -> PathBuf {
    host::testing::guest_module("conformance-guest").expect("the conformance guest builds")
}

/// `--plugin NAME=MODULE --config NAME=CONFIG`, for [`start`].
pub fn plugin(name: &str, module: &std::path::Path, config: &str) -> [String; 4] {
    [
        "--plugin".into(),
        format!("{name}={}", module.display()),
        "--config".into(),
        format!("{name}={config}"),
    ]
}

/// Starts the proxy with `plugin` and `more` flags.
pub fn start_with(plugin: &[String], more: &[&str]) -> Proxy {
    let mut args: Vec<&str> = plugin.iter().map(String::as_str).collect();
    args.extend_from_slice(more);
    start(&args)
}

/// Starts the proxy with `args` (listen and admin on ephemeral ports unless given).
pub fn start(args: &[&str]) -> Proxy {
    try_start(args).unwrap_or_else(|output| panic!("the proxy did not start:\n{output}"))
}

/// Starts the proxy; `Err` carries what it printed if it exited instead.
pub fn try_start(args: &[&str]) -> Result<Proxy, String> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_proxy-wasm-serve"));
    if !args.contains(&"--listen") {
        command.args(["--listen", "127.0.0.1:0"]);
    }
    if !args.contains(&"--admin") {
        command.args(["--admin", "127.0.0.1:0"]);
    }
    if !args.contains(&"--tcp-listen") {
        command.args(["--tcp-listen", "127.0.0.1:0"]);
    }
    if !args.contains(&"--workers") {
        command.args(["--workers", "2"]);
    }
    let mut child = command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("proxy-wasm-serve starts");
    let stderr = Arc::new(Mutex::new(String::new()));
    let stdout = Arc::new(Mutex::new(String::new()));
    let mut err_pipe = child.stderr.take().unwrap();
    let err_text = Arc::clone(&stderr);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = err_pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            err_text
                .lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let (banner_tx, banner_rx) = mpsc::channel();
    let out_pipe = child.stdout.take().unwrap();
    let out_text = Arc::clone(&stdout);
    std::thread::spawn(move || {
        for line in BufReader::new(out_pipe).lines().map_while(Result::ok) {
            if line.starts_with("serve: listening on") {
                let _ = banner_tx.send(line.clone());
            }
            let mut text = out_text.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
    let deadline = Instant::now() + START;
    loop {
        if let Ok(line) = banner_rx.recv_timeout(Duration::from_millis(50)) {
            let address = |after: &str| -> Option<SocketAddr> {
                let rest = &line[line.find(after)? + after.len()..];
                let end = rest.find([' ', ';', ')']).unwrap_or(rest.len());
                rest[..end].parse().ok()
            };
            return Ok(Proxy {
                listen: address("listening on http://").expect("the banner names the listener"),
                admin: address("admin on http://").expect("the banner names the admin listener"),
                tcp: address("tcp on tcp://"),
                child,
                stderr,
                stdout,
            });
        }
        if let Ok(Some(status)) = child.try_wait() {
            std::thread::sleep(Duration::from_millis(100));
            return Err(format!("exit {status}\n{}", stderr.lock().unwrap()));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "the proxy printed no banner in {START:?}:\n{}",
                stderr.lock().unwrap()
            );
        }
    }
}

impl Proxy {
    /// The TCP listener's address; panics when the proxy has none.
    pub fn tcp(&self) -> SocketAddr {
        self.tcp
            .unwrap_or_else(|| panic!("the proxy runs no TCP listener:\n{}", self.stdout()))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.listen)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// Everything the proxy wrote on stderr so far (the plugins' logs).
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Everything the proxy wrote on stdout so far (the banner and the access log).
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Waits (bounded) until stderr contains `text`.
    pub fn wait_for_log(&self, text: &str) {
        wait_for(text, || self.stderr());
    }

    /// Waits (bounded) until stdout (the access log) contains `text`.
    pub fn wait_for_stdout(&self, text: &str) {
        wait_for(text, || self.stdout());
    }

    /// Stops the proxy as Ctrl-C would and returns what it logged.
    pub fn stop(mut self) -> String {
        self.terminate();
        self.stderr()
    }

    fn terminate(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        // SAFETY-free: kill(1) sends SIGTERM, which the proxy answers by draining.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                // Let the reader threads collect the last lines.
                std::thread::sleep(Duration::from_millis(50));
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(text: &str, read: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !read().contains(text) {
        assert!(
            Instant::now() < deadline,
            "no line with {text:?} in:\n{}",
            read()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// A response as curl printed it with `-i`.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The echo upstream's JSON.
    pub fn echoed(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not the echo's JSON ({e}): {}", self.body))
    }
}

/// Runs curl against the proxy. A missing curl fails the test with how to install it: every test of the dev proxy
/// is about what a client sees, and curl is the client users have.
pub fn curl(args: &[&str]) -> Reply {
    if Command::new("curl").arg("--version").output().is_err() {
        panic!("`curl` is not installed: `apt-get install curl`");
    }
    let output = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl runs");
    assert!(
        output.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse_reply(&String::from_utf8_lossy(&output.stdout))
}

fn parse_reply(mut text: &str) -> Reply {
    // Interim responses (`100 Continue` to curl's `Expect`) come first, each a head of its own.
    while text.starts_with("HTTP/1.1 100") {
        text = text.split_once("\r\n\r\n").map_or("", |(_, rest)| rest);
    }
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// A [`Canned`] body that makes the server answer with the trailers it received instead.
pub const ECHO_TRAILERS: &str = "<echo trailers>";

/// A [`Canned`] body that makes the server answer with the request body it received, without a content-length.
pub const ECHO_BODY: &str = "<echo body>";

/// A [`Canned`] body that makes the server answer a gRPC call with the message `pong`, status 0.
pub const GRPC_PONG: &str = "<grpc pong>";

/// What a test server answers: status, a header, a body, after a delay.
#[derive(Clone)]
pub struct Canned {
    pub status: u16,
    pub header: Option<(&'static str, &'static str)>,
    pub body: &'static str,
    pub delay: Duration,
}

/// An HTTP/1.1 and HTTP/2 server on an ephemeral loopback port (hyper), stopped when dropped.
pub struct TestServer {
    pub address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// How many requests reached it.
    pub hits: Arc<std::sync::atomic::AtomicUsize>,
}

impl TestServer {
    pub fn start(canned: Canned) -> TestServer {
        use hyper::service::service_fn;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&hits);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let serve = async {
                    while let Ok((socket, _)) = listener.accept().await {
                        let canned = canned.clone();
                        let counted = Arc::clone(&counted);
                        tokio::spawn(async move {
                            let service = service_fn(move |request| {
                                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                answer(canned.clone(), request)
                            });
                            let _ = hyper_util::server::conn::auto::Builder::new(
                                hyper_util::rt::TokioExecutor::new(),
                            )
                            .serve_connection(hyper_util::rt::TokioIo::new(socket), service)
                            .await;
                        });
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stopped => {}
                }
            });
        });
        TestServer {
            address,
            stop: Some(stop),
            thread: Some(thread),
            hits,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

type TestBody = http_body_util::combinators::BoxBody<bytes::Bytes, std::convert::Infallible>;

async fn answer(
    canned: Canned,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<TestBody>, std::convert::Infallible> {
    use http_body_util::{BodyExt, Full};
    let collected = request.into_body().collect().await.ok();
    tokio::time::sleep(canned.delay).await;
    if canned.body == ECHO_TRAILERS {
        let trailers = collected
            .and_then(|c| c.trailers().cloned())
            .unwrap_or_default();
        let text = format!("{trailers:?}");
        return Ok(hyper::Response::new(
            Full::new(bytes::Bytes::from(text)).boxed(),
        ));
    }
    if canned.body == ECHO_BODY {
        let body = collected.map(|c| c.to_bytes()).unwrap_or_default();
        // A stream of unknown length: no content-length for a plugin's rewrite to contradict.
        let frames = futures_stream_once(hyper::body::Frame::data(body));
        return Ok(hyper::Response::new(
            http_body_util::StreamBody::new(frames).boxed(),
        ));
    }
    if canned.body == GRPC_PONG {
        let mut trailers = hyper::HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        let framed = bytes::Bytes::from_static(b"\0\0\0\0\x04pong");
        let body = Full::new(framed).with_trailers(std::future::ready(Some(Ok(trailers))));
        let response = hyper::Response::builder()
            .header("content-type", "application/grpc")
            .body(body.boxed())
            .unwrap();
        return Ok(response);
    }
    let mut response = hyper::Response::builder().status(canned.status);
    if let Some((name, value)) = canned.header {
        response = response.header(name, value);
    }
    Ok(response
        .body(Full::new(bytes::Bytes::from(canned.body)).boxed())
        .unwrap())
}

/// One frame as a stream of unknown length.
fn futures_stream_once(
    frame: hyper::body::Frame<bytes::Bytes>,
) -> impl futures_core::Stream<Item = Result<hyper::body::Frame<bytes::Bytes>, std::convert::Infallible>>
+ Send
+ Sync {
    struct Once(Option<hyper::body::Frame<bytes::Bytes>>);
    impl futures_core::Stream for Once {
        type Item = Result<hyper::body::Frame<bytes::Bytes>, std::convert::Infallible>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.take().map(Ok))
        }
    }
    Once(Some(frame))
}

/// How long a TCP test peer waits for bytes before it gives up.
const TCP_PATIENCE: Duration = Duration::from_secs(10);

/// A TCP upstream on loopback for the network filter tests: it answers each connection's bytes with `tag` then the
/// bytes themselves, half-closes when the client does, and keeps what it received. It stops when dropped.
pub struct TcpUpstream {
    pub address: SocketAddr,
    received: Arc<Mutex<Vec<u8>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TcpUpstream {
    pub fn start(tag: &'static str) -> TcpUpstream {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let address = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (kept, stopping) = (Arc::clone(&received), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            for socket in listener.incoming() {
                if stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let Ok(mut socket) = socket else { continue };
                let kept = Arc::clone(&kept);
                std::thread::spawn(move || {
                    let _ = socket.set_read_timeout(Some(TCP_PATIENCE));
                    let _ = socket.write_all(tag.as_bytes());
                    let mut buffer = [0u8; 4096];
                    while let Ok(n) = socket.read(&mut buffer) {
                        if n == 0 {
                            let _ = socket.shutdown(std::net::Shutdown::Write);
                            return;
                        }
                        kept.lock().unwrap().extend_from_slice(&buffer[..n]);
                        if socket.write_all(&buffer[..n]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        TcpUpstream {
            address,
            received,
            stop,
            thread: Some(thread),
        }
    }

    /// Every byte it received, over all connections.
    pub fn received(&self) -> String {
        String::from_utf8_lossy(&self.received.lock().unwrap()).into_owned()
    }
}

impl Drop for TcpUpstream {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = std::net::TcpStream::connect(self.address);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A TCP client: connects to `address`, sends `bytes`, half-closes, and reads until the proxy closes its side or
/// resets the connection (bounded); returns what it read.
pub fn tcp_exchange(address: SocketAddr, bytes: &[u8]) -> String {
    use std::io::Write;
    let mut socket = std::net::TcpStream::connect_timeout(&address, TCP_PATIENCE)
        .unwrap_or_else(|e| panic!("cannot connect to {address}: {e}"));
    socket.set_read_timeout(Some(TCP_PATIENCE)).unwrap();
    // The proxy may have closed the connection already (a filter or the TCP proxy closing it at once): then the
    // write or the half-close fails, and the answer is what was read before.
    let _ = socket.write_all(bytes);
    let _ = socket.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    match socket.read_to_end(&mut answer) {
        Ok(_) => {}
        // A close with the client's bytes unread is a reset on the wire.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("reading from {address}: {e}; read {answer:?} so far"),
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// A TCP client that writes `total` bytes from a thread of its own while it reads the answer, then half-closes;
/// returns how many bytes came back before the proxy closed (bounded).
pub fn tcp_stream_through(address: SocketAddr, total: usize) -> usize {
    use std::io::Write;
    let socket = std::net::TcpStream::connect_timeout(&address, TCP_PATIENCE)
        .unwrap_or_else(|e| panic!("cannot connect to {address}: {e}"));
    socket.set_read_timeout(Some(TCP_PATIENCE)).unwrap();
    socket.set_write_timeout(Some(TCP_PATIENCE)).unwrap();
    let mut writer = socket.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let chunk = vec![b'x'; 16 << 10];
        let mut sent = 0;
        while sent < total {
            let n = chunk.len().min(total - sent);
            writer
                .write_all(&chunk[..n])
                .expect("the proxy takes the client's bytes");
            sent += n;
        }
        let _ = writer.shutdown(std::net::Shutdown::Write);
    });
    let mut reader = socket;
    let mut buffer = vec![0u8; 64 << 10];
    let mut got = 0;
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => panic!("reading from {address} after {got} bytes: {e}"),
        }
    }
    sender.join().expect("the client's writer ends");
    got
}
