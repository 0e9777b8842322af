//! `proxy-wasm-run` with gRPC messages as JSON: ext-authz (which calls Envoy's `Authorization/Check`) answered in
//! JSON and its `CheckRequest` shown decoded; a service of the user's own given with `--descriptor-set`.

use std::path::PathBuf;

use host::testing::extension_module;
use prost::Message;
use prost_types::{
    DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet,
    MethodDescriptorProto, ServiceDescriptorProto, field_descriptor_proto,
};

use super::runner::{Scratch, conformance, json_report, runner, values};

fn ext_authz() -> PathBuf {
    extension_module("ext-authz").unwrap_or_else(|e| panic!("{e:#}"))
}

const AUTHZ_CONFIG: &str = r#"{"protocol": "grpc", "cluster": "authz"}"#;

/// ext-authz on a POST by alice, with `answer` as the gRPC answer to its check.
fn authorize(answer: &str, more: &[&str]) -> Vec<String> {
    [
        "-c",
        AUTHZ_CONFIG,
        "--cluster",
        "authz",
        "-H",
        ":method: POST",
        "-H",
        ":path: /orders?id=7",
        "-H",
        "x-user: alice",
        "--grpc-response",
        answer,
    ]
    .iter()
    .chain(more)
    .map(|s| s.to_string())
    .collect()
}

fn args(owned: &[String]) -> Vec<&str> {
    owned.iter().map(String::as_str).collect()
}

#[test]
fn an_authorization_check_answered_in_json_lets_the_request_up_and_the_report_shows_both_messages()
{
    let answer = r#"0:json:{"status": {"code": 0}, "ok_response": {"headers": [{"header": {"key": "x-authz", "value": "checked"}}]}}"#;
    let (code, report) = json_report(&ext_authz(), &args(&authorize(answer, &[])));
    assert_eq!(code, Some(0), "{report:#}");
    let call = &report["grpc_calls"][0];
    assert_eq!(call["service"], "envoy.service.auth.v3.Authorization");
    assert_eq!(call["method"], "Check");
    let decoded = &call["decoded"];
    assert_eq!(
        decoded["request_type"], "envoy.service.auth.v3.CheckRequest",
        "{call:#}"
    );
    assert_eq!(
        decoded["response_type"],
        "envoy.service.auth.v3.CheckResponse"
    );
    let http = &decoded["messages"][0]["json"]["attributes"]["request"]["http"];
    assert_eq!(http["method"], "POST", "{call:#}");
    assert_eq!(http["path"], "/orders?id=7");
    assert_eq!(http["headers"]["x-user"], "alice");
    assert_eq!(
        decoded["answer"]["json"]["ok_response"]["headers"][0]["header"]["value"],
        "checked"
    );
    // The plugin read the encoded answer as Envoy's CheckResponse: its header went upstream.
    assert_eq!(
        values(&report["upstream_request"]["headers"], "x-authz"),
        ["checked"],
        "{report:#}"
    );
}

#[test]
fn a_denial_in_a_json_file_reaches_the_client_and_the_text_report_shows_the_check_request() {
    let denial = Scratch::new(
        "deny.json",
        r#"{"status": {"code": 7}, "denied_response": {"status": {"code": "Unauthorized"}, "body": "who are you?"}}"#,
    );
    let answer = format!("0:json:@{}", denial.arg());
    let (code, report) = json_report(&ext_authz(), &args(&authorize(&answer, &[])));
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["client_response"]["status"], 401, "{report:#}");
    assert_eq!(report["client_response"]["body"], "who are you?");

    let out = runner(&ext_authz(), &args(&authorize(&answer, &[])));
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    for shown in [
        "  message 1 as envoy.service.auth.v3.CheckRequest:\n",
        "\"method\": \"POST\"",
        "  answer message as envoy.service.auth.v3.CheckResponse:\n",
        "\"code\": \"Unauthorized\"",
    ] {
        assert!(out.stdout.contains(shown), "{shown:?} in:\n{}", out.stdout);
    }
}

