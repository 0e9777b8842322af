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

/// The same module on bare wasmtime: every import returns zeros (so no header or configuration is ever read), and
/// one lifecycle is the same export calls the host makes, in its order.
pub struct Bare {
    store: wasmtime::Store<()>,
    create: wasmtime::TypedFunc<(i32, i32), ()>,
    request_headers: wasmtime::TypedFunc<(i32, i32, i32), i32>,
    response_headers: wasmtime::TypedFunc<(i32, i32, i32), i32>,
    request_body: wasmtime::TypedFunc<(i32, i32, i32), i32>,
    response_body: wasmtime::TypedFunc<(i32, i32, i32), i32>,
    /// The body's length, when requests carry one.
    body: Option<i32>,
    log: wasmtime::TypedFunc<i32, ()>,
    done: wasmtime::TypedFunc<i32, i32>,
    delete: wasmtime::TypedFunc<i32, ()>,
    next_context: i32,
}

impl Bare {
    pub fn start(
        engine: &wasmtime::Engine,
        module: &wasmtime::Module,
        workload: &Workload,
    ) -> Bare {
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
        let request_body = func(&mut store, "proxy_on_request_body")
            .typed(&store)
            .unwrap();
        let response_body = func(&mut store, "proxy_on_response_body")
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
            request_body,
            response_body,
            body: workload.body.map(|b| b.len() as i32),
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
        let ends = i32::from(self.body.is_none());
        self.create.call(&mut *store, (id, 1)).unwrap();
        black_box(
            self.request_headers
                .call(&mut *store, (id, 5, ends))
                .unwrap(),
        );
        if let Some(len) = self.body {
            black_box(self.request_body.call(&mut *store, (id, len, 1)).unwrap());
        }
        black_box(
            self.response_headers
                .call(&mut *store, (id, 2, ends))
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
