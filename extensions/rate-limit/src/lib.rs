//! Rate limiting with token buckets held in shared data, so every worker's VM (and every plugin with the same
//! vm_id and domain) counts against one limit. `config.rs` reads the configuration, `bucket.rs` does the
//! arithmetic; this file asks the proxy for the key, the clock and the bucket, and answers 429.

mod bucket;
mod config;

use bucket::{Bucket, Decision, Rate};
use config::{Config, KeyPart};
use log::{debug, error, info, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MetricType, Status};
use std::rc::Rc;
use std::time::UNIX_EPOCH;

const NAME: &str = env!("CARGO_PKG_NAME");
/// Compare-and-swap attempts before a request is let through unmetered (and a warning says so): only a storm of
/// requests on one key from many workers at once gets there.
const CAS_ATTEMPTS: usize = 16;

#[cfg(target_family = "wasm")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

proxy_wasm::main!({
    // Debug: the per-decision lines reach the proxy, which shows them only when its wasm log level is debug.
    // (At Info the SDK's logger would drop them inside the module.)
    proxy_wasm::set_log_level(LogLevel::Debug);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
});

/// What every stream of the plugin shares: the configuration and the metric ids.
struct Shared {
    config: Config,
    rate: Rate,
    allowed: Option<u32>,
    limited: Option<u32>,
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
        let rate = Rate {
            limit: config.limit,
            period_ns: config.period_seconds * 1_000_000_000,
            burst: config.burst,
        };
        // Counters reach Prometheus as `rate_limit_allowed` and `rate_limit_limited`; a failed definition only
        // costs the count.
        let counter = |name: &str| hostcalls::define_metric(MetricType::Counter, name).ok();
        self.shared = Some(Rc::new(Shared {
            allowed: counter("rate_limit.allowed"),
            limited: counter("rate_limit.limited"),
            config,
            rate,
        }));
        true
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        let shared = Rc::clone(self.shared.as_ref()?);
        Some(Box::new(Limiter { shared }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Limiter {
    shared: Rc<Shared>,
}

impl Context for Limiter {}

impl HttpContext for Limiter {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        let key = self.key();
        let decision = self.decide(&key);
        let shared = &self.shared;
        match decision {
            Decision::Allowed { remaining } => {
                count(shared.allowed);
                debug!("{NAME}: {} allowed, {remaining} left", printable(&key));
                Action::Continue
            }
            Decision::Limited { retry_after_ns } => {
                count(shared.limited);
                let seconds = retry_after_ns.div_ceil(1_000_000_000).max(1).to_string();
                let limit = shared.config.limit.to_string();
                debug!(
                    "{NAME}: {} limited, retry after {seconds} s",
                    printable(&key)
                );
                // draft-ietf-httpapi-ratelimit-headers-07: the limit, what is left, when it resets.
                self.send_http_response(
                    429,
                    vec![
                        ("retry-after", &seconds),
                        ("ratelimit-limit", &limit),
                        ("ratelimit-remaining", "0"),
                        ("ratelimit-reset", &seconds),
                        ("content-type", "text/plain"),
                    ],
                    Some(b"rate limited\n"),
                );
                Action::Pause
            }
        }
    }
}

impl Limiter {
    /// The request's key: its configured parts, each followed by a NUL (no part can contain one).
    fn key(&self) -> Vec<u8> {
        let mut key = Vec::new();
        for part in &self.shared.config.key {
            let value = match part {
                KeyPart::Header(name) => self.get_http_request_header_bytes(name),
                KeyPart::Source => self
                    .get_property(vec!["source", "address"])
                    .map(without_port),
                KeyPart::Path => self
                    .get_http_request_header_bytes(":path")
                    .map(|p| p.split(|b| *b == b'?').next().unwrap_or_default().to_vec()),
                KeyPart::Method => self.get_http_request_header_bytes(":method"),
            };
            key.extend_from_slice(&value.unwrap_or_default());
            key.push(0);
        }
        key
    }

    /// One request against the key's bucket, written back with compare-and-swap so that concurrent workers
    /// neither lose nor double a token.
    fn decide(&self, key: &[u8]) -> Decision {
        let Shared { config, rate, .. } = &*self.shared;
        let slot = format!("{}/{}", config.domain, bucket::slot(key, config.max_keys));
        for _ in 0..CAS_ATTEMPTS {
            let now = self
                .get_current_time()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            let (stored, cas) = self.get_shared_data(&slot);
            let mut bucket = match stored.as_deref().and_then(Bucket::decode) {
                None => rate.fresh(key, now),
                Some(mut bucket) => {
                    rate.refill(&mut bucket, now);
                    // Another key's bucket that has been quiet long enough to refill is taken over; a busy one
                    // is shared (both keys are limited together) until it goes quiet.
                    if bucket.owner != key && rate.is_full(&bucket) {
                        bucket = rate.fresh(key, now);
                    }
                    bucket
                }
            };
            let decision = rate.take(&mut bucket);
            if matches!(decision, Decision::Limited { .. }) {
                return decision;
            }
            match self.set_shared_data(&slot, Some(&bucket.encode()), cas) {
                Ok(()) => return decision,
                Err(Status::CasMismatch) => continue,
                Err(status) => {
                    warn!(
                        "{NAME}: cannot store the bucket {slot}: {status:?}; the request passes unmetered"
                    );
                    return decision;
                }
            }
        }
        warn!(
            "{NAME}: {CAS_ATTEMPTS} concurrent updates of {slot} in a row; the request passes unmetered"
        );
        Decision::Allowed { remaining: 0 }
    }
}

fn count(metric: Option<u32>) {
    if let Some(id) = metric {
        let _ = hostcalls::increment_metric(id, 1);
    }
}

/// `10.0.0.1:5678` → `10.0.0.1`; `[::1]:5678` → `[::1]`.
fn without_port(address: Vec<u8>) -> Vec<u8> {
    match address.iter().rposition(|b| *b == b':') {
        Some(colon) if !address.ends_with(b"]") => address[..colon].to_vec(),
        _ => address,
    }
}

/// A key for a log line: its parts separated by `|`, bytes that are not printable escaped.
fn printable(key: &[u8]) -> String {
    let mut text = String::new();
    for chunk in key.split(|b| *b == 0).filter(|c| !c.is_empty()) {
        if !text.is_empty() {
            text.push('|');
        }
        text.extend(chunk.escape_ascii().map(char::from));
    }
    text
}
