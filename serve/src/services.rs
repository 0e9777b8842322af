//! Wasm services started beside the chain, as Envoy starts its bootstrap extension `envoy.bootstrap.wasm` with
//! `singleton: true`: one VM each, on a thread of their own that stands for Envoy's main thread, on the real clock.
//! They are started on the process's `Envoy`, so they share shared data and queues with the chain's plugins on every
//! worker; what a worker's plugin enqueues on a service's queue reaches it at its next turn. Their HTTP callouts and
//! unary gRPC calls go on the wire as a worker's do, answered on this thread (Envoy's main thread has its own
//! async clients).

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use host::testing::{Envoy, GrpcCall, HttpCall, Service};
use tokio::sync::watch;

use crate::flags::{Cluster, PluginSpec};
use crate::{callouts, logs, proxy};

/// How often the services' clocks catch up with the real one and what was posted to them runs.
const TURN: Duration = Duration::from_millis(10);

/// Starts `specs` on their thread; returns once each started (or the first did not, with its reason and logs).
pub fn start(
    specs: Vec<PluginSpec>,
    envoy: Envoy,
    target: envoy_targets::Target,
    clusters: Vec<(String, Cluster)>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    if specs.is_empty() {
        return Ok(None);
    }
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("main".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = started_tx.send(Err(anyhow::anyhow!(
                        "cannot start the services' runtime: {e}"
                    )));
                    return;
                }
            };
            let names: Vec<&str> = clusters.iter().map(|(name, _)| name.as_str()).collect();
            let mut services = Vec::new();
            for spec in &specs {
                match start_one(spec, &envoy, target, &names) {
                    Ok(service) => services.push(Running {
                        name: spec.name.clone(),
                        service,
                        sent: RefCell::new(HashSet::new()),
                    }),
                    Err(e) => {
                        let _ = started_tx.send(Err(e));
                        return;
                    }
                }
            }
            let _ = started_tx.send(Ok(()));
            let wire = Rc::new(Wire {
                client: proxy::Client::new(),
                clusters,
            });
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, run(Rc::new(services), wire, stop));
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

/// A started service and the tokens of its calls already on the wire.
struct Running {
    name: String,
    service: Service,
    sent: RefCell<HashSet<u32>>,
}

/// Where the services' calls go: the `--cluster` map and a client of this thread's own.
struct Wire {
    client: proxy::Client,
    clusters: Vec<(String, Cluster)>,
}

impl Wire {
    fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
    }
}

/// Turns until the proxy stops: the clock catches up (ticks fire), queue notifications posted by the workers run,
/// new calls go on the wire, the lines logged meanwhile are printed. Then each service shuts down as Envoy's does
/// (`on_done`, `on_delete`); calls still on the wire are dropped with the runtime.
async fn run(services: Rc<Vec<Running>>, wire: Rc<Wire>, stop: watch::Receiver<bool>) {
    let mut last = Instant::now();
    loop {
        let stopping = *stop.borrow();
        let now = Instant::now();
        for (index, running) in services.iter().enumerate() {
            running.service.advance_time(now - last);
            running.service.dispatch();
            if stopping {
                running.service.shutdown();
            } else {
                send_new(&services, index, &wire);
            }
            for line in running.service.take_logs() {
                logs::print(&running.name, &line);
            }
        }
        last = now;
        if stopping {
            return;
        }
        tokio::time::sleep(TURN).await;
    }
}

/// Puts the service's calls that are not on the wire yet there: HTTP callouts and unary gRPC calls.
fn send_new(services: &Rc<Vec<Running>>, index: usize, wire: &Rc<Wire>) {
    let running = &services[index];
    let (calls, grpc_calls) = callouts::unsent(
        &mut running.sent.borrow_mut(),
        running.service.http_calls(),
        running.service.grpc_calls(),
    );
    for call in calls {
        tokio::task::spawn_local(send_http(Rc::clone(services), index, Rc::clone(wire), call));
    }
    for call in grpc_calls {
        tokio::task::spawn_local(send_grpc(Rc::clone(services), index, Rc::clone(wire), call));
    }
}

async fn send_http(services: Rc<Vec<Running>>, index: usize, wire: Rc<Wire>, call: HttpCall) {
    let Some(answer) =
        callouts::http_answer(&wire.client, wire.cluster(&call.cluster), &call).await
    else {
        return;
    };
    let running = &services[index];
    // Its clock may have timed the callout out meanwhile: a late answer is dropped, as Envoy's is.
    if !running
        .service
        .http_calls()
        .iter()
        .any(|c| c.token == call.token)
    {
        return;
    }
    match answer {
        Ok(response) => running.service.answer_http_call(call.token, response),
        Err(reason) => {
            eprintln!(
                "serve: callout {} of service {} to cluster {} failed: {reason}",
                call.token, running.name, call.cluster
            );
            running.service.fail_http_call(call.token);
        }
    }
}

async fn send_grpc(services: Rc<Vec<Running>>, index: usize, wire: Rc<Wire>, call: GrpcCall) {
    let answer = callouts::grpc_answer(&wire.client, wire.cluster(&call.upstream), &call).await;
    let running = &services[index];
    if running
        .service
        .grpc_calls()
        .iter()
        .any(|c| c.token == call.token)
    {
        running.service.answer_grpc_call(call.token, answer);
    }
}
