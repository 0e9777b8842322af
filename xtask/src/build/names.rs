//! The shipped module and its names twin come from one optimized module that keeps the `name` section: the twin
//! is that module, the shipped one the same bytes without custom sections. Built apart (one cargo build with
//! `strip = true`, one without), the two differ in code, not only in names: changing the profile changes
//! rustc's output, and function indices then point at other functions.

use std::path::{Path, PathBuf};

use anyhow::Context;
use wasmparser::{Parser, Payload};

/// `plugin.names.wasm` beside `plugin.wasm`: where the host looks for a module's names.
pub(crate) fn twin_path(module: &Path) -> PathBuf {
    let stem = module
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    module.with_file_name(format!("{stem}.names.wasm"))
}

/// `module` without its custom sections (names, producers, target features, DWARF): every other section is
/// copied byte for byte, so function indices and code offsets are the twin's.
pub(crate) fn without_custom_sections(module: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(module.len());
    let mut section_start = 0;
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload.context("the optimized module does not parse")?;
        if let Payload::Version { range, .. } = &payload {
            let end = usize::try_from(range.end)?;
            out.extend_from_slice(&module[..end]);
            section_start = end;
            continue;
        }
        // Sections follow one another: the id byte and size of one start where the previous one ended.
        if let Some((id, range)) = payload.as_section() {
            let end = usize::try_from(range.end)?;
            if id != 0 {
                out.extend_from_slice(&module[section_start..end]);
            }
            section_start = end;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_sections_go_and_everything_else_stays_byte_for_byte() {
        let named = wat::parse_str(
            r#"(module $m (func $first (result i32) i32.const 1) (func $second (export "f") (result i32)
                call $first) (@custom "producers" "x"))"#,
        )
        .unwrap();
        let stripped = without_custom_sections(&named).unwrap();
        assert!(stripped.len() < named.len());
        let sections = |bytes: &[u8]| -> Vec<(u8, Vec<u8>)> {
            Parser::new(0)
                .parse_all(bytes)
                .filter_map(|p| p.unwrap().as_section())
                .map(|(id, r)| (id, bytes[r.start as usize..r.end as usize].to_vec()))
                .collect()
        };
        let kept: Vec<_> = sections(&named)
            .into_iter()
            .filter(|(id, _)| *id != 0)
            .collect();
        assert_eq!(sections(&stripped), kept);
        assert!(!kept.is_empty());
    }

    #[test]
    fn the_twin_is_named_after_the_module() {
        assert_eq!(
            twin_path(Path::new("target/extensions/a/plugin.wasm")),
            Path::new("target/extensions/a/plugin.names.wasm")
        );
    }
}
