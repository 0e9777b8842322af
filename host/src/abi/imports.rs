//! The one table of host functions: each import's module, name and ABI versions, and the shim that defines it.
//! The linker and the check of a module's imports both read it, so a name is written once.

use wasmtime::Linker;

use super::{
    buffers, callouts, context, headers, logging, metrics, properties, shared, stream, wasi,
};
use crate::envoy::{HostFunctions, HostState};
use crate::spec::AbiVersion;

/// One host function as cpp-host registers it.
pub(super) struct Import {
    module: ImportModule,
    name: &'static str,
    /// The ABI versions whose modules may import it (cpp-host `registerCallbacks`).
    abis: &'static [AbiVersion],
    /// Defines the shim under `module`.`name` (the shim gets the name for its messages).
    define: Define,
}

type Define = for<'a> fn(
    &'a mut Linker<HostState>,
    &'static str,
    &'static str,
) -> wasmtime::Result<&'a mut Linker<HostState>>;

/// Where a module finds an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ImportModule {
    /// proxy-wasm's host functions (cpp-host `FOR_ALL_HOST_FUNCTIONS` and the per-version ones).
    Env,
    /// WASI preview1 (cpp-host `FOR_ALL_WASI_FUNCTIONS`), under both of [`WASI_MODULES`].
    Wasi,
}

pub(super) const EVERY_ABI: &[AbiVersion] =
    &[AbiVersion::V0_1_0, AbiVersion::V0_2_0, AbiVersion::V0_2_1];
pub(super) const ABI_0_1_0: &[AbiVersion] = &[AbiVersion::V0_1_0];
pub(super) const SINCE_ABI_0_2_0: &[AbiVersion] = &[AbiVersion::V0_2_0, AbiVersion::V0_2_1];
pub(super) const ABI_0_2_1: &[AbiVersion] = &[AbiVersion::V0_2_1];

/// The two names WASI preview1 is imported under.
const WASI_MODULES: [&str; 2] = ["wasi_snapshot_preview1", "wasi_unstable"];

/// Every area's table.
const AREAS: [&[Import]; 10] = [
    logging::IMPORTS,
    buffers::IMPORTS,
    headers::IMPORTS,
    stream::IMPORTS,
    callouts::IMPORTS,
    properties::IMPORTS,
    metrics::IMPORTS,
    context::IMPORTS,
    shared::IMPORTS,
    wasi::IMPORTS,
];

impl Import {
    /// A proxy-wasm host function (module `env`) for the modules of `abis`.
    pub(super) const fn env(
        name: &'static str,
        abis: &'static [AbiVersion],
        define: Define,
    ) -> Import {
        Import {
            module: ImportModule::Env,
            name,
            abis,
            define,
        }
    }

    /// A WASI function: every ABI version gets the whole WASI set.
    pub(super) const fn wasi(name: &'static str, define: Define) -> Import {
        Import {
            module: ImportModule::Wasi,
            name,
            abis: EVERY_ABI,
            define,
        }
    }

    fn module_names(&self) -> &'static [&'static str] {
        match self.module {
            ImportModule::Env => &["env"],
            ImportModule::Wasi => &WASI_MODULES,
        }
    }
}

/// Every host function of every ABI version, for the Envoy layer to link modules with; `provides` decides what a
/// given module may use.
pub(crate) fn host_functions(engine: &wasmtime::Engine) -> anyhow::Result<HostFunctions> {
    let mut linker = Linker::new(engine);
    for import in all() {
        for module in import.module_names() {
            (import.define)(&mut linker, module, import.name)?;
        }
    }
    Ok(HostFunctions { linker, provides })
}

fn all() -> impl Iterator<Item = &'static Import> {
    AREAS.into_iter().flatten()
}

/// Whether a module speaking `abi` may import `module.name`: the set cpp-host registers for that version.
fn provides(abi: AbiVersion, module: &str, name: &str) -> bool {
    all().any(|import| {
        import.name == name && import.module_names().contains(&module) && import.abis.contains(&abi)
    })
}
