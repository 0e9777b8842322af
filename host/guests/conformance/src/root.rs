//! The root context: start and configure, ticks, queues, metrics definitions, shutdown, root-owned callouts, and
//! the raw statuses of host functions called outside any stream.

use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel, MetricType};

use crate::stream::Stream;
use crate::{Scenario, note, properties, raw, show, status, trace};

/// What streams share with the root: the scenario and the ids the root obtained while configuring.
#[derive(Debug, Default)]
pub(crate) struct Plugin {
    pub(crate) scenario: Scenario,
    /// counter `requests_total`, gauge `active_requests`, histogram `request_size` (scenario `metrics`).
    pub(crate) metrics: Option<(u32, u32, u32)>,
    /// Queue `outbox` (scenario `queue`): streams enqueue there, the test dequeues.
    pub(crate) outbox: Option<u32>,
}

pub(crate) struct Root {
    plugin: Rc<Plugin>,
    ticks: u32,
    /// Queue `jobs` (scenario `queue`): the test enqueues, `on_queue_ready` drains it.
    jobs: Option<u32>,
}

impl Root {
    pub(crate) fn new() -> Root {
        Root {
            plugin: Rc::default(),
            ticks: 0,
            jobs: None,
        }
    }

    fn scenario(&self) -> &Scenario {
        &self.plugin.scenario
    }

    fn configure(&mut self, scenario: Scenario) -> bool {
        let mut plugin = Plugin {
            scenario,
            ..Plugin::default()
        };
        let s = &plugin.scenario;
        if s.is("configure-fails") {
            let _ = hostcalls::log(
                LogLevel::Error,
                "refusing the configuration: scenario configure-fails",
            );
            return false;
        }
        if s.is("ticker") {
            let ms = s.arg(0).and_then(|a| a.parse().ok()).unwrap_or(100);
            self.set_tick_period(Duration::from_millis(ms));
        }
        if s.is("queue") {
            let jobs = self.register_shared_queue("jobs");
            note(format!("registered jobs {jobs}"));
            note(format!(
                "resolved jobs {:?}",
                self.resolve_shared_queue("", "jobs")
            ));
            note(format!(
                "resolved missing {:?}",
                self.resolve_shared_queue("", "missing")
            ));
            self.jobs = Some(jobs);
            plugin.outbox = Some(self.register_shared_queue("outbox"));
        }
        if s.is("metrics") {
            let define = |kind, name| hostcalls::define_metric(kind, name).unwrap();
            plugin.metrics = Some((
                define(MetricType::Counter, "requests_total"),
                define(MetricType::Gauge, "active_requests"),
                define(MetricType::Histogram, "request_size"),
            ));
        }
        if s.is("log-levels") {
            log_levels();
        }
        if s.is("callout") && s.has("root") {
            let result = self.dispatch_http_call(
                "auth",
                vec![
                    (":method", "GET"),
                    (":path", "/keys"),
                    (":authority", "auth"),
                ],
                None,
                vec![],
                Duration::from_secs(1),
            );
            note(format!("root dispatched {result:?}"));
        }
        if s.is("start-up") {
            self.start_up_callouts();
        }
        if s.is("statuses") {
            root_statuses();
        }
        properties::visit(s, "configure");
        if s.reads_properties_in("tick") {
            self.set_tick_period(Duration::from_millis(100));
        }
        if s.reads_properties_in("root-callout") {
            let headers = vec![(":method", "GET"), (":path", "/"), (":authority", "auth")];
            let result =
                self.dispatch_http_call("auth", headers, None, vec![], Duration::from_secs(1));
            note(format!("root dispatched {result:?}"));
        }
        if s.is("envoy-foreign") {
            crate::foreign::run(s, "root");
        }
        if s.has("then-fail") {
            let _ = hostcalls::log(
                LogLevel::Error,
                "refusing the configuration after setting up: then-fail",
            );
            return false;
        }
        self.plugin = Rc::new(plugin);
        true
    }
}

