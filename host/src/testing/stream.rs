//! One HTTP stream through a plugin, driven step by step like Envoy's filter manager drives it.

use std::cell::RefMut;

use super::Plugin;
use super::message::Message;
use crate::envoy::{
    Action, CallbackOutcome, Dir, FilterStateObject, HttpCall, LocalReply, Properties,
    PropertyValue, VmHold, filter_state_key, headers_kind, same_length_equal,
};

/// An HTTP stream: send what the client and the upstream send, observe what each side would receive.
pub struct HttpStream<'p> {
    plugin: &'p Plugin,
    /// The worker VM the stream runs in (a FAIL_RELOAD replaces the plugin's VM, not this stream's).
    generation: usize,
    id: u32,
    /// Keeps the stream's VM: the plugin drops a VM FAIL_RELOAD replaced once no stream handle holds it.
    _vm: VmHold,
}

impl<'p> HttpStream<'p> {
    pub(crate) fn new(
        plugin: &'p Plugin,
        generation: usize,
        id: u32,
        vm: VmHold,
    ) -> HttpStream<'p> {
        HttpStream {
            plugin,
            generation,
            id,
            _vm: vm,
        }
    }

    /// The stream's VM for a verb (see [`Plugin::dispatch`]).
    pub(super) fn vm(&self) -> std::cell::RefMut<'p, crate::envoy::Vm> {
        self.plugin.driven_of(self.generation)
    }

    /// The stream's VM, to read: runs no guest code.
    pub(super) fn observed(&self) -> std::cell::RefMut<'p, crate::envoy::Vm> {
        self.plugin.worker_of(self.generation)
    }

    /// The stream's context id (root is 1, streams count up from 2).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Request headers from the client (`proxy_on_request_headers`). Names are lower-cased; what is missing of
    /// [`REQUEST_DEFAULTS`] is added as the client and Envoy's connection manager would have it.
    pub fn send_request_headers(
        &mut self,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Action {
        self.send_headers(Dir::Request, headers, end_of_stream)
    }

    /// [`send_request_headers`](Self::send_request_headers) with values as bytes: Envoy hands filters header values
    /// that are not UTF-8 (obs-text, 0x80-0xFF), and a filter must not trap on them.
    pub fn send_request_headers_bytes(
        &mut self,
        headers: &[(&str, &[u8])],
        end_of_stream: bool,
    ) -> Action {
        self.send_headers(Dir::Request, headers, end_of_stream)
    }

    /// A request body chunk (`proxy_on_request_body`).
    pub fn send_request_body(&mut self, body: impl AsRef<[u8]>, end_of_stream: bool) -> Action {
        self.vm()
            .body(self.id, Dir::Request, body.as_ref(), end_of_stream)
    }

    /// Request trailers (`proxy_on_request_trailers`); they end the request.
    pub fn send_request_trailers(&mut self, trailers: &[(&str, &str)]) -> Action {
        self.vm().trailers(self.id, Dir::Request, trailers.into())
    }

    /// Response headers from the upstream (`proxy_on_response_headers`); `:status` defaults to 200. Ignored
    /// (returns `Pause`) once the stream ended with a local reply or a reset. Panics while the plugin holds the
    /// request (see [`request_held_by`](Self::request_held_by)): Envoy has no upstream request then, so no
    /// upstream response can arrive.
    #[track_caller]
    pub fn send_response_headers(
        &mut self,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Action {
        self.refuse_upstream_response_while_held("send_response_headers");
        self.send_headers(Dir::Response, headers, end_of_stream)
    }

    /// [`send_response_headers`](Self::send_response_headers) with values as bytes.
    #[track_caller]
    pub fn send_response_headers_bytes(
        &mut self,
        headers: &[(&str, &[u8])],
        end_of_stream: bool,
    ) -> Action {
        self.refuse_upstream_response_while_held("send_response_headers_bytes");
        self.send_headers(Dir::Response, headers, end_of_stream)
    }

    /// Each filter callback Envoy called on this stream so far, in order: what the plugin returned and what Envoy
    /// did with it (the `Action` a `send_*` returns is only whether the data passed).
    pub fn callback_outcomes(&self) -> Vec<CallbackOutcome> {
        self.observed().stream(self.id).outcomes().to_vec()
    }

    /// The callback whose stop keeps the request from the upstream (`on_request_headers`, `on_request_body`, …),
    /// while the plugin holds it: in Envoy the router has not seen the request, so nothing can answer it, and the
    /// stream waits for the plugin to resume (a callout answer, a tick) or for Envoy's stream timeout.
    pub fn request_held_by(&self) -> Option<&'static str> {
        self.observed().stream(self.id).request_held_by()
    }

    #[track_caller]
    fn refuse_upstream_response_while_held(&self, what: &str) {
        if let Some(callback) = self.request_held_by() {
            let grpc = self.plugin.grpc_calls();
            let own_grpc = grpc.iter().filter(|c| c.context_id == self.id).count();
            let pending = match self.http_calls().len() + own_grpc {
                0 => String::new(),
                n => format!(
                    " ({n} callout(s) pending: answer them first if the plugin resumes on the answer)"
                ),
            };
            panic!(
                "{what}: the plugin still holds the request: {callback} stopped iteration and the plugin has not \
                 resumed it, so in Envoy no upstream request exists and no upstream response can reach the \
                 plugin. Resume the request first{pending}, or assert on the held stream \
                 (upstream_request().assert_not_sent()) and end it with finish()."
            );
        }
    }

    fn send_headers<V: AsRef<[u8]>>(
        &mut self,
        dir: Dir,
        headers: &[(&str, V)],
        end_of_stream: bool,
    ) -> Action {
        const RESPONSE: [(&str, &[u8]); 1] = [(":status", b"200")];
        let request_id;
        let request: [(&str, &[u8]); 6];
        let defaults: &[(&str, &[u8])] = match dir {
            Dir::Request => {
                request_id = generated_request_id(self.id);
                let [authority, path, method, scheme, proto] =
                    REQUEST_DEFAULTS.map(|(name, value)| (name, value.as_bytes()));
                request = [
                    authority,
                    path,
                    method,
                    scheme,
                    proto,
                    (REQUEST_ID, &request_id),
                ];
                &request
            }
            Dir::Response => &RESPONSE,
        };
        let kind = headers_kind(dir);
        // One pass over what the test gave, marking the defaults it names (bit i: `defaults[i]`); a given `host`
        // is the request's `:authority`, as Envoy files it.
        // The defaults' names are lower-case, as a test's names mostly are: an exact match is tried first.
        let mut given = 0u8;
        for (name, _) in headers {
            let name = kind.lookup_name(name);
            let named = defaults.iter().position(|(default, _)| {
                name.len() == default.len()
                    && (same_length_equal(name.as_bytes(), default.as_bytes())
                        || name.eq_ignore_ascii_case(default))
            });
            if let Some(i) = named {
                given |= 1 << i;
            }
        }
        let missing = |i: usize| given & (1 << i) == 0;
        // Pseudo-headers first (as Envoy's header maps keep them): the given ones, then the defaults missing; then
        // the rest in the order given, then the other defaults missing.
        let bytes = headers
            .iter()
            .map(|(n, v)| n.len() + v.as_ref().len())
            .chain(defaults.iter().map(|(n, v)| n.len() + v.len()))
            .sum::<usize>();
        let mut vm = self.vm();
        let mut map = vm.spare_map(
            kind,
            headers.len() + defaults.len() + ROOM.0,
            bytes + ROOM.1,
        );
        for pseudo in [true, false] {
            for (name, value) in headers {
                if name.starts_with(':') == pseudo {
                    map.add_str(name, value.as_ref());
                }
            }
            for (i, (name, value)) in defaults.iter().enumerate() {
                if missing(i) && name.starts_with(':') == pseudo {
                    map.add_str(name, value);
                }
            }
        }
        vm.headers(self.id, dir, map, end_of_stream)
    }

    /// A response body chunk (`proxy_on_response_body`); panics while the plugin holds the request, like
    /// [`send_response_headers`](Self::send_response_headers).
    #[track_caller]
    pub fn send_response_body(&mut self, body: impl AsRef<[u8]>, end_of_stream: bool) -> Action {
        self.refuse_upstream_response_while_held("send_response_body");
        self.vm()
            .body(self.id, Dir::Response, body.as_ref(), end_of_stream)
    }

    /// Response trailers (`proxy_on_response_trailers`); panics while the plugin holds the request, like
    /// [`send_response_headers`](Self::send_response_headers).
    #[track_caller]
    pub fn send_response_trailers(&mut self, trailers: &[(&str, &str)]) -> Action {
        self.refuse_upstream_response_while_held("send_response_trailers");
        self.vm().trailers(self.id, Dir::Response, trailers.into())
    }

    /// The request as the upstream would receive it: what passed the filter so far.
    pub fn upstream_request(&self) -> Message {
        let vm = self.observed();
        let stream = vm.stream(self.id);
        let f = stream.forwarded(Dir::Request);
        let mut message = Message::new(
            "request the upstream would see",
            f.headers.clone(),
            f.body.clone(),
            f.trailers.clone(),
            f.end_stream,
        );
        message.reset = stream.reset().map(str::to_owned);
        message
    }

    /// The response as the client would receive it (a local reply included).
    pub fn client_response(&self) -> Message {
        let vm = self.observed();
        let stream = vm.stream(self.id);
        let f = stream.forwarded(Dir::Response);
        let mut message = Message::new(
            "response the client would see",
            f.headers.clone(),
            f.body.clone(),
            f.trailers.clone(),
            f.end_stream,
        );
        message.local_reply = stream.local_reply().cloned();
        message.reset = stream.reset().map(str::to_owned);
        message
    }

    /// The local reply sent on this stream (by the plugin, or Envoy's 503 after a failure), if any.
    pub fn local_reply(&self) -> Option<LocalReply> {
        self.observed().stream(self.id).local_reply().cloned()
    }

    /// Whether the stream was reset, and why (`wasm_close_stream`, …).
    pub fn reset(&self) -> Option<String> {
        self.observed().stream(self.id).reset().map(str::to_owned)
    }

    /// Pending HTTP callouts this stream's context dispatched.
    pub fn http_calls(&self) -> Vec<HttpCall> {
        self.plugin
            .http_calls()
            .into_iter()
            .filter(|c| c.context_id == self.id)
            .collect()
    }

    /// The one pending HTTP callout of this stream; panics, listing them, if there is not exactly one.
    #[track_caller]
    pub fn http_call(&self) -> HttpCall {
        let calls = self.http_calls();
        match <[HttpCall; 1]>::try_from(calls) {
            Ok([call]) => call,
            Err(calls) => panic!(
                "expected exactly one pending HTTP callout from stream {}, found {calls:#?}",
                self.id
            ),
        }
    }

    /// Sets attribute `path` for this stream only (on top of the plugin's), e.g. dynamic metadata for this request:
    /// `set_property(&["metadata", "filter_metadata", "envoy.filters.http.jwt_authn", "sub"], "alice")`. Panics,
    /// saying why, where Envoy has no such attribute or another type (see [`Properties::set`]).
    #[track_caller]
    pub fn set_property(&mut self, path: &[&str], value: impl Into<PropertyValue>) {
        if let Err(e) = self.properties().set(path, value) {
            panic!("property {}: {e}", path.join("."));
        }
    }

    /// `metadata.filter_metadata.<filter>.<key>` for this stream only.
    #[track_caller]
    pub fn set_filter_metadata(
        &mut self,
        filter: &str,
        key: &str,
        value: impl Into<PropertyValue>,
    ) {
        self.set_property(&["metadata", "filter_metadata", filter, key], value);
    }

    /// `source.address` and `source.port` from `IP:PORT`, for this stream only.
    #[track_caller]
    pub fn set_source_address(&mut self, address: &str) {
        if let Err(e) = self.properties().source_address(address) {
            panic!("source address: {e}");
        }
    }

    /// This stream's attribute values, starting from the plugin's the first time.
    fn properties(&mut self) -> RefMut<'_, Properties> {
        context_properties(self.observed(), self.id)
    }

    /// The value the plugin stored with `set_property(path, …)` on this stream (Envoy filter state
    /// `wasm.<path>`, the segments joined by NUL as the SDK passes them).
    pub fn filter_state(&self, path: &[&str]) -> Option<Vec<u8>> {
        context_filter_state(&self.observed(), self.id, path)
    }

    /// Every value the plugin stored with `set_property` on this stream, in Envoy's key order: the path's segments
    /// (what the SDK joined with NUL under `wasm.`) and the bytes. Readable after [`finish`](Self::finish), so
    /// what `on_log` stored is there too.
    pub fn filter_states(&self) -> Vec<(Vec<String>, Vec<u8>)> {
        context_filter_states(&self.observed(), self.id)
    }

    /// Every object the plugin stored with `set_envoy_filter_state` on this stream, by key.
    pub fn envoy_filter_states(&self) -> Vec<(String, FilterStateObject)> {
        self.observed().state().envoy_filter_states(self.id)
    }

    /// The object the plugin stored under `key` with Envoy's `set_envoy_filter_state` foreign function: what the
    /// router, the TCP proxy or a later filter of this stream would read (e.g. `envoy.network.upstream_server_name`
    /// sets the upstream SNI).
    pub fn envoy_filter_state(&self, key: &str) -> Option<FilterStateObject> {
        self.plugin
            .worker()
            .state()
            .envoy_filter_state(self.id, key)
            .cloned()
    }

    /// How many times the plugin called Envoy's `clear_route_cache` foreign function on this stream.
    pub fn route_cache_clears(&self) -> u32 {
        self.plugin.worker().state().route_cache_clears(self.id)
    }

    /// Ends the stream like Envoy: `on_log → on_done → on_delete` (creating the context first if the request
    /// never reached the plugin). Further sends are ignored.
    pub fn finish(&mut self) {
        self.vm().finish(self.id);
    }
}

