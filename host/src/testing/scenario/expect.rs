//! A stream's expectations, read from the file, checked against what the player saw; each difference is a
//! [`Mismatch`] that shows what was expected and what happened.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use similar::{ChangeTag, TextDiff};

use super::file::{CallSpec, ExpectSpec, MessageSpec};
use crate::testing::play::{self, Run, Traffic};
use crate::testing::{Message, Plugin, printable_line};

/// What one expectation wanted and what the stream produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Which expectation: `status`, ``client header `x-a` ``, `upstream body`, `calls`…
    pub what: String,
    pub expected: String,
    pub got: String,
}

impl fmt::Display for Mismatch {
    /// One line each for short values; a line diff (`-` expected, `+` got) when either has several lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.expected.contains('\n') && !self.got.contains('\n') {
            return write!(
                f,
                "{}:\n  expected: {}\n  got:      {}",
                self.what, self.expected, self.got
            );
        }
        writeln!(f, "{} (- expected, + got):", self.what)?;
        let diff = TextDiff::from_lines(&self.expected, &self.got);
        for change in diff.iter_all_changes() {
            let sign = match change.tag() {
                ChangeTag::Delete => '-',
                ChangeTag::Insert => '+',
                ChangeTag::Equal => ' ',
            };
            writeln!(f, "  {sign} {}", change.value().trim_end_matches('\n'))?;
        }
        Ok(())
    }
}

/// [`ExpectSpec`] with its values parsed and files read.
#[derive(Debug)]
pub(super) struct Expect {
    status: Option<u16>,
    upstream: Option<MessageExpect>,
    client: Option<MessageExpect>,
    logs: Vec<String>,
    calls: Option<Vec<CallSpec>>,
    metrics: BTreeMap<String, i64>,
}

#[derive(Debug)]
struct MessageExpect {
    headers: Vec<(String, String)>,
    absent: Vec<String>,
    body: Option<Vec<u8>>,
}

impl ExpectSpec {
    pub fn read(&self, base: &Path) -> Result<Expect, String> {
        let message = |spec: &Option<MessageSpec>, side: &str| -> Result<_, String> {
            let Some(spec) = spec else { return Ok(None) };
            let headers = spec
                .headers
                .iter()
                .map(|h| play::values::header(h))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("`expect.{side}.headers`: {e}"))?;
            let body = spec
                .body
                .as_deref()
                .map(|b| play::values::text_or_file(b, base))
                .transpose()
                .map_err(|e| format!("`expect.{side}.body`: {e}"))?;
            Ok(Some(MessageExpect {
                headers,
                absent: spec.absent.iter().map(|n| n.to_ascii_lowercase()).collect(),
                body,
            }))
        };
        Ok(Expect {
            status: self.status,
            upstream: message(&self.upstream, "upstream")?,
            client: message(&self.client, "client")?,
            logs: self.logs.clone(),
            calls: self.calls.clone(),
            metrics: self.metrics.clone(),
        })
    }
}

impl Expect {
    /// Every expectation the stream did not meet, in the file's order of fields.
    pub fn check(&self, run: &Run, logs: &[String], plugin: &Plugin) -> Vec<Mismatch> {
        let mut out = Vec::new();
        let Traffic::Http { upstream, client } = &run.traffic else {
            unreachable!("scenario files play HTTP streams only (checked when read)")
        };
        if let Some(status) = self.status {
            let got = client.status();
            if got != Some(status) {
                out.push(Mismatch {
                    what: "status".into(),
                    expected: status.to_string(),
                    got: got.map_or("no response reached the client".into(), |s| s.to_string()),
                });
            }
        }
        if let Some(expect) = &self.upstream {
            expect.check("upstream request", upstream, &mut out);
        }
        if let Some(expect) = &self.client {
            expect.check("client response", client, &mut out);
        }
        for text in &self.logs {
            if !logs.iter().any(|l| l.contains(text.as_str())) {
                out.push(Mismatch {
                    what: "logs".into(),
                    expected: format!("a line containing {text:?}"),
                    got: if logs.is_empty() {
                        "no line".into()
                    } else {
                        logs.iter()
                            .map(|l| printable_line(l))
                            .collect::<Vec<_>>()
                            .join("\n")
                            + "\n"
                    },
                });
            }
        }
        if let Some(calls) = &self.calls {
            check_calls(calls, run, &mut out);
        }
        for (name, value) in &self.metrics {
            let got = plugin.metric(name).map(|m| m.value);
            if got != Some(*value) {
                out.push(Mismatch {
                    what: format!("metric `{name}`"),
                    expected: value.to_string(),
                    got: got.map_or("(no such metric)".into(), |v| v.to_string()),
                });
            }
        }
        out
    }
}

