//! The OCI image of one extension, in memory: blobs by digest, the manifest, the index.
//! Everything is a pure function of its input, so the same sources give the same digest.

use std::{
    collections::BTreeMap,
    io::Write,
    str::FromStr,
    time::{Duration, UNIX_EPOCH},
};

use anyhow::{Context, bail};
use flate2::{Compression, GzBuilder};
use serde::Serialize;

use crate::{
    build::{self, AbiVersion},
    manifest::MODULE_FILE,
    oci::{
        WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE,
        digest::{sha256_digest, sha256_hex},
        documents::{
            ANNOTATION_CREATED, ANNOTATION_DESCRIPTION, ANNOTATION_REF_NAME, ANNOTATION_SOURCE,
            ANNOTATION_TITLE, ANNOTATION_VERSION, Annotations, Descriptor, ExecutionConfig,
            History, IMAGE_LAYOUT_VERSION, ImageConfiguration, ImageIndex, ImageManifest,
            MEDIA_TYPE_IMAGE_CONFIG, MEDIA_TYPE_IMAGE_INDEX, MEDIA_TYPE_IMAGE_MANIFEST,
            MEDIA_TYPE_LAYER_GZIP, OciLayout, RootFs,
        },
    },
};

/// Where Maistra's ServiceMeshExtension reads the manifest from.
pub(crate) const MANIFEST_FILE: &str = "manifest.yaml";

/// Which of the two image layouts to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// One gzip tar layer with `/manifest.yaml` and `/plugin.wasm`: Maistra's ServiceMeshExtension
    /// and Istio's WasmPlugin (compat variant) both read it.
    Dual,
    /// Istio's "oci" variant as `wasme` pushes it: runtime config as config and first layer, the
    /// raw module as second layer. WasmPlugin only.
    Artifact,
}

/// What goes into an image.
#[derive(Debug, Clone)]
pub(crate) struct Input<'a> {
    pub(crate) name: &'a str,
    pub(crate) version: &'a str,
    pub(crate) description: &'a str,
    pub(crate) source: Option<&'a str>,
    pub(crate) manifest_yaml: &'a [u8],
    pub(crate) module: &'a [u8],
    pub(crate) abi: AbiVersion,
    /// Seconds since 1970 for file times and `created` (`SOURCE_DATE_EPOCH`, else 0).
    pub(crate) epoch: u64,
}

/// A complete image: what an OCI image layout directory holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageFiles {
    /// Every blob, keyed by the hex of its sha256.
    pub(crate) blobs: BTreeMap<String, Vec<u8>>,
    /// `sha256:<hex>` of the image manifest: what a registry reports and a WasmPlugin pins.
    pub(crate) manifest_digest: String,
    /// `index.json`.
    pub(crate) index: Vec<u8>,
    /// `oci-layout`.
    pub(crate) oci_layout: Vec<u8>,
}

impl FromStr for Format {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Format> {
        match s {
            "dual" => Ok(Format::Dual),
            "artifact" => Ok(Format::Artifact),
            other => bail!(
                "`{other}` is not an image format: use `dual` (default; one layer with /manifest.yaml and /plugin.wasm, for ServiceMeshExtension and WasmPlugin) or `artifact` (OCI wasm artifact, WasmPlugin only)"
            ),
        }
    }
}

impl Format {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Format::Dual => "dual",
            Format::Artifact => "artifact",
        }
    }
}

/// Builds the image of `input` in `format`.
pub(crate) fn image(input: &Input, format: Format) -> anyhow::Result<ImageFiles> {
    let mut blobs = BTreeMap::new();
    let created = rfc3339(input.epoch);
    let mut annotations = BTreeMap::from([
        (ANNOTATION_TITLE, input.name.to_owned()),
        (ANNOTATION_VERSION, input.version.to_owned()),
        (ANNOTATION_DESCRIPTION, input.description.to_owned()),
        (ANNOTATION_CREATED, created.clone()),
    ]);
    if let Some(source) = input.source {
        annotations.insert(ANNOTATION_SOURCE, source.to_owned());
    }

    let (config, layers) = match format {
        Format::Dual => {
            let tar = layer_tar(
                &[
                    (MANIFEST_FILE, input.manifest_yaml),
                    (MODULE_FILE, input.module),
                ],
                input.epoch,
            )?;
            let diff_id = sha256_digest(&tar);
            let layer = add_blob(
                &mut blobs,
                MEDIA_TYPE_LAYER_GZIP,
                gzip(&tar)?,
                BTreeMap::new(),
            );
            // linux/amd64: what `FROM scratch` images of wasm modules carry, and the platform Istio's
            // fetcher picks; a fixed value keeps the digest independent of the packaging machine.
            let config = ImageConfiguration {
                created: created.clone(),
                architecture: "amd64".to_owned(),
                os: "linux".to_owned(),
                config: ExecutionConfig {
                    labels: owned(&annotations),
                },
                rootfs: RootFs {
                    typ: "layers".to_owned(),
                    diff_ids: vec![diff_id],
                },
                history: vec![History {
                    created,
                    created_by: format!("cargo xtask package ({} {})", input.name, input.version),
                }],
            };
            let config = add_blob(
                &mut blobs,
                MEDIA_TYPE_IMAGE_CONFIG,
                canonical_json(&config)?,
                BTreeMap::new(),
            );
            annotations.insert("module.wasm.image/variant", "compat".to_owned());
            (config, vec![layer])
        }
        Format::Artifact => {
            // Istio reads this variant only with exactly two layers (`extractOCIArtifactImage`);
            // `wasme push` makes the runtime config both the config and the first layer.
            let runtime_config = canonical_json(&serde_json::json!({
                "type": "envoy_proxy",
                "abiVersions": [build::wasme_abi_name(input.abi)],
                "config": { "rootIds": [] },
            }))?;
            let config = add_blob(
                &mut blobs,
                WASM_CONFIG_MEDIA_TYPE,
                runtime_config.clone(),
                BTreeMap::new(),
            );
            let first = add_blob(
                &mut blobs,
                WASM_CONFIG_MEDIA_TYPE,
                runtime_config,
                BTreeMap::from([(ANNOTATION_TITLE, "runtime-config.json".to_owned())]),
            );
            let module = add_blob(
                &mut blobs,
                WASM_LAYER_MEDIA_TYPE,
                input.module.to_vec(),
                BTreeMap::from([(ANNOTATION_TITLE, MODULE_FILE.to_owned())]),
            );
            annotations.insert(
                "module.wasm.runtime/abi_version",
                build::wasme_abi_name(input.abi),
            );
            annotations.insert("module.wasm.runtime/type", "envoy_proxy".to_owned());
            (config, vec![first, module])
        }
    };

    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_IMAGE_MANIFEST.to_owned()),
        config,
        layers,
        annotations: Some(owned(&annotations)),
    };
    let manifest = add_blob(
        &mut blobs,
        MEDIA_TYPE_IMAGE_MANIFEST,
        canonical_json(&manifest)?,
        BTreeMap::new(),
    );
    let manifest_digest = manifest.digest.clone();
    let listed = Descriptor {
        annotations: Some(owned(&BTreeMap::from([(
            ANNOTATION_REF_NAME,
            input.version.to_owned(),
        )]))),
        ..manifest
    };
    let index = ImageIndex {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_IMAGE_INDEX.to_owned()),
        manifests: vec![listed],
    };
    Ok(ImageFiles {
        blobs,
        manifest_digest,
        index: canonical_json(&index)?,
        oci_layout: canonical_json(&OciLayout {
            image_layout_version: IMAGE_LAYOUT_VERSION.to_owned(),
        })?,
    })
}

