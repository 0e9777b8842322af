//! External authorization by callout, speaking Envoy's own ext_authz protocols: each request is held while the
//! configured service is asked (gRPC `Authorization/Check` or plain HTTP), then goes upstream with the headers the
//! service added, or is answered with the service's denial, or meets the failure policy. `config.rs` reads the
//! configuration, `grpc.rs` and `http.rs` speak the protocols, `verdict.rs` is what they decide; this file asks
//! the proxy and applies the decision.

mod config;
mod grpc;
mod http;
mod proto;
mod verdict;

use config::{Config, OnFailure, Protocol};
use log::{debug, error, info, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType};
use std::rc::Rc;
use std::time::UNIX_EPOCH;
use verdict::{Apply, Request, Verdict};

const NAME: &str = env!("CARGO_PKG_NAME");

#[cfg(target_family = "wasm")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

proxy_wasm::main!({
    // Debug lines reach the proxy, which drops them unless its own wasm log level is debug.
    proxy_wasm::set_log_level(LogLevel::Debug);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
});

/// Envoy's ext_authz filter counters, by the same names.
struct Counters {
    ok: Option<u32>,
    denied: Option<u32>,
    error: Option<u32>,
    failure_mode_allowed: Option<u32>,
    skipped: Option<u32>,
}

