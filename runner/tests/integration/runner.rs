//! `proxy-wasm-run` (what `cargo xtask run` hands off to), run as a user runs it: against header-append's shipped
//! module and the conformance guest, checking the text, the `--json` report and the exit status.

use std::path::PathBuf;
use std::process::Command;

use host::testing::{REQUEST_DEFAULTS, REQUEST_ID, extension_module, guest_module};
use serde_json::{Value, json};

pub(super) struct Output {
    pub(super) code: Option<i32>,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

pub(super) fn runner(module: &PathBuf, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_proxy-wasm-run"))
        .arg(module)
        .args(args)
        .output()
        .expect("proxy-wasm-run runs");
    Output {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub(super) fn json_report(module: &PathBuf, args: &[&str]) -> (Option<i32>, Value) {
    let output = runner(module, &[args, &["--json"]].concat());
    let report: Value = serde_json::from_str(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "--json printed no JSON ({e}):\n{}\nstderr:\n{}",
            output.stdout, output.stderr
        )
    });
    // What `cargo xtask check` reads: the same report as `run_report::Report`, field for field.
    let typed: run_report::Report<Value> = serde_json::from_value(report.clone())
        .unwrap_or_else(|e| panic!("the report is not a run_report::Report ({e}):\n{report:#}"));
    assert_eq!(
        serde_json::to_value(&typed).unwrap(),
        report,
        "the report reads back as run_report::Report without losing a field"
    );
    (output.code, report)
}

/// host/tests/modules/random_get.wat: `proxy_on_vm_start` logs 8 bytes of WASI `random_get` as 16 hex digits.
fn random_get_module() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../host/tests/modules/random_get.wat"
    );
    wat::parse_file(path).unwrap_or_else(|e| panic!("{path}: invalid WAT: {e}"))
}

fn header_append() -> PathBuf {
    extension_module("header-append").unwrap_or_else(|e| panic!("{e:#}"))
}

pub(super) fn conformance() -> PathBuf {
    guest_module("conformance-guest").unwrap_or_else(|e| panic!("{e:#}"))
}

