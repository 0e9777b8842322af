//! `cargo xtask check` on header-append for every target, and refusing each failure users meet only after
//! deploying: a WASI import the target's Envoy lacks, a configuration the plugin rejects, an image variant the
//! target does not pull, a callout to a cluster the target would not have.

use crate::push_support;
use crate::support;

use std::fs;

use push_support::*;

/// Runs `check` in the test's target directory with the shared runner binary: (success, stdout, stderr).
fn check(work: &Workdir, args: &[&str]) -> (bool, String, String) {
    let runner = support::runner();
    let run = work.xtask(
        &[&["check", "-p", "header-append"], args].concat(),
        &[("XTASK_RUNNER", runner.to_str().unwrap())],
        "",
    );
    (run.success(), run.stdout(), run.stderr())
}

fn run_ok(stdout: &str) -> bool {
    !stdout.lines().any(|l| l.starts_with("FAIL"))
}

/// The row of `check`'s table for `name`, or a panic listing the table.
fn row<'a>(table: &'a str, name: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(name))
        .unwrap_or_else(|| panic!("no `{name}` row in:\n{table}"))
}

#[test]
fn header_append_passes_on_every_target() {
    let work = Workdir::new("check-every-target");
    let targets: &[&[&str]] = &[
        &["--for", "ossm-2.0"],
        &["--for", "ossm-2.1"],
        &["--for", "ossm-2.2"],
        &["--for", "ossm-2.2", "--resource", "wasm-plugin"],
        &["--for", "ossm-2.3"],
        &["--for", "ossm-2.6"],
        &["--for", "istio-1.12"],
        &["--for", "istio-1.22"],
        &["--for", "istio"],
        &["--for", "istio", "--resource", "traffic-extension"],
        &["--for", "envoy-gateway-1.1"],
        &["--for", "envoy-gateway"],
        &["--for", "envoy-1.17"],
        &["--for", "envoy"],
    ];
    for target in targets {
        let (ok, table, stderr) = check(&work, target);
        assert!(ok && run_ok(&table), "{target:?}:\n{table}\n{stderr}");
        assert!(
            row(&table, "configuration").starts_with("ok"),
            "{target:?}:\n{table}"
        );
        assert!(
            row(&table, "imports").starts_with("ok"),
            "{target:?}:\n{table}"
        );
        assert!(
            row(&table, "callouts").starts_with("ok"),
            "{target:?}:\n{table}"
        );
    }
    let (_, table, _) = check(&work, &["--for", "ossm-2.0"]);
    assert!(
        row(&table, "ABI").starts_with("warn")
            && table.contains("most likely accepts only ABI 0.1.0"),
        "an unverified fact is a warning, not a pass:\n{table}"
    );
}

#[test]
fn a_configuration_the_plugin_rejects_fails_with_the_plugins_own_log_line() {
    let work = Workdir::new("check-config");
    let run = work.xtask(
        &[
            "check",
            "-p",
            "header-append",
            "--for",
            "istio",
            "--config",
            r#"{"x-a": 5}"#,
        ],
        &[("XTASK_RUNNER", support::runner().to_str().unwrap())],
        "",
    );
    let err = run.fails();
    let table = run.stdout();
    assert!(
        row(&table, "configuration").starts_with("FAIL")
            && table.contains("the plugin refused to start (configure): #1 header-append rejected its configuration: header \"x-a\""),
        "{table}"
    );
    assert!(
        err.contains(
            "error: 1 check failed: header-append would not work on Istio 1.30 as packaged"
        ),
        "{err}"
    );
}

#[test]
fn an_artifact_image_fails_for_a_service_mesh_extension_and_passes_for_istio() {
    let work = Workdir::new("check-artifact");
    work.use_artifact_image();
    let run = work.xtask(
        &["check", "-p", "header-append", "--for", "ossm-2.1"],
        &[("XTASK_RUNNER", support::runner().to_str().unwrap())],
        "",
    );
    run.fails();
    let table = run.stdout();
    assert!(
        row(&table, "image").starts_with("FAIL") && table.contains("package with `--format dual`"),
        "{table}"
    );
    let (_, table, _) = check(&work, &["--for", "istio"]);
    assert!(
        row(&table, "image").starts_with("ok    image          wasm artifact"),
        "{table}"
    );
}

/// A proxy-wasm module in WAT: ABI 0.2.1, accepts any configuration, and on request headers dispatches an
/// HTTP call to `cluster`; `extra_import` is added to its imports, unused.
fn module(cluster: &str, extra_import: &str) -> Vec<u8> {
    let headers = "\\03\\00\\00\\00\\07\\00\\00\\00\\03\\00\\00\\00\\05\\00\\00\\00\\05\\00\\00\\00\\0a\\00\\00\\00\\04\\00\\00\\00:method\\00GET\\00:path\\00/auth\\00:authority\\00auth\\00";
    let wat = format!(
        r#"(module
  (import "env" "proxy_http_call" (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  {extra_import}
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 64) "{cluster}")
  (data (i32.const 1024) "{headers}")
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $http_call (i32.const 64) (i32.const {len}) (i32.const 1024) (i32.const 68)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 2048)))
    (i32.const 1)))"#,
        len = cluster.len()
    );
    wat::parse_str(wat).unwrap()
}

