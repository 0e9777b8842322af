//! Reads the OCI image layout `cargo xtask package` wrote and checks every blob against its
//! descriptor, so nothing corrupt or truncated is ever sent to a registry.

use std::{
    fs,
    io::Read as _,
    os::unix::fs::OpenOptionsExt as _,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use serde::de::DeserializeOwned;

use super::{
    digest::sha256_digest,
    documents::{Descriptor, ImageIndex, ImageManifest, OciLayout},
};

/// The image manifest of a layout, as exact bytes, and the blobs it references.
#[derive(Debug)]
pub struct StoredImage {
    /// `sha256:…` of `manifest` (the digest the registry will report).
    pub digest: String,
    pub media_type: String,
    /// The manifest bytes as stored: pushing anything else would change the digest.
    pub manifest: Vec<u8>,
    /// Config first, then layers in manifest order.
    pub blobs: Vec<Blob>,
}

/// One content-addressed file of the layout.
#[derive(Debug, Clone)]
pub struct Blob {
    /// `config` or `layer`.
    pub role: &'static str,
    /// The descriptor's media type (what tells the dual image from the wasm artifact).
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub path: PathBuf,
}

impl StoredImage {
    /// Reads the layout at `dir`, checking `oci-layout`, `index.json` and every blob's size and digest.
    pub fn open(dir: &Path) -> anyhow::Result<StoredImage> {
        let layout_file = dir.join("oci-layout");
        if !layout_file.exists() {
            bail!(
                "no OCI image layout at {} (its `oci-layout` file is missing); run `cargo xtask package` first",
                dir.display()
            );
        }
        let layout: OciLayout = read_json(&layout_file)
            .with_context(|| format!("{} is not an OCI layout file", layout_file.display()))?;
        if !layout.image_layout_version.starts_with("1.") {
            bail!(
                "{}: imageLayoutVersion {} is not supported (expected 1.x); run `cargo xtask package` again",
                layout_file.display(),
                layout.image_layout_version
            );
        }
        let index_file = dir.join("index.json");
        let index: ImageIndex = read_json(&index_file)
            .with_context(|| format!("cannot read the image index {}", index_file.display()))?;
        let descriptor = match index.manifests.as_slice() {
            [one] => one,
            [] => bail!(
                "{} lists no image; run `cargo xtask package` again",
                index_file.display()
            ),
            many => bail!(
                "{} lists {} manifests ({}); push expects the single image `cargo xtask package` writes",
                index_file.display(),
                many.len(),
                many.iter()
                    .map(|d| d.digest.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let media_type = descriptor.media_type.clone();
        if media_type.ends_with("index.v1+json") || media_type.ends_with("list.v2+json") {
            bail!(
                "{}: the image is a nested index ({media_type}); Istio reads single manifests, \
                 so push expects one image manifest",
                index_file.display()
            );
        }
        let manifest_blob = Blob::of(dir, "manifest", descriptor)?;
        let manifest = manifest_blob.read_verified()?;
        let parsed: ImageManifest = serde_json::from_slice(&manifest).with_context(|| {
            format!("{} is not an image manifest", manifest_blob.path.display())
        })?;
        let mut blobs = vec![Blob::of(dir, "config", &parsed.config)?];
        for layer in &parsed.layers {
            blobs.push(Blob::of(dir, "layer", layer)?);
        }
        for blob in &blobs {
            blob.read_verified()?;
        }
        Ok(StoredImage {
            digest: manifest_blob.digest,
            media_type,
            manifest,
            blobs,
        })
    }

    /// The manifest digest without its `sha256:` prefix (WasmPlugin's `sha256` field).
    pub fn digest_hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }
}

impl Blob {
    fn of(dir: &Path, role: &'static str, descriptor: &Descriptor) -> anyhow::Result<Blob> {
        let digest = descriptor.digest.clone();
        let Some(hex) = digest.strip_prefix("sha256:") else {
            bail!("{role} {digest}: only sha256 digests are supported");
        };
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("{role} digest `{digest}` is malformed");
        }
        Ok(Blob {
            role,
            media_type: descriptor.media_type.clone(),
            path: dir.join("blobs").join("sha256").join(hex),
            size: descriptor.size,
            digest,
        })
    }

    /// The blob's bytes, after checking them against the descriptor's size and digest. The file is opened
    /// first (without blocking: a FIFO in its place would otherwise wait for a writer), its size compared with
    /// the descriptor's, and no more than that size read: a device or a file that grows is not read to its end.
    pub fn read_verified(&self) -> anyhow::Result<Vec<u8>> {
        let damaged = "the layout is damaged: run `cargo xtask package` again";
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.path)
            .with_context(|| {
                format!(
                    "the {} blob {} is missing from the layout ({}); run `cargo xtask package` again",
                    self.role,
                    self.digest,
                    self.path.display()
                )
            })?;
        let metadata = file
            .metadata()
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        if !metadata.is_file() {
            bail!(
                "{} is not a regular file ({:?}); {damaged}",
                self.path.display(),
                metadata.file_type()
            );
        }
        let wrong_size = |found: u64| {
            anyhow::anyhow!(
                "{} holds {found} bytes but its descriptor says {}; {damaged}",
                self.path.display(),
                self.size
            )
        };
        if metadata.len() != self.size {
            return Err(wrong_size(metadata.len()));
        }
        let mut bytes = Vec::new();
        file.take(self.size.saturating_add(1))
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        // The file changed between the size check and the read.
        if bytes.len() as u64 != self.size {
            return Err(wrong_size(bytes.len() as u64));
        }
        let actual = sha256_digest(&bytes);
        if actual != self.digest {
            bail!(
                "{} hashes to {actual}, not {}; the layout is damaged: run `cargo xtask package` again",
                self.path.display(),
                self.digest
            );
        }
        Ok(bytes)
    }
}

/// A JSON document of the layout (`oci-layout`, `index.json`).
fn read_json<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let bytes = fs::read(path)?;
    Ok(serde_json::from_slice(&bytes)?)
}

#[cfg(test)]
mod tests;
