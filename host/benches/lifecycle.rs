//! What the host costs: one full HTTP lifecycle through header-append, starting a plugin whose module is already
//! compiled (in-process cache), loading compiled code from the on-disk cache, and a cold Cranelift compile.
//!
//! `cargo xtask build -p header-append && cargo bench -p host --bench lifecycle` (the root `[profile.bench]`
//! keeps the build reasonable: opt-level 3 without LTO).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use host::testing::*;

/// What a typical mesh configuration of header-append looks like: one response header.
const CONFIG: &str = r#"{"x-powered-by": "mesh"}"#;

/// Streams stay readable after `finish` (tests inspect them), so a plugin keeps every stream it ran; a fresh plugin
/// per chunk keeps that state, and so the measurement, independent of the iteration count.
const STREAMS_PER_PLUGIN: u64 = 10_000;

fn module() -> Vec<u8> {
    let path = extension_module("header-append").unwrap_or_else(|e| panic!("{e:#}"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn start(bytes: &[u8]) -> Plugin {
    Plugin::from_bytes(bytes)
        .config(CONFIG)
        .log_level(Level::Info)
        .start()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// create → request headers → response headers → log, done, delete.
fn one_request(plugin: &Plugin) {
    let mut stream = plugin.http_stream();
    black_box(stream.send_request_headers(
        &[
            (":method", "GET"),
            (":path", "/"),
            (":authority", "example.com"),
            (":scheme", "http"),
        ],
        true,
    ));
    black_box(stream.send_response_headers(&[(":status", "200")], true));
    stream.finish();
}

fn lifecycle(c: &mut Criterion) {
    let bytes = module();
    let plugin = start(&bytes);
    one_request(&plugin);
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[], true);
    stream.send_response_headers(&[], true);
    stream
        .client_response()
        .assert_header("x-powered-by", "mesh");
    drop(plugin);

    c.bench_function("header-append: one request lifecycle", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let chunk = left.min(STREAMS_PER_PLUGIN);
                let plugin = start(&bytes);
                let began = Instant::now();
                for _ in 0..chunk {
                    one_request(&plugin);
                }
                elapsed += began.elapsed();
                left -= chunk;
            }
            elapsed
        })
    });
}

fn load(c: &mut Criterion) {
    let bytes = module();
    drop(start(&bytes));
    c.bench_function(
        "header-append: start a plugin, module cached in process",
        |b| b.iter(|| start(black_box(&bytes))),
    );

    // The host's engine configuration (epoch interruption, the proposals Envoy's runtimes lack turned off); compiled
    // code in a file, as the on-disk cache keeps it (the host also checks a sha256 header before loading).
    let mut config = wasmtime::Config::new();
    config
        .epoch_interruption(true)
        .wasm_multi_memory(false)
        .wasm_memory64(false)
        .wasm_wide_arithmetic(false)
        .wasm_custom_page_sizes(false)
        .wasm_stack_switching(false)
        .wasm_gc(false);
    let engine = wasmtime::Engine::new(&config).expect("wasmtime engine");
    let compiled = wasmtime::Module::new(&engine, &bytes).expect("header-append compiles");
    let file = std::env::temp_dir().join(format!("proxy-wasm-bench-{}.cwasm", std::process::id()));
    std::fs::write(&file, compiled.serialize().expect("serialize")).expect("write the cwasm");
    c.bench_function(
        "header-append: load compiled code from disk (next process)",
        |b| {
            // SAFETY: the file was written just above by `Module::serialize` with this engine.
            b.iter(|| {
                unsafe { wasmtime::Module::deserialize_file(&engine, &file) }.expect("deserialize")
            })
        },
    );
    let _ = std::fs::remove_file(&file);

    let mut group = c.benchmark_group("cold");
    group.sample_size(10);
    group.bench_function("header-append: compile with Cranelift", |b| {
        b.iter(|| wasmtime::Module::new(&engine, black_box(&bytes)).expect("compiles"))
    });
    group.finish();
}

criterion_group!(benches, lifecycle, load);
criterion_main!(benches);
