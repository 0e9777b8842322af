//! The command line: what to load, how to configure it, and the request, response and callout answers to play.

use std::path::PathBuf;
use std::time::Duration;

use std::path::Path;

use crate::property_args;
use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use host::testing::play::{self, CalloutAnswer, GrpcAnswer, values};
use host::testing::{FailurePolicy, Level, Properties, PropertyValue, Randomness};

/// Run one HTTP stream (or, with `--kind tcp`, one TCP connection; with `--kind service`, a Wasm service for a
/// while) through a proxy-wasm module the way Envoy would, and show what the upstream and the client would see,
/// with the plugin's logs, metrics and callouts.
///
/// A module does not say which kind of plugin it is: `--kind` says in which of Envoy's places it runs (an HTTP
/// filter by default). A module run as the wrong kind fails as it would in the wrong place of Envoy, and the run
/// says so.
///
/// Exit status: 0 the stream ran; 1 the module did not load or the plugin refused to start (the guest's reason is
/// printed); 2 a bad command line (or scenario file); 3 the plugin failed while running the stream (trap, deadline,
/// memory limit); 4 a stream of `--scenario` did not meet its expectations.
#[derive(Debug, Parser)]
#[command(name = "proxy-wasm-run", version)]
pub struct Args {
    /// The compiled proxy-wasm module (.wasm).
    pub module: PathBuf,

    /// Play the streams of a scenario file (YAML, see host/README.md "Scenario files") instead of one stream from
    /// flags: each with its expectations, printed as PASS or FAIL with what differs. The file gives the plugin's
    /// configuration and every stream's inputs, in the values these flags take.
    #[arg(long, value_name = "FILE.yaml")]
    pub scenario: Option<PathBuf>,

    /// Which kind of plugin the module is, so where Envoy runs it: an HTTP filter (`envoy.filters.http.wasm`), a
    /// network filter in front of a TCP proxy (`envoy.filters.network.wasm`), or a Wasm service with no traffic
    /// (the bootstrap extension `envoy.bootstrap.wasm`).
    #[arg(long, value_enum, default_value_t = Kind::Http)]
    pub kind: Kind,

    /// `--kind tcp`: bytes the client sends (text or @FILE; repeatable, one `on_downstream_data` each, in order).
    #[arg(long = "downstream-data", value_name = "TEXT|@FILE", value_parser = text_or_file)]
    pub downstream_data: Vec<Bytes>,

    /// `--kind tcp`: bytes the upstream sends back (text or @FILE; repeatable, after the client's).
    #[arg(long = "upstream-data", value_name = "TEXT|@FILE", value_parser = text_or_file)]
    pub upstream_data: Vec<Bytes>,

    /// `--kind tcp`: the client's address, `IP:PORT` (`source.address`, `source.port`). Default: 10.0.0.2:34567.
    #[arg(long, value_name = "IP:PORT", value_parser = socket_address)]
    pub source_address: Option<String>,

    /// `--kind tcp`: how the connection ends after the data: `client-first` (the client half-closes, then the
    /// upstream), `upstream-first`, `client-reset` or `upstream-reset`.
    #[arg(long, value_enum, value_name = "ORDER", default_value_t = CloseOrder::ClientFirst)]
    pub close: CloseOrder,

    /// `--kind tcp`: the cluster of the TCP proxy behind the filter (a filter may pick another with
    /// `set_envoy_filter_state("envoy.tcp_proxy.cluster", …)`). Default: upstream.
    #[arg(long, value_name = "NAME")]
    pub tcp_proxy_cluster: Option<String>,

    /// `--kind service`: how long the service runs on virtual time (`30s`, `250ms`): its ticks fire and callouts
    /// time out in order.
    #[arg(long, value_name = "DURATION", value_parser = values::advance)]
    pub run_for: Option<Duration>,

    /// Plugin configuration, passed to `on_configure`: text, or @FILE to read it from a file.
    #[arg(short, long, value_name = "TEXT|@FILE", value_parser = text_or_file)]
    pub config: Option<Bytes>,

