//! What `deploy` writes, for every target the target table lists, validated against the CRD schema that
//! target's release publishes (`xtask/tests/data/crds/`, provenance in its README): the API server, not our own
//! expectations, decides what a field may hold.

use std::{collections::BTreeMap, fs, path::PathBuf};

use serde_json::{Value, json};

use super::{Inputs, inputs, resources};
use crate::mesh::{
    CalloutService, EnvVar, FailPolicy, PluginType, PullPolicy, Resource, Resources, Target,
    TargetRef, fields,
};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/crds")
}

/// A CEL rule (`x-kubernetes-validations`) of a schema: no JSON Schema validator evaluates CEL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct CelRule {
    field: String,
    rule: String,
}

/// One schema file: the kind and served version it describes, the targets that serve it, and its validator.
struct Crd {
    file: String,
    kind: String,
    targets: Vec<String>,
    sources: Vec<Value>,
    validator: jsonschema::Validator,
    cel: Vec<CelRule>,
}

impl Crd {
    fn load(file: &str) -> Crd {
        let text = fs::read_to_string(data_dir().join(file)).unwrap();
        let data: Value = serde_json::from_str(&text).unwrap();
        let text_of = |key: &str| data[key].as_str().unwrap().to_owned();
        let (kind, group, version) = (text_of("kind"), text_of("group"), text_of("version"));
        let api_version = format!("{group}/{version}");
        let mut schema = data["openAPIV3Schema"].clone();
        let cel = as_json_schema(&mut schema, &api_version, &kind);
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .build(&schema)
            .unwrap_or_else(|e| panic!("{file}: not a schema: {e}"));
        Crd {
            file: file.to_owned(),
            kind,
            targets: data["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_owned())
                .collect(),
            sources: data["sources"].as_array().unwrap().clone(),
            validator,
            cel,
        }
    }

    /// Each way `doc` breaks the schema: field path, the schema rule and what is wrong.
    fn violations(&self, doc: &Value) -> Vec<String> {
        self.validator
            .iter_errors(doc)
            .map(|e| {
                format!(
                    "field `{}`: {e} (schema rule {} of {})",
                    e.instance_path(),
                    e.schema_path(),
                    self.file
                )
            })
            .collect()
    }
}

fn all_crds() -> Vec<Crd> {
    let mut files: Vec<String> = fs::read_dir(data_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json"))
        .collect();
    files.sort();
    files.iter().map(|f| Crd::load(f)).collect()
}

/// A CRD's structural schema as the API server applies it, in JSON Schema draft 4 terms (OpenAPI v3.0's
/// `exclusiveMaximum: true` is draft 4's):
///
/// - a field an object's `properties` lacks is pruned on write, and refused by `kubectl apply`'s strict field
///   validation: the object gets `additionalProperties: false`, unless it has
///   `x-kubernetes-preserve-unknown-fields`, which keeps whatever it holds;
/// - `x-kubernetes-int-or-string` is an integer or a string; `nullable` admits null; `format: int32` is the
///   proto's int32, which istiod cannot convert past its range;
/// - `metadata` is ObjectMeta, checked by the API server itself (a name is a DNS subdomain, a namespace a DNS
///   label), and `apiVersion`/`kind` must name this CRD's group, served version and kind;
/// - `x-kubernetes-validations` are CEL, which no JSON Schema validator evaluates: they are taken out and
///   returned, so the test can name them as unchecked.
fn as_json_schema(schema: &mut Value, api_version: &str, kind: &str) -> Vec<CelRule> {
    let mut cel = Vec::new();
    structural(schema, "", false, &mut cel);
    let root = schema.as_object_mut().unwrap();
    let dns_label = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
    let properties = root.entry("properties").or_insert_with(|| json!({}));
    properties["apiVersion"] = json!({"enum": [api_version]});
    properties["kind"] = json!({"enum": [kind]});
    properties["metadata"] = json!({
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "maxLength": 253, "pattern": format!("^{dns_label}(\\.{dns_label})*$")},
            "namespace": {"type": "string", "maxLength": 63, "pattern": format!("^{dns_label}$")},
        },
    });
    let required = root.entry("required").or_insert_with(|| json!([]));
    for field in ["apiVersion", "kind", "metadata"] {
        required.as_array_mut().unwrap().push(json!(field));
    }
    cel.sort();
    cel
}

