//! Header maps of destroyed streams, emptied and kept to build the next streams' maps in: otherwise every request
//! allocates and frees each of its maps' buffers, which was a good part of the host's work per request.

use std::sync::Arc;

use super::{Buffers, Headers, MapKind};

/// A VM's spare maps: at most [`SpareMaps::KEPT`], none larger than [`SpareMaps::LARGEST`] bytes, so what one
/// large request grew is not held for good.
#[derive(Default)]
pub(crate) struct SpareMaps(Vec<Arc<Buffers>>);

impl SpareMaps {
    /// Enough for the maps of a few streams (request and response headers and trailers).
    const KEPT: usize = 8;
    const LARGEST: usize = 16 * 1024;

    /// An empty map of class `kind` with room for `entries` entries of `bytes` bytes of names and values: a kept
    /// one when there is one.
    pub(crate) fn map(&mut self, kind: MapKind, entries: usize, bytes: usize) -> Headers {
        let Some(mut inner) = self.0.pop() else {
            return Headers::with_capacity(kind, entries, bytes);
        };
        let b = Arc::get_mut(&mut inner).expect("a spare map is held by nothing else");
        b.bytes.reserve(bytes);
        b.entries.reserve(entries);
        Headers { inner, kind }
    }

    /// Keeps `headers`' buffers, emptied, if nothing else holds them (a copy a test kept, what passed the filter
    /// while the map itself is still to come) and they are not large; otherwise lets them go.
    pub(crate) fn keep(&mut self, headers: Headers) {
        let mut inner = headers.inner;
        if self.0.len() >= Self::KEPT {
            return;
        }
        if let Some(b) = Arc::get_mut(&mut inner)
            && b.bytes.capacity() <= Self::LARGEST
        {
            b.bytes.clear();
            b.entries.clear();
            b.inline_names = 0;
            self.0.push(inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_map_comes_back_empty_and_of_the_kind_asked_for() {
        let mut spare = SpareMaps::default();
        let mut headers = Headers::of_kind(MapKind::RequestHeaders);
        headers.add(":path", "/");
        spare.keep(headers);
        let map = spare.map(MapKind::ResponseHeaders, 1, 8);
        assert!(map.is_empty());
        assert_eq!(map.kind(), MapKind::ResponseHeaders);
        assert!(spare.0.is_empty(), "the kept map was handed out");
    }

    #[test]
    fn a_map_something_else_holds_is_not_kept() {
        let mut spare = SpareMaps::default();
        let mut headers = Headers::of_kind(MapKind::RequestHeaders);
        headers.add(":path", "/");
        let copy = headers.clone();
        spare.keep(headers);
        assert!(spare.0.is_empty());
        assert_eq!(copy.get(":path"), Some("/"));
        spare.keep(copy);
        assert_eq!(spare.0.len(), 1, "the last holder's map is kept");
    }
}