    /// VM configuration, passed to `on_vm_start`: text or @FILE.
    #[arg(long, value_name = "TEXT|@FILE", value_parser = text_or_file)]
    pub vm_config: Option<Bytes>,

    /// The plugin's `root_id` (Envoy's `root_id`, Istio's `pluginName`): SDKs that serve several root contexts
    /// from one module (AssemblyScript, C++) pick theirs by it. Default: empty.
    #[arg(long, value_name = "ID")]
    pub root_id: Option<String>,

    /// The VM's `vm_id`, which partitions shared data and queues. Default: empty.
    #[arg(long, value_name = "ID")]
    pub vm_id: Option<String>,

    /// A request header, `NAME: VALUE` (repeatable). Unless given: `:method: GET`, `:path: /`,
    /// `:authority: example.com` (`host` counts), `:scheme: http`, and what Envoy's connection manager adds:
    /// `x-forwarded-proto: http`, a generated `x-request-id`.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE", value_parser = values::header)]
    pub headers: Vec<(String, String)>,

    /// The request body (text or @FILE); without it the request ends with its headers.
    #[arg(short = 'b', long, value_name = "TEXT|@FILE", value_parser = text_or_file)]
    pub body: Option<Bytes>,

    /// One chunk of the request body (text or @FILE; repeatable): each reaches the plugin in its own
    /// `on_request_body`, as Envoy's codec passes each piece it reads, `end_of_stream` only with the last (or none
    /// when trailers follow). Instead of --body.
    #[arg(long = "body-chunk", value_name = "TEXT|@FILE", value_parser = text_or_file, conflicts_with = "body")]
    pub body_chunks: Vec<Bytes>,

    /// A request trailer, `NAME: VALUE` (repeatable); trailers end the request instead of its body or headers.
    #[arg(long = "trailer", value_name = "NAME: VALUE", value_parser = values::header)]
    pub trailers: Vec<(String, String)>,

    /// A response header from the upstream, `NAME: VALUE` (repeatable). Unless given: `:status: 200`.
    #[arg(long = "response-header", value_name = "NAME: VALUE", value_parser = values::header)]
    pub response_headers: Vec<(String, String)>,

    /// The upstream's response body (text or @FILE); without it the response ends with its headers.
    #[arg(long, value_name = "TEXT|@FILE", value_parser = text_or_file)]
    pub response_body: Option<Bytes>,

