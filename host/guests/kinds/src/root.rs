//! The root context: which kind the module runs as, and the service's life (ticks, shared data, the `events` queue,
//! its counter; with `callout=CLUSTER`, a GET to that cluster on every tick, its status kept in shared data
//! `callout-status`).

use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext, StreamContext};
use proxy_wasm::types::{ContextType, MetricType};

use crate::connection::Connection;
use crate::producer::Producer;
use crate::{Scenario, note, trace};

#[derive(Default)]
pub(crate) struct Root {
    scenario: Scenario,
    ticks: u64,
    /// The service's counter of ticks.
    ticks_metric: Option<u32>,
    /// The queue the service consumes (`events`).
    events: Option<u32>,
}

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, _: usize, body_size: usize, _: usize) {
        let status = self
            .get_http_call_response_header(":status")
            .unwrap_or_else(|| "none".into());
        let _ = self.set_shared_data("callout-status", Some(status.as_bytes()), None);
        note(format!(
            "callout {token} answered {status} with {body_size} bytes"
        ));
    }
}

impl RootContext for Root {
    fn on_vm_start(&mut self, _: usize) -> bool {
        trace("root on_vm_start");
        true
    }

    fn on_configure(&mut self, _: usize) -> bool {
        let config = self.get_plugin_configuration().unwrap_or_default();
        self.scenario = Scenario::parse(&String::from_utf8_lossy(&config));
        trace("root on_configure");
        self.scenario.panic_in("on_configure");
        if self.scenario.is("service") {
            let period = self.scenario.number("tick").unwrap_or(1000);
            self.set_tick_period(Duration::from_millis(period));
            self.ticks_metric = hostcalls::define_metric(MetricType::Counter, "service_ticks").ok();
            self.events = Some(self.register_shared_queue("events"));
            note(format!("service started, ticking every {period} ms"));
        }
        true
    }

    fn on_tick(&mut self) {
        trace("root on_tick");
        self.scenario.panic_in("on_tick");
        self.ticks += 1;
        if let Some(metric) = self.ticks_metric {
            let _ = hostcalls::increment_metric(metric, 1);
        }
        let requests = self
            .get_shared_data("requests")
            .0
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_else(|| "none".into());
        let _ = self.set_shared_data("ticks", Some(self.ticks.to_string().as_bytes()), None);
        note(format!("tick {}: requests {requests}", self.ticks));
        if let Some(cluster) = self.scenario.value("callout") {
            let headers = vec![
                (":method", "GET"),
                (":path", "/from-service"),
                (":authority", cluster),
            ];
            match self.dispatch_http_call(cluster, headers, None, vec![], Duration::from_secs(5)) {
                Ok(token) => note(format!("callout {token} to {cluster}")),
                Err(status) => note(format!("callout to {cluster} refused: {status:?}")),
            }
        }
        if self.scenario.number("stop-after") == Some(self.ticks) {
            self.set_tick_period(Duration::ZERO);
        }
    }

    fn on_queue_ready(&mut self, queue: u32) {
        trace(format!("root on_queue_ready {queue}"));
        while let Ok(Some(item)) = self.dequeue_shared_queue(queue) {
            note(format!("event: {}", String::from_utf8_lossy(&item)));
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        if self.scenario.is("tcp") {
            Some(ContextType::StreamContext)
        } else if self.scenario.is("producer") {
            Some(ContextType::HttpContext)
        } else {
            None
        }
    }

    fn create_stream_context(&self, context_id: u32) -> Option<Box<dyn StreamContext>> {
        trace(format!("create {context_id}"));
        Some(Box::new(Connection::new(context_id, self.scenario.clone())))
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Producer::new(context_id)))
    }
}
