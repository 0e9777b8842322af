//! The command line of `proxy-wasm-serve` (what `cargo xtask serve` hands it): the chain in order, each plugin's
//! configuration and failure policy, where to listen, where requests and callouts go.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Parser;
use hyper::Uri;

/// Serves HTTP on `--listen` through a chain of proxy-wasm plugins, each run as Envoy runs it: one VM per worker.
#[derive(Parser, Debug)]
#[command(name = "proxy-wasm-serve", version)]
pub struct Flags {
    /// A plugin of the chain: `NAME=PATH.wasm`. Repeat in chain order: request callbacks run in this order,
    /// response callbacks in reverse. Without any, requests go straight to the upstream (a baseline).
    #[arg(long = "plugin", value_name = "NAME=PATH")]
    pub plugins: Vec<String>,
    /// A Wasm service started beside the chain, as Envoy starts its bootstrap extension `envoy.bootstrap.wasm`:
    /// `NAME=PATH.wasm`, repeatable. One VM on a thread of its own (a `singleton` service), on the real clock, sharing
    /// shared data and queues with the chain's plugins. `--config` and `--failure-policy` name it like a plugin.
    #[arg(long = "service", value_name = "NAME=PATH")]
    pub services: Vec<String>,
    /// A network filter (`envoy.filters.network.wasm`) on the TCP listener, in front of Envoy's TCP proxy:
    /// `NAME=PATH.wasm`. One VM per worker, as for the HTTP chain; `--config` and `--failure-policy` name it like a
    /// plugin. One filter: two wasm network filters share Envoy's one read buffer, which the host does not model.
    #[arg(long = "tcp-filter", value_name = "NAME=PATH")]
    pub tcp_filters: Vec<String>,
    /// Where TCP clients connect when there is a `--tcp-filter`.
    #[arg(long = "tcp-listen", default_value = "127.0.0.1:10001")]
    pub tcp_listen: SocketAddr,
    /// The TCP proxy's own cluster (`upstream`, the one a connection goes to unless its filter picks another with
    /// `set_envoy_filter_state("envoy.tcp_proxy.cluster", NAME)`): `HOST:PORT`. Without it, a built-in upstream
    /// echoes every byte back. A cluster the filter picks is looked up in `--cluster` (`NAME=tcp://HOST:PORT`, or an
    /// `http://` one's address).
    #[arg(long = "tcp-upstream", value_name = "HOST:PORT")]
    pub tcp_upstream: Option<String>,
    /// A plugin's (or service's) configuration (`on_configure`): `NAME=TEXT` or `NAME=@FILE`.
    #[arg(long = "config", value_name = "NAME=TEXT|@FILE")]
    pub configs: Vec<String>,
    /// A plugin's failure policy when its VM fails: `NAME=fail-closed|fail-open|reload` (Envoy's default:
    /// fail-closed, a 503 for every stream).
    #[arg(long = "failure-policy", value_name = "NAME=POLICY")]
    pub failure_policies: Vec<String>,
    /// Where clients connect (HTTP/1.1 and cleartext HTTP/2 with prior knowledge).
    #[arg(long, default_value = "127.0.0.1:10000")]
    pub listen: SocketAddr,
    /// Where requests go after the chain: `http://HOST:PORT` (HTTP/1.1) or `h2c://HOST:PORT` (HTTP/2 with prior
    /// knowledge). Without it, a built-in echo upstream answers with the request it received, as JSON.
    #[arg(long)]
    pub upstream: Option<String>,
    /// A cluster the plugins may call out to: `NAME=http://HOST:PORT` (or `h2c://`), or `NAME=@FILE`, a JSON array
    /// of canned answers (status, headers, body, delay_ms, reset, timeout). Envoy refuses a callout to a cluster
    /// its configuration does not declare, and so does this proxy. `NAME=tcp://HOST:PORT`: a cluster only the TCP
    /// proxy connects to, when the network filter picks it.
    #[arg(long = "cluster", value_name = "NAME=URL")]
    pub clusters: Vec<String>,
    /// Worker threads, each with its own VM of every plugin (default: the number of cores). The host keeps at most
    /// 1000 VMs at once: workers × plugins, plus a base VM per plugin.
    #[arg(long)]
    pub workers: Option<usize>,
    /// The admin listener: /ready, /stats/prometheus, /config_dump.
    #[arg(long, default_value = "127.0.0.1:9901")]
    pub admin: SocketAddr,
    /// The mesh or Envoy release the plugins run as, named as `cargo xtask deploy --for` names it (`istio-1.24`,
    /// `envoy-1.34`): that Envoy's imports, configuration fields and Wasm behaviour, and its metric names in
    /// /stats/prometheus. Default: the newest Envoy.
    #[arg(long = "for", value_name = "TARGET")]
    pub target: Option<envoy_targets::Target>,
    /// Swap in a plugin's new VMs when its module file changes (`cargo xtask serve --watch` rebuilds it);
    /// requests in flight finish on the old VMs.
    #[arg(long)]
    pub watch: bool,
}

