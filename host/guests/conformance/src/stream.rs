//! The HTTP stream context: logs every callback and what it sees, and acts as the scenario says.

use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, GrpcStatusCode, MapType};

use crate::root::Plugin;
use crate::{Scenario, note, properties, raw, show, show_map, status, trace};

/// Which side a callout was dispatched from (scenario `callout request|response`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Request,
    Response,
}

pub(crate) struct Stream {
    id: u32,
    plugin: Rc<Plugin>,
    callout_from: Option<Side>,
}

impl Stream {
    pub(crate) fn new(id: u32, plugin: Rc<Plugin>) -> Stream {
        Stream {
            id,
            plugin,
            callout_from: None,
        }
    }

    fn s(&self) -> &Scenario {
        &self.plugin.scenario
    }

    /// `local-reply <where> [grpc] [empty] [odd-text]`: answers instead of the upstream, then keeps running (the
    /// reply is deferred) and returns Continue (Envoy stops iteration anyway). `odd-text`: a raw 403 with gRPC
    /// status 7 whose details and body hold characters Envoy rewrites.
    fn local_reply(&self, at: &str) -> Option<Action> {
        let s = self.s();
        if !(s.is("local-reply") && s.arg(0) == Some(at)) {
            return None;
        }
        if s.has("odd-text") {
            // Blanks of every kind in the details, bytes `grpc-message` must escape in the body.
            raw::send_local_response(
                403,
                "denied by  policy\tv\u{b}x\u{a0}y",
                "50% off~ caf\u{e9}\n",
                7,
            );
        } else if s.has("grpc") {
            self.send_grpc_response(
                GrpcStatusCode::PermissionDenied,
                Some("access denied"),
                vec![("x-reason", b"policy")],
            );
        } else if s.has("empty") {
            self.send_http_response(
                204,
                vec![("content-type", "text/html"), ("X-Reason", "policy")],
                None,
            );
        } else {
            self.send_http_response(403, vec![("X-Reason", "policy")], Some(b"denied"));
        }
        note("after local reply");
        Some(Action::Continue)
    }

    /// `close <where>`: resets the stream, then keeps running (the reset is deferred).
    fn close(&self, at: &str) -> Option<Action> {
        let s = self.s();
        if !(s.is("close") && s.arg(0) == Some(at)) {
            return None;
        }
        if at.starts_with("request") {
            self.reset_http_request();
        } else {
            self.reset_http_response();
        }
        note("after close");
        Some(Action::Continue)
    }

    /// `callout request|response [cluster=<name>] [no-path] [host-header] [deny]`: dispatches and pauses until the
    /// answer (`host-header`: the authority under `host`).
    fn callout(&mut self, side: Side) -> Option<Action> {
        let s = self.s();
        let wanted = match side {
            Side::Request => "request",
            Side::Response => "response",
        };
        if !(s.is("callout") && s.arg(0) == Some(wanted)) {
            return None;
        }
        let cluster = s.value("cluster").unwrap_or("auth");
        let mut headers = vec![
            (":method", "POST"),
            (":path", "/check"),
            (":authority", "auth.local"),
            ("X-Token", "t1"),
        ];
        if s.has("no-path") {
            headers.retain(|(name, _)| *name != ":path");
        }
        if s.has("host-header") {
            headers[2].0 = "host";
        }
        match self.dispatch_http_call(
            cluster,
            headers,
            Some(b"payload"),
            vec![("x-checksum", "c1")],
            Duration::from_millis(250),
        ) {
            Ok(token) => {
                note(format!("dispatched {token}"));
                self.callout_from = Some(side);
                Some(Action::Pause)
            }
            Err(e) => {
                note(format!("dispatch failed: {e:?}"));
                Some(Action::Continue)
            }
        }
    }

