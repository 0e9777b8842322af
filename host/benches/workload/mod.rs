//! The workload the lifecycle benchmark and the instruction count share: an extension started as a mesh would
//! configure it, one request through the host, and the same export calls on bare wasmtime, with imports that do
//! nothing ([`Bare`]) or answer with the workload's bytes ([`Canned`]). Two extensions: one that only adds a header,
//! and one that rewrites bodies.

use std::hint::black_box;

use host::testing::*;

mod canned;
pub use canned::Canned;

/// The request headers each request sends (the test API adds `x-forwarded-proto` and `x-request-id`, as Envoy's
/// connection manager would), and the response headers.
pub const REQUEST_HEADERS: &[(&str, &str)] = &[
    (":method", "POST"),
    (":path", "/"),
    (":authority", "example.com"),
    (":scheme", "http"),
    ("content-type", "application/json"),
];
pub const RESPONSE_HEADERS: &[(&str, &str)] =
    &[(":status", "200"), ("content-type", "application/json")];

/// An extension, its configuration, and the body each request and response carries (none: headers only).
pub struct Workload {
    pub name: &'static str,
    pub config: &'static str,
    pub body: Option<&'static str>,
}

/// A typical mesh configuration of header-append: one response header; requests without a body.
pub const HEADER_APPEND: Workload = Workload {
    name: "header-append",
    config: r#"{"x-powered-by": "mesh"}"#,
    body: None,
};

/// json-redact masking two fields of a small JSON body: the body goes both ways, and json-redact rewrites the
/// response's (its default, `"on": "response"`).
pub const JSON_REDACT: Workload = Workload {
    name: "json-redact",
    config: r#"{"fields": ["password", "/user/ssn"], "action": "mask"}"#,
    body: Some(
        r#"{"user":{"name":"ada","ssn":"123-45-6789"},"password":"hunter2","items":[1,2,3]}"#,
    ),
};

