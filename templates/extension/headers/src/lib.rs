//! An HTTP filter that sets a configured header on every response. `config.rs` reads and checks the
//! configuration once; this file holds the filter. Put per-request logic in the `HttpContext` callbacks:
//! each HTTP stream gets its own `Filter`, sharing the root's parsed `Config`.

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
                info!("{NAME} configured: sets {} on responses", config.name);
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

impl HttpContext for Filter {
    // Requests pass untouched. Read or edit them here the same way: `self.get_http_request_header(":path")`,
    // `self.set_http_request_header(name, Some(value))`, `self.add_http_request_header(name, value)`.
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        Action::Continue
    }

    // Also runs for Envoy's own local replies (404, 503...), so they get the header too.
    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        self.set_http_response_header(&self.config.name, Some(&self.config.value));
        Action::Continue
    }
}
