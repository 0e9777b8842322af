//! `cargo xtask serve`: builds the extensions, orders them as the mesh chains them, and hands them to the serve
//! crate's `proxy-wasm-serve` (wasmtime, hyper and tokio stay out of xtask). With `--watch` it rebuilds an
//! extension whose sources change; the proxy swaps in the new module and a failed build leaves the old one serving.
//! An extension of kind `service` is started beside the chain (`--service`); a network filter (kind `tcp`) runs on
//! the proxy's TCP listener in front of its TCP proxy (`--tcp-filter`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};

mod envoy_config;

use crate::manifest::Kind;
use crate::workspace::Extension;
use crate::{build, deploy, flags, manifest, runner, workspace};

/// How often `--watch` looks at the sources.
const WATCH_EVERY: Duration = Duration::from_millis(500);

impl flags::Serve {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let extensions = workspace::extensions(&self.package)?;
        let optimizer = build::WasmOpt::pinned()?;
        build::build(&extensions, &[], Some(&optimizer))?;
        let [filters, services, network] = by_kind(&extensions)?;
        let network = one_network_filter(network)?;
        let chain = chain_order(&filters)?;
        let configs = self.configs(&chain, &services, network.as_slice())?;
        if let Some(file) = &self.envoy_config {
            let text = self.envoy_bootstrap(&chain, &configs)?;
            workspace::write_atomic(file, text.as_bytes())?;
            eprintln!(
                "serve: wrote the Envoy bootstrap for this chain to {} (envoy -c {0})",
                file.display()
            );
            if let Some(network) = &network {
                eprintln!(
                    "serve: the bootstrap has the HTTP chain only: the network filter {} and the TCP listener are \
                     not in it",
                    network.name
                );
            }
        }
        let mut command = runner::serve_command()?;
        let flags = std::iter::repeat_n("--plugin", chain.len())
            .chain(std::iter::repeat_n("--service", services.len()))
            .chain(std::iter::repeat_n(
                "--tcp-filter",
                usize::from(network.is_some()),
            ));
        for ((extension, config), flag) in chain
            .iter()
            .chain(&services)
            .chain(&network)
            .zip(&configs)
            .zip(flags)
        {
            command.arg(flag).arg(format!(
                "{}={}",
                extension.name,
                extension.module_path().display()
            ));
            if let Some(config) = config {
                command
                    .arg("--config")
                    .arg(format!("{}={config}", extension.name));
            }
        }
        for policy in &self.failure_policy {
            command.arg("--failure-policy").arg(policy);
        }
        for cluster in &self.cluster {
            command.arg("--cluster").arg(cluster);
        }
        command.args(["--listen", &self.listen, "--admin", &self.admin]);
        if let Some(upstream) = &self.upstream {
            command.args(["--upstream", upstream]);
        }
        command.args(["--tcp-listen", &self.tcp_listen]);
        if let Some(upstream) = &self.tcp_upstream {
            command.args(["--tcp-upstream", upstream]);
        }
        if let Some(workers) = self.workers {
            command.args(["--workers", &workers.to_string()]);
        }
        if let Some(target) = self.target {
            command.args(["--for", &target.flag()]);
        }
        if self.watch {
            command.arg("--watch");
        }
        let mut proxy = command
            .spawn()
            .with_context(|| format!("cannot start {}", runner::SERVE))?;
        if self.watch {
            watch(&extensions, &optimizer, &mut proxy)?;
        }
        let status = proxy.wait()?;
        if !status.success() {
            // The proxy said why (a port in use, a module that did not start…).
            std::process::exit(status.code().unwrap_or(1));
        }
        Ok(())
    }

    /// Each extension's configuration as `--config` gives it (TEXT or @FILE), else its example-config.json: the
    /// chain's, then the services', then the network filter's.
    fn configs(
        &self,
        chain: &[Extension],
        services: &[Extension],
        network: &[Extension],
    ) -> anyhow::Result<Vec<Option<String>>> {
        let chain: Vec<Extension> = chain
            .iter()
            .chain(services)
            .chain(network)
            .cloned()
            .collect();
        for config in &self.config {
            let name = config
                .split_once('=')
                .map_or(config.as_str(), |(name, _)| name);
            if !chain.iter().any(|e| e.name == name) {
                let names: Vec<&str> = chain.iter().map(|e| e.name.as_str()).collect();
                bail!(
                    "--config {config}: expected NAME=TEXT or NAME=@FILE with NAME one of the chain ({})",
                    names.join(", ")
                );
            }
        }
        Ok(chain
            .iter()
            .map(|extension| {
                let given = self.config.iter().find_map(|c| {
                    c.split_once('=')
                        .filter(|(name, _)| *name == extension.name)
                        .map(|(_, value)| value.to_owned())
                });
                let example = deploy::example_config_path(extension);
                given.or_else(|| example.is_file().then(|| format!("@{}", example.display())))
            })
            .collect())
    }

    fn envoy_bootstrap(
        &self,
        chain: &[Extension],
        configs: &[Option<String>],
    ) -> anyhow::Result<String> {
        let mut entries = Vec::new();
        for (extension, config) in chain.iter().zip(configs) {
            let configuration = match config.as_deref().map(|c| (c.strip_prefix('@'), c)) {
                Some((Some(file), _)) => std::fs::read_to_string(file).with_context(|| {
                    format!("--config {}=@{file}: cannot read {file}", extension.name)
                })?,
                Some((None, text)) => text.to_owned(),
                None => String::new(),
            };
            let policy = self.failure_policy.iter().find_map(|p| {
                p.split_once('=')
                    .filter(|(name, _)| *name == extension.name)
                    .map(|(_, v)| v)
            });
            let failure_policy = match policy {
                None | Some("fail-closed") => "FAIL_CLOSED",
                Some("fail-open") => "FAIL_OPEN",
                Some("reload") => "FAIL_RELOAD",
                Some(other) => bail!(
                    "--failure-policy {}={other}: give fail-closed, fail-open or reload",
                    extension.name
                ),
            };
            let module = std::path::absolute(extension.module_path())?;
            entries.push(envoy_config::ChainEntry {
                name: extension.name.clone(),
                module: module.display().to_string(),
                configuration,
                failure_policy,
            });
        }
        let mut scripted = Vec::new();
        let mut tcp_clusters = Vec::new();
        let mut clusters = Vec::new();
        for cluster in &self.cluster {
            let (name, url) = cluster
                .split_once('=')
                .with_context(|| format!("--cluster {cluster}: expected NAME=URL or NAME=@FILE"))?;
            if url.starts_with('@') {
                scripted.push(name);
                continue;
            }
            if url.starts_with("tcp://") {
                tcp_clusters.push(name);
                continue;
            }
            clusters.push((
                name.to_owned(),
                endpoint(url).with_context(|| format!("--cluster {cluster}"))?,
            ));
        }
        let setup = envoy_config::Setup {
            listen: address("--listen", &self.listen)?,
            admin: address("--admin", &self.admin)?,
            chain: entries,
            upstream: self
                .upstream
                .as_deref()
                .map(|u| endpoint(u).with_context(|| format!("--upstream {u}")))
                .transpose()?,
            clusters,
        };
        let mut text = String::from(
            "# Written by `cargo xtask serve --envoy-config`: the chain serve runs, for `envoy -c THIS_FILE`.\n",
        );
        if setup.upstream.is_none() {
            text.push_str("# No --upstream: the route answers directly (serve's echo upstream is not part of Envoy).\n");
        }
        for name in tcp_clusters {
            text.push_str(&format!(
                "# Cluster {name} is serve's TCP proxy's (tcp://) and absent here, as serve's TCP listener is.\n"
            ));
        }
        for name in scripted {
            text.push_str(&format!(
                "# Cluster {name} is scripted in serve and absent here: Envoy refuses callouts to it until you add it.\n"
            ));
        }
        text.push_str(&serde_saphyr::to_string(&envoy_config::bootstrap(&setup))?);
        Ok(text)
    }
}