/// One plugin of the chain, as the flags describe it.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    pub name: String,
    pub module: PathBuf,
    pub config: Vec<u8>,
    /// `--failure-policy`; unset, Envoy's own default (FAIL_CLOSED), and the field is not written, as an Envoy
    /// before 1.33 has none.
    pub failure_policy: Option<host::testing::FailurePolicy>,
}

impl PluginSpec {
    /// The plugin as `cargo xtask deploy` writes it for Envoy (its root_id is its name), on `target`'s Envoy; the
    /// failure policy only where one was given, as an Envoy before 1.33 has no such field.
    pub fn builder(&self, target: envoy_targets::Target) -> host::testing::PluginBuilder {
        let mut builder = host::testing::Plugin::load(&self.module)
            .target(&target.flag())
            .name(&self.name)
            .root_id(&self.name)
            .config(&self.config);
        if let Some(policy) = self.failure_policy {
            builder = builder.failure_policy(policy);
        }
        builder
    }
}

/// A cluster callouts (or the TCP proxy) may reach.
#[derive(Debug, Clone)]
pub enum Cluster {
    Wire(Target),
    Script(crate::script::Script),
    /// `tcp://HOST:PORT`: raw TCP, for the TCP proxy only.
    Tcp(String),
}

/// The plugins the flags name, by where they run.
#[derive(Debug, Clone, Default)]
pub struct Plugins {
    /// The HTTP chain, in order.
    pub chain: Vec<PluginSpec>,
    /// Wasm services beside it.
    pub services: Vec<PluginSpec>,
    /// The network filter on the TCP listener.
    pub tcp: Option<PluginSpec>,
}

/// Where a cluster's (or the upstream's) requests go.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://HOST:PORT`, the authority requests are sent to.
    pub uri: Uri,
    /// HTTP/2 with prior knowledge instead of HTTP/1.1.
    pub http2: bool,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.http2 { "h2c" } else { "http" };
        let authority = self.uri.authority().map_or("", |a| a.as_str());
        write!(f, "{scheme}://{authority}")
    }
}

impl std::fmt::Display for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cluster::Wire(target) => target.fmt(f),
            Cluster::Script(_) => f.write_str("scripted answers"),
            Cluster::Tcp(address) => write!(f, "tcp://{address}"),
        }
    }
}

impl Flags {
    /// The chain, in order, the services and the network filter, each with its configuration and policy; every
    /// `--config` and `--failure-policy` must name one of them.
    pub fn plugins(&self) -> anyhow::Result<Plugins> {
        if let [first, second, ..] = self.tcp_filters.as_slice() {
            bail!(
                "--tcp-filter {first} --tcp-filter {second}: serve runs one network filter in front of the TCP proxy; \
                 Envoy's filters of one connection share its read buffer, which serve does not model for two wasm \
                 filters. Give one --tcp-filter"
            );
        }
        let mut chain: Vec<PluginSpec> = Vec::new();
        for (flag, plugin) in self
            .plugins
            .iter()
            .map(|p| ("--plugin", p))
            .chain(self.services.iter().map(|s| ("--service", s)))
            .chain(self.tcp_filters.iter().map(|t| ("--tcp-filter", t)))
        {
            let (name, path) = split(flag, plugin, "NAME=PATH.wasm")?;
            if chain.iter().any(|p| p.name == name) {
                bail!(
                    "{flag} {plugin}: a plugin or service is already named {name}; give each its own name"
                );
            }
            chain.push(PluginSpec {
                name: name.to_owned(),
                module: PathBuf::from(path),
                config: Vec::new(),
                failure_policy: None,
            });
        }
        for config in &self.configs {
            let (name, value) = split("--config", config, "NAME=TEXT or NAME=@FILE")?;
            let plugin = named(&mut chain, "--config", name)?;
            plugin.config = match value.strip_prefix('@') {
                Some(file) => std::fs::read(file)
                    .with_context(|| format!("--config {name}=@{file}: cannot read {file}"))?,
                None => value.as_bytes().to_vec(),
            };
        }
        for policy in &self.failure_policies {
            let (name, value) = split(
                "--failure-policy",
                policy,
                "NAME=fail-closed|fail-open|reload",
            )?;
            let plugin = named(&mut chain, "--failure-policy", name)?;
            plugin.failure_policy = Some(match value {
                "fail-closed" => host::testing::FailurePolicy::Closed,
                "fail-open" => host::testing::FailurePolicy::Open,
                "reload" => host::testing::FailurePolicy::Reload,
                other => bail!(
                    "--failure-policy {name}={other}: not a policy; give fail-closed, fail-open or reload"
                ),
            });
        }
        let tcp = chain
            .split_off(self.plugins.len() + self.services.len())
            .pop();
        let services = chain.split_off(self.plugins.len());
        Ok(Plugins {
            chain,
            services,
            tcp,
        })
    }

