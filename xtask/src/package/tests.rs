use std::{collections::BTreeMap, fs, io::Read, path::Path};

use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};

use super::image::{Format, ImageFiles, Input, image};
use super::write::{archive, write_layout, write_layout_with};
use crate::build::AbiVersion;
use crate::oci::{WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE, digest::sha256_hex};

const MANIFEST: &[u8] =
    b"schemaVersion: 1\nname: demo\nphase: PostAuthZ\npriority: 100\nmodule: plugin.wasm\n";
const MODULE: &[u8] = b"\0asm\x01\0\0\0 pretend module";

fn input<'a>(manifest: &'a [u8], module: &'a [u8], epoch: u64) -> Input<'a> {
    Input {
        name: "demo",
        version: "1.2.3",
        description: "A demo: with colons, \"quotes\" and ünïcode",
        source: Some("https://example.com/ws"),
        manifest_yaml: manifest,
        module,
        abi: AbiVersion::V0_2_1,
        epoch,
    }
}

fn dual(manifest: &[u8], module: &[u8], epoch: u64) -> ImageFiles {
    image(&input(manifest, module, epoch), Format::Dual).unwrap()
}

fn tmp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("xtask-package-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn manifest_of(image: &ImageFiles) -> ImageManifest {
    let hex = image.manifest_digest.strip_prefix("sha256:").unwrap();
    serde_json::from_slice(&image.blobs[hex]).unwrap()
}

fn blob<'a>(image: &'a ImageFiles, digest: &oci_spec::image::Digest) -> &'a [u8] {
    &image.blobs[digest.digest()]
}

/// Reads a layout directory the way a consumer does, checking every digest and size on the
/// way; returns the manifest digest and the blobs it references.
fn read_layout(dir: &Path) -> (String, BTreeMap<String, Vec<u8>>) {
    let index: ImageIndex =
        serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        fs::read_to_string(dir.join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    assert_eq!(index.manifests().len(), 1);
    let mut blobs = BTreeMap::new();
    let mut read = |d: &oci_spec::image::Descriptor| {
        let bytes = fs::read(dir.join("blobs/sha256").join(d.digest().digest())).unwrap();
        assert_eq!(sha256_hex(&bytes), d.digest().digest());
        assert_eq!(bytes.len() as u64, d.size());
        blobs.insert(d.digest().digest().to_owned(), bytes.clone());
        bytes
    };
    let top = &index.manifests()[0];
    let manifest: ImageManifest = serde_json::from_slice(&read(top)).unwrap();
    read(manifest.config());
    for layer in manifest.layers() {
        read(layer);
    }
    (top.digest().to_string(), blobs)
}

fn untar(bytes: &[u8]) -> Vec<(String, u32, u64, u64, Vec<u8>)> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (
                h.path().unwrap().display().to_string(),
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.mtime().unwrap(),
                data,
            )
        })
        .collect()
}

#[test]
fn the_same_input_gives_the_same_bytes_every_time() {
    // Annotations and labels are maps: their keys must come out in one order, sorted, every time.
    let first = dual(MANIFEST, MODULE, 0);
    for _ in 0..20 {
        assert_eq!(dual(MANIFEST, MODULE, 0), first);
    }
    let artifact = image(&input(MANIFEST, MODULE, 0), Format::Artifact).unwrap();
    for _ in 0..20 {
        assert_eq!(
            image(&input(MANIFEST, MODULE, 0), Format::Artifact).unwrap(),
            artifact
        );
    }
    let manifest = String::from_utf8(
        first.blobs[first.manifest_digest.strip_prefix("sha256:").unwrap()].clone(),
    )
    .unwrap();
    let keys: Vec<usize> = [
        "org.opencontainers.image.created",
        "org.opencontainers.image.description",
        "org.opencontainers.image.source",
        "org.opencontainers.image.title",
        "org.opencontainers.image.version",
    ]
    .iter()
    .map(|k| manifest.find(k).unwrap())
    .collect();
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "annotations not sorted: {manifest}"
    );
}

