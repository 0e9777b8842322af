//! Envoy's ext_authz and rate limit messages through the descriptors, checked against the prost structs that the
//! `envoy-types` crate generates from the same API: what the JSON encodes is what an Envoy-typed server or filter
//! reads, and what such a one sends is shown as JSON.

#[path = "../examples/regenerate_envoy_descriptors/descriptors.rs"]
mod descriptors;

use envoy_types::pb::envoy::config::core::v3::{HeaderValue, HeaderValueOption};
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::{
    RateLimitDescriptor, rate_limit_descriptor,
};
use envoy_types::pb::envoy::service::auth::v3::{
    AttributeContext, CheckRequest, CheckResponse, attribute_context, check_response,
};
use envoy_types::pb::envoy::service::ratelimit::v3::{
    RateLimitRequest, RateLimitResponse, rate_limit_response,
};
use grpc_json::{Method, Services};
use prost::Message;
use serde_json::json;

fn check() -> Method {
    Services::envoy()
        .method("envoy.service.auth.v3.Authorization", "Check")
        .expect("Envoy's Authorization/Check is known")
}

fn should_rate_limit() -> Method {
    Services::envoy()
        .method(
            "envoy.service.ratelimit.v3.RateLimitService",
            "ShouldRateLimit",
        )
        .expect("Envoy's RateLimitService/ShouldRateLimit is known")
}

#[test]
fn the_methods_name_envoys_message_types() {
    let check = check();
    assert_eq!(check.path(), "envoy.service.auth.v3.Authorization/Check");
    assert_eq!(check.request().name(), "envoy.service.auth.v3.CheckRequest");
    assert_eq!(
        check.response().name(),
        "envoy.service.auth.v3.CheckResponse"
    );
    let limit = should_rate_limit();
    assert_eq!(
        limit.response().name(),
        "envoy.service.ratelimit.v3.RateLimitResponse"
    );
    assert!(
        Services::envoy()
            .method("envoy.service.auth.v3.Authorization", "Nope")
            .is_none()
    );
    assert!(Services::envoy().method("pkg.Echo", "Say").is_none());
}

#[test]
fn an_allowing_check_response_in_json_is_what_envoys_types_read_and_round_trips() {
    let written = json!({
        "status": {"code": 0},
        "ok_response": {
            "headers": [{
                "header": {"key": "x-user", "value": "alice"},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"
            }],
            "headers_to_remove": ["authorization"]
        }
    });
    let bytes = check()
        .response()
        .from_json(&written.to_string())
        .expect("a CheckResponse");
    let read = CheckResponse::decode(bytes.as_slice()).expect("envoy-types reads it");
    assert_eq!(read.status.expect("a status").code, 0);
    let Some(check_response::HttpResponse::OkResponse(ok)) = read.http_response else {
        panic!("an ok_response, not {:?}", read.http_response);
    };
    assert_eq!(
        ok.headers,
        vec![HeaderValueOption {
            header: Some(HeaderValue {
                key: "x-user".into(),
                value: "alice".into(),
                ..Default::default()
            }),
            append_action: 2,
            ..Default::default()
        }]
    );
    assert_eq!(ok.headers_to_remove, vec!["authorization".to_owned()]);
    // Back to JSON: the same message (the default status code 0 is left out, as canonical JSON does).
    let shown = check().response().to_json(&bytes).unwrap();
    assert_eq!(shown["ok_response"], written["ok_response"]);
    assert_eq!(shown["status"], json!({}));
}

#[test]
fn a_denying_check_response_takes_camel_case_names_and_enum_names() {
    let bytes = check()
        .response()
        .from_json(
            r#"{"status": {"code": 7, "message": "no"},
                "deniedResponse": {"status": {"code": "Unauthorized"}, "body": "who are you?"}}"#,
        )
        .unwrap();
    let read = CheckResponse::decode(bytes.as_slice()).unwrap();
    assert_eq!(read.status.as_ref().map(|s| s.code), Some(7));
    let Some(check_response::HttpResponse::DeniedResponse(denied)) = read.http_response else {
        panic!("a denied_response, not {:?}", read.http_response);
    };
    assert_eq!(denied.status.map(|s| s.code), Some(401));
    assert_eq!(denied.body, "who are you?");
}

