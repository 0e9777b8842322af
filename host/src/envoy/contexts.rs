//! The plugin's contexts as Envoy numbers them (the root context, then one per stream), which one host calls act on,
//! and the root context's life through shutdown.

use crate::spec::Status;

/// Context ids and the acting context of one VM.
#[derive(Debug)]
pub(crate) struct Contexts {
    root: u32,
    next: u32,
    /// The context the current VM call is for (0: none yet).
    current: u32,
    /// The context `proxy_set_effective_context` switched to during the current call (0: none).
    effective: u32,
    root_life: RootLife,
}

/// Where the root context is in Envoy's shutdown (`WasmBase::startShutdown`, `proxy_done`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RootLife {
    Live,
    /// `on_done` returned false: the plugin finishes its work and then calls `proxy_done`.
    Draining,
    /// `proxy_done` was called: `on_delete` runs once the current VM call has returned.
    DeleteRequested,
    Deleted,
}

impl Contexts {
    pub(crate) fn new() -> Contexts {
        Contexts {
            root: 0,
            next: 1,
            current: 0,
            effective: 0,
            root_life: RootLife::Live,
        }
    }

    /// The next context id; the first one handed out is the root's.
    pub(crate) fn create(&mut self) -> u32 {
        let id = self.next;
        self.next += 1;
        if self.root == 0 {
            self.root = id;
        }
        id
    }

    pub(crate) fn root(&self) -> u32 {
        self.root
    }

    /// A VM call for context `id` begins (cpp-host resets the effective context for each call).
    pub(crate) fn enter(&mut self, id: u32) {
        self.current = id;
        self.effective = 0;
    }

    /// The VM call returned: a context the guest switched to does not outlive it.
    pub(crate) fn leave(&mut self) {
        self.effective = 0;
    }

    /// The context the current VM call is for, whatever the guest switched to.
    pub(crate) fn called(&self) -> u32 {
        self.current
    }

    /// The context host calls act on: the effective context if the guest set one, else the called context.
    pub(crate) fn acting(&self) -> u32 {
        if self.effective != 0 {
            self.effective
        } else {
            self.current
        }
    }

    /// `proxy_set_effective_context`, for an id the caller checked is a live context.
    pub(crate) fn set_effective(&mut self, id: u32) {
        self.effective = id;
    }

    pub(crate) fn root_is_live(&self) -> bool {
        self.root_life != RootLife::Deleted
    }

    /// `on_done` returned false: the root waits for `proxy_done`.
    pub(crate) fn root_draining(&mut self) {
        self.root_life = RootLife::Draining;
    }

    /// `proxy_done`: only a draining root context may call it (else NotFound, as cpp-host's `WasmBase::done`).
    pub(crate) fn root_done(&mut self) -> Result<(), Status> {
        if self.root_life != RootLife::Draining {
            return Err(Status::NotFound);
        }
        self.root_life = RootLife::DeleteRequested;
        Ok(())
    }

    /// Whether `on_delete` is due for the root (and it is no longer requested).
    pub(crate) fn take_root_delete_request(&mut self) -> bool {
        if self.root_life == RootLife::DeleteRequested {
            self.root_life = RootLife::Live;
            return true;
        }
        false
    }

    pub(crate) fn root_deleted(&mut self) {
        self.root_life = RootLife::Deleted;
    }
}
