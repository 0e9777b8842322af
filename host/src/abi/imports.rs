//! The one table of host functions: each import's module and name, and the shim that defines it. Which ABI versions
//! get which import, and which Envoy release links it, is `envoy_targets::imports`' table (cpp-host
//! `registerCallbacks`); the host links what the newest release links, checked by the test below.

use envoy_targets::{ENVOY_LATEST, Verdict, imports::WASI_MODULES};
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

/// One line of an area's table: the function named `$f` in that area, linked under its own name.
/// - `import!(hostcall f)`: a proxy-wasm host call with typed arguments ([`super::args`]), refused while the VM
///   starts; its `HostResult` becomes the `proxy_status_t`.
/// - `import!(while_starting f)`: the same, also allowed while the VM starts (logging).
/// - `import!(env f)` and `import!(wasi f)`: a function wasmtime links as it is (raw values, its own return).
macro_rules! import {
    (hostcall $f:ident) => {
        import!(typed $f, Started)
    };
    (while_starting $f:ident) => {
        import!(typed $f, Always)
    };
    (typed $f:ident, $phase:ident) => {
        $crate::abi::imports::Import::env(stringify!($f), |linker, module, name| {
            let phase = $crate::abi::args::Phase::$phase;
            $crate::abi::args::HostFn::link($f, linker, module, name, phase)
        })
    };
    (env $f:ident) => {
        $crate::abi::imports::Import::env(stringify!($f), |linker, module, name| {
            linker.func_wrap(module, name, $f)
        })
    };
    (wasi $f:ident) => {
        $crate::abi::imports::Import::wasi(stringify!($f), |linker, module, name| {
            linker.func_wrap(module, name, $f)
        })
    };
}
pub(super) use import;

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
    /// A proxy-wasm host function (module `env`).
    pub(super) const fn env(name: &'static str, define: Define) -> Import {
        Import {
            module: ImportModule::Env,
            name,
            define,
        }
    }

    /// A WASI function.
    pub(super) const fn wasi(name: &'static str, define: Define) -> Import {
        Import {
            module: ImportModule::Wasi,
            name,
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

/// Whether the host defines `module.name`.
fn defines(module: &str, name: &str) -> bool {
    all().any(|import| import.name == name && import.module_names().contains(&module))
}

/// Whether a module speaking `abi` may import `module.name`: what the newest Envoy registers for that version
/// (an older target's release is checked against its own row when the module loads).
fn provides(abi: AbiVersion, module: &str, name: &str) -> bool {
    defines(module, name)
        && envoy_targets::imports::import(ENVOY_LATEST, abi, module, name) == Verdict::Provided
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// cpp-host `registerCallbacks` (its `FOR_ALL_HOST_FUNCTIONS`, the per-ABI `proxy_*` functions and
    /// `FOR_ALL_WASI_FUNCTIONS` under both WASI module names) at the newest Envoy's pin: for every ABI version, the
    /// host links exactly the imports `envoy_targets` lists for that release, and defines nothing it does not list.
    #[test]
    fn the_host_links_exactly_what_the_newest_envoy_provides() {
        let mut listed_somewhere = BTreeSet::new();
        for abi in AbiVersion::ALL {
            let envoy: BTreeSet<(&str, &str)> = envoy_targets::imports::provided(ENVOY_LATEST, abi)
                .into_iter()
                .collect();
            let host: BTreeSet<(&str, &str)> = all()
                .flat_map(|import| import.module_names().iter().map(|m| (*m, import.name)))
                .filter(|(module, name)| provides(abi, module, name))
                .collect();
            let unlinked: Vec<_> = envoy.iter().filter(|i| !defines(i.0, i.1)).collect();
            assert!(
                unlinked.is_empty(),
                "ABI {abi}: Envoy 1.{ENVOY_LATEST} links {unlinked:?}, the host does not"
            );
            assert_eq!(host, envoy, "ABI {abi}");
            listed_somewhere.extend(envoy);
        }
        let defined: BTreeSet<(&str, &str)> = all()
            .flat_map(|import| import.module_names().iter().map(|m| (*m, import.name)))
            .collect();
        let extra: Vec<_> = defined.difference(&listed_somewhere).collect();
        assert!(
            extra.is_empty(),
            "the host defines what no ABI of Envoy 1.{ENVOY_LATEST} links: {extra:?}"
        );
        // cpp-host's `FOR_ALL_WASI_FUNCTIONS` has 45 entries.
        let wasi = all()
            .filter(|import| import.module == ImportModule::Wasi)
            .count();
        assert_eq!(wasi, 45);
    }
}
