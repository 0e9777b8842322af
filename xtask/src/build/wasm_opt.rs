//! The size optimizer every shipped module goes through: binaryen's `wasm-opt -Oz`, at the version pinned in
//! `tools/binaryen/package-lock.json`. That npm package is binaryen compiled to WebAssembly and run by Node.js,
//! so one version gives the same bytes on every machine; `build` installs it under `target/tools/binaryen` on
//! first use and refuses any other version, since another version would silently make other bytes (and so
//! other image digests).

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicU64, Ordering},
    sync::{Mutex, OnceLock},
    thread::JoinHandle,
};

use anyhow::{Context, anyhow, bail};

use crate::{oci::digest::sha256_hex, workspace};

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

const NEEDS_NODE: &str = "the module optimizer (binaryen's wasm-opt, pinned in tools/binaryen) runs on Node.js 18+ \
     with npm (Debian/Ubuntu: `apt-get install nodejs npm`, macOS: `brew install node`); or build with --no-wasm-opt \
     (the module then differs from the one `package` ships)";

/// The passes: size first, repeated until nothing changes.
const PASSES: [&str; 2] = ["-Oz", "--converge"];

/// V8 runs binaryen's WebAssembly with its baseline compiler (Liftoff) only. By default it also compiles the hot
/// functions of binaryen's 11 MB module again with its optimizing compiler, which a run of a few seconds never earns
/// back: one run on a ~100 KB module took 4.7–5.1 s of CPU by default and 2.9–3.5 s with this flag, for the same
/// bytes (which tier runs a function already depends on timing, so the output cannot depend on it). A Node.js whose
/// V8 lacks the flag runs wasm-opt without it.
const NODE_FLAGS: &[&str] = &["--liftoff-only"];

/// The pinned wasm-opt, installed and checked on a thread of its own from the moment a command asks for it, so that
/// the npm install and the version check (about 2 s before the first build of a clone) overlap cargo's first build.
pub(crate) struct WasmOpt {
    installing: Mutex<Option<JoinHandle<anyhow::Result<Installed>>>>,
    /// The installed optimizer, or why there is none (the error's text: every module's build reports it).
    installed: OnceLock<Result<Installed, String>>,
}

impl WasmOpt {
    /// Starts installing and checking the pinned version (`Installed::pinned`).
    pub(crate) fn pinned() -> anyhow::Result<WasmOpt> {
        let installing = std::thread::Builder::new()
            .name("wasm-opt install".into())
            .spawn(Installed::pinned)
            .context("cannot start a thread to install wasm-opt")?;
        Ok(WasmOpt {
            installing: Mutex::new(Some(installing)),
            installed: OnceLock::new(),
        })
    }

    /// The installed optimizer, once the install and check are done.
    fn installed(&self) -> anyhow::Result<&Installed> {
        self.installed
            .get_or_init(|| match self.installing.lock().unwrap().take() {
                Some(installing) => installing
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                    .map_err(|e| format!("{e:#}")),
                None => Err("the wasm-opt install thread was already joined".into()),
            })
            .as_ref()
            .map_err(|e| anyhow!("{e}"))
    }

    /// What `wasm-opt --version` printed, e.g. `wasm-opt version 132 (version_132)`.
    pub(crate) fn version(&self) -> anyhow::Result<&str> {
        Ok(&self.installed()?.version)
    }

    /// The optimized module, keeping its name section: the names twin, and the shipped module once its custom
    /// sections are removed (`build::names`). Results are kept by the input's digest, so an unchanged module costs
    /// no second run.
    pub(crate) fn optimize_keeping_names(&self, module: &[u8]) -> anyhow::Result<Vec<u8>> {
        self.installed()?.run(module, &["--debuginfo"])
    }
}

impl Drop for WasmOpt {
    /// A command that fails before it optimizes anything still waits for `npm ci`, which would otherwise go on
    /// writing the install after this process (and its install lock) is gone.
    fn drop(&mut self) {
        if let Some(installing) = self.installing.get_mut().unwrap().take() {
            let _ = installing.join();
        }
    }
}

/// The pinned wasm-opt, installed and checked.
struct Installed {
    script: PathBuf,
    /// [`NODE_FLAGS`], or none where this Node.js refuses them.
    node_flags: &'static [&'static str],
    /// What `wasm-opt --version` printed, e.g. `wasm-opt version 132 (version_132)`.
    version: String,
    cache: PathBuf,
}

