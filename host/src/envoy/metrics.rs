//! Metrics as Envoy's Wasm context keeps them: ids encode the type in the low two bits and count up per type,
//! counters only go up, gauges are set or moved, histograms record samples.

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

/// A VM's metrics: Envoy's stats (one per kind and name, kept across VMs as the stats store keeps them) and the
/// ids this VM handed out for them (`Wasm::counters_`, `gauges_`, `histograms_`, each id from its kind's counter).
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    stats: Vec<Metric>,
    /// Stats by kind and name: defining looks a name up on every call, and a plugin may define many.
    by_name: HashMap<(MetricKind, String), usize>,
    /// Id → index into `stats`; several ids may name one stat (every `proxy_define_metric` hands out a new id).
    ids: BTreeMap<u32, usize>,
    /// The last id handed out per kind (`next_counter_metric_id_` …), counting up in steps of 4 from the kind.
    last_ids: [u32; 3],
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

    /// The kind an id names: its low two bits (`Wasm::kMetricTypeMask`); 3 names none.
    fn of_id(id: u32) -> Option<MetricKind> {
        MetricKind::from_raw((id & 3) as i32)
    }
}

impl Metrics {
    /// Whether (`kind`, `name`) is a stat already.
    fn has(&self, kind: MetricKind, name: &str) -> bool {
        self.by_name.contains_key(&(kind, name.to_owned()))
    }

    /// A new id for (`kind`, `name`), as Envoy's `Context::defineMetric` hands one out on every call (from
    /// `nextCounterMetricId`, `nextGaugeMetricId` or `nextHistogramMetricId`); ids of the same kind and name
    /// address the same stat.
    pub(crate) fn define(&mut self, kind: MetricKind, name: String) -> u32 {
        let index = match self.by_name.get(&(kind, name.clone())) {
            Some(index) => *index,
            None => {
                self.stats.push(Metric {
                    name: name.clone(),
                    kind,
                    value: 0,
                    samples: Vec::new(),
                });
                self.by_name.insert((kind, name), self.stats.len() - 1);
                self.stats.len() - 1
            }
        };
        let last = &mut self.last_ids[kind as usize];
        *last = if *last == 0 { kind as u32 } else { *last } + 4;
        self.ids.insert(*last, index);
        *last
    }

    /// The metrics a new VM of the same plugin starts with: Envoy's stats survive, the ids were the old VM's.
    pub(crate) fn for_next_vm(self) -> Metrics {
        Metrics {
            stats: self.stats,
            by_name: self.by_name,
            ..Metrics::default()
        }
    }

    fn stat(&mut self, id: u32) -> Result<&mut Metric, Status> {
        let index = *self.ids.get(&id).ok_or(Status::NotFound)?;
        Ok(&mut self.stats[index])
    }

    /// `Context::incrementMetric`: counters go up only (else BadArgument), gauges either way; a histogram id, or
    /// an id of type 3, is BadArgument whether it was defined or not.
    pub(crate) fn increment(&mut self, id: u32, delta: i64) -> Result<(), Status> {
        match MetricKind::of_id(id) {
            Some(MetricKind::Counter) => {
                let metric = self.stat(id)?;
                if delta <= 0 {
                    return Err(Status::BadArgument);
                }
                metric.value = metric.value.saturating_add(delta);
            }
            Some(MetricKind::Gauge) => {
                let metric = self.stat(id)?;
                metric.value = metric.value.saturating_add(delta);
            }
            _ => return Err(Status::BadArgument),
        }
        Ok(())
    }

    /// `Context::recordMetric`: a counter adds, a gauge is set, a histogram records; an unknown id is NotFound.
    pub(crate) fn record(&mut self, id: u32, value: i64) -> Result<(), Status> {
        let metric = self.stat(id)?;
        match metric.kind {
            MetricKind::Counter => metric.value = metric.value.saturating_add(value),
            MetricKind::Gauge => metric.value = value,
            MetricKind::Histogram => metric.samples.push(value as u64),
        }
        Ok(())
    }

    /// The kind of the stat `id` names, if it names one.
    fn kind(&self, id: u32) -> Option<MetricKind> {
        self.ids.get(&id).map(|index| self.stats[*index].kind)
    }

    /// `Context::getMetric`: counters and gauges; a histogram id, or an id of type 3, is BadArgument whether it
    /// was defined or not.
    pub(crate) fn get(&self, id: u32) -> Result<i64, Status> {
        match MetricKind::of_id(id) {
            Some(MetricKind::Counter | MetricKind::Gauge) => {
                let index = *self.ids.get(&id).ok_or(Status::NotFound)?;
                Ok(self.stats[index].value)
            }
            _ => Err(Status::BadArgument),
        }
    }

    pub(crate) fn by_name(&self, name: &str) -> Option<&Metric> {
        self.stats.iter().find(|m| m.name == name)
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = &Metric> {
        self.stats.iter()
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
        if !self.metrics.has(kind, &name) {
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
