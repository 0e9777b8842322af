//! Scenario `tcp`: a network filter. Arguments:
//! `stop-connection` (on_new_connection pauses), `callout` (on_new_connection asks cluster `auth` and pauses; a 200
//! resumes the downstream, anything else closes it), `hold-downstream=N` / `hold-upstream=N` (pause until the
//! buffer holds N bytes), `prefix-downstream=X` (prepend X to the client's first bytes), `replace-upstream=X`
//! (replace the upstream's bytes with X), `close-downstream-on=T` / `close-upstream-on=T` (close that stream when
//! the client's bytes contain T), `route-by-source` (pick the TCP proxy's cluster from the source address with
//! `set_envoy_filter_state`), `set-property` (filter state `wasm.conn_tag`), `raw-statuses` (log what the host
//! answers to the stream and buffer calls that have no use on a connection).

use std::time::Duration;

use proxy_wasm::traits::{Context, StreamContext};
use proxy_wasm::types::{Action, PeerType};

use crate::raw::{self, DOWNSTREAM_DATA, REQUEST, UPSTREAM, UPSTREAM_DATA};
use crate::{Scenario, note, status, text, trace};

pub(crate) struct Connection {
    id: u32,
    scenario: Scenario,
    /// The client's first bytes were prefixed already.
    prefixed: bool,
}

impl Connection {
    pub(crate) fn new(id: u32, scenario: Scenario) -> Connection {
        Connection {
            id,
            scenario,
            prefixed: false,
        }
    }

    fn hold(&self, key: &str, size: usize) -> bool {
        self.scenario.number(key).is_some_and(|n| (size as u64) < n)
    }
}

impl Context for Connection {
    fn on_http_call_response(
        &mut self,
        _token: u32,
        _headers: usize,
        _body: usize,
        _trailers: usize,
    ) {
        trace("on_http_call_response");
        let status = self
            .get_http_call_response_header(":status")
            .unwrap_or_default();
        note(format!("callout answered {status}"));
        if status == "200" {
            self.resume_downstream();
        } else {
            self.close_downstream();
        }
    }

    fn on_done(&mut self) -> bool {
        trace("on_done");
        self.scenario.panic_in("on_done");
        true
    }
}

impl StreamContext for Connection {
    fn on_new_connection(&mut self) -> Action {
        trace("on_new_connection");
        self.scenario.panic_in("on_new_connection");
        if self.scenario.has("route-by-source") {
            let source = text(self.get_property(vec!["source", "address"]));
            let cluster = if source.starts_with("10.") {
                "internal"
            } else {
                "external"
            };
            let args = raw::filter_state_arguments("envoy.tcp_proxy.cluster", cluster);
            let result =
                proxy_wasm::hostcalls::call_foreign_function("set_envoy_filter_state", Some(&args));
            note(format!("source {source}: cluster {cluster} {result:?}"));
        }
        if self.scenario.has("set-property") {
            self.set_property(
                vec!["conn_tag"],
                Some(format!("conn-{}", self.id).as_bytes()),
            );
        }
        if self.scenario.has("callout") {
            let headers = vec![
                (":method", "GET"),
                (":path", "/check"),
                (":authority", "auth"),
            ];
            match self.dispatch_http_call("auth", headers, None, vec![], Duration::from_secs(1)) {
                Ok(_) => return Action::Pause,
                Err(e) => note(format!("callout refused {e:?}")),
            }
        }
        if self.scenario.has("stop-connection") {
            return Action::Pause;
        }
        Action::Continue
    }

    fn on_downstream_data(&mut self, size: usize, end_of_stream: bool) -> Action {
        trace(format!("on_downstream_data {size} {end_of_stream}"));
        self.scenario.panic_in("on_downstream_data");
        let data = text(self.get_downstream_data(0, size));
        note(format!("downstream data: {data}"));
        if self.scenario.has("raw-statuses") {
            status("continue_stream request", raw::continue_stream(REQUEST));
            status("continue_stream upstream", raw::continue_stream(UPSTREAM));
            status("close_stream request", raw::close_stream(REQUEST));
            let (code, bytes) = raw::buffer(UPSTREAM_DATA);
            status("get upstream data in downstream callback", code);
            note(format!("upstream data seen: {} bytes", bytes.len()));
        }
        if let Some(prefix) = self.scenario.value("prefix-downstream")
            && !self.prefixed
        {
            self.prefixed = true;
            self.set_downstream_data(0, 0, prefix.as_bytes());
        }
        if let Some(needle) = self.scenario.value("close-downstream-on")
            && data.contains(needle)
        {
            self.close_downstream();
            return Action::Pause;
        }
        if let Some(needle) = self.scenario.value("close-upstream-on")
            && data.contains(needle)
        {
            self.close_upstream();
            return Action::Pause;
        }
        if self.hold("hold-downstream", size) {
            return Action::Pause;
        }
        Action::Continue
    }

    fn on_downstream_close(&mut self, peer_type: PeerType) {
        trace(format!("on_downstream_close {peer_type:?}"));
    }

    fn on_upstream_data(&mut self, size: usize, end_of_stream: bool) -> Action {
        trace(format!("on_upstream_data {size} {end_of_stream}"));
        self.scenario.panic_in("on_upstream_data");
        note(format!(
            "upstream data: {}",
            text(self.get_upstream_data(0, size))
        ));
        if let Some(replacement) = self.scenario.value("replace-upstream") {
            self.set_upstream_data(0, size, replacement.as_bytes());
        }
        if self.hold("hold-upstream", size) {
            return Action::Pause;
        }
        Action::Continue
    }

    fn on_upstream_close(&mut self, peer_type: PeerType) {
        trace(format!("on_upstream_close {peer_type:?}"));
    }

    fn on_log(&mut self) {
        trace("on_log");
        status(
            "get request header in on_log",
            raw::request_header_status(":path"),
        );
        let (code, bytes) = raw::buffer(DOWNSTREAM_DATA);
        status("get downstream data in on_log", code);
        note(format!("downstream data in on_log: {} bytes", bytes.len()));
        let id = self
            .get_property(vec!["connection", "id"])
            .and_then(|v| v.try_into().ok())
            .map(u64::from_le_bytes);
        note(format!("connection id {id:?}"));
        status(
            "set downstream data in on_log",
            raw::set_buffer(DOWNSTREAM_DATA, 0, 0, b"late"),
        );
    }
}
