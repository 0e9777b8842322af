//! Configuring a plugin before it starts: every setting Envoy's plugin and VM configuration carry, with Envoy's
//! defaults, and the start itself.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::envoy::Envoy;
use super::plugin::{Plugin, format_logs};
use super::service::Service;
use super::wiring;
use crate::envoy::{
    Builtin, Clusters, DEFAULT_HOST_MEMORY_LIMIT, FailurePolicy, ForeignFunction, LogEntry, Metric,
    NamesTwin, PluginVms, Properties, PropertyError, PropertyValue, Randomness, Settings,
    StartFailure, TrapReport,
};
use crate::spec::{LogLevel, Status};
use envoy_targets::{Change, Target, UnknownTarget};

/// [`PluginBuilder::module_size_limit`]'s default.
const DEFAULT_MODULE_SIZE_LIMIT: usize = 64 << 20;

/// [`PluginBuilder::compile_deadline`]'s default.
const DEFAULT_COMPILE_DEADLINE: Duration = Duration::from_secs(120);

/// Configures a plugin before [`PluginBuilder::start`]; every setting has an Envoy-like default.
pub struct PluginBuilder {
    module: Result<Module, String>,
    settings: Settings,
    /// Envoy's `failure_policy`, unset (UNSPECIFIED) until the test sets it.
    failure_policy: Option<FailurePolicy>,
    /// `vm_config.environment_variables`: `key_values` and `host_env_keys`.
    env: Vec<(String, String)>,
    host_env: Vec<String>,
    foreign: HashMap<String, ForeignFunction>,
    envoy: Option<Envoy>,
}

/// Why [`PluginBuilder::start`] failed, with the plugin's logs (its logged reason is usually the useful part).
#[derive(Debug)]
pub struct StartError {
    pub failure: StartFailure,
    pub message: String,
    pub logs: Vec<LogEntry>,
    /// The metrics the plugin defined and recorded before it failed (Envoy's stats store keeps them).
    pub metrics: Vec<Metric>,
    /// The trap that stopped the start (a panic in `on_configure`…), with its backtrace, if the guest trapped.
    pub trap: Option<Box<TrapReport>>,
}

pub(super) enum Module {
    Path(PathBuf),
    Bytes(Vec<u8>),
}

impl PluginBuilder {
    pub(super) fn new(module: Result<Module, String>) -> PluginBuilder {
        PluginBuilder {
            module,
            settings: Settings {
                envoy: envoy_targets::Envoy::NEWEST,
                name: "plugin".into(),
                root_id: String::new(),
                vm_id: String::new(),
                vm_config: Vec::new(),
                config: Vec::new(),
                failure_policy: FailurePolicy::Closed,
                legacy_fail_open: false,
                reload_backoff: DEFAULT_RELOAD_BACKOFF,
                env: Vec::new(),
                log_level: LogLevel::Trace,
                clusters: Clusters::Only(Vec::new()),
                properties: Properties::new(),
                memory_limit: 1 << 30,
                host_memory_limit: DEFAULT_HOST_MEMORY_LIMIT,
                disk_cache: wiring::disk_cache(true),
                module_size_limit: DEFAULT_MODULE_SIZE_LIMIT,
                compile_deadline: DEFAULT_COMPILE_DEADLINE,
                // Envoy's default `per_connection_buffer_limit_bytes`.
                buffer_limit: 1 << 20,
                allow_on_headers_stop_iteration: false,
                grpc_timeout_returns_deadline_exceeded: false,
                call_deadline: Duration::from_secs(2),
                step_deadline: None,
                // 2024-01-01T00:00:00Z: fixed, so tests are reproducible.
                start_time: Duration::from_secs(1_704_067_200),
                randomness: Randomness::default(),
                names_twin: NamesTwin::None,
            },
            failure_policy: None,
            env: Vec::new(),
            host_env: Vec::new(),
            foreign: HashMap::new(),
            envoy: None,
        }
    }

    /// The module's names twin: the same module with its `name` section, whose function names a trap report's
    /// backtrace shows (a shipped module keeps none). By default the host uses `plugin.names.wasm` beside a module
    /// loaded from `plugin.wasm`, which `cargo xtask build` writes; a file given here must match the module.
    pub fn names(mut self, twin: impl Into<PathBuf>) -> PluginBuilder {
        self.settings.names_twin = NamesTwin::File(twin.into());
        self
    }