/// `HOST:PORT` of a listener flag.
fn address(flag: &str, text: &str) -> anyhow::Result<(String, u16)> {
    let (host, port) = text
        .rsplit_once(':')
        .and_then(|(h, p)| {
            Some((
                h.trim_start_matches('[').trim_end_matches(']'),
                p.parse().ok()?,
            ))
        })
        .with_context(|| format!("{flag} {text}: expected HOST:PORT"))?;
    Ok((host.to_owned(), port))
}

/// `http://HOST:PORT` or `h2c://HOST:PORT`.
fn endpoint(url: &str) -> anyhow::Result<envoy_config::Endpoint> {
    let (http2, rest) = match (url.strip_prefix("http://"), url.strip_prefix("h2c://")) {
        (Some(rest), _) => (false, rest),
        (_, Some(rest)) => (true, rest),
        _ => bail!("expected http://HOST:PORT or h2c://HOST:PORT"),
    };
    let (host, port) = address("the address", rest.trim_end_matches('/'))?;
    Ok(envoy_config::Endpoint { host, port, http2 })
}

/// The network filter for the TCP listener, if any: serve runs one, as the filters of one Envoy connection share a
/// read buffer that serve does not model for two wasm filters.
fn one_network_filter(network: Vec<Extension>) -> anyhow::Result<Option<Extension>> {
    if network.len() > 1 {
        let names: Vec<&str> = network.iter().map(|e| e.name.as_str()).collect();
        bail!(
            "serve runs one network filter (kind = \"tcp\") on its TCP listener and these are all network filters: \
             {}; pick one with -p NAME (with the HTTP filters and services you want beside it)",
            names.join(", ")
        );
    }
    Ok(network.into_iter().next())
}