    /// The clusters callouts may reach, by name.
    pub fn clusters(&self) -> anyhow::Result<Vec<(String, Cluster)>> {
        let mut clusters: Vec<(String, Cluster)> = Vec::new();
        for cluster in &self.clusters {
            let (name, url) = split("--cluster", cluster, "NAME=http://HOST:PORT or NAME=@FILE")?;
            if clusters.iter().any(|(n, _)| n == name) {
                bail!("--cluster {cluster}: cluster {name} is given twice");
            }
            let answered = match (url.strip_prefix('@'), url.strip_prefix("tcp://")) {
                (Some(file), _) => {
                    crate::script::Script::load(std::path::Path::new(file)).map(Cluster::Script)
                }
                (None, Some(address)) => tcp_address(address).map(Cluster::Tcp),
                (None, None) => target(url).map(Cluster::Wire),
            };
            clusters.push((
                name.to_owned(),
                answered.with_context(|| format!("--cluster {cluster}"))?,
            ));
        }
        Ok(clusters)
    }

    pub fn upstream(&self) -> anyhow::Result<Option<Target>> {
        self.upstream
            .as_deref()
            .map(|url| target(url).with_context(|| format!("--upstream {url}")))
            .transpose()
    }

    /// `--tcp-upstream HOST:PORT`, if given.
    pub fn tcp_upstream(&self) -> anyhow::Result<Option<String>> {
        self.tcp_upstream
            .as_deref()
            .map(|a| tcp_address(a).with_context(|| format!("--tcp-upstream {a}")))
            .transpose()
    }

    pub fn workers(&self) -> anyhow::Result<usize> {
        match self.workers {
            Some(0) => bail!("--workers 0: give at least one worker"),
            Some(n) => Ok(n),
            None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
        }
    }
}

fn split<'a>(flag: &str, value: &'a str, form: &str) -> anyhow::Result<(&'a str, &'a str)> {
    match value.split_once('=') {
        Some((name, rest)) if !name.is_empty() => Ok((name, rest)),
        _ => bail!("{flag} {value}: expected {form}"),
    }
}

fn named<'a>(
    chain: &'a mut [PluginSpec],
    flag: &str,
    name: &str,
) -> anyhow::Result<&'a mut PluginSpec> {
    let names: Vec<&str> = chain.iter().map(|p| p.name.as_str()).collect();
    let names = names.join(", ");
    chain.iter_mut().find(|p| p.name == name).with_context(|| {
        format!("{flag} {name}=…: no plugin or service named {name} (there are: {names})")
    })
}

/// `HOST:PORT` of a TCP upstream (the host a name, resolved at each connection as Envoy's STRICT_DNS would).
fn tcp_address(address: &str) -> anyhow::Result<String> {
    match address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(address.to_owned())
        }
        _ => bail!("{address}: expected HOST:PORT (for example 127.0.0.1:7000)"),
    }
}