    /// One chunk of the upstream's response body (text or @FILE; repeatable), one `on_response_body` each, as a
    /// streamed answer (server-sent events, a gRPC stream) arrives. Instead of --response-body.
    #[arg(
        long = "response-body-chunk",
        value_name = "TEXT|@FILE",
        value_parser = text_or_file,
        conflicts_with = "response_body"
    )]
    pub response_body_chunks: Vec<Bytes>,

    /// Deliver --body and --response-body in chunks of at most N bytes, one body callback each (the last may be
    /// shorter), as Envoy's codec passes a body it reads in pieces.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub chunk_size: Option<u64>,

    /// A response trailer from the upstream, `NAME: VALUE` (repeatable), e.g. `grpc-status: 0`.
    #[arg(long = "response-trailer", value_name = "NAME: VALUE", value_parser = values::header)]
    pub response_trailers: Vec<(String, String)>,

    /// The answer to the next HTTP callout the plugin dispatches (repeatable, used in dispatch order):
    /// `STATUS[:BODY]` (BODY text, @FILE, `hex:…` or `base64:…`), `reset` (the call fails) or `timeout` (Envoy's 504). A callout left
    /// without an answer stays pending, and a request it holds never reaches the upstream.
    #[arg(long = "callout-response", value_name = "STATUS[:BODY]|reset|timeout", value_parser = callout_answer)]
    pub callout_responses: Vec<CalloutAnswer>,

    /// A header of the callout answer given just before it, `NAME: VALUE` (repeatable), e.g.
    /// `--callout-response 200 --callout-header 'x-user: alice'`. `:status` comes from the answer.
    #[arg(long = "callout-header", value_name = "NAME: VALUE", value_parser = values::header)]
    pub callout_headers: Vec<(String, String)>,

    /// The answer to the next gRPC call the plugin dispatches (repeatable, used in dispatch order): `CODE[:DATA]`,
    /// where DATA (text, @FILE, `hex:…` or `base64:…`) is the response message for code 0 (`0:@reply.bin`) and the
    /// status message otherwise (`14:unavailable`); for a service the runner knows (Envoy's, `--descriptor-set`),
    /// the message in JSON: `0:json:{"status":{"code":0}}` or `0:json:@answer.json`; or `timeout` (closed as
    /// Envoy's router answers: 14 Unavailable, see `--grpc-timeout-returns-deadline-exceeded`).
    /// A stream gets the message, then the close. Unanswered calls stay pending.
    #[arg(long = "grpc-response", value_name = "CODE[:DATA]|timeout", value_parser = grpc_answer)]
    pub grpc_responses: Vec<GrpcAnswer>,

    /// The descriptor set of a gRPC service the plugin calls (repeatable), as `protoc --include_imports -o FILE.pb`
    /// writes it: the report shows its messages as JSON, and `--grpc-response 0:json:…` answers it in JSON.
    /// Envoy's `Authorization/Check` (ext_authz) and `RateLimitService/ShouldRateLimit` are known without it.
    #[arg(long = "descriptor-set", value_name = "FILE", value_parser = descriptor_set)]
    pub descriptor_sets: Vec<DescriptorSet>,

    /// Envoy's services and those of `--descriptor-set`, joined once the command line is read.
    #[arg(skip)]
    pub grpc_services: grpc_json::Services,

    /// Advance virtual time after the request (and the callout answers given) before the upstream response:
    /// the plugin's ticks fire and callouts whose timeout passes time out, in order. `DURATION` is `250ms`, `2s`,
    /// or a number of milliseconds.
    #[arg(long, value_name = "DURATION", value_parser = values::advance)]
    pub advance_time: Option<Duration>,

    /// Virtual time that passes after the plugin started and before the first request (`--kind http` and `tcp`):
    /// its ticks fire, and what they dispatch is answered, like what `on_vm_start` and `on_configure` dispatched,
    /// by the next --callout-response / --grpc-response. `DURATION` as for --advance-time.
    #[arg(long, value_name = "DURATION", value_parser = values::advance)]
    pub before_request: Option<Duration>,

    /// A cluster Envoy knows (repeatable); HTTP callouts to any other cluster fail with BadArgument, gRPC calls
    /// with ParseFailure. Without any, every name is accepted (Envoy never does that: the run says so).
    #[arg(long = "cluster", value_name = "NAME")]
    pub clusters: Vec<String>,

    /// An attribute the plugin reads with `get_property`, `PATH=[TYPE:]VALUE` (repeatable; applied on top of --properties),
    /// e.g. `source.address=10.1.2.3:5000`, `xds.node.metadata.REGION=eu`, `connection.mtls=bool:true`. PATH is
    /// dotted; quote a segment that contains dots:
    /// `'metadata.filter_metadata."envoy.filters.http.lua".key=v'`. TYPE is string (the default), int, uint,
    /// double, bool, bytes, duration (`250ms`, `2s`, `1m`) or timestamp (seconds since the Unix epoch).
    #[arg(long = "property", value_name = "PATH=[TYPE:]VALUE", value_parser = property_args::property)]
    pub properties: Vec<(Vec<String>, PropertyValue)>,

    /// Attributes from a JSON file: one object whose keys are path segments, nested down to the values, e.g.
    /// `{"xds": {"node": {"metadata": {"REGION": "eu"}}}, "metadata": {"filter_metadata":
    /// {"envoy.filters.http.lua": {"key": "v"}}}}`. Values keep their JSON types (integers are ints).
    #[arg(long = "properties", value_name = "[@]FILE", value_parser = property_args::properties_file)]
    pub properties_file: Option<Properties>,

    /// The mesh or Envoy release to behave as, named as `cargo xtask deploy --for` names it (`istio-1.24`,
    /// `ossm-2.6`, `envoy-gateway-1.5`, `envoy-1.34`): its Envoy's imports (a module importing what that release
    /// lacks does not load) and its Wasm filter's behaviour where releases differ. Default: `envoy`, the newest.
    #[arg(long = "for", value_name = "TARGET")]
    pub target: Option<envoy_targets::Target>,

    /// Envoy's runtime guard `grpc_timeout_returns_deadline_exceeded` (Envoy 1.38+, off by default): a timed-out
    /// gRPC call closes with 4 DeadlineExceeded instead of 14 Unavailable.
    #[arg(long)]
    pub grpc_timeout_returns_deadline_exceeded: bool,

    /// Envoy's per-stream buffer limit in bytes: a body the plugin buffers beyond it gets Envoy's 413 (request)
    /// or 500 (response). Default: 1048576, Envoy's default `per_connection_buffer_limit_bytes`.
    #[arg(long, value_name = "BYTES")]
    pub buffer_limit: Option<usize>,

    /// Envoy 1.35's `allow_on_headers_stop_iteration`: Pause on headers holds only the headers, and body and
    /// trailers still reach the plugin.
    #[arg(long)]
    pub allow_on_headers_stop_iteration: bool,

    /// Envoy's legacy `fail_open` (older Envoys, Envoy Gateway's `failOpen`): if the plugin fails, requests bypass
    /// it, the one it failed in included. Envoy refuses it together with `--fail`.
    #[arg(long)]
    pub fail_open: bool,

    /// Envoy's `failure_policy` (Istio's `failStrategy`): after a run-time failure, `closed` answers 503 (the
    /// default), `open` lets later requests bypass the plugin (the one it failed in still gets the 503), `reload`
    /// gives a later request a fresh VM once the backoff has passed (503 meanwhile).
    #[arg(long, value_enum, value_name = "POLICY")]
    pub fail: Option<Fail>,

    /// An environment variable of the VM, `NAME=VALUE` (repeatable): what WASI `environ_get` returns (Envoy's
    /// `vm_config.environment_variables.key_values`, Istio's `vmConfig.env` with `valueFrom: INLINE`).
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = env_variable)]
    pub env: Vec<(String, String)>,

    /// An environment variable the VM takes from this process's environment, if set (repeatable; Envoy's
    /// `host_env_keys`, Istio's `valueFrom: HOST`, Envoy Gateway's `env.hostKeys`).
    #[arg(long = "host-env", value_name = "NAME")]
    pub host_env: Vec<String>,

    /// Where WASI `random_get` takes its bytes: `seeded` (the default: the same bytes on every run, from --seed)
    /// or `os` (the operating system's, different on every run, as Envoy's BoringSSL `RAND_bytes`).
    #[arg(long, value_enum, value_name = "SOURCE", default_value_t = RandomSource::Seeded)]
    pub random: RandomSource,

    /// The seed of `random_get`'s bytes with `--random seeded`. Default: 24301.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Envoy's log level: what `proxy_get_log_level` returns; lower levels are dropped.
    #[arg(long, value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,

    /// The largest module the runner compiles, in bytes; a larger one is refused before it is read. Default:
    /// 67108864 (64 MiB).
    #[arg(long, value_name = "BYTES")]
    pub module_size_limit: Option<usize>,

    /// The module's names twin (the same module with its `name` section), whose Rust function names a trap's
    /// backtrace shows. Default: `plugin.names.wasm` beside `plugin.wasm`, which `cargo xtask build` writes.
    #[arg(long, value_name = "FILE")]
    pub names: Option<PathBuf>,

    /// How long compiling the module may take (`DURATION` as for --advance-time); longer is refused. Default: 2 min.
    #[arg(long, value_name = "DURATION", value_parser = values::duration)]
    pub compile_deadline: Option<Duration>,

    /// Do not read or write the compiled-code cache (`<target>/proxy-wasm-host/`): compile the module in this
    /// process only. Same as the environment variable `PROXY_WASM_HOST_NO_CACHE=1`.
    #[arg(long)]
    pub no_cache: bool,

    /// Print one JSON object instead of text (its shape is documented in host/README.md).
    #[arg(long)]
    pub json: bool,
}

