//! The Envoy releases an extension is deployed to, as one table that `deploy`, `check` and the host read:
//! the targets `--for` names (a mesh at a version, and the Envoy it ships), the imports each Envoy release
//! links, and how each release's Wasm filter behaves where releases differ.

mod behaviour;
pub mod imports;
mod since;
mod target;

pub use behaviour::{Change, DIFFERENCES, Difference, Envoy};
pub use imports::{AbiVersion, Verdict};
pub use since::Presence;
pub use target::{ENVOY_LATEST, GATEWAY_LATEST, ISTIO_LATEST, Target, UnknownTarget};
