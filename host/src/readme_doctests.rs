//! The Rust examples of the workspace's READMEs, compiled and run as this crate's doc tests
//! (`cargo test --doc -p host`, part of `cargo xtask test`), so an API change breaks the build instead of a
//! README. The examples drive `host::testing`, which is why they are tested here: the extensions are wasm
//! cdylibs whose tests link this crate. A block tagged `test_harness` is a whole `#[test]` file and runs with
//! the test harness; `no_run` blocks drive a filter that is not in the workspace and are only compiled.

/// The root `README.md`.
#[doc = include_str!("../../README.md")]
pub struct WorkspaceReadme;

/// `host/README.md`.
#[doc = include_str!("../README.md")]
pub struct HostReadme;

/// `extensions/header-append/README.md`.
#[doc = include_str!("../../extensions/header-append/README.md")]
pub struct HeaderAppendReadme;

/// `templates/README.md`.
#[doc = include_str!("../../templates/README.md")]
pub struct TemplatesReadme;
