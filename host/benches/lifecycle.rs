//! What the host costs: one full HTTP lifecycle through header-append, beside a baseline that drives the same
//! module's exports in the same order on bare wasmtime with do-nothing imports (the host's overhead is the ratio
//! of the two); starting a plugin whose module is already compiled (in-process cache), loading compiled code from
//! the on-disk cache, and a cold Cranelift compile.
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

/// The engine configuration the host uses (epoch interruption, the proposals Envoy's runtimes lack turned off).
fn engine() -> wasmtime::Engine {
    let mut config = wasmtime::Config::new();
    config
        .epoch_interruption(true)
        .wasm_multi_memory(false)
        .wasm_memory64(false)
        .wasm_wide_arithmetic(false)
        .wasm_custom_page_sizes(false)
        .wasm_stack_switching(false)
        .wasm_gc(false);
    wasmtime::Engine::new(&config).expect("wasmtime engine")
}

/// The same module on bare wasmtime: every import returns zeros (so no header or configuration is ever read), and
/// one lifecycle is the same export calls the host makes, in its order.
struct Bare {
    store: wasmtime::Store<()>,
    create: wasmtime::TypedFunc<(i32, i32), ()>,
    request_headers: wasmtime::TypedFunc<(i32, i32, i32), i32>,
    response_headers: wasmtime::TypedFunc<(i32, i32, i32), i32>,
    log: wasmtime::TypedFunc<i32, ()>,
    done: wasmtime::TypedFunc<i32, i32>,
    delete: wasmtime::TypedFunc<i32, ()>,
    next_context: i32,
}

impl Bare {
    fn start(engine: &wasmtime::Engine, module: &wasmtime::Module) -> Bare {
        let mut store = wasmtime::Store::new(engine, ());
        store.set_epoch_deadline(u64::MAX / 2);
        let mut linker = wasmtime::Linker::new(engine);
        linker
            .define_unknown_imports_as_default_values(&mut store, module)
            .expect("do-nothing imports");
        let instance = linker
            .instantiate(&mut store, module)
            .expect("instantiates");
        let func = |store: &mut wasmtime::Store<()>, name: &str| {
            instance
                .get_func(&mut *store, name)
                .unwrap_or_else(|| panic!("no export {name}"))
        };
        if let Some(init) = instance.get_func(&mut store, "_initialize") {
            init.typed::<(), ()>(&store)
                .unwrap()
                .call(&mut store, ())
                .unwrap();
        }
        let create = func(&mut store, "proxy_on_context_create")
            .typed(&store)
            .unwrap();
        let request_headers = func(&mut store, "proxy_on_request_headers")
            .typed(&store)
            .unwrap();
        let response_headers = func(&mut store, "proxy_on_response_headers")
            .typed(&store)
            .unwrap();
        let log = func(&mut store, "proxy_on_log").typed(&store).unwrap();
        let done = func(&mut store, "proxy_on_done").typed(&store).unwrap();
        let delete = func(&mut store, "proxy_on_delete").typed(&store).unwrap();
        let vm_start: wasmtime::TypedFunc<(i32, i32), i32> =
            func(&mut store, "proxy_on_vm_start").typed(&store).unwrap();
        let configure: wasmtime::TypedFunc<(i32, i32), i32> =
            func(&mut store, "proxy_on_configure")
                .typed(&store)
                .unwrap();
        create.call(&mut store, (1, 0)).unwrap();
        vm_start.call(&mut store, (1, 0)).unwrap();
        configure.call(&mut store, (1, 0)).unwrap();
        Bare {
            store,
            create,
            request_headers,
            response_headers,
            log,
            done,
            delete,
            next_context: 2,
        }
    }

    fn one_request(&mut self) {
        let id = self.next_context;
        self.next_context += 1;
        let store = &mut self.store;
        self.create.call(&mut *store, (id, 1)).unwrap();
        black_box(self.request_headers.call(&mut *store, (id, 4, 1)).unwrap());
        black_box(self.response_headers.call(&mut *store, (id, 1, 1)).unwrap());
        self.log.call(&mut *store, id).unwrap();
        black_box(self.done.call(&mut *store, id).unwrap());
        self.delete.call(&mut *store, id).unwrap();
    }
}

fn baseline(c: &mut Criterion) {
    let engine = engine();
    let module = wasmtime::Module::new(&engine, module()).expect("header-append compiles");
    c.bench_function(
        "header-append: one request lifecycle, bare wasmtime baseline",
        |b| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let chunk = left.min(STREAMS_PER_PLUGIN);
                    let mut bare = Bare::start(&engine, &module);
                    let began = Instant::now();
                    for _ in 0..chunk {
                        bare.one_request();
                    }
                    elapsed += began.elapsed();
                    left -= chunk;
                }
                elapsed
            })
        },
    );
}

fn load(c: &mut Criterion) {
    let bytes = module();
    drop(start(&bytes));
    c.bench_function(
        "header-append: start a plugin, module cached in process",
        |b| b.iter(|| start(black_box(&bytes))),
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