#[test]
fn a_wasi_import_the_targets_envoy_lacks_is_named_with_the_first_release_that_has_it() {
    let work = Workdir::new("check-wasi");
    fs::write(
        work.out_dir().join("plugin.wasm"),
        module(
            "outbound|80||auth.example.com",
            r#"(import "wasi_snapshot_preview1" "poll_oneoff" (func (param i32 i32 i32 i32) (result i32)))"#,
        ),
    )
    .unwrap();
    let run = work.xtask(
        &[
            "check",
            "-p",
            "header-append",
            "--for",
            "istio-1.20",
            "--callout-service",
            "auth.example.com:80",
        ],
        &[("XTASK_RUNNER", support::runner().to_str().unwrap())],
        "",
    );
    run.fails();
    let table = run.stdout();
    assert!(
        table.contains("FAIL  import         wasi_snapshot_preview1.poll_oneoff: Envoy 1.28 does not provide it; the first release that does is Envoy 1.33 (cpp-host c4d7bb0 (#427), the Envoy 1.33.0 pin)"),
        "{table}"
    );
    let (_, table, _) = check(
        &work,
        &[
            "--for",
            "envoy",
            "--callout-service",
            "outbound|80||auth.example.com=auth.example.com:80",
        ],
    );
    assert!(
        !table.contains("FAIL  import"),
        "the newest Envoy links poll_oneoff:\n{table}"
    );
}

#[test]
fn a_callout_to_a_cluster_the_target_would_not_have_fails_and_a_declared_one_passes() {
    let work = Workdir::new("check-callout");
    fs::write(
        work.out_dir().join("plugin.wasm"),
        module("auth-service", ""),
    )
    .unwrap();
    let run = work.xtask(
        &["check", "-p", "header-append", "--for", "istio"],
        &[("XTASK_RUNNER", support::runner().to_str().unwrap())],
        "",
    );
    run.fails();
    let table = run.stdout();
    assert!(
        row(&table, "callout").starts_with("FAIL")
            && table.contains(
                "cluster `auth-service`: Istio 1.30 names clusters `outbound|PORT|SUBSET|HOST`"
            )
            && table.contains("--callout-service HOST:PORT"),
        "{table}"
    );

    fs::write(
        work.out_dir().join("plugin.wasm"),
        module("outbound|8080||auth.example.com", ""),
    )
    .unwrap();
    let (_, table, _) = check(&work, &["--for", "istio"]);
    assert!(
        row(&table, "callout").starts_with("warn"),
        "undeclared outbound cluster:\n{table}"
    );
    let (ok, table, stderr) = check(
        &work,
        &[
            "--for",
            "istio",
            "--callout-service",
            "auth.example.com:8080",
        ],
    );
    assert!(ok && run_ok(&table), "{table}\n{stderr}");
    assert!(
        row(&table, "callout").contains("cluster `outbound|8080||auth.example.com` is declared"),
        "{table}"
    );

    let run = work.xtask(
        &["check", "-p", "header-append", "--for", "envoy-gateway"],
        &[("XTASK_RUNNER", support::runner().to_str().unwrap())],
        "",
    );
    run.fails();
    assert!(
        run.stdout()
            .contains("Envoy Gateway has no API to add a cluster for a plugin"),
        "{}",
        run.stdout()
    );
}

/// The runner's report of a run that did not start (`start_error`: the stage and the plugin's reason), or that ran,
/// failed with `failure` if given, and called out to `clusters`.
fn runner_report(
    start_error: Option<(run_report::Stage, String)>,
    failure: Option<String>,
    clusters: &[String],
) -> serde_json::Value {
    let started = start_error.is_none();
    let callout = |cluster: &String| run_report::Callout {
        token: 1,
        context_id: 2,
        cluster: cluster.clone(),
        headers: Vec::new(),
        trailers: Vec::new(),
        timeout_ms: None,
        answer: None,
        body: Some(String::new()),
        body_base64: None,
    };
    let report: run_report::Report<serde_json::Value> = run_report::Report {
        module: "plugin.wasm".into(),
        kind: "http".into(),
        envoy: "1.24".into(),
        abi_version: Some("0.2.1".into()),
        random: run_report::Random {
            source: "seeded".into(),
            seed: Some(0),
        },
        started,
        start_error: start_error.map(|(stage, reason)| run_report::StartError {
            stage,
            message: "the plugin did not start".into(),
            reason,
        }),
        steps: started.then(Vec::new),
        upstream_request: None,
        client_response: None,
        connection: None,
        ran_for_ms: None,
        callouts: started.then(|| clusters.iter().map(callout).collect()),
        grpc_calls: started.then(Vec::new),
        filter_callbacks: None,
        refused_calls: started.then(Vec::new),
        refused_calls_omitted: started.then_some(0),
        canary_callouts: started.then(Vec::new),
        canary_grpc_calls: started.then(Vec::new),
        notes: started.then(Vec::new),
        filter_state: None,
        envoy_filter_state: None,
        logs: Vec::new(),
        logs_omitted: 0,
        metrics: Vec::new(),
        failure,
        trap: None,
    };
    serde_json::to_value(report).unwrap()
}

