//! What Envoy checks of the headers that leave the filter chain: a response without a valid `:status`
//! (`FilterManager::encodeHeaders` → `HeaderUtility::checkRequiredResponseHeaders`) becomes a 502, a request
//! without `:method` or `:path` (`:authority` for CONNECT) is refused by the upstream codec
//! (`UpstreamCodecFilter::decodeHeaders` → `checkRequiredRequestHeaders`) with a 503.

use std::borrow::Cow;

use super::side::Forwarded;
use super::{Dir, Headers, HttpStream, LocalReply, Vm, local_reply, replace_all_empty_space};

impl Vm {
    /// Checks the headers that passed this filter since the last check, on the streams changed since then.
    pub(crate) fn check_required_headers(&mut self) {
        while let Some(id) = self.state_mut().touched_streams.pop() {
            for dir in [Dir::Request, Dir::Response] {
                // Untouched: marking it would have it checked once more.
                let stream = self.stream_mut_untouched(id);
                let Some(missing) = missing_required_header(stream, dir) else {
                    continue;
                };
                stream.side_mut(dir).required_checked = true;
                if let Some(missing) = missing {
                    self.refuse_headers(id, dir, missing);
                }
            }
        }
    }

    /// Envoy's answer to headers that left the filters without `missing`.
    fn refuse_headers(&mut self, id: u32, dir: Dir, missing: &str) {
        let message = format!("missing required header: {missing}");
        let details = |prefix: &str| {
            format!(
                "{prefix}{{{}}}",
                replace_all_empty_space(message.as_bytes())
            )
        };
        let stream = self.stream_mut(id);
        match dir {
            Dir::Request => {
                // The upstream never got them; the router's local reply runs through the encoder filters.
                stream.request.forwarded = Forwarded::default();
                let reply = LocalReply {
                    status: 503,
                    details: details("filter_removed_required_request_headers"),
                    body: message.into_bytes(),
                    headers: Headers::new(),
                    grpc_status: None,
                };
                self.send_local_reply(id, reply);
            }
            Dir::Response => {
                // The response headers went through the filters already: `sendDirectLocalReply`.
                let reply = LocalReply {
                    status: 502,
                    details: details("filter_removed_required_response_headers"),
                    body: message.into_bytes(),
                    headers: Headers::new(),
                    grpc_status: None,
                };
                stream.local_reply = Some(reply.clone());
                stream.response_code = Some(reply.status);
                stream.code_details = Some(Cow::Owned(reply.details.clone()));
                let composed = local_reply::compose(&reply, self.stream(id));
                self.direct_reply(id, composed);
            }
        }
    }
}

/// `None` if nothing left the filter on `dir` since the last check, else the header HTTP requires that the headers
/// which left lack, if any.
#[inline]
fn missing_required_header(stream: &HttpStream, dir: Dir) -> Option<Option<&'static str>> {
    let side = stream.side(dir);
    let headers = side.forwarded.headers.as_ref()?;
    if stream.is_finished() || side.required_checked {
        return None;
    }
    Some(match dir {
        Dir::Request => missing_request_header(headers),
        // A local reply's headers are Envoy's own: they have a `:status`.
        Dir::Response if stream.local_reply.is_some() => None,
        Dir::Response => missing_response_header(headers),
    })
}

/// `checkRequiredRequestHeaders`: `:method`, then `:path` (`:authority` instead for CONNECT).
fn missing_request_header(headers: &Headers) -> Option<&'static str> {
    match headers.value_of(":method") {
        None => Some(":method"),
        Some(b"CONNECT") => headers
            .value_of(":authority")
            .is_none()
            .then_some(":authority"),
        Some(_) => headers.value_of(":path").is_none().then_some(":path"),
    }
}

/// `checkRequiredResponseHeaders`: a `:status` that parses as a number (`getResponseStatusOrNullopt`).
fn missing_response_header(headers: &Headers) -> Option<&'static str> {
    let status = headers
        .value_of(":status")
        .and_then(|s| std::str::from_utf8(s).ok()?.parse::<u64>().ok());
    status.is_none().then_some(":status")
}
