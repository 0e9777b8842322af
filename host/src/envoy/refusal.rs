//! How an Envoy-layer operation the guest asked for can end without doing it.

use super::BudgetExceeded;
use crate::spec::Status;

/// A host call Envoy did not carry out: refused with the status the guest receives, or over the plugin's byte
/// budget, which fails the VM whatever the status would have been.
#[derive(Debug)]
pub(crate) enum Refusal {
    Status(Status),
    OverBudget(BudgetExceeded),
}

impl From<Status> for Refusal {
    fn from(status: Status) -> Refusal {
        Refusal::Status(status)
    }
}

impl From<BudgetExceeded> for Refusal {
    fn from(exceeded: BudgetExceeded) -> Refusal {
        Refusal::OverBudget(exceeded)
    }
}