/// JSON with every object's keys sorted, struct fields included: the bytes, and so the digest, do not
/// depend on the order fields are declared in or on serde_json's `preserve_order`.
pub(crate) fn canonical_json<T: Serialize>(value: &T) -> anyhow::Result<Vec<u8>> {
    fn sorted(value: serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let entries: BTreeMap<String, serde_json::Value> =
                    map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
                serde_json::Value::Object(entries.into_iter().collect())
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.into_iter().map(sorted).collect())
            }
            other => other,
        }
    }
    let value = serde_json::to_value(value).context("cannot serialize an OCI document")?;
    Ok(serde_json::to_vec(&sorted(value))?)
}

/// The last second RFC 3339 can write (9999-12-31T23:59:59Z), so the latest `created` an image can carry.
const LAST_RFC3339_SECOND: u64 = 253_402_300_799;

/// `SOURCE_DATE_EPOCH` (reproducible-builds.org), else 0.
pub(crate) fn source_date_epoch() -> anyhow::Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) if !value.trim().is_empty() => parse_epoch(value.trim()),
        _ => Ok(0),
    }
}

pub(crate) fn parse_epoch(value: &str) -> anyhow::Result<u64> {
    let seconds: u64 = value.parse().with_context(|| {
        format!("SOURCE_DATE_EPOCH must be whole seconds since 1970 (e.g. `git log -1 --format=%ct`), found `{value}`")
    })?;
    if seconds > LAST_RFC3339_SECOND {
        anyhow::bail!(
            "SOURCE_DATE_EPOCH {value} is after the year 9999, which an image's `created` time cannot hold; \
             give seconds since 1970 (e.g. `git log -1 --format=%ct`)"
        );
    }
    Ok(seconds)
}

/// A tar of `files` (name, bytes) with fixed owner, mode and time, in the order given.
pub(crate) fn tar_of(files: &[(String, Option<&[u8]>)], epoch: u64) -> anyhow::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_ustar();
        header.set_path(name)?;
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(epoch);
        match data {
            Some(data) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(data.len() as u64);
                header.set_cksum();
                builder.append(&header, *data)?;
            }
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                header.set_cksum();
                builder.append(&header, std::io::empty())?;
            }
        }
    }
    Ok(builder.into_inner()?)
}

fn rfc3339(epoch: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(epoch)).to_string()
}

/// The layer's tar: files at the image root, sorted by name.
fn layer_tar(files: &[(&str, &[u8])], epoch: u64) -> anyhow::Result<Vec<u8>> {
    let mut files: Vec<(String, Option<&[u8]>)> = files
        .iter()
        .map(|(n, d)| (n.to_string(), Some(*d)))
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    tar_of(&files, epoch)
}

/// Gzip with no name and no time in the header, and a fixed compression level.
fn gzip(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::best());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}

fn add_blob(
    blobs: &mut BTreeMap<String, Vec<u8>>,
    media_type: &str,
    bytes: Vec<u8>,
    annotations: BTreeMap<&str, String>,
) -> Descriptor {
    let hex = sha256_hex(&bytes);
    let descriptor = Descriptor {
        media_type: media_type.to_owned(),
        digest: format!("sha256:{hex}"),
        size: bytes.len() as u64,
        annotations: (!annotations.is_empty()).then(|| owned(&annotations)),
    };
    blobs.insert(hex, bytes);
    descriptor
}

fn owned(entries: &BTreeMap<&str, String>) -> Annotations {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}