#[test]
fn a_changed_module_manifest_field_or_time_changes_the_digest() {
    let base = dual(MANIFEST, MODULE, 0).manifest_digest;
    let other_module = dual(MANIFEST, b"\0asm\x01\0\0\0 another module", 0).manifest_digest;
    let other_phase = String::from_utf8_lossy(MANIFEST).replace("PostAuthZ", "PreAuthZ");
    let other_manifest = dual(other_phase.as_bytes(), MODULE, 0).manifest_digest;
    let other_time = dual(MANIFEST, MODULE, 1_700_000_000).manifest_digest;
    let all = [&base, &other_module, &other_manifest, &other_time];
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert_ne!(a, b);
        }
    }
}

#[test]
fn the_dual_image_has_one_gzip_layer_with_both_files_at_the_root() {
    let image = dual(MANIFEST, MODULE, 1_700_000_000);
    let manifest = manifest_of(&image);
    assert_eq!(
        manifest.media_type().as_ref().unwrap().to_string(),
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest.config().media_type().to_string(),
        "application/vnd.oci.image.config.v1+json"
    );
    assert_eq!(manifest.layers().len(), 1);
    let layer = &manifest.layers()[0];
    assert_eq!(
        layer.media_type().to_string(),
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let gz = blob(&image, layer.digest());
    assert_eq!(
        &gz[..10],
        &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 0xff],
        "gzip header must carry no time or name"
    );
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut tar)
        .unwrap();
    let entries = untar(&tar);
    assert_eq!(
        entries,
        vec![
            (
                "manifest.yaml".to_owned(),
                0o644,
                0,
                1_700_000_000,
                MANIFEST.to_vec()
            ),
            (
                "plugin.wasm".to_owned(),
                0o644,
                0,
                1_700_000_000,
                MODULE.to_vec()
            ),
        ]
    );
    let config: ImageConfiguration =
        serde_json::from_slice(blob(&image, manifest.config().digest())).unwrap();
    assert_eq!(
        config.rootfs().diff_ids(),
        &vec![format!("sha256:{}", sha256_hex(&tar))]
    );
    assert_eq!(config.created().as_deref(), Some("2023-11-14T22:13:20Z"));
    let annotations = manifest.annotations().as_ref().unwrap();
    for (key, value) in [
        ("org.opencontainers.image.title", "demo"),
        ("org.opencontainers.image.version", "1.2.3"),
        (
            "org.opencontainers.image.description",
            "A demo: with colons, \"quotes\" and ünïcode",
        ),
        ("org.opencontainers.image.source", "https://example.com/ws"),
        ("org.opencontainers.image.created", "2023-11-14T22:13:20Z"),
        ("module.wasm.image/variant", "compat"),
    ] {
        assert_eq!(
            annotations.get(key).map(String::as_str),
            Some(value),
            "{key}"
        );
    }
}

#[test]
fn the_artifact_image_is_what_istios_oci_variant_reader_accepts() {
    let image = image(&input(MANIFEST, MODULE, 0), Format::Artifact).unwrap();
    let manifest = manifest_of(&image);
    assert_eq!(
        manifest.config().media_type().to_string(),
        WASM_CONFIG_MEDIA_TYPE
    );
    let types: Vec<String> = manifest
        .layers()
        .iter()
        .map(|l| l.media_type().to_string())
        .collect();
    // Istio's extractOCIArtifactImage: exactly two layers, one of them the raw module.
    assert_eq!(
        types,
        vec![
            WASM_CONFIG_MEDIA_TYPE.to_owned(),
            WASM_LAYER_MEDIA_TYPE.to_owned()
        ]
    );
    assert_eq!(blob(&image, manifest.layers()[1].digest()), MODULE);
    assert_eq!(manifest.layers()[0].digest(), manifest.config().digest());
    let runtime: serde_json::Value =
        serde_json::from_slice(blob(&image, manifest.config().digest())).unwrap();
    assert_eq!(
        runtime,
        serde_json::json!({"type": "envoy_proxy", "abiVersions": ["v0.2.1"], "config": {"rootIds": []}})
    );
    let annotations = manifest.annotations().as_ref().unwrap();
    assert_eq!(annotations["module.wasm.runtime/abi_version"], "v0.2.1");
    assert_eq!(annotations["org.opencontainers.image.title"], "demo");
    assert_eq!(
        manifest.layers()[1].annotations().as_ref().unwrap()["org.opencontainers.image.title"],
        "plugin.wasm"
    );
}

