//! A Wasm service: Envoy runs it as the bootstrap extension `envoy.bootstrap.wasm`, one VM beside the listeners
//! with a root context and no streams. It consumes a shared queue that HTTP or TCP filters of the same vm_id
//! enqueue to, counts what arrives, and on every tick publishes the totals in shared data (`<queue>.counts`, JSON)
//! for the filters to read, and in a counter. `config.rs` reads and checks the configuration once.

mod config;

use config::Config;
use log::{error, info};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, RootContext};
use proxy_wasm::types::{LogLevel, MetricType};
use std::collections::BTreeMap;
use std::time::Duration;

const NAME: &str = env!("CARGO_PKG_NAME");

#[cfg(target_family = "wasm")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

proxy_wasm::main!({
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Service::default()) });
});

#[derive(Default)]
struct Service {
    config: Option<Config>,
    /// Items seen per value, since the service started.
    counts: BTreeMap<String, u64>,
    /// `service_events` counter.
    events_metric: u32,
}

impl Context for Service {}

impl RootContext for Service {
    // Returning false refuses the configuration: Envoy does not start the service and logs why.
    fn on_configure(&mut self, _: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        let config = match Config::parse(&bytes) {
            Ok(config) => config,
            Err(reason) => {
                error!("{NAME} rejected its configuration: {reason}");
                return false;
            }
        };
        // Registering makes this VM the queue's consumer: `on_queue_ready` runs when a filter enqueues.
        self.register_shared_queue(&config.queue);
        self.set_tick_period(Duration::from_millis(config.report_every_ms));
        self.events_metric =
            hostcalls::define_metric(MetricType::Counter, "service_events").unwrap_or_default();
        info!(
            "{NAME} started: consuming queue {}, reporting every {} ms",
            config.queue, config.report_every_ms
        );
        self.config = Some(config);
        true
    }

    fn on_queue_ready(&mut self, queue: u32) {
        while let Ok(Some(item)) = self.dequeue_shared_queue(queue) {
            *self
                .counts
                .entry(String::from_utf8_lossy(&item).into_owned())
                .or_default() += 1;
            let _ = hostcalls::increment_metric(self.events_metric, 1);
        }
    }

    fn on_tick(&mut self) {
        let Some(config) = &self.config else { return };
        let key = format!("{}.counts", config.queue);
        let summary = serde_json::to_string(&self.counts).unwrap_or_default();
        // No CAS: this service is the key's only writer.
        if let Err(status) = self.set_shared_data(&key, Some(summary.as_bytes()), None) {
            error!("{NAME}: could not publish {key}: {status:?}");
        }
    }
}
