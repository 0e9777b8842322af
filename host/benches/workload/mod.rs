//! The workload the lifecycle benchmark and the instruction count share: header-append started as a mesh would
//! configure it, one request through the host, and the same export calls on bare wasmtime.

use std::hint::black_box;

use host::testing::*;

/// What a typical mesh configuration of header-append looks like: one response header.
pub const CONFIG: &str = r#"{"x-powered-by": "mesh"}"#;

pub fn module() -> Vec<u8> {
    let path = extension_module("header-append").unwrap_or_else(|e| panic!("{e:#}"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

pub fn start(bytes: &[u8]) -> Plugin {
    Plugin::from_bytes(bytes)
        .config(CONFIG)
        .log_level(Level::Info)
        .start()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// create → request headers → response headers → log, done, delete.
pub fn one_request(plugin: &Plugin) {
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

/// The engine configuration the host uses (epoch interruption, the proposals Envoy's runtimes lack turned off).
pub fn engine() -> wasmtime::Engine {
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
pub struct Bare {
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
    pub fn start(engine: &wasmtime::Engine, module: &wasmtime::Module) -> Bare {
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

    pub fn one_request(&mut self) {
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
