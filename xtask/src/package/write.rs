//! Writing `ImageFiles` to disk: an OCI image layout directory and the same as an `oci-archive` tar.
//!
//! The layout is updated the way umoci does it: new blobs first (content-addressed, each written
//! to a temporary file and renamed), `index.json` last, then blobs no longer referenced are
//! removed. A run that stops anywhere leaves an `index.json` whose blobs are all present.

use std::{fs, io, path::Path};

use anyhow::Context;

use super::image::{ImageFiles, tar_of};
use crate::oci::digest::sha256_hex;
use crate::workspace;

/// Writes `image` into the OCI image layout directory `dir`, replacing what it held.
pub(crate) fn write_layout(dir: &Path, image: &ImageFiles) -> anyhow::Result<()> {
    write_layout_with(dir, image, &mut |path, bytes| {
        workspace::write_atomic(path, bytes)
    })
}

/// The `oci-archive` form of `image`: the layout directory as a tar, entries sorted.
pub(crate) fn archive(image: &ImageFiles, epoch: u64) -> anyhow::Result<Vec<u8>> {
    let mut files: Vec<(String, Option<&[u8]>)> = vec![
        ("blobs/".to_owned(), None),
        ("blobs/sha256/".to_owned(), None),
    ];
    files.extend(
        image
            .blobs
            .iter()
            .map(|(hex, bytes)| (format!("blobs/sha256/{hex}"), Some(bytes.as_slice()))),
    );
    files.push(("index.json".to_owned(), Some(&image.index)));
    files.push(("oci-layout".to_owned(), Some(&image.oci_layout)));
    tar_of(&files, epoch)
}

/// `write_layout` with the file writer passed in, so tests can make any single write fail.
pub(crate) fn write_layout_with(
    dir: &Path,
    image: &ImageFiles,
    write: &mut dyn FnMut(&Path, &[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let blobs_dir = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blobs_dir)
        .with_context(|| format!("cannot create {}", blobs_dir.display()))?;
    for (hex, bytes) in &image.blobs {
        let path = blobs_dir.join(hex);
        if !holds(&path, hex) {
            write(&path, bytes)?;
        }
    }
    let layout_file = dir.join("oci-layout");
    if fs::read(&layout_file).ok().as_deref() != Some(image.oci_layout.as_slice()) {
        write(&layout_file, &image.oci_layout)?;
    }
    write(&dir.join("index.json"), &image.index)?;
    remove_unreferenced(&blobs_dir, image)
}

/// True when `path` exists with content whose sha256 is `hex`.
fn holds(path: &Path, hex: &str) -> bool {
    fs::read(path)
        .map(|bytes| sha256_hex(&bytes) == hex)
        .unwrap_or(false)
}

fn remove_unreferenced(blobs_dir: &Path, image: &ImageFiles) -> anyhow::Result<()> {
    for entry in
        fs::read_dir(blobs_dir).with_context(|| format!("cannot list {}", blobs_dir.display()))?
    {
        let entry = entry?;
        let name = entry.file_name();
        if !image.blobs.contains_key(name.to_string_lossy().as_ref()) {
            match fs::remove_file(entry.path()) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => {
                    return Err(err)
                        .with_context(|| format!("cannot remove {}", entry.path().display()));
                }
            }
        }
    }
    Ok(())
}