    fn grpc(&self) -> Option<Action> {
        let s = self.s();
        if s.is("grpc-call") {
            let token = self.dispatch_grpc_call(
                "grpc-upstream",
                "pkg.Echo",
                "Say",
                vec![("x-md", b"v")],
                Some(b"ping"),
                Duration::from_secs(2),
            );
            note(format!("grpc dispatched {token:?}"));
            if s.has("then-stream") {
                let stream = self.open_grpc_stream("grpc-upstream", "pkg.Chat", "Talk", vec![]);
                note(format!("grpc stream opened {stream:?}"));
            }
            if s.has("cancel") {
                self.cancel_grpc_call(token.unwrap());
                note("grpc cancelled");
                return Some(Action::Continue);
            }
            return Some(Action::Pause);
        }
        if s.is("grpc-stream") {
            let token = self
                .open_grpc_stream("grpc-upstream", "pkg.Chat", "Talk", vec![("x-md", b"s")])
                .unwrap();
            note(format!("grpc stream opened {token}"));
            self.send_grpc_stream_message(token, Some(b"hello"), false);
            if s.has("close") {
                self.close_grpc_stream(token);
            } else {
                self.send_grpc_stream_message(token, Some(b"bye"), true);
            }
            return Some(Action::Pause);
        }
        None
    }

    fn shared_data(&self) {
        let (value, cas) = self.get_shared_data("counter");
        note(format!(
            "read counter {} cas {}",
            value.as_deref().map_or("none".into(), show),
            cas.map_or("none".into(), |c| c.to_string())
        ));
        let n: u32 = value
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
            .unwrap_or(0);
        let written = self.set_shared_data("counter", Some((n + 1).to_string().as_bytes()), cas);
        note(format!("write counter {}: {written:?}", n + 1));
        if cas.is_some() {
            let stale = self.set_shared_data("counter", Some(b"stale"), cas);
            note(format!("stale write: {stale:?}"));
        }
        let _ = self.set_shared_data("gone", Some(b"x"), None);
        let removed = self.remove_shared_data("gone", None);
        let (value, cas) = self.get_shared_data("gone");
        note(format!(
            "after remove {removed:?}: value {} cas present {}",
            value.as_deref().map_or("none".into(), show),
            cas.is_some()
        ));
    }

    fn metrics(&self, on_log: bool) {
        let Some((requests, active, size)) = self.plugin.metrics else {
            return;
        };
        if on_log {
            hostcalls::increment_metric(active, -1).unwrap();
            hostcalls::record_metric(size, 250).unwrap();
        } else {
            hostcalls::increment_metric(requests, 1).unwrap();
            hostcalls::increment_metric(active, 1).unwrap();
            hostcalls::record_metric(size, 100).unwrap();
            note(format!(
                "requests_total read back {}",
                hostcalls::get_metric(requests).unwrap()
            ));
        }
    }

    fn request_header_statuses(&self) {
        status(
            "request header missing key",
            raw::header_value(0, "x-missing").0,
        );
        let (code, body) = raw::buffer(0, 0, usize::MAX);
        status(
            &format!("request body outside body callback ({} bytes)", body.len()),
            code,
        );
        status(
            "set plugin configuration outside on_configure",
            raw::set_buffer(7, 0, 0, b"x"),
        );
        status(
            "plugin configuration outside on_configure",
            raw::buffer(7, 0, usize::MAX).0,
        );
        status("continue_stream upstream", raw::continue_stream(3));
        status("continue_stream downstream", raw::continue_stream(2));
        status(
            "set_effective_context own stream",
            raw::set_effective_context(self.id),
        );
        status("set_property on a stream", raw::set_property(&["k"], b"v"));
        status(
            "set request body outside body callback",
            raw::set_buffer(0, 0, 0, b"x"),
        );
        status("set call data", raw::set_buffer(8, 0, 0, b"x"));
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        trace("on_delete");
    }
}