/// The extensions by what serve does with them: HTTP filters for the chain, services to start beside it, network
/// filters for its TCP listener.
fn by_kind(extensions: &[Extension]) -> anyhow::Result<[Vec<Extension>; 3]> {
    let mut sorted: [Vec<Extension>; 3] = Default::default();
    for extension in extensions {
        let slot = match manifest::kind_of(extension)? {
            Kind::Http => 0,
            Kind::Service => 1,
            Kind::Tcp => 2,
        };
        sorted[slot].push(extension.clone());
    }
    Ok(sorted)
}

/// The order Envoy's filter chain has in the mesh: by manifest phase (Maistra's order), then priority, higher
/// first; equal ones by name, so the order never depends on the directory listing.
fn chain_order(extensions: &[Extension]) -> anyhow::Result<Vec<Extension>> {
    let defaults = manifest::load_defaults()?;
    let mut keyed = Vec::new();
    for extension in extensions {
        let manifest = manifest::manifest_for(extension, &defaults)?;
        keyed.push((
            (manifest.phase, -manifest.priority, extension.name.clone()),
            extension.clone(),
        ));
    }
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(keyed.into_iter().map(|(_, e)| e).collect())
}

/// Rebuilds an extension whose sources changed until the proxy exits.
fn watch(
    extensions: &[Extension],
    optimizer: &build::WasmOpt,
    proxy: &mut Child,
) -> anyhow::Result<()> {
    let mut seen: Vec<BTreeMap<PathBuf, SystemTime>> =
        extensions.iter().map(|e| stamps(&e.dir)).collect();
    while proxy.try_wait()?.is_none() {
        std::thread::sleep(WATCH_EVERY);
        for (extension, seen) in extensions.iter().zip(seen.iter_mut()) {
            let now = stamps(&extension.dir);
            if now == *seen {
                continue;
            }
            *seen = now;
            eprintln!("serve: {} changed; rebuilding", extension.name);
            if let Err(e) = build::build(std::slice::from_ref(extension), &[], Some(optimizer)) {
                eprintln!(
                    "serve: {} did not build; the running VMs keep serving:\n{e:#}",
                    extension.name
                );
            }
        }
    }
    Ok(())
}

/// The modification time of every source file of an extension (its Cargo.toml and everything under src/).
fn stamps(dir: &Path) -> BTreeMap<PathBuf, SystemTime> {
    let mut stamps = BTreeMap::new();
    let mut pending = vec![dir.join("src")];
    let manifest = dir.join("Cargo.toml");
    if let Ok(modified) = std::fs::metadata(&manifest).and_then(|m| m.modified()) {
        stamps.insert(manifest, modified);
    }
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => pending.push(path),
                Ok(meta) => {
                    if let Ok(modified) = meta.modified() {
                        stamps.insert(path, modified);
                    }
                }
                Err(_) => {}
            }
        }
    }
    stamps
}

#[cfg(test)]
mod tests;