struct Shared {
    config: Config,
    counters: Counters,
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
        info!("{NAME} configured: {}", config.summary());
        // Prometheus: ext_authz_ok, ext_authz_denied, ...; a failed definition only costs the count.
        let counter = |name: &str| hostcalls::define_metric(MetricType::Counter, name).ok();
        self.shared = Some(Rc::new(Shared {
            counters: Counters {
                ok: counter("ext_authz.ok"),
                denied: counter("ext_authz.denied"),
                error: counter("ext_authz.error"),
                failure_mode_allowed: counter("ext_authz.failure_mode_allowed"),
                skipped: counter("ext_authz.skipped"),
            },
            config,
        }));
        true
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        let shared = Rc::clone(self.shared.as_ref()?);
        Some(Box::new(Check {
            shared,
            request: Request::default(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Check {
    shared: Rc<Shared>,
    /// The request being checked, kept for the log line of the decision.
    request: Request,
}

impl HttpContext for Check {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        // As bytes: Envoy passes values that are not UTF-8 (obs-text), and the SDK's String getters panic on them.
        let headers = hostcalls::get_map_bytes(MapType::HttpRequestHeaders).unwrap_or_default();
        self.request = Request {
            headers,
            source: self.property(&["source", "address"]),
            destination: self.property(&["destination", "address"]),
            protocol: self.property(&["request", "protocol"]),
            time: self
                .get_current_time()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        };
        let shared = Rc::clone(&self.shared);
        let config = &shared.config;
        if config.skips(self.request.header(":path").unwrap_or_default()) {
            count(shared.counters.skipped);
            debug!("{NAME}: {} skips the check", self.request.describe());
            return Action::Continue;
        }
        let dispatched = match config.protocol {
            Protocol::Grpc => {
                let message = grpc::check_request(&self.request, &config.request_headers);
                hostcalls::dispatch_grpc_call(
                    &config.cluster,
                    grpc::SERVICE,
                    grpc::METHOD,
                    vec![],
                    Some(&message),
                    config.timeout,
                )
            }
            Protocol::Http => {
                let headers = http::check_headers(&self.request, config);
                let headers = headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                hostcalls::dispatch_http_call(
                    &config.cluster,
                    headers,
                    None,
                    vec![],
                    config.timeout,
                )
            }
        };
        match dispatched {
            // Envoy holds the request (and its body) until the answer decides.
            Ok(_) => Action::Pause,
            Err(status) => {
                let reason = format!(
                    "cannot call cluster \"{}\": {status:?} (is it the name the proxy gives the cluster?)",
                    config.cluster
                );
                match self.fail(&reason) {
                    OnFailure::Allow => Action::Continue,
                    OnFailure::Deny(_) => Action::Pause,
                }
            }
        }
    }
}

impl Context for Check {
    // `num_headers` is 0 when the call failed (reset, no healthy host); a timeout arrives as Envoy's 504.
    fn on_http_call_response(&mut self, _: u32, num_headers: usize, body_size: usize, _: usize) {
        let answer = (num_headers > 0).then(|| {
            let headers =
                hostcalls::get_map_bytes(MapType::HttpCallResponseHeaders).unwrap_or_default();
            (
                headers,
                self.buffer(BufferType::HttpCallResponseBody, body_size),
            )
        });
        let verdict = http::verdict(answer, &self.shared.config.upstream_headers);
        self.apply(verdict);
    }

    // A unary call hears the message (status 0) or its failure: a timeout and an unreachable cluster are both
    // 14 Unavailable (a timeout is 4 DeadlineExceeded only with Envoy's runtime guard
    // `grpc_timeout_returns_deadline_exceeded`, 1.38+).
    fn on_grpc_call_response(&mut self, _: u32, status_code: u32, response_size: usize) {
        let verdict = if status_code == 0 {
            let message = self.buffer(BufferType::GrpcReceiveBuffer, response_size);
            grpc::verdict(&message, &self.shared.config.upstream_headers)
        } else {
            Verdict::Failed(format!(
                "the call ended with gRPC status {}",
                grpc_status(status_code)
            ))
        };
        self.apply(verdict);
    }
}

impl Check {
    fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        hostcalls::get_property(path.to_vec()).ok().flatten()
    }

    fn buffer(&self, buffer: BufferType, size: usize) -> Vec<u8> {
        hostcalls::get_buffer(buffer, 0, size)
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Carries out the decision on the held request.
    fn apply(&mut self, verdict: Verdict) {
        let shared = Rc::clone(&self.shared);
        let what = self.request.describe();
        match verdict {
            Verdict::Allow { upstream, remove } => {
                count(shared.counters.ok);
                for name in &remove {
                    let _ = hostcalls::set_map_value_bytes(MapType::HttpRequestHeaders, name, None);
                }
                for change in &upstream {
                    self.change_header(change);
                }
                debug!(
                    "{NAME}: {what} allowed, {} headers added, {} removed",
                    upstream.len(),
                    remove.len()
                );
                let _ = hostcalls::resume_http_request();
            }
            Verdict::Deny {
                status,
                headers,
                body,
            } => {
                count(shared.counters.denied);
                let (status, body, headers) = match &shared.config.denied_response {
                    Some(denial) => (denial.status, denial.body.as_bytes(), vec![]),
                    None => (status, body.as_slice(), headers),
                };
                debug!("{NAME}: {what} denied with {status}");
                let headers = headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                let _ = hostcalls::send_http_response(u32::from(status), headers, Some(body));
            }
            Verdict::Failed(reason) => {
                if self.fail(&reason) == OnFailure::Allow {
                    let _ = hostcalls::resume_http_request();
                }
            }
        }
    }

    /// Counts and logs a check that could not decide, answers it as configured, and says what it did: the caller
    /// resumes or continues the request when the policy lets it through.
    fn fail(&self, reason: &str) -> OnFailure {
        let shared = &self.shared;
        let what = self.request.describe();
        count(shared.counters.error);
        let policy = shared.config.on_failure;
        match policy {
            OnFailure::Allow => {
                count(shared.counters.failure_mode_allowed);
                warn!("{NAME}: check of {what} failed: {reason}; allowed (failure_mode_allow)");
            }
            OnFailure::Deny(status) => {
                warn!("{NAME}: check of {what} failed: {reason}; denied with {status}");
                let _ = hostcalls::send_http_response(u32::from(status), vec![], None);
            }
        }
        policy
    }

    fn change_header(&self, change: &verdict::HeaderChange) {
        let map = MapType::HttpRequestHeaders;
        let name = change.name.as_str();
        let value = Some(change.value.as_slice());
        let exists = || matches!(hostcalls::get_map_value_bytes(map, name), Ok(Some(_)));
        let _ = match change.how {
            Apply::Append => hostcalls::add_map_value_bytes(map, name, &change.value),
            Apply::AddIfAbsent if !exists() => {
                hostcalls::add_map_value_bytes(map, name, &change.value)
            }
            Apply::Overwrite => hostcalls::set_map_value_bytes(map, name, value),
            Apply::OverwriteIfExists if exists() => {
                hostcalls::set_map_value_bytes(map, name, value)
            }
            Apply::AddIfAbsent | Apply::OverwriteIfExists => Ok(()),
        };
    }
}

fn count(metric: Option<u32>) {
    if let Some(id) = metric {
        let _ = hostcalls::increment_metric(id, 1);
    }
}

/// A gRPC status code with its name, for the log.
fn grpc_status(code: u32) -> String {
    let name = match code {
        1 => "Cancelled",
        2 => "Unknown",
        4 => "DeadlineExceeded",
        5 => "NotFound",
        7 => "PermissionDenied",
        12 => "Unimplemented",
        13 => "Internal",
        14 => "Unavailable",
        16 => "Unauthenticated",
        _ => return code.to_string(),
    };
    format!("{code} {name}")
}
