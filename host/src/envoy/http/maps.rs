//! The maps and buffers a host call addresses, as Envoy's `Context::getMap` / `getBuffer` resolve them: which
//! exist when, and which are null (`None`).

use super::{Dir, Headers, HostState, HttpStream, MapKind};
use crate::envoy::Flow;
use crate::spec::{BufferType, MapType};

impl super::Vm {
    /// An empty map of class `kind` with room for `entries` entries of `bytes` bytes, built in one a forgotten stream
    /// left when there is one.
    pub(crate) fn spare_map(&mut self, kind: MapKind, entries: usize, bytes: usize) -> Headers {
        self.state_mut().spare_maps.map(kind, entries, bytes)
    }
}

impl HostState {
    /// The map a host call addresses, as Envoy's `getConstMap` resolves it; `None` is Envoy's null pointer.
    pub(crate) fn map(&self, map: MapType) -> Option<&Headers> {
        match map {
            MapType::HttpCallResponseHeaders => self.callouts.delivering.as_ref()?.headers.as_ref(),
            MapType::HttpCallResponseTrailers => {
                self.callouts.delivering.as_ref()?.trailers.as_ref()
            }
            MapType::GrpcInitialMetadata => self
                .callouts
                .delivering
                .as_ref()?
                .grpc_initial_metadata
                .as_ref(),
            MapType::GrpcTrailingMetadata => self
                .callouts
                .delivering
                .as_ref()?
                .grpc_trailing_metadata
                .as_ref(),
            _ => {
                let stream = self.stream()?;
                let (side_dir, trailers) = stream_map(map);
                let side = stream.side(side_dir);
                // The access-log phase reads Envoy's access-log copies; it has none of the request trailers.
                if stream.in_log() && trailers && side_dir == Dir::Request {
                    return None;
                }
                let (headers, visible) = if trailers {
                    (
                        side.trailers.as_ref(),
                        side.reach.trailers || stream.in_log(),
                    )
                } else {
                    (side.headers.as_ref(), side.reach.headers || stream.in_log())
                };
                headers.filter(|_| visible)
            }
        }
    }

    /// The map a mutating host call (and `proxy_get_header_map_size`) addresses, as Envoy's `getMap` resolves
    /// it: the stream's maps only (no access-log copies; a callout answer's maps and gRPC metadata are `nullptr`
    /// there). Trailers can be added from the last body callback.
    pub(crate) fn map_mut(&mut self, map: MapType) -> Option<&mut Headers> {
        match map {
            MapType::HttpCallResponseHeaders
            | MapType::HttpCallResponseTrailers
            | MapType::GrpcInitialMetadata
            | MapType::GrpcTrailingMetadata => None,
            _ => {
                let (dir, trailers) = stream_map(map);
                let side = self.stream_mut()?.side_mut(dir);
                if trailers {
                    if side.trailers.is_none() && side.last_body_callback {
                        side.trailers = Some(Headers::of_kind(trailers_kind(dir)));
                        side.reach.trailers = true;
                    }
                    side.trailers.as_mut().filter(|_| side.reach.trailers)
                } else {
                    side.headers.as_mut().filter(|_| side.reach.headers)
                }
            }
        }
    }

    /// Whether the acting stream is in its access-log phase (Envoy answers missing maps with NotFound there).
    pub(crate) fn in_access_log(&self) -> bool {
        self.stream().is_some_and(HttpStream::in_log)
    }

    /// Whether Envoy's `getBuffer` returns a buffer for `buffer` now: not the plugin configuration outside
    /// `on_configure` (no `temp_plugin_`), not a callout body outside its answer (no `http_call_response_`).
    pub(crate) fn has_buffer(&self, buffer: BufferType) -> bool {
        match buffer {
            BufferType::HttpCallResponseBody => self
                .callouts
                .delivering
                .as_ref()
                .is_some_and(|d| d.headers.is_some()),
            BufferType::PluginConfiguration => self.configuring,
            _ => true,
        }
    }