impl Context for Stream {
    fn on_http_call_response(&mut self, token: u32, headers: usize, body: usize, trailers: usize) {
        trace(format!(
            "on_http_call_response {token} {headers} {body} {trailers}"
        ));
        self.s().panic_in("on_http_call_response");
        if self.s().reads_properties_in("callout-response") {
            properties::visit(self.s(), "callout-response");
            self.resume_http_request();
            return;
        }
        if self.s().is("envoy-foreign") {
            crate::foreign::run(self.s(), "callout");
            self.resume_http_request();
            return;
        }
        if headers == 0 {
            let (code, message) = self.get_grpc_status();
            note(format!(
                "callout failed: status {code} {}",
                message.unwrap_or_default()
            ));
            status(
                "failed callout header value",
                raw::header_value(6, ":status").0,
            );
            let (code, len) = raw::header_pairs(6);
            status(&format!("failed callout header pairs ({len} bytes)"), code);
            status("failed callout body", raw::buffer(4, 0, usize::MAX).0);
            self.send_http_response(502, vec![], Some(b"callout failed"));
            return;
        }
        let code = self
            .get_http_call_response_header(":status")
            .unwrap_or_default();
        let response_body = self
            .get_http_call_response_body(0, body)
            .unwrap_or_default();
        note(format!(
            "callout response: status {code}; headers {}; body {}; trailers {}",
            show_map(&self.get_http_call_response_headers_bytes()),
            show(&response_body),
            show_map(&self.get_http_call_response_trailers_bytes())
        ));
        if self.s().has("deny") && code != "200" {
            self.send_http_response(
                403,
                vec![("x-denied-by", "callout")],
                Some(b"denied by callout"),
            );
            return;
        }
        match self.callout_from {
            Some(Side::Response) => {
                self.set_http_response_header("x-auth-status", Some(&code));
                self.resume_http_response();
            }
            _ => {
                self.set_http_request_header("x-auth-status", Some(&code));
                self.resume_http_request();
            }
        }
    }

    fn on_grpc_call_response(&mut self, token: u32, status_code: u32, size: usize) {
        trace(format!(
            "on_grpc_call_response {token} {status_code} {size}"
        ));
        let message = self
            .get_grpc_call_response_body(0, size)
            .unwrap_or_default();
        let (code, text) = self.get_grpc_status();
        note(format!(
            "grpc response {token}: status {status_code}, message {}, get_grpc_status ({code}, {})",
            show(&message),
            text.unwrap_or_default()
        ));
        self.resume_http_request();
    }

    fn on_grpc_stream_initial_metadata(&mut self, token: u32, count: u32) {
        trace(format!("on_grpc_stream_initial_metadata {token} {count}"));
        note(format!(
            "grpc initial metadata: {}",
            show_map(&self.get_grpc_stream_initial_metadata())
        ));
    }

    fn on_grpc_stream_message(&mut self, token: u32, size: usize) {
        trace(format!("on_grpc_stream_message {token} {size}"));
        let message = self.get_grpc_stream_message(0, size).unwrap_or_default();
        note(format!("grpc stream message: {}", show(&message)));
    }

    fn on_grpc_stream_trailing_metadata(&mut self, token: u32, count: u32) {
        trace(format!("on_grpc_stream_trailing_metadata {token} {count}"));
        note(format!(
            "grpc trailing metadata: {}",
            show_map(&self.get_grpc_stream_trailing_metadata())
        ));
    }

    fn on_grpc_stream_close(&mut self, token: u32, status_code: u32) {
        trace(format!("on_grpc_stream_close {token} {status_code}"));
        self.resume_http_request();
    }

