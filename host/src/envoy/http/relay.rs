//! What a driver that relays live traffic (the dev proxy) needs beyond the test API's observers: the bytes that passed
//! the filter since it last looked, without copying everything that passed before, and forgetting a stream once Envoy
//! destroyed its context, so a plugin that serves for hours does not keep every stream it ever saw.

use super::side::{Buffering, Forwarded};
use super::{Dir, StreamLife, Vm};

impl Vm {
    /// What passed the filter on `dir`: the headers and trailers as they stand (the driver remembers which it sent),
    /// and the body bytes that passed since the last call, moved out.
    pub(crate) fn take_passed(&mut self, id: u32, dir: Dir) -> Forwarded {
        let forwarded = &mut self.stream_mut(id).side_mut(dir).forwarded;
        Forwarded {
            headers: forwarded.headers.clone(),
            body: std::mem::take(&mut forwarded.body),
            trailers: forwarded.trailers.clone(),
            end_stream: forwarded.end_stream,
        }
    }

    /// Body bytes the filter holds on `dir` under Envoy's watermarks (headers stopped, or a body callback's
    /// StopIterationAndWatermark): past the buffer limit Envoy stops reading the peer. A body held with
    /// StopIterationAndBuffer is not counted: past the limit Envoy answers 413 or 500 instead, as the host does.
    pub(crate) fn watermarked_body_bytes(&self, id: u32, dir: Dir) -> usize {
        let side = self.stream(id).side(dir);
        match side.buffering {
            Some(Buffering::Buffer) => 0,
            _ => side.body.len() + side.watermarked.len(),
        }
    }

    /// Drops a stream whose context Envoy destroyed (after `on_delete`); a stream still alive is kept. Its maps, and
    /// its own allocation, are kept for the next streams.
    pub(crate) fn forget_stream(&mut self, id: u32) {
        let state = self.state_mut();
        // Taken out, and put back in the rare case it is still alive: one lookup for the usual case.
        let Some(mut stream) = state.streams.remove(&id) else {
            return;
        };
        if stream.life != StreamLife::Deleted {
            state.streams.insert(id, stream);
            return;
        }
        for side in [&mut stream.request, &mut stream.response] {
            // What passed first: it shares the side's own map, which is then the last holder.
            let maps = [
                side.forwarded.headers.take(),
                side.forwarded.trailers.take(),
                side.headers.take(),
                side.trailers.take(),
            ];
            for map in maps.into_iter().flatten() {
                state.spare_maps.keep(map);
            }
        }
        state.spare_stream = Some(stream);
        state.forget_foreign_state(id);
    }
}
