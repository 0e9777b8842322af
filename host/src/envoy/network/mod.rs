//! One downstream TCP connection through a network filter (`envoy.filters.network.wasm`) in front of Envoy's TCP
//! proxy, the way Envoy's network filter manager and Wasm `Context` drive it: the connection's state
//! (`connection`), and the events reaching the filter with what its answers do (`filter`).
//!
//! A connection's context is a stream context like an HTTP stream's (same id counter, filter state, attributes,
//! callouts, `set_envoy_filter_state`); what is the connection's own lives in [`Connection`], which the stream
//! context record carries.

mod connection;
mod filter;

pub use connection::ConnectionClosed;
pub(crate) use connection::{Connection, Flow};
