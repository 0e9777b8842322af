//! `cargo xtask build` end to end.

mod support;

use std::{env, fs, path::PathBuf};

use support::*;

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn the_module_embeds_no_path_of_this_machine() {
    let _lock = packaging_lock();
    let out = xtask_ok(&["build", "-p", "header-append"]);
    assert!(
        out.starts_with("header-append: ") && out.contains(" bytes ("),
        "{out}"
    );
    let module = fs::read(out_dir().join("plugin.wasm")).unwrap();
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env::var_os("HOME").unwrap()).join(".cargo"));
    for local in [root(), cargo_home, out_dir()] {
        let local = local.display().to_string();
        // Panic locations would carry these paths without `--remap-path-prefix`.
        assert!(
            !contains(&module, &local),
            "plugin.wasm embeds the local path {local}"
        );
    }
    assert_eq!(&module[..4], b"\0asm");
}
