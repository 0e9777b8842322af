use crate::maistra::Phase;
use serde_json::json;

use super::validate::{defaults, overrides};
use super::*;

const GOOD: &str = "schemaVersion: 1\nphase: PostAuthZ\npriority: 100\nmodule: plugin.wasm\n";

fn defaults_err(text: &str) -> String {
    format!("{:#}", defaults("manifest.yaml", text).unwrap_err())
}

fn overrides_err(metadata: serde_json::Value) -> String {
    format!(
        "{:#}",
        overrides("extensions/x/Cargo.toml", &metadata).unwrap_err()
    )
}

fn sample() -> Manifest {
    Manifest {
        schema_version: 1,
        name: "header-append".into(),
        description: "Appends headers: to responses, #1".into(),
        version: "1.0".into(),
        phase: Phase::PreAuthZ,
        priority: -5,
        module: "plugin.wasm".into(),
    }
}

#[test]
fn good_defaults_parse() {
    let d = defaults("manifest.yaml", GOOD).unwrap();
    assert_eq!(
        d,
        Defaults {
            phase: Phase::PostAuthZ,
            priority: 100,
            module: "plugin.wasm".into()
        }
    );
}

#[test]
fn schema_version_may_be_quoted_but_must_be_1() {
    assert!(
        defaults(
            "manifest.yaml",
            &GOOD.replace("schemaVersion: 1", "schemaVersion: \"1\"")
        )
        .is_ok()
    );
    assert_eq!(
        defaults_err(&GOOD.replace("schemaVersion: 1", "schemaVersion: 2")),
        "manifest.yaml: `schemaVersion` must be 1 (the only Maistra manifest schema), found 2"
    );
}

#[test]
fn a_phase_typo_lists_the_phases_and_suggests_the_nearest() {
    assert_eq!(
        defaults_err(&GOOD.replace("PostAuthZ", "PostAuthz")),
        "manifest.yaml: `phase`: `PostAuthz` is not a Maistra phase (did you mean `PostAuthZ`?); allowed (exact case): PreAuthN PostAuthN PreAuthZ PostAuthZ PreStats PostStats"
    );
    assert!(
        defaults_err(&GOOD.replace("PostAuthZ", "PreStat")).contains("(did you mean `PreStats`?)")
    );
    let far = defaults_err(&GOOD.replace("PostAuthZ", "AUTHZ_PHASE_OF_ISTIO"));
    assert!(!far.contains("did you mean"), "{far}");
    assert!(far.contains("allowed (exact case): PreAuthN"), "{far}");
}

#[test]
fn a_phase_that_is_not_a_string_is_rejected() {
    assert_eq!(
        defaults_err(&GOOD.replace("phase: PostAuthZ", "phase: 3")),
        "manifest.yaml: `phase` must be one of PreAuthN PostAuthN PreAuthZ PostAuthZ PreStats PostStats, found 3"
    );
}

#[test]
fn priority_must_be_an_integer() {
    assert_eq!(
        defaults_err(&GOOD.replace("priority: 100", "priority: \"100\"")),
        "manifest.yaml: `priority` must be an integer, found the string \"100\"; write it without quotes"
    );
    assert_eq!(
        defaults_err(&GOOD.replace("priority: 100", "priority: 1.5")),
        "manifest.yaml: `priority` must be an integer (higher runs first), found 1.5"
    );
    assert_eq!(
        defaults_err(&GOOD.replace("priority: 100", "priority: high")),
        "manifest.yaml: `priority` must be an integer (higher runs first), found \"high\""
    );
    assert_eq!(
        defaults("manifest.yaml", &GOOD.replace("100", "-3"))
            .unwrap()
            .priority,
        -3
    );
}

#[test]
fn module_must_be_the_relative_path_of_the_module_in_the_image() {
    assert_eq!(
        defaults_err(&GOOD.replace("module: plugin.wasm", "module: /plugin.wasm")),
        "manifest.yaml: `module` must be relative to the image root (Maistra reads `/` + module), found `/plugin.wasm`; write `module: plugin.wasm`"
    );
    assert_eq!(
        defaults_err(&GOOD.replace("module: plugin.wasm", "module: ../plugin.wasm")),
        "manifest.yaml: `module` must stay inside the image (no `..`), found `../plugin.wasm`; write `module: plugin.wasm`"
    );
    assert_eq!(
        defaults_err(&GOOD.replace("module: plugin.wasm", "module: extension.wasm")),
        "manifest.yaml: `module` is `extension.wasm`, but the image holds the module at `plugin.wasm` (the only name Istio's WasmPlugin finds); write `module: plugin.wasm`"
    );
    assert_eq!(
        defaults_err(&GOOD.replace("module: plugin.wasm", "module: 7")),
        "manifest.yaml: `module` must be a path in the image, `plugin.wasm`, found 7"
    );
    assert!(
        defaults(
            "manifest.yaml",
            &GOOD.replace("module: plugin.wasm", "module: ./plugin.wasm")
        )
        .is_ok()
    );
}

