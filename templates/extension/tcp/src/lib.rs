//! A network (TCP) filter: Envoy runs it as `envoy.filters.network.wasm` in front of its TCP proxy, one
//! `Connection` per downstream connection. It refuses clients from denied ranges and picks the TCP proxy's
//! cluster from the client's address with Envoy's `set_envoy_filter_state` foreign function, before the
//! proxy connects upstream. `config.rs` reads and checks the configuration once.

mod config;

use config::Config;
use log::{error, info, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, RootContext, StreamContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MetricType, PeerType};
use std::rc::Rc;

const NAME: &str = env!("CARGO_PKG_NAME");

/// The filter state key Envoy's TCP proxy reads for the cluster of a connection (`PerConnectionCluster`).
const TCP_PROXY_CLUSTER: &str = "envoy.tcp_proxy.cluster";

#[cfg(target_family = "wasm")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

proxy_wasm::main!({
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
});

#[derive(Default)]
struct Root {
    config: Rc<Config>,
    /// Bytes clients sent through the filter (`tcp_bytes_from_clients`).
    bytes_metric: u32,
}

impl Context for Root {}

impl RootContext for Root {
    // Returning false refuses the configuration: Envoy rejects the plugin and keeps the logged reason.
    fn on_configure(&mut self, _: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        match Config::parse(&bytes) {
            Ok(config) => {
                info!(
                    "{NAME} configured: {} route(s), {} denied range(s)",
                    config.routes.len(),
                    config.deny.len()
                );
                self.config = Rc::new(config);
                self.bytes_metric =
                    hostcalls::define_metric(MetricType::Counter, "tcp_bytes_from_clients")
                        .unwrap_or_default();
                true
            }
            Err(reason) => {
                error!("{NAME} rejected its configuration: {reason}");
                false
            }
        }
    }

    fn create_stream_context(&self, _: u32) -> Option<Box<dyn StreamContext>> {
        Some(Box::new(Connection {
            config: Rc::clone(&self.config),
            bytes_metric: self.bytes_metric,
        }))
    }

    // A network filter's root makes stream contexts: Envoy calls the TCP callbacks on them.
    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::StreamContext)
    }
}

struct Connection {
    config: Rc<Config>,
    bytes_metric: u32,
}

impl Context for Connection {}

impl StreamContext for Connection {
    // Runs before the TCP proxy connects upstream, so the cluster chosen here is the one it connects to.
    fn on_new_connection(&mut self) -> Action {
        let source = self
            .get_property(vec!["source", "address"])
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .unwrap_or_default();
        if self.config.denies(&source) {
            warn!("{NAME}: refused a client from {source}");
            self.close_downstream();
            return Action::Pause;
        }
        if let Some(cluster) = self.config.cluster_for(&source) {
            let arguments = filter_state_arguments(TCP_PROXY_CLUSTER, cluster);
            if let Err(status) =
                hostcalls::call_foreign_function("set_envoy_filter_state", Some(&arguments))
            {
                error!("{NAME}: could not route {source} to {cluster}: {status:?}");
            }
        }
        Action::Continue
    }

    // `size` counts everything Envoy's read buffer holds: bytes a `Pause` kept come again with the next ones.
    fn on_downstream_data(&mut self, size: usize, _end_of_stream: bool) -> Action {
        let _ = hostcalls::increment_metric(self.bytes_metric, size as i64);
        Action::Continue
    }

    fn on_upstream_data(&mut self, _size: usize, _end_of_stream: bool) -> Action {
        Action::Continue
    }

    fn on_downstream_close(&mut self, _peer: PeerType) {}

    // Runs once the connection ended (after `on_done`, before the context is deleted).
    fn on_log(&mut self) {}
}

/// `SetEnvoyFilterStateArguments { path = 1; value = 2; }` (Envoy's `set_envoy_filter_state.proto`) in protobuf's
/// wire format: two length-delimited strings.
fn filter_state_arguments(path: &str, value: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len() + value.len() + 8);
    for (tag, field) in [(0x0a, path), (0x12, value)] {
        out.push(tag);
        let mut len = field.len();
        while len >= 0x80 {
            out.push((len as u8 & 0x7f) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend_from_slice(field.as_bytes());
    }
    out
}
