//! What Envoy's codec and connection manager make of a request before any filter sees it, and how the maps that
//! leave the chain go back on the wire.
//!
//! Envoy's filters see one header map per message: pseudo-headers first (`:authority` from HTTP/1.1's `host`),
//! hop-by-hop headers gone (`ConnectionManagerUtility::mutateRequestHeaders`), `x-forwarded-proto` and a generated
//! `x-request-id` added.

use host::testing::Headers;
use hyper::header::{HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::http::response;
use hyper::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};

use crate::body::ChannelBody;
use crate::flags::Target;

/// Connection-level headers that never reach Envoy's filters nor the next hop.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// The request header map as Envoy's HTTP connection manager hands it to the first filter.
pub fn request_headers(parts: &Parts) -> Headers {
    let mut map = Headers::new();
    let authority = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            parts
                .headers
                .get("host")
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    map.add(":authority", authority);
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    map.add(":path", path);
    map.add(":method", parts.method.as_str());
    map.add(":scheme", "http");
    add_fields(&mut map, &parts.headers);
    if !map.contains("x-forwarded-proto") {
        map.add("x-forwarded-proto", "http");
    }
    if !map.contains("x-request-id") {
        map.add("x-request-id", uuid::Uuid::new_v4().to_string());
    }
    map
}

/// The response header map from the upstream: `:status` first.
pub fn response_headers(parts: &response::Parts) -> Headers {
    let mut map = Headers::new();
    map.add(":status", parts.status.as_str());
    add_fields(&mut map, &parts.headers);
    map
}

/// Trailers as a map.
pub fn trailers(fields: &HeaderMap) -> Headers {
    let mut map = Headers::new();
    add_fields(&mut map, fields);
    map
}

fn add_fields(map: &mut Headers, fields: &HeaderMap) {
    for (name, value) in fields {
        let name = name.as_str();
        if HOP_BY_HOP.contains(&name) || (name == "te" && value != "trailers") {
            continue;
        }
        map.add(name, value.as_bytes());
    }
}

/// Why a map that left the chain cannot go on the wire.
#[derive(Debug)]
pub struct Unsendable(pub String);

/// The request the upstream gets: method and path from the pseudo-headers, `:authority` as `host` (HTTP/1.1) or
/// the URI's authority (HTTP/2).
pub fn upstream_request(
    headers: &Headers,
    target: &Target,
    body: ChannelBody,
) -> Result<Request<ChannelBody>, Unsendable> {
    let method = headers.get(":method").unwrap_or("GET");
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| Unsendable(format!("bad :method {method:?}")))?;
    let path = headers.get(":path").unwrap_or("/");
    // Envoy's HTTP/1 codec would write any path a filter set into the request line; hyper's client sends only an
    // origin-form path, so another one is refused here (and answered 503) rather than sent to the wrong place.
    if !path.starts_with('/') {
        return Err(Unsendable(format!(
            "bad :path {path:?}: an origin-form path starts with /"
        )));
    }
    let authority = target.uri.authority().map_or("", |a| a.as_str());
    let uri: Uri = format!("http://{authority}{path}")
        .parse()
        .map_err(|_| Unsendable(format!("bad :path {path:?}")))?;
    let mut request = Request::builder().method(method).uri(uri);
    if target.http2 {
        request = request.version(Version::HTTP_2);
    }
    let mut request = request.body(body).map_err(|e| Unsendable(e.to_string()))?;
    if let Some(host) = headers.get(":authority")
        && !target.http2
        && let Ok(value) = HeaderValue::from_str(host)
    {
        request.headers_mut().insert("host", value);
    }
    copy_fields(headers, request.headers_mut())?;
    Ok(request)
}

/// The response the client gets from the response header map that left the first filter.
pub fn client_response(
    headers: &Headers,
    body: ChannelBody,
) -> Result<Response<ChannelBody>, Unsendable> {
    let status = headers.get(":status").unwrap_or_default();
    let status = status
        .parse::<u16>()
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| Unsendable(format!("bad :status {status:?}")))?;
    let mut response = Response::new(body);
    *response.status_mut() = status;
    copy_fields(headers, response.headers_mut())?;
    // The connection manager's last word, after every filter (`server_header_transformation` OVERWRITE); hyper
    // adds `date` when it is missing, as Envoy does.
    response
        .headers_mut()
        .insert("server", HeaderValue::from_static("envoy"));
    Ok(response)
}

/// Trailers for the wire.
pub fn trailer_fields(trailers: &Headers) -> Result<HeaderMap, Unsendable> {
    let mut fields = HeaderMap::new();
    copy_fields(trailers, &mut fields)?;
    Ok(fields)
}

fn copy_fields(headers: &Headers, fields: &mut HeaderMap) -> Result<(), Unsendable> {
    for (name, value) in headers.pairs() {
        if name.starts_with(b":") || HOP_BY_HOP.contains(&std::str::from_utf8(name).unwrap_or("")) {
            continue;
        }
        let name = HeaderName::from_bytes(name).map_err(|_| {
            Unsendable(format!(
                "bad header name {:?}",
                String::from_utf8_lossy(name)
            ))
        })?;
        let value = HeaderValue::from_bytes(value)
            .map_err(|_| Unsendable(format!("bad value of header {name}")))?;
        fields.append(name, value);
    }
    Ok(())
}
