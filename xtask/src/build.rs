//! `cargo xtask build`: compile the extensions for wasm32-unknown-unknown (release), check every
//! module the way a proxy would load it, and install it as `target/extensions/<name>/plugin.wasm`, with its
//! names twin `plugin.names.wasm` (the same module with its `name` section, which the host reads to name the
//! Rust functions of a trap's backtrace).

mod budget;
mod check;
mod names;
mod wasm_opt;

use std::{
    collections::VecDeque,
    env,
    ffi::OsString,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};

pub(crate) use check::{Interface, ModuleInfo, interface, wasme_abi_name};
pub(crate) use envoy_targets::AbiVersion;
pub(crate) use names::twin_path;
pub(crate) use wasm_opt::WasmOpt;

use crate::{
    flags,
    report::{human_size, relative_to_cwd},
    workspace::{self, Extension, WASM_TARGET},
};

/// An extension's module after the build: checked and installed at `Extension::module_path()`.
#[derive(Clone)]
pub(crate) struct Built {
    pub(crate) extension: Extension,
    pub(crate) info: ModuleInfo,
    /// The module as checked and installed: what `package` ships, whatever another run has since written to
    /// `module_path()`.
    pub(crate) module: Vec<u8>,
    pub(crate) size: u64,
    /// The wasm-opt version and the module's size before it (`None` with `--no-wasm-opt`).
    pub(crate) optimized: Option<(String, u64)>,
}

impl Built {
    /// `123 bytes (0.1 KiB)`, and what wasm-opt made of it when it ran.
    pub(crate) fn size_text(&self) -> String {
        match &self.optimized {
            None => human_size(self.size),
            Some((version, before)) => format!(
                "{} ({version} -Oz --converge, from {before} bytes)",
                human_size(self.size)
            ),
        }
    }
}

impl flags::Build {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let optimizer = (!self.no_wasm_opt).then(WasmOpt::pinned).transpose()?;
        // A named cdylib that is not an extension (a host test guest) is built with the same flags, not
        // installed: `Plugin::guest` builds its module through here so it matches `cargo xtask test`'s.
        let all = workspace::extensions(&[])?;
        let cdylibs = workspace::cdylib_packages()?;
        if let Some(unknown) = self.package.iter().find(|name| !cdylibs.contains(name)) {
            let others: Vec<&str> = cdylibs
                .iter()
                .map(String::as_str)
                .filter(|c| !all.iter().any(|e| e.name == *c))
                .collect();
            bail!(
                "no extension named `{unknown}` under extensions/ (known: {}), nor another cdylib of the \
                 workspace (known: {})",
                all.iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                others.join(", ")
            );
        }
        let (named, others): (Vec<String>, Vec<String>) = self
            .package
            .iter()
            .cloned()
            .partition(|name| all.iter().any(|e| &e.name == name) || !cdylibs.contains(name));
        let extensions = if named.is_empty() && !others.is_empty() {
            Vec::new()
        } else {
            workspace::extensions(&named)?
        };
        for built in build(&extensions, &others, optimizer.as_ref())? {
            println!(
                "{}: {} -> {}",
                built.extension.name,
                built.size_text(),
                relative_to_cwd(&built.extension.module_path()).display()
            );
        }
        for name in &others {
            println!("{name}: built (not an extension: not checked or installed)");
        }
        Ok(())
    }
}

/// Compiles `extensions`, checks and installs each module; then compiles the `others` packages
/// (e.g. the host's test guests), which are built but not checked.
///
/// One cargo invocation per package: cargo unifies the features of dependencies across the
/// packages it builds together, so a module built next to other cdylibs could differ from the one
/// built alone, and the host's tests build exactly one (`cargo xtask build -p NAME`) before they
/// load it. Shared dependencies are still compiled once (same flags, same features).
///
/// A module is checked and optimized on a thread of its own while cargo builds the next package: wasm-opt (binaryen
/// compiled to WebAssembly, on Node.js) keeps one core busy for seconds per module, and the cargo build of a module
/// (one codegen unit, fat LTO) mostly one, so the two overlap. At most as many modules as there are cores are
/// optimized at once.
pub(crate) fn build(
    extensions: &[Extension],
    others: &[String],
    optimizer: Option<&WasmOpt>,
) -> anyhow::Result<Vec<Built>> {
    let packages: Vec<&str> = extensions.iter().map(|e| e.name.as_str()).collect();
    let at_once = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        let mut installing = VecDeque::new();
        let mut built = Vec::with_capacity(extensions.len());
        for extension in extensions {
            cargo_build_wasm(&[&extension.name])
                .map_err(|failed| optimizer_failure_first(optimizer, failed))?;
            if installing.len() == at_once
                && let Some(oldest) = installing.pop_front()
            {
                built.push(joined(oldest)?);
            }
            installing.push_back(scope.spawn(move || install(extension, optimizer)));
        }
        for other in others.iter().filter(|p| !packages.contains(&p.as_str())) {
            cargo_build_wasm(&[other])?;
        }
        for handle in installing {
            built.push(joined(handle)?);
        }
        Ok(built)
    })
}

/// A failed build when the optimizer could not be installed either (no Node.js, as on a machine without PATH)
/// reports the optimizer, which the command asked for first and whose message says how to fix it; cargo's own
/// errors are already printed above.
fn optimizer_failure_first(optimizer: Option<&WasmOpt>, failed: anyhow::Error) -> anyhow::Error {
    match optimizer.map(WasmOpt::version) {
        Some(Err(unusable)) => unusable,
        _ => failed,
    }
}

/// What a thread returned; its panic goes on as this thread's.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Runs `cargo build --release --target wasm32-unknown-unknown` for `packages` with the flags
/// that make the modules byte-identical whatever the checkout path or cargo home.
pub(crate) fn cargo_build_wasm(packages: &[&str]) -> anyhow::Result<()> {
    cargo_build(packages, workspace::cargo())
}

