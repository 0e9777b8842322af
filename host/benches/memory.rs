//! Memory per worker VM: starts 1, 10 and 100 worker VMs of header-append (one compiled module, one base VM and
//! configuration canary, as Envoy clones one plugin onto each worker), runs one request through each, and prints
//! the resident memory the process grew by per VM and the linear memory each VM has (what wasmtime mapped
//! read-write for the guest; only the pages it touched are resident).
//!
//! `cargo xtask build -p header-append && cargo bench -p host --bench memory`
//!
//! Each count runs in a child process of its own, so memory freed by one count is not reused by the next.

use host::testing::*;

/// What a typical mesh configuration of header-append looks like: one response header.
const CONFIG: &str = r#"{"x-powered-by": "mesh"}"#;
const COUNTS: [usize; 3] = [1, 10, 100];
/// Set in the child: how many VMs to start.
const COUNT_ENV: &str = "PROXY_WASM_MEMORY_BENCH_VMS";

fn main() {
    if let Ok(count) = std::env::var(COUNT_ENV) {
        measure(count.parse().expect("a VM count"));
        return;
    }
    let path = extension_module("header-append").unwrap_or_else(|e| panic!("{e:#}"));
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    println!("header-append ({size} bytes), one request through each worker VM:");
    println!(
        "{:>5}  {:>18}  {:>18}  {:>22}",
        "VMs", "resident growth", "resident per VM", "linear memory per VM"
    );
    for count in COUNTS {
        let output = std::process::Command::new(std::env::current_exe().expect("the bench binary"))
            .env(COUNT_ENV, count.to_string())
            .output()
            .expect("the bench binary runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{count} VMs failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        print!("{stdout}");
    }
}

/// Starts `count` worker VMs on one Envoy and prints one row of the table.
fn measure(count: usize) {
    let path = extension_module("header-append").unwrap_or_else(|e| panic!("{e:#}"));
    let bytes = std::fs::read(&path).expect("the module");
    let envoy = Envoy::new();
    // The module compiled, and the base VM and canary run, before the baseline: they are per plugin, not per worker.
    // This first worker VM is not counted.
    let _warm = start(&bytes, &envoy);
    let before = resident_kib();
    let plugins: Vec<Plugin> = (0..count).map(|_| start(&bytes, &envoy)).collect();
    for plugin in &plugins {
        let mut stream = plugin.http_stream();
        stream.send_request_headers(&[(":path", "/")], true);
        stream.send_response_headers(&[(":status", "200")], true);
        stream.finish();
        plugin.assert_not_failed();
    }
    let grown = resident_kib().saturating_sub(before);
    let linear: usize = plugins.iter().map(|p| p.memory_bytes()).sum();
    println!(
        "{count:>5}  {:>14.2} MiB  {:>14.2} MiB  {:>18.2} MiB",
        grown as f64 / 1024.0,
        grown as f64 / count as f64 / 1024.0,
        linear as f64 / count as f64 / (1 << 20) as f64
    );
}

fn start(bytes: &[u8], envoy: &Envoy) -> Plugin {
    Plugin::from_bytes(bytes)
        .on(envoy)
        .config(CONFIG)
        .start()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `VmRSS` of this process in KiB.
fn resident_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}
