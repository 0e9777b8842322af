//! What the host costs: one full HTTP lifecycle through header-append, and one with JSON bodies both ways through
//! json-redact, each beside baselines that drive the same module's exports in the same order on bare wasmtime, with
//! do-nothing imports and with imports that answer with the workload's bytes (the host's overhead is the ratio);
//! starting a plugin whose module is already compiled (in-process cache), loading compiled code from
//! the on-disk cache, and a cold Cranelift compile.
//!
//! `cargo xtask build -p header-append -p json-redact && cargo bench -p host --bench lifecycle` (the root `[profile.bench]`
//! keeps the build reasonable: opt-level 3 without LTO).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use workload::*;

mod workload;

/// Each plugin (and bare instance) runs this many requests, so that what a VM accumulates over its life (its context
/// ids, its memory allocator's state) is the same whatever the iteration count.
const STREAMS_PER_PLUGIN: u64 = 10_000;

fn lifecycle(c: &mut Criterion) {
    for workload in [HEADER_APPEND, JSON_REDACT] {
        let bytes = workload.module();
        check(&workload, &bytes);
        c.bench_function(&format!("{}: one request lifecycle", workload.name), |b| {
            b.iter_custom(|iters| {
                chunked(
                    iters,
                    || workload.start(&bytes),
                    |plugin| workload.one_request(plugin),
                )
            })
        });
    }
}

/// The workload does what it is meant to: what the benchmark times is the extension at work.
fn check(workload: &Workload, bytes: &[u8]) {
    let plugin = workload.start(bytes);
    workload.one_request(&plugin);
    let mut stream = plugin.http_stream();
    match workload.body {
        None => {
            stream.send_request_headers(&[], true);
            stream.send_response_headers(&[], true);
            stream
                .client_response()
                .assert_header("x-powered-by", "mesh");
        }
        Some(body) => {
            stream.send_request_headers(&[], true);
            stream.send_response_headers(&[("content-type", "application/json")], false);
            stream.send_response_body(body, true);
            let sent = stream.client_response().body_text();
            assert!(
                !sent.contains("hunter2") && !sent.contains("123-45-6789"),
                "json-redact left a field in {sent}"
            );
        }
    }
    drop(stream);
    plugin.assert_not_failed();
}

/// The same export calls on bare wasmtime: with imports that do nothing (header-append only: json-redact's SDK
/// traps on a body it cannot read), and with imports that answer with the workload's bytes (both), the floor any
/// host has to pay for the guest's own work.
fn baseline(c: &mut Criterion) {
    let engine = engine();
    for workload in [HEADER_APPEND, JSON_REDACT] {
        let module =
            wasmtime::Module::new(&engine, workload.module()).expect("the module compiles");
        if workload.body.is_none() {
            c.bench_function(
                &format!(
                    "{}: one request lifecycle, bare wasmtime, do-nothing imports",
                    workload.name
                ),
                |b| {
                    b.iter_custom(|iters| {
                        chunked(
                            iters,
                            || Bare::start(&engine, &module, &workload),
                            Bare::one_request,
                        )
                    })
                },
            );
        }
        let mut check = Canned::start(&engine, &module, &workload);
        check.one_request();
        check.assert_did_the_work(&workload);
        c.bench_function(
            &format!(
                "{}: one request lifecycle, bare wasmtime, canned answers",
                workload.name
            ),
            |b| {
                b.iter_custom(|iters| {
                    chunked(
                        iters,
                        || Canned::start(&engine, &module, &workload),
                        Canned::one_request,
                    )
                })
            },
        );
    }
}

/// Times `iters` requests, `STREAMS_PER_PLUGIN` per fresh instance from `start`.
fn chunked<T>(iters: u64, start: impl Fn() -> T, one_request: impl Fn(&mut T)) -> Duration {
    let mut elapsed = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let chunk = left.min(STREAMS_PER_PLUGIN);
        let mut instance = start();
        let began = Instant::now();
        for _ in 0..chunk {
            one_request(&mut instance);
        }
        elapsed += began.elapsed();
        left -= chunk;
    }
    elapsed
}

fn load(c: &mut Criterion) {
    let bytes = HEADER_APPEND.module();
    drop(HEADER_APPEND.start(&bytes));
    c.bench_function(
        "header-append: start a plugin, module cached in process",
        |b| b.iter(|| HEADER_APPEND.start(black_box(&bytes))),
    );

    // Compiled code in a file, as the on-disk cache keeps it (the host also checks a sha256 header before loading).
    let engine = engine();
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

criterion_group!(benches, lifecycle, baseline, load);
criterion_main!(benches);