/// A `--descriptor-set` file, read and checked to be a complete descriptor set.
#[derive(Debug, Clone)]
pub struct DescriptorSet {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// Bytes given as text or read from a file.
#[derive(Debug, Clone)]
pub struct Bytes(pub Vec<u8>);

/// `--kind`: where in Envoy the module runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Http,
    Tcp,
    Service,
}

impl Kind {
    pub fn name(self) -> &'static str {
        self.play().name()
    }

    pub fn play(self) -> play::Kind {
        match self {
            Kind::Http => play::Kind::Http,
            Kind::Tcp => play::Kind::Tcp,
            Kind::Service => play::Kind::Service,
        }
    }
}

/// `--close`: how a TCP connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CloseOrder {
    ClientFirst,
    UpstreamFirst,
    ClientReset,
    UpstreamReset,
}

impl CloseOrder {
    fn play(self) -> play::CloseOrder {
        match self {
            CloseOrder::ClientFirst => play::CloseOrder::ClientFirst,
            CloseOrder::UpstreamFirst => play::CloseOrder::UpstreamFirst,
            CloseOrder::ClientReset => play::CloseOrder::ClientReset,
            CloseOrder::UpstreamReset => play::CloseOrder::UpstreamReset,
        }
    }
}

/// `--fail`: Envoy's `failure_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Fail {
    Closed,
    Open,
    Reload,
}

