use super::*;

/// A module with everything a proxy needs, minus the `skip`ped export names, plus `extra` text.
fn module(skip: &[&str], extra: &str) -> Vec<u8> {
    let mut text = String::from("(module\n");
    text.push_str("  (import \"env\" \"proxy_log\" (func (param i32 i32 i32) (result i32)))\n");
    text.push_str(extra);
    text.push_str(
        "  (memory 1)\n  (func $f)\n  (func $alloc (param i32) (result i32) i32.const 0)\n",
    );
    for (name, item) in [
        ("memory", "(memory 0)"),
        ("proxy_abi_version_0_2_1", "(func $f)"),
        ("proxy_on_memory_allocate", "(func $alloc)"),
    ] {
        if !skip.contains(&name) {
            text.push_str(&format!("  (export \"{name}\" {item})\n"));
        }
    }
    text.push(')');
    wat::parse_str(&text).unwrap()
}

#[test]
fn a_complete_module_passes_and_reports_its_abi() {
    assert_eq!(
        check(&module(&[], "")),
        Ok(ModuleInfo {
            abi: AbiVersion::V0_2_1
        })
    );
}

#[test]
fn the_older_abi_marker_and_malloc_are_accepted() {
    let bytes = module(
        &["proxy_abi_version_0_2_1", "proxy_on_memory_allocate"],
        "  (func $old) (export \"proxy_abi_version_0_2_0\" (func $old))\n  (func $m (param i32) (result i32) i32.const 0) (export \"malloc\" (func $m))\n",
    );
    assert_eq!(
        check(&bytes),
        Ok(ModuleInfo {
            abi: AbiVersion::V0_2_0
        })
    );
}

/// Envoy links the WASI functions under both names (`FOR_ALL_WASI_FUNCTIONS` for `wasi_snapshot_preview1` and
/// `wasi_unstable`, cpp-host `WasmBase::registerCallbacks`).
#[test]
fn wasi_imports_are_allowed_under_both_names() {
    for wasi in ["wasi_snapshot_preview1", "wasi_unstable"] {
        let bytes = module(
            &[],
            &format!(
                "  (import \"{wasi}\" \"fd_write\" (func (param i32 i32 i32 i32) (result i32)))\n"
            ),
        );
        assert!(check(&bytes).is_ok(), "{wasi}: {:?}", check(&bytes));
    }
}

#[test]
fn bytes_that_are_not_wasm_are_rejected() {
    let problems = check(b"\0asm\x02\0\0\0garbage").unwrap_err();
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].starts_with("it does not parse as WebAssembly"),
        "{problems:?}"
    );
}

#[test]
fn a_missing_abi_marker_is_named() {
    let problems = check(&module(&["proxy_abi_version_0_2_1"], "")).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("no proxy-wasm ABI marker"),
        "{problems:?}"
    );
    assert!(
        problems[0].contains("`proxy_abi_version_0_2_1` nor `proxy_abi_version_0_2_0`"),
        "{problems:?}"
    );
}

#[test]
fn a_missing_memory_export_is_named() {
    let problems = check(&module(&["memory"], "")).unwrap_err();
    assert_eq!(
        problems,
        vec!["no `memory` export: the host cannot read or write the module's memory"]
    );
}

#[test]
fn a_missing_allocator_is_named() {
    let problems = check(&module(&["proxy_on_memory_allocate"], "")).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("neither `proxy_on_memory_allocate` nor `malloc`"),
        "{problems:?}"
    );
}

#[test]
fn foreign_imports_are_listed_by_name() {
    let bytes = module(
        &[],
        "  (import \"__wbindgen_placeholder__\" \"__wbindgen_describe\" (func (param i32)))\n",
    );
    let problems = check(&bytes).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with(
            "imports `__wbindgen_placeholder__::__wbindgen_describe` that no proxy provides"
        ),
        "{problems:?}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let problems = check(&module(
        &[
            "memory",
            "proxy_abi_version_0_2_1",
            "proxy_on_memory_allocate",
        ],
        "",
    ))
    .unwrap_err();
    assert_eq!(problems.len(), 3, "{problems:?}");
}
