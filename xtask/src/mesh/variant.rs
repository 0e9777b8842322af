//! Which image variant a mesh pulls. Istio's `pkg/wasm/imagefetcher.go` (copied by Envoy Gateway's
//! `internal/wasm/imagefetcher.go`) reads a "compat" image whose last tar+gzip layer holds `plugin.wasm`, or the
//! wasm artifact (exactly two layers, one of them the raw module); Maistra's ServiceMeshExtension puller reads
//! `/manifest.yaml` and the module from the single layer of the dual image only.

use std::fmt;

use anyhow::bail;

use super::Resource;
use crate::oci::{WASM_LAYER_MEDIA_TYPE, layout::StoredImage};

/// The two images `package` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    /// One tar+gzip layer holding `/manifest.yaml` and `/plugin.wasm` (`--format dual`).
    Dual,
    /// Istio's OCI wasm artifact: a runtime-config layer and the raw module (`--format artifact`).
    Artifact,
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Variant::Dual => "dual image (one tar+gzip layer)",
            Variant::Artifact => "wasm artifact (two layers, raw module)",
        })
    }
}

/// Tells the variant of a packaged image from its layers' media types.
pub(crate) fn of(image: &StoredImage) -> anyhow::Result<Variant> {
    let layers: Vec<&str> = image
        .blobs
        .iter()
        .filter(|b| b.role == "layer")
        .map(|b| b.media_type.as_str())
        .collect();
    match layers.as_slice() {
        [one] if one.ends_with("tar+gzip") || one.ends_with("tar.gzip") => Ok(Variant::Dual),
        [_, _] if layers.contains(&WASM_LAYER_MEDIA_TYPE) => Ok(Variant::Artifact),
        _ => bail!(
            "the packaged image has layers {layers:?}, neither the dual image nor the wasm artifact; run `cargo xtask package` again"
        ),
    }
}

/// Whether `resource` pulls `variant`; `Err` says why not and how to package instead.
pub(crate) fn accepted(resource: Resource, variant: Variant) -> Result<(), String> {
    match (resource, variant) {
        (Resource::SmeV1alpha1 | Resource::SmeV1, Variant::Artifact) => Err(format!(
            "a ServiceMeshExtension reads /manifest.yaml from the single layer of the dual image, and this is the {variant}: package with `--format dual`"
        )),
        _ => Ok(()),
    }
}