/// `as_json_schema` for one node at `field`; `in_junctor` for the branches of allOf/anyOf/oneOf/not, which only
/// add value checks to the fields declared beside them, so they are never closed.
fn structural(node: &mut Value, field: &str, in_junctor: bool, cel: &mut Vec<CelRule>) {
    let Some(map) = node.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(rules)) = map.remove("x-kubernetes-validations") {
        for rule in rules {
            cel.push(CelRule {
                field: if field.is_empty() { "." } else { field }.to_owned(),
                rule: rule["rule"].as_str().unwrap_or_default().replace('\n', " "),
            });
        }
    }
    if map.remove("nullable") == Some(Value::Bool(true))
        && let Some(Value::String(ty)) = map.get("type").cloned()
    {
        map.insert("type".into(), json!([ty, "null"]));
    }
    if map.get("format").and_then(Value::as_str) == Some("int32") {
        map.entry("minimum").or_insert(json!(i32::MIN));
        map.entry("maximum").or_insert(json!(i32::MAX));
    }
    if map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
        && !map.contains_key("type")
        && !map.contains_key("anyOf")
    {
        map.insert(
            "anyOf".into(),
            json!([{"type": "integer"}, {"type": "string"}]),
        );
    }
    let keeps_unknown = map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if !in_junctor
        && !keeps_unknown
        && map.get("type").and_then(Value::as_str) == Some("object")
        && !map.contains_key("additionalProperties")
    {
        map.insert("additionalProperties".into(), Value::Bool(false));
    }
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        for (name, property) in properties.iter_mut() {
            structural(property, &format!("{field}.{name}"), in_junctor, cel);
        }
    }
    if let Some(items) = map.get_mut("items") {
        structural(items, &format!("{field}[]"), in_junctor, cel);
    }
    if let Some(values @ Value::Object(_)) = map.get_mut("additionalProperties") {
        structural(values, &format!("{field}.*"), in_junctor, cel);
    }
    for junctor in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = map.get_mut(junctor) {
            for branch in branches {
                structural(branch, field, true, cel);
            }
        }
    }
    if let Some(not) = map.get_mut("not") {
        structural(not, field, true, cel);
    }
}

/// Every document deploy writes for `resource` (the resource, then a ServiceEntry per callout service), parsed
/// back from its YAML, or why deploy refuses to write them.
fn try_documents(resource: Resource, inputs: &Inputs) -> anyhow::Result<Vec<Value>> {
    let text = resources::render(resource, inputs)?;
    text.split("\n---\n")
        .map(|doc| Ok(serde_norway::from_str(doc)?))
        .collect()
}

/// The resource itself, the first document.
fn written(resource: Resource, inputs: &Inputs) -> Value {
    try_documents(resource, inputs).unwrap().remove(0)
}

