//! The bytes the host holds on a plugin's behalf, outside its linear memory: log lines, pending callouts (headers,
//! bodies, gRPC messages), deferred actions and local replies, metrics, filter state and declared properties; the
//! items of each shared queue it fills, its vm_id's queue names and shared data are bounded by the same limit. The memory limit bounds what the guest allocates; this bounds what it makes the host allocate,
//! which no deadline stops inside one host call. A guest that goes over fails its VM with a [`BudgetExceeded`]
//! naming what it was doing.
//!
//! One budget per plugin: its base VM, configuration canary and worker VMs charge the same count (clones of one
//! [`ByteBudget`] share it), so a plugin that reloads cannot hold a limit's worth in each VM.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

/// Default budget: room for hundreds of thousands of log lines and megabyte callouts, well below the default
/// memory limit.
pub(crate) const DEFAULT_HOST_MEMORY_LIMIT: usize = 64 << 20;

/// What each entry the host keeps (a log line, a queue item, a deferred action) costs besides its contents: about
/// what the host spends to hold one, so a flood of empty entries is stopped like one huge one.
pub(crate) const ENTRY_OVERHEAD: usize = 64;

/// Bytes charged against a limit; released when the host drops what it held (an answered callout). Clones share
/// one count.
#[derive(Debug, Clone)]
pub(crate) struct ByteBudget {
    limit: usize,
    used: Rc<Cell<usize>>,
}

/// Why a guest was stopped: what it asked the host to keep, and how much it already held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BudgetExceeded {
    pub(crate) what: &'static str,
    pub(crate) bytes: usize,
    pub(crate) used: usize,
    pub(crate) limit: usize,
}

impl ByteBudget {
    pub(crate) fn new(limit: usize) -> ByteBudget {
        ByteBudget {
            limit,
            used: Rc::new(Cell::new(0)),
        }
    }

    /// Charges `bytes` for `what`, or refuses (charging nothing) when they do not fit.
    pub(crate) fn charge(&self, what: &'static str, bytes: usize) -> Result<(), BudgetExceeded> {
        self.check(what, bytes)?;
        self.used.set(self.used.get() + bytes);
        Ok(())
    }

    /// Whether `bytes` more would fit, without charging them: checked before the host copies anything.
    pub(crate) fn check(&self, what: &'static str, bytes: usize) -> Result<(), BudgetExceeded> {
        self.check_beside(what, self.used.get(), bytes)
    }

    /// [`ByteBudget::charge`] for one entry of `bytes`: its contents and [`ENTRY_OVERHEAD`].
    pub(crate) fn charge_entry(
        &self,
        what: &'static str,
        bytes: usize,
    ) -> Result<(), BudgetExceeded> {
        self.check_entry(what, bytes)?;
        self.used.set(self.used.get() + entry_cost(bytes));
        Ok(())
    }

    /// [`ByteBudget::check`] for one entry of `bytes`.
    pub(crate) fn check_entry(
        &self,
        what: &'static str,
        bytes: usize,
    ) -> Result<(), BudgetExceeded> {
        self.check_entry_beside(what, self.used.get(), bytes)
    }

    /// [`ByteBudget::check_beside`] for one entry of `bytes`.
    pub(crate) fn check_entry_beside(
        &self,
        what: &'static str,
        held: usize,
        bytes: usize,
    ) -> Result<(), BudgetExceeded> {
        self.check_beside(what, held, entry_cost(bytes))
            .map_err(|exceeded| BudgetExceeded { bytes, ..exceeded })
    }

    /// [`ByteBudget::check`] for bytes kept outside this budget, `held` of them so far: a vm_id's shared data or a
    /// shared queue, which outlive the plugin's own charges but may grow only as far as its limit.
    pub(crate) fn check_beside(
        &self,
        what: &'static str,
        held: usize,
        bytes: usize,
    ) -> Result<(), BudgetExceeded> {
        match held.checked_add(bytes) {
            Some(total) if total <= self.limit => Ok(()),
            _ => Err(BudgetExceeded {
                what,
                bytes,
                used: held,
                limit: self.limit,
            }),
        }
    }

    /// Charges an entry of `bytes` that replaces one of `old` bytes (if any), or refuses, changing nothing, when
    /// the difference does not fit.
    pub(crate) fn replace_entry(
        &self,
        what: &'static str,
        old: Option<usize>,
        bytes: usize,
    ) -> Result<(), BudgetExceeded> {
        let freed = old.map_or(0, entry_cost);
        self.check_entry_beside(what, self.used.get().saturating_sub(freed), bytes)?;
        self.release(freed);
        self.used.set(self.used.get() + entry_cost(bytes));
        Ok(())
    }

    pub(crate) fn release(&self, bytes: usize) {
        self.used.set(self.used.get().saturating_sub(bytes));
    }

    /// Releases one entry of `bytes` charged with [`ByteBudget::charge_entry`].
    pub(crate) fn release_entry(&self, bytes: usize) {
        self.release(entry_cost(bytes));
    }
}

/// What one entry of `bytes` is charged.
pub(crate) fn entry_cost(bytes: usize) -> usize {
    bytes.saturating_add(ENTRY_OVERHEAD)
}

impl fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} bytes would take the host memory this plugin holds past its limit of {} bytes ({} in use; \
             each entry the host keeps, such as a log line, a queue item or a deferred action, counts {} bytes \
             besides its contents); raise `PluginBuilder::host_memory_limit` if the plugin really needs that much",
            self.what, self.bytes, self.limit, self.used, ENTRY_OVERHEAD
        )
    }
}

impl std::error::Error for BudgetExceeded {}
