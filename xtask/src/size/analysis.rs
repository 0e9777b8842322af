//! Where a module's bytes go: each function body by its (demangled) name, grouped by the crate the name
//! comes from, and the other sections. Read with wasmparser from a module that still has its name section.

use std::collections::BTreeMap;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use wasmparser::{KnownCustom, Name, Parser, Payload};

/// The bytes of one module, attributed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Breakdown {
    /// Every function body's size by its demangled name.
    pub(crate) functions: BTreeMap<String, u64>,
    /// Function bytes per crate (`core`, `serde_json`, the extension…).
    pub(crate) crates: BTreeMap<String, u64>,
    /// Bytes of each non-code section (data, types, imports, exports…), by section name.
    pub(crate) sections: BTreeMap<String, u64>,
}

fn span(range: std::ops::Range<u64>) -> u64 {
    range.end - range.start
}

/// The crate a demangled Rust name belongs to: its first path segment, looking through `<… as …>` and generic
/// arguments. Names without a path (exports such as `malloc`, compiler builtins) go under `[no crate]`.
pub(crate) fn crate_of(name: &str) -> String {
    let name = name
        .trim_start_matches(['<', '&', '['])
        .trim_start_matches("mut ")
        .trim_start_matches("dyn ");
    match name.split_once("::") {
        Some((first, _)) if !first.contains([' ', '<', '>', '(']) && !first.is_empty() => {
            first.to_owned()
        }
        // `<&T as core::fmt::Display>::fmt`: a blanket impl belongs to the trait's crate.
        _ => match name.split_once(" as ") {
            Some((_, trait_path)) => crate_of(trait_path),
            None => "[no crate]".to_owned(),
        },
    }
}

/// Attributes the bytes of `module`, which should carry a `name` section (else functions are numbered).
pub(crate) fn analyze(module: &[u8]) -> anyhow::Result<Breakdown> {
    let mut breakdown = Breakdown::default();
    let mut imported_functions = 0u32;
    let mut bodies: Vec<(u32, u64)> = Vec::new();
    let mut names: BTreeMap<u32, String> = BTreeMap::new();
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload.context("the module does not parse as WebAssembly")?;
        match &payload {
            Payload::ImportSection(reader) => {
                for import in reader.clone().into_imports() {
                    if matches!(import?.ty, wasmparser::TypeRef::Func(_)) {
                        imported_functions += 1;
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                let index = imported_functions + bodies.len() as u32;
                bodies.push((index, span(body.range())));
            }
            Payload::CustomSection(custom) => {
                if let KnownCustom::Name(reader) = custom.as_known() {
                    for name in reader {
                        if let Name::Function(map) = name? {
                            for naming in map {
                                let naming = naming?;
                                names.insert(naming.index, naming.name.to_owned());
                            }
                        }
                    }
                }
                *breakdown
                    .sections
                    .entry(format!("custom `{}`", custom.name()))
                    .or_default() += span(custom.range());
            }
            _ => {}
        }
        if let Some((id, range)) = payload.as_section() {
            let section = match id {
                1 => "types",
                2 => "imports",
                3 => "function declarations",
                4 => "tables",
                5 => "memory",
                6 => "globals",
                7 => "exports",
                8 => "start",
                9 => "element segments",
                10 => "code (function bodies)",
                11 => "data",
                12 => "data count",
                _ => continue,
            };
            *breakdown.sections.entry(section.to_owned()).or_default() += span(range);
        }
    }
    for (index, size) in bodies {
        let name = names
            .get(&index)
            .map(|raw| format!("{:#}", rustc_demangle::demangle(raw)))
            .unwrap_or_else(|| format!("function[{index}]"));
        *breakdown.crates.entry(crate_of(&name)).or_default() += size;
        *breakdown.functions.entry(name).or_default() += size;
    }
    Ok(breakdown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_attributed_to_their_crate() {
        assert_eq!(
            crate_of("serde_json::de::Deserializer<R>::parse_any"),
            "serde_json"
        );
        assert_eq!(
            crate_of("<alloc::vec::Vec<T> as core::ops::drop::Drop>::drop"),
            "alloc"
        );
        assert_eq!(crate_of("<&T as core::fmt::Display>::fmt"), "core");
        assert_eq!(crate_of("malloc"), "[no crate]");
        assert_eq!(crate_of("<[alloc::string::String]>::join"), "alloc");
    }

    #[test]
    fn function_bodies_are_counted_by_name_and_crate() {
        let module = wat::parse_str(
            r#"(module
                (import "env" "f" (func $imported))
                (func $_ZN10serde_json2de5parse17h0123456789abcdefE (drop (i32.add (i32.const 1) (i32.const 2))))
                (func $malloc (param i32) (result i32) (local.get 0))
                (data (i32.const 0) "0123456789")
                (memory 1))"#,
        )
        .unwrap();
        let breakdown = analyze(&module).unwrap();
        assert_eq!(
            breakdown.functions.keys().collect::<Vec<_>>(),
            ["malloc", "serde_json::de::parse"]
        );
        assert!(breakdown.crates["serde_json"] > 0);
        assert_eq!(
            breakdown.crates.values().sum::<u64>(),
            breakdown.functions.values().sum::<u64>()
        );
        assert!(breakdown.sections["data"] >= 10);
        assert!(breakdown.sections.contains_key("custom `name`"));
    }
}
