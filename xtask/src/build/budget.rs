//! An extension's size budget, `[package.metadata.extension] max-bytes`: the shipped module may not grow past
//! it. Module size is memory per VM, and Envoy keeps one VM per worker per plugin.

use anyhow::bail;

use crate::workspace::Extension;

/// The budget, if the extension sets one.
pub(crate) fn max_bytes(extension: &Extension) -> anyhow::Result<Option<u64>> {
    let Some(value) = extension.metadata.get("max-bytes") else {
        return Ok(None);
    };
    match value.as_u64() {
        Some(bytes) if bytes > 0 => Ok(Some(bytes)),
        _ => bail!(
            "{}: `[package.metadata.extension] max-bytes` must be a whole number of bytes above 0, found {value} \
             (e.g. max-bytes = 80000)",
            extension.dir.join("Cargo.toml").display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extension(metadata: serde_json::Value) -> Extension {
        let mut extension = Extension::for_test("demo", std::path::Path::new("/t"));
        extension.metadata = metadata;
        extension
    }

    #[test]
    fn the_budget_is_a_positive_whole_number_of_bytes() {
        assert_eq!(max_bytes(&extension(serde_json::json!({}))).unwrap(), None);
        assert_eq!(
            max_bytes(&extension(serde_json::json!({"max-bytes": 80000}))).unwrap(),
            Some(80000)
        );
        for bad in [
            serde_json::json!("80k"),
            serde_json::json!(0),
            serde_json::json!(-5),
            serde_json::json!(1.5),
        ] {
            let err = max_bytes(&extension(serde_json::json!({"max-bytes": bad})))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("`[package.metadata.extension] max-bytes` must be a whole number of bytes above 0"),
                "{err}"
            );
        }
    }
}
