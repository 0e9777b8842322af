//! An HTTP filter that checks each request body before the upstream gets all of it: too large gets
//! 413, not JSON (if configured) gets 400. `config.rs` reads and checks the configuration once; this
//! file holds the filter.
//!
//! How Envoy hands a body to a filter, and the traps this file avoids:
//! - Returning `Pause` from a body callback makes Envoy buffer the chunk and call again with the whole
//!   body so far: `body_size` is the cumulative size, not the chunk's (do not add them up).
//! - Read the body once `end_of_stream` is true, with `get_http_request_body(0, body_size)`.
//! - The request headers already went upstream (`Continue` below): a rejection resets that upstream
//!   request, which never sees a complete body. `Pause` on headers would hold them too, but then Envoy
//!   holds the body as well and this filter never sees it, unless the Wasm filter sets
//!   `allow_on_headers_stop_iteration` (Envoy 1.35+), where body callbacks still run.
//! - Envoy's own buffer limit (`per_connection_buffer_limit_bytes`, 1 MiB by default) answers 413
//!   before this filter does; `max_bytes` is kept below it.

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
                info!(
                    "{NAME} configured: bodies up to {} bytes{}",
                    config.max_bytes,
                    if config.json { ", JSON only" } else { "" }
                );
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

impl Context for Filter {}

impl Filter {
    fn reject(&self, status: u32, why: &str) -> Action {
        info!("{NAME}: rejected a request body ({why})");
        self.send_http_response(status, vec![("content-type", "text/plain")], Some(why.as_bytes()));
        Action::Pause
    }
}

impl HttpContext for Filter {
    // A declared length over the limit is refused before any byte is buffered.
    fn on_http_request_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        if end_of_stream {
            return Action::Continue;
        }
        let declared = self
            .get_http_request_header_bytes("content-length")
            .and_then(|v| std::str::from_utf8(&v).ok()?.trim().parse::<usize>().ok());
        match declared {
            Some(length) if length > self.config.max_bytes => {
                self.reject(413, "request body too large")
            }
            _ => Action::Continue,
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if body_size > self.config.max_bytes {
            return self.reject(413, "request body too large");
        }
        if !end_of_stream {
            // Buffer: Envoy calls again with the whole body so far.
            return Action::Pause;
        }
        if self.config.json {
            let body = self.get_http_request_body(0, body_size).unwrap_or_default();
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
                error!("{NAME}: request body is not JSON: {e}");
                return self.reject(400, "request body is not valid JSON");
            }
        }
        Action::Continue
    }
}
