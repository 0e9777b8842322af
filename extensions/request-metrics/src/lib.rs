//! Request metrics with labels: a counter and a duration histogram per route, method and status class. Envoy
//! exports a plugin's metric under the name it defines (prefixed `wasmcustom.`), and only its stats tag rules turn
//! parts of a name into labels, so the labels are written into the names
//! (`request_metrics.route.orders.method.GET.status.2xx.requests`) and the rules in `Cargo.toml` (`stats-tags`,
//! which `cargo xtask deploy` writes into the proxy's configuration) take them out again:
//! `request_metrics_requests{route="orders",method="GET",status_class="2xx"}`.

mod config;

use config::{Config, OTHER};
use log::{error, info, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MapType, MetricType};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

const NAME: &str = env!("CARGO_PKG_NAME");
/// Methods that get a label of their own; any other counts as `other` (clients choose methods freely).
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
];
/// Series one VM defines at most: with the proxy's route names as labels, the mesh's routes bound them; this
/// bounds them for a mesh with thousands of routes too.
const MOST_SERIES: usize = 5_000;

#[cfg(target_family = "wasm")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

proxy_wasm::main!({
    proxy_wasm::set_log_level(LogLevel::Debug);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
});

/// The metric ids of one route × method × status class.
#[derive(Clone, Copy)]
struct Series {
    requests: u32,
    duration: u32,
}

/// What every stream of the plugin shares: the configuration and the series defined so far.
struct Shared {
    config: Config,
    series: RefCell<HashMap<String, Series>>,
}

#[derive(Default)]
struct Root {
    shared: Option<Rc<Shared>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        let config = match Config::parse(&bytes) {
            Ok(config) => config,
            Err(reason) => {
                error!("{NAME} rejected its configuration: {reason}");
                return false;
            }
        };
        match config.routes.len() {
            0 => info!("{NAME} configured: the proxy's route names label the metrics"),
            n => {
                info!("{NAME} configured: {n} routes label the metrics, the rest count as {OTHER}")
            }
        }
        self.shared = Some(Rc::new(Shared {
            config,
            series: RefCell::default(),
        }));
        true
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Measure {
            shared: Rc::clone(self.shared.as_ref()?),
            started: None,
            route: String::new(),
            method: OTHER,
            status: None,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Measure {
    shared: Rc<Shared>,
    started: Option<SystemTime>,
    route: String,
    method: &'static str,
    status: Option<u16>,
}

impl Context for Measure {}

impl HttpContext for Measure {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        self.started = Some(self.get_current_time());
        let header = |name| {
            hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, name)
                .ok()
                .flatten()
                .unwrap_or_default()
        };
        let method = header(":method");
        self.method = METHODS
            .into_iter()
            .find(|m| m.as_bytes() == method)
            .unwrap_or(OTHER);
        self.route = match self.shared.config.route_of(&header(":path")) {
            Some(route) => route.to_owned(),
            None => label(
                &hostcalls::get_property(vec!["xds", "route_name"])
                    .ok()
                    .flatten()
                    .unwrap_or_default(),
            ),
        };
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        self.status = hostcalls::get_map_value_bytes(MapType::HttpResponseHeaders, ":status")
            .ok()
            .flatten()
            .and_then(|s| std::str::from_utf8(&s).ok()?.parse().ok());
        Action::Continue
    }

    // The stream is over (answered, reset or refused): one count and one duration.
    fn on_log(&mut self) {
        // A stream whose request headers never reached this filter (a reset before them) has nothing to count.
        let Some(started) = self.started else {
            return;
        };
        let elapsed = self
            .get_current_time()
            .duration_since(started)
            .unwrap_or(Duration::ZERO);
        let class = match self.status {
            Some(status @ 100..=599) => {
                ["1xx", "2xx", "3xx", "4xx", "5xx"][usize::from(status / 100 - 1)]
            }
            _ => "none",
        };
        let Some(series) = self.series(class) else {
            return;
        };
        let _ = hostcalls::increment_metric(series.requests, 1);
        let _ = hostcalls::record_metric(series.duration, elapsed.as_millis() as u64);
    }
}

impl Measure {
    /// The ids of this request's series, defined on first use.
    fn series(&self, class: &str) -> Option<Series> {
        let mut defined = self.shared.series.borrow_mut();
        let mut key = format!(
            "request_metrics.route.{}.method.{}.status.{class}",
            self.route, self.method
        );
        if !defined.contains_key(&key) && defined.len() >= MOST_SERIES {
            key = format!(
                "request_metrics.route.{OTHER}.method.{}.status.{class}",
                self.method
            );
        }
        if let Some(series) = defined.get(&key) {
            return Some(*series);
        }
        let define = |kind, suffix| hostcalls::define_metric(kind, &format!("{key}.{suffix}"));
        match (
            define(MetricType::Counter, "requests"),
            define(MetricType::Histogram, "duration_ms"),
        ) {
            (Ok(requests), Ok(duration)) => {
                let series = Series { requests, duration };
                defined.insert(key, series);
                Some(series)
            }
            (Err(status), _) | (_, Err(status)) => {
                warn!("{NAME}: cannot define the metrics {key}: {status:?}");
                None
            }
        }
    }
}

/// The proxy's route name as a label: characters that would split the metric name made `_`, at most 64 bytes;
/// no name at all is `other`.
fn label(name: &[u8]) -> String {
    let text: String = name
        .iter()
        .take(64)
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b == b'-' {
                char::from(b)
            } else {
                '_'
            }
        })
        .collect();
    if text.is_empty() {
        OTHER.to_owned()
    } else {
        text
    }
}
