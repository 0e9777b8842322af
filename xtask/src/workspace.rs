//! Where things are: the workspace root, its extensions and the paths every command agrees on.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use anyhow::{Context, bail};
use serde::Deserialize;

pub use workspace_layout::WASM_TARGET;

/// One crate under `extensions/`, as cargo describes it.
#[derive(Debug, Clone)]
pub struct Extension {
    /// Package name, e.g. `header-append`.
    pub name: String,
    pub version: String,
    pub description: String,
    pub repository: Option<String>,
    /// Directory holding the extension's `Cargo.toml`.
    pub dir: PathBuf,
    /// `[package.metadata.extension]`, if any (phase, priority overrides…).
    pub metadata: serde_json::Value,
    target_dir: PathBuf,
}

impl Extension {
    /// File name cargo gives the compiled module (`header_append.wasm`).
    pub fn cargo_artifact(&self) -> PathBuf {
        workspace_layout::cargo_artifact(&self.target_dir, &self.name)
    }

    /// Everything xtask writes for this extension: `target/extensions/<name>/`.
    pub fn out_dir(&self) -> PathBuf {
        workspace_layout::extension_dir(&self.target_dir, &self.name)
    }

    /// The checked module as shipped.
    pub fn module_path(&self) -> PathBuf {
        workspace_layout::extension_module(&self.target_dir, &self.name)
    }

    /// The extension's rendered `manifest.yaml`.
    pub fn manifest_path(&self) -> PathBuf {
        self.out_dir().join("manifest.yaml")
    }

    /// OCI image layout directory.
    pub fn layout_dir(&self) -> PathBuf {
        self.out_dir().join("oci")
    }

    /// The same image as an `oci-archive` tar.
    pub fn archive_path(&self) -> PathBuf {
        self.out_dir().join(format!("{}.oci.tar", self.name))
    }

    /// Docker/podman/buildah build context: `manifest.yaml` + `plugin.wasm`.
    pub fn context_dir(&self) -> PathBuf {
        self.out_dir().join("context")
    }
}

#[cfg(test)]
impl Extension {
    /// An extension as `extensions()` would describe `extensions/<name>` (version 0.3.0), with
    /// its outputs under `target_dir`, for unit tests.
    pub fn for_test(name: &str, target_dir: &Path) -> Extension {
        Extension {
            name: name.to_owned(),
            version: "0.3.0".to_owned(),
            description: format!("The {name} test extension"),
            repository: Some("https://example.com/ws".to_owned()),
            dir: root().join("extensions").join(name),
            metadata: serde_json::Value::Null,
            target_dir: target_dir.to_path_buf(),
        }
    }
}

/// The workspace root (parent of this crate's directory), whatever the current directory is.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// The cargo that runs us (`$CARGO`), in the workspace root, without what `cargo run` set for this binary
/// (`workspace_layout::cargo`).
pub fn cargo() -> Command {
    workspace_layout::cargo(&root())
}

/// Every extension under `extensions/`, sorted by name, or only those named in `only`.
pub fn extensions(only: &[String]) -> anyhow::Result<Vec<Extension>> {
    let metadata = metadata()?;
    let extensions_dir = root().join("extensions");
    let mut all: Vec<Extension> = metadata
        .packages
        .iter()
        .filter(|p| p.manifest_path.starts_with(&extensions_dir))
        .map(|p| Extension {
            dir: p
                .manifest_path
                .parent()
                .unwrap_or(&extensions_dir)
                .to_path_buf(),
            name: p.name.clone(),
            version: p.version.clone(),
            description: p.description.clone().unwrap_or_default(),
            repository: p.repository.clone(),
            metadata: p.metadata.get("extension").cloned().unwrap_or_default(),
            target_dir: metadata.target_directory.clone(),
        })
        .collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    if only.is_empty() {
        if all.is_empty() {
            bail!("no extension found under {}", extensions_dir.display());
        }
        return Ok(all);
    }
    let mut picked = Vec::new();
    for name in only {
        match all.iter().find(|e| &e.name == name) {
            Some(ext) => picked.push(ext.clone()),
            None => bail!(
                "no extension named `{name}` under extensions/ (known: {})",
                all.iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    Ok(picked)
}

/// Picks the one extension a single-image command (push, deploy, check) works on: the one named, else the only
/// extension of the workspace, else the only one packaged in this target directory.
pub fn single_extension(name: Option<&str>) -> anyhow::Result<Extension> {
    if let Some(name) = name {
        return Ok(extensions(&[name.to_owned()])?.remove(0));
    }
    let mut all = extensions(&[])?;
    if all.len() == 1 {
        return Ok(all.remove(0));
    }
    let names = all
        .iter()
        .map(|e| e.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut packaged: Vec<Extension> = all
        .into_iter()
        .filter(|e| e.layout_dir().join("index.json").is_file())
        .collect();
    if packaged.len() == 1 {
        return Ok(packaged.remove(0));
    }
    bail!("several extensions here ({names}): choose one with -p NAME")
}

/// Cargo's target directory (honours `CARGO_TARGET_DIR` and `build.target-dir`).
pub fn target_dir() -> anyhow::Result<PathBuf> {
    Ok(metadata()?.target_directory.clone())
}

/// Cargo's build directory, where intermediate artifacts and build scripts' output live (`build.build-dir` /
/// `CARGO_BUILD_BUILD_DIR`; by default the target directory).
pub fn build_dir() -> anyhow::Result<PathBuf> {
    let metadata = metadata()?;
    Ok(metadata
        .build_directory
        .clone()
        .unwrap_or_else(|| metadata.target_directory.clone()))
}

/// Names of every workspace package with a `cdylib` target (extensions, host guest modules…), sorted.
pub fn cdylib_packages() -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = metadata()?
        .packages
        .iter()
        .filter(|p| {
            p.targets
                .iter()
                .any(|t| t.crate_types.iter().any(|c| c == "cdylib"))
        })
        .map(|p| p.name.clone())
        .collect();
    names.sort();
    Ok(names)
}

/// Names of every workspace package (extensions, xtask, host and its guests).
pub fn package_names() -> anyhow::Result<Vec<String>> {
    Ok(metadata()?
        .packages
        .iter()
        .map(|p| p.name.clone())
        .collect())
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename,
/// so a reader never sees a half-written file and a failed run leaves the old one intact.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().context("path has no parent directory")?;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let file_name = path
        .file_name()
        .context("path has no file name")?
        .to_string_lossy();
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    target_directory: PathBuf,
    build_directory: Option<PathBuf>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: String,
    description: Option<String>,
    repository: Option<String>,
    manifest_path: PathBuf,
    #[serde(default)]
    metadata: serde_json::Value,
    #[serde(default)]
    targets: Vec<Target>,
}

#[derive(Deserialize)]
struct Target {
    crate_types: Vec<String>,
}

/// `cargo metadata` of the workspace, read once per command: running cargo is the slow part of a quick command.
fn metadata() -> anyhow::Result<&'static Metadata> {
    static METADATA: OnceLock<Metadata> = OnceLock::new();
    if let Some(metadata) = METADATA.get() {
        return Ok(metadata);
    }
    let read = read_metadata()?;
    Ok(METADATA.get_or_init(|| read))
}

fn read_metadata() -> anyhow::Result<Metadata> {
    let output = workspace_layout::metadata_command(&root())
        .output()
        .context("cannot run `cargo metadata`")?;
    if !output.status.success() {
        bail!(
            "`cargo metadata` failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_slice(&output.stdout).context("cannot read `cargo metadata` output")
}