    fn on_done(&mut self) -> bool {
        trace("on_done");
        self.s().panic_in("on_done");
        true
    }
}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, count: usize, end_of_stream: bool) -> Action {
        trace(format!("on_request_headers {count} {end_of_stream}"));
        self.s().panic_in("on_request_headers");
        if let Some(name) = self.s().value("read-header") {
            // The SDK's `String` getter panics on a value that is not UTF-8 (proxy-wasm-rust-sdk#310): what a trap
            // report's "answering" line is for.
            let value = self.get_http_request_header(name);
            note(format!("request header {name}: {value:?}"));
        }
        note(format!(
            "request headers: {}",
            show_map(&self.get_http_request_headers_bytes())
        ));
        let plugin = Rc::clone(&self.plugin);
        let s = &plugin.scenario;
        if s.has("mutate") {
            self.add_http_request_header("X-Added", "a");
            self.add_http_request_header("x-multi", "3");
            self.set_http_request_header("x-replace", Some("new"));
            self.set_http_request_header("x-remove", None);
            note(format!(
                "first x-multi: {}",
                self.get_http_request_header("x-multi").unwrap_or_default()
            ));
        }
        crate::edits::run(s, "request", MapType::HttpRequestHeaders);
        if s.is("resume-in-callback") {
            self.resume_http_request();
            status(
                "request header after resume",
                raw::header_value(0, ":path").0,
            );
            note("after resume");
            return Action::Pause;
        }
        if s.is("statuses") {
            self.request_header_statuses();
        }
        if s.has("set-body-in-headers") {
            // Envoy holds no body here: BadArgument, which the SDK turns into a panic.
            self.set_http_request_body(0, 0, b"x");
        }
        if s.is("shared-data") {
            self.shared_data();
        }
        properties::visit(s, "request-headers");
        if s.reads_properties_in("callout-response") {
            let headers = vec![(":method", "GET"), (":path", "/"), (":authority", "auth")];
            let result =
                self.dispatch_http_call("auth", headers, None, vec![], Duration::from_secs(1));
            note(format!("dispatched {result:?}"));
            return Action::Pause;
        }
        if s.is("metrics") {
            self.metrics(false);
        }
        if s.is("envoy-foreign") {
            crate::foreign::run(s, "stream");
            if crate::foreign::has_steps_in(s, "callout") {
                let headers = vec![(":method", "GET"), (":path", "/"), (":authority", "auth")];
                let result =
                    self.dispatch_http_call("auth", headers, None, vec![], Duration::from_secs(1));
                note(format!("dispatched {result:?}"));
                return Action::Pause;
            }
        }
        if s.is("foreign") {
            for name in ["reverse", "missing"] {
                let result = hostcalls::call_foreign_function(name, Some(b"abc"));
                note(format!(
                    "foreign {name}: {:?}",
                    result.map(|r| r.map(|b| show(&b)))
                ));
            }
        }
        // `enqueue-to=VM_ID/NAME` (with any scenario): a queue of another vm_id, as a producer plugin uses one.
        if let Some(target) = s.value("enqueue-to") {
            let (vm_id, name) = target.split_once('/').unwrap_or(("", target));
            match self.resolve_shared_queue(vm_id, name) {
                Some(token) => {
                    let item = format!("job from stream {}", self.id);
                    let result = self.enqueue_shared_queue(token, Some(item.as_bytes()));
                    note(format!("enqueued to {target}: {result:?}"));
                }
                None => note(format!("no queue {target}")),
            }
        }
        if let Some(outbox) = self.plugin.outbox {
            let result = self
                .enqueue_shared_queue(outbox, Some(format!("from stream {}", self.id).as_bytes()));
            note(format!("enqueued {result:?}"));
        }
        if let Some(action) = self
            .local_reply("request-headers")
            .or_else(|| self.close("request-headers"))
            .or_else(|| self.grpc())
        {
            return action;
        }
        if let Some(action) = self.callout(Side::Request) {
            return action;
        }
        if s.has("pause-request-headers") {
            return Action::Pause;
        }
        Action::Continue
    }

    fn on_http_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        trace(format!("on_request_body {size} {end_of_stream}"));
        self.s().panic_in("on_request_body");
        let body = self.get_http_request_body(0, size).unwrap_or_default();
        note(format!("request body: {}", show(&body)));
        let s = &self.plugin.scenario;
        properties::visit(s, "request-body");
        if s.is("statuses") && size >= 2 {
            status("set body in the middle", raw::set_buffer(0, 1, 1, b"x"));
        }
        if let Some(action) = self.local_reply("request-body") {
            return action;
        }
        if s.has("pause-request-body") && !end_of_stream {
            return Action::Pause;
        }
        if s.has("mutate") && end_of_stream {
            self.set_http_request_body(0, size, b"replaced");
            self.set_http_request_body(usize::MAX, 0, b"+appended");
            self.add_http_request_trailer("x-added-trailer", "yes");
        }
        Action::Continue
    }

    fn on_http_request_trailers(&mut self, count: usize) -> Action {
        trace(format!("on_request_trailers {count}"));
        self.s().panic_in("on_request_trailers");
        note(format!(
            "request trailers: {}",
            show_map(&self.get_http_request_trailers_bytes())
        ));
        if self.s().has("mutate") {
            self.add_http_request_trailer("x-trailer-added", "1");
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, count: usize, end_of_stream: bool) -> Action {
        trace(format!("on_response_headers {count} {end_of_stream}"));
        self.s().panic_in("on_response_headers");
        note(format!(
            "response headers: {}",
            show_map(&self.get_http_response_headers_bytes())
        ));
        let plugin = Rc::clone(&self.plugin);
        let s = &plugin.scenario;
        crate::edits::run(s, "response", MapType::HttpResponseHeaders);
        properties::visit(s, "response-headers");
        if s.is("statuses") {
            status(
                "request header after the request passed",
                raw::header_value(0, ":path").0,
            );
            let (code, len) = raw::header_pairs(0);
            status(
                &format!("request header pairs after the request passed ({len} bytes)"),
                code,
            );
            status(
                "add request header after the request passed",
                raw::add_header(0, "x", "y"),
            );
        }
        if s.has("replace-map") {
            self.set_http_response_headers(vec![(":status", "202"), ("X-Only", "1")]);
        }
        if s.has("mutate") {
            self.add_http_response_header("X-Resp", "1");
            self.set_http_response_header("server", Some("conformance"));
        }
        if let Some(action) = self
            .local_reply("response-headers")
            .or_else(|| self.close("response-headers"))
        {
            return action;
        }
        if let Some(action) = self.callout(Side::Response) {
            return action;
        }
        if s.has("pause-response-headers") {
            return Action::Pause;
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        trace(format!("on_response_body {size} {end_of_stream}"));
        self.s().panic_in("on_response_body");
        let body = self.get_http_response_body(0, size).unwrap_or_default();
        note(format!("response body: {}", show(&body)));
        properties::visit(self.s(), "response-body");
        if self.s().has("pause-response-body") && !end_of_stream {
            return Action::Pause;
        }
        if self.s().has("mutate") && end_of_stream {
            self.set_http_response_body(0, size, b"rewritten");
        }
        Action::Continue
    }

    fn on_http_response_trailers(&mut self, count: usize) -> Action {
        trace(format!("on_response_trailers {count}"));
        self.s().panic_in("on_response_trailers");
        note(format!(
            "response trailers: {}",
            show_map(&self.get_http_response_trailers_bytes())
        ));
        Action::Continue
    }

    fn on_log(&mut self) {
        trace("on_log");
        self.s().panic_in("on_log");
        note(format!(
            "on_log sees :path {} and :status {}",
            self.get_http_request_header(":path").unwrap_or_default(),
            self.get_http_response_header(":status").unwrap_or_default()
        ));
        if self.s().is("statuses") {
            status(
                "request trailers value in on_log without trailers",
                raw::header_value(1, "x").0,
            );
            status("add request header in on_log", raw::add_header(0, "x", "y"));
            status(
                "request trailer value in on_log",
                raw::header_value(1, "x-t").0,
            );
            let (code, len) = raw::header_pairs(1);
            status(
                &format!("request trailer pairs in on_log ({len} bytes)"),
                code,
            );
        }
        if self.s().is("metrics") {
            self.metrics(true);
        }
        properties::visit(self.s(), "log");
    }
}