#[test]
fn a_json_answer_that_is_not_the_methods_response_is_a_bad_command_line_naming_the_field() {
    let out = runner(
        &ext_authz(),
        &args(&authorize(r#"0:json:{"stauts": {"code": 0}}"#, &[])),
    );
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("--grpc-response 0:json:… cannot answer gRPC call ")
            && out
                .stderr
                .contains(" to envoy.service.auth.v3.Authorization/Check: ")
            && out
                .stderr
                .contains("not a envoy.service.auth.v3.CheckResponse in JSON")
            && out.stderr.contains("stauts"),
        "{}",
        out.stderr
    );

    let out = runner(&ext_authz(), &args(&authorize("14:json:{}", &[])));
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("only code 0 answers with a message"),
        "{}",
        out.stderr
    );
    let out = runner(&ext_authz(), &args(&authorize("0:json:{", &[])));
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("not JSON"), "{}", out.stderr);
}

/// `package pkg; message Ping { string text = 1; } service Echo { rpc Say(Ping) returns (Ping); }`, as
/// `protoc --include_imports -o` writes it.
fn echo_descriptor_set() -> Vec<u8> {
    let file = FileDescriptorProto {
        name: Some("pkg/echo.proto".into()),
        package: Some("pkg".into()),
        syntax: Some("proto3".into()),
        message_type: vec![DescriptorProto {
            name: Some("Ping".into()),
            field: vec![FieldDescriptorProto {
                name: Some("text".into()),
                number: Some(1),
                label: Some(field_descriptor_proto::Label::Optional as i32),
                r#type: Some(field_descriptor_proto::Type::String as i32),
                json_name: Some("text".into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        service: vec![ServiceDescriptorProto {
            name: Some("Echo".into()),
            method: vec![MethodDescriptorProto {
                name: Some("Say".into()),
                input_type: Some(".pkg.Ping".into()),
                output_type: Some(".pkg.Ping".into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    FileDescriptorSet { file: vec![file] }.encode_to_vec()
}

#[test]
fn a_users_service_is_answered_in_json_from_its_descriptor_set() {
    let set = Scratch::new("echo.pb", "");
    std::fs::write(&set.0, echo_descriptor_set()).unwrap();
    let common = ["-c", "grpc-call", "--cluster", "grpc-upstream"];

    // Without the descriptor set the runner cannot encode the answer, and says how to give it.
    let out = runner(
        &conformance(),
        &[
            &common[..],
            &["--grpc-response", r#"0:json:{"text": "pong"}"#],
        ]
        .concat(),
    );
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(
            "the runner does not know pkg.Echo/Say: give its descriptor set with --descriptor-set"
        ),
        "{}",
        out.stderr
    );

    let (code, report) = json_report(
        &conformance(),
        &[
            &common[..],
            &[
                "--grpc-response",
                r#"0:json:{"text": "pong"}"#,
                "--descriptor-set",
                &set.arg(),
            ],
        ]
        .concat(),
    );
    assert_eq!(code, Some(0), "{report:#}");
    let logs = report["logs"].to_string();
    assert!(
        logs.contains("status 0, message 0x0a04706f6e67"),
        "the guest read Ping {{text: \"pong\"}} in protobuf: {logs}"
    );
    let decoded = &report["grpc_calls"][0]["decoded"];
    assert_eq!(decoded["answer"]["json"]["text"], "pong", "{decoded:#}");
    // The guest sends the bytes "ping", which are no Ping: the report says so instead of inventing fields.
    let error = decoded["messages"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("the 4 bytes are not a pkg.Ping"),
        "{decoded:#}"
    );
}

#[test]
fn a_file_that_is_not_a_descriptor_set_is_refused_naming_it() {
    let bad = Scratch::new("not-a-set.pb", "\u{7f}\u{7f}\u{7f}");
    let out = runner(&conformance(), &["--descriptor-set", &bad.arg()]);
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(&bad.arg())
            && out.stderr.contains("not a protobuf descriptor set")
            && out.stderr.contains("protoc --include_imports"),
        "{}",
        out.stderr
    );
}
