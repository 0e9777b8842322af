//! An HTTP filter written against the proxy-wasm Rust SDK 0.1.3, the SDK (and ABI 0.1.0) of Maistra 2.0-era
//! modules such as maistra/header-append-filter. The host's hand-written 0.1.0 WAT tests pin each host call;
//! this module shows the same host running what the real SDK emits.
//!
//! The plugin configuration is a header value. Per request, by `:path`:
//! - `/deny`: a 403 local reply with body `denied` and header `x-denied-by: sdk-0-1`;
//! - `/check`: a callout to cluster `auth` (pauses the request); a 200 answer resumes the request with
//!   `x-auth: <answer body>`, any other status sends a 401 local reply;
//! - otherwise: the request gets `x-config: <configuration>` and continues.
//!
//! Every response gets `custom-header: <configuration>`, as Maistra's filter does, and `on_log` logs
//! `log <:path> <:status>`.

use std::time::Duration;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

// The SDK 0.1 way to start (Envoy calls `_start`); only in the wasm build, where no C runtime defines it.
#[cfg_attr(target_arch = "wasm32", unsafe(no_mangle))]
pub fn _start() {
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}

#[derive(Default)]
struct Root {
    config: String,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = self.get_configuration().unwrap_or_default();
        match String::from_utf8(bytes) {
            Ok(config) => {
                log::info!("configured: {config}");
                self.config = config;
                true
            }
            Err(_) => {
                log::warn!("configuration is not UTF-8");
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter {
            config: self.config.clone(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Filter {
    config: String,
}

impl Context for Filter {
    fn on_http_call_response(
        &mut self,
        token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        let status = self
            .get_http_call_response_headers()
            .into_iter()
            .find(|(name, _)| name == ":status")
            .map(|(_, value)| value);
        let body = self
            .get_http_call_response_body(0, body_size)
            .unwrap_or_default();
        log::info!("callout {token} answered {status:?}");
        if status.as_deref() == Some("200") {
            self.add_http_request_header("x-auth", &String::from_utf8_lossy(&body));
            self.resume_http_request();
        } else {
            self.send_http_response(401, vec![], Some(b"unauthorized"));
        }
    }
}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize) -> Action {
        match self.get_http_request_header(":path").as_deref() {
            Some("/deny") => {
                self.send_http_response(403, vec![("x-denied-by", "sdk-0-1")], Some(b"denied"));
                Action::Pause
            }
            Some("/check") => {
                let call = self.dispatch_http_call(
                    "auth",
                    vec![
                        (":method", "GET"),
                        (":path", "/verify"),
                        (":authority", "auth"),
                    ],
                    None,
                    vec![],
                    Duration::from_secs(1),
                );
                match call {
                    Ok(token) => {
                        log::info!("callout {token} dispatched");
                        Action::Pause
                    }
                    Err(status) => {
                        log::warn!("callout refused: {status:?}");
                        self.send_http_response(503, vec![], None);
                        Action::Pause
                    }
                }
            }
            _ => {
                self.add_http_request_header("x-config", &self.config);
                Action::Continue
            }
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize) -> Action {
        self.add_http_response_header("custom-header", &self.config);
        Action::Continue
    }

    fn on_log(&mut self) {
        let path = self.get_http_request_header(":path").unwrap_or_default();
        let status = self.get_http_response_header(":status").unwrap_or_default();
        log::info!("log {path} {status}");
    }
}
