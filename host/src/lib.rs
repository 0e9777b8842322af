//! A proxy-wasm host on wasmtime that loads a compiled filter and drives it the way Envoy does, for tests.
//!
//! Three layers over a leaf, each using only what is below it: [`testing`] (the API tests use, which also wires the
//! other two together), `abi` (the imports: guest memory and one thin shim per host function), `envoy` (Envoy's
//! side: VMs, contexts, the HTTP stream, callouts, timers, shared state, failure policy; it knows no import), and
//! `spec` (the ABI's vocabulary: statuses, enumerations, the pairs format). Only `testing` is public. See
//! `README.md` for the API by example.

mod abi;
mod envoy;
mod spec;
pub mod testing;

#[cfg(doctest)]
mod readme_doctests;