/// Nothing can read a stream once its handle is gone, and Envoy frees a stream when it destroys its context:
/// a finished stream is dropped with its handle, so a plugin that runs many streams holds only the live ones.
impl Drop for HttpStream<'_> {
    fn drop(&mut self) {
        self.plugin.forget_stream(self.generation, self.id);
    }
}

/// The attribute values of stream or connection context `id`, starting from the plugin's the first time.
pub(super) fn context_properties(
    vm: RefMut<'_, crate::envoy::Vm>,
    id: u32,
) -> RefMut<'_, Properties> {
    RefMut::map(vm, |vm| {
        vm.state_mut()
            .stream_properties_mut(id)
            .expect("a context of this plugin")
    })
}

/// What the plugin stored with `set_property(path, …)` on context `id` (Envoy filter state `wasm.<path>`).
pub(super) fn context_filter_state(
    vm: &crate::envoy::Vm,
    id: u32,
    path: &[&str],
) -> Option<Vec<u8>> {
    vm.stream(id)
        .filter_state(&filter_state_key(path.join("\0").as_bytes()))
        .map(<[u8]>::to_vec)
}

/// Every `set_property` value of context `id`: the path's segments (the key without `wasm.`, split at NUL; shown
/// lossily where a segment is not UTF-8) and the bytes.
pub(super) fn context_filter_states(vm: &crate::envoy::Vm, id: u32) -> Vec<(Vec<String>, Vec<u8>)> {
    let prefix = filter_state_key(b"");
    vm.stream(id)
        .filter_states()
        .map(|(key, value)| {
            let path = key.strip_prefix(prefix.as_slice()).unwrap_or(key);
            let segments = path
                .split(|b| *b == 0)
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect();
            (segments, value.to_vec())
        })
        .collect()
}

