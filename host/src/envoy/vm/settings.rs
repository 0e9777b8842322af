//! What a VM starts with: the plugin and VM configuration Envoy holds, and the failure policy.

use std::time::Duration;

use crate::envoy::Properties;
use crate::envoy::cache::DiskCache;
use crate::spec::LogLevel;

/// The plugin-level configuration a VM starts with (what Envoy's `PluginConfig`/`VmConfig` carry).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The Envoy release that runs the plugin: what it links and how its Wasm filter behaves.
    pub(crate) envoy: envoy_targets::Envoy,
    pub(crate) name: String,
    pub(crate) root_id: String,
    pub(crate) vm_id: String,
    pub(crate) vm_config: Vec<u8>,
    pub(crate) config: Vec<u8>,
    /// What happens to streams once the VM failed at run time (Envoy `PluginConfig.failure_policy`).
    pub(crate) failure_policy: FailurePolicy,
    /// Envoy's legacy `PluginConfig.fail_open`, which cpp-host's `CHECK_FAIL` still reads (`PluginBase::fail_open_`):
    /// a stream already in the VM when it fails bypasses the plugin only with this, not with `FailurePolicy::Open`.
    pub(crate) legacy_fail_open: bool,
    /// FAIL_RELOAD's `reload_config.backoff.base_interval`: a failed VM is replaced at most this often.
    pub(crate) reload_backoff: Duration,
    /// The VM's environment variables (`vm_config.environment_variables`), what WASI `environ_get` returns.
    pub(crate) env: Vec<(String, String)>,
    pub(crate) log_level: LogLevel,
    /// The clusters Envoy's configuration has (callouts to others are refused).
    pub(crate) clusters: crate::envoy::Clusters,
    /// Attribute values the test set for every stream (and `xds.node` for the root context too).
    pub(crate) properties: Properties,
    pub(crate) memory_limit: usize,
    /// What the host may hold for the plugin (logs, callouts, queue items): see [`ByteBudget`].
    pub(crate) host_memory_limit: usize,
    pub(crate) disk_cache: DiskCache,
    /// The largest module the host compiles.
    pub(crate) module_size_limit: usize,
    /// How long compiling the module may take.
    pub(crate) compile_deadline: Duration,
    /// Envoy's `allow_on_headers_stop_iteration`: Pause on headers is a plain StopIteration.
    pub(crate) allow_on_headers_stop_iteration: bool,
    /// Envoy's runtime guard `envoy.reloadable_features.grpc_timeout_returns_deadline_exceeded` (1.38+, off by
    /// default): a timed-out gRPC callout closes with DeadlineExceeded instead of Unavailable.
    pub(crate) grpc_timeout_returns_deadline_exceeded: bool,
    /// Envoy's per-stream buffer limit (the listener's `per_connection_buffer_limit_bytes`).
    pub(crate) buffer_limit: usize,
    pub(crate) call_deadline: Duration,
    /// How long the host's work after one guest call (deferred actions, queue notifications, ticks of one
    /// `advance_time`) may take in all; `None`: as long as one call may.
    pub(crate) step_deadline: Option<Duration>,
    pub(crate) start_time: Duration,
    /// Where WASI `random_get` takes its bytes.
    pub(crate) randomness: Randomness,
    /// Where the module's names twin is, for trap reports that name the Rust functions.
    pub(crate) names_twin: crate::envoy::NamesTwin,
}

impl Settings {
    /// See [`Settings::step_deadline`].
    pub(crate) fn step_deadline(&self) -> Duration {
        self.step_deadline.unwrap_or(self.call_deadline)
    }
}

/// What Envoy does with a plugin whose VM failed at run time (a trap, a deadline, a memory limit): Envoy's
/// `PluginConfig.failure_policy` (Istio `failStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// FAIL_CLOSED, the default: every stream gets a 503 from then on.
    #[default]
    Closed,
    /// FAIL_OPEN: streams created after the failure bypass the plugin. A stream already in the VM still gets the 503
    /// (cpp-host's `CHECK_FAIL` reads only the legacy `fail_open`).
    Open,
    /// FAIL_RELOAD: the next stream created once the reload backoff has passed gets a fresh VM (started and
    /// configured again; its memory is new, shared data and metrics are the process's and survive). Until then, and
    /// for the streams of the failed VM, FAIL_CLOSED.
    Reload,
}

/// Where WASI `random_get` takes its bytes. Envoy fills them from BoringSSL's CSPRNG (cpp-host
/// `wasi_unstable_random_get`, `src/exports.cc`: `RAND_bytes`), different on every run; the host's default is a
/// seeded stream instead, so a test or a dry run of a plugin that draws random numbers (sampling, ids, jitter)
/// gives the same result every time. [`Randomness::Os`] is Envoy's behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Randomness {
    /// A pseudo-random stream (splitmix64) from this seed, the same in every VM of the plugin.
    Seeded(u64),
    /// The operating system's random bytes, as Envoy's: different on every run.
    Os,
}

impl Randomness {
    /// The seed of the default stream.
    pub const DEFAULT_SEED: u64 = 0x5EED;
}

impl Default for Randomness {
    fn default() -> Randomness {
        Randomness::Seeded(Randomness::DEFAULT_SEED)
    }
}

/// Why a plugin did not start, Envoy's way: the configuration was refused, the module did not load, `_initialize`
/// trapped, or the root context refused (`on_vm_start`/`on_configure` returned false or trapped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFailure {
    /// Envoy refused the plugin configuration itself (for example both `fail_open` and `failure_policy`, or an
    /// environment variable named twice).
    Config,
    /// The file could not be read, compiled or linked (unknown import, missing ABI marker or allocator).
    Load,
    /// `_initialize`/`_start`/`main` trapped.
    Initialize,
    /// `proxy_on_vm_start` returned false or trapped.
    VmStart,
    /// `proxy_on_configure` returned false or trapped.
    Configure,
}
