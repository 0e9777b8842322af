//! `cargo xtask serve`: builds the extensions, orders them as the mesh chains them, and hands them to the serve
//! crate's `proxy-wasm-serve` (wasmtime, hyper and tokio stay out of xtask). With `--watch` it rebuilds an
//! extension whose sources change; the proxy swaps in the new module and a failed build leaves the old one serving.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, SystemTime};

use anyhow::Context;

use crate::maistra::PHASES;
use crate::workspace::Extension;
use crate::{build, deploy, flags, manifest, runner, workspace};

/// How often `--watch` looks at the sources.
const WATCH_EVERY: Duration = Duration::from_millis(500);

impl flags::Serve {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let extensions = workspace::extensions(&self.package)?;
        let optimizer = build::WasmOpt::pinned()?;
        build::build(&extensions, &[], Some(&optimizer))?;
        let chain = chain_order(&extensions)?;
        let mut command = runner::serve_command()?;
        for extension in &chain {
            command.arg("--plugin").arg(format!(
                "{}={}",
                extension.name,
                extension.module_path().display()
            ));
            let configured = self.config.iter().any(|c| {
                c.split_once('=')
                    .is_some_and(|(name, _)| name == extension.name)
            });
            let example = deploy::example_config_path(extension);
            if !configured && example.is_file() {
                command
                    .arg("--config")
                    .arg(format!("{}=@{}", extension.name, example.display()));
            }
        }
        for config in &self.config {
            command.arg("--config").arg(config);
        }
        for policy in &self.failure_policy {
            command.arg("--failure-policy").arg(policy);
        }
        for cluster in &self.cluster {
            command.arg("--cluster").arg(cluster);
        }
        command.args(["--listen", &self.listen, "--admin", &self.admin]);
        if let Some(upstream) = &self.upstream {
            command.args(["--upstream", upstream]);
        }
        if let Some(workers) = self.workers {
            command.args(["--workers", &workers.to_string()]);
        }
        if self.watch {
            command.arg("--watch");
        }
        let mut proxy = command
            .spawn()
            .with_context(|| format!("cannot start {}", runner::SERVE))?;
        if self.watch {
            watch(&extensions, &optimizer, &mut proxy)?;
        }
        let status = proxy.wait()?;
        if !status.success() {
            // The proxy said why (a port in use, a module that did not start…).
            std::process::exit(status.code().unwrap_or(1));
        }
        Ok(())
    }
}

/// The order Envoy's filter chain has in the mesh: by manifest phase (Maistra's order), then priority, higher
/// first; equal ones by name, so the order never depends on the directory listing.
fn chain_order(extensions: &[Extension]) -> anyhow::Result<Vec<Extension>> {
    let defaults = manifest::load_defaults()?;
    let mut keyed = Vec::new();
    for extension in extensions {
        let manifest = manifest::manifest_for(extension, &defaults)?;
        let phase = PHASES
            .iter()
            .position(|p| *p == manifest.phase)
            .unwrap_or(PHASES.len());
        keyed.push((
            (phase, -manifest.priority, extension.name.clone()),
            extension.clone(),
        ));
    }
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(keyed.into_iter().map(|(_, e)| e).collect())
}

/// Rebuilds an extension whose sources changed until the proxy exits.
fn watch(
    extensions: &[Extension],
    optimizer: &build::WasmOpt,
    proxy: &mut Child,
) -> anyhow::Result<()> {
    let mut seen: Vec<BTreeMap<PathBuf, SystemTime>> =
        extensions.iter().map(|e| stamps(&e.dir)).collect();
    while proxy.try_wait()?.is_none() {
        std::thread::sleep(WATCH_EVERY);
        for (extension, seen) in extensions.iter().zip(seen.iter_mut()) {
            let now = stamps(&extension.dir);
            if now == *seen {
                continue;
            }
            *seen = now;
            eprintln!("serve: {} changed; rebuilding", extension.name);
            if let Err(e) = build::build(std::slice::from_ref(extension), &[], Some(optimizer)) {
                eprintln!(
                    "serve: {} did not build; the running VMs keep serving:\n{e:#}",
                    extension.name
                );
            }
        }
    }
    Ok(())
}

/// The modification time of every source file of an extension (its Cargo.toml and everything under src/).
fn stamps(dir: &Path) -> BTreeMap<PathBuf, SystemTime> {
    let mut stamps = BTreeMap::new();
    let mut pending = vec![dir.join("src")];
    let manifest = dir.join("Cargo.toml");
    if let Ok(modified) = std::fs::metadata(&manifest).and_then(|m| m.modified()) {
        stamps.insert(manifest, modified);
    }
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => pending.push(path),
                Ok(meta) => {
                    if let Ok(modified) = meta.modified() {
                        stamps.insert(path, modified);
                    }
                }
                Err(_) => {}
            }
        }
    }
    stamps
}