/// The request headers a test or the runner gets unless it gives them: the pseudo-headers a client sends (one
/// default `:authority` for both), and what Envoy's connection manager adds before any filter runs
/// (`ConnectionManagerUtility::mutateRequestHeaders`: `x-forwarded-proto` from the plaintext connection, and
/// `x-request-id`, see [`REQUEST_ID`]).
pub const REQUEST_DEFAULTS: [(&str, &str); 5] = [
    (":authority", "example.com"),
    (":path", "/"),
    (":method", "GET"),
    (":scheme", "http"),
    ("x-forwarded-proto", "http"),
];

/// The header Envoy's connection manager fills with a generated UUID when the request has none
/// (`generate_request_id`, on by default); `request.id` reads it. The test API's UUID is made from the stream id,
/// so a test can predict it.
pub const REQUEST_ID: &str = "x-request-id";

/// A version-4-shaped UUID made from the stream id (`00000000-0000-4000-8000-` and the id in 12 hex digits),
/// written in place: the test API sends request headers on every stream.
fn generated_request_id(stream_id: u32) -> [u8; 36] {
    let mut id = *b"00000000-0000-4000-8000-000000000000";
    for (i, digit) in id[28..].iter_mut().rev().enumerate() {
        *digit = b"0123456789abcdef"[(stream_id >> (4 * i)) as usize & 0xf];
    }
    id
}

/// Room in a map the test API builds for the header or two a plugin typically adds (entries, bytes), so that does
/// not grow its buffers.
const ROOM: (usize, usize) = (2, 64);
