//! Damaged layouts are refused before anything is sent; these need no registry.

use std::{fs, os::unix::fs::OpenOptionsExt as _, path::PathBuf};

use serde_json::{Value, json};

use super::StoredImage;
use crate::oci::digest::sha256_digest;

const CONFIG: &[u8] = b"{}";
const LAYER: &[u8] = b"not really a tar, but push does not look inside";

/// A one-image layout in a fresh directory: returns it and the manifest's JSON.
struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn new(name: &str) -> Layout {
        let dir =
            std::env::temp_dir().join(format!("xtask-push-layout-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let layout = Layout { dir };
        layout.blob(CONFIG);
        layout.blob(LAYER);
        let manifest = layout.manifest(json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": descriptor("application/vnd.oci.image.config.v1+json", CONFIG),
            "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", LAYER)],
        }));
        layout.index(json!([manifest]));
        layout
    }

    fn blob(&self, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        fs::write(self.blob_path(&digest), bytes).unwrap();
        digest
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    /// Stores the manifest; returns its descriptor.
    fn manifest(&self, manifest: Value) -> Value {
        let bytes = serde_json::to_vec(&manifest).unwrap();
        self.blob(&bytes);
        descriptor("application/vnd.oci.image.manifest.v1+json", &bytes)
    }

    fn index(&self, manifests: Value) {
        let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
        fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    }

    fn error(&self) -> String {
        format!("{:#}", StoredImage::open(&self.dir).unwrap_err())
    }
}

impl Drop for Layout {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": sha256_digest(bytes), "size": bytes.len()})
}

#[test]
fn a_whole_layout_opens_with_config_then_layers() {
    let layout = Layout::new("whole");
    let image = StoredImage::open(&layout.dir).unwrap();
    let roles: Vec<_> = image
        .blobs
        .iter()
        .map(|b| (b.role, b.digest.clone()))
        .collect();
    assert_eq!(
        roles,
        [
            ("config", sha256_digest(CONFIG)),
            ("layer", sha256_digest(LAYER))
        ]
    );
    assert_eq!(image.digest, sha256_digest(&image.manifest));
}

#[test]
fn a_missing_blob_is_named() {
    let layout = Layout::new("missing");
    fs::remove_file(layout.blob_path(&sha256_digest(LAYER))).unwrap();
    let err = layout.error();
    assert!(
        err.contains(&format!(
            "the layer blob {} is missing from the layout",
            sha256_digest(LAYER)
        )) && err.contains("run `cargo xtask package` again"),
        "{err}"
    );
}

#[test]
fn a_blob_of_another_size_is_damage() {
    let layout = Layout::new("size");
    fs::write(layout.blob_path(&sha256_digest(LAYER)), &LAYER[1..]).unwrap();
    let err = layout.error();
    assert!(
        err.contains(&format!(
            "holds {} bytes but its descriptor says {}",
            LAYER.len() - 1,
            LAYER.len()
        )),
        "{err}"
    );
}

#[test]
fn an_index_with_no_image_or_several_is_refused() {
    let layout = Layout::new("count");
    layout.index(json!([]));
    assert!(
        layout.error().contains("lists no image"),
        "{}",
        layout.error()
    );
    let one = descriptor("application/vnd.oci.image.manifest.v1+json", b"x");
    layout.index(json!([one.clone(), one]));
    assert!(
        layout.error().contains("lists 2 manifests")
            && layout.error().contains("push expects the single image"),
        "{}",
        layout.error()
    );
}

#[test]
fn a_nested_index_is_refused() {
    let layout = Layout::new("nested");
    let inner = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": []})).unwrap();
    layout.blob(&inner);
    layout.index(json!([descriptor(
        "application/vnd.oci.image.index.v1+json",
        &inner
    )]));
    assert!(
        layout.error().contains("the image is a nested index"),
        "{}",
        layout.error()
    );
}

#[test]
fn a_malformed_digest_never_names_a_path_outside_the_layout() {
    let layout = Layout::new("traversal");
    // A file the traversal would reach if the digest were used as a path.
    let outside = layout.dir.join("secret");
    fs::write(&outside, b"not a blob").unwrap();
    for digest in [
        "sha256:../../secret",
        "sha256:../secret",
        "sha256:abc",
        "md5:0123456789abcdef0123456789abcdef",
        &format!("sha256:{}", "g".repeat(64)),
    ] {
        layout.index(json!([{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": 10}]));
        let err = layout.error();
        assert!(
            err.contains("is malformed")
                || err.contains("only sha256 digests are supported")
                || err.contains("cannot read the image index"),
            "{digest}: {err}"
        );
        assert!(
            !err.contains("hashes to") && !err.contains("holds 10 bytes"),
            "{digest}: {err}"
        );
    }
}

#[test]
fn a_blob_that_is_no_regular_file_is_refused_without_waiting_on_it() {
    let layout = Layout::new("fifo");
    let path = layout.blob_path(&sha256_digest(LAYER));
    fs::remove_file(&path).unwrap();
    let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) reads the NUL-terminated path and nothing else.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    // Read on a thread: reading a FIFO without a writer would block the test instead of failing it.
    let dir = layout.dir.clone();
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(
            StoredImage::open(&dir)
                .map(|_| ())
                .map_err(|e| format!("{e:#}")),
        );
    });
    let result = receive
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("opening the layout waited on the FIFO");
    let err = result.unwrap_err();
    assert!(
        err.contains(&format!("{} is not a regular file", path.display()))
            && err.contains("run `cargo xtask package` again"),
        "{err}"
    );
    // A writer lets a thread still blocked on the FIFO go.
    let _ = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path);
}
