//! `cargo xtask package` end to end: the image it writes, read back by real tools.

use crate::support;

use std::{fs, process::Command};

use support::*;

/// Packages header-append (dual format) and returns the printed digest.
fn package() -> String {
    printed_digest(&xtask_ok(&["package", "-p", "header-append"]))
}

/// The two files the image must hold at its root, as `build` and `manifest` wrote them.
fn expected_files() -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "manifest.yaml".to_owned(),
            fs::read(out_dir().join("manifest.yaml")).unwrap(),
        ),
        (
            "plugin.wasm".to_owned(),
            fs::read(out_dir().join("plugin.wasm")).unwrap(),
        ),
    ]
}

fn version() -> String {
    manifest_version(&out_dir())
}

#[test]
fn packaging_twice_gives_the_same_bytes_and_digest() {
    let _lock = packaging_lock();
    let first = package();
    let archive = fs::read(out_dir().join("header-append.oci.tar")).unwrap();
    let second = package();
    assert_eq!(first, second);
    assert_eq!(
        fs::read(out_dir().join("header-append.oci.tar")).unwrap(),
        archive
    );
    assert!(first.starts_with("sha256:") && first.len() == 71, "{first}");
}

#[test]
fn umoci_unpacks_exactly_the_built_files_at_the_root() {
    let Some(umoci) = tool("umoci", "umoci") else {
        return;
    };
    let _lock = packaging_lock();
    package();
    let dir = tmp_dir("umoci");
    let image = format!("{}:{}", out_dir().join("oci").display(), version());
    // umoci checks every blob's digest and size against the index and manifests.
    run(Command::new(umoci)
        .args(["unpack", "--rootless", "--image", &image])
        .arg(dir.join("bundle")));
    assert_eq!(files(&dir.join("bundle/rootfs")), expected_files());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn skopeo_sees_the_printed_digest_in_the_layout_and_the_archive() {
    let Some(skopeo) = tool("skopeo", "skopeo") else {
        return;
    };
    let _lock = packaging_lock();
    let digest = package();
    let layout = format!("oci:{}:{}", out_dir().join("oci").display(), version());
    let inspected = run(Command::new(&skopeo).args(["inspect", &layout]));
    assert_eq!(inspected_digest(&inspected), digest);
    let value: serde_json::Value = serde_json::from_str(&inspected).unwrap();
    assert_eq!(value["Layers"].as_array().unwrap().len(), 1, "{inspected}");
    assert_eq!(
        value["Labels"]["org.opencontainers.image.title"],
        "header-append"
    );
    let archive = format!(
        "oci-archive:{}",
        out_dir().join("header-append.oci.tar").display()
    );
    assert_eq!(
        inspected_digest(&run(Command::new(&skopeo).args(["inspect", &archive]))),
        digest
    );
    let raw = run(Command::new(&skopeo).args(["inspect", "--raw", &layout]));
    assert!(
        raw.contains("\"application/vnd.oci.image.layer.v1.tar+gzip\""),
        "{raw}"
    );
}

#[test]
fn a_registry_serves_the_image_under_the_same_digest() {
    let (Some(skopeo), Some(registry)) = (
        tool("skopeo", "skopeo"),
        tool("docker-registry", "docker-registry"),
    ) else {
        return;
    };
    let dir = tmp_dir("registry");
    let registry = Registry::start(&registry, &dir, RegistryOptions::default());
    let _lock = packaging_lock();
    let digest = package();
    let source = format!("oci:{}:{}", out_dir().join("oci").display(), version());
    let destination = format!(
        "docker://{}/mesh/header-append:{}",
        registry.address,
        version()
    );
    run(Command::new(&skopeo).args(["copy", "--dest-tls-verify=false", &source, &destination]));
    let inspected =
        run(Command::new(&skopeo).args(["inspect", "--tls-verify=false", &destination]));
    assert_eq!(inspected_digest(&inspected), digest);

    let artifact = printed_digest(&xtask_ok(&[
        "package",
        "-p",
        "header-append",
        "--format",
        "artifact",
    ]));
    let destination = format!("docker://{}/mesh/header-append:artifact", registry.address);
    run(Command::new(&skopeo).args(["copy", "--dest-tls-verify=false", &source, &destination]));
    let raw =
        run(Command::new(&skopeo).args(["inspect", "--raw", "--tls-verify=false", &destination]));
    assert!(
        raw.contains("application/vnd.module.wasm.content.layer.v1+wasm"),
        "{raw}"
    );
    fs::write(dir.join("served.json"), &raw).unwrap();
    let served = run(Command::new(&skopeo)
        .arg("manifest-digest")
        .arg(dir.join("served.json")));
    assert_eq!(
        served.trim(),
        artifact,
        "the registry serves the artifact manifest unchanged"
    );
    package();
    drop(registry);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn buildah_builds_an_image_with_the_same_two_files_from_the_context() {
    let (Some(buildah), Some(umoci)) = (tool("buildah", "buildah"), tool("umoci", "umoci")) else {
        return;
    };
    let _lock = packaging_lock();
    package();
    let dir = tmp_dir("buildah");
    let storage = [
        "--storage-driver=vfs".to_owned(),
        format!("--root={}", dir.join("root").display()),
        format!("--runroot={}", dir.join("runroot").display()),
    ];
    let context = out_dir().join("context");
    run(Command::new(&buildah)
        .args(&storage)
        .args(["bud", "--isolation", "chroot", "-f"])
        .arg(root().join("Dockerfile"))
        .args(["-t", "localhost/header-append:test"])
        .arg(&context));
    let layout = format!("oci:{}:test", dir.join("layout").display());
    run(Command::new(&buildah).args(&storage).args([
        "push",
        "localhost/header-append:test",
        &layout,
    ]));
    let image = format!("{}:test", dir.join("layout").display());
    run(Command::new(umoci)
        .args(["unpack", "--rootless", "--image", &image])
        .arg(dir.join("bundle")));
    assert_eq!(files(&dir.join("bundle/rootfs")), expected_files());
    let _ = Command::new("chmod")
        .arg("-R")
        .arg("u+w")
        .arg(&dir)
        .status();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_artifact_format_writes_istios_two_layer_oci_variant() {
    let Some(skopeo) = tool("skopeo", "skopeo") else {
        return;
    };
    let _lock = packaging_lock();
    let out = xtask_ok(&["package", "-p", "header-append", "--format", "artifact"]);
    let digest = printed_digest(&out);
    let layout = format!("oci:{}:{}", out_dir().join("oci").display(), version());
    let raw = run(Command::new(&skopeo).args(["inspect", "--raw", &layout]));
    let manifest: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        manifest["config"]["mediaType"], "application/vnd.module.wasm.config.v1+json",
        "{raw}"
    );
    let layers: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap())
        .collect();
    assert_eq!(
        layers,
        [
            "application/vnd.module.wasm.config.v1+json",
            "application/vnd.module.wasm.content.layer.v1+wasm"
        ]
    );
    let wasm_digest = manifest["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap();
    assert_eq!(
        fs::read(out_dir().join("oci/blobs/sha256").join(wasm_digest)).unwrap(),
        fs::read(out_dir().join("plugin.wasm")).unwrap()
    );
    assert!(
        out.contains("header-append: artifact image sha256:"),
        "{out}"
    );
    assert_ne!(digest, package(), "the default format is back and differs");
}

#[test]
fn bad_command_lines_are_refused_with_a_reason() {
    let out = xtask(&["package", "--format", "docker"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid value 'docker' for '--format <FORMAT>': `docker` is not an image format: use `dual`"),
        "{stderr}"
    );
    let out = xtask(&["build", "-p", "no-such-extension"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no extension named `no-such-extension` under extensions/ (known: "),
        "{stderr}"
    );
}
