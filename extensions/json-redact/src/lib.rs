//! Removes or masks fields of JSON bodies. `config.rs` reads the configuration and `redact.rs` rewrites a
//! document; this file decides which bodies to hold, holds them, and puts the rewrite in their place.
//!
//! A body is held only when its headers say JSON (`application/json` or `…+json`) and no content-encoding: a
//! compressed body is not read. The held body is rewritten once it is complete, so a client never gets half a
//! rewrite; one that grows past `max_body_bytes` passes unchanged. `content-length` is dropped from a held
//! message's headers, since the rewrite changes the length (Envoy then sends it chunked, or with HTTP/2 framing).

mod config;
mod redact;

use config::Config;
use log::{debug, error, info, warn};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use redact::Rewrite;
use std::rc::Rc;

const NAME: &str = env!("CARGO_PKG_NAME");

#[cfg(target_family = "wasm")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

proxy_wasm::main!({
    // Debug: the per-decision lines reach the proxy, which shows them only when its wasm log level is debug.
    // (At Info the SDK's logger would drop them inside the module.)
    proxy_wasm::set_log_level(LogLevel::Debug);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
});

#[derive(Default)]
struct Root {
    config: Option<Rc<Config>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        match Config::parse(&bytes) {
            Ok(config) => {
                info!("{NAME} configured: {}", config.summary());
                self.config = Some(Rc::new(config));
                true
            }
            Err(reason) => {
                error!("{NAME} rejected its configuration: {reason}");
                false
            }
        }
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        let config = Rc::clone(self.config.as_ref()?);
        Some(Box::new(Redactor {
            config,
            request: Hold::Pass,
            response: Hold::Pass,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// What happens to one side's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
    /// It passes as it comes.
    Pass,
    /// It is held until complete, then rewritten.
    Hold,
}

#[derive(Clone, Copy)]
enum Side {
    Request,
    Response,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Request => "request",
            Side::Response => "response",
        }
    }
}

struct Redactor {
    config: Rc<Config>,
    request: Hold,
    response: Hold,
}

impl Context for Redactor {}

impl HttpContext for Redactor {
    fn on_http_request_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        if self.config.sides.request && !end_of_stream {
            self.request = self.decide(Side::Request);
        }
        Action::Continue
    }

    fn on_http_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        self.body(Side::Request, size, end_of_stream)
    }

    fn on_http_response_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        if self.config.sides.response && !end_of_stream {
            self.response = self.decide(Side::Response);
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        self.body(Side::Response, size, end_of_stream)
    }
}

impl Redactor {
    /// A header's value, read as bytes: Envoy passes values that are not UTF-8 (obs-text) and the SDK's `String`
    /// getters panic on them. Such a value matches no media type, encoding or length, so the body passes.
    fn header(&self, side: Side, name: &str) -> Option<String> {
        let value = match side {
            Side::Request => self.get_http_request_header_bytes(name),
            Side::Response => self.get_http_response_header_bytes(name),
        }?;
        Some(String::from_utf8_lossy(&value).into_owned())
    }

    /// Whether this side's body is held: JSON, not compressed, not declared too long.
    fn decide(&self, side: Side) -> Hold {
        let content_type = self.header(side, "content-type").unwrap_or_default();
        let media = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if media != "application/json" && !media.ends_with("+json") {
            return Hold::Pass;
        }
        if let Some(encoding) = self.header(side, "content-encoding")
            && !encoding.eq_ignore_ascii_case("identity")
        {
            debug!(
                "{NAME}: {} body is {encoding}-encoded JSON, passed unread",
                side.name()
            );
            return Hold::Pass;
        }
        let declared = self
            .header(side, "content-length")
            .and_then(|l| l.trim().parse::<usize>().ok());
        if declared.is_some_and(|length| length > self.config.max_body_bytes) {
            debug!(
                "{NAME}: {} body of {} bytes is over max_body_bytes, passed unchanged",
                side.name(),
                declared.unwrap_or(0)
            );
            return Hold::Pass;
        }
        match side {
            Side::Request => self.set_http_request_header("content-length", None),
            Side::Response => self.set_http_response_header("content-length", None),
        }
        Hold::Hold
    }

    fn body(&mut self, side: Side, size: usize, end_of_stream: bool) -> Action {
        let hold = match side {
            Side::Request => &mut self.request,
            Side::Response => &mut self.response,
        };
        if *hold == Hold::Pass {
            return Action::Continue;
        }
        if size > self.config.max_body_bytes {
            *hold = Hold::Pass;
            debug!(
                "{NAME}: {} body passed {} bytes, sent on unchanged",
                side.name(),
                self.config.max_body_bytes
            );
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let body = match side {
            Side::Request => self.get_http_request_body(0, size),
            Side::Response => self.get_http_response_body(0, size),
        }
        .unwrap_or_default();
        match redact::rewrite(&body, &self.config.fields, &self.config.redaction) {
            Rewrite::Redacted {
                body: rewritten,
                fields,
            } => {
                debug!("{NAME}: {} body: {fields} field(s) redacted", side.name());
                match side {
                    Side::Request => self.set_http_request_body(0, size, &rewritten),
                    Side::Response => self.set_http_response_body(0, size, &rewritten),
                }
            }
            Rewrite::Untouched => debug!("{NAME}: {} body: no field to redact", side.name()),
            Rewrite::NotJson => warn!(
                "{NAME}: {} body says JSON but does not parse; passed unchanged",
                side.name()
            ),
        }
        Action::Continue
    }
}