    /// The plugin configuration (`on_configure`), e.g. JSON text.
    pub fn config(mut self, config: impl AsRef<[u8]>) -> PluginBuilder {
        self.settings.config = config.as_ref().to_vec();
        self
    }

    /// The VM configuration (`on_vm_start`).
    pub fn vm_config(mut self, config: impl AsRef<[u8]>) -> PluginBuilder {
        self.settings.vm_config = config.as_ref().to_vec();
        self
    }

    /// Plugin name (property `plugin_name`); default `plugin`.
    pub fn name(mut self, name: &str) -> PluginBuilder {
        self.settings.name = name.into();
        self
    }

    /// Root id (property `plugin_root_id`); default empty.
    pub fn root_id(mut self, root_id: &str) -> PluginBuilder {
        self.settings.root_id = root_id.into();
        self
    }

    /// VM id (property `plugin_vm_id`, shared-queue resolution); default empty.
    pub fn vm_id(mut self, vm_id: &str) -> PluginBuilder {
        self.settings.vm_id = vm_id.into();
        self
    }

    /// Envoy's legacy `fail_open`: after a failure every stream bypasses the plugin, the one in the VM when it
    /// failed included. Envoy maps it to FAIL_OPEN and refuses a configuration that sets both it and
    /// [`failure_policy`](Self::failure_policy). Envoy Gateway's `failOpen` sets this one.
    pub fn fail_open(mut self, fail_open: bool) -> PluginBuilder {
        self.settings.legacy_fail_open = fail_open;
        self
    }

    /// Envoy's `failure_policy` (Istio's `failStrategy` since 1.25): what streams get once the VM failed at run time.
    /// Default [`FailurePolicy::Closed`], Envoy's meaning of UNSPECIFIED.
    pub fn failure_policy(mut self, policy: FailurePolicy) -> PluginBuilder {
        self.failure_policy = Some(policy);
        self
    }

    /// FAIL_RELOAD's `reload_config.backoff.base_interval`: Envoy waits between 1× and 1.5× this (random) after a
    /// VM was loaded before it replaces it; the host waits 1.5×, so a reload it shows happens in Envoy too. Default
    /// 1 s, Envoy's. Advance virtual time ([`Plugin::advance_time`]) to get past it.
    pub fn reload_backoff(mut self, base_interval: Duration) -> PluginBuilder {
        self.settings.reload_backoff = base_interval;
        self
    }