impl Installed {
    /// The pinned version, installed from npm into the target directory when it is not there yet.
    fn pinned() -> anyhow::Result<Installed> {
        let pin_dir = workspace::root().join("tools").join("binaryen");
        let pinned = pinned_version(&pin_dir)?;
        let dir = workspace::target_dir()?.join("tools").join("binaryen");
        let script = dir.join("node_modules/binaryen/bin/wasm-opt");
        if installed_version(&dir).as_deref() != Some(pinned.as_str()) {
            install(&pin_dir, &dir, &pinned)?;
        }
        let version_of = |node_flags: &[&str]| {
            Command::new("node")
                .args(node_flags)
                .arg(&script)
                .arg("--version")
                .output()
                .map_err(|_| anyhow::anyhow!("{NEEDS_NODE}"))
        };
        let (node_flags, output) = match version_of(NODE_FLAGS)? {
            output if output.status.success() => (NODE_FLAGS, output),
            _ => (&[][..], version_of(&[])?),
        };
        let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let major = pinned.split('.').next().unwrap_or_default();
        if !output.status.success() || !version.starts_with(&format!("wasm-opt version {major} ")) {
            bail!(
                "{} reports `{version}`, not binaryen {pinned} as tools/binaryen/package-lock.json pins: another version \
                 makes other module bytes; remove {} and build again to reinstall it",
                script.display(),
                dir.display()
            );
        }
        Ok(Installed {
            script,
            node_flags,
            version,
            cache: dir.join("cache"),
        })
    }

    fn run(&self, module: &[u8], extra: &[&str]) -> anyhow::Result<Vec<u8>> {
        let key =
            sha256_hex(&[module, self.version.as_bytes(), extra.join(" ").as_bytes()].concat());
        let cached = self.cache.join(format!("{key}.wasm"));
        if let Ok(bytes) = fs::read(&cached) {
            return Ok(bytes);
        }
        fs::create_dir_all(&self.cache)
            .with_context(|| format!("cannot create {}", self.cache.display()))?;
        // Names of this run alone: other processes share the cache, and `build` optimizes modules on several
        // threads at once.
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let run_name = format!(
            "{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        );
        let input = self.cache.join(format!(".{key}-{run_name}.in.wasm"));
        let output = self.cache.join(format!(".{key}-{run_name}.out.wasm"));
        let result = (|| {
            fs::write(&input, module)
                .with_context(|| format!("cannot write {}", input.display()))?;
            let run = Command::new("node")
                .args(self.node_flags)
                .arg(&self.script)
                .args(PASSES)
                .args(FEATURES)
                .args(extra)
                .arg(&input)
                .arg("-o")
                .arg(&output)
                .output()
                .context("cannot run node for wasm-opt")?;
            if !run.status.success() {
                bail!(
                    "{} failed on the module:\n{}",
                    self.version,
                    String::from_utf8_lossy(&run.stderr).trim()
                );
            }
            let bytes =
                fs::read(&output).with_context(|| format!("cannot read {}", output.display()))?;
            workspace::write_atomic(&cached, &bytes)?;
            Ok(bytes)
        })();
        let _ = fs::remove_file(&input);
        let _ = fs::remove_file(&output);
        result
    }
}

/// `"132.0.0"` from `tools/binaryen/package.json`.
fn pinned_version(pin_dir: &Path) -> anyhow::Result<String> {
    let path = pin_dir.join("package.json");
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    json["dependencies"]["binaryen"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{}: no `dependencies.binaryen` version", path.display()))
}

/// The version of the binaryen package installed in `dir`, if any.
fn installed_version(dir: &Path) -> Option<String> {
    let text = fs::read_to_string(dir.join("node_modules/binaryen/package.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["version"].as_str().map(str::to_owned)
}

/// `npm ci` of the pinned lock file into `dir`, one process at a time.
fn install(pin_dir: &Path, dir: &Path, pinned: &str) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let lock = fs::File::create(dir.join(".install.lock"))
        .with_context(|| format!("cannot create a lock in {}", dir.display()))?;
    lock.lock().context("cannot lock the binaryen install")?;
    if installed_version(dir).as_deref() == Some(pinned) {
        return Ok(());
    }
    for file in ["package.json", "package-lock.json"] {
        fs::copy(pin_dir.join(file), dir.join(file))
            .with_context(|| format!("cannot copy tools/binaryen/{file}"))?;
    }
    eprintln!(
        "installing binaryen {pinned} (wasm-opt, pinned in tools/binaryen/package-lock.json) from npm into {}",
        dir.display()
    );
    let status = Command::new("npm")
        .args([
            "ci",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ])
        .current_dir(dir)
        .status();
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => bail!(
            "`npm ci` for binaryen {pinned} failed ({status}); check that the npm registry is reachable, or build \
             with --no-wasm-opt (the module then differs from the one `package` ships)"
        ),
        Err(_) => bail!("{NEEDS_NODE}"),
    }
}
