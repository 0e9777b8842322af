//! The compiled module run the way Envoy runs it, through the workspace's `host::testing` (rebuilt from the current
//! sources first): one count and one duration per stream, under names that the `stats-tags` rules of this crate's
//! Cargo.toml turn into the labels a user sees in Prometheus.

use std::time::Duration;

use host::testing::{Plugin, StartFailure};

const NAME: &str = env!("CARGO_PKG_NAME");

fn start(config: &str) -> Plugin {
    Plugin::extension(NAME)
        .config(config)
        .start()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// One exchange: `method` `path`, answered `status` after `takes`.
fn exchange(plugin: &Plugin, method: &str, path: &str, status: &str, takes: Duration) {
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[(":method", method), (":path", path)], true);
    plugin.advance_time(takes);
    stream.send_response_headers(&[(":status", status)], true);
    stream.finish();
}

/// A stats tag rule of this crate's `[package.metadata.extension] stats-tags`.
struct Rule {
    name: String,
    regex: regex::Regex,
}

fn rules() -> Vec<Rule> {
    let manifest: toml::Table = include_str!("../Cargo.toml").parse().unwrap();
    let tags = manifest["package"]["metadata"]["extension"]["stats-tags"]
        .as_array()
        .expect("stats-tags");
    tags.iter()
        .map(|tag| Rule {
            name: tag["name"].as_str().unwrap().to_owned(),
            regex: regex::Regex::new(tag["regex"].as_str().unwrap()).unwrap(),
        })
        .collect()
}

/// What Envoy's `/stats/prometheus` shows for a plugin metric: its stat is `wasmcustom.` + the name; each tag
/// rule that matches the stat's name (`TagExtractorImpl::extractTag`: searched in the whole name, first group
/// removed, second group the value) becomes a label; the namespace is stripped and the rest sanitized
/// (`PrometheusStatsFormatter::metricName`).
fn prometheus_series(name: &str, rules: &[Rule]) -> String {
    let stat = format!("wasmcustom.{name}");
    let mut removed = Vec::new();
    let mut labels = Vec::new();
    for rule in rules {
        if let Some(found) = rule.regex.captures(&stat) {
            let cut = found.get(1).expect("a first group");
            let value = found.get(2).unwrap_or(cut);
            labels.push(format!("{}=\"{}\"", rule.name, value.as_str()));
            removed.push(cut.range());
        }
    }
    let extracted: String = stat
        .char_indices()
        .filter(|(i, _)| !removed.iter().any(|r| r.contains(i)))
        .map(|(_, c)| c)
        .collect();
    let metric: String = extracted["wasmcustom.".len()..]
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{metric}{{{}}}", labels.join(","))
}

#[test]
fn each_request_counts_once_under_its_route_method_and_status_class() {
    let plugin = start(include_str!("../example-config.json"));
    exchange(
        &plugin,
        "GET",
        "/orders/7",
        "200",
        Duration::from_millis(30),
    );
    exchange(
        &plugin,
        "GET",
        "/orders?page=2",
        "204",
        Duration::from_millis(70),
    );
    exchange(&plugin, "POST", "/orders", "503", Duration::from_millis(5));
    exchange(&plugin, "GET", "/healthz", "200", Duration::ZERO);
    exchange(&plugin, "BREW", "/coffee", "418", Duration::ZERO);
    let series = "request_metrics.route.orders.method.GET.status.2xx";
    assert_eq!(plugin.counter(&format!("{series}.requests")), 2);
    assert_eq!(plugin.histogram(&format!("{series}.duration_ms")), [30, 70]);
    assert_eq!(
        plugin.counter("request_metrics.route.orders.method.POST.status.5xx.requests"),
        1
    );
    assert_eq!(
        plugin.counter("request_metrics.route.health.method.GET.status.2xx.requests"),
        1
    );
    assert_eq!(
        plugin.counter("request_metrics.route.other.method.other.status.4xx.requests"),
        1,
        "unknown paths and methods are bounded to `other`"
    );
    plugin.assert_not_failed();
}

#[test]
fn the_stats_tag_rules_turn_every_name_into_labels_prometheus_shows() {
    let plugin = start(include_str!("../example-config.json"));
    exchange(
        &plugin,
        "GET",
        "/orders/7",
        "200",
        Duration::from_millis(12),
    );
    exchange(&plugin, "DELETE", "/x", "404", Duration::ZERO);
    let rules = rules();
    let mut shown: Vec<String> = plugin
        .metrics()
        .iter()
        .map(|m| prometheus_series(&m.name, &rules))
        .collect();
    shown.sort();
    assert_eq!(
        shown,
        [
            r#"request_metrics_duration_ms{route="orders",method="GET",status_class="2xx"}"#,
            r#"request_metrics_duration_ms{route="other",method="DELETE",status_class="4xx"}"#,
            r#"request_metrics_requests{route="orders",method="GET",status_class="2xx"}"#,
            r#"request_metrics_requests{route="other",method="DELETE",status_class="4xx"}"#,
        ]
    );
}

#[test]
fn without_routes_the_proxys_route_name_is_the_label() {
    let plugin = Plugin::extension(NAME)
        .config("")
        .property(&["xds", "route_name"], "default.orders.v1")
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    exchange(&plugin, "GET", "/anything", "302", Duration::ZERO);
    // Dots would split the name where the tag rules look for parts: they become `_`.
    assert_eq!(
        plugin.counter("request_metrics.route.default_orders_v1.method.GET.status.3xx.requests"),
        1
    );
}

#[test]
fn a_stream_reset_before_its_response_counts_under_status_none() {
    let plugin = start(include_str!("../example-config.json"));
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[(":method", "GET"), (":path", "/orders")], true);
    stream.finish();
    assert_eq!(
        plugin.counter("request_metrics.route.orders.method.GET.status.none.requests"),
        1
    );
}

#[test]
fn a_refused_configuration_names_the_field() {
    let Err(error) = Plugin::extension(NAME)
        .config(r#"{"routes": [{"name": "a.b", "prefix": "/"}]}"#)
        .start()
    else {
        panic!("the configuration was taken")
    };
    assert!(matches!(error.failure, StartFailure::Configure), "{error}");
    assert!(
        error
            .reason()
            .contains(r#""routes[0].name" "a.b" cannot be a label"#),
        "{error}"
    );
}