/// `http://HOST:PORT` or `h2c://HOST:PORT`, without a path: requests keep their own.
pub fn target(url: &str) -> anyhow::Result<Target> {
    let uri: Uri = url
        .parse()
        .with_context(|| format!("{url} is not a URL; give http://HOST:PORT or h2c://HOST:PORT"))?;
    let http2 = match uri.scheme_str() {
        Some("http") => false,
        Some("h2c") => true,
        Some("https") => {
            bail!("TLS upstreams are not supported; give http://HOST:PORT or h2c://HOST:PORT")
        }
        _ => bail!("{url}: give http://HOST:PORT or h2c://HOST:PORT"),
    };
    let Some(authority) = uri.authority() else {
        bail!("{url} names no host; give http://HOST:PORT");
    };
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        bail!("{url}: give the address only (http://HOST:PORT); requests keep their own path");
    }
    let uri = Uri::builder()
        .scheme("http")
        .authority(authority.clone())
        .path_and_query("/")
        .build()?;
    Ok(Target { uri, http2 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Flags {
        Flags::try_parse_from(["proxy-wasm-serve"].iter().chain(args)).unwrap()
    }

    #[test]
    fn a_config_for_a_plugin_not_in_the_chain_names_the_chain() {
        let f = flags(&["--plugin", "a=a.wasm", "--config", "b={}"]);
        let error = format!("{:#}", f.plugins().unwrap_err());
        assert!(
            error.contains("no plugin or service named b (there are: a)"),
            "{error}"
        );
        let f = flags(&[
            "--plugin",
            "a=a.wasm",
            "--service",
            "s=s.wasm",
            "--config",
            "s=tick",
        ]);
        let plugins = f.plugins().unwrap();
        assert_eq!(plugins.chain.len(), 1);
        assert_eq!(plugins.services[0].name, "s");
        assert_eq!(plugins.services[0].config, b"tick");
    }

    #[test]
    fn a_tcp_filter_takes_its_configuration_and_a_second_one_is_refused() {
        let f = flags(&[
            "--plugin",
            "a=a.wasm",
            "--tcp-filter",
            "t=t.wasm",
            "--config",
            "t=tcp prefix-downstream=x",
        ]);
        let plugins = f.plugins().unwrap();
        assert_eq!(plugins.chain.len(), 1);
        let tcp = plugins.tcp.expect("the network filter");
        assert_eq!(
            (tcp.name.as_str(), tcp.config.as_slice()),
            ("t", &b"tcp prefix-downstream=x"[..])
        );
        let f = flags(&["--tcp-filter", "t=t.wasm", "--tcp-filter", "u=u.wasm"]);
        let error = format!("{:#}", f.plugins().unwrap_err());
        assert!(error.contains("one network filter"), "{error}");
    }

    #[test]
    fn a_tcp_cluster_and_upstream_need_host_and_port() {
        let f = flags(&["--cluster", "db=tcp://127.0.0.1:5432"]);
        let clusters = f.clusters().unwrap();
        assert!(matches!(&clusters[0].1, Cluster::Tcp(a) if a == "127.0.0.1:5432"));
        let f = flags(&["--cluster", "db=tcp://nowhere"]);
        let error = format!("{:#}", f.clusters().unwrap_err());
        assert!(error.contains("expected HOST:PORT"), "{error}");
        let f = flags(&["--tcp-upstream", "7000"]);
        let error = format!("{:#}", f.tcp_upstream().unwrap_err());
        assert!(error.contains("--tcp-upstream 7000"), "{error}");
    }

    #[test]
    fn a_cluster_needs_an_http_address() {
        let f = flags(&["--plugin", "a=a.wasm", "--cluster", "auth=ftp://x"]);
        let error = format!("{:#}", f.clusters().unwrap_err());
        assert!(error.contains("--cluster auth=ftp://x"), "{error}");
        assert!(error.contains("give http://HOST:PORT"), "{error}");
        let f = flags(&["--plugin", "a=a.wasm", "--cluster", "auth"]);
        let error = format!("{:#}", f.clusters().unwrap_err());
        assert!(
            error.contains("expected NAME=http://HOST:PORT or NAME=@FILE"),
            "{error}"
        );
    }

    #[test]
    fn h2c_means_http2_prior_knowledge() {
        let t = target("h2c://127.0.0.1:8080").unwrap();
        assert!(t.http2);
        assert_eq!(t.uri.to_string(), "http://127.0.0.1:8080/");
    }
}