impl Root {
    /// Scenario `start-up`: what a filter fetching its keys or descriptors when it starts does, before any request.
    /// `on_configure` dispatches a unary gRPC call (`pkg.Keys/Fetch`, a message that is not UTF-8), then an HTTP
    /// callout (`/config`), and sets a 100 ms tick whose first run dispatches a second callout (`/tick`).
    fn start_up_callouts(&mut self) {
        let grpc = self.dispatch_grpc_call(
            "grpc-upstream",
            "pkg.Keys",
            "Fetch",
            vec![],
            Some(b"keys\x00\xff"),
            Duration::from_secs(2),
        );
        note(format!("start-up grpc dispatched {grpc:?}"));
        let headers = vec![
            (":method", "GET"),
            (":path", "/config"),
            (":authority", "auth"),
        ];
        let http = self.dispatch_http_call("auth", headers, None, vec![], Duration::from_secs(1));
        note(format!("start-up callout dispatched {http:?}"));
        self.set_tick_period(Duration::from_millis(100));
    }

    fn start_up_tick(&mut self) {
        self.set_tick_period(Duration::ZERO);
        let headers = vec![
            (":method", "GET"),
            (":path", "/tick"),
            (":authority", "auth"),
        ];
        let http = self.dispatch_http_call("auth", headers, None, vec![], Duration::from_secs(1));
        note(format!("tick callout dispatched {http:?}"));
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        trace("root on_delete");
    }
}

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, headers: usize, body: usize, trailers: usize) {
        trace(format!(
            "root on_http_call_response {token} {headers} {body} {trailers}"
        ));
        let body = self
            .get_http_call_response_body(0, body)
            .unwrap_or_default();
        note(format!("root callout response: {}", show(&body)));
        properties::visit(self.scenario(), "root-callout");
    }

    fn on_grpc_call_response(&mut self, token: u32, status_code: u32, size: usize) {
        trace(format!(
            "root on_grpc_call_response {token} {status_code} {size}"
        ));
        let message = self
            .get_grpc_call_response_body(0, size)
            .unwrap_or_default();
        note(format!(
            "root grpc response {token}: status {status_code}, message {}",
            show(&message)
        ));
    }

    fn on_done(&mut self) -> bool {
        trace("root on_done");
        self.scenario().panic_in("root-on_done");
        if self.scenario().is("shutdown-pending") {
            // Finish later: the next tick calls proxy_done.
            self.set_tick_period(Duration::from_millis(10));
            return false;
        }
        true
    }
}

impl RootContext for Root {
    fn on_vm_start(&mut self, size: usize) -> bool {
        trace(format!("root on_vm_start {size}"));
        let config = self.get_vm_configuration().unwrap_or_default();
        note(format!("vm configuration: {}", show(&config)));
        match config.as_slice() {
            b"fail" => {
                let _ = hostcalls::log(
                    LogLevel::Error,
                    "refusing to start: the VM configuration says fail",
                );
                false
            }
            b"panic" => panic!("guest panic in on_vm_start"),
            _ => true,
        }
    }

    fn on_configure(&mut self, size: usize) -> bool {
        trace(format!("root on_configure {size}"));
        let config = self.get_plugin_configuration().unwrap_or_default();
        note(format!("plugin configuration: {}", show(&config)));
        let scenario = Scenario::parse(&String::from_utf8_lossy(&config));
        scenario.panic_in("on_configure");
        self.configure(scenario)
    }

    fn on_tick(&mut self) {
        trace("root on_tick");
        let s = &self.plugin.scenario;
        s.panic_in("on_tick");
        properties::visit(s, "tick");
        if s.is("shutdown-pending") {
            self.set_tick_period(Duration::ZERO);
            self.done();
            note("called proxy_done");
            return;
        }
        if s.is("start-up") {
            self.start_up_tick();
            return;
        }
        self.ticks += 1;
        let at = self
            .get_current_time()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        note(format!("tick {} at {at} ms", self.ticks));
        let stop_after: Option<u32> = s.value("stop-after").and_then(|v| v.parse().ok());
        if stop_after == Some(self.ticks) {
            self.set_tick_period(Duration::ZERO);
        }
    }

