//! `proxy-wasm-serve`: the dev proxy behind `cargo xtask serve`. It listens for HTTP, runs every request through the
//! chain of plugins with the host's Envoy layer (one VM per plugin per worker thread, the real clock, callouts on the
//! wire) and forwards it to the upstream (or the built-in echo upstream). Wasm services run beside the chain. With a
//! network filter, a TCP listener runs it in front of Envoy's TCP proxy to a TCP upstream.

mod access_log;
mod admin;
mod body;
mod callouts;
mod codec;
mod echo;
mod exchange;
mod flags;
mod grpc;
mod logs;
mod proxy;
mod script;
mod services;
mod side_server;
mod stats;
mod tcp_echo;
mod tcp_proxy;
mod worker;

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use host::testing::Envoy;
use tokio::sync::{mpsc, watch};

use crate::flags::{Cluster, Flags};

fn main() -> ExitCode {
    let flags = Flags::parse();
    match serve(flags) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serve: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(flags: Flags) -> anyhow::Result<()> {
    let flags::Plugins {
        chain,
        services,
        tcp,
    } = flags.plugins()?;
    let clusters = flags.clusters()?;
    let workers = flags.workers()?;
    for plugin in chain.iter().chain(&services).chain(&tcp) {
        if !plugin.module.is_file() {
            anyhow::bail!(
                "--plugin {}={}: no module there; build it first (cargo xtask build -p {})",
                plugin.name,
                plugin.module.display(),
                plugin.name
            );
        }
    }
    let (listener, listening) = bind("--listen", flags.listen)?;
    let (admin_listener, admin_address) = admin::bind(flags.admin)?;
    let (upstream, upstream_shown) = match flags.upstream()? {
        Some(target) => {
            let shown = target.to_string();
            (target, shown)
        }
        None => {
            let echo = echo::start().context("cannot start the built-in echo upstream")?;
            let target = flags::target(&format!("http://{echo}"))?;
            (target, format!("built-in echo upstream on {echo}"))
        }
    };

    let tcp = match tcp {
        Some(spec) => {
            let (listener, listening) = bind("--tcp-listen", flags.tcp_listen)?;
            let (upstream, shown) = match flags.tcp_upstream()? {
                Some(address) => (address.clone(), address),
                None => {
                    let echo =
                        tcp_echo::start().context("cannot start the built-in TCP echo upstream")?;
                    (
                        echo.to_string(),
                        format!("built-in TCP echo upstream on {echo}"),
                    )
                }
            };
            let plan = worker::TcpPlan {
                spec,
                listening,
                upstream,
            };
            Some((listener, plan, shown))
        }
        None => None,
    };

    let envoy = Envoy::new();
    let target = flags.target.unwrap_or(envoy_targets::Target::Envoy {
        minor: envoy_targets::ENVOY_LATEST,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    // As Envoy starts its bootstrap extensions before the listeners take traffic.
    let service_names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
    let services_thread = services::start(
        services,
        envoy.clone(),
        target,
        clusters.clone(),
        stop_rx.clone(),
    )?;
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let mut queries = Vec::new();
    let mut threads = Vec::new();
    for index in 0..workers {
        let (query_tx, query_rx) = mpsc::unbounded_channel();
        queries.push(query_tx);
        let setup = worker::Setup {
            plan: worker::Plan {
                index,
                specs: chain.clone(),
                clusters: clusters.clone(),
                upstream: upstream.clone(),
                envoy: envoy.clone(),
                target,
                listening,
                tcp: tcp.as_ref().map(|(_, plan, _)| plan.clone()),
            },
            listener: listener
                .try_clone()
                .context("cannot share the listener with a worker")?,
            tcp_listener: tcp
                .as_ref()
                .map(|(listener, _, _)| listener.try_clone())
                .transpose()
                .context("cannot share the TCP listener with a worker")?,
            watch: flags.watch,
        };
        let started = started_tx.clone();
        let stop = stop_rx.clone();
        let thread = std::thread::Builder::new()
            .name(format!("worker-{index}"))
            .spawn(move || worker::run(setup, started, query_rx, stop))
            .context("cannot start a worker thread")?;
        threads.push(thread);
        if index == 0 {
            // As Envoy's main thread runs the base VM and the configuration canary before any worker clones
            // them: a plugin that does not start is reported once, from its first start.
            if let Ok(Err(e)) = started_rx.recv() {
                let _ = threads.pop().map(std::thread::JoinHandle::join);
                let _ = stop_tx.send(true);
                let _ = services_thread.map(std::thread::JoinHandle::join);
                anyhow::bail!("{e}");
            }
        }
    }
    drop(started_tx);
    let mut failure = None;
    for _ in 1..workers {
        match started_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failure.get_or_insert(e);
            }
            Err(_) => {
                failure.get_or_insert_with(|| "a worker ended before it started".to_owned());
            }
        }
    }
    if let Some(failure) = failure {
        let _ = stop_tx.send(true);
        for thread in threads.into_iter().chain(services_thread) {
            let _ = thread.join();
        }
        anyhow::bail!("{failure}");
    }
    admin::start(
        admin_listener,
        admin::Admin {
            workers: queries,
            envoy: target.envoy(),
            config: config_dump(
                &chain,
                tcp.as_ref().map(|(_, plan, shown)| (plan, shown.as_str())),
                &clusters,
                &upstream_shown,
                listening,
                workers,
            ),
        },
    )?;
    let mut names: Vec<&str> = chain.iter().map(|p| p.name.as_str()).collect();
    if names.is_empty() {
        names.push("(no plugin)");
    }
    let beside = if service_names.is_empty() {
        String::new()
    } else {
        format!("; services: {}", service_names.join(", "))
    };
    let tcp_listener = match &tcp {
        Some((_, plan, shown)) => format!(
            "; tcp on tcp://{} (filter: {}; upstream: {shown})",
            plan.listening, plan.spec.name
        ),
        None => String::new(),
    };
    println!(
        "serve: listening on http://{listening} ({workers} worker(s); chain: {}; upstream: {upstream_shown}{beside}){tcp_listener}; admin on http://{admin_address}",
        names.join(" -> ")
    );

    wait_for_signal();
    eprintln!("serve: draining");
    let _ = stop_tx.send(true);
    for thread in threads.into_iter().chain(services_thread) {
        let _ = thread.join();
    }
    Ok(())
}

/// Binds a listener, with a message that names the flag when the address is taken.
pub fn bind(
    flag: &str,
    address: SocketAddr,
) -> anyhow::Result<(std::net::TcpListener, SocketAddr)> {
    let listener = std::net::TcpListener::bind(address).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => "; another process uses it: pick another port",
            _ => "",
        };
        anyhow::anyhow!("{flag} {address}: cannot listen: {e}{hint}")
    })?;
    let bound = listener.local_addr()?;
    Ok((listener, bound))
}

