//! gRPC messages as JSON, for people trying a filter that speaks to a gRPC service: the messages a plugin sends
//! are shown decoded, and answers are written as JSON and encoded with the service's real protobuf descriptors.
//!
//! [`Services::envoy`] knows Envoy's own services that filters call: `envoy.service.auth.v3.Authorization/Check`
//! (ext_authz) and `envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`. Their descriptors
//! (`descriptors/envoy-services.binpb`) come from Envoy's API as the `envoy-types` crate ships it; see the README.
//! Any other service is added from a descriptor set (`protoc --include_imports -o FILE.pb`).
//!
//! JSON follows protobuf's canonical mapping (prost-reflect's): both `snake_case` and `lowerCamelCase` field
//! names are read; 64-bit integers are shown as strings, enums by name, `bytes` in base64. Decoded messages show
//! the field names of the `.proto` files, as Envoy's documentation and YAML write them.

use std::fmt;

use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor, MethodDescriptor,
    SerializeOptions,
};

/// The descriptor set of Envoy's ext_authz and rate limit services and the files they import.
const ENVOY_SERVICES: &[u8] = include_bytes!("../descriptors/envoy-services.binpb");

/// Why a message could not be decoded or encoded, or a descriptor set read: a sentence naming what was at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// The gRPC services whose messages can be shown and written as JSON.
#[derive(Debug, Clone)]
pub struct Services {
    pool: DescriptorPool,
}

impl Default for Services {
    fn default() -> Self {
        Services::envoy()
    }
}

impl Services {
    /// Envoy's ext_authz (`Authorization/Check`) and rate limit (`RateLimitService/ShouldRateLimit`) services.
    pub fn envoy() -> Services {
        let pool = DescriptorPool::decode(ENVOY_SERVICES)
            .expect("descriptors/envoy-services.binpb is a complete descriptor set (tested)");
        Services { pool }
    }

    /// Adds the services of a serialized `FileDescriptorSet` that holds every file its files import
    /// (`protoc --include_imports -o FILE.pb`, `buf build -o FILE.pb`). Files it shares with those already known
    /// (`google/protobuf/*.proto`, Envoy's) are skipped. Returns the services it holds, by full name.
    pub fn add_descriptor_set(&mut self, bytes: &[u8]) -> Result<Vec<String>, Error> {
        let set = prost_reflect::prost_types::FileDescriptorSet::decode(bytes).map_err(|e| {
            Error(format!(
                "not a protobuf descriptor set ({e}): write one with `protoc --include_imports -o FILE.pb …`"
            ))
        })?;
        let services = set
            .file
            .iter()
            .flat_map(|f| {
                let package = f.package();
                f.service.iter().map(move |s| match package {
                    "" => s.name().to_owned(),
                    package => format!("{package}.{}", s.name()),
                })
            })
            .collect();
        self.pool.add_file_descriptor_set(set).map_err(|e| {
            Error(format!(
                "the descriptor set does not hold together ({e}): it must hold every file its files import \
                 (`protoc --include_imports`)"
            ))
        })?;
        Ok(services)
    }

    /// The method a plugin calls as `service` (full name, `envoy.service.auth.v3.Authorization`) and `method`
    /// (`Check`), if its service is known.
    pub fn method(&self, service: &str, method: &str) -> Option<Method> {
        self.pool
            .get_service_by_name(service)?
            .methods()
            .find(|m| m.name() == method)
            .map(|descriptor| Method { descriptor })
    }
}

/// One method of a known service: what it takes and what it answers.
#[derive(Debug, Clone)]
pub struct Method {
    descriptor: MethodDescriptor,
}

impl Method {
    /// `envoy.service.auth.v3.Authorization/Check`.
    pub fn path(&self) -> String {
        format!(
            "{}/{}",
            self.descriptor.parent_service().full_name(),
            self.descriptor.name()
        )
    }

    /// The request message (`envoy.service.auth.v3.CheckRequest`).
    pub fn request(&self) -> MessageType {
        MessageType(self.descriptor.input())
    }

    /// The response message (`envoy.service.auth.v3.CheckResponse`).
    pub fn response(&self) -> MessageType {
        MessageType(self.descriptor.output())
    }
}

/// A message type of a known service.
#[derive(Debug, Clone)]
pub struct MessageType(MessageDescriptor);

impl MessageType {
    /// The full name, `envoy.service.auth.v3.CheckResponse`.
    pub fn name(&self) -> &str {
        self.0.full_name()
    }

    /// The message in `bytes` (protobuf wire format) as JSON. Fields the descriptor does not know are left out.
    pub fn to_json(&self, bytes: &[u8]) -> Result<serde_json::Value, Error> {
        let message = DynamicMessage::decode(self.0.clone(), bytes).map_err(|e| {
            Error(format!(
                "the {} bytes are not a {} ({e})",
                bytes.len(),
                self.name()
            ))
        })?;
        let options = SerializeOptions::new().use_proto_field_name(true);
        message
            .serialize_with_options(serde_json::value::Serializer, &options)
            .map_err(|e| Error(format!("{} cannot be shown as JSON: {e}", self.name())))
    }

    /// The message `json` describes, in protobuf wire format. A field the message does not have is an error that
    /// names it.
    pub fn from_json(&self, json: &str) -> Result<Vec<u8>, Error> {
        let mut deserializer = serde_json::Deserializer::from_str(json);
        let message = DynamicMessage::deserialize_with_options(
            self.0.clone(),
            &mut deserializer,
            &DeserializeOptions::new(),
        )
        .and_then(|m| deserializer.end().map(|()| m))
        .map_err(|e| Error(format!("not a {} in JSON: {e}", self.name())))?;
        Ok(message.encode_to_vec())
    }
}