impl Workload {
    pub fn module(&self) -> Vec<u8> {
        let path = extension_module(self.name).unwrap_or_else(|e| panic!("{e:#}"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }

    pub fn start(&self, bytes: &[u8]) -> Plugin {
        Plugin::from_bytes(bytes)
            .config(self.config)
            .log_level(Level::Info)
            .start()
            .unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }

    /// create → request headers (→ body) → response headers (→ body) → log, done, delete.
    pub fn one_request(&self, plugin: &Plugin) {
        let mut stream = plugin.http_stream();
        let ends = self.body.is_none();
        black_box(stream.send_request_headers(REQUEST_HEADERS, ends));
        if let Some(body) = self.body {
            black_box(stream.send_request_body(body, true));
        }
        black_box(stream.send_response_headers(RESPONSE_HEADERS, ends));
        if let Some(body) = self.body {
            black_box(stream.send_response_body(body, true));
        }
        stream.finish();
    }
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

/// The headers the host's test API hands the guest for each request: the given ones and the two its defaults add.
pub fn request_headers_sent() -> Vec<(&'static str, &'static str)> {
    let mut sent = REQUEST_HEADERS.to_vec();
    sent.extend([
        ("x-forwarded-proto", "http"),
        ("x-request-id", "00000000-0000-4000-8000-000000000002"),
    ]);
    sent
}

/// A module on bare wasmtime driven as the host drives it: instantiated with `linker` (imports it lacks answer
/// zeros), `_initialize`, the root context created, started and configured, then each request as the same export
/// calls in the host's order. `T` is what the imports answer from.
pub struct Lifecycle<T: 'static> {
    store: wasmtime::Store<T>,
    create: wasmtime::TypedFunc<(i32, i32), ()>,
    request_headers: wasmtime::TypedFunc<(i32, i32, i32), i32>,
    response_headers: wasmtime::TypedFunc<(i32, i32, i32), i32>,
    request_body: wasmtime::TypedFunc<(i32, i32, i32), i32>,
    response_body: wasmtime::TypedFunc<(i32, i32, i32), i32>,
    log: wasmtime::TypedFunc<i32, ()>,
    done: wasmtime::TypedFunc<i32, i32>,
    delete: wasmtime::TypedFunc<i32, ()>,
    /// The number of request and response headers the guest is told of.
    header_counts: (i32, i32),
    /// The body's length, when requests carry one.
    body: Option<i32>,
    next_context: i32,
}

impl<T: 'static> Lifecycle<T> {
    /// Starts `module` with a configuration of `config_len` bytes; `instantiated` sees the instance before any export
    /// runs. Also returns what `on_configure` answered.
    pub fn launch(
        engine: &wasmtime::Engine,
        module: &wasmtime::Module,
        mut linker: wasmtime::Linker<T>,
        data: T,
        workload: &Workload,
        config_len: i32,
        instantiated: impl FnOnce(&wasmtime::Instance, &mut wasmtime::Store<T>),
    ) -> (Lifecycle<T>, i32) {
        let mut store = wasmtime::Store::new(engine, data);
        store.set_epoch_deadline(u64::MAX / 2);
        linker
            .define_unknown_imports_as_default_values(&mut store, module)
            .expect("do-nothing imports");
        let instance = linker
            .instantiate(&mut store, module)
            .expect("instantiates");
        instantiated(&instance, &mut store);
        fn func<T, P: wasmtime::WasmParams, R: wasmtime::WasmResults>(
            instance: &wasmtime::Instance,
            store: &mut wasmtime::Store<T>,
            name: &str,
        ) -> wasmtime::TypedFunc<P, R> {
            instance
                .get_typed_func(&mut *store, name)
                .unwrap_or_else(|e| panic!("export {name}: {e}"))
        }
        if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
            init.call(&mut store, ()).expect("_initialize");
        }
        let create: wasmtime::TypedFunc<(i32, i32), ()> =
            func(&instance, &mut store, "proxy_on_context_create");
        let vm_start: wasmtime::TypedFunc<(i32, i32), i32> =
            func(&instance, &mut store, "proxy_on_vm_start");
        let configure: wasmtime::TypedFunc<(i32, i32), i32> =
            func(&instance, &mut store, "proxy_on_configure");
        create.call(&mut store, (1, 0)).expect("root context");
        vm_start.call(&mut store, (1, 0)).expect("on_vm_start");
        let configured = configure
            .call(&mut store, (1, config_len))
            .expect("on_configure");
        let lifecycle = Lifecycle {
            create,
            request_headers: func(&instance, &mut store, "proxy_on_request_headers"),
            response_headers: func(&instance, &mut store, "proxy_on_response_headers"),
            request_body: func(&instance, &mut store, "proxy_on_request_body"),
            response_body: func(&instance, &mut store, "proxy_on_response_body"),
            log: func(&instance, &mut store, "proxy_on_log"),
            done: func(&instance, &mut store, "proxy_on_done"),
            delete: func(&instance, &mut store, "proxy_on_delete"),
            store,
            header_counts: (
                request_headers_sent().len() as i32,
                RESPONSE_HEADERS.len() as i32,
            ),
            body: workload.body.map(|b| b.len() as i32),
            next_context: 2,
        };
        (lifecycle, configured)
    }

    pub fn data(&self) -> &T {
        self.store.data()
    }

    pub fn one_request(&mut self) {
        let id = self.next_context;
        self.next_context += 1;
        let store = &mut self.store;
        let ends = i32::from(self.body.is_none());
        let (request, response) = self.header_counts;
        self.create.call(&mut *store, (id, 1)).unwrap();
        black_box(
            self.request_headers
                .call(&mut *store, (id, request, ends))
                .unwrap(),
        );
        if let Some(len) = self.body {
            black_box(self.request_body.call(&mut *store, (id, len, 1)).unwrap());
        }
        black_box(
            self.response_headers
                .call(&mut *store, (id, response, ends))
                .unwrap(),
        );
        if let Some(len) = self.body {
            black_box(self.response_body.call(&mut *store, (id, len, 1)).unwrap());
        }
        self.log.call(&mut *store, id).unwrap();
        black_box(self.done.call(&mut *store, id).unwrap());
        self.delete.call(&mut *store, id).unwrap();
    }
}

/// The module on bare wasmtime with imports that all return zeros, so no header or configuration is ever read.
pub type Bare = Lifecycle<()>;

impl Lifecycle<()> {
    pub fn start(
        engine: &wasmtime::Engine,
        module: &wasmtime::Module,
        workload: &Workload,
    ) -> Bare {
        let linker = wasmtime::Linker::new(engine);
        Lifecycle::launch(engine, module, linker, (), workload, 0, |_, _| {}).0
    }
}
