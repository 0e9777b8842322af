//! Wasm services started beside the chain, as Envoy starts its bootstrap extension `envoy.bootstrap.wasm` with
//! `singleton: true`: one VM each, on a thread of their own that stands for Envoy's main thread, on the real clock.
//! They are started on the process's `Envoy`, so they share shared data and queues with the chain's plugins on every
//! worker; what a worker's plugin enqueues on a service's queue reaches it at its next turn.

use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use host::testing::{Envoy, Service};
use tokio::sync::watch;

use crate::flags::PluginSpec;
use crate::logs;

/// How often the services' clocks catch up with the real one and what was posted to them runs.
const TURN: Duration = Duration::from_millis(10);

/// Starts `specs` on their thread; returns once each started (or the first did not, with its reason and logs).
pub fn start(
    specs: Vec<PluginSpec>,
    envoy: Envoy,
    target: envoy_targets::Target,
    clusters: Vec<String>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    if specs.is_empty() {
        return Ok(None);
    }
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("main".into())
        .spawn(move || {
            let names: Vec<&str> = clusters.iter().map(String::as_str).collect();
            let mut services = Vec::new();
            for spec in &specs {
                match start_one(spec, &envoy, target, &names) {
                    Ok(service) => services.push((spec.name.clone(), service)),
                    Err(e) => {
                        let _ = started_tx.send(Err(e));
                        return;
                    }
                }
            }
            let _ = started_tx.send(Ok(()));
            run(&services, &stop);
        })?;
    match started_rx.recv() {
        Ok(Ok(())) => Ok(Some(thread)),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => anyhow::bail!("the services' thread ended before they started"),
    }
}

fn start_one(
    spec: &PluginSpec,
    envoy: &Envoy,
    target: envoy_targets::Target,
    clusters: &[&str],
) -> anyhow::Result<Service> {
    let service = spec
        .builder(target)
        .clusters(clusters)
        .start_time(SystemTime::now())
        .on(envoy)
        .start_service()
        .map_err(|e| {
            let mut message = format!("service {}: {e}", spec.name);
            for line in &e.logs {
                message.push_str(&format!("\n  {}", logs::line(&spec.name, line)));
            }
            anyhow::anyhow!(message)
        })?;
    for line in service.start_up_logs() {
        logs::print(&spec.name, &line);
    }
    Ok(service)
}

/// Turns until the proxy stops: the clock catches up (ticks fire), queue notifications posted by the workers run,
/// the lines logged meanwhile are printed. Then each service shuts down as Envoy's does (`on_done`, `on_delete`).
fn run(services: &[(String, Service)], stop: &watch::Receiver<bool>) {
    let mut last = Instant::now();
    loop {
        let stopping = *stop.borrow();
        let now = Instant::now();
        for (name, service) in services {
            service.advance_time(now - last);
            service.dispatch();
            if stopping {
                service.shutdown();
            }
            for line in service.take_logs() {
                logs::print(name, &line);
            }
        }
        last = now;
        if stopping {
            return;
        }
        std::thread::sleep(TURN);
    }
}
