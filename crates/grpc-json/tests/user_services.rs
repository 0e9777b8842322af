//! Services of a user's descriptor set (`protoc --include_imports -o FILE.pb`), added beside Envoy's.

use grpc_json::Services;
use prost::Message;
use prost_reflect::prost_types::{
    DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet,
    MethodDescriptorProto, ServiceDescriptorProto, field_descriptor_proto,
};
use serde_json::json;

/// `package pkg; message Ping { string text = 1; int64 count = 2; } service Echo { rpc Say(Ping) returns (Ping); }`,
/// as protoc writes it into a descriptor set, importing `deps`.
fn echo_file(deps: &[&str]) -> FileDescriptorProto {
    let field = |name: &str, number, kind: field_descriptor_proto::Type| FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        label: Some(field_descriptor_proto::Label::Optional as i32),
        r#type: Some(kind as i32),
        json_name: Some(name.into()),
        ..Default::default()
    };
    FileDescriptorProto {
        name: Some("pkg/echo.proto".into()),
        package: Some("pkg".into()),
        dependency: deps.iter().map(|d| d.to_string()).collect(),
        syntax: Some("proto3".into()),
        message_type: vec![DescriptorProto {
            name: Some("Ping".into()),
            field: vec![
                field("text", 1, field_descriptor_proto::Type::String),
                field("count", 2, field_descriptor_proto::Type::Int64),
            ],
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
    }
}

fn set(files: Vec<FileDescriptorProto>) -> Vec<u8> {
    FileDescriptorSet { file: files }.encode_to_vec()
}

#[test]
fn a_users_service_joins_envoys_and_its_messages_round_trip() {
    let mut services = Services::envoy();
    let added = services
        .add_descriptor_set(&set(vec![echo_file(&[])]))
        .unwrap();
    assert_eq!(added, vec!["pkg.Echo".to_owned()]);
    let say = services.method("pkg.Echo", "Say").expect("pkg.Echo/Say");
    let bytes = say
        .response()
        .from_json(r#"{"text": "hi", "count": 3}"#)
        .unwrap();
    assert_eq!(bytes, b"\x0a\x02hi\x10\x03", "protobuf's own wire format");
    assert_eq!(
        say.request().to_json(&bytes).unwrap(),
        json!({"text": "hi", "count": "3"})
    );
    assert!(
        services
            .method("envoy.service.auth.v3.Authorization", "Check")
            .is_some(),
        "Envoy's services stay"
    );
}

#[test]
fn a_set_without_its_imports_or_not_a_set_at_all_is_refused_with_the_fix() {
    let mut services = Services::envoy();
    let missing = services
        .add_descriptor_set(&set(vec![echo_file(&["pkg/missing.proto"])]))
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("pkg/missing.proto") && missing.contains("--include_imports"),
        "{missing}"
    );
    let garbage = services
        .add_descriptor_set(b"\xff\xff\xff")
        .unwrap_err()
        .to_string();
    assert!(
        garbage.contains("not a protobuf descriptor set") && garbage.contains("protoc"),
        "{garbage}"
    );
}

#[test]
fn a_set_that_repeats_files_envoys_services_hold_is_taken() {
    // protoc --include_imports writes google/protobuf/*.proto into every set that imports them.
    let mut services = Services::envoy();
    let envoy_file =
        FileDescriptorSet::decode(&include_bytes!("../descriptors/envoy-services.binpb")[..])
            .unwrap()
            .file
            .into_iter()
            .find(|f| f.name() == "google/protobuf/struct.proto")
            .expect("Envoy's set holds struct.proto");
    services
        .add_descriptor_set(&set(vec![
            envoy_file,
            echo_file(&["google/protobuf/struct.proto"]),
        ]))
        .unwrap();
    assert!(services.method("pkg.Echo", "Say").is_some());
}
