//! What runs between test steps, as Envoy runs it after a VM call returns: deferred stream actions, the root's
//! `on_delete` after `proxy_done`, and queue notifications the dispatcher posts.

use std::time::Instant;

use super::{Deferred, Vm};
use crate::spec::PeerType;

impl Vm {
    /// Runs everything Envoy would run once the current VM call returned (deferred actions), then what its
    /// dispatcher would post next (queue notifications), until nothing is left.
    ///
    /// Envoy's event loop keeps turning: a plugin whose `on_queue_ready` enqueues to its own queue is notified
    /// forever, one post at a time, and burns its worker. The host models each test step as running the dispatcher
    /// until it is idle, which such a plugin never lets happen, so one step delivers at most
    /// [`MAX_QUEUE_DELIVERIES`] notifications and then fails the VM, naming the queue, instead of hanging. One that
    /// feeds itself slowly (each delivery well under the call deadline) is stopped by the step deadline, which
    /// bounds the whole of this work.
    pub(crate) fn settle(&mut self) {
        let mut deliveries = 0usize;
        let mut step = Step::default();
        loop {
            if let Some(action) = self.state_mut().next_deferred() {
                self.check_step(&mut step, None);
                match action {
                    Deferred::Continue { stream, dir } => self.continue_side(stream, dir),
                    Deferred::Close { stream } => self.reset_stream(stream, "wasm_close_stream"),
                    Deferred::LocalReply { stream, reply } => self.send_local_reply(stream, reply),
                    Deferred::ContinueReading { stream } => self.continue_reading(stream),
                    Deferred::CloseConnection { stream, reason } => {
                        self.close_connection(stream, PeerType::Local, reason)
                    }
                }
                continue;
            }
            if self.state_mut().contexts.take_root_delete_request() {
                self.check_step(&mut step, None);
                self.delete_root();
                continue;
            }
            self.check_required_headers();
            if !self.state().deferred.is_empty() {
                continue;
            }
            if let Some(queue) = self.state_mut().queue_ready.pop_front() {
                if deliveries == MAX_QUEUE_DELIVERIES {
                    self.fail_queue_loop(queue);
                    continue;
                }
                deliveries += 1;
                self.check_step(&mut step, Some(queue));
                self.queue_ready(queue);
                continue;
            }
            break;
        }
    }

    /// Fails the VM whose queue notifications never run out within one drive (see [`Vm::settle`]).
    fn fail_queue_loop(&mut self, queue: u32) {
        let state = self.state_mut();
        state.queue_ready.clear();
        if state.failed.is_some() {
            return;
        }
        let name = state.process.lock().queue_name(queue);
        state.failed = Some(format!(
            "proxy_on_queue_ready was delivered {MAX_QUEUE_DELIVERIES} times in one step and shared queue {name} \
             (token {queue}) still has notifications pending: the plugin keeps enqueuing to the queue it is \
             notified about (a queue that feeds itself); Envoy would spin its worker on it forever, so the host \
             stopped the plugin"
        ));
    }
}

/// When the host's work of one step began: set at its first piece of work, so a step with nothing to do costs no
/// clock read.
#[derive(Debug, Default)]
pub(crate) struct Step {
    began: Option<Instant>,
}

impl Vm {
    /// Fails the VM once the work of `step` has run past the step deadline; after that no guest code runs, so
    /// what is left of the step ends quickly. `delivering`: the queue notification about to be delivered, already
    /// taken from those pending.
    pub(crate) fn check_step(&mut self, step: &mut Step, delivering: Option<u32>) {
        let began = *step.began.get_or_insert_with(Instant::now);
        let state = self.state_mut();
        let deadline = state.settings.step_deadline();
        if state.failed.is_some() || began.elapsed() <= deadline {
            return;
        }
        let pending = state.queue_ready.len() + usize::from(delivering.is_some());
        let queues = match delivering.or(state.queue_ready.front().copied()) {
            Some(queue) => format!(
                ", with {pending} queue notification{} pending (shared queue {} among them: a queue that feeds \
                 itself?)",
                if pending == 1 { "" } else { "s" },
                state.process.lock().queue_name(queue)
            ),
            None => String::new(),
        };
        state.failed = Some(format!(
            "one step of the host's work after a guest call (deferred actions, queue notifications, ticks) ran past \
             the {deadline:?} step deadline{queues}: the plugin keeps giving the host more to do, each piece under \
             the call deadline; the host stopped the plugin. Raise `PluginBuilder::step_deadline` if the plugin \
             really needs that long"
        ));
    }
}

/// How many `on_queue_ready` notifications one test step delivers before it calls the plugin's queue a loop: far
/// more than a plugin that drains what it was sent needs, few enough that a self-feeding queue stops quickly.
pub(crate) const MAX_QUEUE_DELIVERIES: usize = 100_000;
