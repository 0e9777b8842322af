//! The callbacks a module exports and the ABI version its marker export declares. Where each export is and whether
//! its signature is right is found once per compiled module (an [`ExportPlan`]); a VM makes a callback callable the
//! first time it calls it.

use std::sync::OnceLock;

use anyhow::{Context, bail};
use wasmtime::{
    Extern, ExternType, FuncType, Instance, Memory, Module, ModuleExport, Store, TypedFunc,
    ValType, WasmParams, WasmResults,
};

use crate::envoy::HostState;
use crate::spec::AbiVersion;

/// A header callback export: 2 arguments in ABI 0.1.0, 3 (with end_of_stream) since 0.2.0.
#[derive(Clone)]
pub(crate) enum HeadersFn {
    V1(Callback<(i32, i32), i32>),
    V2(Callback<(i32, i32, i32), i32>),
}

impl HeadersFn {
    fn is_exported(&self) -> bool {
        match self {
            HeadersFn::V1(callback) => callback.is_exported(),
            HeadersFn::V2(callback) => callback.is_exported(),
        }
    }
}

/// A callback the module may export: where the module has it, and its typed function in one VM once called.
pub(crate) struct Callback<P, R> {
    pub(super) name: &'static str,
    export: Option<ModuleExport>,
    func: OnceLock<TypedFunc<P, R>>,
}

/// A plan's callback copied into a VM: the same export, not yet made callable there.
impl<P, R> Clone for Callback<P, R> {
    fn clone(&self) -> Self {
        Callback {
            name: self.name,
            export: self.export,
            func: OnceLock::new(),
        }
    }
}

/// How many `i32`s a callback's parameters or results are: every proxy-wasm callback takes and returns only `i32`s,
/// which lets a module's export types be checked before any VM of it exists.
pub(crate) trait I32s {
    const COUNT: usize;
}

impl I32s for () {
    const COUNT: usize = 0;
}
impl I32s for i32 {
    const COUNT: usize = 1;
}
impl I32s for (i32, i32) {
    const COUNT: usize = 2;
}
impl I32s for (i32, i32, i32) {
    const COUNT: usize = 3;
}
impl I32s for (i32, i32, i32, i32, i32) {
    const COUNT: usize = 5;
}

fn takes_and_returns_i32s(ty: &FuncType, params: usize, results: usize) -> bool {
    fn all_i32(mut types: impl ExactSizeIterator<Item = ValType>, count: usize) -> bool {
        types.len() == count && types.all(|t| matches!(t, ValType::I32))
    }
    all_i32(ty.params(), params) && all_i32(ty.results(), results)
}

impl<P: I32s, R: I32s> Callback<P, R> {
    /// The export `name` of `module`: missing (or not a function) is skipped as cpp-host does, a function of
    /// another signature is an error (cpp-host's "Bad function signature").
    fn find(module: &Module, name: &'static str) -> anyhow::Result<Callback<P, R>> {
        let export = match function(module, name) {
            Some((_, ty)) if !takes_and_returns_i32s(&ty, P::COUNT, R::COUNT) => {
                bail!("the export `{name}` has the wrong signature {ty}")
            }
            found => found.map(|(export, _)| export),
        };
        Ok(Callback {
            name,
            export,
            func: OnceLock::new(),
        })
    }
}

impl<P: WasmParams, R: WasmResults> Callback<P, R> {
    pub(crate) fn is_exported(&self) -> bool {
        self.export.is_some()
    }

    /// The callback in this VM (`instance`), made the first time: a VM calls few of the callbacks a module has.
    pub(crate) fn in_vm(
        &self,
        instance: &Instance,
        store: &mut Store<HostState>,
    ) -> Option<&TypedFunc<P, R>> {
        if let Some(func) = self.func.get() {
            return Some(func);
        }
        let export = self.export.as_ref()?;
        // The plan checked the export's type, which is the same in every instance of the module.
        let func = instance
            .get_module_export(&mut *store, export)?
            .into_func()?
            .typed::<P, R>(&*store)
            .ok()?;
        Some(self.func.get_or_init(|| func))
    }
}

