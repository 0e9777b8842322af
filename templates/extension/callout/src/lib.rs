//! An HTTP filter that asks another service before letting a request through: it holds the request
//! (`Action::Pause`), calls the configured cluster, then resumes it on a 2xx answer or replies itself
//! (403 on a 4xx, 503 otherwise: fail closed). `config.rs` reads and checks the configuration once; put
//! per-request logic in the `HttpContext` callbacks below.

mod config;

use config::Config;
use log::{error, info};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use std::rc::Rc;

const NAME: &str = env!("CARGO_PKG_NAME");

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
}

impl Context for Root {}

impl RootContext for Root {
    // Returning false refuses the configuration: Envoy rejects the plugin and keeps the logged reason.
    fn on_configure(&mut self, _: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        match Config::parse(&bytes) {
            Ok(config) => {
                info!("{NAME} configured: asks {}{}", config.cluster, config.path);
                self.config = Rc::new(config);
                true
            }
            Err(reason) => {
                error!("{NAME} rejected its configuration: {reason}");
                false
            }
        }
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter {
            config: Rc::clone(&self.config),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Filter {
    config: Rc<Config>,
}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        let config = &self.config;
        // Read client headers as bytes: Envoy passes values that are not UTF-8 (obs-text), and the
        // SDK's String getters panic on them, which would fail the plugin for every later request.
        let authorization = match self.get_http_request_header_bytes("authorization") {
            None => None,
            Some(bytes) => match String::from_utf8(bytes) {
                Ok(value) => Some(value),
                Err(_) => {
                    info!("{NAME}: denied (the authorization header is not UTF-8)");
                    self.send_http_response(403, vec![], Some(b"denied"));
                    return Action::Pause;
                }
            },
        };
        let mut headers = vec![
            (":method", "GET"),
            (":path", config.path.as_str()),
            (":authority", config.cluster.as_str()),
        ];
        // Pass along what the service decides on; add other request headers the same way.
        if let Some(value) = &authorization {
            headers.push(("authorization", value));
        }
        match self.dispatch_http_call(&config.cluster, headers, None, vec![], config.timeout()) {
            // Envoy holds the request (and its body) until `on_http_call_response` below decides.
            Ok(_) => Action::Pause,
            Err(status) => {
                error!("{NAME}: cannot call cluster {}: {status:?}", config.cluster);
                self.send_http_response(503, vec![], Some(b"authorization service unavailable"));
                Action::Pause
            }
        }
    }
}

impl Context for Filter {
    // The answer to the call made above; a timeout arrives as a 504. `num_headers` is 0 when the call
    // failed (reset, no healthy host): there is no response then, and reading its headers would panic.
    fn on_http_call_response(&mut self, _: u32, num_headers: usize, _: usize, _: usize) {
        let status = match num_headers {
            0 => None,
            _ => self.get_http_call_response_header(":status"),
        };
        match status.as_deref().and_then(|s| s.parse::<u16>().ok()) {
            Some(200..=299) => self.resume_http_request(),
            Some(code @ 400..=499) => {
                info!("{NAME}: denied ({} answered {code})", self.config.cluster);
                self.send_http_response(403, vec![], Some(b"denied"));
            }
            _ => {
                error!("{NAME}: {} failed: status {status:?}", self.config.cluster);
                self.send_http_response(503, vec![], Some(b"authorization service unavailable"));
            }
        }
    }
}
