//! The bytes the host holds on a plugin's behalf, outside its linear memory: log lines and pending callouts
//! (headers, bodies, gRPC messages); the items of each shared queue it fills and its vm_id's shared data are bounded
//! by the same limit. The memory limit bounds what the guest allocates; this bounds what it makes the host allocate,
//! which no deadline stops inside one host call. A guest that goes over fails its VM with a [`BudgetExceeded`]
//! naming what it was doing.

use std::fmt;

/// Default budget: room for hundreds of thousands of log lines and megabyte callouts, well below the default
/// memory limit.
pub(crate) const DEFAULT_HOST_MEMORY_LIMIT: usize = 64 << 20;

/// Bytes charged against a limit; released when the host drops what it held (an answered callout).
#[derive(Debug)]
pub(crate) struct ByteBudget {
    limit: usize,
    used: usize,
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
        ByteBudget { limit, used: 0 }
    }

    /// Charges `bytes` for `what`, or refuses (charging nothing) when they do not fit.
    pub(crate) fn charge(
        &mut self,
        what: &'static str,
        bytes: usize,
    ) -> Result<(), BudgetExceeded> {
        self.check(what, bytes)?;
        self.used += bytes;
        Ok(())
    }

    /// Whether `bytes` more would fit, without charging them: checked before the host copies anything.
    pub(crate) fn check(&self, what: &'static str, bytes: usize) -> Result<(), BudgetExceeded> {
        self.check_beside(what, self.used, bytes)
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

    pub(crate) fn release(&mut self, bytes: usize) {
        self.used = self.used.saturating_sub(bytes);
    }
}

impl fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} bytes would take the host memory this plugin holds past its limit of {} bytes ({} in use); \
             raise `PluginBuilder::host_memory_limit` if the plugin really needs that much",
            self.what, self.bytes, self.limit, self.used
        )
    }
}

impl std::error::Error for BudgetExceeded {}
