//! The `upstream` argument of `proxy_grpc_call`/`proxy_grpc_stream`, read as Envoy's `Context::grpcCall` reads it:
//! `GrpcService::ParseFromString` first, and only bytes that are not a serialized `envoy.config.core.v3.GrpcService`
//! are a cluster name. So the check is protobuf's wire format, not a guess at what looks like a name: most names
//! fail to parse (`a`..`z` start tags with wire types 1..7 whose lengths or groups do not add up), but a few short
//! ones parse as an empty message, and Envoy then has no target to call.

/// What the `upstream` bytes name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GrpcTarget {
    ClusterName(String),
    /// A `GrpcService` with `envoy_grpc.cluster_name`.
    EnvoyGrpc(String),
    /// A `GrpcService` with `google_grpc` (a target URI, no Envoy cluster).
    GoogleGrpc,
    /// A `GrpcService` without a target: Envoy cannot make a client for it.
    NoTarget,
}

// `GrpcService` field numbers: envoy_grpc 1, google_grpc 2 (both messages); EnvoyGrpc.cluster_name 1 (string).
const ENVOY_GRPC: u64 = 1;
const GOOGLE_GRPC: u64 = 2;
const CLUSTER_NAME: u64 = 1;

pub(crate) fn target(upstream: &[u8]) -> GrpcTarget {
    match grpc_service(upstream) {
        None => GrpcTarget::ClusterName(String::from_utf8_lossy(upstream).into_owned()),
        Some(Some(Target::Envoy(cluster))) => GrpcTarget::EnvoyGrpc(cluster),
        Some(Some(Target::Google)) => GrpcTarget::GoogleGrpc,
        Some(None) => GrpcTarget::NoTarget,
    }
}

enum Target {
    Envoy(String),
    Google,
}

/// `GrpcService::ParseFromString`: `None` if it fails, else the target (protobuf keeps the last member of a
/// oneof it reads).
fn grpc_service(bytes: &[u8]) -> Option<Option<Target>> {
    let mut target = None;
    for (number, value) in fields(bytes)? {
        match (number, value) {
            (ENVOY_GRPC, Value::Bytes(inner)) => {
                let mut cluster = String::new();
                for field in fields(inner)? {
                    if let (CLUSTER_NAME, Value::Bytes(name)) = field {
                        // A proto3 string must be UTF-8, or the parse fails.
                        cluster = std::str::from_utf8(name).ok()?.to_owned();
                    }
                }
                target = Some(Target::Envoy(cluster));
            }
            (GOOGLE_GRPC, Value::Bytes(inner)) => {
                fields(inner)?;
                target = Some(Target::Google);
            }
            _ => {}
        }
    }
    Some(target)
}

enum Value<'a> {
    Scalar,
    Bytes(&'a [u8]),
}

/// The fields of a wire-format message, or `None` where parsing fails (truncated values, wire types 6 and 7,
/// field number 0, unbalanced groups).
fn fields(mut bytes: &[u8]) -> Option<Vec<(u64, Value<'_>)>> {
    let mut fields = Vec::new();
    while !bytes.is_empty() {
        let tag = varint(&mut bytes)?;
        let (number, wire_type) = (tag >> 3, tag & 7);
        if number == 0 || number > u64::from(u32::MAX >> 3) {
            return None;
        }
        let value = match wire_type {
            0 => varint(&mut bytes).map(|_| Value::Scalar)?,
            1 => take(&mut bytes, 8).map(|_| Value::Scalar)?,
            2 => {
                let len = usize::try_from(varint(&mut bytes)?).ok()?;
                Value::Bytes(take(&mut bytes, len)?)
            }
            3 => {
                skip_group(&mut bytes, number, 1)?;
                Value::Scalar
            }
            5 => take(&mut bytes, 4).map(|_| Value::Scalar)?,
            // 4 (an end-group with no group open), 6 and 7: not a message.
            _ => return None,
        };
        fields.push((number, value));
    }
    Some(fields)
}

fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn take<'a>(bytes: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    if bytes.len() < len {
        return None;
    }
    let (taken, rest) = bytes.split_at(len);
    *bytes = rest;
    Some(taken)
}

/// Protobuf's default recursion limit: deeper nesting fails the parse (and cannot exhaust the host's stack).
const MAX_DEPTH: u32 = 100;

/// Skips a group's contents up to its end-group tag (which must carry the same field number).
fn skip_group(bytes: &mut &[u8], number: u64, depth: u32) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    loop {
        let tag = varint(bytes)?;
        let (inner, wire_type) = (tag >> 3, tag & 7);
        match wire_type {
            0 => {
                varint(bytes)?;
            }
            1 => {
                take(bytes, 8)?;
            }
            2 => {
                let len = usize::try_from(varint(bytes)?).ok()?;
                take(bytes, len)?;
            }
            3 => skip_group(bytes, inner, depth + 1)?,
            4 if inner == number => return Some(()),
            5 => {
                take(bytes, 4)?;
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_are_not_messages() {
        for name in [
            "grpc-upstream",
            "nowhere",
            "outbound|9000||authz.default.svc.cluster.local",
            "ext_authz",
        ] {
            assert_eq!(
                target(name.as_bytes()),
                GrpcTarget::ClusterName(name.into()),
                "{name}"
            );
        }
    }

    #[test]
    fn a_serialized_grpc_service_names_its_envoy_grpc_cluster() {
        // GrpcService { envoy_grpc: EnvoyGrpc { cluster_name: "authz" } }
        let mut bytes = vec![0x0a, 7, 0x0a, 5];
        bytes.extend_from_slice(b"authz");
        assert_eq!(target(&bytes), GrpcTarget::EnvoyGrpc("authz".into()));
        assert_eq!(target(&[0x12, 0]), GrpcTarget::GoogleGrpc);
    }

    #[test]
    fn groups_nested_past_protobufs_recursion_limit_do_not_parse() {
        // Field 1 start-group tags, each opening a group inside the last: a cluster name, not a stack overflow.
        let deep = vec![0x0b; 100_000];
        assert!(matches!(target(&deep), GrpcTarget::ClusterName(_)));
        let mut balanced = vec![0x0b; 3];
        balanced.extend_from_slice(&[0x0c; 3]);
        assert_eq!(target(&balanced), GrpcTarget::NoTarget);
    }

    #[test]
    fn the_empty_string_and_some_short_names_parse_as_a_service_without_target() {
        assert_eq!(target(b""), GrpcTarget::NoTarget);
        // 'h' is field 13 as a varint, '1' its value: a valid message with one unknown field.
        assert_eq!(target(b"h1"), GrpcTarget::NoTarget);
    }
}
