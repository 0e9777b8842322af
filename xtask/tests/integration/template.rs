//! `templates/extension` end to end with the real cargo-generate: each kind generated into a scratch
//! copy of the workspace (its git-tracked files), then built, tested, linted and packaged the way a
//! user would, and bad values refused before anything is written.
//!
//! The scratch copy builds in this workspace's build directory (`support::Scratch`), so its dependencies (wasmtime
//! for the tests, xtask's) are the ones this workspace's build compiled; the new crates and the copy's own members
//! compile apart from this workspace's.

use crate::support;

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::{Command, Output},
    time::Instant,
};

use support::*;

/// Every starting point of the template, with the values passed for it and how it is generated.
const KINDS: [(&str, &str, &str, Via); 5] = [
    ("headers", "PreAuthN", "-5", Via::CargoGenerate),
    ("callout", "PreAuthZ", "7", Via::XtaskNew),
    ("body", "PostAuthN", "0", Via::XtaskNew),
    ("tcp", "PostAuthZ", "3", Via::CargoGenerate),
    ("service", "PostStats", "1", Via::XtaskNew),
];

#[derive(Clone, Copy)]
enum Via {
    CargoGenerate,
    XtaskNew,
}

const GENERATED_FILES: [&str; 6] = [
    "Cargo.toml",
    "README.md",
    "example-config.json",
    "src/config.rs",
    "src/lib.rs",
    "tests/filter.rs",
];

#[test]
fn every_kind_generates_an_extension_that_builds_tests_and_packages() {
    let (Some(()), Some(git)) = (cargo_generate(), tool("git", "git")) else {
        return;
    };
    let image_tools = (tool("skopeo", "skopeo"), tool("umoci", "umoci"));
    let _lock = scratch_lock();
    let ws = scratch_workspace(&git);
    let started = Instant::now();
    let names: Vec<String> = KINDS.iter().map(|(kind, ..)| format!("t-{kind}")).collect();

    for ((kind, phase, priority, via), name) in KINDS.iter().zip(&names) {
        let description = format!("The {kind} starting point");
        match via {
            Via::CargoGenerate => run(generate()
                .args(["--path", "templates/extension", "--name", name])
                .args(["--destination", "extensions", "--silent", "--no-workspace"])
                .args([
                    "-d",
                    &format!("kind={kind}"),
                    "-d",
                    &format!("phase={phase}"),
                ])
                .args(["-d", &format!("priority={priority}")])
                .args(["-d", &format!("description={description}")])
                .current_dir(&ws.root)),
            Via::XtaskNew => run(ws
                .cargo(&["xtask", "new", name, "--kind", kind, "--phase", phase])
                .args(["--priority", priority, "--description", &description])),
        };
        let dir = ws.root.join("extensions").join(name);
        assert_eq!(relative_files(&dir), GENERATED_FILES, "files of {name}");
        for file in GENERATED_FILES {
            let text = fs::read_to_string(dir.join(file)).unwrap();
            assert!(
                !text.contains("{{") && !text.contains("{%"),
                "{name}/{file} has a Liquid tag left:\n{text}"
            );
        }
        let cargo_toml = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        for line in [
            format!("name = \"{name}\""),
            format!("description = \"{description}\""),
            format!("phase = \"{phase}\""),
            format!("priority = {priority}"),
        ] {
            assert!(cargo_toml.contains(&line), "{line:?} not in:\n{cargo_toml}");
        }
        // The kind `run`, `deploy` and `check` read: only a network filter or a service says it.
        let declared = match *kind {
            "tcp" | "service" => Some(format!("kind = \"{kind}\"")),
            _ => None,
        };
        assert_eq!(
            cargo_toml
                .lines()
                .find(|l| l.starts_with("kind = "))
                .map(str::to_owned),
            declared,
            "{name}: {cargo_toml}"
        );
    }
    eprintln!("generated in {:.1?}", started.elapsed());

    let packages: Vec<&str> = names.iter().flat_map(|n| ["-p", n.as_str()]).collect();
    let step = Instant::now();
    run(ws.cargo(&["xtask", "build"]).args(&packages));
    eprintln!("cargo xtask build: {:.1?}", step.elapsed());
    let step = Instant::now();
    let tests = run(ws.cargo(&["test"]).args(&packages));
    eprintln!("cargo test: {:.1?}", step.elapsed());
    for (kind, ..) in KINDS {
        // The end-to-end tests ran (not only the unit tests).
        let expected = match kind {
            "headers" => "test responses_get_the_configured_header ... ok",
            "callout" => "test an_allowed_request_goes_upstream_after_the_check ... ok",
            "tcp" => "test a_client_in_a_routed_range_reaches_its_cluster ... ok",
            "service" => "test queued_events_are_counted_and_published_on_the_next_tick ... ok",
            _ => "test a_json_body_in_chunks_reaches_the_upstream_whole ... ok",
        };
        assert!(tests.contains(expected), "{expected:?} not in:\n{tests}");
    }
    let step = Instant::now();
    run(ws.cargo(&["fmt", "--check"]).args(&packages));
    run(ws
        .cargo(&["clippy", "--all-targets"])
        .args(&packages)
        .args(["--", "-D", "warnings"]));
    eprintln!("cargo fmt --check, cargo clippy: {:.1?}", step.elapsed());

    let step = Instant::now();
    let packaged = run(ws.cargo(&["xtask", "package"]).args(&packages));
    eprintln!("cargo xtask package: {:.1?}", step.elapsed());
    for ((_, phase, priority, _), name) in KINDS.iter().zip(&names) {
        let out = ws.target.join("extensions").join(name);
        let manifest = fs::read_to_string(out.join("manifest.yaml")).unwrap();
        assert!(
            manifest.contains(&format!("phase: {phase}\n"))
                && manifest.contains(&format!("priority: {priority}\n")),
            "phase and priority from Cargo.toml not in:\n{manifest}"
        );
        check_image(name, &out, &packaged, &image_tools);
    }
    runs_deploys_and_checks_each_kind_where_it_runs(&ws);
    eprintln!("whole check: {:.1?}", started.elapsed());
    fs::remove_dir_all(&ws.root).unwrap();
}

