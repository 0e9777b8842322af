//! One worker thread, as Envoy runs one: its own event loop (a current-thread tokio runtime), its own VM of every
//! plugin, the real clock driving the plugins' timers and callout timeouts, and the connections the kernel hands it
//! from the shared listener. Shared data and queues are the process's (one `Envoy` for every worker).

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use host::testing::{Envoy, Metric, Plugin};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::flags::{Cluster, PluginSpec, Target};
use crate::{callouts, logs, proxy, tcp_proxy};

/// One plugin's VM on this worker.
pub struct Filter {
    pub name: String,
    pub plugin: Plugin,
    /// HTTP callouts already put on the wire, by token.
    pub(crate) sent: RefCell<HashSet<u32>>,
    /// The VM failure last printed: each failure once (FAIL_RELOAD's fresh VM may fail again).
    pub(crate) reported: RefCell<Option<String>>,
}

/// This worker's chain: one VM per plugin, in order. `--watch` swaps the whole chain; requests in flight keep the
/// one they started on.
pub struct Chain {
    pub filters: Vec<Filter>,
    /// The module files' modification times when the chain started.
    stamps: RefCell<Vec<Option<SystemTime>>>,
}

/// What the admin thread asks a worker.
pub enum Query {
    Metrics(oneshot::Sender<Vec<(String, Vec<Metric>)>>),
}

/// What a worker runs and where: its plugins, the clusters and upstream they reach, the process they share.
pub struct Plan {
    pub index: usize,
    pub specs: Vec<PluginSpec>,
    pub clusters: Vec<(String, Cluster)>,
    pub upstream: Target,
    pub envoy: Envoy,
    /// The Envoy release the plugins run as.
    pub target: envoy_targets::Target,
    pub listening: SocketAddr,
    /// The TCP listener's network filter and the TCP proxy's own upstream, when there is one.
    pub tcp: Option<TcpPlan>,
}

/// The TCP listener's side of a worker: its network filter, where it listens, the TCP proxy's own upstream.
#[derive(Clone)]
pub struct TcpPlan {
    pub spec: PluginSpec,
    pub listening: SocketAddr,
    /// `HOST:PORT` of the TCP proxy's cluster (`host::testing::TCP_PROXY_CLUSTER`).
    pub upstream: String,
}

/// What a worker starts from.
pub struct Setup {
    pub plan: Plan,
    pub listener: std::net::TcpListener,
    pub tcp_listener: Option<std::net::TcpListener>,
    pub watch: bool,
}

/// A worker's state, shared by its tasks (all on its one thread).
pub struct Worker {
    pub plan: Plan,
    pub chain: RefCell<Rc<Chain>>,
    /// The TCP listener's network filter (one VM on this worker), when there is one. `--watch` does not swap it.
    pub tcp_chain: Option<Rc<Chain>>,
    /// Chains `--watch` replaced, kept while requests still run on them.
    pub retired: RefCell<Vec<Rc<Chain>>>,
    /// Woken whenever something outside a stream happened (a callout answer, a tick): paused streams look again.
    pub wake: Notify,
    pub client: proxy::Client,
    pub in_flight: Cell<usize>,
    /// When the plugins' clocks last caught up with the real one.
    pub clock_at: Cell<Instant>,
}

/// How often the plugins' clocks catch up with the real one when no request does it (timers and callout
/// timeouts fire within this).
const TICK: Duration = Duration::from_millis(10);
/// How often `--watch` looks at the module files.
const WATCH_EVERY: Duration = Duration::from_millis(300);
/// How long draining waits for requests in flight before the VMs shut down.
const DRAIN: Duration = Duration::from_secs(5);

impl Plan {
    /// Starts the chain's VMs on this worker.
    pub fn start_chain(&self) -> anyhow::Result<Chain> {
        self.start_filters(&self.specs, self.listening)
    }

    /// Starts the network filter's VM on this worker, when there is one.
    pub fn start_tcp_chain(&self) -> anyhow::Result<Option<Chain>> {
        self.tcp
            .as_ref()
            .map(|tcp| self.start_filters(std::slice::from_ref(&tcp.spec), tcp.listening))
            .transpose()
    }

