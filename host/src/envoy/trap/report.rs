//! A trap, explained: built once where the host learns of it, shown by the test API, the runner, serve and fuzz.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use wasmtime::{Trap, WasmBacktrace};

use super::names::{FunctionNames, NamesSource};
use crate::envoy::{BudgetExceeded, LogEntry};
use crate::spec::{LogLevel, Status};

/// How many of a callback's host calls a report lists: the last ones are what the guest was acting on.
const RECENT_CALLS: usize = 4;

/// A trap of the guest, with what it was doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrapReport {
    /// The guest function the host had called: a callback export (`proxy_on_request_headers`) or a start function.
    pub callback: String,
    pub kind: TrapKind,
    /// What stopped it: the wasm trap (`wasm \`unreachable\` instruction executed`: a Rust panic with
    /// `panic = "abort"` ends there), the host's reason when a host call stopped it, the deadline or the budget.
    pub cause: String,
    /// The last host calls the guest made in that callback, oldest first, with what each returned (`proxy_log` left
    /// out: the panic hook makes one before every trap of a panic).
    pub host_calls: Vec<HostCallAnswer>,
    /// The panic message, as the SDK's panic hook logged it at critical before the trap (`panicked at FILE:LINE:COL:
    /// MESSAGE`). proxy-wasm's Rust SDK installs the hook in `proxy_wasm::set_log_level`; without that call a panic
    /// logs nothing.
    pub panic: Option<String>,
    /// The guest's stack, innermost frame first.
    pub frames: Vec<TrapFrame>,
    /// Where the frames' names come from, or why they have none.
    pub names: NamesSource,
}

/// What stopped the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrapKind {
    /// A wasm trap (a Rust panic, an out-of-bounds access…), or a host call that stops the guest.
    Trapped,
    /// The per-call deadline: the guest ran too long.
    Deadline,
    /// The host's byte budget for what it holds for the plugin.
    OverBudget,
}

/// One frame of a trap's backtrace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrapFrame {
    /// The function's index in the module (what Envoy prints).
    pub index: u32,
    /// The Rust function, demangled (`proxy_wasm::hostcalls::get_map_value`), when names are known.
    pub function: Option<String>,
}

/// A host call the guest made and what the host answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCallAnswer {
    pub name: &'static str,
    /// The status returned; `None` when the host call itself stopped the guest.
    pub status: Option<Status>,
}

impl TrapReport {
    /// The report of `error`, raised while `callback` ran.
    pub(crate) fn new(
        callback: &str,
        error: &wasmtime::Error,
        call_deadline: Duration,
        calls: &RecentCalls,
        logs: &[LogEntry],
        names: &FunctionNames,
    ) -> TrapReport {
        let (kind, cause) = if let Some(exceeded) = error.downcast_ref::<BudgetExceeded>() {
            (TrapKind::OverBudget, exceeded.to_string())
        } else {
            match error.downcast_ref::<Trap>() {
                Some(Trap::Interrupt) => (
                    TrapKind::Deadline,
                    format!(
                        "exceeded the {call_deadline:?} deadline for one guest call (stuck in a loop?)"
                    ),
                ),
                Some(trap) => (TrapKind::Trapped, trap.to_string()),
                None => (TrapKind::Trapped, format!("{:#}", error.root_cause())),
            }
        };
        let frames = error
            .downcast_ref::<WasmBacktrace>()
            .map(|trace| {
                trace
                    .frames()
                    .iter()
                    .map(|frame| TrapFrame {
                        index: frame.func_index(),
                        function: names.name(frame.func_index()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let panic = logs
            .get(calls.logs_before..)
            .unwrap_or_default()
            .iter()
            .rev()
            .find(|l| l.level == LogLevel::Critical)
            .map(|l| l.message.clone());
        TrapReport {
            callback: callback.to_owned(),
            kind,
            cause,
            host_calls: calls.calls.iter().cloned().collect(),
            panic,
            frames,
            names: names.source().clone(),
        }
    }

    /// The host call whose answer the guest was acting on: its last one (logging is not counted: the panic hook
    /// logs the message itself).
    pub fn answering(&self) -> Option<&HostCallAnswer> {
        self.host_calls.last()
    }

    /// The innermost named frame outside the panic machinery (std, core, alloc, the SDK's hook): the function
    /// that panicked or trapped.
    pub fn culprit(&self) -> Option<&str> {
        const MACHINERY: [&str; 6] = [
            "std::",
            "core::",
            "alloc::",
            "__rust",
            "rust_begin_unwind",
            "proxy_wasm::logger::",
        ];
        self.frames
            .iter()
            .filter_map(|f| f.function.as_deref())
            .find(|name| {
                !MACHINERY
                    .iter()
                    .any(|m| name.starts_with(m) || name.starts_with(&format!("<{m}")))
            })
    }
}

impl fmt::Display for TrapReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (callback, cause) = (&self.callback, &self.cause);
        match self.kind {
            TrapKind::Trapped => write!(f, "{callback} trapped: {cause}")?,
            TrapKind::Deadline => write!(f, "{callback} {cause} and was stopped")?,
            TrapKind::OverBudget => write!(f, "{callback} was stopped: {cause}")?,
        }
        if let Some(panic) = &self.panic {
            write!(f, "\npanic: {}", panic.replace('\n', "\n       "))?;
        }
        if let Some(culprit) = self.culprit() {
            write!(f, "\nin: {culprit}")?;
        }
        match self.answering() {
            Some(call) => write!(
                f,
                "\nanswering: {call} (the guest's last host call before the trap)"
            )?,
            None => write!(
                f,
                "\nanswering: no host call (the guest made none but logging in {} before the trap)",
                self.callback
            )?,
        }
        if !self.frames.is_empty() {
            write!(f, "\nbacktrace ({}):", self.names)?;
            for (i, frame) in self.frames.iter().enumerate() {
                write!(
                    f,
                    "\n  {i:>2}: wasm function {}{}",
                    frame.index,
                    frame
                        .function
                        .as_deref()
                        .map(|n| format!(": {n}"))
                        .unwrap_or_default()
                )?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for HostCallAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(f, "{} returned {status:?}", self.name),
            None => write!(f, "{} stopped the guest", self.name),
        }
    }
}

/// The host calls of the callback running now (the last few, `proxy_log` not counted), and where its log lines
/// start.
#[derive(Debug, Default)]
pub(crate) struct RecentCalls {
    calls: VecDeque<HostCallAnswer>,
    logs_before: usize,
}

impl RecentCalls {
    /// A callback starts: nothing called yet; its log lines are those after the first `logs` ones.
    pub(crate) fn begin(&mut self, logs: usize) {
        self.calls.clear();
        self.logs_before = logs;
    }

    pub(crate) fn record(&mut self, name: &'static str, status: Option<Status>) {
        if self.calls.len() == RECENT_CALLS {
            self.calls.pop_front();
        }
        self.calls.push_back(HostCallAnswer { name, status });
    }
}
