//! Local replies: what `proxy_send_local_response` asks for and the response Envoy composes from it
//! (`Utility::prepareLocalReply`).

use std::fmt::Write;

use super::{Headers, HttpStream, MapKind};

/// A local reply as the plugin (or Envoy's failure policy) asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u32,
    /// Response code details, blanks replaced by `_` as Envoy does (`wasm_fail_stream` for a failed VM).
    pub details: String,
    pub body: Vec<u8>,
    /// The extra headers the plugin passed (names lower-cased).
    pub headers: Headers,
    /// The gRPC status the plugin passed (0..=16), `None` for plain HTTP replies.
    pub grpc_status: Option<u32>,
}

/// The response a local reply turns into.
#[derive(Debug, Clone)]
pub(crate) struct Composed {
    pub(crate) headers: Headers,
    pub(crate) body: Vec<u8>,
}

/// Composes the response the way Envoy's `prepareLocalReply` does for this request.
pub(crate) fn compose(reply: &LocalReply, stream: &HttpStream) -> Composed {
    let mut headers = Headers::of_kind(MapKind::ResponseHeaders);
    headers.add(":status", reply.status.to_string());
    for (name, value) in reply.headers.pairs() {
        headers.add(name, value);
    }
    let mut body = reply.body.clone();
    if stream.is_grpc() {
        // A gRPC client gets a trailers-only response: status in headers, message in `grpc-message`.
        headers.set(":status", "200");
        headers.set("content-type", "application/grpc");
        if !headers.contains("grpc-status") {
            let code = reply
                .grpc_status
                .unwrap_or_else(|| http_to_grpc_status(reply.status));
            headers.set("grpc-status", code.to_string());
        }
        if !body.is_empty() {
            headers.set("grpc-message", percent_encode(&body));
        }
        headers.remove("content-length");
        body.clear();
    } else if body.is_empty() {
        headers.remove("content-length");
        headers.remove("content-type");
    } else {
        headers.set("content-length", body.len().to_string());
        if !headers.contains("content-type") {
            headers.set("content-type", "text/plain");
        }
    }
    let head = stream
        .request
        .headers
        .as_ref()
        .and_then(|h| h.get(":method"))
        == Some("HEAD");
    if head {
        body.clear();
    }
    Composed { headers, body }
}

/// Envoy `Utility::httpToGrpcStatus`.
fn http_to_grpc_status(status: u32) -> u32 {
    match status {
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502..=504 => 14,
        _ => 2,
    }
}

/// `grpc-message` encoding as Envoy's `Http::Utility::PercentEncoding::encode` with its default reserved `%`:
/// bytes from space up to but not including `~`, except `%`, stay; everything else (`~` too) becomes `%XX`.
fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        if (b' '..b'~').contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Response code details as Envoy's `StringUtil::replaceAllEmptySpace` leaves them (`Context::sendLocalResponse`
/// applies it): each of space, `\t`, `\f`, `\v`, `\n` and `\r` becomes `_`; nothing else changes.
pub(crate) fn replace_all_empty_space(details: &[u8]) -> String {
    String::from_utf8_lossy(details)
        .chars()
        .map(|ch| match ch {
            ' ' | '\t' | '\x0c' | '\x0b' | '\n' | '\r' => '_',
            ch => ch,
        })
        .collect()
}
