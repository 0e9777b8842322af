//! The OCI vocabulary every command shares: digests, image references, and the image layout `package`
//! writes and `push`, `deploy` and `check` read.

pub mod digest;
pub mod documents;
pub mod layout;
pub mod reference;

/// Config and first layer of the wasm-artifact variant (wasme's `runtime-config.json`).
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.module.wasm.config.v1+json";
/// The raw module layer of the wasm-artifact variant.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/vnd.module.wasm.content.layer.v1+wasm";