/// Ctrl-C or SIGTERM.
fn wait_for_signal() {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    runtime.block_on(async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let terminated = async {
            match &mut term {
                Some(term) => {
                    term.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminated => {}
        }
    });
}

fn config_dump(
    chain: &[flags::PluginSpec],
    tcp: Option<(&worker::TcpPlan, &str)>,
    clusters: &[(String, Cluster)],
    upstream: &str,
    listening: SocketAddr,
    workers: usize,
) -> serde_json::Value {
    let plugin = |p: &flags::PluginSpec| {
        serde_json::json!({
            "name": p.name,
            "module": p.module.display().to_string(),
            "configuration": String::from_utf8_lossy(&p.config),
            "failure_policy": p.failure_policy.map_or("unset (FAIL_CLOSED)".to_owned(), |policy| format!("{policy:?}")),
        })
    };
    let plugins: Vec<serde_json::Value> = chain.iter().map(plugin).collect();
    let tcp = tcp.map(|(plan, upstream)| {
        serde_json::json!({
            "listener": plan.listening.to_string(),
            "network_filter": plugin(&plan.spec),
            "tcp_proxy_cluster": host::testing::TCP_PROXY_CLUSTER,
            "upstream": upstream,
        })
    });
    let clusters: serde_json::Map<String, serde_json::Value> = clusters
        .iter()
        .map(|(name, cluster)| (name.clone(), cluster.to_string().into()))
        .collect();
    serde_json::json!({
        "listener": listening.to_string(),
        "workers": workers,
        "chain": plugins,
        "upstream": upstream,
        "clusters": clusters,
        "tcp": tcp,
    })
}
