//! Envoy's HTTP ext_authz protocol (`RawHttpClientImpl`): the check is the request's own method and path (behind
//! the path prefix), host and `authorization` header plus the headers configured, without a body; 200 allows,
//! a 5xx or no answer is a failure, any other status denies with the service's status, headers and body.

use crate::config::{Config, Headers};
use crate::verdict::{Apply, HeaderChange, Request, Verdict, is_settable, text};

/// Headers Envoy always sends to an HTTP authorization service.
const ALWAYS: [&str; 4] = [":method", ":path", ":authority", "authorization"];

/// The headers of the check: every value of each header sent, `:path` behind the prefix.
pub fn check_headers(request: &Request, config: &Config) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    for (name, value) in &request.headers {
        let wanted = ALWAYS.contains(&name.as_str())
            || (!name.starts_with(':') && config.request_headers.includes(name));
        if !wanted || name == "content-length" {
            continue;
        }
        let value = text(value);
        let value = if name == ":path" {
            format!("{}{value}", config.path_prefix)
        } else {
            value.into_owned()
        };
        headers.push((name.clone(), value));
    }
    headers.push(("content-length".into(), "0".into()));
    headers
}

/// The service's answer: its headers (`:status` among them) and body.
pub type Answer = (Vec<(String, Vec<u8>)>, Vec<u8>);

/// The decision in the service's answer; `None` when the call failed without one (reset, no healthy host).
pub fn verdict(answer: Option<Answer>, upstream: &Headers) -> Verdict {
    let Some((headers, body)) = answer else {
        return Verdict::Failed(
            "the call failed without an answer (reset or no healthy host)".into(),
        );
    };
    let status = headers
        .iter()
        .find(|(name, _)| name == ":status")
        .and_then(|(_, value)| std::str::from_utf8(value).ok()?.parse::<u16>().ok());
    match status {
        None => Verdict::Failed("the answer has no valid :status".into()),
        Some(code @ 500..=599) => Verdict::Failed(format!(
            "the service answered {code}{}",
            if code == 504 { " (timed out?)" } else { "" }
        )),
        Some(200) => {
            let removals = headers
                .iter()
                .filter(|(name, _)| name == "x-envoy-auth-headers-to-remove")
                .flat_map(|(_, value)| {
                    text(value)
                        .split(',')
                        .map(|n| n.trim().to_ascii_lowercase())
                        .collect::<Vec<_>>()
                })
                .filter(|name| is_settable(name))
                .collect();
            Verdict::Allow {
                upstream: headers
                    .into_iter()
                    .filter(|(name, _)| {
                        is_settable(name)
                            && upstream.includes(name)
                            && name != "x-envoy-auth-headers-to-remove"
                    })
                    .map(|(name, value)| HeaderChange {
                        name,
                        value,
                        how: Apply::Overwrite,
                    })
                    .collect(),
                remove: removals,
            }
        }
        Some(status) => Verdict::Deny {
            status,
            // Envoy passes every header of the answer but Host to the client; the proxy frames the body itself.
            headers: headers
                .into_iter()
                .filter(|(name, _)| is_settable(name) && name != "x-envoy-auth-headers-to-remove")
                .map(|(name, value)| (name, text(&value).into_owned()))
                .collect(),
            body,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: &str, more: &[(&str, &str)], body: &str) -> Option<Answer> {
        let mut headers = vec![(":status".to_string(), status.as_bytes().to_vec())];
        headers.extend(
            more.iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())),
        );
        Some((headers, body.as_bytes().to_vec()))
    }

    #[test]
    fn two_hundred_allows_with_the_configured_headers_only() {
        let upstream = Headers::Only(vec!["x-user-id".into()]);
        let verdict = verdict(
            answer(
                "200",
                &[
                    ("x-user-id", "7"),
                    ("x-other", "no"),
                    ("x-envoy-auth-headers-to-remove", "cookie, x-debug"),
                ],
                "",
            ),
            &upstream,
        );
        assert_eq!(
            verdict,
            Verdict::Allow {
                upstream: vec![HeaderChange {
                    name: "x-user-id".into(),
                    value: b"7".to_vec(),
                    how: Apply::Overwrite
                }],
                remove: vec!["cookie".into(), "x-debug".into()],
            }
        );
    }

    #[test]
    fn other_answers_deny_and_5xx_or_none_fail() {
        let denied = verdict(
            answer(
                "401",
                &[("www-authenticate", "Basic"), ("content-length", "2")],
                "no",
            ),
            &Headers::All,
        );
        assert_eq!(
            denied,
            Verdict::Deny {
                status: 401,
                headers: vec![("www-authenticate".into(), "Basic".into())],
                body: b"no".to_vec()
            }
        );
        assert!(matches!(
            verdict(
                answer("504", &[], "upstream request timeout"),
                &Headers::All
            ),
            Verdict::Failed(_)
        ));
        assert!(matches!(verdict(None, &Headers::All), Verdict::Failed(_)));
        assert!(matches!(
            verdict(answer("x", &[], ""), &Headers::All),
            Verdict::Failed(_)
        ));
    }
}