    fn on_queue_ready(&mut self, queue: u32) {
        trace(format!("root on_queue_ready {queue}"));
        self.scenario().panic_in("on_queue_ready");
        if Some(queue) != self.jobs {
            return;
        }
        loop {
            match self.dequeue_shared_queue(queue) {
                Ok(Some(item)) => note(format!("dequeued {}", show(&item))),
                Ok(None) => {
                    note("queue empty");
                    break;
                }
                Err(e) => {
                    note(format!("dequeue failed {e:?}"));
                    break;
                }
            }
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        trace(format!("on_context_create {context_id}"));
        self.scenario().panic_in("on_context_create");
        Some(Box::new(Stream::new(context_id, Rc::clone(&self.plugin))))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// One line per level through `proxy_log`, the level Envoy runs at, then the `log` crate behind an SDK filter.
fn log_levels() {
    for (level, name) in [
        (LogLevel::Trace, "trace"),
        (LogLevel::Debug, "debug"),
        (LogLevel::Info, "info"),
        (LogLevel::Warn, "warn"),
        (LogLevel::Error, "error"),
        (LogLevel::Critical, "critical"),
    ] {
        let _ = hostcalls::log(level, &format!("level {name}"));
    }
    let envoy_level = hostcalls::get_log_level();
    let _ = hostcalls::log(
        LogLevel::Critical,
        &format!("get_log_level: {envoy_level:?}"),
    );
    proxy_wasm::set_log_level(LogLevel::Warn);
    log::info!("log crate info (filtered by set_log_level)");
    log::warn!("log crate warn");
    log::error!("log crate error");
}

/// Host functions that need no stream, answered the way Envoy answers them.
fn root_statuses() {
    status(
        "plugin configuration in on_configure",
        raw::buffer(7, 0, usize::MAX).0,
    );
    status(
        "set_property on the root context",
        raw::set_property(&["k"], b"v"),
    );
    status("proxy_done while not shutting down", raw::done());
    status(
        "set_effective_context unknown",
        raw::set_effective_context(999),
    );
    status("log level 9", raw::log(9, "x"));
    status("buffer type 9", raw::buffer(9, 0, 10).0);
    status("map type 9", raw::header_value(9, "x").0);
    status(
        "http call response body without a response",
        raw::buffer(4, 0, 10).0,
    );
    status(
        "continue_stream on the root context",
        raw::continue_stream(0),
    );
    status("continue_stream type 7", raw::continue_stream(7));
    status("get_property missing", raw::property(&["no", "such"]).0);
    status("get_shared_data missing", raw::shared_data("missing"));
    status("set_shared_data new", raw::set_shared_data("k", b"1", 0));
    status(
        "set_shared_data cas mismatch",
        raw::set_shared_data("k", b"2", 12345),
    );
    status("enqueue unknown queue", raw::enqueue(4242, b"x"));
    status("dequeue unknown queue", raw::dequeue(4242));
    let empty = hostcalls::register_shared_queue("empty").unwrap();
    status("dequeue empty queue", raw::dequeue(empty));
    status("define_metric type 3", raw::define_metric(3, "m").0);
    let (_, counter) = raw::define_metric(0, "c");
    let (_, gauge) = raw::define_metric(1, "g");
    let (_, histogram) = raw::define_metric(2, "h");
    status("counter increment 0", raw::increment_metric(counter, 0));
    status("counter increment -1", raw::increment_metric(counter, -1));
    status("counter record 5", raw::record_metric(counter, 5));
    status("counter record 5 again", raw::record_metric(counter, 5));
    note(format!("counter value {:?}", raw::metric(counter)));
    status("gauge record 7", raw::record_metric(gauge, 7));
    status("gauge increment -2", raw::increment_metric(gauge, -2));
    note(format!("gauge value {:?}", raw::metric(gauge)));
    status("histogram record 3", raw::record_metric(histogram, 3));
    status("histogram increment", raw::increment_metric(histogram, 1));
    status("histogram get", raw::metric(histogram).0);
    status("unknown metric increment", raw::increment_metric(4001, 1));
    let (_, counter_again) = raw::define_metric(0, "c");
    note(format!(
        "metric ids: counter {counter}, gauge {gauge}, histogram {histogram}, counter again {counter_again}"
    ));
    status(
        "undefined histogram increment",
        raw::increment_metric(4002, 1),
    );
    status("undefined histogram get", raw::metric(4002).0);
    status("type 3 id increment", raw::increment_metric(4003, 1));
    status(
        "set callout body outside its answer",
        raw::set_buffer(4, 0, 0, b"x"),
    );
    status(
        "set plugin configuration in on_configure",
        raw::set_buffer(7, 0, 0, b"x"),
    );
}