impl Fail {
    pub fn policy(self) -> FailurePolicy {
        match self {
            Fail::Closed => FailurePolicy::Closed,
            Fail::Open => FailurePolicy::Open,
            Fail::Reload => FailurePolicy::Reload,
        }
    }
}

/// `--random`: where `random_get` takes its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RandomSource {
    Seeded,
    Os,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Critical,
}

impl LogLevel {
    pub fn level(self) -> Level {
        match self {
            LogLevel::Trace => Level::Trace,
            LogLevel::Debug => Level::Debug,
            LogLevel::Info => Level::Info,
            LogLevel::Warn => Level::Warn,
            LogLevel::Error => Level::Error,
            LogLevel::Critical => Level::Critical,
        }
    }
}

/// The given chunks, or the whole body cut in pieces of `size` bytes (one piece without a size); none without a body.
fn chunks<'a>(given: &'a [Bytes], whole: Option<&'a Bytes>, size: Option<u64>) -> Vec<&'a [u8]> {
    if !given.is_empty() {
        return given.iter().map(|b| b.0.as_slice()).collect();
    }
    let Some(whole) = whole else {
        return Vec::new();
    };
    match size {
        Some(size) if !whole.0.is_empty() => whole
            .0
            .chunks(usize::try_from(size).unwrap_or(usize::MAX))
            .collect(),
        _ => vec![whole.0.as_slice()],
    }
}

/// `TEXT`, or `@FILE` for the file's bytes (as curl reads `-d @file`).
fn text_or_file(value: &str) -> Result<Bytes, String> {
    values::text_or_file(value, Path::new("")).map(Bytes)
}

/// `IP:PORT`, as Envoy writes a socket address (`[::1]:80` for IPv6).
fn socket_address(value: &str) -> Result<String, String> {
    value
        .parse::<std::net::SocketAddr>()
        .map(|_| value.to_string())
        .map_err(|_| {
            format!(
                "`{value}` is not an address: write IP:PORT, e.g. `10.1.2.3:5000` or `[::1]:80`"
            )
        })
}

/// `NAME=VALUE`: a name that a POSIX environment can hold (no `=`, not empty), any value.
fn env_variable(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((name, text)) if !name.is_empty() => Ok((name.to_owned(), text.to_owned())),
        _ => Err(format!(
            "`{value}` is not an environment variable: write `NAME=VALUE`, e.g. `--env REGION=eu`"
        )),
    }
}

fn callout_answer(value: &str) -> Result<CalloutAnswer, String> {
    values::callout_answer(value, Path::new(""))
}

fn grpc_answer(value: &str) -> Result<GrpcAnswer, String> {
    values::grpc_answer(value, Path::new(""))
}

