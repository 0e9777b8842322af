//! Calls into the guest, under the per-call deadline: stream and root callbacks, ticks and virtual time, queue
//! notifications, shutdown.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::{TypedFunc, WasmParams, WasmResults};

use super::engine::arm_deadline;
use super::{Callback, Exports, Vm};
use crate::envoy::dispatch::Step;
use crate::envoy::{HostState, TrapReport};

impl Vm {
    /// Calls a guest callback for context `ctx` like cpp-host: current context set, effective context reset, under
    /// the per-call deadline. `None` when the export is missing, the VM has failed, or the call trapped (which
    /// fails the VM, as Envoy's `FailState::RuntimeError`).
    pub(crate) fn call<P: WasmParams, R: WasmResults>(
        &mut self,
        ctx: u32,
        callback: fn(&Exports) -> &Callback<P, R>,
        params: P,
    ) -> Option<R> {
        let exports = Arc::clone(&self.exports);
        let callback = callback(&exports);
        let func = callback.in_vm(&self.instance, &mut self.store)?;
        self.call_func(ctx, callback.name, func, params)
    }

    /// Calls a callback of the root context, whose id `params` receives.
    pub(crate) fn call_root<P: WasmParams, R: WasmResults>(
        &mut self,
        callback: fn(&Exports) -> &Callback<P, R>,
        params: impl FnOnce(i32) -> P,
    ) -> Option<R> {
        let root = self.state().contexts.root();
        self.call(root, callback, params(root as i32))
    }

    /// Calls a root callback that returns a bool, which cpp-host takes as true when the module does not export it
    /// (`on_vm_start`, `on_configure`, `on_done`).
    pub(crate) fn call_root_or_true<P: WasmParams>(
        &mut self,
        callback: fn(&Exports) -> &Callback<P, i32>,
        params: impl FnOnce(i32) -> P,
    ) -> Option<i32> {
        if !callback(&self.exports).is_exported() {
            return Some(1);
        }
        self.call_root(callback, params)
    }

    /// [`Vm::call`] for an export already looked up (`name` for messages).
    pub(crate) fn call_func<P: WasmParams, R: WasmResults>(
        &mut self,
        ctx: u32,
        name: &str,
        f: &TypedFunc<P, R>,
        params: P,
    ) -> Option<R> {
        if self.state().failed.is_some() {
            return None;
        }
        {
            let state = self.state_mut();
            state.contexts.enter(ctx);
            state.stop_next_iteration = false;
            let logs = state.logs.len();
            state.recent_calls.begin(logs);
        }
        arm_deadline(&mut self.store);
        let result = f.call(&mut self.store, params);
        self.state_mut().contexts.leave();
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                let message = describe_trap(self.state_mut(), name, error);
                self.state_mut().failed = Some(message);
                None
            }
        }
    }

    /// Advances virtual time, firing ticks and callout timeouts in order, as Envoy's dispatcher would.
    pub(crate) fn advance_time(&mut self, by: Duration) {
        let target = self.state().clock.now().saturating_add(by);
        let mut step = Step::default();
        loop {
            let tick = self.state().clock.next_tick();
            let timeout = self.state().callouts.next_deadline();
            let next = match (tick, timeout) {
                (Some(a), Some((b, _))) => a.min(b),
                (Some(a), None) => a,
                (None, Some((b, _))) => b,
                (None, None) => break,
            };
            if next > target {
                break;
            }
            self.check_step(&mut step, None);
            self.state_mut().clock.move_to(next);
            if tick == Some(next) {
                self.tick();
            } else if let Some((_, token)) = timeout {
                self.time_out_callout(token);
            }
            self.settle();
        }
        self.state_mut().clock.move_to(target);
    }

    /// `proxy_on_tick(root)`, then the timer re-arms one period after the tick returned (Envoy `tickHandler`).
    fn tick(&mut self) {
        if !self.exports.on_tick.is_exported() || self.state().failed.is_some() {
            self.state_mut().clock.stop_timer();
            return;
        }
        let fired_at = self.state().clock.now();
        self.call_root(|e| &e.on_tick, |root| root);
        self.state_mut().clock.rearm(fired_at);
    }

    /// `proxy_on_queue_ready(root, queue)`, posted by an enqueue.
    pub(crate) fn queue_ready(&mut self, queue: u32) {
        self.call_root(|e| &e.on_queue_ready, |root| (root, queue as i32));
    }

    /// Plugin shutdown: `on_done(root)`; true ⇒ `on_delete(root)`, false ⇒ waits for `proxy_done`.
    pub(crate) fn shutdown(&mut self) {
        if !self.state().contexts.root_is_live() {
            return;
        }
        let done = self.call_root_or_true(|e| &e.on_done, |root| root);
        if done == Some(0) {
            self.state_mut().contexts.root_draining();
        } else {
            self.delete_root();
        }
        self.settle();
    }

    pub(crate) fn delete_root(&mut self) {
        self.call_root(|e| &e.on_delete, |root| root);
        let state = self.state_mut();
        state.contexts.root_deleted();
        state.clock.stop_timer();
    }
}

/// A trap, explained for the person reading the test output; its report is kept in the state (`HostState::trap`).
pub(super) fn describe_trap(state: &mut HostState, name: &str, error: wasmtime::Error) -> String {
    let report = TrapReport::new(
        name,
        &error,
        state.settings.call_deadline,
        &state.recent_calls,
        &state.logs,
        &state.names,
    );
    let mut message = report.to_string();
    if let Some(code) = state.proc_exit {
        message.push_str(&format!(
            "\nthe guest called WASI proc_exit({code}) before: Envoy returns from proc_exit, and the guest trapped \
             after it (Rust's std::process::exit and abort end in `unreachable`)"
        ));
    }
    state.trap = Some(report);
    message
}
