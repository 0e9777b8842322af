//! Scenario files: several streams with expectations, played by `proxy-wasm-run --scenario` (PASS/FAIL per stream,
//! exit status 4 when one fails) and by the test API (`Scenario::from_file(…)?.run(module)`), from the same file.

use std::path::{Path, PathBuf};

use host::testing::{Mismatch, Scenario, extension_module};

use super::runner::{conformance, runner};

fn header_append() -> PathBuf {
    extension_module("header-append").unwrap_or_else(|e| panic!("{e:#}"))
}

/// header-append's example scenario: its example configuration, two streams.
fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../extensions/header-append/scenario.yaml")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/integration/scenarios")
        .join(name)
}

fn scenario_arg(path: &Path) -> [String; 2] {
    ["--scenario".into(), path.display().to_string()]
}

fn run_scenario(module: &PathBuf, path: &Path) -> super::runner::Output {
    let args = scenario_arg(path);
    runner(module, &[args[0].as_str(), args[1].as_str()])
}

/// What the runner prints for `header-append-fails.yaml`: the stream that passes, then each expectation of the
/// other with what was expected and what the plugin did (a line diff for a body of several lines).
const FAILS_TEXT: &str = r#"PASS  as configured
FAIL  expects what the plugin does not do
      status:
        expected: 201
        got:      200
      upstream request header `x-powered-by`:
        expected: "mesh-wasm"
        got:      (absent)
      client response header `x-powered-by`:
        expected: "another"
        got:      "mesh-wasm"
      client response header `x-powered-by`:
        expected: (absent)
        got:      "mesh-wasm"
      client response body (- expected, + got):
          line one
        - line 2
        + line two
          line three
      logs:
        expected: a line containing "served /report"
        got:      no line
      calls (- expected, + got):
        - HTTP (any method) /check to "auth"
        + (none)
      metric `header_append_requests`:
        expected: 1
        got:      (no such metric)
1 of 2 streams passed, 1 failed
"#;

#[test]
fn the_example_scenario_passes_in_the_runner_stream_by_stream() {
    let out = run_scenario(&header_append(), &example());
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout,
        "PASS  a GET gets the request header upstream and the response headers back\n\
         PASS  an upstream's 404 keeps its status and gets the headers too\n\
         2 of 2 streams passed\n"
    );
}

#[test]
fn a_failing_scenario_exits_4_with_what_differs_for_each_expectation() {
    let out = run_scenario(&header_append(), &fixture("header-append-fails.yaml"));
    assert_eq!(out.code, Some(4), "{}{}", out.stdout, out.stderr);
    assert_eq!(out.stdout, FAILS_TEXT);
}

#[test]
fn the_test_api_plays_the_same_files() {
    let outcome = Scenario::from_file(example())
        .and_then(|s| Ok(s.run(header_append())?))
        .unwrap_or_else(|e| panic!("{e:#}"));
    outcome.assert_passed();
    assert_eq!(outcome.streams.len(), 2);

    let outcome = Scenario::from_file(fixture("header-append-fails.yaml"))
        .and_then(|s| Ok(s.run(header_append())?))
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(!outcome.passed());
    assert_eq!(outcome.text(), FAILS_TEXT);
    let failed: Vec<&str> = outcome.failures().map(|s| s.name.as_str()).collect();
    assert_eq!(failed, ["expects what the plugin does not do"]);
    assert_eq!(
        outcome.streams[1].mismatches[0],
        Mismatch {
            what: "status".into(),
            expected: "201".into(),
            got: "200".into(),
        }
    );
    let panic = std::panic::catch_unwind(|| outcome.assert_passed())
        .expect_err("a failed scenario panics in assert_passed");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("header-append-fails.yaml` failed:\nPASS  as configured\nFAIL  "),
        "{message}"
    );
}

#[test]
fn callouts_answers_and_calls_made_carry_the_runners_vocabulary() {
    let out = run_scenario(&conformance(), &fixture("callouts.yaml"));
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout,
        "PASS  an allowed callout lets the request through\n\
         PASS  a failed callout ends in Envoy's 502\n\
         2 of 2 streams passed\n"
    );
    // Streams share the plugin: its counter carries over from one to the next.
    let out = run_scenario(&conformance(), &fixture("metrics.yaml"));
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout,
        "PASS  first\nPASS  second\n2 of 2 streams passed\n"
    );
}

#[test]
fn a_misspelt_field_or_a_traffic_flag_beside_the_file_is_refused_by_name() {
    let out = run_scenario(&header_append(), &fixture("misspelt.yaml"));
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(
            "misspelt.yaml`: streams[0].expect: unknown field `stauts`, expected one of `status`"
        ) && out.stderr.contains("at line 5 column 7"),
        "{}",
        out.stderr
    );

    let args = scenario_arg(&example());
    let out = runner(
        &header_append(),
        &[args[0].as_str(), args[1].as_str(), "-H", "x-a: b"],
    );
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("--scenario takes the plugin's configuration and each stream from the file: drop --header"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_values_in_a_scenario_name_the_stream_and_the_field() {
    let error = Scenario::from_yaml(
        "streams:\n  - name: one\n    callout_responses: [\"ok\"]\n",
        Path::new(""),
    )
    .unwrap_err();
    assert_eq!(
        format!("{error:#}"),
        "`streams[0]` (one): `ok` is not a callout answer: write an HTTP status and an optional body (`200`, \
         `403:denied`, `200:@answer.json`), `reset` or `timeout`"
    );
    let error = Scenario::from_yaml("kind: tcp\nstreams: [{}]\n", Path::new("")).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("`kind: tcp`: scenario files play HTTP streams only so far"),
        "{error:#}"
    );
    let error = Scenario::from_yaml(
        "config: '@missing.json'\nstreams: [{}]\n",
        Path::new("/nonexistent"),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "`config`: cannot read the file `/nonexistent/missing.json`: No such file or directory (os error 2)"
    );
}

#[test]
fn grpc_answers_in_json_and_the_grpc_calls_made_are_checked() {
    let ext_authz = extension_module("ext-authz").unwrap_or_else(|e| panic!("{e:#}"));
    let out = run_scenario(&ext_authz, &fixture("ext-authz.yaml"));
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout,
        "PASS  an allowed check sends its header upstream\n\
         PASS  a denied check answers the client\n\
         2 of 2 streams passed\n"
    );

    // The same file expecting another method: the call made is shown beside the one expected.
    let text = std::fs::read_to_string(fixture("ext-authz.yaml")).unwrap();
    let wrong = text.replacen("Authorization/Check", "Authorization/Recheck", 1);
    let base = fixture("");
    let outcome = Scenario::from_yaml(&wrong, &base)
        .and_then(|s| Ok(s.run(&ext_authz)?))
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(
        outcome.streams[0].mismatches,
        [Mismatch {
            what: "calls".into(),
            expected: "gRPC envoy.service.auth.v3.Authorization/Recheck to \"authz\"\n".into(),
            got: "gRPC envoy.service.auth.v3.Authorization/Check to \"authz\"\n".into(),
        }]
    );
    assert!(outcome.streams[1].passed());
}