/// `--descriptor-set FILE`: a `FileDescriptorSet` that holds together with Envoy's services.
fn descriptor_set(path: &str) -> Result<DescriptorSet, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the file `{path}`: {e}"))?;
    grpc_json::Services::envoy()
        .add_descriptor_set(&bytes)
        .map_err(|e| format!("`{path}`: {e}"))?;
    Ok(DescriptorSet {
        path: path.to_owned(),
        bytes,
    })
}

impl Args {
    /// What the flags ask the player to play.
    pub fn inputs(&self) -> play::Inputs {
        let owned = |chunks: Vec<&[u8]>| chunks.into_iter().map(<[u8]>::to_vec).collect();
        let data = |data: &[Bytes]| data.iter().map(|d| d.0.clone()).collect();
        play::Inputs {
            kind: self.kind.play(),
            request_headers: self.headers.clone(),
            request_body: owned(self.request_chunks()),
            request_trailers: self.trailers.clone(),
            response_headers: self.response_headers.clone(),
            response_body: owned(self.response_chunks()),
            response_trailers: self.response_trailers.clone(),
            callout_answers: self.callout_responses.clone(),
            grpc_answers: self.grpc_responses.clone(),
            grpc_services: self.grpc_services.clone(),
            before_request: self.before_request,
            advance_time: self.advance_time,
            run_for: self.run_for,
            downstream_data: data(&self.downstream_data),
            upstream_data: data(&self.upstream_data),
            source_address: self.source_address.clone(),
            close: self.close.play(),
            tcp_proxy_cluster: self.tcp_proxy_cluster.clone(),
            any_cluster: self.clusters.is_empty(),
        }
    }

    /// The request body as the codec delivers it: the --body-chunk pieces, or --body cut by --chunk-size.
    pub fn request_chunks(&self) -> Vec<&[u8]> {
        chunks(&self.body_chunks, self.body.as_ref(), self.chunk_size)
    }

    /// The response body as the codec delivers it (see [`Args::request_chunks`]).
    pub fn response_chunks(&self) -> Vec<&[u8]> {
        chunks(
            &self.response_body_chunks,
            self.response_body.as_ref(),
            self.chunk_size,
        )
    }

    /// The flags given that the run's `--kind` has no use for, each with the kind that takes it: a service has no
    /// traffic, a TCP connection no headers.
    pub fn flags_of_another_kind(&self, matches: &clap::ArgMatches) -> Vec<String> {
        use clap::parser::ValueSource;
        const HTTP: &[(&str, &str)] = &[
            ("headers", "--header"),
            ("body", "--body"),
            ("trailers", "--trailer"),
            ("response_headers", "--response-header"),
            ("response_body", "--response-body"),
            ("response_trailers", "--response-trailer"),
            ("body_chunks", "--body-chunk"),
            ("response_body_chunks", "--response-body-chunk"),
            ("chunk_size", "--chunk-size"),
            (
                "allow_on_headers_stop_iteration",
                "--allow-on-headers-stop-iteration",
            ),
        ];
        const TCP: &[(&str, &str)] = &[
            ("downstream_data", "--downstream-data"),
            ("upstream_data", "--upstream-data"),
            ("source_address", "--source-address"),
            ("close", "--close"),
            ("tcp_proxy_cluster", "--tcp-proxy-cluster"),
        ];
        const SERVICE: &[(&str, &str)] = &[("run_for", "--run-for")];
        let given = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
        let mut refused = Vec::new();
        for (kind, flags) in [
            (Kind::Http, HTTP),
            (Kind::Tcp, TCP),
            (Kind::Service, SERVICE),
        ] {
            if kind == self.kind {
                continue;
            }
            for (id, flag) in flags {
                if given(id) {
                    refused.push(format!("{flag} (a --kind {} flag)", kind.name()));
                }
            }
        }
        if self.kind == Kind::Service && given("advance_time") {
            refused.push("--advance-time (a service runs for --run-for)".into());
        }
        if self.kind == Kind::Service && given("before_request") {
            refused
                .push("--before-request (a service has no requests; it runs for --run-for)".into());
        }
        refused
    }

