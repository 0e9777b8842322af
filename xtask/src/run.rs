//! `cargo xtask run MODULE [runner flags…]`: a dry run of one HTTP stream through an extension (built first, so the
//! module is fresh) or any `.wasm` file, by the host crate's `proxy-wasm-run` (see `runner`). Everything after the
//! module goes to that binary untouched (`cargo xtask run MODULE --help` lists its flags).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::{build, flags, runner, workspace};

impl flags::Run {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let module = module(&self.module)?;
        let status = runner::command()?
            .arg(&module)
            .args(&self.args)
            .status()
            .with_context(|| format!("cannot run `cargo run --bin {}`", runner::RUNNER))?;
        if !status.success() {
            // The runner printed its report and reason; its exit status (1 not started, 2 bad flags, 3 failed while
            // running) is the answer scripts check.
            std::process::exit(status.code().unwrap_or(1));
        }
        Ok(())
    }
}

/// A `.wasm` path as given, or an extension's freshly built `plugin.wasm`.
fn module(name: &str) -> anyhow::Result<PathBuf> {
    let path = Path::new(name);
    if name.ends_with(".wasm") || path.components().count() > 1 {
        if !path.is_file() {
            bail!(
                "no module at {name}: give the path of a .wasm file, or the name of an extension under extensions/"
            );
        }
        return Ok(path.to_path_buf());
    }
    let extension = workspace::extensions(&[name.to_owned()])?.remove(0);
    let optimizer = build::WasmOpt::pinned()?;
    build::build(std::slice::from_ref(&extension), &[], Some(&optimizer))?;
    Ok(extension.module_path())
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