    /// Environment variables the VM sees through WASI `environ_get` (`vm_config.environment_variables.key_values`;
    /// Istio `vmConfig.env` with `valueFrom: INLINE`). Repeatable. Envoy keeps them in a hash map: do not rely on
    /// their order (the host sorts them by name).
    pub fn env(mut self, variables: &[(&str, &str)]) -> PluginBuilder {
        let variables = variables
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()));
        self.env.extend(variables);
        self
    }

    /// Environment variables the VM takes from the host process (`environment_variables.host_env_keys`; Istio
    /// `valueFrom: HOST`, Envoy Gateway `env.hostKeys`): each is read from this process's environment when the
    /// plugin starts, and left out when it is not set, as Envoy does.
    pub fn host_env(mut self, names: &[&str]) -> PluginBuilder {
        self.host_env.extend(names.iter().map(|n| n.to_string()));
        self
    }

    /// The log level Envoy runs at: what `proxy_get_log_level` returns, and lower levels are dropped. Default
    /// `Trace` (everything captured).
    pub fn log_level(mut self, level: LogLevel) -> PluginBuilder {
        self.settings.log_level = level;
        self
    }

    /// Sets attribute `path` for every stream (and `xds.node.*` for the root context too), typed as Envoy types
    /// it, e.g. `.property(&["xds", "node", "id"], "sidecar~10.0.0.1~app")` or
    /// `.property(&["metadata", "filter_metadata", "envoy.filters.http.lua", "user"], "alice")`. Panics, saying
    /// why, where Envoy has no such attribute or another type (see [`Properties::set`]).
    #[track_caller]
    pub fn property(self, path: &[&str], value: impl Into<PropertyValue>) -> PluginBuilder {
        match self.try_property(path, value) {
            Ok(builder) => builder,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`property`](Self::property), returning why Envoy has no such attribute instead of panicking.
    pub fn try_property(
        mut self,
        path: &[&str],
        value: impl Into<PropertyValue>,
    ) -> Result<PluginBuilder, BuilderError> {
        match self.settings.properties.set(path, value) {
            Ok(_) => Ok(self),
            Err(error) => Err(BuilderError::Property {
                path: path.join("."),
                error,
            }),
        }
    }

    /// Uses `properties` (built and checked beforehand, e.g. from a file) in place of the values set so far; call
    /// it before `.property(..)` and the helpers to add to it.
    pub fn properties(mut self, properties: &Properties) -> PluginBuilder {
        self.settings.properties = properties.clone();
        self
    }

    /// `xds.node.metadata.<key>`: the proxy's node metadata (Istio's labels, `MESH_ID`, `CLUSTER_ID`, …); numbers
    /// become doubles, as in Envoy's `google.protobuf.Struct`.
    #[track_caller]
    pub fn node_metadata(self, key: &str, value: impl Into<PropertyValue>) -> PluginBuilder {
        self.property(&["xds", "node", "metadata", key], value)
    }

    /// `metadata.filter_metadata.<filter>.<key>` for every stream: dynamic metadata an earlier filter left.
    #[track_caller]
    pub fn filter_metadata(
        self,
        filter: &str,
        key: &str,
        value: impl Into<PropertyValue>,
    ) -> PluginBuilder {
        self.property(&["metadata", "filter_metadata", filter, key], value)
    }

    /// `source.address` and `source.port` from `IP:PORT` (the downstream client).
    #[track_caller]
    pub fn source_address(mut self, address: &str) -> PluginBuilder {
        if let Err(e) = self.settings.properties.source_address(address) {
            panic!("source address: {e}");
        }
        self
    }

    /// `destination.address` and `destination.port` from `IP:PORT` (where the request arrived).
    #[track_caller]
    pub fn destination_address(mut self, address: &str) -> PluginBuilder {
        if let Err(e) = self.settings.properties.destination_address(address) {
            panic!("destination address: {e}");
        }
        self
    }

    /// The clusters Envoy's configuration has. A callout to any other name is refused as Envoy refuses it:
    /// `dispatch_http_call` BadArgument, `dispatch_grpc_call`/`open_grpc_stream` ParseFailure, with a host log line
    /// naming the cluster. Default: none, so every callout is refused until the test declares its clusters.
    pub fn clusters(mut self, clusters: &[&str]) -> PluginBuilder {
        self.settings.clusters = Clusters::Only(clusters.iter().map(|c| c.to_string()).collect());
        self
    }

    /// Accepts every cluster name, as no Envoy does: for exploring a module whose clusters are unknown
    /// (`proxy-wasm-run` without `--cluster`). A test should declare its clusters with [`Self::clusters`].
    pub fn any_cluster(mut self) -> PluginBuilder {
        self.settings.clusters = Clusters::Any;
        self
    }

    /// Linear-memory limit; growing beyond it traps (fails the VM). Default 1 GiB, cpp-host's cap. It bounds the
    /// whole module: the host accepts one memory, one instance and at most 4 tables of 2^20 elements.
    pub fn memory_limit(mut self, bytes: usize) -> PluginBuilder {
        self.settings.memory_limit = bytes;
        self
    }

    /// What the host may hold on the plugin's behalf outside its linear memory, in all its VMs together (base,
    /// canary, workers): the log lines it keeps, pending HTTP and gRPC callouts (headers, bodies, messages), local
    /// replies and deferred stream actions, metric names and histogram samples, filter state and declared
    /// properties, the items of each shared queue it fills, the queue names and shared data of its vm_id. Each
    /// entry costs 64 bytes besides its contents. A host call that would go past it fails the VM, naming what the
    /// plugin asked for. Default 64 MiB.
    pub fn host_memory_limit(mut self, bytes: usize) -> PluginBuilder {
        self.settings.host_memory_limit = bytes;
        self
    }

    /// The largest module the host compiles; a larger one is refused ([`StartFailure::Load`]) before any of it is
    /// parsed. Default 64 MiB, several times the largest proxy-wasm modules (Go, C++ with their runtimes).
    pub fn module_size_limit(mut self, bytes: usize) -> PluginBuilder {
        self.settings.module_size_limit = bytes;
        self
    }

    /// How long compiling the module may take; longer is [`StartFailure::Load`] at once (Cranelift cannot be
    /// interrupted: that compile finishes in the background, unused). Default 2 min, room for a large module on the
    /// debug-built Cranelift of `cargo test`. A module found in the compiled-code cache is not compiled.
    pub fn compile_deadline(mut self, deadline: Duration) -> PluginBuilder {
        self.settings.compile_deadline = deadline;
        self
    }

    /// Whether compiled code is kept in (and loaded from) `<target>/proxy-wasm-host/`, so the next process skips
    /// the compile; default true. Turn it off for modules you do not trust with a shared target directory; the
    /// environment variable `PROXY_WASM_HOST_NO_CACHE=1` turns it off for every plugin.
    pub fn disk_cache(mut self, enabled: bool) -> PluginBuilder {
        self.settings.disk_cache = wiring::disk_cache(enabled);
        self
    }

    /// Envoy's `allow_on_headers_stop_iteration` (Wasm `PluginConfig`, Envoy 1.35+; Istio's WasmPlugin does not
    /// expose it): `Pause` on headers becomes a plain StopIteration, so the headers wait while body and trailers
    /// still reach the plugin, and a `Continue` from the body or trailers callback sends the headers on with the
    /// data. Default false, as in Envoy: `Pause` holds everything (StopAllIterationAndWatermark) until a resume.
    pub fn allow_on_headers_stop_iteration(mut self, allow: bool) -> PluginBuilder {
        self.settings.allow_on_headers_stop_iteration = allow;
        self
    }

    /// Envoy's runtime guard `envoy.reloadable_features.grpc_timeout_returns_deadline_exceeded`
    /// (envoyproxy/envoy#44479, Envoy 1.38+): a gRPC callout whose timeout expires closes with 4 DeadlineExceeded
    /// instead of 14 Unavailable. Default false, as in Envoy; a release without the guard ignores it, as Envoy
    /// ignores an unknown runtime key.
    pub fn grpc_timeout_returns_deadline_exceeded(mut self, on: bool) -> PluginBuilder {
        self.settings.grpc_timeout_returns_deadline_exceeded = on;
        self
    }

    /// Envoy's per-stream buffer limit: a body a filter buffers (body `Pause`, StopIterationAndBuffer) beyond it
    /// gets Envoy's 413 (request) or 500 / reset (response). Default 1 MiB, Envoy's default
    /// `per_connection_buffer_limit_bytes`; meshes may set another on the listener.
    pub fn buffer_limit(mut self, bytes: usize) -> PluginBuilder {
        self.settings.buffer_limit = bytes;
        self
    }

    /// How long one guest call may run before it is stopped (fails the VM). Default 2 s.
    pub fn call_deadline(mut self, deadline: Duration) -> PluginBuilder {
        self.settings.call_deadline = deadline;
        self
    }

    /// How long one step may take in all: the deferred actions and queue notifications that run after a guest
    /// call, or the ticks and timeouts of one [`Plugin::advance_time`], each call under
    /// [`call_deadline`](Self::call_deadline). A plugin whose queue feeds itself a little at a time never trips the
    /// call deadline; this stops it (fails the VM). Default: the call deadline.
    pub fn step_deadline(mut self, deadline: Duration) -> PluginBuilder {
        self.settings.step_deadline = Some(deadline);
        self
    }

    /// Where WASI `random_get` takes its bytes: by default `Randomness::Seeded(Randomness::DEFAULT_SEED)`, the
    /// same bytes on every run; `Randomness::Seeded(n)` another reproducible stream; `Randomness::Os` the
    /// operating system's, as Envoy (BoringSSL's `RAND_bytes`), different on every run.
    pub fn random(mut self, randomness: Randomness) -> PluginBuilder {
        self.settings.randomness = randomness;
        self
    }

    /// The virtual wall-clock time at start. Default 2024-01-01T00:00:00Z.
    pub fn start_time(mut self, time: SystemTime) -> PluginBuilder {
        self.settings.start_time = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        self
    }

    /// The mesh or Envoy release the plugin runs on, named as `cargo xtask deploy --for` and `check --for` name it
    /// (`"istio-1.24"`, `"ossm-2.6"`, `"envoy-gateway-1.5"`, `"envoy-1.34"`; `"envoy"` and `"istio"` are the newest).
    /// The host then links what that release's Envoy links (a module importing a WASI function it lacks does not
    /// load) and behaves as its Wasm filter does where releases differ (`envoy_targets::DIFFERENCES`: the gRPC
    /// timeout status, `poll_oneoff`, which configuration fields exist, the context foreign functions act on).
    /// Default: the newest Envoy modelled.
    #[track_caller]
    pub fn target(self, target: &str) -> PluginBuilder {
        match self.try_target(target) {
            Ok(builder) => builder,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`target`](Self::target), returning the unknown name's error (which lists the targets there are) instead
    /// of panicking.
    pub fn try_target(mut self, target: &str) -> Result<PluginBuilder, BuilderError> {
        let target = target.parse::<Target>().map_err(BuilderError::Target)?;
        self.settings.envoy = target.envoy();
        Ok(self)
    }

    /// Runs the plugin in `envoy`'s process: it shares shared data and queues with the other plugins there that
    /// have its vm_id (see [`Envoy`]). Without it the plugin has a process of its own.
    pub fn on(mut self, envoy: &Envoy) -> PluginBuilder {
        self.envoy = Some(envoy.clone());
        self
    }

    /// Registers a host function for `proxy_call_foreign_function(name, args)`, as a custom Envoy build would.
    /// Envoy's own functions (`compress`, `uncompress`, `set_envoy_filter_state`, `declare_property`,
    /// `clear_route_cache`) are always there and cannot be replaced: registering one of those names panics.
    #[track_caller]
    pub fn foreign_function(
        self,
        name: &str,
        function: impl FnMut(&[u8]) -> Result<Vec<u8>, Status> + 'static,
    ) -> PluginBuilder {
        match self.try_foreign_function(name, function) {
            Ok(builder) => builder,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`foreign_function`](Self::foreign_function), returning an error for one of Envoy's own names instead of
    /// panicking.
    pub fn try_foreign_function(
        mut self,
        name: &str,
        function: impl FnMut(&[u8]) -> Result<Vec<u8>, Status> + 'static,
    ) -> Result<PluginBuilder, BuilderError> {
        if Builtin::named(name.as_bytes()).is_some() {
            return Err(BuilderError::EnvoysOwnForeignFunction(name.to_string()));
        }
        self.foreign.insert(name.to_string(), Box::new(function));
        Ok(self)
    }

    /// Starts the plugin as a Wasm service (Envoy's bootstrap extension): the same VMs as [`PluginBuilder::start`],
    /// and a handle with no streams or connections.
    pub fn start_service(self) -> Result<Service, StartError> {
        self.start().map(Service::new)
    }

    /// Loads the module and starts the plugin; `Err` if it does not load or its root context refuses to start.
    pub fn start(self) -> Result<Plugin, StartError> {
        let error = |failure: StartFailure, message: String| StartError {
            failure,
            message,
            logs: Vec::new(),
            metrics: Vec::new(),
            trap: None,
        };
        let load_error = |message: String| error(StartFailure::Load, message);
        let mut settings = self.settings;
        settings.failure_policy = match (settings.legacy_fail_open, self.failure_policy) {
            (true, Some(_)) => {
                return Err(error(
                    StartFailure::Config,
                    "only one of fail_open or failure_policy can be set (Envoy rejects the plugin configuration): \
                     use failure_policy(FailurePolicy::Open) alone"
                        .into(),
                ));
            }
            (true, None) => FailurePolicy::Open,
            (false, policy) => policy.unwrap_or_default(),
        };
        refuse_fields_the_release_lacks(&settings, self.failure_policy.is_some())
            .map_err(|message| error(StartFailure::Config, message))?;
        if settings.reload_backoff < Duration::from_millis(1) {
            return Err(error(
                StartFailure::Config,
                format!(
                    "reload_backoff({:?}): Envoy requires reload_config.backoff.base_interval of at least 1ms",
                    settings.reload_backoff
                ),
            ));
        }
        settings.env = environment(&self.env, &self.host_env, &settings.name)
            .map_err(|message| error(StartFailure::Config, message))?;
        let bytes = match self.module.map_err(load_error)? {
            Module::Bytes(bytes) => bytes,
            Module::Path(path) => {
                if matches!(settings.names_twin, NamesTwin::None) {
                    settings.names_twin = NamesTwin::beside(&path);
                }
                read_at_most(&path, settings.module_size_limit).map_err(|e| {
                    load_error(format!("cannot read the module {}: {e}", path.display()))
                })?
            }
        };
        let (process, cache) = match &self.envoy {
            Some(envoy) => (envoy.process.clone(), Some(&*envoy.starts)),
            None => Default::default(),
        };
        let functions = wiring::host_functions().map_err(load_error)?;
        let vms = PluginVms::start(&bytes, settings, self.foreign, process, cache, functions)
            .map_err(|e| StartError {
                failure: e.failure,
                message: e.message,
                logs: e.logs,
                metrics: e
                    .kept
                    .map(|kept| kept.metrics.all().cloned().collect())
                    .unwrap_or_default(),
                trap: e.trap,
            })?;
        Ok(Plugin {
            vms: RefCell::new(vms),
        })
    }
}

/// Envoy's configuration proto of an older release has no such field: the listener with the plugin is refused.
fn refuse_fields_the_release_lacks(
    settings: &Settings,
    failure_policy_set: bool,
) -> Result<(), String> {
    let envoy = settings.envoy;
    let lacks = |field: &str, change: Change| {
        let row = envoy_targets::DIFFERENCES
            .iter()
            .find(|d| d.change == change)
            .map_or(String::new(), |d| {
                format!(" (from Envoy 1.{}: {})", d.first(), d.source())
            });
        format!(
            "{envoy}'s Wasm filter configuration has no `{field}`{row}: Envoy refuses the configuration. Target a \
             newer release or leave the setting out"
        )
    };
    if failure_policy_set && !envoy.has(Change::FailurePolicy) {
        return Err(lacks("failure_policy", Change::FailurePolicy)
            + "; `fail_open(true)` is that release's FAIL_OPEN");
    }
    if settings.allow_on_headers_stop_iteration && !envoy.has(Change::AllowOnHeadersStopIteration) {
        return Err(lacks(
            "allow_on_headers_stop_iteration",
            Change::AllowOnHeadersStopIteration,
        ));
    }
    Ok(())
}

/// The file's first `limit + 1` bytes: enough for the load to see it is over the module size limit, without reading
/// a file of any size into memory.
fn read_at_most(path: &std::path::Path, limit: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take((limit as u64).saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

impl StartError {
    /// The reason the plugin gave: its last warning-or-worse log line, else the host's message.
    pub fn reason(&self) -> &str {
        self.logs
            .iter()
            .rev()
            .find(|l| l.level >= LogLevel::Warn)
            .map_or(self.message.as_str(), |l| l.message.as_str())
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.failure {
            StartFailure::Config => "Envoy rejected the plugin configuration",
            StartFailure::Load => "the module did not load",
            StartFailure::Initialize => "the module's start function failed",
            StartFailure::VmStart => "the plugin failed to start (on_vm_start)",
            StartFailure::Configure => "the plugin failed to configure (on_configure)",
        };
        write!(f, "{what}: {}", super::printable(&self.message))?;
        if !self.logs.is_empty() {
            write!(f, "\n{}", format_logs(&self.logs))?;
        }
        Ok(())
    }
}

impl std::error::Error for StartError {}

/// A setting a [`PluginBuilder`] refuses: what its `try_` methods return, and what the plain ones panic with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuilderError {
    /// `property`: Envoy has no attribute at `path`, or gives it another type there.
    Property { path: String, error: PropertyError },
    /// `target`: the name is no mesh or Envoy release modelled.
    Target(UnknownTarget),
    /// `foreign_function`: the name is one of Envoy's own functions, which every plugin has.
    EnvoysOwnForeignFunction(String),
}

impl fmt::Display for BuilderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuilderError::Property { path, error } => write!(f, "property {path}: {error}"),
            BuilderError::Target(e) => write!(f, "PluginBuilder::target: {e}"),
            BuilderError::EnvoysOwnForeignFunction(name) => write!(
                f,
                "`{name}` is one of Envoy's own foreign functions (foreign.cc), which every plugin here has as in \
                 Envoy; a test cannot replace it. Register a stand-in under another name"
            ),
        }
    }
}

impl std::error::Error for BuilderError {}

/// FAIL_RELOAD's default `base_interval` (Envoy `PluginConfig`: 1000 ms when unset).
const DEFAULT_RELOAD_BACKOFF: Duration = Duration::from_secs(1);

/// The VM's environment as Envoy's `WasmConfig` builds it: `key_values`, then the `host_env_keys` set in this
/// process; a name in both is a configuration error (Envoy's own message).
fn environment(
    key_values: &[(String, String)],
    host_keys: &[String],
    plugin: &str,
) -> Result<Vec<(String, String)>, String> {
    let mut names = BTreeSet::new();
    for name in key_values.iter().map(|(k, _)| k).chain(host_keys) {
        if !names.insert(name) {
            return Err(format!(
                "Key {name} is duplicated in envoy.extensions.wasm.v3.VmConfig.environment_variables for {plugin}. \
                 All the keys must be unique. (Set each variable once, with env() or host_env().)"
            ));
        }
    }
    let mut env: BTreeMap<String, String> = key_values.iter().cloned().collect();
    for name in host_keys {
        if let Some(value) = std::env::var_os(name) {
            env.insert(name.clone(), value.to_string_lossy().into_owned());
        }
    }
    Ok(env.into_iter().collect())
}
