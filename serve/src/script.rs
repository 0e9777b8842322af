//! A scripted cluster (`--cluster NAME=@FILE`): canned answers for the plugins' callouts to that cluster, so a
//! failure path can be tried without writing a server. The file is a JSON array; callout n gets answer n (the last
//! one repeats):
//!
//! ```json
//! [
//!   {"status": 200, "headers": {"x-user": "alice"}, "body": "ok", "delay_ms": 20},
//!   {"reset": true},
//!   {"timeout": true}
//! ]
//! ```
//!
//! `reset` fails the callout as a reset connection does; `timeout` never answers, so the callout's own timeout
//! fires (Envoy's router then answers it 504).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use host::testing::{Headers, HttpCallResponse};
use serde_json::Value;

/// What a scripted cluster does with one callout.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Respond {
        response: HttpCallResponse,
        delay: Duration,
    },
    Reset {
        delay: Duration,
    },
    Timeout,
}

/// A scripted cluster's answers and how many it gave, counted over every worker.
#[derive(Debug, Clone)]
pub struct Script {
    answers: Arc<Vec<Answer>>,
    given: Arc<AtomicUsize>,
}

impl Script {
    pub fn load(path: &Path) -> anyhow::Result<Script> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the cluster script {}", path.display()))?;
        Script::parse(&text).with_context(|| format!("cluster script {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Script> {
        let value: Value =
            serde_json::from_str(text).context("not JSON; give an array of answers")?;
        let Value::Array(items) = value else {
            bail!("give a JSON array of answers, e.g. [{{\"status\": 200, \"body\": \"ok\"}}]");
        };
        if items.is_empty() {
            bail!("the array has no answer; give at least one");
        }
        let answers = items
            .iter()
            .enumerate()
            .map(|(i, item)| answer(item).with_context(|| format!("answer {i}")))
            .collect::<anyhow::Result<_>>()?;
        Ok(Script {
            answers: Arc::new(answers),
            given: Arc::default(),
        })
    }

    /// The next callout's answer.
    pub fn next(&self) -> Answer {
        let n = self.given.fetch_add(1, Ordering::Relaxed);
        self.answers[n.min(self.answers.len() - 1)].clone()
    }
}

const KEYS: [&str; 6] = ["status", "headers", "body", "delay_ms", "reset", "timeout"];

fn answer(item: &Value) -> anyhow::Result<Answer> {
    let Value::Object(fields) = item else {
        bail!("an answer is an object such as {{\"status\": 200}}");
    };
    if let Some(unknown) = fields.keys().find(|k| !KEYS.contains(&k.as_str())) {
        bail!(
            "unknown field `{unknown}`; an answer has {}",
            KEYS.join(", ")
        );
    }
    let delay = match fields.get("delay_ms") {
        None => Duration::ZERO,
        Some(v) => Duration::from_millis(
            v.as_u64()
                .context("`delay_ms` is a whole number of milliseconds")?,
        ),
    };
    if fields.get("timeout") == Some(&Value::Bool(true)) {
        return Ok(Answer::Timeout);
    }
    if fields.get("reset") == Some(&Value::Bool(true)) {
        return Ok(Answer::Reset { delay });
    }
    let status = match fields.get("status") {
        Some(v) => v
            .as_u64()
            .filter(|s| (100..=999).contains(s))
            .context("`status` is an HTTP status code such as 200")?,
        None => bail!("give `status` (or `reset` or `timeout`: true)"),
    };
    let mut headers = Headers::new();
    headers.add(":status", status.to_string());
    if let Some(given) = fields.get("headers") {
        let Value::Object(given) = given else {
            bail!("`headers` is an object of names to values");
        };
        for (name, value) in given {
            let value = value
                .as_str()
                .with_context(|| format!("header `{name}` is not a string"))?;
            headers.add(name, value);
        }
    }
    let body = match fields.get("body") {
        None => Vec::new(),
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(_) => bail!("`body` is a string"),
    };
    Ok(Answer::Respond {
        response: HttpCallResponse {
            headers,
            body,
            trailers: Headers::new(),
        },
        delay,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_come_in_order_and_the_last_repeats() {
        let script = Script::parse(
            r#"[{"status": 201, "headers": {"x-a": "b"}, "body": "made"}, {"reset": true}]"#,
        )
        .unwrap();
        let Answer::Respond { response, .. } = script.next() else {
            panic!()
        };
        assert_eq!(response.headers.get(":status"), Some("201"));
        assert_eq!(response.headers.get("x-a"), Some("b"));
        assert_eq!(response.body, b"made");
        assert_eq!(
            script.next(),
            Answer::Reset {
                delay: Duration::ZERO
            }
        );
        assert_eq!(
            script.next(),
            Answer::Reset {
                delay: Duration::ZERO
            }
        );
    }

    #[test]
    fn a_bad_answer_is_named_by_position_and_field() {
        let error = format!(
            "{:#}",
            Script::parse(r#"[{"status": 200}, {"stauts": 500}]"#).unwrap_err()
        );
        assert!(
            error.contains("answer 1: unknown field `stauts`"),
            "{error}"
        );
        let error = format!("{:#}", Script::parse("[]").unwrap_err());
        assert!(error.contains("no answer"), "{error}");
    }
}
