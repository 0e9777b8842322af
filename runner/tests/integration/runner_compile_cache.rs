//! The on-disk cache of compiled modules, as the runner uses it across processes: code compiled from another module
//! is never run (it is recompiled and re-cached), a truncated entry is recompiled, and `--no-cache` leaves the
//! directory alone.

use std::process::Command;
use std::time::Instant;

use host::testing::target_dir;

/// A module from its imports, memory and exported functions, with the allocator and ABI exports every plugin has.
pub(super) fn module(imports: &str, memory: &str, body: &str) -> Vec<u8> {
    let text = format!(
        r#"(module
  {imports}
  {memory}
  (global $heap (mut i32) (i32.const 1024))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  {body}
)"#
    );
    wat::parse_str(&text).unwrap_or_else(|e| panic!("invalid WAT: {e}\n{text}"))
}

/// A module that adds `x-module: <tag>` to requests; `salt` makes its bytes (and so its cache key) unique.
pub(super) fn tagged_module(tag: &str, salt: &str) -> Vec<u8> {
    module(
        r#"(import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))"#,
        &format!(
            r#"(memory (export "memory") 1) (data (i32.const 16) "x-module") (data (i32.const 32) "{tag}")
               (data (i32.const 64) "{salt}")"#
        ),
        &format!(
            r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
                 (drop (call $add (i32.const 0) (i32.const 16) (i32.const 8) (i32.const 32) (i32.const {})))
                 (i32.const 0))"#,
            tag.len()
        ),
    )
}

/// `proxy-wasm-run --json` on `module`: the `x-module` values the upstream saw.
fn upstream_tags(module: &std::path::Path, args: &[&str]) -> Vec<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_proxy-wasm-run"))
        .arg(module)
        .args(args)
        .arg("--json")
        .env_remove("PROXY_WASM_HOST_NO_CACHE")
        .output()
        .expect("proxy-wasm-run runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON report");
    assert_eq!(report["started"], true, "{report:#}");
    report["upstream_request"]["headers"]
        .as_array()
        .expect("upstream headers")
        .iter()
        .filter(|pair| pair[0] == "x-module")
        .map(|pair| pair[1].as_str().unwrap_or_default().to_string())
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn compiled_code_of_another_module_in_the_cache_is_recompiled_never_run() {
    use std::os::unix::fs::PermissionsExt;
    let salt = format!("{}-{:?}", std::process::id(), Instant::now());
    let dir = std::env::temp_dir().join(format!("proxy-wasm-cache-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (tagged_module("A", &salt), tagged_module("B", &salt));
    let (a_path, b_path) = (dir.join("a.wasm"), dir.join("b.wasm"));
    std::fs::write(&a_path, &a).unwrap();
    std::fs::write(&b_path, &b).unwrap();

    assert_eq!(upstream_tags(&a_path, &[]), ["A"]);
    assert_eq!(upstream_tags(&b_path, &[]), ["B"]);
    let cache = target_dir().join("proxy-wasm-host");
    let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o700,
        "the cache directory is private to the user"
    );
    let (a_entry, b_entry) = (
        cache.join(format!("{}.cwasm", sha256_hex(&a))),
        cache.join(format!("{}.cwasm", sha256_hex(&b))),
    );
    let a_compiled = std::fs::read(&a_entry).expect("module A was cached");

    // Someone puts A's compiled code under B's name: B must still run as B, recompiled and re-cached.
    std::fs::write(&b_entry, &a_compiled).unwrap();
    assert_eq!(upstream_tags(&b_path, &[]), ["B"]);
    assert_ne!(
        std::fs::read(&b_entry).unwrap(),
        a_compiled,
        "B's entry was rewritten from B"
    );

    // A truncated entry is recompiled too.
    std::fs::write(&b_entry, &a_compiled[..a_compiled.len() / 2]).unwrap();
    assert_eq!(upstream_tags(&b_path, &[]), ["B"]);

    // --no-cache neither reads nor writes the directory.
    let c = tagged_module("C", &format!("{salt}-no-cache"));
    let c_path = dir.join("c.wasm");
    std::fs::write(&c_path, &c).unwrap();
    assert_eq!(upstream_tags(&c_path, &["--no-cache"]), ["C"]);
    assert!(!cache.join(format!("{}.cwasm", sha256_hex(&c))).exists());

    for entry in [a_entry, b_entry] {
        let _ = std::fs::remove_file(&entry);
        let _ = std::fs::remove_file(entry.with_extension("lock"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