/// The callbacks a module exports (missing ones are skipped, as cpp-host does). In an [`ExportPlan`] none is
/// callable yet; a VM's copy makes each callable when first called.
#[derive(Clone)]
pub(crate) struct Exports {
    /// `_initialize` (+ `main`/`__main_void`) or `_start`, in call order (empty in a plan).
    pub(crate) start: Vec<(&'static str, wasmtime::Func)>,
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

/// Where a module's exports are and that their signatures are right, found once per compiled module. cpp-host looks
/// them up for each VM after linking it (`WasmBase::getFunctions`); the answer is the module's, the same for every
/// VM, so each VM only takes the exports it uses from its instance.
pub(crate) struct ExportPlan {
    memory: ModuleExport,
    malloc: ModuleExport,
    start: Vec<(&'static str, ModuleExport)>,
    callbacks: Exports,
}

/// Where `module` exports a function named `name`, and the function's type.
fn function(module: &Module, name: &str) -> Option<(ModuleExport, FuncType)> {
    match module.get_export(name)? {
        ExternType::Func(ty) => Some((module.get_export_index(name)?, ty)),
        _ => None,
    }
}

impl ExportPlan {
    /// The plan for `module`, whose ABI version is `abi`; an error names the export that is missing or wrong.
    pub(crate) fn new(module: &Module, abi: AbiVersion) -> anyhow::Result<ExportPlan> {
        let memory = match module.get_export("memory") {
            Some(ExternType::Memory(_)) => module.get_export_index("memory"),
            _ => None,
        }
        .context("the module exports no `memory`")?;
        let (malloc_name, (malloc, malloc_type)) = ["malloc", "proxy_on_memory_allocate"]
            .into_iter()
            .find_map(|name| Some((name, function(module, name)?)))
            .context("Wasm module is missing malloc function (neither `malloc` nor `proxy_on_memory_allocate` is exported)")?;
        if !takes_and_returns_i32s(&malloc_type, 1, 1) {
            bail!("the allocator export must be (i32) -> i32: `{malloc_name}` is {malloc_type}");
        }
        let exported = |name| Some((name, function(module, name)?.0));
        let mut start = Vec::new();
        if let Some(initialize) = exported("_initialize") {
            start.push(initialize);
            start.extend(["main", "__main_void"].into_iter().find_map(exported));
        } else {
            start.extend(exported("_start"));
        }
        let headers = |name| -> anyhow::Result<Option<HeadersFn>> {
            let callback = match abi {
                AbiVersion::V0_1_0 => HeadersFn::V1(Callback::find(module, name)?),
                _ => HeadersFn::V2(Callback::find(module, name)?),
            };
            Ok(callback.is_exported().then_some(callback))
        };
        Ok(ExportPlan {
            memory,
            malloc,
            start,
            callbacks: Exports {
                start: Vec::new(),
                on_context_create: Callback::find(module, "proxy_on_context_create")?,
                on_vm_start: Callback::find(module, "proxy_on_vm_start")?,
                on_configure: Callback::find(module, "proxy_on_configure")?,
                on_tick: Callback::find(module, "proxy_on_tick")?,
                on_queue_ready: Callback::find(module, "proxy_on_queue_ready")?,
                on_done: Callback::find(module, "proxy_on_done")?,
                on_log: Callback::find(module, "proxy_on_log")?,
                on_delete: Callback::find(module, "proxy_on_delete")?,
                on_request_headers: headers("proxy_on_request_headers")?,
                on_request_body: Callback::find(module, "proxy_on_request_body")?,
                on_request_trailers: Callback::find(module, "proxy_on_request_trailers")?,
                on_response_headers: headers("proxy_on_response_headers")?,
                on_response_body: Callback::find(module, "proxy_on_response_body")?,
                on_response_trailers: Callback::find(module, "proxy_on_response_trailers")?,
                on_new_connection: Callback::find(module, "proxy_on_new_connection")?,
                on_downstream_data: Callback::find(module, "proxy_on_downstream_data")?,
                on_upstream_data: Callback::find(module, "proxy_on_upstream_data")?,
                on_downstream_connection_close: Callback::find(
                    module,
                    "proxy_on_downstream_connection_close",
                )?,
                on_upstream_connection_close: Callback::find(
                    module,
                    "proxy_on_upstream_connection_close",
                )?,
                on_http_call_response: Callback::find(module, "proxy_on_http_call_response")?,
                on_grpc_receive_initial_metadata: Callback::find(
                    module,
                    "proxy_on_grpc_receive_initial_metadata",
                )?,
                on_grpc_receive: Callback::find(module, "proxy_on_grpc_receive")?,
                on_grpc_receive_trailing_metadata: Callback::find(
                    module,
                    "proxy_on_grpc_receive_trailing_metadata",
                )?,
                on_grpc_close: Callback::find(module, "proxy_on_grpc_close")?,
            },
        })
    }

    /// One VM's memory, allocator and callbacks, from its `instance` of the module the plan is for.
    pub(crate) fn in_vm(
        &self,
        instance: &Instance,
        store: &mut Store<HostState>,
    ) -> anyhow::Result<(Memory, TypedFunc<i32, i32>, Exports)> {
        let memory = instance
            .get_module_export(&mut *store, &self.memory)
            .and_then(Extern::into_memory)
            .context("the module exports no `memory`")?;
        let malloc = instance
            .get_module_export(&mut *store, &self.malloc)
            .and_then(Extern::into_func)
            .context("Wasm module is missing malloc function")?
            .typed::<i32, i32>(&*store)
            .map_err(anyhow::Error::from)
            .context("the allocator export must be (i32) -> i32")?;
        let mut exports = self.callbacks.clone();
        exports.start = self
            .start
            .iter()
            .filter_map(|(name, export)| {
                Some((
                    *name,
                    instance
                        .get_module_export(&mut *store, export)?
                        .into_func()?,
                ))
            })
            .collect();
        Ok((memory, malloc, exports))
    }
}
