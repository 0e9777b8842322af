//! What a proxy needs from a module before it will load it: the module parses, declares a
//! proxy-wasm ABI version, exports its memory and an allocator, and imports only what the host
//! provides.

use envoy_targets::AbiVersion;
use wasmparser::{ExternalKind, Parser, Payload};

/// Import modules a proxy-wasm host provides: the ABI's `env`, and both WASI names Envoy links.
pub(crate) const HOST_IMPORT_MODULES: [&str; 3] = [
    "env",
    envoy_targets::imports::WASI_MODULES[0],
    envoy_targets::imports::WASI_MODULES[1],
];

/// The ABI versions a workspace extension may declare: those of the Rust SDK 0.2 (the SDK exports exactly one).
const WORKSPACE_ABIS: [AbiVersion; 2] = [AbiVersion::V0_2_1, AbiVersion::V0_2_0];

/// Functions the host calls to allocate guest memory for the data it passes in.
const ALLOCATORS: [&str; 2] = ["proxy_on_memory_allocate", "malloc"];

/// What the checks learnt about a module that passed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModuleInfo {
    pub(crate) abi: AbiVersion,
}

/// As written in wasme's `runtime-config.json` (`abiVersions`).
pub(crate) fn wasme_abi_name(abi: AbiVersion) -> String {
    format!("v{abi}")
}

/// What a module imports (module, name) and exports (name, kind).
#[derive(Debug, Default)]
pub(crate) struct Interface {
    pub(crate) imports: Vec<(String, String)>,
    pub(crate) exports: Vec<(String, ExternalKind)>,
}

/// Reads the import and export sections of `bytes`; the error says which part does not parse.
pub(crate) fn interface(bytes: &[u8]) -> Result<Interface, String> {
    let mut interface = Interface::default();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|err| format!("it does not parse as WebAssembly: {err}"))? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import
                        .map_err(|err| format!("its import section does not parse: {err}"))?;
                    interface
                        .imports
                        .push((import.module.to_owned(), import.name.to_owned()));
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export
                        .map_err(|err| format!("its export section does not parse: {err}"))?;
                    interface
                        .exports
                        .push((export.name.to_owned(), export.kind));
                }
            }
            _ => {}
        }
    }
    Ok(interface)
}

/// Checks `bytes`; on failure returns every problem found, each a sentence saying what is
/// missing or wrong.
pub(crate) fn check(bytes: &[u8]) -> Result<ModuleInfo, Vec<String>> {
    let Interface { imports, exports } = interface(bytes).map_err(|problem| vec![problem])?;
    let foreign_imports: Vec<String> = imports
        .iter()
        .filter(|(module, _)| !HOST_IMPORT_MODULES.contains(&module.as_str()))
        .map(|(module, name)| format!("`{module}::{name}`"))
        .collect();

    let exports_func = |name: &str| {
        exports.iter().any(|(n, kind)| {
            n == name && matches!(kind, ExternalKind::Func | ExternalKind::FuncExact)
        })
    };
    let mut problems = Vec::new();
    let abi = WORKSPACE_ABIS
        .into_iter()
        .find(|abi| exports_func(abi.marker()));
    if abi.is_none() {
        problems.push(format!(
            "no proxy-wasm ABI marker: it exports neither `{}` nor `{}` (depend on the `proxy-wasm` crate and set it up with `proxy_wasm::main!`)",
            WORKSPACE_ABIS[0].marker(),
            WORKSPACE_ABIS[1].marker()
        ));
    }
    if !exports
        .iter()
        .any(|(n, kind)| n == "memory" && *kind == ExternalKind::Memory)
    {
        problems.push(
            "no `memory` export: the host cannot read or write the module's memory".to_owned(),
        );
    }
    if !ALLOCATORS.iter().any(|name| exports_func(name)) {
        problems.push(format!(
            "no allocator: it exports neither `{}` nor `{}`, so the host cannot pass it data",
            ALLOCATORS[0], ALLOCATORS[1]
        ));
    }
    if !foreign_imports.is_empty() {
        problems.push(format!(
            "imports {} that no proxy provides (only `{}`, `{}` and `{}` exist; a dependency built for the web, such as wasm-bindgen or getrandom's `js` feature, adds such imports)",
            foreign_imports.join(", "),
            HOST_IMPORT_MODULES[0],
            HOST_IMPORT_MODULES[1],
            HOST_IMPORT_MODULES[2]
        ));
    }
    match abi {
        Some(abi) if problems.is_empty() => Ok(ModuleInfo { abi }),
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests;
