//! Envoy's gRPC ext_authz protocol: the `CheckRequest` that Envoy's `CheckRequestUtils` builds (source and
//! destination addresses, request time, and the HTTP request: method, path, host, scheme, protocol, headers), and
//! the `CheckResponse` read the way `GrpcClientImpl::onSuccess` reads it.

use crate::config::Headers;
use crate::proto::{self, Value, Writer};
use crate::verdict::{Apply, HeaderChange, Request, Verdict, is_settable, text};

pub const SERVICE: &str = "envoy.service.auth.v3.Authorization";
pub const METHOD: &str = "Check";

/// The `CheckRequest` for `request`, its header map holding the headers `selected` (several values of one
/// header joined with `,`, as Envoy joins them).
pub fn check_request(request: &Request, selected: &Headers) -> Vec<u8> {
    let mut joined: Vec<(&str, String)> = Vec::new();
    for (name, value) in &request.headers {
        if !selected.includes(name) {
            continue;
        }
        let value = text(value);
        match joined.iter_mut().find(|(n, _)| n == name) {
            Some((_, existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            None => joined.push((name, value.into_owned())),
        }
    }
    let header = |name: &str| text(request.header(name).unwrap_or_default()).into_owned();
    let mut check = Writer::default();
    // CheckRequest.attributes
    check.message(1, |attributes| {
        // AttributeContext.source, .destination
        for (field, address) in [(1, &request.source), (2, &request.destination)] {
            if let Some((ip, port)) = address.as_deref().and_then(split_address) {
                attributes.message(field, |peer| {
                    // Peer.address → Address.socket_address → SocketAddress.address, .port_value
                    peer.message(1, |address| {
                        address.message(1, |socket| {
                            socket.bytes(2, ip.as_bytes());
                            socket.int(3, i64::from(port));
                        })
                    })
                });
            }
        }
        // AttributeContext.request
        attributes.message(4, |req| {
            // Request.time (google.protobuf.Timestamp)
            req.message(1, |time| {
                time.int(1, request.time.as_secs() as i64);
                time.int(2, i64::from(request.time.subsec_nanos()));
            });
            // Request.http (HttpRequest)
            req.message(2, |http| {
                http.bytes(1, header("x-request-id").as_bytes());
                http.bytes(2, header(":method").as_bytes());
                for (name, value) in &joined {
                    // map<string, string> headers: one entry message per key
                    http.message(3, |entry| {
                        entry.bytes(1, name.as_bytes());
                        entry.bytes(2, value.as_bytes());
                    });
                }
                http.bytes(4, header(":path").as_bytes());
                http.bytes(5, header(":authority").as_bytes());
                http.bytes(6, header(":scheme").as_bytes());
                http.bytes(
                    10,
                    text(request.protocol.as_deref().unwrap_or_default()).as_bytes(),
                );
            });
        });
    });
    check.into_bytes()
}

/// `10.0.0.1:5678` → (`10.0.0.1`, 5678); `[::1]:5678` → (`::1`, 5678).
fn split_address(address: &[u8]) -> Option<(String, u32)> {
    let address = std::str::from_utf8(address).ok()?;
    let (ip, port) = address.rsplit_once(':')?;
    let ip = ip
        .strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .unwrap_or(ip);
    Some((ip.to_owned(), port.parse().ok()?))
}

/// The decision in a `CheckResponse`: status OK allows with `ok_response`'s header changes (those `upstream`
/// names); an `error_response` is a failure; any other status denies, with `denied_response`'s status (403 when
/// it has none), headers and body.
pub fn verdict(message: &[u8], upstream: &Headers) -> Verdict {
    match read_response(message) {
        Ok(response) => response.into_verdict(upstream),
        Err(proto::Malformed) => Verdict::Failed(format!(
            "the service's CheckResponse ({} bytes) is not protobuf",
            message.len()
        )),
    }
}

#[derive(Default)]
struct Response<'a> {
    code: u64,
    denied: Option<&'a [u8]>,
    ok: Option<&'a [u8]>,
    error: bool,
}

fn read_response(message: &[u8]) -> Result<Response<'_>, proto::Malformed> {
    let mut response = Response::default();
    for field in proto::fields(message) {
        match field? {
            // status: google.rpc.Status { int32 code = 1 }
            (1, Value::Bytes(status)) => {
                for field in proto::fields(status) {
                    if let (1, Value::Int(code)) = field? {
                        response.code = code;
                    }
                }
            }
            (2, Value::Bytes(denied)) => response.denied = Some(denied),
            (3, Value::Bytes(ok)) => response.ok = Some(ok),
            (5, Value::Bytes(_)) => response.error = true,
            _ => {}
        }
    }
    Ok(response)
}