/// The inputs of every command line `deploy --for target` accepts for `resource`, as far as the resource's
/// shape goes: each placement (selector, target refs, neither) with each failure policy, and every optional
/// field the version reads. A flag combination `fields::check` refuses is left out, as deploy refuses it.
fn accepted_inputs(target: Target, resource: Resource) -> Vec<(String, Inputs)> {
    let refs: Vec<Vec<TargetRef>> = if matches!(target, Target::EnvoyGateway { .. }) {
        vec![vec![
            "Gateway/public".parse().unwrap(),
            "HTTPRoute/backend".parse().unwrap(),
        ]]
    } else {
        [
            "Gateway/public",
            "GatewayClass/istio",
            "Service/waypoint",
            "ServiceEntry/ext",
        ]
        .iter()
        .map(|r| vec![r.parse().unwrap()])
        .collect()
    };
    let mut placements = vec![("selector".to_owned(), true, Vec::new())];
    placements.extend(refs.into_iter().map(|r| {
        let flags: Vec<String> = r
            .iter()
            .map(|t| format!("--target-ref {}/{}", t.kind, t.name))
            .collect();
        (flags.join(" "), false, r)
    }));
    placements.push(("no placement".to_owned(), false, Vec::new()));
    let fails = [
        None,
        Some(FailPolicy::Open),
        Some(FailPolicy::Closed),
        Some(FailPolicy::Reload),
    ];
    let mut out = Vec::new();
    for (placement, selector, target_refs) in &placements {
        for fail in fails {
            let mut inputs = inputs(
                &target.flag(),
                "PostAuthZ",
                Some(r#"{"headers": {"x-a": "b"}, "n": [1, 2.5]}"#),
            );
            inputs.fail = fail;
            if !*selector {
                inputs.selector.clear();
            }
            inputs.target_refs = target_refs.clone();
            let refused = |i: &Inputs| {
                fields::check(
                    target,
                    resource,
                    &fields::Requested {
                        selector: !i.selector.is_empty(),
                        namespace: true,
                        pull_secret: i.pull_secret.is_some(),
                        fail: i.fail,
                        pull_policy: i.pull_policy,
                        plugin_type: i.plugin_type,
                        target_refs: &i.target_refs,
                        env: &i.env,
                        callout_services: &i.callout_services,
                    },
                )
                .is_err()
            };
            if refused(&inputs) {
                continue;
            }
            // Every optional field this version reads, each kept only where deploy accepts it.
            let optional: [&dyn Fn(&mut Inputs); 6] = [
                &|i| i.pull_secret = Some("quay-pull".into()),
                &|i| i.pull_policy = Some(PullPolicy::Always),
                &|i| i.plugin_type = Some(PluginType::Http),
                &|i| {
                    i.env = vec![
                        EnvVar::inline("REGION=eu").unwrap(),
                        EnvVar::host("POD_NAME").unwrap(),
                    ]
                },
                // Host keys only, where inline values are refused (Envoy Gateway).
                &|i| {
                    if i.env.is_empty() {
                        i.env = vec![EnvVar::host("POD_NAME").unwrap()]
                    }
                },
                &|i| {
                    i.callout_services =
                        vec!["authz.example.com:8443".parse::<CalloutService>().unwrap()]
                },
            ];
            for add in optional {
                let before = (
                    inputs.pull_secret.clone(),
                    inputs.pull_policy,
                    inputs.plugin_type,
                    inputs.env.clone(),
                    inputs.callout_services.clone(),
                );
                add(&mut inputs);
                if refused(&inputs) {
                    (
                        inputs.pull_secret,
                        inputs.pull_policy,
                        inputs.plugin_type,
                        inputs.env,
                        inputs.callout_services,
                    ) = before;
                }
            }
            out.push((format!("{placement}, --fail {fail:?}"), inputs));
        }
    }
    // Every manifest phase, and the manifest's priority at the bounds of the narrowest integer a target reads
    // (deploy refuses past them).
    let phases = [
        "PreAuthN",
        "PostAuthN",
        "PreAuthZ",
        "PostAuthZ",
        "PreStats",
        "PostStats",
    ];
    let priorities = [
        i64::from(i32::MIN),
        i64::from(i32::MAX),
        i64::from(i32::MAX) + 1,
    ];
    let edges = phases
        .iter()
        .map(|phase| (*phase, 7))
        .chain(priorities.iter().map(|priority| ("PostAuthZ", *priority)));
    for (phase, priority) in edges {
        let mut edge = inputs(&target.flag(), phase, None);
        edge.selector.clear();
        if matches!(target, Target::EnvoyGateway { .. }) {
            // Envoy Gateway requires what the policy attaches to.
            edge.target_refs = placements[1].2.clone();
        }
        edge.priority = priority;
        out.push((format!("phase {phase}, priority {priority}"), edge));
    }
    out
}

/// The schema file for `kind` at `target`: the one that lists the target and describes the kind.
fn crd_for<'c>(crds: &'c [Crd], target: Target, kind: &str) -> Option<&'c Crd> {
    let mut found = crds
        .iter()
        .filter(|c| c.kind == kind && c.targets.contains(&target.flag()));
    let crd = found.next()?;
    assert!(
        found.next().is_none(),
        "{target}: two schema files for {kind}"
    );
    Some(crd)
}