    /// The bytes behind a buffer type, as Envoy's `getBuffer` serves them; `None` is a null buffer (NotFound).
    pub(crate) fn buffer(&self, buffer: BufferType) -> Option<&[u8]> {
        if !self.has_buffer(buffer) {
            return None;
        }
        match buffer {
            BufferType::RequestBody | BufferType::ResponseBody => {
                let dir = if buffer == BufferType::RequestBody {
                    Dir::Request
                } else {
                    Dir::Response
                };
                let side = self.stream().map(|s| s.side(dir));
                Some(
                    side.filter(|s| s.reach.body)
                        .map(|s| s.body.as_slice())
                        .unwrap_or(&[]),
                )
            }
            BufferType::DownstreamData | BufferType::UpstreamData => Some(
                self.network_flow(buffer)
                    .filter(|f| f.reach)
                    .map(|f| f.held.as_slice())
                    .unwrap_or(&[]),
            ),
            BufferType::HttpCallResponseBody => Some(&self.callouts.delivering.as_ref()?.body),
            BufferType::GrpcReceiveBuffer => Some(
                self.callouts
                    .delivering
                    .as_ref()
                    .map(|d| d.body.as_slice())
                    .unwrap_or(&[]),
            ),
            BufferType::VmConfiguration => Some(&self.settings.vm_config),
            BufferType::PluginConfiguration => Some(&self.settings.config),
            BufferType::CallData => Some(&self.call_data),
        }
    }

    /// The body buffer a `proxy_set_buffer_bytes` writes to, if Envoy holds one. Every other buffer is a string
    /// buffer or a const one (configurations, call data, callout answers), and so is a body Envoy does not hold
    /// (outside its callback, after it passed): cpp-host's `BufferBase::copyFrom` answers those BadArgument.
    pub(crate) fn body_mut(&mut self, buffer: BufferType) -> Option<&mut Vec<u8>> {
        let dir = match buffer {
            BufferType::RequestBody => Dir::Request,
            BufferType::ResponseBody => Dir::Response,
            BufferType::DownstreamData | BufferType::UpstreamData => {
                let flow = self.network_flow_mut(buffer)?;
                return flow.reach.then_some(&mut flow.held);
            }
            _ => return None,
        };
        let side = self.stream_mut()?.side_mut(dir);
        side.reach.body.then_some(&mut side.body)
    }
}

impl HostState {
    /// The direction of the acting connection a network buffer type names (Envoy's
    /// `network_{downstream,upstream}_data_buffer_`); `None` outside a connection's context.
    fn network_flow(&self, buffer: BufferType) -> Option<&Flow> {
        let connection = self.stream()?.network.as_deref()?;
        Some(match buffer {
            BufferType::DownstreamData => &connection.downstream,
            _ => &connection.upstream,
        })
    }

    fn network_flow_mut(&mut self, buffer: BufferType) -> Option<&mut Flow> {
        let connection = self.stream_mut()?.network.as_deref_mut()?;
        Some(connection.flow_mut(buffer == BufferType::DownstreamData))
    }
}

/// Which side and which map (headers or trailers) a stream map type names.
fn stream_map(map: MapType) -> (Dir, bool) {
    match map {
        MapType::RequestHeaders => (Dir::Request, false),
        MapType::RequestTrailers => (Dir::Request, true),
        MapType::ResponseHeaders => (Dir::Response, false),
        _ => (Dir::Response, true),
    }
}

/// Envoy's class for a side's headers: `RequestHeaderMapImpl` or `ResponseHeaderMapImpl`.
pub(crate) fn headers_kind(dir: Dir) -> MapKind {
    match dir {
        Dir::Request => MapKind::RequestHeaders,
        Dir::Response => MapKind::ResponseHeaders,
    }
}

/// Envoy's class for a side's trailers: `RequestTrailerMapImpl` (no inline names) or `ResponseTrailerMapImpl`.
pub(crate) fn trailers_kind(dir: Dir) -> MapKind {
    match dir {
        Dir::Request => MapKind::Plain,
        Dir::Response => MapKind::ResponseTrailers,
    }
}
