//! `cargo xtask package`: build, write manifests, then write each extension's container image
//! without a container engine, under `target/extensions/<name>/`:
//!
//! - `oci/`: OCI image layout (tag = the extension's version), what `push` uploads;
//! - `<name>.oci.tar`: the same as an `oci-archive`;
//! - `context/`: `manifest.yaml` + `plugin.wasm`, a build context for the root `Dockerfile`.
//!
//! Byte-reproducible: file times and `created` come from `SOURCE_DATE_EPOCH` (else 0).

pub(crate) mod image;
pub(crate) mod write;

use std::{fs, path::PathBuf};

use anyhow::Context;

use self::image::{Format, Input};
use crate::{
    build::{self, Built},
    flags, manifest,
    manifest::MODULE_FILE,
    report::relative_to_cwd,
    workspace::{self, Extension},
};

/// What `package` wrote for one extension.
#[derive(Debug, Clone)]
pub(crate) struct Packaged {
    pub(crate) digest: String,
}

impl flags::Package {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let format = self.format;
        let optimizer = (!self.no_wasm_opt)
            .then(build::WasmOpt::pinned)
            .transpose()?;
        let epoch = image::source_date_epoch()?;
        let extensions = workspace::extensions(&self.package)?;
        let built = build::build(&extensions, &[], optimizer.as_ref())?;
        let manifests = manifest::write(&extensions)?;
        let dockerfile = relative_to_cwd(&workspace::root().join("Dockerfile"));
        for (built, (_, manifest_yaml)) in built.iter().zip(&manifests) {
            let ext = &built.extension;
            let packaged = package(built, manifest_yaml.as_bytes(), format, epoch)?;
            println!(
                "{}: {} image {}",
                ext.name,
                format.as_str(),
                packaged.digest
            );
            println!("  module       {}", built.size_text());
            println!(
                "  OCI layout   {} (tag {})",
                relative_to_cwd(&ext.layout_dir()).display(),
                ext.version
            );
            println!(
                "  oci-archive  {}",
                relative_to_cwd(&ext.archive_path()).display()
            );
            println!(
                "  context      {}",
                relative_to_cwd(&ext.context_dir()).display()
            );
            println!(
                "  engine build (dual format): docker build -f {} -t {}:{} {}",
                dockerfile.display(),
                ext.name,
                ext.version,
                relative_to_cwd(&ext.context_dir()).display()
            );
        }
        println!(
            "(`podman build` and `buildah bud` take the same arguments; their images are not byte-reproducible)"
        );
        println!(
            "next: `cargo xtask check --for TARGET` tries each image against a mesh before `push` and `deploy` \
             (targets: `cargo xtask deploy --help`)"
        );
        Ok(())
    }
}

/// Writes the build context, the OCI layout and the oci-archive of one built extension, and its `plugin.wasm`
/// again: all from the module this run built and checked (`built.module`), under the lock. Read back from
/// `plugin.wasm`, the module could be another run's, written between this run's build and its lock.
pub(crate) fn package(
    built: &Built,
    manifest_yaml: &[u8],
    format: Format,
    epoch: u64,
) -> anyhow::Result<Packaged> {
    let ext = &built.extension;
    let _lock = lock(ext)?;
    let module = built.module.as_slice();
    workspace::write_atomic(&ext.module_path(), module)?;
    let image = image::image(
        &Input {
            name: &ext.name,
            version: &ext.version,
            description: &ext.description,
            source: ext.repository.as_deref(),
            manifest_yaml,
            module,
            abi: built.info.abi,
            epoch,
        },
        format,
    )?;
    write_context(ext, manifest_yaml, module)?;
    write::write_layout(&ext.layout_dir(), &image)?;
    workspace::write_atomic(&ext.archive_path(), &write::archive(&image, epoch)?)?;
    Ok(Packaged {
        digest: image.manifest_digest,
    })
}

/// One `package` of an extension at a time: a run removes every file of the layout and the context it
/// did not write, which would include another run's temporary files. Released when the file is dropped.
fn lock(ext: &Extension) -> anyhow::Result<fs::File> {
    let out = ext.out_dir();
    let dir = out.parent().context("the output directory has no parent")?;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!(".{}.package.lock", ext.name));
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    file.lock()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(file)
}

/// The context holds exactly the two files: `COPY . /` would put anything else in the image too.
fn write_context(ext: &Extension, manifest_yaml: &[u8], module: &[u8]) -> anyhow::Result<()> {
    let dir: PathBuf = ext.context_dir();
    workspace::write_atomic(&dir.join(image::MANIFEST_FILE), manifest_yaml)?;
    workspace::write_atomic(&dir.join(MODULE_FILE), module)?;
    for entry in fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default();
        if name != image::MANIFEST_FILE && name != MODULE_FILE {
            let removed = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            removed.with_context(|| {
                format!("cannot remove {} from the build context", path.display())
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
