//! The callbacks a module exports, looked up once per VM, and the ABI version its marker export declares.

use wasmtime::{Module, Store, TypedFunc, WasmParams, WasmResults};

use crate::envoy::HostState;
use crate::spec::AbiVersion;

/// A header callback export: 2 arguments in ABI 0.1.0, 3 (with end_of_stream) since 0.2.0.
#[derive(Clone)]
pub(crate) enum HeadersFn {
    V1(TypedFunc<(i32, i32), i32>),
    V2(TypedFunc<(i32, i32, i32), i32>),
}

/// A callback the module may export, by its export name.
#[derive(Clone)]
pub(crate) struct Callback<P, R> {
    pub(super) name: &'static str,
    pub(super) func: Option<TypedFunc<P, R>>,
}

/// The callbacks a module exports (missing ones are skipped, as cpp-host does).
#[derive(Clone)]
pub(crate) struct Exports {
    /// `_initialize` (+ `main`/`__main_void`) or `_start`, in call order.
    pub(crate) start: Vec<(String, wasmtime::Func)>,
    pub(crate) on_context_create: Callback<(i32, i32), ()>,
    pub(crate) on_vm_start: Callback<(i32, i32), i32>,
    pub(crate) on_configure: Callback<(i32, i32), i32>,
    pub(crate) on_tick: Callback<i32, ()>,
    pub(crate) on_queue_ready: Callback<(i32, i32), ()>,
    pub(crate) on_done: Callback<i32, i32>,
    pub(crate) on_log: Callback<i32, ()>,
    pub(crate) on_delete: Callback<i32, ()>,
    pub(crate) on_request_headers: Option<HeadersFn>,
    pub(crate) on_request_body: Callback<(i32, i32, i32), i32>,
    pub(crate) on_request_trailers: Callback<(i32, i32), i32>,
    pub(crate) on_response_headers: Option<HeadersFn>,
    pub(crate) on_response_body: Callback<(i32, i32, i32), i32>,
    pub(crate) on_response_trailers: Callback<(i32, i32), i32>,
    pub(crate) on_new_connection: Callback<i32, i32>,
    pub(crate) on_downstream_data: Callback<(i32, i32, i32), i32>,
    pub(crate) on_upstream_data: Callback<(i32, i32, i32), i32>,
    pub(crate) on_downstream_connection_close: Callback<(i32, i32), ()>,
    pub(crate) on_upstream_connection_close: Callback<(i32, i32), ()>,
    pub(crate) on_http_call_response: Callback<(i32, i32, i32, i32, i32), ()>,
    pub(crate) on_grpc_receive_initial_metadata: Callback<(i32, i32, i32), ()>,
    pub(crate) on_grpc_receive: Callback<(i32, i32, i32), ()>,
    pub(crate) on_grpc_receive_trailing_metadata: Callback<(i32, i32, i32), ()>,
    pub(crate) on_grpc_close: Callback<(i32, i32, i32), ()>,
}

/// Detects the ABI version like cpp-host's `getAbiVersion`: the first marker export in export order.
pub(crate) fn abi_version(module: &Module) -> anyhow::Result<AbiVersion> {
    AbiVersion::declared_by(module.exports().map(|export| export.name())).ok_or_else(|| {
        anyhow::anyhow!(
            "missing or unknown proxy-wasm ABI version: the module exports none of proxy_abi_version_0_1_0, \
             proxy_abi_version_0_2_0, proxy_abi_version_0_2_1 (is it a proxy-wasm filter built with an SDK?)"
        )
    })
}

impl<P: WasmParams, R: WasmResults> Callback<P, R> {
    fn lookup(
        instance: &wasmtime::Instance,
        store: &mut Store<HostState>,
        name: &'static str,
    ) -> anyhow::Result<Callback<P, R>> {
        let func = match instance.get_func(&mut *store, name) {
            Some(f) => {
                let typed = f.typed::<P, R>(&*store).map_err(|_| {
                    anyhow::anyhow!(
                        "the export `{name}` has the wrong signature {}",
                        f.ty(&*store)
                    )
                })?;
                Some(typed)
            }
            None => None,
        };
        Ok(Callback { name, func })
    }