fn cargo_build(packages: &[&str], mut cmd: std::process::Command) -> anyhow::Result<()> {
    cmd.args(["build", "--release", "--target", WASM_TARGET]);
    for package in packages {
        cmd.args(["--package", package]);
    }
    cmd.env("CARGO_ENCODED_RUSTFLAGS", encoded_rustflags()?);
    cmd.env_remove("RUSTFLAGS");
    let status = cmd.status().context("cannot run `cargo build`")?;
    if !status.success() {
        bail!("`cargo build --release --target {WASM_TARGET}` failed (see the errors above)");
    }
    Ok(())
}

/// The user's own flags (if any) plus path remapping, in cargo's `\x1f`-separated form.
///
/// A release module embeds the source paths of panic locations: the workspace checkout, the
/// cargo registry and the target dir (generated code). Remapping them to fixed names keeps the
/// module, and so the image digest, the same on every machine.
fn encoded_rustflags() -> anyhow::Result<OsString> {
    let mut flags: Vec<String> = match (env::var("CARGO_ENCODED_RUSTFLAGS"), env::var("RUSTFLAGS"))
    {
        (Ok(encoded), _) if !encoded.is_empty() => {
            encoded.split('\x1f').map(str::to_owned).collect()
        }
        (_, Ok(plain)) => plain.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    if !flags.is_empty() {
        eprintln!(
            "note: building with your RUSTFLAGS `{}`: the modules, and so the image digests, depend on them",
            flags.join(" ")
        );
    }
    let root = workspace::root();
    let mut remaps = vec![(root.clone(), "/workspace")];
    if let Some(cargo_home) = cargo_home() {
        remaps.push((cargo_home, "/cargo"));
    }
    // Later mappings win in rustc, so the more specific target dir goes last. Build scripts' generated code lives
    // in the build directory (the target dir unless `build.build-dir` moves it), whose layout is the target dir's:
    // the same name for both gives the same module wherever the intermediate artifacts are.
    let mut dirs = vec![workspace::target_dir()?, workspace::build_dir()?];
    dirs.dedup();
    dirs.sort_by_key(|dir| dir.components().count());
    remaps.extend(dirs.into_iter().map(|dir| (dir, "/target")));
    for (from, to) in remaps {
        let from = from
            .to_str()
            .with_context(|| format!("path is not UTF-8: {}", from.display()))?
            .to_owned();
        flags.push(format!("--remap-path-prefix={from}={to}"));
    }
    Ok(flags.join("\x1f").into())
}

fn cargo_home() -> Option<PathBuf> {
    let home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))?;
    Some(fs::canonicalize(&home).unwrap_or(home))
}

/// Checks the module cargo produced for `extension` (and again after wasm-opt, if asked), then copies it to its
/// `plugin.wasm`.
fn install(extension: &Extension, optimizer: Option<&WasmOpt>) -> anyhow::Result<Built> {
    let artifact = extension.cargo_artifact();
    let bytes = fs::read(&artifact).with_context(|| {
        format!(
            "{}: cargo produced no module at {} (is `crate-type = [\"cdylib\"]` set in its Cargo.toml?)",
            extension.name,
            artifact.display()
        )
    })?;
    let info = check::check(&bytes).map_err(|problems| {
        anyhow::anyhow!(
            "{}: {} is not a proxy-wasm module a proxy can load:\n  - {}",
            extension.name,
            relative_to_cwd(&artifact).display(),
            problems.join("\n  - ")
        )
    })?;
    // The twin keeps the names cargo's module has (the release profile strips debug info only); the shipped
    // module is the twin without custom sections, so both have the same functions at the same indices.
    let (twin, optimized) = match optimizer {
        None => (bytes, None),
        Some(optimizer) => {
            let smaller = optimizer
                .optimize_keeping_names(&bytes)
                .with_context(|| format!("{}: wasm-opt", extension.name))?;
            // Compared with what `--no-wasm-opt` ships: cargo's module without its names.
            let before = names::without_custom_sections(&bytes)?.len() as u64;
            (smaller, Some((optimizer.version()?.to_owned(), before)))
        }
    };
    let bytes = names::without_custom_sections(&twin)
        .with_context(|| format!("{}: removing the names from the module", extension.name))?;
    let info = match &optimized {
        None => info,
        Some((version, _)) => check::check(&bytes).map_err(|problems| {
            anyhow::anyhow!(
                "{}: after {version} the module is no longer one a proxy can load:\n  - {}",
                extension.name,
                problems.join("\n  - ")
            )
        })?,
    };
    // The budget is for the shipped module; `--no-wasm-opt` builds something else on purpose.
    if let Some(budget) = budget::max_bytes(extension)?
        && optimizer.is_some()
        && bytes.len() as u64 > budget
    {
        let breakdown = crate::size::measure(std::slice::from_ref(extension), optimizer)?;
        bail!(
            "{}: the module is {} bytes, over its budget of {budget} (`max-bytes` in {}) by {}. Where its bytes go:\n{}             `cargo xtask size -p {0}` has the whole report; `--baseline FILE` compares it with a saved one",
            extension.name,
            bytes.len(),
            extension.dir.join("Cargo.toml").display(),
            bytes.len() as u64 - budget,
            crate::size::report(extension, &breakdown[0].1, 10)
        );
    }
    workspace::write_atomic(&extension.module_path(), &bytes)?;
    workspace::write_atomic(&twin_path(&extension.module_path()), &twin)?;
    Ok(Built {
        extension: extension.clone(),
        info,
        size: bytes.len() as u64,
        module: bytes,
        optimized,
    })
}
