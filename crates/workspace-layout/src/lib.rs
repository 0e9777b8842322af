//! Where the workspace keeps things, for every tool that looks: the cargo target directory as cargo resolves it,
//! where `cargo xtask build` puts an extension's shipped module and cargo a cdylib's artifact under it, and the
//! environment a cargo started from inside `cargo run`/`cargo test` must not inherit.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The wasm target every extension and guest module is built for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// The file name of an extension's shipped module, under [`extension_dir`] (and in its image).
pub const MODULE_FILE: &str = "plugin.wasm";

/// Everything `cargo xtask build`, `manifest` and `package` write for extension `name`: `<target>/extensions/<name>`.
pub fn extension_dir(target_dir: &Path, name: &str) -> PathBuf {
    target_dir.join("extensions").join(name)
}

/// The shipped module of extension `name`: `<target>/extensions/<name>/plugin.wasm`.
pub fn extension_module(target_dir: &Path, name: &str) -> PathBuf {
    extension_dir(target_dir, name).join(MODULE_FILE)
}

/// The module cargo builds for cdylib `package` (release, wasm32): dashes in the name become underscores, as cargo
/// names the file.
pub fn cargo_artifact(target_dir: &Path, package: &str) -> PathBuf {
    target_dir
        .join(WASM_TARGET)
        .join("release")
        .join(format!("{}.wasm", package.replace('-', "_")))
}

/// The cargo that runs us (`$CARGO`, so the pinned toolchain is used throughout), in `dir`, without what `cargo run`
/// or `cargo test` set for the binary it started (see [`is_package_variable`]).
pub fn cargo(dir: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(cargo);
    command.current_dir(dir);
    for (name, _) in std::env::vars_os().filter(|(name, _)| is_package_variable(name)) {
        command.env_remove(name);
    }
    command
}

/// What `cargo run`/`cargo test` sets for the binary it starts. A nested cargo must not see it: build scripts such
/// as ring's rerun when `CARGO_PKG_NAME` or `CARGO_MANIFEST_DIR` change, so that cargo would rebuild those crates,
/// and the next cargo started from a shell would rebuild them again.
pub fn is_package_variable(name: &OsStr) -> bool {
    name.to_str().is_some_and(|name| {
        name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || matches!(
                name,
                "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
            )
    })
}

/// `cargo metadata --no-deps` of the workspace at `root`: its packages and its target directory.
pub fn metadata_command(root: &Path) -> Command {
    let mut command = cargo(root);
    command.args([
        "metadata",
        "--format-version",
        "1",
        "--no-deps",
        "--manifest-path",
    ]);
    command.arg(root.join("Cargo.toml"));
    command
}

/// The target directory of the workspace at `root` as cargo resolves it (`CARGO_TARGET_DIR`, `build.target-dir` in a
/// `.cargo/config.toml`, else `<root>/target`), asked of cargo itself so that no rule is copied here.
pub fn target_dir(root: &Path) -> Result<PathBuf, String> {
    let output = metadata_command(root)
        .output()
        .map_err(|e| format!("cannot run `cargo metadata` in {}: {e}", root.display()))?;
    if !output.status.success() {
        return Err(format!(
            "`cargo metadata` in {} failed ({}): {}",
            root.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    target_dir_of(&output.stdout)
}

/// The `target_directory` of `cargo metadata`'s output.
fn target_dir_of(metadata: &[u8]) -> Result<PathBuf, String> {
    let metadata: serde_json::Value = serde_json::from_slice(metadata)
        .map_err(|e| format!("`cargo metadata` printed no JSON: {e}"))?;
    metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| "`cargo metadata` printed no `target_directory`".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This workspace's root (`crates/workspace-layout` is two levels down).
    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .nth(2)
            .unwrap()
            .to_path_buf()
    }

    #[test]
    fn the_shipped_module_and_the_cargo_artifact_sit_where_xtask_build_and_cargo_put_them() {
        let target = Path::new("/w/target");
        assert_eq!(
            extension_module(target, "header-append"),
            Path::new("/w/target/extensions/header-append/plugin.wasm")
        );
        assert_eq!(
            cargo_artifact(target, "conformance-guest"),
            Path::new("/w/target/wasm32-unknown-unknown/release/conformance_guest.wasm")
        );
    }

    #[test]
    fn the_target_dir_honours_cargo_target_dir_and_build_target_dir() {
        let scratch = std::env::temp_dir().join(format!("workspace-layout-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(scratch.join(".cargo")).unwrap();
        std::fs::write(
            scratch.join("Cargo.toml"),
            "[package]\nname = \"probe\"\nversion = \"0.1.0\"\nedition = \"2024\"\n[lib]\npath = \"lib.rs\"\n",
        )
        .unwrap();
        std::fs::write(scratch.join("lib.rs"), "").unwrap();
        let asked = |config: Option<&str>, env: Option<&Path>| {
            match config {
                Some(text) => std::fs::write(scratch.join(".cargo/config.toml"), text).unwrap(),
                None => {
                    let _ = std::fs::remove_file(scratch.join(".cargo/config.toml"));
                }
            }
            let mut command = metadata_command(&scratch);
            match env {
                Some(dir) => command.env("CARGO_TARGET_DIR", dir),
                None => command.env_remove("CARGO_TARGET_DIR"),
            };
            let output = command.output().unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            target_dir_of(&output.stdout).unwrap()
        };
        let scratch_real = scratch.canonicalize().unwrap();
        assert_eq!(asked(None, None), scratch_real.join("target"));
        assert_eq!(
            asked(Some("[build]\ntarget-dir = \"elsewhere\"\n"), None),
            scratch_real.join("elsewhere")
        );
        assert_eq!(
            asked(
                Some("[build]\ntarget-dir = \"elsewhere\"\n"),
                Some(Path::new("/tmp/by-env"))
            ),
            Path::new("/tmp/by-env"),
            "CARGO_TARGET_DIR wins over build.target-dir, as in cargo"
        );
        std::fs::remove_dir_all(&scratch).unwrap();
    }

    #[test]
    fn a_nested_cargo_drops_the_package_variables_and_keeps_the_rest() {
        for dropped in [
            "CARGO_PKG_NAME",
            "CARGO_MANIFEST_DIR",
            "CARGO_CRATE_NAME",
            "CARGO_PRIMARY_PACKAGE",
        ] {
            assert!(is_package_variable(OsStr::new(dropped)), "{dropped}");
        }
        for kept in ["CARGO_TARGET_DIR", "CARGO_HOME", "RUSTFLAGS", "CARGO"] {
            assert!(!is_package_variable(OsStr::new(kept)), "{kept}");
        }
        assert!(target_dir(&root()).unwrap().is_absolute());
    }
}
