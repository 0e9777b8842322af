//! One line per request on stdout, in the shape of Envoy's default access log format.

use std::time::{Instant, SystemTime};

use host::testing::Headers;
use hyper::Version;

pub struct AccessLog {
    start_time: SystemTime,
    started: Instant,
    method: String,
    path: String,
    protocol: &'static str,
    user_agent: Option<String>,
    request_id: Option<String>,
    authority: Option<String>,
    forwarded_for: Option<String>,
    pub status: Option<String>,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub upstream: Option<String>,
    flags: Vec<&'static str>,
}

impl AccessLog {
    pub fn start(
        request: &Headers,
        version: Version,
        start_time: SystemTime,
        started: Instant,
    ) -> AccessLog {
        let get = |name: &str| request.get(name).map(str::to_owned);
        AccessLog {
            start_time,
            started,
            method: get(":method").unwrap_or_default(),
            path: get(":path").unwrap_or_default(),
            protocol: match version {
                Version::HTTP_2 => "HTTP/2",
                Version::HTTP_10 => "HTTP/1.0",
                _ => "HTTP/1.1",
            },
            user_agent: get("user-agent"),
            request_id: get("x-request-id"),
            authority: get(":authority"),
            forwarded_for: get("x-forwarded-for"),
            status: None,
            bytes_received: 0,
            bytes_sent: 0,
            upstream: None,
            flags: Vec::new(),
        }
    }

    /// One of Envoy's response flags (UF upstream connection failure, UT upstream timeout, DC downstream
    /// disconnect, UR upstream reset, LR local reset).
    pub fn flag(&mut self, flag: &'static str) {
        if !self.flags.contains(&flag) {
            self.flags.push(flag);
        }
    }

    /// A flag for a cause no other flag names.
    pub fn flag_unless_flagged(&mut self, flag: &'static str) {
        if self.flags.is_empty() {
            self.flags.push(flag);
        }
    }

    pub fn line(&self, now: Instant) -> String {
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
        let flags = match self.flags.is_empty() {
            true => "-".to_owned(),
            false => self.flags.join(","),
        };
        format!(
            "[{}] \"{} {} {}\" {} {} {} {} {} - \"{}\" \"{}\" \"{}\" \"{}\" \"{}\"",
            rfc3339_millis(self.start_time),
            self.method,
            self.path,
            self.protocol,
            self.status.clone().unwrap_or_else(|| "0".to_owned()),
            flags,
            self.bytes_received,
            self.bytes_sent,
            (now - self.started).as_millis(),
            dash(&self.forwarded_for),
            dash(&self.user_agent),
            dash(&self.request_id),
            dash(&self.authority),
            dash(&self.upstream),
        )
    }

    pub fn print(&self, now: Instant) {
        println!("{}", self.line(now));
    }
}

/// `2026-12-07T03:04:05.678Z`, as Envoy's `%START_TIME%`.
pub fn rfc3339_millis(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn start_time_is_utc_with_milliseconds() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_612_645_678);
        assert_eq!(rfc3339_millis(t), "2026-12-07T03:04:05.678Z");
    }
}
