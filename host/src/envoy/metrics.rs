//! Metrics as Envoy's Wasm context keeps them: ids encode the type in the low two bits, counters only go up,
//! gauges are set or moved, histograms record samples.

use std::collections::{BTreeMap, HashMap};

use super::{BudgetExceeded, HostState};
use crate::spec::Status;

/// What one histogram sample holds.
const SAMPLE_BYTES: usize = std::mem::size_of::<u64>();

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

/// A metric the plugin defined, as a test reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    pub name: String,
    pub kind: MetricKind,
    /// Counter total or gauge value (0 for histograms).
    pub value: i64,
    /// Recorded histogram samples, in order.
    pub samples: Vec<u64>,
}

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    by_id: BTreeMap<u32, Metric>,
    /// Ids by kind and name: defining looks a name up on every call, and a plugin may define many.
    ids: HashMap<(MetricKind, String), u32>,
    next: u32,
}

impl MetricKind {
    pub(crate) fn from_raw(raw: i32) -> Option<MetricKind> {
        Some(match raw {
            0 => MetricKind::Counter,
            1 => MetricKind::Gauge,
            2 => MetricKind::Histogram,
            _ => return None,
        })
    }
}

impl Metrics {
    /// The id of (`kind`, `name`) if it was defined.
    fn id(&self, kind: MetricKind, name: &str) -> Option<u32> {
        self.ids.get(&(kind, name.to_owned())).copied()
    }

    /// The id for (`kind`, `name`): defining the same metric again returns the same id.
    pub(crate) fn define(&mut self, kind: MetricKind, name: String) -> u32 {
        if let Some(id) = self.id(kind, &name) {
            return id;
        }
        self.next += 1;
        let id = self.next * 4 + kind as u32;
        self.ids.insert((kind, name.clone()), id);
        self.by_id.insert(
            id,
            Metric {
                name,
                kind,
                value: 0,
                samples: Vec::new(),
            },
        );
        id
    }

    pub(crate) fn increment(&mut self, id: u32, delta: i64) -> Result<(), Status> {
        let metric = self.by_id.get_mut(&id).ok_or(Status::NotFound)?;
        match metric.kind {
            MetricKind::Counter if delta > 0 => metric.value = metric.value.saturating_add(delta),
            MetricKind::Gauge => metric.value = metric.value.saturating_add(delta),
            _ => return Err(Status::BadArgument),
        }
        Ok(())
    }

    pub(crate) fn record(&mut self, id: u32, value: i64) -> Result<(), Status> {
        let metric = self.by_id.get_mut(&id).ok_or(Status::NotFound)?;
        match metric.kind {
            // Envoy adds a recorded value to a counter.
            MetricKind::Counter => metric.value = metric.value.saturating_add(value),
            MetricKind::Gauge => metric.value = value,
            MetricKind::Histogram => metric.samples.push(value as u64),
        }
        Ok(())
    }

    fn kind(&self, id: u32) -> Option<MetricKind> {
        self.by_id.get(&id).map(|m| m.kind)
    }

    pub(crate) fn get(&self, id: u32) -> Result<i64, Status> {
        let metric = self.by_id.get(&id).ok_or(Status::NotFound)?;
        match metric.kind {
            MetricKind::Histogram => Err(Status::BadArgument),
            _ => Ok(metric.value),
        }
    }

    pub(crate) fn by_name(&self, name: &str) -> Option<&Metric> {
        self.by_id.values().find(|m| m.name == name)
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = &Metric> {
        self.by_id.values()
    }
}

/// Metrics the guest defines and samples it records stay for the plugin's life (Envoy's stats store keeps them), so
/// they are charged to its byte budget.
impl HostState {
    /// `proxy_define_metric`: a new name is charged as an entry.
    pub(crate) fn define_metric(
        &mut self,
        kind: MetricKind,
        name: String,
    ) -> Result<u32, BudgetExceeded> {
        if self.metrics.id(kind, &name).is_none() {
            self.budget.charge_entry("a metric name", name.len())?;
        }
        Ok(self.metrics.define(kind, name))
    }

    /// `proxy_record_metric`: a histogram keeps every sample.
    pub(crate) fn record_metric(&mut self, id: u32, value: i64) -> Result<(), super::Refusal> {
        if self.metrics.kind(id) == Some(MetricKind::Histogram) {
            self.budget.charge("a histogram sample", SAMPLE_BYTES)?;
        }
        Ok(self.metrics.record(id, value)?)
    }
}