/// The values of header `name` in a JSON header list (`[["name", "value"], …]`).
pub(super) fn values(headers: &Value, name: &str) -> Vec<String> {
    headers
        .as_array()
        .unwrap_or_else(|| panic!("not a header list: {headers}"))
        .iter()
        .filter(|pair| pair[0] == name)
        .map(|pair| pair[1].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn header_append_adds_the_configured_header_to_the_response_in_text() {
    let out = runner(&header_append(), &["--config", r#"{"x-a": "b"}"#]);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let client = out
        .stdout
        .split("the response the client would see:")
        .nth(1)
        .unwrap_or_else(|| panic!("no client response in:\n{}", out.stdout));
    assert!(
        client.contains(":status: 200\n  x-a: b\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("on_response_headers -> Continue"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("header-append configured; responses: x-a"),
        "{}",
        out.stdout
    );
}

/// The runner plays the request through the test API, so both send what Envoy's filters would see: a `host`
/// header filed as `:authority` (no default beside it), the `x-forwarded-proto` and generated `x-request-id` the
/// connection manager adds, the same defaults as `host::testing::REQUEST_DEFAULTS`.
#[test]
fn the_runner_sends_the_test_apis_request_defaults_and_files_host_as_the_authority() {
    let (code, report) = json_report(
        &header_append(),
        &["-c", r#"{"x-a": "b"}"#, "-H", "host: h.example"],
    );
    assert_eq!(code, Some(0), "{report:#}");
    let headers = &report["upstream_request"]["headers"];
    assert_eq!(values(headers, ":authority"), ["h.example"]);
    assert!(values(headers, "host").is_empty(), "{headers}");
    for (name, value) in REQUEST_DEFAULTS.iter().filter(|(n, _)| *n != ":authority") {
        assert_eq!(values(headers, name), [*value], "{name}");
    }
    let id = values(headers, REQUEST_ID);
    assert_eq!(id.len(), 1, "{headers}");
    assert_eq!(id[0].len(), 36, "a UUID: {id:?}");
}

#[test]
fn header_append_in_json_shows_both_sides_the_defaults_and_the_given_headers() {
    let (code, report) = json_report(
        &header_append(),
        &[
            "-c",
            r#"{"x-a": "b", "x-req": {"value": "r", "on": "request"}}"#,
            "-H",
            "X-User: alice",
            "-H",
            ":path: /login",
            "--response-header",
            "server: upstream",
            "--response-body",
            "hello",
        ],
    );
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["started"], true);
    assert_eq!(report["abi_version"], "0.2.1");
    let upstream = &report["upstream_request"];
    assert_eq!(values(&upstream["headers"], ":path"), ["/login"]);
    assert_eq!(values(&upstream["headers"], ":authority"), ["example.com"]);
    assert_eq!(values(&upstream["headers"], "x-user"), ["alice"]);
    assert_eq!(values(&upstream["headers"], "x-req"), ["r"]);
    assert_eq!(upstream["end_of_stream"], true);
    let client = &report["client_response"];
    assert_eq!(client["status"], 200);
    assert_eq!(values(&client["headers"], "x-a"), ["b"]);
    assert_eq!(values(&client["headers"], "server"), ["upstream"]);
    assert_eq!(client["body"], "hello");
    assert_eq!(client["local_reply"], Value::Null);
    assert_eq!(
        report["steps"],
        json!([
            {"callback": "on_request_headers", "action": "continue", "returned": 0, "envoy": "Continue"},
            {"callback": "on_response_headers", "action": "continue", "returned": 0, "envoy": "Continue"},
            {"callback": "on_response_body", "action": "continue", "returned": 0, "envoy": "Continue"},
        ])
    );
    assert_eq!(report["callouts"], json!([]));
    assert_eq!(report["failure"], Value::Null);
}

#[test]
fn a_rejected_configuration_exits_1_with_the_plugins_reason() {
    let out = runner(&header_append(), &["--config", r#"{"x-a": 5}"#]);
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("on_configure refused the configuration"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(r#"header "x-a""#), "{}", out.stderr);
    assert!(out.stdout.contains("reason: "), "{}", out.stdout);

    let (code, report) = json_report(&header_append(), &["--config", r#"{"x-a": 5}"#]);
    assert_eq!(code, Some(1));
    assert_eq!(report["started"], false);
    assert_eq!(report["start_error"]["stage"], "configure");
    let reason = report["start_error"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("not a number"), "{report:#}");
    assert_eq!(report["logs"][0]["level"], "error");
    assert_eq!(report["client_response"], Value::Null);
}

#[test]
fn the_configuration_can_come_from_a_file() {
    let dir = std::env::temp_dir().join(format!("proxy-wasm-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.json");
    std::fs::write(&file, r#"{"x-from-file": "yes"}"#).unwrap();
    let (code, report) = json_report(&header_append(), &["-c", &format!("@{}", file.display())]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(
        values(&report["client_response"]["headers"], "x-from-file"),
        ["yes"]
    );
}

#[test]
fn bad_arguments_exit_2_naming_the_flag_and_the_fix() {
    let out = runner(&header_append(), &["-H", "no-colon"]);
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("--header"), "{}", out.stderr);
    assert!(out.stderr.contains("write `NAME: VALUE`"), "{}", out.stderr);

    let out = runner(
        &header_append(),
        &["--config", "@/nonexistent/plugin-config.json"],
    );
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("cannot read the file `/nonexistent/plugin-config.json`"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_missing_module_is_a_load_error_naming_the_path() {
    let missing = PathBuf::from("/nonexistent/plugin.wasm");
    let (code, report) = json_report(&missing, &[]);
    assert_eq!(code, Some(1));
    assert_eq!(report["start_error"]["stage"], "load");
    let message = report["start_error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("/nonexistent/plugin.wasm"), "{report:#}");
}

#[test]
fn a_callout_is_recorded_and_answered_and_the_plugins_local_reply_reaches_the_client() {
    let (code, report) = json_report(
        &conformance(),
        &[
            "-c",
            "callout request deny",
            "--callout-response",
            "403:nope",
        ],
    );
    assert_eq!(code, Some(0), "{report:#}");
    let callout = &report["callouts"][0];
    assert_eq!(callout["cluster"], "auth");
    assert_eq!(callout["body"], "payload");
    assert_eq!(callout["timeout_ms"], 250);
    assert_eq!(values(&callout["headers"], ":path"), ["/check"]);
    assert_eq!(values(&callout["trailers"], "x-checksum"), ["c1"]);
    assert_eq!(
        callout["answer"],
        json!({"status": 403, "headers": [], "body": "nope", "body_base64": null})
    );
    assert_eq!(report["steps"][0]["action"], "pause");
    assert_eq!(report["steps"][1]["callout_answered"], callout["token"]);
    let client = &report["client_response"];
    assert_eq!(client["status"], 403);
    assert_eq!(client["body"], "denied by callout");
    assert_eq!(client["local_reply"]["status"], 403);
    assert_eq!(report["upstream_request"]["headers"], Value::Null);
    let notes = report["notes"].to_string();
    assert!(notes.contains("local reply (403)"), "{notes}");
}

#[test]
fn an_allowed_callout_resumes_the_request_and_the_upstream_response_is_played() {
    let out = runner(
        &conformance(),
        &["-c", "callout request", "--callout-response", "200"],
    );
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("callout 4 answered: 200"),
        "{}",
        out.stdout
    );
    let upstream = out
        .stdout
        .split("the request the upstream would see:")
        .nth(1)
        .unwrap_or_default();
    assert!(upstream.contains("x-auth-status: 200"), "{}", out.stdout);
    assert!(
        out.stdout.contains("on_response_headers -> Continue"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("answer: 200"), "{}", out.stdout);
}

#[test]
fn an_unanswered_callout_stays_pending_and_the_request_never_reaches_the_upstream() {
    let (code, report) = json_report(&conformance(), &["-c", "callout request"]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["callouts"][0]["answer"], Value::Null);
    assert_eq!(report["upstream_request"]["headers"], Value::Null);
    assert_eq!(report["client_response"]["headers"], Value::Null);
    let notes = report["notes"].to_string();
    assert!(notes.contains("--callout-response"), "{notes}");
}

#[test]
fn a_failed_callout_and_metrics_are_reported() {
    let (code, report) = json_report(
        &conformance(),
        &["-c", "callout request", "--callout-response", "reset"],
    );
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["callouts"][0]["answer"], "reset");
    assert_eq!(report["client_response"]["status"], 502);

    let (code, report) = json_report(&conformance(), &["-c", "metrics", "-b", "abcd"]);
    assert_eq!(code, Some(0), "{report:#}");
    let metrics = report["metrics"].as_array().cloned().unwrap_or_default();
    let requests = metrics
        .iter()
        .find(|m| m["name"] == "requests_total")
        .unwrap_or_else(|| panic!("no requests_total in {report:#}"));
    assert_eq!(requests["kind"], "counter");
    assert!(
        requests["value"].as_i64().unwrap_or_default() >= 1,
        "{report:#}"
    );
}

#[test]
fn a_plugin_that_fails_while_running_exits_3_and_the_client_gets_envoys_503() {
    let (code, report) = json_report(&conformance(), &["-c", "none panic=on_request_headers"]);
    assert_eq!(code, Some(3), "{report:#}");
    assert_eq!(
        report["started"], true,
        "it failed after starting: {report:#}"
    );
    let failure = report["failure"].as_str().unwrap_or_default();
    assert!(
        failure.contains("guest panic in on_request_headers"),
        "{report:#}"
    );
    assert_eq!(report["client_response"]["status"], 503);
    assert_eq!(
        report["client_response"]["local_reply"]["details"],
        "wasm_fail_stream"
    );

    let (code, report) = json_report(
        &conformance(),
        &["-c", "none panic=on_request_headers", "--fail-open"],
    );
    assert_eq!(code, Some(3), "{report:#}");
    assert_eq!(report["started"], true, "{report:#}");
    assert_eq!(report["client_response"]["status"], 200);
}

#[test]
fn the_log_level_drops_lower_levels() {
    let (code, report) = json_report(&conformance(), &["-c", "none", "--log-level", "debug"]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["started"], true, "{report:#}");
    let levels = report["logs"].to_string();
    assert!(levels.contains(r#""level":"debug""#), "{report:#}");
    let (code, report) = json_report(&conformance(), &["-c", "none", "--log-level", "warn"]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["started"], true, "{report:#}");
    assert_eq!(report["logs"], json!([]), "{report:#}");
}

#[test]
fn trailers_properties_ids_and_the_buffer_limit_come_from_flags() {
    let (code, report) = json_report(
        &conformance(),
        &[
            "-c",
            "properties xds/node/metadata/REGION source/address plugin_root_id plugin_vm_id",
            "--root-id",
            "edge",
            "--vm-id",
            "shared",
            "--property",
            "xds.node.metadata.REGION=eu",
            "--property",
            "source.address=10.1.2.3:5000",
            "-b",
            "abc",
            "--trailer",
            "x-checksum: 9",
            "--response-trailer",
            "grpc-status: 0",
        ],
    );
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["started"], true, "{report:#}");
    let logs = report["logs"].to_string();
    assert!(
        logs.contains("property request-headers xds/node/metadata/REGION = eu"),
        "{report:#}"
    );
    assert!(
        logs.contains("property request-headers source/address = 10.1.2.3:5000"),
        "{report:#}"
    );
    assert!(
        logs.contains("property request-headers plugin_root_id = edge"),
        "{report:#}"
    );
    assert!(
        logs.contains("property request-headers plugin_vm_id = shared"),
        "{report:#}"
    );
    let upstream = &report["upstream_request"];
    assert_eq!(upstream["body"], "abc");
    assert_eq!(values(&upstream["trailers"], "x-checksum"), ["9"]);
    assert_eq!(upstream["end_of_stream"], true);
    assert_eq!(
        values(&report["client_response"]["trailers"], "grpc-status"),
        ["0"]
    );
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["callback"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "on_request_headers",
            "on_request_body",
            "on_request_trailers",
            "on_response_headers",
            "on_response_trailers"
        ]
    );

    let (code, report) = json_report(
        &conformance(),
        &[
            "-c",
            "record pause-request-body",
            "-b",
            "0123456789",
            "--trailer",
            "x-t: 1",
            "--buffer-limit",
            "4",
        ],
    );
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["started"], true, "{report:#}");
    assert_eq!(report["client_response"]["status"], 413, "{report:#}");
    assert_eq!(
        report["client_response"]["local_reply"]["details"],
        "request_payload_too_large"
    );

    let (code, report) = json_report(
        &conformance(),
        &[
            "-c",
            "record pause-request-headers",
            "-b",
            "abc",
            "--allow-on-headers-stop-iteration",
        ],
    );
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["started"], true, "{report:#}");
    assert_eq!(report["upstream_request"]["body"], "abc", "{report:#}");
    let (code, report) = json_report(
        &conformance(),
        &["-c", "record pause-request-headers", "-b", "abc"],
    );
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["started"], true, "{report:#}");
    assert_eq!(
        report["upstream_request"]["headers"],
        Value::Null,
        "{report:#}"
    );

    let output = runner(&conformance(), &["--property", "source.=x"]);
    assert_eq!(output.code, Some(2));
    assert!(
        output
            .stderr
            .contains("is not a property: write `PATH=VALUE` with a dotted path"),
        "{}",
        output.stderr
    );
}

#[test]
fn callout_headers_join_the_answer_given_before_them() {
    let (code, report) = json_report(
        &conformance(),
        &[
            "-c",
            "callout request",
            "--callout-response",
            "200:ok",
            "--callout-header",
            "x-a: 1",
        ],
    );
    assert_eq!(code, Some(0), "{report:#}");
    assert!(
        report["logs"]
            .to_string()
            .contains("callout response: status 200; headers :status: 200 | x-a: 1; body ok"),
        "{report:#}"
    );
    assert_eq!(
        report["callouts"][0]["answer"]["headers"],
        json!([["x-a", "1"]]),
        "{report:#}"
    );

    for args in [
        &["--callout-header", "x-a: 1", "--callout-response", "200"][..],
        &["--callout-response", "reset", "--callout-header", "x-a: 1"][..],
    ] {
        let output = runner(&conformance(), args);
        assert_eq!(output.code, Some(2), "{}", output.stderr);
        assert!(
            output.stderr.contains(
                "--callout-header `x-a: 1` must follow the --callout-response STATUS it belongs to"
            ),
            "{}",
            output.stderr
        );
    }
}

#[test]
fn a_grpc_call_is_answered_from_a_file_and_the_request_resumes() {
    let dir = std::env::temp_dir().join(format!("proxy-wasm-run-grpc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let reply = dir.join("reply.bin");
    std::fs::write(&reply, b"pong\x00\x01").unwrap();
    let answer = format!("0:@{}", reply.display());
    let (code, report) = json_report(
        &conformance(),
        &[
            "-c",
            "grpc-call",
            "--grpc-response",
            &answer,
            "--cluster",
            "grpc-upstream",
        ],
    );
    assert_eq!(code, Some(0), "{report:#}");
    let call = &report["grpc_calls"][0];
    assert_eq!(call["upstream"], "grpc-upstream");
    assert_eq!(call["service"], "pkg.Echo");
    assert_eq!(call["timeout_ms"], 2000);
    assert_eq!(call["answer"]["code"], 0);
    assert_eq!(report["steps"][1]["grpc_call_answered"], call["token"]);
    let logs = report["logs"].to_string();
    assert!(
        logs.contains("status 0, message 0x706f6e670001"),
        "the binary message as the guest read it: {logs}"
    );
    assert_eq!(report["client_response"]["status"], 200, "{report:#}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The steps of a report as short words: `callout 4`, `grpc 5`, `time 150`, `on_request_headers -> continue`.
fn step_words(report: &Value) -> Vec<String> {
    report["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps in {report}"))
        .iter()
        .map(|s| {
            if let Some(token) = s["callout_answered"].as_u64() {
                format!("callout {token}")
            } else if let Some(token) = s["grpc_call_answered"].as_u64() {
                format!("grpc {token}")
            } else if let Some(ms) = s["time_advanced_ms"].as_u64() {
                format!("time {ms}")
            } else {
                format!(
                    "{} -> {}",
                    s["callback"].as_str().unwrap_or("?"),
                    s["action"].as_str().unwrap_or("?")
                )
            }
        })
        .collect()
}

#[test]
fn calls_dispatched_at_start_up_are_answered_before_the_first_request_in_dispatch_order() {
    // on_configure dispatches a gRPC call (token 5) and then an HTTP callout (token 4); a tick 100 ms later
    // dispatches callout 8. The answers are taken in that order, each from its own flag's queue.
    let (code, report) = json_report(
        &conformance(),
        &[
            "-c",
            "start-up",
            "--cluster",
            "auth",
            "--cluster",
            "grpc-upstream",
            "--callout-response",
            "200:cfg",
            "--callout-response",
            "200:ticked",
            "--grpc-response",
            "0:keys",
            "--before-request",
            "150ms",
        ],
    );
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(
        step_words(&report),
        [
            "grpc 5",
            "callout 4",
            "time 150",
            "callout 8",
            "on_request_headers -> continue",
            "on_response_headers -> continue"
        ],
        "{report:#}"
    );
    let worker_notes: Vec<&str> = report["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["vm"] == "worker" && l["level"] == "info")
        .filter_map(|l| l["message"].as_str())
        .filter(|m| m.starts_with("root "))
        .collect();
    assert_eq!(
        worker_notes,
        [
            "root grpc response 5: status 0, message keys",
            "root callout response: cfg",
            "root callout response: ticked"
        ]
    );
    assert_eq!(report["callouts"][0]["context_id"], 1);
    assert_eq!(report["callouts"][1]["headers"][1][1], "/tick");
    assert_eq!(report["client_response"]["status"], 200);
    assert_eq!(report["notes"], json!([]), "nothing left pending");

    let out = runner(
        &conformance(),
        &[
            "-c",
            "start-up",
            "--kind",
            "service",
            "--before-request",
            "1s",
        ],
    );
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("--before-request (a service has no requests"),
        "{}",
        out.stderr
    );
}

#[test]
fn bytes_that_are_not_utf8_are_reported_as_base64_and_answers_can_be_given_as_bytes() {
    let body =
        std::env::temp_dir().join(format!("proxy-wasm-run-bytes-{}.bin", std::process::id()));
    std::fs::write(&body, b"\xff\x00a").unwrap();
    let body_arg = format!("@{}", body.display());
    let args = [
        "-c",
        "start-up",
        "--cluster",
        "auth",
        "--cluster",
        "grpc-upstream",
        "--grpc-response",
        "0:base64:AP8=",
        "--callout-response",
        "200:hex:00ff",
        "--body",
        &body_arg,
        "--response-body",
        "caf\u{e9}",
    ];
    let (code, report) = json_report(&conformance(), &args);
    assert_eq!(code, Some(0), "{report:#}");
    let grpc = &report["grpc_calls"][0];
    assert_eq!(grpc["messages"], json!([null]), "{report:#}");
    assert_eq!(grpc["messages_base64"], json!(["a2V5cwD/"]), "keys\\0\\xff");
    assert_eq!(
        grpc["answer"],
        json!({"code": 0, "data": null, "data_base64": "AP8="})
    );
    let callout = &report["callouts"][0];
    assert_eq!(callout["body"], "");
    assert_eq!(callout["body_base64"], Value::Null);
    assert_eq!(callout["answer"]["body"], Value::Null);
    assert_eq!(callout["answer"]["body_base64"], "AP8=");
    assert_eq!(report["steps"][0]["answer"]["data_base64"], "AP8=");
    assert_eq!(report["upstream_request"]["body"], Value::Null);
    assert_eq!(report["upstream_request"]["body_base64"], "/wBh");
    assert_eq!(report["client_response"]["body"], "caf\u{e9}");
    assert_eq!(report["client_response"]["body_base64"], Value::Null);
    assert!(
        !report.to_string().contains('\u{fffd}'),
        "no U+FFFD anywhere: {report:#}"
    );
    let logs = report["logs"].to_string();
    assert!(
        logs.contains("root grpc response 5: status 0, message 0x00ff"),
        "{logs}"
    );
    assert!(logs.contains("root callout response: 0x00ff"), "{logs}");

    let out = runner(&conformance(), &args);
    for part in [
        "gRPC call 5 answered: 0 (OK) with message base64:AP8=",
        "callout 4 answered: 200 with body base64:AP8=",
        "body (3 bytes): base64:/wBh",
    ] {
        assert!(out.stdout.contains(part), "{part:?} in\n{}", out.stdout);
    }
    let out = runner(&conformance(), &["--grpc-response", "0:hex:0g"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("`hex:0g` is not hex"), "{}", out.stderr);
    std::fs::remove_file(&body).unwrap();
}

#[test]
fn random_get_is_seeded_by_default_seedable_or_the_operating_systems_and_the_report_says_which() {
    let module =
        std::env::temp_dir().join(format!("proxy-wasm-run-random-{}.wasm", std::process::id()));
    std::fs::write(&module, random_get_module()).unwrap();
    let drawn = |args: &[&str]| {
        let (code, report) = json_report(
            &module,
            &[args, &["--kind", "service", "--no-cache"]].concat(),
        );
        assert_eq!(code, Some(0), "{report:#}");
        let worker: Vec<String> = report["logs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["vm"] == "worker")
            .map(|l| l["message"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(worker.len(), 1, "{report:#}");
        (worker[0].clone(), report["random"].clone())
    };
    let (default, random) = drawn(&[]);
    assert_eq!(random, json!({"source": "seeded", "seed": 24301}));
    assert_eq!(drawn(&[]).0, default, "the same bytes on every run");
    let (seeded, random) = drawn(&["--seed", "7"]);
    assert_eq!(random, json!({"source": "seeded", "seed": 7}));
    assert_ne!(seeded, default);
    assert_eq!(drawn(&["--seed", "7"]).0, seeded);
    let (os, random) = drawn(&["--random", "os"]);
    assert_eq!(random, json!({"source": "os", "seed": null}));
    assert_ne!(
        os,
        drawn(&["--random", "os"]).0,
        "Envoy's bytes differ every run"
    );

    let out = runner(
        &module,
        &["--kind", "service", "--random", "os", "--seed", "1"],
    );
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("--seed seeds `--random seeded`"),
        "{}",
        out.stderr
    );
    let out = runner(&module, &["--kind", "service", "--no-cache"]);
    assert!(
        out.stdout.contains("random_get: seeded with 24301"),
        "{}",
        out.stdout
    );
    std::fs::remove_file(&module).unwrap();
}

/// The worker VM's Debug lines that start with `prefix` (the conformance guest logs each callback so).
fn debug_lines(report: &Value, prefix: &str) -> Vec<String> {
    report["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["vm"] == "worker" && l["level"] == "debug")
        .filter_map(|l| l["message"].as_str())
        .filter(|m| m.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

// Envoy's codec calls `decodeData`/`encodeData` once per piece it reads, `end_stream` only with the last; a filter
// that stops iteration (StopIterationAndBuffer) sees the buffered bytes again with the next piece
// (`FilterManager::commonHandleAfterDataCallback`, cpp-host `Context::onRequestBody`).
#[test]
fn body_chunks_reach_the_plugin_one_callback_each_and_a_paused_chunk_comes_again_with_the_next() {
    let (code, report) = json_report(
        &conformance(),
        &[
            "-c",
            "chunks pause-request-body",
            "--log-level",
            "debug",
            "--body-chunk",
            "abc",
            "--body-chunk",
            "de",
            "--body-chunk",
            "fg",
            "--response-body-chunk",
            "data: 1\n\n",
            "--response-body-chunk",
            "data: 2\n\n",
        ],
    );
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(
        callback_steps(&report),
        [
            "on_request_headers -> continue",
            "on_request_body -> pause",
            "on_request_body -> pause",
            "on_request_body -> continue",
            "on_response_headers -> continue",
            "on_response_body -> continue",
            "on_response_body -> continue",
        ]
    );
    assert_eq!(
        debug_lines(&report, "on_request_body"),
        [
            "on_request_body 3 false",
            "on_request_body 5 false",
            "on_request_body 7 true"
        ],
        "the paused bytes come again with the next chunk"
    );
    assert_eq!(
        debug_lines(&report, "on_response_body"),
        ["on_response_body 9 false", "on_response_body 9 true"]
    );
    assert_eq!(report["upstream_request"]["body"], "abcdefg");
    assert_eq!(report["client_response"]["body"], "data: 1\n\ndata: 2\n\n");

    let (code, report) = json_report(
        &conformance(),
        &[
            "-c",
            "chunks",
            "--log-level",
            "debug",
            "--body",
            "abcdefg",
            "--chunk-size",
            "3",
            "--trailer",
            "x-t: 1",
        ],
    );
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(
        debug_lines(&report, "on_request_body"),
        [
            "on_request_body 3 false",
            "on_request_body 3 false",
            "on_request_body 1 false"
        ],
        "trailers end the request, not the last chunk"
    );
    assert_eq!(report["upstream_request"]["body"], "abcdefg");

    let out = runner(&conformance(), &["--body", "a", "--body-chunk", "b"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--body-chunk"), "{}", out.stderr);
    let out = runner(&conformance(), &["--chunk-size", "0"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--chunk-size"), "{}", out.stderr);
}

#[test]
fn what_the_plugin_stored_with_set_property_and_set_envoy_filter_state_is_in_the_report() {
    // SetEnvoyFilterStateArguments {path: 1, value: 2}, as the conformance guest takes it in hex.
    let (key, value) = ("envoy.network.upstream_server_name", "backend.internal");
    let hex: String = [key, value]
        .iter()
        .zip([0x0a, 0x12])
        .flat_map(|(text, tag)| {
            let mut bytes = vec![tag, text.len() as u8];
            bytes.extend(text.bytes());
            bytes
        })
        .map(|b| format!("{b:02x}"))
        .collect();
    let config = format!("envoy-foreign set:tier:gold stream:set_envoy_filter_state:{hex}");
    let (code, report) = json_report(&conformance(), &["-c", &config]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(
        report["filter_state"],
        json!([{"path": ["tier"], "value": "gold", "value_base64": null}])
    );
    assert_eq!(
        report["envoy_filter_state"],
        json!([{"key": key, "value": value, "span": "filter_chain"}])
    );
    let out = runner(&conformance(), &["-c", &config]);
    for part in [
        "stored by the plugin:",
        "set_property tier: \"gold\"",
        "set_envoy_filter_state envoy.network.upstream_server_name: \"backend.internal\" (filter_chain)",
    ] {
        assert!(out.stdout.contains(part), "{part:?} in\n{}", out.stdout);
    }
    let (_, report) = json_report(&conformance(), &["-c", "plain"]);
    assert_eq!(report["filter_state"], json!([]));
    let (_, report) = json_report(&kinds_guest(), &["--kind", "service", "-c", "service"]);
    assert_eq!(report["filter_state"], Value::Null, "{report:#}");
}

#[test]
fn advancing_time_fires_ticks_and_times_out_a_grpc_call_with_unavailable() {
    let (code, report) = json_report(
        &conformance(),
        &[
            "-c",
            "ticker 100",
            "--advance-time",
            "350ms",
            "--log-level",
            "debug",
        ],
    );
    assert_eq!(code, Some(0), "{report:#}");
    let ticks = report["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["message"] == "root on_tick")
        .count();
    assert_eq!(ticks, 3, "{report:#}");
    assert_eq!(report["steps"][1]["time_advanced_ms"], 350);

    let out = runner(
        &conformance(),
        &[
            "-c",
            "grpc-call",
            "--advance-time",
            "2s",
            "--cluster",
            "grpc-upstream",
        ],
    );
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    for part in [
        "time advanced by 2s",
        "answer: timeout (14 Unavailable",
        "get_grpc_status (14, upstream request timeout)",
    ] {
        assert!(out.stdout.contains(part), "{part:?} in\n{}", out.stdout);
    }
}

#[test]
fn without_cluster_flags_every_name_is_taken_and_the_run_says_envoy_would_refuse_it() {
    let (code, report) = json_report(&conformance(), &["-c", "callout request"]);
    assert_eq!(code, Some(0), "{report:#}");
    let notes = report["notes"].to_string();
    for part in [
        "no --cluster given",
        "\\\"auth\\\"",
        "Envoy refuses a name its configuration lacks",
        "--cluster NAME",
    ] {
        assert!(notes.contains(part), "{part:?} in {notes}");
    }
}

#[test]
fn an_undeclared_cluster_is_refused_with_a_host_log_naming_it() {
    let (code, report) = json_report(
        &conformance(),
        &["-c", "callout request", "--cluster", "other"],
    );
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["callouts"], json!([]));
    let host: Vec<&Value> = report["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["origin"] == "host")
        .collect();
    assert_eq!(host.len(), 1, "{report:#}");
    let line = host[0]["message"].as_str().unwrap();
    assert!(
        line.contains("unknown cluster \"auth\"") && line.contains("--cluster 'auth'"),
        "{line}"
    );
    assert!(
        !report["notes"].to_string().contains("no --cluster given"),
        "{report:#}"
    );
}

#[test]
fn a_refused_dispatch_the_canarys_calls_and_a_failed_starts_metrics_are_in_the_report() {
    let (code, report) = json_report(&conformance(), &["-c", "grpc-call", "--cluster", "other"]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(
        report["refused_calls"],
        json!([{"function": "proxy_grpc_call", "context_id": 2, "upstream": "grpc-upstream",
                "service": "pkg.Echo", "method": "Say", "status": "ParseFailure"}])
    );
    assert_eq!(report["refused_calls_omitted"], 0);
    let out = runner(
        &conformance(),
        &["-c", "callout request", "--cluster", "other"],
    );
    assert!(
        out.stdout
            .contains("proxy_http_call from context 2 to \"auth\": BadArgument"),
        "{}",
        out.stdout
    );

    let (code, report) = json_report(
        &conformance(),
        &[
            "-c",
            "start-up",
            "--cluster",
            "auth",
            "--cluster",
            "grpc-upstream",
        ],
    );
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(
        report["canary_callouts"].as_array().unwrap().len(),
        1,
        "{report:#}"
    );
    assert_eq!(
        report["canary_callouts"][0]["headers"][1],
        json!([":path", "/config"])
    );
    assert_eq!(report["canary_grpc_calls"][0]["service"], "pkg.Keys");
    assert_eq!(
        report["canary_grpc_calls"][0]["messages_base64"],
        json!(["a2V5cwD/"])
    );
    assert_eq!(
        report["callouts"].as_array().unwrap().len(),
        1,
        "the worker's own: {report:#}"
    );

    let (code, report) = json_report(&conformance(), &["-c", "metrics then-fail"]);
    assert_eq!(code, Some(1), "{report:#}");
    let names: Vec<&str> = report["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(names.contains(&"requests_total"), "{report:#}");
}

#[test]
fn each_step_shows_what_the_filter_returned_and_what_envoy_did_with_it() {
    let (code, report) = json_report(&conformance(), &["-c", "local-reply request-headers"]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(
        report["steps"][0],
        json!({"callback": "on_request_headers", "action": "pause", "returned": 0,
               "envoy": "StopIteration after a local reply"})
    );
    // Unanswered, the callout keeps the request held: Envoy keeps the body for the filter and does not call it.
    let (code, report) = json_report(
        &conformance(),
        &[
            "-c",
            "callout request",
            "--body",
            "abc",
            "--cluster",
            "auth",
        ],
    );
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["steps"][0]["returned"], 1);
    assert_eq!(report["steps"][0]["envoy"], "StopAllIterationAndWatermark");
    assert_eq!(
        report["steps"][1],
        json!({"callback": "on_request_body", "action": "pause", "returned": null, "envoy": null})
    );
    assert_eq!(
        report["filter_callbacks"],
        json!([{"callback": "on_request_headers", "returned": 1, "envoy": "StopAllIterationAndWatermark"}])
    );
    let out = runner(&conformance(), &["-c", "local-reply request-headers"]);
    assert!(
        out.stdout.contains(
            "on_request_headers -> Pause (returned 0: StopIteration after a local reply)"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn a_held_request_is_reported_with_the_callback_that_holds_it() {
    let out = runner(&conformance(), &["-c", "callout request"]);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(
            "the filter holds the request (on_request_headers stopped iteration and the plugin did not resume it)"
        ),
        "{}",
        out.stdout
    );
}

/// The `property <phase> <path> = <value>` lines the conformance guest logged, as text.
fn property_lines(report: &Value) -> Vec<String> {
    report["logs"]
        .as_array()
        .unwrap_or_else(|| panic!("no logs: {report:#}"))
        .iter()
        .filter_map(|l| l["message"].as_str())
        .filter(|m| m.starts_with("property "))
        .map(str::to_string)
        .collect()
}

/// A file in the temporary directory, removed when dropped.
pub(super) struct Scratch(pub(super) PathBuf);

impl Scratch {
    pub(super) fn new(name: &str, text: &str) -> Scratch {
        let path =
            std::env::temp_dir().join(format!("proxy-wasm-run-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        Scratch(path)
    }

    pub(super) fn arg(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn properties_take_quoted_segments_typed_values_and_a_json_file() {
    let lua = "metadata/filter_metadata/envoy.filters.http.lua";
    let file = Scratch::new(
        "properties.json",
        r#"{"xds": {"node": {"id": "sidecar", "metadata": {"REPLICAS": 3}}},
            "metadata": {"filter_metadata": {"envoy.filters.http.lua": {"tier": "gold"}}}}"#,
    );
    let (code, report) = json_report(
        &conformance(),
        &[
            "-c",
            &format!(
                "properties {lua}/key {lua}/tier xds/node/id xds/node/metadata/REPLICAS connection/mtls \
                 upstream/cx_pool_ready_duration"
            ),
            "--properties",
            &format!("@{}", file.arg()),
            "--property",
            r#"metadata.filter_metadata."envoy.filters.http.lua".key=v"#,
            "--property",
            "connection.mtls=bool:true",
            "--property",
            "upstream.cx_pool_ready_duration=duration:250ms",
        ],
    );
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(
        property_lines(&report),
        [
            format!("property request-headers {lua}/key = v"),
            format!("property request-headers {lua}/tier = gold"),
            "property request-headers xds/node/id = sidecar".to_string(),
            // A JSON number in node metadata is a google.protobuf.Struct double.
            format!(
                "property request-headers xds/node/metadata/REPLICAS = 0x{}",
                3f64.to_le_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            ),
            "property request-headers connection/mtls = 0x01".to_string(),
            "property request-headers upstream/cx_pool_ready_duration = 0x80b2e60e00000000"
                .to_string(),
        ]
    );
}

#[test]
fn bad_property_flags_and_files_are_refused_with_the_reason() {
    let broken = Scratch::new("broken.json", r#"{"xds": {"node": "#);
    let list = Scratch::new("list.json", r#"["xds.node.id"]"#);
    let typed = Scratch::new("typed.json", r#"{"xds": {"node": {"cluster": 7}}}"#);
    let unknown = Scratch::new("unknown.json", r#"{"request": {"path": "/x"}}"#);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--property".into(), "connection.mtls=bool:yes".into()],
            "`bool:yes` is not a bool (true or false)",
        ),
        (
            vec!["--property".into(), "source.port=int:80x".into()],
            "`int:80x` is not an int (int64)",
        ),
        (
            vec!["--property".into(), r#"metadata."a.b=c"#.into()],
            "(a quote is not closed)",
        ),
        (
            vec!["--property".into(), "node.id=x".into()],
            "(the node is `xds.node.*`, not `node.*`)",
        ),
        (
            vec!["--property".into(), "xds.node.id=int:5".into()],
            "`xds.node.id` is a string in Envoy, not int",
        ),
        (
            vec![
                "--properties".into(),
                "@/nonexistent/properties.json".into(),
            ],
            "cannot read the file `/nonexistent/properties.json`",
        ),
        (vec!["--properties".into(), broken.arg()], "is not JSON"),
        (
            vec!["--properties".into(), list.arg()],
            "holds an array, not an object of path segments",
        ),
        (
            vec!["--properties".into(), typed.arg()],
            "`xds.node.cluster` is a string in Envoy, not int",
        ),
        (
            vec!["--properties".into(), unknown.arg()],
            "`request.path` comes from the request header `:path`",
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = runner(&conformance(), &args);
        assert_eq!(output.code, Some(2), "{args:?}: {}", output.stderr);
        assert!(
            output.stderr.contains(expected),
            "{args:?}: {}",
            output.stderr
        );
        assert!(!output.stderr.contains("panicked"), "{}", output.stderr);
    }
}

/// A module whose `on_vm_start` logs its whole WASI environment buffer (`KEY=VALUE\0…`).
const ENVIRONMENT_LOGGER: &str = r#"(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "malloc") (param i32) (result i32) (i32.const 8192))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    (drop (call $sizes (i32.const 100) (i32.const 104)))
    (drop (call $get (i32.const 200) (i32.const 1000)))
    (drop (call $log (i32.const 2) (i32.const 1000) (i32.load (i32.const 104))))
    (i32.const 1))
)"#;

/// `--fail` is Envoy's `failure_policy`, `--fail-open` its legacy `fail_open` (both together are refused, as Envoy
/// refuses them); `--env`/`--host-env` are the VM's environment variables. The report's logs say which VM (the
/// configuration canary runs `on_vm_start` before the worker's VM).
#[test]
fn the_failure_policy_and_the_environment_come_from_flags() {
    for policy in ["open", "reload", "closed"] {
        let (code, report) = json_report(
            &conformance(),
            &["-c", "none panic=on_request_headers", "--fail", policy],
        );
        assert_eq!(code, Some(3), "{policy}: {report:#}");
        assert_eq!(
            report["client_response"]["status"], 503,
            "{policy}: the stream the VM failed in gets the 503: {report:#}"
        );
    }
    let output = runner(
        &conformance(),
        &["-c", "none", "--fail-open", "--fail", "reload"],
    );
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    assert!(
        output
            .stderr
            .contains("only one of fail_open or failure_policy can be set"),
        "{}",
        output.stderr
    );

    let module =
        std::env::temp_dir().join(format!("proxy-wasm-run-env-{}.wasm", std::process::id()));
    std::fs::write(&module, wat::parse_str(ENVIRONMENT_LOGGER).unwrap()).unwrap();
    let (code, report) = json_report(
        &module,
        &[
            "--env",
            "B=2",
            "--env",
            "A=1",
            "--host-env",
            "CARGO_PKG_NAME",
        ],
    );
    let _ = std::fs::remove_file(&module);
    assert_eq!(code, Some(0), "{report:#}");
    let logs: Vec<(String, String)> = report["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["vm"].as_str().unwrap().to_string(),
                l["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let environment = "A=1\0B=2\0CARGO_PKG_NAME=runner\0".to_string();
    assert_eq!(
        logs,
        [
            ("canary".to_string(), environment.clone()),
            ("worker".to_string(), environment)
        ],
        "{report:#}"
    );
    let output = runner(&conformance(), &["--env", "NO_VALUE"]);
    assert_eq!(output.code, Some(2));
    assert!(
        output.stderr.contains("write `NAME=VALUE`"),
        "{}",
        output.stderr
    );
}

fn kinds_guest() -> PathBuf {
    guest_module("kinds-guest").unwrap_or_else(|e| panic!("{e:#}"))
}

/// The callbacks a report's steps name, in order.
fn callback_steps(report: &Value) -> Vec<String> {
    report["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps in {report}"))
        .iter()
        .filter_map(|s| {
            Some(format!(
                "{} -> {}",
                s["callback"].as_str()?,
                s["action"].as_str()?
            ))
        })
        .collect()
}

#[test]
fn a_tcp_run_plays_the_connection_from_flags_and_reports_what_each_end_received() {
    let dir = std::env::temp_dir().join(format!("runner-tcp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("more.bin");
    std::fs::write(&file, " and more").unwrap();
    let more = format!("@{}", file.display());
    let (code, report) = json_report(
        &kinds_guest(),
        &[
            "--kind",
            "tcp",
            "--config",
            "tcp route-by-source prefix-downstream=>>",
            "--source-address",
            "10.9.9.9:1000",
            "--downstream-data",
            "hello",
            "--downstream-data",
            &more,
            "--upstream-data",
            "back",
        ],
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["kind"], "tcp");
    assert_eq!(
        report["upstream_request"],
        json!({"body": ">>hello and more", "body_base64": null, "end_of_stream": true})
    );
    assert_eq!(
        report["client_response"],
        json!({"body": "back", "body_base64": null, "end_of_stream": true})
    );
    assert_eq!(
        report["connection"],
        json!({"upstream_cluster": "internal", "closed_by": "local", "close_reason": "both sides half-closed"})
    );
    assert_eq!(
        callback_steps(&report),
        [
            "on_new_connection -> continue",
            "on_downstream_data -> continue",
            "on_downstream_data -> continue",
            "on_upstream_data -> continue",
            "on_downstream_data (end of stream) -> continue",
            "on_upstream_data (end of stream) -> continue",
        ]
    );
}

#[test]
fn a_tcp_run_closes_in_the_order_asked() {
    let (_, report) = json_report(
        &kinds_guest(),
        &[
            "--kind",
            "tcp",
            "--config",
            "tcp",
            "--close",
            "upstream-first",
        ],
    );
    assert_eq!(report["connection"]["closed_by"], "remote", "{report:#}");
    let (_, report) = json_report(
        &kinds_guest(),
        &[
            "--kind",
            "tcp",
            "--config",
            "tcp",
            "--close",
            "upstream-reset",
        ],
    );
    assert_eq!(report["connection"]["close_reason"], "upstream reset");
    assert_eq!(report["client_response"]["end_of_stream"], false);
}

#[test]
fn a_tcp_run_held_by_the_filter_says_no_upstream_connected() {
    let out = runner(
        &kinds_guest(),
        &[
            "--kind",
            "tcp",
            "--config",
            "tcp stop-connection hold-downstream=100",
            "--downstream-data",
            "abc",
            "--upstream-data",
            "never",
        ],
    );
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(
            "the connection was still open after the close asked for (the filter holds a half-close, or no \
             upstream connected): the runner reset it from the client"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("the TCP proxy never connected upstream, so no upstream data was played"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("the upstream would receive: nothing"));
}

#[test]
fn a_service_runs_for_a_virtual_duration_and_its_ticks_fire() {
    let (code, report) = json_report(
        &kinds_guest(),
        &[
            "--kind",
            "service",
            "--config",
            "service tick=1000",
            "--run-for",
            "30s",
        ],
    );
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["kind"], "service");
    assert_eq!(report["ran_for_ms"], 30_000);
    assert_eq!(report["upstream_request"], Value::Null);
    assert_eq!(
        report["metrics"],
        json!([{"name": "service_ticks", "kind": "counter", "value": 30, "samples": []}])
    );
    let ticks = report["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["message"].as_str().unwrap_or("").starts_with("tick "))
        .count();
    assert_eq!(ticks, 30);
}

#[test]
fn a_module_run_as_the_wrong_kind_fails_and_the_run_says_which_kind_to_try() {
    let (code, report) = json_report(&kinds_guest(), &["--config", "tcp"]);
    assert_eq!(code, Some(3), "{report:#}");
    assert_eq!(report["kind"], "http");
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("the plugin failed as --kind http")
            && notes.contains("run it with --kind tcp (a network filter) or --kind service"),
        "{notes}"
    );
    let (code, report) = json_report(
        &kinds_guest(),
        &[
            "--kind",
            "tcp",
            "--config",
            "service",
            "--downstream-data",
            "x",
        ],
    );
    assert_eq!(code, Some(3), "{report:#}");
    assert!(
        report["notes"]
            .to_string()
            .contains("the plugin failed as --kind tcp"),
        "{report:#}"
    );
}

#[test]
fn flags_of_another_kind_are_refused_naming_the_kind_they_belong_to() {
    let out = runner(
        &kinds_guest(),
        &["--kind", "service", "--config", "service", "-H", "x-a: b"],
    );
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "a --kind service run has no use for --header (a --kind http flag): drop them, or give the --kind \
             they belong to"
        ),
        "{}",
        out.stderr
    );
    let out = runner(
        &kinds_guest(),
        &["--downstream-data", "x", "--run-for", "1s"],
    );
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "a --kind http run has no use for --downstream-data (a --kind tcp flag), --run-for (a --kind service flag)"
        ),
        "{}",
        out.stderr
    );
    let out = runner(
        &kinds_guest(),
        &["--kind", "tcp", "--source-address", "nowhere"],
    );
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .contains("`nowhere` is not an address: write IP:PORT"),
        "{}",
        out.stderr
    );
}

#[test]
fn for_runs_the_module_as_the_targets_envoy_and_the_report_says_which() {
    let (code, report) = json_report(
        &header_append(),
        &["--for", "istio-1.26", "-c", r#"{"x-a": "b"}"#],
    );
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["envoy"], "Envoy 1.34");
    let (_, report) = json_report(&header_append(), &["-c", r#"{"x-a": "b"}"#]);
    assert_eq!(
        report["envoy"],
        format!("Envoy 1.{}", envoy_targets::ENVOY_LATEST)
    );

    // A setting Envoy 1.34's configuration does not have: the start fails as Envoy's configuration would.
    let out = runner(
        &header_append(),
        &[
            "--for",
            "istio-1.26",
            "--allow-on-headers-stop-iteration",
            "-c",
            r#"{"x-a": "b"}"#,
        ],
    );
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(
            "Envoy 1.34's Wasm filter configuration has no `allow_on_headers_stop_iteration`"
        ),
        "{}",
        out.stderr
    );

    let out = runner(&header_append(), &["--for", "istio-2.0"]);
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("`istio-2.0` is not a target; use ossm-2.0"),
        "{}",
        out.stderr
    );
}