/// The kind the generated `tcp` and `service` extensions declare decides how `run` drives them, what `deploy`
/// writes and how `check` runs them: a network filter and a bootstrap extension for Envoy, `type: NETWORK` for a
/// WasmPlugin, and a refusal with the reason where the target cannot run the kind.
fn runs_deploys_and_checks_each_kind_where_it_runs(ws: &Scratch) {
    let runner = runner();
    let xtask = |args: &[&str]| -> Output {
        ws.cargo(&[&["xtask"], args].concat())
            .env("XTASK_RUNNER", &runner)
            .output()
            .unwrap()
    };
    let text = |out: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let image = ["--image", "quay.io/team/x"];

    // `run` passes the declared kind to the runner (as an HTTP filter the SDK would trap).
    let out = xtask(&[
        "run",
        "t-service",
        "--config",
        r#"{"queue": "q", "report_every_ms": 500}"#,
        "--run-for",
        "2s",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("run as --kind service")
            && text(&out).contains("the service ran for 2s"),
        "{}",
        text(&out)
    );
    let out = xtask(&[
        "run",
        "t-tcp",
        "--config",
        "@extensions/t-tcp/example-config.json",
        "--source-address",
        "10.9.8.7:1",
        "--downstream-data",
        "hi",
    ]);
    assert!(
        text(&out).contains("the TCP proxy connected to cluster \"internal\""),
        "{}",
        text(&out)
    );

    let out = xtask(&["deploy", "-p", "t-tcp", "--for", "envoy"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("name: envoy.filters.network.wasm"),
        "{}",
        text(&out)
    );
    let out = xtask(&[&["deploy", "-p", "t-tcp", "--for", "istio"][..], &image].concat());
    assert!(text(&out).contains("type: NETWORK"), "{}", text(&out));
    let out = xtask(&["deploy", "-p", "t-service", "--for", "envoy"]);
    assert!(
        text(&out).contains("name: envoy.bootstrap.wasm"),
        "{}",
        text(&out)
    );
    let out = xtask(
        &[
            &["deploy", "-p", "t-service", "--for", "ossm-2.1"][..],
            &image,
        ]
        .concat(),
    );
    assert!(!out.status.success());
    assert!(
        text(&out)
            .contains("declares a Wasm service (kind = \"service\"), but a ServiceMeshExtension"),
        "{}",
        text(&out)
    );

    // `check` runs each as its kind: a TCP connection, a service start (as an HTTP filter both would trap).
    let out = xtask(&["check", "-p", "t-tcp", "--for", "istio"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("a TCP connection opened and closed")
            && text(&out).contains("a network filter: WasmPlugin `type: NETWORK`"),
        "{}",
        text(&out)
    );
    let out = xtask(&["check", "-p", "t-service", "--for", "envoy"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("the service started"), "{}", text(&out));
    let out = xtask(&["check", "-p", "t-service", "--for", "istio"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("Istio has no resource that starts a Wasm service"),
        "{}",
        text(&out)
    );
}

#[test]
fn bad_names_and_phases_are_refused_before_anything_is_written() {
    let Some(()) = cargo_generate() else {
        return;
    };
    let dir = tmp_dir("template-refusals");
    let extensions = dir.join("extensions");
    fs::create_dir(&extensions).unwrap();
    let generate = |name: &str, extra: &[&str], destination: &Path| {
        let out = generate()
            .arg("--path")
            .arg(root().join("templates/extension"))
            .args(["--name", name, "--destination"])
            .arg(destination)
            .args(["--silent", "--no-workspace"])
            .args(extra)
            .current_dir(&dir)
            .output()
            .unwrap();
        // cargo-generate 0.26 makes the project directory before it checks -d values.
        let _ = fs::remove_dir(extensions.join(name));
        out
    };
    let name_rule = "use lowercase letters, digits and dashes, starting with a letter";

    let out = generate("My_Filter", &[], &extensions);
    refused(
        &out,
        &format!("invalid extension name \"My_Filter\": {name_rule}"),
    );
    let out = generate("ok-name", &["-d", "phase=PostAuthz"], &extensions);
    refused(&out, "\"PostAuthz\" is not a valid value for phase");
    let out = generate("ok-name", &["-d", "priority=high"], &extensions);
    refused(&out, "\"high\" is not a valid value for priority");
    let out = generate("ok-name", &[], &dir);
    refused(&out, "must be generated into its extensions/ directory");
    // The name is checked before cargo-generate makes the project directory.
    assert!(!extensions.join("My_Filter").exists());

    let out = xtask(&["new", "My_Filter"]);
    refused(
        &out,
        &format!("invalid extension name `My_Filter` (did you mean `my-filter`?): {name_rule}"),
    );
    let out = xtask(&["new", "ok-name", "--phase", "PostAuthz"]);
    refused(
        &out,
        "invalid value 'PostAuthz' for '--phase <PHASE>': `PostAuthz` is not a Maistra phase (did you mean `PostAuthZ`?)",
    );
    let out = xtask(&["new", "header-append"]);
    refused(&out, "extensions/header-append already exists");
    // A control character would end up raw in the generated Cargo.toml and break every cargo command.
    let out = xtask(&[
        "new",
        "ok-name",
        "--description",
        "adds\ta header\u{1b}[31m",
    ]);
    refused(
        &out,
        "for '--description <TEXT>': \"adds\\ta header\\u{1b}[31m\" must be one line of text without control characters",
    );
    let out = xtask(&["new", "host"]);
    refused(
        &out,
        "`host` is already the name of a package in this workspace",
    );
    assert!(!root().join("extensions/host").exists());
    assert!(!root().join("extensions/My_Filter").exists());
    assert!(!root().join("extensions/ok-name").exists());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn xtask_new_says_how_to_install_a_missing_cargo_generate() {
    let empty = tmp_dir("no-cargo-generate");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["new", "t-never-written"])
        .env("PATH", "/usr/bin:/bin")
        .env("CARGO_HOME", &empty)
        .output()
        .unwrap();
    refused(
        &out,
        "cargo-generate is not installed; install it with `cargo install --locked cargo-generate@0.26.0`",
    );
    assert!(!root().join("extensions/t-never-written").exists());
    fs::remove_dir_all(&empty).unwrap();
}

/// `cargo generate`, given an author's name where the environment has none, as `cargo xtask new` gives it.
fn generate() -> Command {
    let mut cmd = cargo();
    cmd.arg("generate");
    xtask::new::name_an_author_if_none(&mut cmd);
    cmd
}

/// `Some(())` if `cargo generate` runs; otherwise fails under CI=true, else says loudly it skipped.
fn cargo_generate() -> Option<()> {
    let works = cargo()
        .args(["generate", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if works {
        return Some(());
    }
    let message = "cargo-generate is not installed: `cargo install --locked cargo-generate@0.26.0`";
    if env::var("CI").as_deref() == Ok("true") {
        panic!("{message} (required when CI=true)");
    }
    eprintln!("\n*** SKIPPED: {message} ***\n");
    None
}

/// Paths of the files under `dir`, relative, sorted, with `/` separators.
fn relative_files(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, out);
            } else {
                let relative = path.strip_prefix(base).unwrap();
                out.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort();
    files
}

/// The image `package` wrote for `name`, read back by skopeo and umoci like header-append's.
fn check_image(name: &str, out: &Path, packaged: &str, tools: &(Option<PathBuf>, Option<PathBuf>)) {
    let digest = packaged
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .and_then(|rest| rest.split(" image ").nth(1))
        .unwrap_or_else(|| panic!("no digest line for {name} in:\n{packaged}"))
        .trim();
    let (Some(skopeo), Some(umoci)) = tools else {
        return;
    };
    let layout = format!("oci:{}:0.1.0", out.join("oci").display());
    let inspected = run(Command::new(skopeo).args(["inspect", &layout]));
    assert_eq!(inspected_digest(&inspected), digest);
    let value: serde_json::Value = serde_json::from_str(&inspected).unwrap();
    assert_eq!(value["Labels"]["org.opencontainers.image.title"], name);

    let bundle = tmp_dir(&format!("template-{name}")).join("bundle");
    let image = format!("{}:0.1.0", out.join("oci").display());
    run(Command::new(umoci)
        .args(["unpack", "--rootless", "--image", &image])
        .arg(&bundle));
    let expected: Vec<(String, Vec<u8>)> = ["manifest.yaml", "plugin.wasm"]
        .iter()
        .map(|f| (f.to_string(), fs::read(out.join(f)).unwrap()))
        .collect();
    assert_eq!(files(&bundle.join("rootfs")), expected);
    fs::remove_dir_all(bundle.parent().unwrap()).unwrap();
}

/// `out` failed, and its error output says `expected`.
fn refused(out: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && (stderr.contains(expected) || stdout.contains(expected)),
        "expected a failure saying {expected:?}; got {}:\n{stdout}\n{stderr}",
        out.status
    );
}