    /// Starts one VM of each of `specs` on this worker, for connections that arrive on `listening`.
    fn start_filters(&self, specs: &[PluginSpec], listening: SocketAddr) -> anyhow::Result<Chain> {
        let Plan {
            clusters,
            envoy,
            target,
            ..
        } = self;
        let cluster_names: Vec<&str> = clusters.iter().map(|(n, _)| n.as_str()).collect();
        let mut filters = Vec::new();
        let mut stamps = Vec::new();
        for spec in specs {
            stamps.push(modified(&spec.module));
            let plugin = spec
                .builder(*target)
                .clusters(&cluster_names)
                .start_time(SystemTime::now())
                // `destination.address`: the listener the connection came in on.
                .destination_address(&listening.to_string())
                .on(envoy)
                .start()
                .map_err(|e| {
                    let mut message = format!("plugin {}: {e}", spec.name);
                    for line in &e.logs {
                        message.push_str(&format!("\n  {}", logs::line(&spec.name, line)));
                    }
                    anyhow::anyhow!(message)
                })?;
            for line in plugin.start_up_logs() {
                logs::print(&spec.name, &line);
            }
            filters.push(Filter {
                name: spec.name.clone(),
                plugin,
                sent: RefCell::default(),
                reported: RefCell::default(),
            });
        }
        Ok(Chain {
            filters,
            stamps: RefCell::new(stamps),
        })
    }
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Runs a worker until `stop` fires; reports its start to `started`.
pub fn run(
    setup: Setup,
    started: std::sync::mpsc::Sender<Result<(), String>>,
    queries: mpsc::UnboundedReceiver<Query>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = started.send(Err(format!(
                "worker {}: cannot start its event loop: {e}",
                setup.plan.index
            )));
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let (chain, tcp_chain) = match setup
            .plan
            .start_chain()
            .and_then(|chain| Ok((chain, setup.plan.start_tcp_chain()?)))
        {
            Ok(chains) => chains,
            Err(e) => {
                let _ = started.send(Err(format!("{e:#}")));
                return;
            }
        };
        let tcp_listener = match setup
            .tcp_listener
            .map(|l| {
                l.set_nonblocking(true)
                    .and_then(|()| tokio::net::TcpListener::from_std(l))
            })
            .transpose()
        {
            Ok(listener) => listener,
            Err(e) => {
                let _ = started.send(Err(format!(
                    "worker {}: cannot use the TCP listener: {e}",
                    setup.plan.index
                )));
                return;
            }
        };
        let listener = match setup
            .listener
            .set_nonblocking(true)
            .and_then(|()| tokio::net::TcpListener::from_std(setup.listener))
        {
            Ok(listener) => listener,
            Err(e) => {
                let _ = started.send(Err(format!(
                    "worker {}: cannot use the listener: {e}",
                    setup.plan.index
                )));
                return;
            }
        };
        let worker = Rc::new(Worker {
            plan: setup.plan,
            chain: RefCell::new(Rc::new(chain)),
            tcp_chain: tcp_chain.map(Rc::new),
            retired: RefCell::default(),
            wake: Notify::new(),
            client: proxy::Client::new(),
            in_flight: Cell::new(0),
            clock_at: Cell::new(Instant::now()),
        });
        let _ = started.send(Ok(()));
        tokio::task::spawn_local(clock(Rc::clone(&worker), setup.watch));
        tokio::task::spawn_local(answer_queries(Rc::clone(&worker), queries));
        if let Some(tcp_listener) = tcp_listener {
            tokio::task::spawn_local(accept(
                Rc::clone(&worker),
                tcp_listener,
                stop.clone(),
                "tcp ",
                tcp_proxy::serve_connection,
            ));
        }
        accept(
            Rc::clone(&worker),
            listener,
            stop,
            "",
            proxy::serve_connection,
        )
        .await;
        drain(&worker).await;
    });
}

/// Accepts connections on `listener` until `stop` fires, each served by `serve` on this worker (`what` names the
/// listener in a failed accept's message).
async fn accept<F, Fut>(
    worker: Rc<Worker>,
    listener: tokio::net::TcpListener,
    mut stop: tokio::sync::watch::Receiver<bool>,
    what: &'static str,
    serve: F,
) where
    F: Fn(Rc<Worker>, tokio::net::TcpStream, SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + 'static,
{
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    tokio::task::spawn_local(serve(Rc::clone(&worker), socket, peer));
                }
                Err(e) => eprintln!("worker {}: {what}accept failed: {e}", worker.plan.index),
            },
            _ = stop.changed() => return,
        }
    }
}

/// Envoy's drain: no new connections, requests in flight finish (up to a bound), then every VM shuts down
/// (`on_done`, `on_delete`).
async fn drain(worker: &Rc<Worker>) {
    let deadline = Instant::now() + DRAIN;
    while worker.in_flight.get() > 0 && Instant::now() < deadline {
        tokio::time::sleep(TICK).await;
    }
    let chain = Rc::clone(&worker.chain.borrow());
    for filter in chain.filters.iter().chain(worker.tcp_filters()) {
        filter.plugin.shutdown();
        print_logs(filter);
    }
}