/// A stand-in for `proxy-wasm-run` (`XTASK_RUNNER`): prints `report` as its JSON report, copies the
/// configuration it was given (`--config @FILE`) to `got-config` beside it and its arguments, one a line, to
/// `got-args`.
fn fake_runner(work: &Workdir, report: &serde_json::Value) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = work.dir.join("fake-runner");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("report.json"), report.to_string()).unwrap();
    let script = dir.join("proxy-wasm-run");
    fs::write(
        &script,
        format!(
            r#"#!/bin/sh
printf '%s\n' "$@" > {dir}/got-args
while [ $# -gt 0 ]; do
  if [ "$1" = --config ]; then
    file=$(printf '%s' "$2" | sed 's/^@//')
    cat "$file" > {dir}/got-config
  fi
  shift
done
cat {dir}/report.json
"#,
            dir = dir.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[test]
fn what_the_runner_reports_is_escaped_before_it_reaches_the_terminal() {
    let work = Workdir::new("check-escape");
    let hostile = "\u{1b}]0;owned\u{7}\u{1b}[2J\nok    forged  row\u{202e}";
    // The table `check` prints for `report`: a failure, without a raw control or reordering character.
    let table = |report: serde_json::Value| {
        let runner = fake_runner(&work, &report);
        let run = work.xtask(
            &["check", "-p", "header-append", "--for", "istio"],
            &[("XTASK_RUNNER", runner.to_str().unwrap())],
            "",
        );
        run.fails();
        let table = run.stdout();
        assert!(
            !table.contains(['\u{1b}', '\u{7}', '\u{202e}']),
            "{table:?}"
        );
        assert!(
            !table.lines().any(|l| l.starts_with("ok    forged")),
            "a report cannot add rows:\n{table}"
        );
        table
    };
    let ran = table(runner_report(
        None,
        Some(format!("trap{hostile}")),
        &[format!("evil{hostile}")],
    ));
    assert!(
        row(&ran, "configuration").contains(
            "failed on a plain GET: trap\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\nok    forged  row\\u{202e}"
        ),
        "{ran}"
    );
    assert!(
        row(&ran, "callout").contains("cluster `evil\\u{1b}]0;owned"),
        "{ran}"
    );
    let refused = table(runner_report(
        Some((run_report::Stage::Configure, format!("no{hostile}"))),
        None,
        &[],
    ));
    let configuration = row(&refused, "configuration");
    assert!(
        configuration.contains("refused to start (configure): no\\u{1b}]0;owned"),
        "{refused}"
    );
}

#[test]
fn the_configuration_reaches_the_runner_without_a_scratch_file() {
    let work = Workdir::new("check-no-scratch");
    let runner = fake_runner(&work, &runner_report(None, None, &[]));
    let config = r#"{"x-token": "from the command line"}"#;
    work.xtask(
        &[
            "check",
            "-p",
            "header-append",
            "--for",
            "istio",
            "--config",
            config,
        ],
        &[("XTASK_RUNNER", runner.to_str().unwrap())],
        "",
    )
    .ok();
    assert_eq!(
        fs::read_to_string(work.dir.join("fake-runner/got-config")).unwrap(),
        config,
        "the runner got the configuration"
    );
    let mut left = Vec::new();
    let mut dirs = vec![work.target.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if fs::read(&path)
                .unwrap()
                .windows(config.len())
                .any(|w| w == config.as_bytes())
            {
                left.push(path);
            }
        }
    }
    assert!(
        left.is_empty(),
        "the configuration was left on disk: {left:?}"
    );
}

#[test]
fn a_runner_that_never_finishes_is_stopped_by_its_timeout() {
    use std::os::unix::fs::PermissionsExt as _;
    let work = Workdir::new("check-runner-timeout");
    // A runner that never answers.
    let runner = work.dir.join("hanging-runner");
    fs::write(&runner, "#!/bin/sh\nexec sleep 600\n").unwrap();
    fs::set_permissions(&runner, fs::Permissions::from_mode(0o755)).unwrap();
    let began = std::time::Instant::now();
    let run = work.xtask(
        &["check", "-p", "header-append", "--for", "istio"],
        &[
            ("XTASK_RUNNER", runner.to_str().unwrap()),
            ("XTASK_RUNNER_TIMEOUT", "1"),
        ],
        "",
    );
    run.fails();
    let said = format!("{}\n{}", run.stdout(), run.stderr());
    assert!(
        said.contains("did not finish within 1 s") && said.contains("XTASK_RUNNER_TIMEOUT=SECONDS"),
        "{said}"
    );
    assert!(
        began.elapsed() < std::time::Duration::from_secs(300),
        "check waited for the runner's 600 s sleep"
    );
}

/// `check` starts the VM the YAML deploys: the root_id each resource gives the plugin (Maistra's controller writes
/// `<name>_root`, deploy writes the name everywhere else), the VM's environment, and the target's Envoy.
#[test]
fn check_starts_the_vm_with_the_root_id_environment_and_envoy_deploy_writes() {
    let work = Workdir::new("check-vm-as-deployed");
    let runner = fake_runner(&work, &runner_report(None, None, &[]));
    let args = |flags: &[&str]| {
        work.xtask(
            &[&["check", "-p", "header-append"], flags].concat(),
            &[("XTASK_RUNNER", runner.to_str().unwrap())],
            "",
        );
        fs::read_to_string(work.dir.join("fake-runner/got-args")).unwrap()
    };
    let given = args(&[
        "--for",
        "istio-1.24",
        "--env",
        "REGION=eu",
        "--host-env",
        "POD_NAME",
    ]);
    for pair in [
        "--root-id\nheader-append\n",
        "--env\nREGION=eu\n",
        "--host-env\nPOD_NAME\n",
        "--for\nistio-1.24\n",
    ] {
        assert!(given.contains(pair), "{pair:?} in:\n{given}");
    }
    assert!(args(&["--for", "envoy"]).contains("--root-id\nheader-append\n"));
    assert!(args(&["--for", "ossm-2.1"]).contains("--root-id\nheader-append_root\n"));
}

#[test]
fn a_module_outside_the_workspace_is_checked_with_its_configuration_and_kind() {
    let work = Workdir::new("check-module-file");
    // A third-party filter: a module file with no package, named by its file.
    let module = work.dir.join("vendor").join("auth-filter.wasm");
    fs::create_dir_all(module.parent().unwrap()).unwrap();
    fs::copy(work.out_dir().join("plugin.wasm"), &module).unwrap();
    let module = module.to_str().unwrap();
    let runner = support::runner();
    let envs = [("XTASK_RUNNER", runner.to_str().unwrap())];

    let run = work.xtask(
        &[
            "check",
            "--for",
            "istio",
            module,
            "--config",
            r#"{"x-a": "b"}"#,
        ],
        &envs,
        "",
    );
    let table = run.ok();
    assert!(
        table.starts_with("auth-filter for Istio 1.30 (WasmPlugin):"),
        "{table}"
    );
    assert!(row(&table, "imports").starts_with("ok"), "{table}");
    assert!(row(&table, "configuration").starts_with("ok"), "{table}");
    assert!(
        row(&table, "package").starts_with("warn")
            && table.contains("image variant, digest and phase are not"),
        "what was not checked is said:\n{table}"
    );

    // The configuration is the module's own: header-append refuses a number, and the plugin's line says why.
    let run = work.xtask(
        &[
            "check",
            "--for",
            "istio",
            module,
            "--config",
            r#"{"x-a": 5}"#,
        ],
        &envs,
        "",
    );
    let err = run.fails();
    assert!(
        row(&run.stdout(), "configuration").starts_with("FAIL")
            && err.contains("1 check failed: auth-filter would not work on Istio 1.30 as given"),
        "{}\n{err}",
        run.stdout()
    );

    // A Wasm service cannot be a ServiceMeshExtension: the kind comes from --kind, and the refusal names it.
    let run = work.xtask(
        &["check", "--for", "ossm-2.1", module, "--kind", "service"],
        &envs,
        "",
    );
    run.fails();
    let table = run.stdout();
    assert!(
        row(&table, "kind").starts_with("FAIL") && table.contains("--kind"),
        "{table}"
    );

    let run = work.xtask(&["check", "--for", "istio", "missing/auth.wasm"], &envs, "");
    assert!(
        run.fails().contains("no module at missing/auth.wasm"),
        "{}",
        run.stderr()
    );
    let run = work.xtask(
        &["check", "--for", "istio", module, "-p", "header-append"],
        &envs,
        "",
    );
    assert!(
        run.fails().contains("cannot be used with"),
        "{}",
        run.stderr()
    );
}
