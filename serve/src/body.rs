//! A body fed from a channel: what the chain lets through reaches the client or the upstream frame by frame, as it
//! passes the filters, instead of once the whole message is known.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame};
use tokio::sync::mpsc;

/// Why a relayed body stopped early: the stream was reset (by a plugin, a peer or a failure).
#[derive(Debug)]
pub struct Reset(pub String);

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stream reset: {}", self.0)
    }
}

impl std::error::Error for Reset {}

pub type Item = Result<Frame<Bytes>, Reset>;

/// The receiving end: a hyper body.
pub struct ChannelBody {
    frames: mpsc::Receiver<Item>,
}

/// Frames are small and the sender never waits long for room: the receiver is the connection hyper writes to.
const FRAMES_IN_FLIGHT: usize = 16;

pub fn channel() -> (mpsc::Sender<Item>, ChannelBody) {
    let (tx, rx) = mpsc::channel(FRAMES_IN_FLIGHT);
    (tx, ChannelBody { frames: rx })
}

impl ChannelBody {
    /// A body that is already complete.
    pub fn full(bytes: impl Into<Bytes>) -> ChannelBody {
        ChannelBody::complete(bytes, None)
    }

    /// A body that is already complete, with its trailers.
    pub fn complete(bytes: impl Into<Bytes>, trailers: Option<hyper::HeaderMap>) -> ChannelBody {
        let (tx, body) = channel();
        let bytes = bytes.into();
        if !bytes.is_empty() {
            let _ = tx.try_send(Ok(Frame::data(bytes)));
        }
        if let Some(trailers) = trailers {
            let _ = tx.try_send(Ok(Frame::trailers(trailers)));
        }
        body
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Reset;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        self.frames.poll_recv(cx)
    }
}