impl Response<'_> {
    fn into_verdict(self, upstream: &Headers) -> Verdict {
        if self.code == 0 {
            return match self.ok.map(|ok| read_ok(ok, upstream)).transpose() {
                Ok(Some((changes, remove))) => Verdict::Allow {
                    upstream: changes,
                    remove,
                },
                Ok(None) => Verdict::Allow {
                    upstream: Vec::new(),
                    remove: Vec::new(),
                },
                Err(proto::Malformed) => {
                    Verdict::Failed("the service's ok_response is not protobuf".into())
                }
            };
        }
        if self.error {
            return Verdict::Failed(format!(
                "the service answered an error_response (status {})",
                self.code
            ));
        }
        match self.denied.map(read_denied).transpose() {
            Ok(denied) => {
                let (status, headers, body) = denied.unwrap_or((0, Vec::new(), Vec::new()));
                Verdict::Deny {
                    status: match status {
                        100..=599 => status as u16,
                        _ => 403,
                    },
                    headers,
                    body,
                }
            }
            Err(proto::Malformed) => {
                Verdict::Failed("the service's denied_response is not protobuf".into())
            }
        }
    }
}

type Changes = (Vec<HeaderChange>, Vec<String>);

/// OkHttpResponse: headers = 2 (HeaderValueOption), headers_to_remove = 5.
fn read_ok(ok: &[u8], upstream: &Headers) -> Result<Changes, proto::Malformed> {
    let mut changes = Vec::new();
    let mut remove = Vec::new();
    for field in proto::fields(ok) {
        match field? {
            (2, Value::Bytes(option)) => {
                let change = read_header_option(option)?;
                if is_settable(&change.name) && upstream.includes(&change.name) {
                    changes.push(change);
                }
            }
            (5, Value::Bytes(name)) => {
                let name = text(name).to_ascii_lowercase();
                if is_settable(&name) {
                    remove.push(name);
                }
            }
            _ => {}
        }
    }
    Ok((changes, remove))
}

type Denied = (u64, Vec<(String, String)>, Vec<u8>);

/// DeniedHttpResponse: status = 1 (HttpStatus { code = 1 }), headers = 2, body = 3.
fn read_denied(denied: &[u8]) -> Result<Denied, proto::Malformed> {
    let mut status = 0;
    let mut headers = Vec::new();
    let mut body = Vec::new();
    for field in proto::fields(denied) {
        match field? {
            (1, Value::Bytes(http_status)) => {
                for field in proto::fields(http_status) {
                    if let (1, Value::Int(code)) = field? {
                        status = code;
                    }
                }
            }
            (2, Value::Bytes(option)) => {
                let change = read_header_option(option)?;
                if is_settable(&change.name) {
                    headers.push((change.name, text(&change.value).into_owned()));
                }
            }
            (3, Value::Bytes(text)) => body = text.to_vec(),
            _ => {}
        }
    }
    Ok((status, headers, body))
}

