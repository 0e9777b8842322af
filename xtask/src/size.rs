//! `cargo xtask size`: where each extension's module bytes go, per crate and per function, so an author sees
//! what a dependency costs. The names come from the module cargo builds (the release profile keeps them), run
//! through the same pinned wasm-opt as the shipped module: the module measured is the names twin
//! `plugin.names.wasm`, whose functions are the shipped ones.
//! `--save-baseline FILE` keeps a report; `--baseline FILE` shows what changed since.

mod analysis;

use std::{collections::BTreeMap, fs, path::Path};

use anyhow::Context;

pub(crate) use analysis::Breakdown;

use crate::{
    build::{self, WasmOpt},
    flags,
    workspace::{self, Extension},
};

/// Rows of each list shown unless `--top` says otherwise.
const TOP: usize = 15;

impl flags::Size {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let extensions = workspace::extensions(&self.package)?;
        let optimizer = (!self.no_wasm_opt).then(WasmOpt::pinned).transpose()?;
        let measured = measure(&extensions, optimizer.as_ref())?;
        let baseline: BTreeMap<String, Breakdown> = match &self.baseline {
            Some(path) => {
                let text = fs::read_to_string(path)
                    .with_context(|| format!("--baseline {path}: cannot read the file"))?;
                serde_json::from_str(&text).with_context(|| {
                    format!("--baseline {path}: not a report saved by `cargo xtask size --save-baseline`")
                })?
            }
            None => BTreeMap::new(),
        };
        let top = self.top.unwrap_or(TOP);
        for (extension, breakdown) in &measured {
            print!("{}", report(extension, breakdown, top));
            if let Some(before) = baseline.get(&extension.name) {
                print!("{}", diff(before, breakdown, top));
            } else if let Some(path) = &self.baseline {
                println!("  (no {} in the baseline {path})\n", extension.name);
            }
        }
        if let Some(path) = &self.save_baseline {
            let saved: BTreeMap<&str, &Breakdown> =
                measured.iter().map(|(e, b)| (e.name.as_str(), b)).collect();
            workspace::write_atomic(Path::new(path), &serde_json::to_vec_pretty(&saved)?)?;
            eprintln!("saved the baseline to {path}");
        }
        Ok(())
    }
}

/// Builds `extensions` with names kept and attributes each module's bytes.
pub(crate) fn measure(
    extensions: &[Extension],
    optimizer: Option<&WasmOpt>,
) -> anyhow::Result<Vec<(Extension, Breakdown)>> {
    for extension in extensions {
        build::cargo_build_wasm(&[&extension.name])?;
    }
    extensions
        .iter()
        .map(|extension| {
            let path = extension.cargo_artifact();
            let module =
                fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let module = match optimizer {
                Some(optimizer) => optimizer.optimize_keeping_names(&module)?,
                None => module,
            };
            Ok((extension.clone(), analysis::analyze(&module)?))
        })
        .collect()
}

/// The crates, the largest functions and the other sections of one module.
pub(crate) fn report(extension: &Extension, breakdown: &Breakdown, top: usize) -> String {
    let code: u64 = breakdown.functions.values().sum();
    let shipped = fs::metadata(extension.module_path()).map(|m| m.len()).ok();
    let mut out = format!(
        "{}: {} bytes of code in {} functions{}\n",
        extension.name,
        code,
        breakdown.functions.len(),
        shipped
            .map(|s| format!(
                "; {s} bytes shipped ({})",
                extension.module_path().display()
            ))
            .unwrap_or_default()
    );
    out += "  by crate:\n";
    for (name, bytes) in largest(&breakdown.crates, usize::MAX) {
        out += &format!(
            "    {bytes:>8}  {:>5.1}%  {name}\n",
            100.0 * bytes as f64 / code.max(1) as f64
        );
    }
    out += &format!("  largest functions (top {top}):\n");
    for (name, bytes) in largest(&breakdown.functions, top) {
        out += &format!("    {bytes:>8}  {name}\n");
    }
    out += "  other sections (custom ones exist only in this build with names; the shipped module has none):\n";
    for (name, bytes) in largest(&breakdown.sections, usize::MAX) {
        if name != "code (function bodies)" {
            out += &format!("    {bytes:>8}  {name}\n");
        }
    }
    out.push('\n');
    out
}

/// What changed against a saved report: every crate, and the functions that changed most.
fn diff(before: &Breakdown, after: &Breakdown, top: usize) -> String {
    let total = |b: &Breakdown| b.functions.values().sum::<u64>() as i64;
    let mut out = format!(
        "  against the baseline: {:+} bytes of code ({} → {})\n    by crate:\n",
        total(after) - total(before),
        total(before),
        total(after)
    );
    for (name, change) in changes(&before.crates, &after.crates, usize::MAX) {
        out += &format!("      {change:>+8}  {name}\n");
    }
    out += "    functions that changed most:\n";
    for (name, change) in changes(&before.functions, &after.functions, top) {
        out += &format!("      {change:>+8}  {name}\n");
    }
    out.push('\n');
    out
}

fn largest(map: &BTreeMap<String, u64>, n: usize) -> Vec<(&str, u64)> {
    let mut entries: Vec<(&str, u64)> = map.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    entries.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    entries.truncate(n);
    entries
}

fn changes(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
    n: usize,
) -> Vec<(String, i64)> {
    let mut all: BTreeMap<&str, i64> = BTreeMap::new();
    for (name, bytes) in before {
        *all.entry(name).or_default() -= *bytes as i64;
    }
    for (name, bytes) in after {
        *all.entry(name).or_default() += *bytes as i64;
    }
    let mut changed: Vec<(String, i64)> = all
        .into_iter()
        .filter(|(_, change)| *change != 0)
        .map(|(name, change)| (name.to_owned(), change))
        .collect();
    changed.sort_by(|a, b| b.1.abs().cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
    changed.truncate(n);
    changed
}
