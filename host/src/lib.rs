//! A proxy-wasm host on wasmtime that loads a compiled filter and drives it the way Envoy does, for tests.
//!
//! Three layers: [`abi`] (imports, guest memory, wire formats), [`envoy`] (contexts, the HTTP stream state
//! machine, deferred actions, callouts, timers, shared state, failure policy) and [`testing`] (the API tests use).
//! See `README.md` for the API by example.

mod abi;
mod envoy;
mod spec;
pub mod testing;

#[cfg(doctest)]
mod readme_doctests;
