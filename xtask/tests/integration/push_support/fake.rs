//! A scriptable HTTP/1.1 server on loopback, plain or TLS, that records every request it gets: the
//! registries and token services that misbehave in ways `docker-registry` never does (an upload sent to
//! another host, a rewritten digest, a token reply that is not JSON…), and the other hosts they point at.
//!
//! Each connection carries one request and is closed after the reply. A server serves at most
//! [`MAX_CONNECTIONS`] and waits [`IDLE`] at most for a request, so a test that goes wrong cannot keep
//! it busy; its thread ends with the test binary.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

const MAX_CONNECTIONS: usize = 200;
const IDLE: Duration = Duration::from_secs(20);

/// One request as the server read it.
#[derive(Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Seen {
    /// The body as its length: a failing assertion lists requests, not megabytes of blob.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seen")
            .field("method", &self.method)
            .field("target", &self.target)
            .field("headers", &self.headers)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    pub fn query(&self, name: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.replace("%3A", ":").replace("%3a", ":"))
    }
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// A registry that stops sending: after this many bytes of the reply (head included), wait this long.
    pub stall: Option<(usize, Duration)>,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            stall: None,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }

    /// Sends the first `after` bytes of the reply (0: nothing at all), then waits `pause` before the rest.
    pub fn stall(mut self, after: usize, pause: Duration) -> Reply {
        self.stall = Some((after, pause));
        self
    }
}

/// A certificate chain and key for the TLS variant (PEM files, e.g. from `certificates`).
pub struct Tls<'a> {
    pub cert: &'a Path,
    pub key: &'a Path,
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

/// A running server: `origin` is `http://IP:PORT` or `https://IP:PORT`.
pub struct FakeServer {
    pub origin: String,
    /// `IP:PORT`, for image references.
    pub address: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeServer {
    /// Listens on `ip` (any 127.0.0.0/8 address: each is another host to a client) on a port the system
    /// picks, and answers each request with `handler`.
    pub fn start(
        ip: &str,
        tls: Option<Tls>,
        handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> FakeServer {
        let listener = TcpListener::bind((ip, 0)).expect("cannot listen on loopback");
        let address = listener.local_addr().unwrap().to_string();
        let config = tls.map(|tls| Arc::new(server_config(&tls)));
        let scheme = if config.is_some() { "https" } else { "http" };
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let handler: Arc<Handler> = Arc::new(handler);
        std::thread::spawn(move || {
            for stream in listener.incoming().take(MAX_CONNECTIONS) {
                let Ok(stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(IDLE));
                let _ = stream.set_write_timeout(Some(IDLE));
                let _ = match &config {
                    Some(config) => serve_tls(stream, config, &*handler, &log),
                    None => serve(stream, &*handler, &log),
                };
            }
        });
        FakeServer {
            origin: format!("{scheme}://{address}"),
            address,
            seen,
        }
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The requests so far that carried an `Authorization` header.
    pub fn authorized(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.header("authorization").is_some())
            .collect()
    }
}

fn server_config(tls: &Tls) -> rustls::ServerConfig {
    let certs = CertificateDer::pem_file_iter(tls.cert)
        .expect("cannot read the test certificate")
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(tls.key).expect("cannot read the test key");
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("the test certificate and key do not match")
}

fn serve_tls(
    stream: TcpStream,
    config: &Arc<rustls::ServerConfig>,
    handler: &Handler,
    log: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    let connection =
        rustls::ServerConnection::new(Arc::clone(config)).map_err(std::io::Error::other)?;
    serve(rustls::StreamOwned::new(connection, stream), handler, log)
}

fn serve<S: Read + Write>(
    mut stream: S,
    handler: &Handler,
    log: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    let seen = read_request(&mut stream)?;
    log.lock().unwrap().push(seen.clone());
    let reply = handler(&seen);
    let mut head = format!("HTTP/1.1 {} Fake\r\n", reply.status);
    for (name, value) in &reply.headers {
        head += &format!("{name}: {value}\r\n");
    }
    if seen.method != "HEAD"
        || !reply
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        head += &format!("Content-Length: {}\r\n", reply.body.len());
    }
    head += "Connection: close\r\n\r\n";
    let mut bytes = head.into_bytes();
    if seen.method != "HEAD" {
        bytes.extend_from_slice(&reply.body);
    }
    if let Some((after, pause)) = reply.stall {
        let after = after.min(bytes.len());
        stream.write_all(&bytes[..after])?;
        stream.flush()?;
        std::thread::sleep(pause);
        bytes.drain(..after);
    }
    stream.write_all(&bytes)?;
    stream.flush()
}

fn read_request<S: Read>(stream: &mut S) -> std::io::Result<Seen> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or_default().to_owned();
    let target = words.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0usize);
    let mut body = vec![0; length.min(64 << 20)];
    reader.read_exact(&mut body)?;
    Ok(Seen {
        method,
        target,
        headers,
        body,
    })
}
