//! The CEL attribute groups Envoy serves a stream (`request`, `response`, `connection`, `upstream`, `source`,
//! `destination`) and the `xds` group, each as `StreamActivation` resolves its keys.

use std::time::UNIX_EPOCH;

use super::schema::Message;
use super::{CONNECTION_ID, Found, PropertyValue, Scope, byte_size, http_to_grpc, owned};
use crate::envoy::Headers;
use crate::envoy::HttpStream;
use crate::spec::Status;

impl<'a> Scope<'a> {
    /// `RequestLookupValues` (expr/context.cc): header attributes exist only while Envoy holds the request headers
    /// (`request_headers_`, else the access-log copy in `on_log`).
    pub(super) fn request(&self, stream: &'a HttpStream, key: &str) -> Result<Found<'a>, Status> {
        let side = &stream.request;
        let headers = side
            .headers
            .as_ref()
            .filter(|_| side.reach.headers || stream.in_log());
        let first = |name: &str| -> Result<Found<'a>, Status> {
            let value = headers
                .and_then(|h| h.get_bytes(name))
                .ok_or(Status::NotFound)?;
            Ok(owned(PropertyValue::Bytes(value.to_vec())))
        };
        let path = || -> Result<&str, Status> {
            Ok(headers.ok_or(Status::NotFound)?.get(":path").unwrap_or(""))
        };
        let received = (side.forwarded.body.len() + side.body.len()) as i64;
        let header_bytes = headers.map_or(0, byte_size);
        Ok(match key {
            "path" => return first(":path"),
            "url_path" => owned(path()?.split('?').next().unwrap_or("").into()),
            "query" => {
                let query = path()?.split_once('?').map_or("", |(_, q)| q);
                owned(query.split('#').next().unwrap_or("").into())
            }
            "host" => return first(":authority"),
            "scheme" => return first(":scheme"),
            "method" => return first(":method"),
            "referer" => return first("referer"),
            "useragent" => return first("user-agent"),
            "id" => return first("x-request-id"),
            "headers" => Found::Headers(headers),
            "headers_bytes" => owned(PropertyValue::Int(header_bytes)),
            "time" => owned(PropertyValue::Timestamp(UNIX_EPOCH + stream.started)),
            "size" => match headers.and_then(|h| h.get("content-length")) {
                Some(length) => owned(PropertyValue::Int(
                    length.parse().map_err(|_| Status::NotFound)?,
                )),
                None => owned(PropertyValue::Int(received)),
            },
            "total_size" => owned(PropertyValue::Int(received + header_bytes)),
            // Set when the stream completes, before the access log runs.
            "duration" if stream.is_finished() => owned(PropertyValue::Duration(
                self.state.clock.now().saturating_sub(stream.started),
            )),
            "protocol" => self
                .given("request", "protocol")
                .unwrap_or_else(|| owned("HTTP/1.1".into())),
            _ => return Err(Status::NotFound),
        })
    }
    /// `ResponseLookupValues`: headers and trailers while Envoy holds them (or their access-log copies in
    /// `on_log`); the code and its details from the stream info, once there is a response.
    pub(super) fn response(&self, stream: &'a HttpStream, key: &str) -> Result<Found<'a>, Status> {
        let side = &stream.response;
        let (headers, trailers) = if stream.in_log() {
            (
                side.forwarded.headers.as_ref().or(side.headers.as_ref()),
                side.forwarded.trailers.as_ref().or(side.trailers.as_ref()),
            )
        } else {
            (
                side.headers.as_ref().filter(|_| side.reach.headers),
                side.trailers.as_ref().filter(|_| side.reach.trailers),
            )
        };
        let code = stream.response_code.map(i64::from);
        let sent = side.forwarded.body.len() as i64;
        Ok(match key {
            "code" => owned(PropertyValue::Int(code.ok_or(Status::NotFound)?)),
            "code_details" => owned(PropertyValue::String(
                stream
                    .code_details
                    .as_deref()
                    .ok_or(Status::NotFound)?
                    .to_string(),
            )),
            "headers" => Found::Headers(headers),
            "headers_bytes" => owned(PropertyValue::Int(headers.map_or(0, byte_size))),
            "trailers" => Found::Headers(trailers),
            "flags" => owned(PropertyValue::Int(0)),
            // `Grpc::Common::getGrpcStatus`: trailers, then headers, then the HTTP status mapped.
            "grpc_status" => {
                let from = |h: Option<&Headers>| -> Option<i64> {
                    h?.get("grpc-status")?.trim().parse().ok()
                };
                let status = from(trailers)
                    .or_else(|| from(headers))
                    .or_else(|| code.map(http_to_grpc))
                    .ok_or(Status::NotFound)?;
                owned(PropertyValue::Int(status))
            }
            "size" => owned(PropertyValue::Int(sent)),
            "total_size" => owned(PropertyValue::Int(
                sent + headers.map_or(0, byte_size) + trailers.map_or(0, byte_size),
            )),
            _ => return Err(Status::NotFound),
        })
    }
    /// `ConnectionLookupValues`: a plain-text connection unless the test set TLS attributes.
    pub(super) fn connection(&self, key: &str) -> Result<Found<'a>, Status> {
        if let Some(found) = self.given("connection", key) {
            return Ok(found);
        }
        Ok(match key {
            "mtls" => owned(PropertyValue::Bool(false)),
            "requested_server_name" => owned("".into()),
            "id" => self.connection_id(),
            _ => return Err(Status::NotFound),
        })
    }
    pub(super) fn connection_id(&self) -> Found<'a> {
        self.given("connection", "id")
            .unwrap_or_else(|| owned(PropertyValue::Uint(CONNECTION_ID)))
    }
    /// `UpstreamLookupValues`: only what the test set, except the attempt count Envoy always answers (one once
    /// the request went upstream).
    pub(super) fn upstream(&self, stream: &HttpStream, key: &str) -> Result<Found<'a>, Status> {
        if let Some(found) = self.given("upstream", key) {
            return Ok(found);
        }
        match key {
            "request_attempt_count" => {
                let attempted =
                    stream.request.forwarded.headers.is_some() && stream.local_reply.is_none();
                Ok(owned(PropertyValue::Uint(u64::from(attempted))))
            }
            _ => Err(Status::NotFound),
        }
    }
    /// `PeerWrapper`: `address` and `port` of the downstream peer (`source`) or the local address (`destination`).
    pub(super) fn peer(
        &self,
        root: &str,
        key: &str,
        address: &str,
        port: i64,
    ) -> Result<Found<'a>, Status> {
        if let Some(found) = self.given(root, key) {
            return Ok(found);
        }
        match key {
            "address" => Ok(owned(address.into())),
            "port" => Ok(owned(PropertyValue::Int(port))),
            _ => Err(Status::NotFound),
        }
    }
    /// `XDSLookupValues`: the node always (an empty one unless the test set it); the rest needs stream info and
    /// exists only where the test set it (the host has no route, cluster or listener of its own).
    pub(super) fn xds(&self, key: &str) -> Result<Found<'a>, Status> {
        if key == "node" {
            return Ok(Found::Message(
                Message::Node,
                self.given.fields(&["xds", "node"]),
            ));
        }
        self.stream.ok_or(Status::NotFound)?;
        if let Some(found) = self.given("xds", key) {
            return Ok(found);
        }
        match key {
            "filter_chain_name" => Ok(owned("".into())),
            _ => Err(Status::NotFound),
        }
    }
}