    /// What `random_get` gives the plugin: `--random` with `--seed`.
    pub fn randomness(&self) -> Randomness {
        match self.random {
            RandomSource::Seeded => {
                Randomness::Seeded(self.seed.unwrap_or(Randomness::DEFAULT_SEED))
            }
            RandomSource::Os => Randomness::Os,
        }
    }

    /// Parses the command line; each `--callout-header` joins the `--callout-response` given before it.
    pub fn parse_all() -> Args {
        let matches = Args::command().get_matches();
        let mut args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        let responses: Vec<usize> = matches
            .indices_of("callout_responses")
            .map(Iterator::collect)
            .unwrap_or_default();
        let headers: Vec<usize> = matches
            .indices_of("callout_headers")
            .map(Iterator::collect)
            .unwrap_or_default();
        for (header, at) in std::mem::take(&mut args.callout_headers)
            .into_iter()
            .zip(headers)
        {
            let owner = responses.iter().rposition(|&r| r < at);
            match owner.map(|i| &mut args.callout_responses[i]) {
                Some(CalloutAnswer::Response { headers, .. }) => headers.push(header),
                _ => Args::command()
                    .error(
                        clap::error::ErrorKind::ArgumentConflict,
                        format!(
                            "--callout-header `{}: {}` must follow the --callout-response STATUS it belongs to",
                            header.0, header.1
                        ),
                    )
                    .exit(),
            }
        }
        if args.random == RandomSource::Os && args.seed.is_some() {
            Args::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    "--seed seeds `--random seeded`; with --random os the bytes are the operating system's: drop one",
                )
                .exit()
        }
        for set in &args.descriptor_sets {
            if let Err(e) = args.grpc_services.add_descriptor_set(&set.bytes) {
                Args::command()
                    .error(
                        clap::error::ErrorKind::ValueValidation,
                        format!(
                            "--descriptor-set `{}` clashes with those before it: {e}",
                            set.path
                        ),
                    )
                    .exit()
            }
        }
        if args.scenario.is_some() {
            use clap::parser::ValueSource;
            let command = Args::command();
            let others: Vec<String> = command
                .get_arguments()
                .filter(|a| !["module", "scenario"].contains(&a.get_id().as_str()))
                .filter(|a| {
                    matches.value_source(a.get_id().as_str()) == Some(ValueSource::CommandLine)
                })
                .map(|a| format!("--{}", a.get_long().unwrap_or(a.get_id().as_str())))
                .collect();
            if !others.is_empty() {
                Args::command()
                    .error(
                        clap::error::ErrorKind::ArgumentConflict,
                        format!(
                            "--scenario takes the plugin's configuration and each stream from the file: drop {} \
                             (write them in the file)",
                            others.join(", ")
                        ),
                    )
                    .exit()
            }
            return args;
        }
        let refused = args.flags_of_another_kind(&matches);
        if !refused.is_empty() {
            Args::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!(
                        "a --kind {} run has no use for {}: drop them, or give the --kind they belong to",
                        args.kind.name(),
                        refused.join(", ")
                    ),
                )
                .exit()
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_the_chunks_given_or_cut_by_the_chunk_size() {
        let body = Bytes(b"abcdefg".to_vec());
        let given = [Bytes(b"ab".to_vec()), Bytes(Vec::new())];
        assert_eq!(chunks(&given, None, Some(1)), [b"ab".as_slice(), b""]);
        assert_eq!(
            chunks(&[], Some(&body), Some(3)),
            [b"abc".as_slice(), b"def", b"g"]
        );
        assert_eq!(chunks(&[], Some(&body), None), [b"abcdefg".as_slice()]);
        let empty = Bytes(Vec::new());
        assert_eq!(chunks(&[], Some(&empty), Some(3)), [b"".as_slice()]);
        assert!(chunks(&[], None, Some(3)).is_empty());
    }

    #[test]
    fn an_unreadable_file_is_named() {
        let error = text_or_file("@/nonexistent/config.json").unwrap_err();
        assert!(
            error.contains("cannot read the file `/nonexistent/config.json`"),
            "{error}"
        );
    }
}