/// The real clock for the plugins: their virtual time catches up every tick (firing `on_tick` and callout timeouts
/// when due), posted queue notifications run, new callouts go out, logs come out, and `--watch` looks for new
/// modules.
async fn clock(worker: Rc<Worker>, watch: bool) {
    let mut last_watch = Instant::now();
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let now = Instant::now();
        worker.catch_up();
        for chain in worker.live_chains() {
            callouts::send_new(&worker, &chain);
            for filter in &chain.filters {
                print_logs(filter);
            }
        }
        worker.retired.borrow_mut().retain(|c| {
            let in_use = Rc::strong_count(c) > 1;
            if !in_use {
                for filter in &c.filters {
                    filter.plugin.shutdown();
                    print_logs(filter);
                }
            }
            in_use
        });
        worker.wake.notify_waiters();
        if watch && now - last_watch >= WATCH_EVERY {
            last_watch = now;
            reload_if_changed(&worker);
        }
    }
}

async fn answer_queries(worker: Rc<Worker>, mut queries: mpsc::UnboundedReceiver<Query>) {
    while let Some(query) = queries.recv().await {
        match query {
            Query::Metrics(reply) => {
                let chain = Rc::clone(&worker.chain.borrow());
                let metrics = chain
                    .filters
                    .iter()
                    .chain(worker.tcp_filters())
                    .map(|f| (f.name.clone(), f.plugin.metrics()))
                    .collect();
                let _ = reply.send(metrics);
            }
        }
    }
}

/// `--watch`: a module file changed (a rebuild finished), so this worker starts a new chain; requests in flight
/// finish on the old one. A module that does not start leaves the old chain serving.
fn reload_if_changed(worker: &Worker) {
    let current = Rc::clone(&worker.chain.borrow());
    let changed = worker
        .plan
        .specs
        .iter()
        .zip(current.stamps.borrow().iter())
        .any(|(spec, stamp)| modified(&spec.module) != *stamp);
    if !changed {
        return;
    }
    match worker.plan.start_chain() {
        Ok(chain) => {
            if worker.plan.index == 0 {
                eprintln!("serve: new modules loaded; requests in flight finish on the old VMs");
            }
            let old = worker.chain.replace(Rc::new(chain));
            worker.retired.borrow_mut().push(old);
        }
        Err(e) => {
            // The broken modules are not tried again until they change once more.
            *current.stamps.borrow_mut() = worker
                .plan
                .specs
                .iter()
                .map(|s| modified(&s.module))
                .collect();
            if worker.plan.index == 0 {
                eprintln!("serve: the new modules did not start; the old VMs keep serving:\n{e:#}");
            }
        }
    }
}

impl Worker {
    /// Moves every plugin's clock to now: timers and callout timeouts due meanwhile fire, in order. Envoy's timers
    /// count milliseconds, so a catch-up less than one after the last is skipped: a request's events cost no
    /// clock work.
    pub fn catch_up(&self) {
        let now = Instant::now();
        let elapsed = now - self.clock_at.get();
        if elapsed < std::time::Duration::from_millis(1) {
            return;
        }
        self.clock_at.set(now);
        for chain in self.live_chains() {
            for filter in &chain.filters {
                filter.plugin.advance_time(elapsed);
            }
        }
    }

    /// The current chain, the retired ones still serving requests, and the network filter's: every VM whose clock,
    /// callouts and logs the worker keeps.
    pub fn live_chains(&self) -> Vec<Rc<Chain>> {
        let mut chains = vec![Rc::clone(&self.chain.borrow())];
        chains.extend(self.retired.borrow().iter().cloned());
        chains.extend(self.tcp_chain.iter().cloned());
        chains
    }

    /// The network filter's VM on this worker, if any.
    pub fn tcp_filters(&self) -> impl Iterator<Item = &Filter> {
        self.tcp_chain.iter().flat_map(|c| c.filters.iter())
    }

    pub fn cluster(&self, cluster: &str) -> Option<&Cluster> {
        self.plan
            .clusters
            .iter()
            .find(|(n, _)| n == cluster)
            .map(|(_, t)| t)
    }
}

/// Prints the plugin's new log lines, then its VM failure (the trap report, with the Rust functions) once.
pub fn print_logs(filter: &Filter) {
    for line in filter.plugin.take_logs() {
        logs::print(&filter.name, &line);
    }
    if let Some(failure) = filter.plugin.failure() {
        let mut reported = filter.reported.borrow_mut();
        if reported.as_ref() != Some(&failure) {
            logs::print_failure(&filter.name, &failure);
            *reported = Some(failure);
        }
    }
}