#[test]
fn a_source_date_epoch_after_the_year_9999_is_refused_not_a_panic() {
    assert_eq!(
        super::image::parse_epoch("253402300799").unwrap(),
        253_402_300_799
    );
    let err = super::image::parse_epoch("253402300800")
        .unwrap_err()
        .to_string();
    assert!(err.contains("after the year 9999"), "{err}");
    let err = super::image::parse_epoch("18446744073709551615")
        .unwrap_err()
        .to_string();
    assert!(err.contains("after the year 9999"), "{err}");
    let err = super::image::parse_epoch("-1").unwrap_err().to_string();
    assert!(err.contains("must be whole seconds since 1970"), "{err}");
}

#[test]
fn an_unknown_format_lists_the_two() {
    assert_eq!("artifact".parse::<Format>().unwrap(), Format::Artifact);
    let err = "docker".parse::<Format>().unwrap_err().to_string();
    assert!(
        err.starts_with("`docker` is not an image format: use `dual` (default;"),
        "{err}"
    );
    assert!(err.contains("or `artifact`"), "{err}");
}

#[test]
fn the_layout_reads_back_and_drops_blobs_of_the_previous_image() {
    let dir = tmp_dir("layout");
    let old = dual(MANIFEST, MODULE, 0);
    write_layout(&dir, &old).unwrap();
    assert_eq!(
        read_layout(&dir),
        (old.manifest_digest.clone(), old.blobs.clone())
    );
    let new = dual(MANIFEST, b"\0asm\x01\0\0\0 new", 0);
    write_layout(&dir, &new).unwrap();
    assert_eq!(
        read_layout(&dir),
        (new.manifest_digest.clone(), new.blobs.clone())
    );
    let on_disk: Vec<String> = fs::read_dir(dir.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(on_disk.len(), new.blobs.len(), "{on_disk:?}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_write_that_fails_at_any_step_leaves_the_old_image_readable() {
    let dir = tmp_dir("interrupted");
    let old = dual(MANIFEST, MODULE, 0);
    write_layout(&dir, &old).unwrap();
    let new = dual(MANIFEST, b"\0asm\x01\0\0\0 new", 0);
    let mut steps = 0;
    loop {
        let mut writes = 0;
        let result = write_layout_with(&dir, &new, &mut |path, bytes| {
            if writes == steps {
                // Half a file, then the "crash": what a killed process leaves behind.
                fs::write(path.with_extension("partial"), &bytes[..bytes.len() / 2])?;
                anyhow::bail!("interrupted");
            }
            writes += 1;
            crate::workspace::write_atomic(path, bytes)
        });
        if result.is_ok() {
            break;
        }
        assert_eq!(
            read_layout(&dir).0,
            old.manifest_digest,
            "after failing write #{steps}"
        );
        steps += 1;
    }
    assert!(steps >= 3, "new blobs and index.json are written: {steps}");
    assert_eq!(read_layout(&dir).0, new.manifest_digest);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_archive_holds_the_layout_files_in_sorted_order() {
    let image = dual(MANIFEST, MODULE, 5);
    let entries = untar(&archive(&image, 5).unwrap());
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    let mut expected = vec!["blobs/".to_owned(), "blobs/sha256/".to_owned()];
    expected.extend(image.blobs.keys().map(|hex| format!("blobs/sha256/{hex}")));
    expected.extend(["index.json".to_owned(), "oci-layout".to_owned()]);
    assert_eq!(names, expected);
    assert!(entries.iter().all(|e| e.2 == 0 && e.3 == 5));
    assert_eq!(entries[entries.len() - 2].4, image.index);
    assert_eq!(archive(&image, 5).unwrap(), archive(&image, 5).unwrap());
}

/// Published SHA-256 test vectors (FIPS 180-2, appendix B; NIST CSRC "SHA_All" examples).
#[test]
fn sha256_hex_gives_the_published_test_vectors() {
    assert_eq!(
        sha256_hex(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
    assert_eq!(
        sha256_hex(&vec![b'a'; 1_000_000]),
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
    );
}

/// The image of a fixed input has the digests two tools outside this crate computed from its layout:
/// `GOLDEN_MANIFEST` is what `skopeo inspect --raw oci:DIR | sha256sum` printed (skopeo 1.9.3, GNU coreutils
/// 9.1, on the layout this test writes to `xtask-package-golden-*/oci`), `GOLDEN_LAYER` what `sha256sum`
/// printed for the layer blob. A change of either is a change of every image digest users pin: make it on
/// purpose, and recompute both with those commands.
#[test]
fn a_fixed_input_gives_the_digests_independent_tools_computed() {
    const GOLDEN_MANIFEST: &str =
        "sha256:9aac5f8d83d7f78b077e845fad26e73203fed437e59b7afcd3c82c2979a3080f";
    const GOLDEN_LAYER: &str = "5c18233f3f1f4fd57cda2e49e539e6af7bfa042956b8025a50d69ef74490cb35";
    let image = dual(MANIFEST, MODULE, 1_700_000_000);
    let dir = tmp_dir("golden");
    write_layout(&dir.join("oci"), &image).unwrap();
    let layer = manifest_of(&image).layers()[0].digest().digest().to_owned();
    assert_eq!(
        (image.manifest_digest.as_str(), layer.as_str()),
        (GOLDEN_MANIFEST, GOLDEN_LAYER),
        "layout kept at {}",
        dir.display()
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn package_ships_the_module_its_run_built_whatever_plugin_wasm_holds_now() {
    let target = tmp_dir("own-module");
    let extension = crate::workspace::Extension::for_test("demo", &target);
    let built = crate::build::Built {
        extension: extension.clone(),
        info: crate::build::ModuleInfo {
            abi: AbiVersion::V0_2_1,
        },
        module: MODULE.to_vec(),
        size: MODULE.len() as u64,
        optimized: None,
    };
    // Another run's build lands between this run's build and its lock.
    let other: &[u8] = b"\0asm\x01\0\0\0 another run's module";
    fs::create_dir_all(extension.out_dir()).unwrap();
    fs::write(extension.module_path(), other).unwrap();
    let packaged = super::package(&built, MANIFEST, Format::Dual, 0).unwrap();
    let expected = |module: &[u8]| {
        image(
            &Input {
                name: &extension.name,
                version: &extension.version,
                description: &extension.description,
                source: extension.repository.as_deref(),
                manifest_yaml: MANIFEST,
                module,
                abi: AbiVersion::V0_2_1,
                epoch: 0,
            },
            Format::Dual,
        )
        .unwrap()
        .manifest_digest
    };
    assert_eq!(packaged.digest, expected(MODULE));
    assert_ne!(packaged.digest, expected(other));
    let (digest, _) = read_layout(&extension.layout_dir());
    assert_eq!(digest, packaged.digest);
    assert_eq!(fs::read(extension.module_path()).unwrap(), MODULE);
    assert_eq!(
        fs::read(extension.context_dir().join("plugin.wasm")).unwrap(),
        MODULE
    );
    let _ = fs::remove_dir_all(&target);
}