    pub(crate) fn is_exported(&self) -> bool {
        self.func.is_some()
    }
}

impl Exports {
    pub(super) fn lookup(
        instance: &wasmtime::Instance,
        store: &mut Store<HostState>,
        abi: AbiVersion,
    ) -> anyhow::Result<Exports> {
        fn typed<P: WasmParams, R: WasmResults>(
            instance: &wasmtime::Instance,
            store: &mut Store<HostState>,
            name: &str,
        ) -> anyhow::Result<Option<TypedFunc<P, R>>> {
            let Some(f) = instance.get_func(&mut *store, name) else {
                return Ok(None);
            };
            f.typed::<P, R>(&*store).map(Some).map_err(|_| {
                anyhow::anyhow!(
                    "the export `{name}` has the wrong signature {}",
                    f.ty(&*store)
                )
            })
        }
        let headers =
            |store: &mut Store<HostState>, name: &str| -> anyhow::Result<Option<HeadersFn>> {
                Ok(match abi {
                    AbiVersion::V0_1_0 => typed(instance, store, name)?.map(HeadersFn::V1),
                    _ => typed(instance, store, name)?.map(HeadersFn::V2),
                })
            };
        let mut start = Vec::new();
        if let Some(f) = instance.get_func(&mut *store, "_initialize") {
            start.push(("_initialize".to_string(), f));
            for name in ["main", "__main_void"] {
                if let Some(f) = instance.get_func(&mut *store, name) {
                    start.push((name.to_string(), f));
                    break;
                }
            }
        } else if let Some(f) = instance.get_func(&mut *store, "_start") {
            start.push(("_start".to_string(), f));
        }
        Ok(Exports {
            start,
            on_context_create: Callback::lookup(instance, store, "proxy_on_context_create")?,
            on_vm_start: Callback::lookup(instance, store, "proxy_on_vm_start")?,
            on_configure: Callback::lookup(instance, store, "proxy_on_configure")?,
            on_tick: Callback::lookup(instance, store, "proxy_on_tick")?,
            on_queue_ready: Callback::lookup(instance, store, "proxy_on_queue_ready")?,
            on_done: Callback::lookup(instance, store, "proxy_on_done")?,
            on_log: Callback::lookup(instance, store, "proxy_on_log")?,
            on_delete: Callback::lookup(instance, store, "proxy_on_delete")?,
            on_request_headers: headers(store, "proxy_on_request_headers")?,
            on_request_body: Callback::lookup(instance, store, "proxy_on_request_body")?,
            on_request_trailers: Callback::lookup(instance, store, "proxy_on_request_trailers")?,
            on_response_headers: headers(store, "proxy_on_response_headers")?,
            on_response_body: Callback::lookup(instance, store, "proxy_on_response_body")?,
            on_response_trailers: Callback::lookup(instance, store, "proxy_on_response_trailers")?,
            on_new_connection: Callback::lookup(instance, store, "proxy_on_new_connection")?,
            on_downstream_data: Callback::lookup(instance, store, "proxy_on_downstream_data")?,
            on_upstream_data: Callback::lookup(instance, store, "proxy_on_upstream_data")?,
            on_downstream_connection_close: Callback::lookup(
                instance,
                store,
                "proxy_on_downstream_connection_close",
            )?,
            on_upstream_connection_close: Callback::lookup(
                instance,
                store,
                "proxy_on_upstream_connection_close",
            )?,
            on_http_call_response: Callback::lookup(
                instance,
                store,
                "proxy_on_http_call_response",
            )?,
            on_grpc_receive_initial_metadata: Callback::lookup(
                instance,
                store,
                "proxy_on_grpc_receive_initial_metadata",
            )?,
            on_grpc_receive: Callback::lookup(instance, store, "proxy_on_grpc_receive")?,
            on_grpc_receive_trailing_metadata: Callback::lookup(
                instance,
                store,
                "proxy_on_grpc_receive_trailing_metadata",
            )?,
            on_grpc_close: Callback::lookup(instance, store, "proxy_on_grpc_close")?,
        })
    }
}
