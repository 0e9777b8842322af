//! The descriptor set of Envoy's ext_authz and rate limit services and their imports, made from the descriptor set
//! the locked `envoy-types` ships: what `descriptors/envoy-services.binpb` must hold. Shared by the example that
//! writes the file and the test that checks it (`#[path]`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use prost::Message;
use prost_reflect::DescriptorPool;
use prost_reflect::prost_types::FileDescriptorSet;

/// The files whose services the runner shows as JSON; their imports come along.
const ROOTS: [&str; 2] = [
    "envoy/service/auth/v3/external_auth.proto",
    "envoy/service/ratelimit/v3/rls.proto",
];

/// A descriptor set made, and where from.
pub struct Made {
    pub set: Vec<u8>,
    pub files: usize,
    pub source: PathBuf,
}

impl Made {
    /// The error for a committed file that is not this set.
    pub fn not_committed(&self) -> String {
        format!(
            "{} is not what {} holds: regenerate it with \
             `cargo run -p grpc-json --example regenerate_envoy_descriptors`",
            committed().display(),
            self.source.display()
        )
    }
}

/// The committed file.
pub fn committed() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("descriptors/envoy-services.binpb")
}

/// The set made from the locked `envoy-types`' `src/generated/types.bin`, without source info.
pub fn envoy_services() -> Result<Made, String> {
    let manifest = envoy_types_manifest()?;
    let types_bin = manifest
        .parent()
        .ok_or("envoy-types' manifest has no folder")?
        .join("src/generated/types.bin");
    let bytes = std::fs::read(&types_bin)
        .map_err(|e| format!("cannot read {}: {e}", types_bin.display()))?;
    let pool = DescriptorPool::decode(bytes.as_slice())
        .map_err(|e| format!("{} is not a descriptor set: {e}", types_bin.display()))?;

    let mut wanted = BTreeSet::new();
    let mut todo: Vec<String> = ROOTS.iter().map(|r| r.to_string()).collect();
    while let Some(name) = todo.pop() {
        if !wanted.insert(name.clone()) {
            continue;
        }
        let file = pool
            .get_file_by_name(&name)
            .ok_or_else(|| format!("{} lacks {name}", types_bin.display()))?;
        todo.extend(file.dependencies().map(|d| d.name().to_owned()));
    }
    // The pool keeps files in dependency order, which a reader of the set needs.
    let file = pool
        .files()
        .filter(|f| wanted.contains(f.name()))
        .map(|f| {
            let mut proto = f.file_descriptor_proto().clone();
            proto.source_code_info = None;
            proto
        })
        .collect();
    Ok(Made {
        set: FileDescriptorSet { file }.encode_to_vec(),
        files: wanted.len(),
        source: types_bin,
    })
}

/// The `Cargo.toml` of the `envoy-types` package the workspace locks.
fn envoy_types_manifest() -> Result<PathBuf, String> {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("cargo metadata printed no JSON: {e}"))?;
    metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "envoy-types")
        .and_then(|p| p["manifest_path"].as_str())
        .map(PathBuf::from)
        .ok_or_else(|| "the workspace locks no envoy-types package".into())
}
