//! What Envoy checks of the headers that leave the filter chain: a response without a valid `:status`
//! (`FilterManager::encodeHeaders` → `HeaderUtility::checkRequiredResponseHeaders`) becomes a 502, a request
//! without `:method` or `:path` (`:authority` for CONNECT) is refused by the upstream codec
//! (`UpstreamCodecFilter::decodeHeaders` → `checkRequiredRequestHeaders`) with a 503.

use super::side::Forwarded;
use super::{Dir, Headers, LocalReply, Vm, local_reply, replace_all_empty_space};

impl Vm {
    /// Checks the headers that passed this filter since the last check, on every open stream.
    pub(crate) fn check_required_headers(&mut self) {
        let unchecked: Vec<(u32, Dir)> = self
            .state()
            .streams
            .iter()
            .filter(|(_, s)| !s.is_finished())
            .flat_map(|(id, s)| {
                [Dir::Request, Dir::Response]
                    .into_iter()
                    .filter(|dir| {
                        let side = s.side(*dir);
                        !side.required_checked && side.forwarded.headers.is_some()
                    })
                    .map(|dir| (*id, dir))
            })
            .collect();
        for (id, dir) in unchecked {
            let stream = self.stream_mut(id);
            let local_reply = stream.local_reply.is_some();
            let side = stream.side_mut(dir);
            side.required_checked = true;
            let headers = side.forwarded.headers.as_ref().expect("checked above");
            let missing = match dir {
                Dir::Request => missing_request_header(headers),
                // A local reply's headers are Envoy's own: they have a `:status`.
                Dir::Response if local_reply => None,
                Dir::Response => missing_response_header(headers),
            };
            let Some(missing) = missing else { continue };
            let message = format!("missing required header: {missing}");
            let details = |prefix: &str| {
                format!(
                    "{prefix}{{{}}}",
                    replace_all_empty_space(message.as_bytes())
                )
            };
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
                    stream.code_details = Some(reply.details.clone());
                    let composed = local_reply::compose(&reply, self.stream(id));
                    self.direct_reply(id, composed);
                    self.stream_mut(id).response.required_checked = true;
                }
            }
        }
    }
}

/// `checkRequiredRequestHeaders`: `:method`, then `:path` (`:authority` instead for CONNECT).
fn missing_request_header(headers: &Headers) -> Option<&'static str> {
    match headers.get_bytes(":method") {
        None => Some(":method"),
        Some(b"CONNECT") => (!headers.contains(":authority")).then_some(":authority"),
        Some(_) => (!headers.contains(":path")).then_some(":path"),
    }
}

/// `checkRequiredResponseHeaders`: a `:status` that parses as a number (`getResponseStatusOrNullopt`).
fn missing_response_header(headers: &Headers) -> Option<&'static str> {
    let status = headers.get(":status").and_then(|s| s.parse::<u64>().ok());
    status.is_none().then_some(":status")
}