#[test]
fn missing_unknown_and_misplaced_fields_are_named() {
    assert_eq!(
        defaults_err(&GOOD.replace("priority: 100\n", "")),
        "manifest.yaml: `priority` is missing; add it (the fields are schemaVersion, phase, priority, module)"
    );
    assert_eq!(
        defaults_err(&GOOD.replace("priority:", "prority:")),
        "manifest.yaml: unknown field `prority` (did you mean `priority`?); the fields are schemaVersion, phase, priority, module"
    );
    assert_eq!(
        defaults_err(&format!("{GOOD}version: 1.0.0\n")),
        "manifest.yaml: `version` comes from each extension's Cargo.toml (`[package] version`); remove it here"
    );
}

#[test]
fn broken_or_empty_yaml_is_reported_with_the_file() {
    assert!(defaults_err("phase: [PostAuthZ\n").starts_with("manifest.yaml: not valid YAML: "));
    assert_eq!(
        defaults_err(""),
        "manifest.yaml: empty; it holds the workspace defaults: schemaVersion, phase, priority, module"
    );
    assert_eq!(
        defaults_err("- a\n- b\n"),
        "manifest.yaml: expected a mapping of schemaVersion, phase, priority, module"
    );
}

#[test]
fn cargo_toml_overrides_are_validated_with_the_file_and_table() {
    assert_eq!(
        overrides(
            "extensions/x/Cargo.toml",
            &json!({"phase": "PreAuthN", "priority": 7, "kind": "tcp", "owner": "team-a"})
        )
        .unwrap(),
        Overrides {
            phase: Some(Phase::PreAuthN),
            priority: Some(7),
            kind: Some(Kind::Tcp),
        }
    );
    assert_eq!(
        overrides_err(json!({"kind": "network"})),
        "extensions/x/Cargo.toml: `[package.metadata.extension] kind`: `network` is not a kind of plugin; allowed: \
         http, tcp, service (an HTTP filter, a network filter, a Wasm service)"
    );
    assert_eq!(
        overrides_err(json!({"kind": "Service"})),
        "extensions/x/Cargo.toml: `[package.metadata.extension] kind`: `Service` is not a kind of plugin (did you \
         mean `service`?); allowed: http, tcp, service (an HTTP filter, a network filter, a Wasm service)"
    );
    assert_eq!(
        overrides("extensions/x/Cargo.toml", &serde_json::Value::Null).unwrap(),
        Overrides::default()
    );
    assert_eq!(
        overrides_err(json!({"phase": "preauthn"})),
        "extensions/x/Cargo.toml: `[package.metadata.extension] phase`: `preauthn` is not a Maistra phase (did you mean `PreAuthN`?); allowed (exact case): PreAuthN PostAuthN PreAuthZ PostAuthZ PreStats PostStats"
    );
    assert_eq!(
        overrides_err(json!({"priority": "10"})),
        "extensions/x/Cargo.toml: `[package.metadata.extension] priority` must be an integer, found the string \"10\"; write it without quotes"
    );
    assert_eq!(
        overrides_err(json!("PreAuthN")),
        "extensions/x/Cargo.toml: `[package.metadata.extension]` must be a table"
    );
}

#[test]
fn a_rendered_manifest_reads_back_and_quotes_what_yaml_would_misread() {
    let text = render(&sample()).unwrap();
    assert!(
        text.starts_with("# Written by `cargo xtask manifest`"),
        "{text}"
    );
    assert!(
        text.contains("\nschemaVersion: 1\nname: header-append\n"),
        "{text}"
    );
    // `1.0` would read back as a float without quotes.
    assert!(
        text.contains("version: '1.0'\n") || text.contains("version: \"1.0\"\n"),
        "{text}"
    );
    assert!(
        text.ends_with("phase: PreAuthZ\npriority: -5\nmodule: plugin.wasm\n"),
        "{text}"
    );
    let back: Manifest = serde_norway::from_str(&text).unwrap();
    assert_eq!(back, sample());
}

#[test]
fn a_description_yaml_1_1_would_read_as_a_boolean_is_quoted() {
    // Maistra's mec reads manifest.yaml with a YAML 1.1 parser, where bare `yes`/`on` are booleans.
    for word in ["yes", "on", "off", "no"] {
        let manifest = Manifest {
            description: word.to_owned(),
            ..sample()
        };
        let text = render(&manifest).unwrap();
        assert!(
            text.contains(&format!("description: '{word}'\n"))
                || text.contains(&format!("description: \"{word}\"\n")),
            "{text}"
        );
    }
}

#[test]
fn overrides_win_over_defaults_and_package_fields_fill_the_rest() {
    let defaults = defaults("manifest.yaml", GOOD).unwrap();
    let mut ext =
        crate::workspace::Extension::for_test("demo", std::path::Path::new("/nonexistent"));
    ext.metadata = json!({"priority": 5});
    let m = manifest_for(&ext, &defaults).unwrap();
    assert_eq!(
        (
            m.phase.name(),
            m.priority,
            m.name.as_str(),
            m.version.as_str()
        ),
        ("PostAuthZ", 5, "demo", "0.3.0")
    );
    ext.description = String::new();
    assert_eq!(
        format!("{:#}", manifest_for(&ext, &defaults).unwrap_err()),
        "extensions/demo/Cargo.toml: `[package] description` is missing; the manifest's `description` comes from it"
    );
}