#[test]
fn every_resource_deploy_writes_validates_against_its_targets_published_crd_schema() {
    let crds = all_crds();
    let readme = fs::read_to_string(data_dir().join("README.md")).unwrap();
    let mut failures = Vec::new();
    let mut unchecked: BTreeMap<&str, Vec<&CelRule>> = BTreeMap::new();
    let mut checked = 0;
    for target in Target::all() {
        for &resource in target.resources() {
            if resource == Resource::EnvoyFilter {
                continue;
            }
            let variants = accepted_inputs(target, resource);
            assert!(!variants.is_empty(), "{target}: no command line accepted");
            for (variant, inputs) in variants {
                let documents = match try_documents(resource, &inputs) {
                    Ok(documents) => documents,
                    // A value the version cannot hold, refused with the reason before anything is written.
                    Err(e) if e.to_string().contains("does not fit") => continue,
                    Err(e) => panic!("--for {} {variant}: {e}", target.flag()),
                };
                for doc in &documents {
                    let kind = doc["kind"].as_str().unwrap_or_default();
                    let Some(crd) = crd_for(&crds, target, kind) else {
                        failures.push(format!(
                            "--for {}: no CRD schema for {kind} in xtask/tests/data/crds/",
                            target.flag()
                        ));
                        continue;
                    };
                    checked += 1;
                    let mut present = Vec::new();
                    fields_of(doc, ".", &mut present);
                    for rule in crd.cel.iter().filter(|r| present.contains(&r.field)) {
                        let rules = unchecked.entry(&crd.file).or_default();
                        if !rules.contains(&rule) {
                            rules.push(rule);
                        }
                    }
                    for violation in crd.violations(doc) {
                        failures.push(format!(
                            "--for {} {kind} ({variant}): {violation}",
                            target.flag()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} violations in {checked} resources:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 100, "{checked}");
    // CEL rules on the fields deploy writes are not evaluated: the README lists each, so a rule a newer CRD
    // adds is seen and weighed by hand.
    let mut unlisted = Vec::new();
    for (file, rules) in &unchecked {
        for rule in rules {
            eprintln!("not checked ({file}): {} {}", rule.field, rule.rule);
            if !readme.contains(&format!("`{}` `{}`", rule.field, rule.rule)) {
                unlisted.push(format!("{file}: `{}` `{}`", rule.field, rule.rule));
            }
        }
    }
    assert!(
        unlisted.is_empty(),
        "CEL rules on fields deploy writes that README.md does not list as unchecked:\n{}",
        unlisted.join("\n")
    );
}

/// The field paths of `value` in the CEL rules' notation (`.spec.targetRefs[]`), `at` included.
fn fields_of(value: &Value, at: &str, out: &mut Vec<String>) {
    if !out.iter().any(|f| f == at) {
        out.push(at.to_owned());
    }
    let prefix = at.strip_suffix('.').unwrap_or(at);
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                fields_of(v, &format!("{prefix}.{key}"), out);
                // A map's values (`additionalProperties`) carry their rules at `.*`.
                fields_of(v, &format!("{prefix}.*"), out);
            }
        }
        Value::Array(items) => {
            for v in items {
                fields_of(v, &format!("{at}[]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_schema_file_serves_a_target_deploy_knows_and_the_readme_names_its_source() {
    let crds = all_crds();
    let known: Vec<String> = Target::all().iter().map(|t| t.flag()).collect();
    let readme = fs::read_to_string(data_dir().join("README.md")).unwrap();
    for crd in &crds {
        for target in &crd.targets {
            let resource_served = known.contains(target) && {
                let target: Target = target.parse().unwrap();
                // Istio-based targets write a ServiceEntry beside the resource for a callout service.
                (crd.kind == "ServiceEntry" && target.istio_minor().is_some())
                    || target.resources().iter().any(|r| r.kind() == crd.kind)
            };
            assert!(
                resource_served,
                "{}: {target} does not write a {}",
                crd.file, crd.kind
            );
        }
        let row = readme
            .lines()
            .find(|l| l.contains(&format!("`{}`", crd.file)))
            .unwrap_or_else(|| panic!("README.md has no row for {}", crd.file));
        for source in &crd.sources {
            let commit = source["commit"].as_str().unwrap();
            assert!(
                row.contains(&commit[..12]),
                "{}: README row lacks commit {commit}",
                crd.file
            );
        }
        for target in &crd.targets {
            assert!(
                row.contains(&format!("`{target}`")),
                "{}: README row lacks {target}",
                crd.file
            );
        }
    }
}

#[test]
fn a_field_the_version_lacks_or_a_value_outside_its_enum_is_refused_with_its_path() {
    let crds = all_crds();
    let istio_1_24 = crd_for(&crds, Target::Istio { minor: 24 }, "WasmPlugin").unwrap();
    let mut doc = written(
        Resource::WasmPlugin,
        &inputs("istio-1.24", "PostAuthZ", None),
    );
    doc["spec"]["failStrategy"] = json!("FAIL_RELOAD");
    let found = istio_1_24.violations(&doc).join("\n");
    assert!(
        found.contains("field `/spec/failStrategy`")
            && found.contains("\"FAIL_RELOAD\" is not one of")
            && found.contains("/properties/spec/properties/failStrategy/enum"),
        "{found}"
    );

    let istio_1_13 = crd_for(&crds, Target::Istio { minor: 13 }, "WasmPlugin").unwrap();
    let mut doc = written(
        Resource::WasmPlugin,
        &inputs("istio-1.13", "PostAuthZ", None),
    );
    doc["spec"]["vmConfig"] = json!({"env": [{"name": "A", "value": "b"}]});
    let found = istio_1_13.violations(&doc).join("\n");
    assert!(
        found.contains("field `/spec`") && found.contains("'vmConfig' was unexpected"),
        "unknown fields are pruned by the API server, so refused here: {found}"
    );

    let eg = crd_for(
        &crds,
        Target::EnvoyGateway { minor: 1 },
        "EnvoyExtensionPolicy",
    )
    .unwrap();
    let mut gateway = inputs("envoy-gateway-1.1", "PostAuthZ", None);
    gateway.selector.clear();
    gateway.target_refs = vec!["Gateway/public".parse().unwrap()];
    let mut doc = written(Resource::EnvoyExtensionPolicy, &gateway);
    doc["spec"]["wasm"][0]["env"] = json!({"hostKeys": ["POD_NAME"]});
    doc["apiVersion"] = json!("gateway.envoyproxy.io/v1");
    let found = eg.violations(&doc).join("\n");
    assert!(
        found.contains("field `/spec/wasm/0`") && found.contains("'env' was unexpected"),
        "{found}"
    );
    assert!(found.contains("field `/apiVersion`"), "{found}");

    let mut doc = written(
        Resource::WasmPlugin,
        &inputs("istio-1.13", "PostAuthZ", None),
    );
    doc["metadata"]["name"] = json!("header_append");
    let found = istio_1_13.violations(&doc).join("\n");
    assert!(
        found.contains("field `/metadata/name`"),
        "a name is a DNS subdomain: {found}"
    );
}

#[test]
fn preserved_fields_keep_anything_and_int_or_string_takes_both() {
    let crds = all_crds();
    let istio = crd_for(&crds, Target::Istio { minor: 30 }, "WasmPlugin").unwrap();
    let mut doc = written(Resource::WasmPlugin, &inputs("istio", "PostAuthZ", None));
    doc["spec"]["pluginConfig"] = json!({"any": {"nested": [1, "two", {"three": null}]}});
    assert_eq!(istio.violations(&doc), Vec::<String>::new());
    doc["spec"]["pluginConfig"] = json!("a string");
    assert!(
        istio
            .violations(&doc)
            .join("\n")
            .contains("field `/spec/pluginConfig`"),
        "preserve-unknown-fields keeps the declared type"
    );

    let mut schema =
        json!({"type": "object", "properties": {"size": {"x-kubernetes-int-or-string": true}}});
    let cel = as_json_schema(&mut schema, "example.io/v1", "Example");
    assert!(cel.is_empty());
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&schema)
        .unwrap();
    let object = |size: Value| json!({"apiVersion": "example.io/v1", "kind": "Example", "metadata": {"name": "x"}, "size": size});
    assert!(validator.is_valid(&object(json!(5))));
    assert!(validator.is_valid(&object(json!("5Mi"))));
    assert!(!validator.is_valid(&object(json!(true))));
    assert!(!validator.is_valid(&object(json!(1.5))));
}
