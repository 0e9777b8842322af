//! The OCI image-spec documents `package` writes and `push`, `deploy` and `check` read
//! (github.com/opencontainers/image-spec: descriptor.md, manifest.md, image-index.md, config.md,
//! image-layout.md), with only the fields these commands use.
//!
//! Plain serde types rather than the oci-spec crate: its builders and validation pull derive_builder,
//! darling, getset, strum, regex and a second syn into xtask's build, 9–12 s of a fresh clone's first
//! `cargo xtask package` on 2 cores, for five structs. xtask's tests read every document written here
//! back with oci-spec, so the two cannot drift apart unnoticed.
//!
//! Reading ignores fields not listed (`urls`, `platform`, `artifactType`, `subject`…), as the spec asks
//! of consumers; an optional field left `None` is not written.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const MEDIA_TYPE_IMAGE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_TYPE_IMAGE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_TYPE_IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_TYPE_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Pre-defined annotation keys (annotations.md).
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
pub const ANNOTATION_SOURCE: &str = "org.opencontainers.image.source";
pub const ANNOTATION_VERSION: &str = "org.opencontainers.image.version";
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
pub const ANNOTATION_DESCRIPTION: &str = "org.opencontainers.image.description";
/// The tag an image layout's index gives its image.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The only `imageLayoutVersion` the spec defines.
pub const IMAGE_LAYOUT_VERSION: &str = "1.0.0";

pub type Annotations = BTreeMap<String, String>;

/// A reference to a blob: what it is, its digest and its size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    /// `algorithm:encoded`, e.g. `sha256:<64 hex>`.
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
}

/// An image manifest: a config blob and its layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
}

/// An image index: `index.json` of a layout lists its images with one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// The `oci-layout` file at the root of an image layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciLayout {
    pub image_layout_version: String,
}

/// An image configuration (`application/vnd.oci.image.config.v1+json`), the fields a
/// `FROM scratch` image of a module carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageConfiguration {
    pub created: String,
    pub architecture: String,
    pub os: String,
    pub config: ExecutionConfig,
    pub rootfs: RootFs,
    pub history: Vec<History>,
}

/// The execution parameters of an image config; a module image has labels only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecutionConfig {
    #[serde(rename = "Labels")]
    pub labels: Annotations,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub typ: String,
    /// `sha256:` of each layer's uncompressed tar, in layer order.
    pub diff_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct History {
    pub created: String,
    pub created_by: String,
}
