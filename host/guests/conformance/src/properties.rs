//! Scenario `properties [at=PHASE,…] [set=PATH] PATH…`: in each phase named by `at` (default `request-headers`),
//! stores `stored` with `set_property(PATH)` if `set=` is given, then reads every PATH with `get_property` and logs
//! `property <phase> <path> = <value>` (`none` for NotFound, `status N` for other statuses). Any other scenario
//! reads the paths given as `read=PATH` in the phases `at=` names. PATH segments are
//! separated by `/`, so a segment may contain dots: `metadata/filter_metadata/envoy.filters.http.lua/key`.
//!
//! Phases: `configure`, `tick` (the root sets a 100 ms tick), `root-callout` (the root dispatches to `auth` while
//! configuring and reads in its answer), `request-headers`, `request-body`, `response-headers`, `response-body`,
//! `callout-response` (the stream dispatches to `auth` from its request headers, reads in the answer, resumes) and
//! `log`.

use crate::{Scenario, note, raw, show, status};

impl Scenario {
    /// Scenario `properties` reads in `phase`.
    pub(crate) fn reads_properties_in(&self, phase: &str) -> bool {
        (self.is("properties") || self.value("read").is_some())
            && self
                .value("at")
                .unwrap_or("request-headers")
                .split(',')
                .any(|p| p == phase)
    }
}

/// Runs the scenario's `set=` and reads for `phase`, if it has any there.
pub(crate) fn visit(s: &Scenario, phase: &str) {
    if !s.reads_properties_in(phase) {
        return;
    }
    if let Some(path) = s.value("set") {
        let segments: Vec<&str> = path.split('/').collect();
        status(
            &format!("set_property {phase} {path}"),
            raw::set_property(&segments, b"stored"),
        );
    }
    let words = (0..).map_while(|i| s.arg(i));
    let paths = words.filter_map(|w| match w.strip_prefix("read=") {
        Some(path) => Some(path),
        None if s.is("properties") && !w.contains('=') && !crate::edits::is_edit(w) => Some(w),
        None => None,
    });
    for path in paths {
        let segments: Vec<&str> = path.split('/').collect();
        let (code, value) = raw::property(&segments);
        let shown = match code {
            0 => show(&value),
            1 => "none".to_string(),
            code => format!("status {code}"),
        };
        note(format!("property {phase} {path} = {shown}"));
    }
}
