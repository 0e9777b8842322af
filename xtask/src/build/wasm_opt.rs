//! `--wasm-opt`: binaryen's optimizer over each checked module, on request only. The default build does not use it:
//! its output depends on the wasm-opt version installed, so images made with it are reproducible only where the same
//! version is installed (the version is printed with every optimized module).

use std::{fs, path::Path, process::Command};

use anyhow::{Context, bail};

/// The wasm features rustc 1.99 emits for wasm32-unknown-unknown by default (and Envoy's runtimes accept); wasm-opt
/// refuses a module that uses a feature it was not told about. `target_features` is stripped by the release profile,
/// so binaryen cannot read them from the module.
const FEATURES: [&str; 6] = [
    "--enable-bulk-memory",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-multivalue",
    "--enable-reference-types",
];

/// An installed `wasm-opt`.
pub(crate) struct WasmOpt {
    /// What `wasm-opt --version` printed, e.g. `wasm-opt version 108`.
    pub(crate) version: String,
}

impl WasmOpt {
    pub(crate) fn find() -> anyhow::Result<WasmOpt> {
        let output = Command::new("wasm-opt").arg("--version").output();
        match output {
            Ok(out) if out.status.success() => Ok(WasmOpt {
                version: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            }),
            _ => bail!(
                "--wasm-opt needs binaryen's `wasm-opt` on PATH (Debian/Ubuntu: `apt-get install binaryen`, \
                 macOS: `brew install binaryen`); without the flag the build does not use it"
            ),
        }
    }

    /// `-Oz` over `module`, through temporary files in `dir` (removed afterwards).
    pub(crate) fn optimize(&self, module: &[u8], dir: &Path) -> anyhow::Result<Vec<u8>> {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let input = dir.join(format!(".wasm-opt-in-{}.wasm", std::process::id()));
        let output = dir.join(format!(".wasm-opt-out-{}.wasm", std::process::id()));
        let result = (|| {
            fs::write(&input, module)
                .with_context(|| format!("cannot write {}", input.display()))?;
            let run = Command::new("wasm-opt")
                .arg("-Oz")
                .args(FEATURES)
                .args(["--strip-debug", "--strip-producers"])
                .arg(&input)
                .arg("-o")
                .arg(&output)
                .output()
                .context("cannot run wasm-opt")?;
            if !run.status.success() {
                bail!(
                    "{} failed on the module:\n{}",
                    self.version,
                    String::from_utf8_lossy(&run.stderr).trim()
                );
            }
            fs::read(&output).with_context(|| format!("cannot read {}", output.display()))
        })();
        let _ = fs::remove_file(&input);
        let _ = fs::remove_file(&output);
        result
    }
}