impl MessageExpect {
    fn check(&self, side: &str, message: &Message, out: &mut Vec<Mismatch>) {
        if !message.headers_sent() && (!self.headers.is_empty() || self.body.is_some()) {
            out.push(Mismatch {
                what: side.to_string(),
                expected: "sent, with the headers and body expected".into(),
                got: "never sent (the notes say why)".into(),
            });
            return;
        }
        for (name, value) in &self.headers {
            let values = message.header_values(name);
            if !values.contains(value) {
                out.push(Mismatch {
                    what: format!("{side} header `{name}`"),
                    expected: format!("{value:?}"),
                    got: shown_values(&values),
                });
            }
        }
        for name in &self.absent {
            let values = message.header_values(name);
            if !values.is_empty() {
                out.push(Mismatch {
                    what: format!("{side} header `{name}`"),
                    expected: "(absent)".into(),
                    got: shown_values(&values),
                });
            }
        }
        if let Some(body) = &self.body
            && body != &message.body
        {
            out.push(Mismatch {
                what: format!("{side} body"),
                expected: shown_body(body),
                got: shown_body(&message.body),
            });
        }
    }
}

fn shown_values(values: &[String]) -> String {
    match values {
        [] => "(absent)".into(),
        [one] => format!("{:?}", printable_line(one)),
        several => several
            .iter()
            .map(|v| format!("{:?}", printable_line(v)))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Text as it is when it has several lines (for the line diff), quoted on one line, or base64 when not UTF-8.
fn shown_body(body: &[u8]) -> String {
    match std::str::from_utf8(body) {
        Ok(text) if text.contains('\n') => crate::testing::printable(text).into_owned(),
        Ok(text) => format!("{:?}", printable_line(text)),
        Err(_) => {
            use base64::Engine;
            format!(
                "base64:{}",
                base64::engine::general_purpose::STANDARD.encode(body)
            )
        }
    }
}

/// The calls dispatched during the stream, in dispatch order, against the list expected.
fn check_calls(expected: &[CallSpec], run: &Run, out: &mut Vec<Mismatch>) {
    let mut made: Vec<(u64, Made)> = run
        .callouts
        .iter()
        .map(|(c, _)| {
            (
                c.dispatch_index(),
                Made {
                    cluster: c.cluster.clone(),
                    path: c.headers.get(":path").map(str::to_owned),
                    method: c.headers.get(":method").map(str::to_owned),
                    grpc: None,
                },
            )
        })
        .chain(run.grpc_calls.iter().map(|(c, _)| {
            (
                c.dispatch_index(),
                Made {
                    cluster: c.upstream.clone(),
                    path: None,
                    method: None,
                    grpc: Some(format!("{}/{}", c.service, c.method)),
                },
            )
        }))
        .collect();
    made.sort_by_key(|(index, _)| *index);
    let matches =
        made.len() == expected.len() && made.iter().zip(expected).all(|((_, m), e)| m.matches(e));
    if !matches {
        let list = |items: Vec<String>| {
            if items.is_empty() {
                "(none)".into()
            } else {
                items.join("\n") + "\n"
            }
        };
        out.push(Mismatch {
            what: "calls".into(),
            expected: list(expected.iter().map(shown_spec).collect()),
            got: list(made.iter().map(|(_, m)| m.to_string()).collect()),
        });
    }
}

struct Made {
    cluster: String,
    path: Option<String>,
    method: Option<String>,
    grpc: Option<String>,
}

impl Made {
    /// Each field the expectation gives is the call's.
    fn matches(&self, spec: &CallSpec) -> bool {
        let same = |want: &Option<String>, got: &Option<String>| want.is_none() || want == got;
        spec.cluster == self.cluster
            && same(&spec.path, &self.path)
            && same(&spec.method, &self.method)
            && same(&spec.grpc, &self.grpc)
            && (spec.grpc.is_none() || self.grpc.is_some())
            && (spec.grpc.is_some() || self.grpc.is_none())
    }
}

impl fmt::Display for Made {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cluster = printable_line(&self.cluster);
        match &self.grpc {
            Some(grpc) => write!(f, "gRPC {} to {cluster:?}", printable_line(grpc)),
            None => write!(
                f,
                "HTTP {} {} to {cluster:?}",
                self.method.as_deref().map_or("".into(), printable_line),
                self.path.as_deref().map_or("".into(), printable_line),
            ),
        }
    }
}

fn shown_spec(spec: &CallSpec) -> String {
    match &spec.grpc {
        Some(grpc) => format!("gRPC {grpc} to {:?}", spec.cluster),
        None => format!(
            "HTTP {} {} to {:?}",
            spec.method.as_deref().unwrap_or("(any method)"),
            spec.path.as_deref().unwrap_or("(any path)"),
            spec.cluster
        ),
    }
}