/// HeaderValueOption: header = 1 (HeaderValue { key = 1, value = 2, raw_value = 3 }), append = 2 (BoolValue),
/// append_action = 3. The deprecated `append`, when present, wins, as in Envoy.
fn read_header_option(option: &[u8]) -> Result<HeaderChange, proto::Malformed> {
    let mut name = String::new();
    let mut value = Vec::new();
    let mut append: Option<bool> = None;
    let mut action = 0;
    for field in proto::fields(option) {
        match field? {
            (1, Value::Bytes(header)) => {
                for field in proto::fields(header) {
                    match field? {
                        (1, Value::Bytes(key)) => name = text(key).to_ascii_lowercase(),
                        (2 | 3, Value::Bytes(bytes)) if value.is_empty() => value = bytes.to_vec(),
                        _ => {}
                    }
                }
            }
            (2, Value::Bytes(bool_value)) => {
                append = Some(false);
                for field in proto::fields(bool_value) {
                    if let (1, Value::Int(flag)) = field? {
                        append = Some(flag != 0);
                    }
                }
            }
            (3, Value::Int(code)) => action = code,
            _ => {}
        }
    }
    let how = match (append, action) {
        (Some(true), _) => Apply::Append,
        (Some(false), _) => Apply::Overwrite,
        (None, 1) => Apply::AddIfAbsent,
        (None, 2) => Apply::Overwrite,
        (None, 3) => Apply::OverwriteIfExists,
        // 0, and unknown actions (Envoy counts those invalid and overwrites)
        (None, 0) => Apply::Append,
        (None, _) => Apply::Overwrite,
    };
    Ok(HeaderChange { name, value, how })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(writer: &mut Writer, field: u32, name: &str, value: &str, action: i64) {
        writer.message(field, |option| {
            option.message(1, |header| {
                header.bytes(1, name.as_bytes());
                header.bytes(2, value.as_bytes());
            });
            option.int(3, action);
        });
    }

    #[test]
    fn status_ok_allows_with_the_header_changes_upstream_takes() {
        let mut response = Writer::default();
        response.message(1, |_| {});
        response.message(3, |ok| {
            option(ok, 2, "X-User", "alice", 2);
            option(ok, 2, "x-role", "admin", 0);
            option(ok, 2, ":path", "/evil", 2);
            ok.bytes(5, b"authorization");
        });
        let bytes = response.into_bytes();
        assert_eq!(
            verdict(&bytes, &Headers::All),
            Verdict::Allow {
                upstream: vec![
                    HeaderChange {
                        name: "x-user".into(),
                        value: b"alice".to_vec(),
                        how: Apply::Overwrite
                    },
                    HeaderChange {
                        name: "x-role".into(),
                        value: b"admin".to_vec(),
                        how: Apply::Append
                    },
                ],
                remove: vec!["authorization".into()],
            }
        );
        let only_user = verdict(&bytes, &Headers::Only(vec!["x-user".into()]));
        assert!(matches!(only_user, Verdict::Allow { upstream, .. } if upstream.len() == 1));
    }

    #[test]
    fn another_status_denies_with_the_services_answer_or_403() {
        let mut response = Writer::default();
        response.message(1, |status| status.int(1, 7));
        response.message(2, |denied| {
            denied.message(1, |status| status.int(1, 401));
            option(denied, 2, "www-authenticate", "Bearer", 0);
            denied.bytes(3, b"who are you?");
        });
        assert_eq!(
            verdict(&response.into_bytes(), &Headers::All),
            Verdict::Deny {
                status: 401,
                headers: vec![("www-authenticate".into(), "Bearer".into())],
                body: b"who are you?".to_vec(),
            }
        );
        let mut bare = Writer::default();
        bare.message(1, |status| status.int(1, 7));
        assert_eq!(
            verdict(&bare.into_bytes(), &Headers::All),
            Verdict::Deny {
                status: 403,
                headers: vec![],
                body: vec![]
            }
        );
    }

    #[test]
    fn an_error_response_or_garbage_is_a_failure() {
        let mut response = Writer::default();
        response.message(1, |status| status.int(1, 14));
        response.message(5, |_| {});
        assert!(matches!(
            verdict(&response.into_bytes(), &Headers::All),
            Verdict::Failed(_)
        ));
        assert!(matches!(
            verdict(b"\x0a\x09cut", &Headers::All),
            Verdict::Failed(_)
        ));
    }

    #[test]
    fn the_check_request_carries_the_request_and_its_peers() {
        let request = Request {
            headers: vec![
                (":method".into(), b"GET".to_vec()),
                (":path".into(), b"/a?b=1".to_vec()),
                ("x-tag".into(), b"one".to_vec()),
                ("x-tag".into(), b"two".to_vec()),
                ("cookie".into(), b"secret".to_vec()),
            ],
            source: Some(b"[::1]:5678".to_vec()),
            time: std::time::Duration::new(1_700_000_000, 5),
            ..Request::default()
        };
        let bytes = check_request(&request, &Headers::Only(vec!["x-tag".into()]));
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("\x0a\x05x-tag\x12\x07one,two"), "{text:?}");
        assert!(text.contains("/a?b=1") && text.contains("::1") && !text.contains("secret"));
    }
}
