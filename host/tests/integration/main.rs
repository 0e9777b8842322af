//! The host's integration tests: one test binary, one module per area, each driving the host from outside through
//! `host::testing` (the `proxy-wasm-run` binary has its own, in runner/tests). Test names are `<module>::<test>`; run one area with
//! `cargo test -p host --test integration conformance_http::`.

mod support;

mod bad_input;
mod conformance_abi_0_1_0;
mod conformance_callouts;
mod conformance_failure_policy;
mod conformance_foreign;
mod conformance_header_maps;
mod conformance_http;
mod conformance_lifecycle;
mod conformance_network;
mod conformance_properties;
mod conformance_service;
mod conformance_state;
mod conformance_statuses;
mod conformance_targets;
mod conformance_wasi;
mod hostile_modules;
mod readme_references;
mod sdk_0_1;
mod trap_reports;
mod wat_abi_versions;
mod wat_core;
mod wat_streams;
