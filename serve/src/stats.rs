//! The plugins' metrics as Envoy's admin `/stats/prometheus` renders them. Envoy (1.20+) keeps a metric a plugin
//! defines in its stats store under the custom namespace `wasmcustom`, which the Prometheus output strips (no
//! `envoy_` prefix; before 1.20, `envoy_NAME`); every worker's VM defines the same name and so updates the one
//! stat, which is why this sums the workers.

use std::collections::BTreeMap;
use std::fmt::Write;

use envoy_targets::{Change, Envoy};
use host::testing::{Metric, MetricKind};

/// Envoy's default histogram bucket bounds (`HistogramSettingsImpl::defaultBuckets`).
const BUCKETS: [f64; 19] = [
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0, 300000.0, 600000.0, 1800000.0, 3600000.0,
];

/// One stat summed over the workers.
#[derive(Default)]
struct Stat {
    value: i64,
    samples: Vec<u64>,
}

/// The Prometheus text for every worker's metrics (`per_worker[w]` lists each plugin's metrics on worker `w`).
pub fn prometheus(per_worker: &[Vec<(String, Vec<Metric>)>], envoy: Envoy) -> String {
    let mut stats: BTreeMap<(String, MetricKind), Stat> = BTreeMap::new();
    for worker in per_worker {
        for (_plugin, metrics) in worker {
            for metric in metrics {
                let Some(name) = name(&metric.name, envoy) else {
                    continue;
                };
                let stat = stats.entry((name, metric.kind)).or_default();
                stat.value += metric.value;
                stat.samples.extend_from_slice(&metric.samples);
            }
        }
    }
    let mut out = String::new();
    for ((name, kind), stat) in &stats {
        match kind {
            MetricKind::Counter => {
                let _ = writeln!(out, "# TYPE {name} counter\n{name}{{}} {}", stat.value);
            }
            MetricKind::Gauge => {
                let _ = writeln!(out, "# TYPE {name} gauge\n{name}{{}} {}", stat.value);
            }
            MetricKind::Histogram => histogram(&mut out, name, &stat.samples),
        }
    }
    out
}

fn histogram(out: &mut String, name: &str, samples: &[u64]) {
    let _ = writeln!(out, "# TYPE {name} histogram");
    for bound in BUCKETS {
        let count = samples.iter().filter(|s| **s as f64 <= bound).count();
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", samples.len());
    let _ = writeln!(out, "{name}_sum{{}} {}", samples.iter().sum::<u64>());
    let _ = writeln!(out, "{name}_count{{}} {}", samples.len());
}

/// A stat's Prometheus name (`PrometheusStatsFormatter::metricName`): the `wasmcustom.` namespace stripped, every
/// character outside `[a-zA-Z0-9_]` made `_` (`sanitizeName`); a name that is empty or starts with a digit is left
/// out of the output, as Envoy leaves it out. Before the namespace (Envoy 1.20), a plain stat: `envoy_` prefixed.
fn name(stat: &str, envoy: Envoy) -> Option<String> {
    if !envoy.has(Change::MetricsInWasmcustomNamespace) {
        return Some(format!("envoy_{}", sanitized(stat)));
    }
    let name = sanitized(stat);
    match name.chars().next() {
        Some(first) if !first.is_ascii_digit() => Some(name),
        _ => None,
    }
}

/// `sanitizeName`: every character outside `[a-zA-Z0-9_]` made `_`.
fn sanitized(stat: &str) -> String {
    stat.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(name: &str, kind: MetricKind, value: i64, samples: &[u64]) -> Metric {
        Metric {
            name: name.to_owned(),
            kind,
            value,
            samples: samples.to_vec(),
        }
    }

    #[test]
    fn workers_add_up_under_the_sanitized_name() {
        let worker = |n| {
            vec![(
                "p".to_owned(),
                vec![
                    metric("my_plugin.requests", MetricKind::Counter, n, &[]),
                    metric("latency-ms", MetricKind::Histogram, 0, &[3, 700]),
                ],
            )]
        };
        let mut text = prometheus(&[worker(2), worker(5)], Envoy::NEWEST);
        assert!(
            text.contains("# TYPE my_plugin_requests counter\nmy_plugin_requests{} 7\n"),
            "{text}"
        );
        assert!(text.contains("latency_ms_bucket{le=\"5\"} 2\n"), "{text}");
        assert!(
            text.contains("latency_ms_bucket{le=\"1000\"} 4\n"),
            "{text}"
        );
        assert!(text.contains("latency_ms_count{} 4\n"), "{text}");
        assert!(text.contains("latency_ms_sum{} 1406\n"), "{text}");
        text = prometheus(
            &[vec![(
                "p".to_owned(),
                vec![metric("1st.hits", MetricKind::Counter, 1, &[])],
            )]],
            Envoy::NEWEST,
        );
        assert_eq!(text, "", "Envoy drops a name that starts with a digit");
    }

    // envoyproxy/envoy#17357 (Envoy 1.20) put plugin metrics in the `wasmcustom` namespace that
    // `PrometheusStatsFormatter::metricName` strips; before, a plugin's stat was an ordinary one: `envoy_NAME`.
    #[test]
    fn before_envoy_1_20_a_plugin_metric_is_an_envoy_stat() {
        let metrics = [vec![(
            "p".to_owned(),
            vec![metric("my_plugin.requests", MetricKind::Counter, 3, &[])],
        )]];
        let text = prometheus(&metrics, Envoy { minor: 19 });
        assert!(
            text.contains(
                "# TYPE envoy_my_plugin_requests counter\nenvoy_my_plugin_requests{} 3\n"
            ),
            "{text}"
        );
        let text = prometheus(&metrics, Envoy { minor: 20 });
        assert!(text.contains("\nmy_plugin_requests{} 3\n"), "{text}");
    }
}
