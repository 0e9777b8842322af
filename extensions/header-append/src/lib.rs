//! Adds configured headers to every HTTP response (local replies included) and, if configured, to every
//! request. The configuration format and its rules live in `config.rs`; this file only wires it to the SDK.

mod config;

use config::{Config, Header, Mode};
use log::{error, info};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use std::rc::Rc;

#[cfg(target_family = "wasm")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> {
        Box::new(HeaderAppendRoot { context_id, config: Rc::default() })
    });
}}

struct HeaderAppendRoot {
    context_id: u32,
    config: Rc<Config>,
}

impl Context for HeaderAppendRoot {}

impl RootContext for HeaderAppendRoot {
    fn on_configure(&mut self, _: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        match Config::parse(&bytes) {
            Ok(config) => {
                info!(
                    "#{} header-append configured; {}",
                    self.context_id,
                    config.summary()
                );
                self.config = Rc::new(config);
                true
            }
            Err(err) => {
                error!(
                    "#{} header-append rejected its configuration: {err}",
                    self.context_id
                );
                false
            }
        }
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(HeaderAppend {
            config: Rc::clone(&self.config),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct HeaderAppend {
    config: Rc<Config>,
}

impl Context for HeaderAppend {}

impl HttpContext for HeaderAppend {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        for Header { name, value, mode } in &self.config.request {
            match mode {
                Mode::Append => self.add_http_request_header(name, value),
                Mode::Replace => self.set_http_request_header(name, Some(value)),
            }
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        for Header { name, value, mode } in &self.config.response {
            match mode {
                Mode::Append => self.add_http_response_header(name, value),
                Mode::Replace => self.set_http_response_header(name, Some(value)),
            }
        }
        Action::Continue
    }
}
