//! What passed the filter in one direction — the request the upstream would see, or the response the client would
//! see — with assertions that print the whole message when they fail.

use std::fmt;

use crate::envoy::{Headers, LocalReply};

/// A request as the upstream would receive it, or a response as the client would receive it.
#[derive(Debug, Clone)]
pub struct Message {
    /// "request the upstream would see" / "response the client would see".
    what: &'static str,
    /// `None` while no headers passed the filter (e.g. it paused them).
    pub headers: Option<Headers>,
    pub body: Vec<u8>,
    pub trailers: Option<Headers>,
    /// The message is complete (end of stream passed the filter).
    pub end_of_stream: bool,
    /// For responses: the local reply that produced it (by the plugin, or Envoy's 503 for a failed plugin).
    pub local_reply: Option<LocalReply>,
    /// The stream was reset (`proxy_close_stream`, or a local reply after the response had started).
    pub reset: Option<String>,
}

impl Message {
    pub(crate) fn new(
        what: &'static str,
        headers: Option<Headers>,
        body: Vec<u8>,
        trailers: Option<Headers>,
        end_of_stream: bool,
    ) -> Message {
        Message {
            what,
            headers,
            body,
            trailers,
            end_of_stream,
            local_reply: None,
            reset: None,
        }
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.as_ref()?.get(name)
    }

    /// Every value of header `name`, in order.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers
            .as_ref()
            .map(|h| h.get_all(name))
            .unwrap_or_default()
    }

    /// `:status` as a number (responses).
    pub fn status(&self) -> Option<u16> {
        self.header(":status")?.parse().ok()
    }

    /// The body as text (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Headers passed the filter.
    pub fn headers_sent(&self) -> bool {
        self.headers.is_some()
    }

    #[track_caller]
    pub fn assert_header(&self, name: &str, value: &str) -> &Message {
        let values = self.header_values(name);
        if values.first().map(String::as_str) != Some(value) {
            self.fail(&format!(
                "expected header `{name}: {value}`, found {values:?}"
            ));
        }
        self
    }

    /// Asserts every value of `name`, in order (multi-value headers).
    #[track_caller]
    pub fn assert_header_values(&self, name: &str, expected: &[&str]) -> &Message {
        let values = self.header_values(name);
        if values != expected {
            self.fail(&format!(
                "expected header `{name}` with values {expected:?}, found {values:?}"
            ));
        }
        self
    }

    #[track_caller]
    pub fn assert_no_header(&self, name: &str) -> &Message {
        let values = self.header_values(name);
        if !values.is_empty() {
            self.fail(&format!("expected no header `{name}`, found {values:?}"));
        }
        self
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Message {
        if self.status() != Some(status) {
            self.fail(&format!(
                "expected :status {status}, found {:?}",
                self.header(":status")
            ));
        }
        self
    }

    #[track_caller]
    pub fn assert_body(&self, body: impl AsRef<[u8]>) -> &Message {
        if self.body != body.as_ref() {
            self.fail(&format!(
                "expected body {:?}",
                String::from_utf8_lossy(body.as_ref())
            ));
        }
        self
    }

    #[track_caller]
    pub fn assert_trailer(&self, name: &str, value: &str) -> &Message {
        let found = self.trailers.as_ref().and_then(|t| t.get(name));
        if found != Some(value) {
            self.fail(&format!(
                "expected trailer `{name}: {value}`, found {found:?}"
            ));
        }
        self
    }

    /// Asserts headers passed the filter (the filter did not hold them).
    #[track_caller]
    pub fn assert_sent(&self) -> &Message {
        if self.headers.is_none() {
            self.fail("expected headers to have passed the filter, but it holds them (paused?)");
        }
        self
    }

    /// Asserts nothing passed the filter yet (it paused the headers, or a local reply ended the stream first).
    #[track_caller]
    pub fn assert_not_sent(&self) -> &Message {
        if self.headers.is_some() {
            self.fail("expected nothing to have passed the filter");
        }
        self
    }

    /// Asserts the message is complete (end of stream passed the filter).
    #[track_caller]
    pub fn assert_complete(&self) -> &Message {
        if !self.end_of_stream {
            self.fail("expected the complete message (end of stream) to have passed the filter");
        }
        self
    }

    #[track_caller]
    fn fail(&self, what: &str) -> ! {
        panic!("{what}\n\n{self}")
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the {}:", self.what)?;
        match &self.headers {
            None => writeln!(
                f,
                "headers: not sent (held by the filter, or never received)"
            )?,
            Some(headers) => write!(f, "headers:\n{headers}")?,
        }
        if self.body.is_empty() {
            writeln!(f, "body: empty")?;
        } else {
            writeln!(
                f,
                "body ({} bytes): {:?}",
                self.body.len(),
                String::from_utf8_lossy(&self.body)
            )?;
        }
        if let Some(trailers) = &self.trailers {
            write!(f, "trailers:\n{trailers}")?;
        }
        writeln!(
            f,
            "end of stream: {}",
            if self.end_of_stream { "yes" } else { "no" }
        )?;
        if let Some(reply) = &self.local_reply {
            writeln!(
                f,
                "local reply: {} (details {:?}, gRPC status {:?})",
                reply.status, reply.details, reply.grpc_status
            )?;
        }
        if let Some(reset) = &self.reset {
            writeln!(f, "stream reset: {reset}")?;
        }
        Ok(())
    }
}
