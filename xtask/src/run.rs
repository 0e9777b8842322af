//! `cargo xtask run MODULE [runner flags…]`: a dry run of one HTTP stream through an extension (built first, so the
//! module is fresh) or any `.wasm` file, by the runner crate's `proxy-wasm-run` (see `runner`). Everything after the
//! module goes to that binary untouched (`cargo xtask run MODULE --help` lists its flags). An extension that
//! declares another kind (`[package.metadata.extension] kind = "tcp"`) runs as that kind unless `--kind` is given.
//! `--scenario FILE.yaml` plays the streams of a scenario file instead (host/README.md "Scenario files").

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::manifest::{self, Kind};
use crate::{build, flags, runner, workspace};

impl flags::Run {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let (module, kind) = module(&self.module)?;
        let mut command = runner::command()?;
        command.arg(&module);
        // A scenario file says its kind itself (and the runner refuses flags beside it).
        let kind_given = self.args.iter().any(|a| {
            a == "--kind"
                || a.starts_with("--kind=")
                || a == "--scenario"
                || a.starts_with("--scenario=")
        });
        if let Some(kind) = kind.filter(|k| *k != Kind::Http && !kind_given) {
            command.args(["--kind", kind.name()]);
        }
        let status = command
            .args(&self.args)
            .status()
            .with_context(|| format!("cannot run `cargo run --bin {}`", runner::RUNNER))?;
        if !status.success() {
            // The runner printed its report and reason; its exit status (1 not started, 2 bad flags, 3 failed while
            // running, 4 a scenario's stream failed) is the answer scripts check.
            std::process::exit(status.code().unwrap_or(1));
        }
        Ok(())
    }
}

/// A `.wasm` path as given, or an extension's freshly built `plugin.wasm` with the kind it declares.
fn module(name: &str) -> anyhow::Result<(PathBuf, Option<Kind>)> {
    let path = Path::new(name);
    if name.ends_with(".wasm") || path.components().count() > 1 {
        if !path.is_file() {
            bail!(
                "no module at {name}: give the path of a .wasm file, or the name of an extension under extensions/"
            );
        }
        return Ok((path.to_path_buf(), None));
    }
    let extension = workspace::extensions(&[name.to_owned()])?.remove(0);
    let kind = manifest::kind_of(&extension)?;
    let optimizer = build::WasmOpt::pinned()?;
    build::build(std::slice::from_ref(&extension), &[], Some(&optimizer))?;
    Ok((extension.module_path(), Some(kind)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_wasm_path_says_what_to_give() {
        let error = module("missing/plugin.wasm").unwrap_err().to_string();
        assert!(
            error.contains("no module at missing/plugin.wasm"),
            "{error}"
        );
    }
}