#[test]
fn a_rate_limit_response_in_json_is_what_envoys_types_read_and_round_trips() {
    let written = json!({
        "overall_code": "OVER_LIMIT",
        "statuses": [{
            "code": "OVER_LIMIT",
            "current_limit": {"requests_per_unit": 10, "unit": "MINUTE"},
            "duration_until_reset": "42s"
        }],
        "response_headers_to_add": [{"key": "x-ratelimit-limit", "value": "10"}]
    });
    let method = should_rate_limit();
    let bytes = method.response().from_json(&written.to_string()).unwrap();
    let read = RateLimitResponse::decode(bytes.as_slice()).unwrap();
    assert_eq!(
        read.overall_code,
        rate_limit_response::Code::OverLimit as i32
    );
    let status = &read.statuses[0];
    let limit = status.current_limit.as_ref().expect("a current_limit");
    assert_eq!(limit.requests_per_unit, 10);
    assert_eq!(
        limit.unit,
        rate_limit_response::rate_limit::Unit::Minute as i32
    );
    assert_eq!(status.duration_until_reset.map(|d| d.seconds), Some(42));
    assert_eq!(read.response_headers_to_add[0].key, "x-ratelimit-limit");
    assert_eq!(method.response().to_json(&bytes).unwrap(), written);
}

#[test]
fn a_check_request_from_envoys_types_is_shown_as_json() {
    let request = CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(attribute_context::Request {
                http: Some(attribute_context::HttpRequest {
                    id: "req-1".into(),
                    method: "POST".into(),
                    path: "/orders?id=7".into(),
                    host: "example.com".into(),
                    headers: [("x-user".to_owned(), "alice".to_owned())].into(),
                    size: 12,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
    };
    let shown = check().request().to_json(&request.encode_to_vec()).unwrap();
    assert_eq!(
        shown,
        json!({"attributes": {"request": {"http": {
            "id": "req-1",
            "method": "POST",
            "path": "/orders?id=7",
            "host": "example.com",
            "headers": {"x-user": "alice"},
            "size": "12"
        }}}})
    );
}

#[test]
fn a_rate_limit_request_from_envoys_types_is_shown_as_json() {
    let request = RateLimitRequest {
        domain: "edge".into(),
        descriptors: vec![RateLimitDescriptor {
            entries: vec![rate_limit_descriptor::Entry {
                key: "remote_address".into(),
                value: "10.0.0.2".into(),
            }],
            ..Default::default()
        }],
        hits_addend: 1,
    };
    let shown = should_rate_limit()
        .request()
        .to_json(&request.encode_to_vec())
        .unwrap();
    assert_eq!(
        shown,
        json!({
            "domain": "edge",
            "descriptors": [{"entries": [{"key": "remote_address", "value": "10.0.0.2"}]}],
            "hits_addend": 1
        })
    );
}

#[test]
fn bad_json_and_bad_bytes_are_refused_naming_the_message_and_the_fault() {
    let response = check().response();
    let unknown = response
        .from_json(r#"{"stauts": {"code": 0}}"#)
        .unwrap_err();
    assert!(
        unknown
            .to_string()
            .contains("envoy.service.auth.v3.CheckResponse")
            && unknown.to_string().contains("stauts"),
        "{unknown}"
    );
    let bad_enum = should_rate_limit()
        .response()
        .from_json(r#"{"overall_code": "TOO_MANY"}"#)
        .unwrap_err();
    assert!(bad_enum.to_string().contains("TOO_MANY"), "{bad_enum}");
    let not_json = response.from_json("{").unwrap_err();
    assert!(not_json.to_string().contains("line 1"), "{not_json}");
    let trailing = response.from_json("{} {}").unwrap_err();
    assert!(trailing.to_string().contains("trailing"), "{trailing}");
    // Field 1 (status) with wire type 7, which does not exist.
    let bytes = check().request().to_json(&[0x0f, 0x01]).unwrap_err();
    assert!(
        bytes
            .to_string()
            .contains("the 2 bytes are not a envoy.service.auth.v3.CheckRequest"),
        "{bytes}"
    );
}

/// The committed descriptors are Envoy's files as the `envoy-types` that `Cargo.lock` holds ships them: after
/// updating it, the regeneration must be run. The set is made here as the example makes it (the same module), not by
/// `cargo run` of the example, which would compile grpc-json's dependencies again with its features alone.
#[test]
fn the_committed_descriptors_are_those_of_the_locked_envoy_types() {
    let made = descriptors::envoy_services().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        made.files > 2,
        "the two services' files and their imports, not {} files",
        made.files
    );
    let committed = std::fs::read(descriptors::committed()).unwrap();
    assert!(committed == made.set, "{}", made.not_committed());
}
