//! `cargo xtask check`: the failures users meet only after deploying, found on the developer's machine. Each
//! row of the summary is one question about the packaged extension and the chosen target:
//!
//! - does that target's Envoy accept the module's ABI and link every import (`envoy_targets::imports`)?
//! - does the image variant suit the target's puller, and does a pinned digest match the package?
//! - does the plugin accept the configuration the YAML carries? (`on_vm_start` and `on_configure` in the host,
//!   by `proxy-wasm-run`; a refusal shows the plugin's own log line)
//! - do its callouts name clusters the target's proxy will have?

use std::fmt;

use crate::maistra::Phase;
use crate::{
    build::{self, Interface},
    child, deploy, flags,
    manifest::Kind,
    mesh::{self, EnvVar, FailPolicy, Resource, Resources, Target, fields},
    oci::{layout::StoredImage, reference::Reference},
    runner,
    untrusted::printable,
    workspace::{self, Extension},
};
use anyhow::{Context, bail};
use envoy_targets::{AbiVersion, Verdict, imports};
use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

/// The runner's `--json` report; check reads its outcome and callouts, not the decoded gRPC messages.
type RunReport = run_report::Report<serde::de::IgnoredAny>;

/// How one row came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    /// Holds as far as is known; a fact behind it is not verified for this version.
    Warn,
    Fail,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`: the table sets a width for this column.
        f.pad(match self {
            Outcome::Ok => "ok",
            Outcome::Warn => "warn",
            Outcome::Fail => "FAIL",
        })
    }
}

struct Row {
    check: &'static str,
    outcome: Outcome,
    detail: String,
}

#[derive(Default)]
struct Summary {
    rows: Vec<Row>,
}

impl Summary {
    fn add(&mut self, check: &'static str, outcome: Outcome, detail: impl Into<String>) {
        self.rows.push(Row {
            check,
            outcome,
            detail: detail.into(),
        });
    }

    fn verdict(&mut self, check: &'static str, verdict: Verdict) {
        match verdict {
            Verdict::Provided => {}
            Verdict::Uncertain(why) => self.add(check, Outcome::Warn, why),
            Verdict::Lacking(why) => self.add(check, Outcome::Fail, why),
        }
    }

    fn failed(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.outcome == Outcome::Fail)
            .count()
    }

    fn table(&self) -> String {
        let width = self.rows.iter().map(|r| r.check.len()).max().unwrap_or(0);
        let mut out = String::new();
        for row in &self.rows {
            out += &format!(
                "{:<4}  {:<width$}  {}\n",
                row.outcome, row.check, row.detail
            );
        }
        out
    }
}

/// What is checked: a packaged workspace extension, or a module file from elsewhere, which has no package.
enum Subject {
    Extension(Extension),
    Module {
        path: PathBuf,
        name: String,
        kind: Kind,
    },
}

impl Subject {
    fn of(flags: &flags::Check) -> anyhow::Result<Subject> {
        let Some(path) = &flags.module else {
            return Ok(Subject::Extension(workspace::single_extension(
                flags.package.as_deref(),
            )?));
        };
        if !path.is_file() {
            bail!(
                "no module at {}: give the path of a .wasm file, or -p NAME for an extension under extensions/",
                path.display()
            );
        }
        let name = match &flags.name {
            Some(name) => name.clone(),
            None => path
                .file_stem()
                .and_then(|stem| stem.to_str())
                .filter(|stem| !stem.is_empty())
                .with_context(|| {
                    format!(
                        "{}: the file name gives no plugin name; give one with --name",
                        path.display()
                    )
                })?
                .to_owned(),
        };
        Ok(Subject::Module {
            path: path.clone(),
            name,
            kind: flags.kind.unwrap_or_default(),
        })
    }

    fn name(&self) -> &str {
        match self {
            Subject::Extension(extension) => &extension.name,
            Subject::Module { name, .. } => name,
        }
    }

    fn module_path(&self) -> PathBuf {
        match self {
            Subject::Extension(extension) => extension.module_path(),
            Subject::Module { path, .. } => path.clone(),
        }
    }

    fn kind(&self) -> anyhow::Result<Kind> {
        match self {
            Subject::Extension(extension) => crate::manifest::kind_of(extension),
            Subject::Module { kind, .. } => Ok(*kind),
        }
    }

    /// Where the kind was declared, for a refusal to point at.
    fn kind_source(&self) -> String {
        match self {
            Subject::Extension(extension) => format!("extensions/{}/Cargo.toml", extension.name),
            Subject::Module { .. } => "--kind".to_owned(),
        }
    }

    /// How the user sees a run of the same module.
    fn run_hint(&self) -> String {
        match self {
            Subject::Extension(extension) => format!("cargo xtask run {}", extension.name),
            Subject::Module { path, .. } => format!("cargo xtask run {}", path.display()),
        }
    }
}

impl flags::Check {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        let subject = Subject::of(&self)?;
        let target = self.target;
        let resource = target.resource(self.resource)?;
        let mut summary = Summary::default();
        module(&mut summary, &subject.module_path(), target)?;
        behaviour(&mut summary, target);
        match &subject {
            Subject::Extension(extension) => {
                if resource.pulls_an_image() {
                    image(&mut summary, extension, resource, self.image.as_deref())?;
                }
                manifest(&mut summary, extension, resource)?;
            }
            Subject::Module { .. } => summary.add(
                "package",
                Outcome::Warn,
                "not checked: a module file has no package here, so its image variant, digest and phase are not \
                 known; package it as a workspace extension (`cargo xtask new`) to check them",
            ),
        }
        let kind = subject.kind()?;
        plugin_kind(&mut summary, &subject, kind, target, resource);
        let report = self.start(&subject, resource, kind)?;
        configuration(&mut summary, &report, kind);
        callouts(&mut summary, &report, target, resource, &self);
        println!(
            "{} for {target} ({}):\n{}",
            subject.name(),
            resource.kind(),
            summary.table()
        );
        let failed = summary.failed();
        if failed > 0 {
            bail!(
                "{failed} check{} failed: {} would not work on {target} as {}",
                if failed == 1 { "" } else { "s" },
                subject.name(),
                match subject {
                    Subject::Extension(_) => "packaged",
                    Subject::Module { .. } => "given",
                }
            );
        }
        Ok(())
    }

    /// Starts the plugin in the host with the configuration the YAML carries and runs one request through it;
    /// returns the runner's JSON report.
    fn start(
        &self,
        subject: &Subject,
        resource: Resource,
        kind: Kind,
    ) -> anyhow::Result<RunReport> {
        let config = match (&self.config, subject) {
            (Some(text), _) => match text.strip_prefix('@') {
                Some(path) => std::fs::read(path)
                    .with_context(|| format!("--config @{path}: cannot read the file"))?,
                None => text.clone().into_bytes(),
            },
            (None, Subject::Extension(extension)) => {
                match deploy::read_config(&deploy::example_config_path(extension))? {
                    // What deploy writes: compact JSON, the file's key order (a string as is for SME v1alpha1).
                    Some(serde_json::Value::String(text)) => text.into_bytes(),
                    Some(value) => serde_json::to_vec(&value)?,
                    None => Vec::new(),
                }
            }
            (None, Subject::Module { .. }) => Vec::new(),
        };
        // The configuration goes through a pipe: a file would be one more copy of it on disk, and one that
        // two checks of the same extension would share.
        let mut cmd = runner::command()?;
        cmd.arg(subject.module_path())
            .arg("--json")
            .args(["--kind", kind.name()])
            .args(["--config", "@/dev/stdin"])
            .args(["--for", &self.target.flag()]);
        // The root_id the YAML gives the plugin: Maistra's ServiceMeshExtension controller writes `<name>_root`
        // (`toEnvoyHTTPFilter`), every other resource deploy writes the extension's name.
        let root_id = match resource {
            Resource::SmeV1alpha1 | Resource::SmeV1 => format!("{}_root", subject.name()),
            _ => subject.name().to_owned(),
        };
        cmd.args(["--root-id", &root_id]);
        for variable in self.vm_env.all() {
            match variable {
                EnvVar::Inline { name, value } => cmd.args(["--env", &format!("{name}={value}")]),
                EnvVar::Host { name } => cmd.args(["--host-env", &name]),
            };
        }
        match self.fail {
            // Where the proxy gets Envoy's legacy `fail_open` field (Envoy Gateway's `failOpen`, Istio before 1.25,
            // Envoy before 1.33), the failed stream itself bypasses too, which the runner's `--fail-open` models.
            Some(FailPolicy::Open) if legacy_fail_open(self.target) => {
                cmd.arg("--fail-open");
            }
            Some(policy) => {
                cmd.args(["--fail", &policy.to_string()]);
            }
            None => {}
        }
        // Left in xtask's process group, so Ctrl-C reaches it; `cargo run` execs the runner once it is built, so
        // stopping this child stops the runner too.
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot run `cargo run --bin {}`", runner::RUNNER))?;
        let mut stdin = child.stdin.take().context("the runner's standard input")?;
        // Written beside the read of the report, so neither side waits on a full pipe.
        let writer = std::thread::spawn(move || stdin.write_all(&config));
        let stdout = child::reader(child.stdout.take());
        let timeout = runner_timeout()?;
        let deadline = Instant::now() + timeout;
        let stopped = || {
            anyhow::anyhow!(
                "`{}` did not finish within {} s (building it included) and was stopped; run `{}` to see where it \
                 stops, or give it longer with XTASK_RUNNER_TIMEOUT=SECONDS",
                runner::RUNNER,
                timeout.as_secs(),
                subject.run_hint()
            )
        };
        let status = child::wait_until(&mut child, deadline)
            .with_context(|| format!("`{}` did not finish", runner::RUNNER))?;
        let Some(status) = status else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(stopped());
        };
        let report = stdout.until(deadline).ok_or_else(stopped)?;
        // A runner that exits without reading its input is reported by its missing report below.
        let _ = writer.join();
        // serde's message may quote the runner's output, which a module chose: escaped like the rest of it.
        serde_json::from_slice(&report).map_err(|e| {
            anyhow::anyhow!(
                "{} printed no report ({status}: {}); run `{}` to see why",
                runner::RUNNER,
                printable(&e.to_string()),
                subject.run_hint()
            )
        })
    }
}

/// How long `check` waits for the runner, building it included, unless `XTASK_RUNNER_TIMEOUT` (seconds) says
/// otherwise: a first build of the host takes minutes; the run itself is bounded by the host's own deadlines.
const RUNNER_TIMEOUT: Duration = Duration::from_secs(20 * 60);

fn runner_timeout() -> anyhow::Result<Duration> {
    crate::child::timeout_from_env("XTASK_RUNNER_TIMEOUT", RUNNER_TIMEOUT)
}

/// Whether the target's proxy carries a failure policy in Envoy's legacy `fail_open` field: Envoy Gateway
/// always (`failOpen`), Istio until 1.25 adopted `failure_policy`, Envoy before 1.33.
fn legacy_fail_open(target: Target) -> bool {
    match target {
        Target::EnvoyGateway { .. } => true,
        Target::Envoy { minor } => minor < fields::ENVOY_FAILURE_POLICY,
        _ => target
            .istio_minor()
            .is_some_and(|minor| minor < fields::ISTIO_FAILURE_POLICY),
    }
}

/// The module's ABI and every import against the target's Envoy.
fn module(summary: &mut Summary, path: &Path, target: Target) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| {
        format!(
            "cannot read {}; run `cargo xtask package` first",
            path.display()
        )
    })?;
    let Interface { imports, exports } = build::interface(&bytes)
        .map_err(|problem| anyhow::anyhow!("{}: {problem}", path.display()))?;
    let envoy = target.envoy_minor();
    let Some(abi) = AbiVersion::declared_by(exports.iter().map(|(name, _)| name.as_str())) else {
        summary.add(
            "ABI",
            Outcome::Fail,
            "the module exports no proxy-wasm ABI marker",
        );
        return Ok(());
    };
    let rows = summary.rows.len();
    summary.verdict("ABI", imports::abi(envoy, abi));
    if summary.rows.len() == rows {
        summary.add(
            "ABI",
            Outcome::Ok,
            format!("{abi} is accepted by Envoy 1.{envoy}"),
        );
    }
    let rows = summary.rows.len();
    for (module, name) in &imports {
        summary.verdict("import", imports::import(envoy, abi, module, name));
    }
    if summary.rows.len() == rows {
        summary.add(
            "imports",
            Outcome::Ok,
            format!("all {} are provided by Envoy 1.{envoy}", imports.len()),
        );
    }
    Ok(())
}

/// The image variant against what the target pulls, and a pinned digest against the package.
fn image(
    summary: &mut Summary,
    extension: &Extension,
    resource: Resource,
    reference: Option<&str>,
) -> anyhow::Result<()> {
    let layout = StoredImage::open(&extension.layout_dir())?;
    let variant = mesh::variant::of(&layout)?;
    match mesh::variant::accepted(resource, variant) {
        Ok(()) => summary.add(
            "image",
            Outcome::Ok,
            format!("{variant}, which {} pulls", resource.kind()),
        ),
        Err(why) => summary.add("image", Outcome::Fail, why),
    }
    let pinned = match reference {
        Some(text) => Reference::parse(text, &extension.version)?.digest,
        None => None,
    };
    match pinned {
        Some(pinned) if pinned != layout.digest => summary.add(
            "digest",
            Outcome::Fail,
            format!(
                "--image pins {pinned}, but the package is {}: push it again or fix the reference",
                layout.digest
            ),
        ),
        _ => summary.add(
            "digest",
            Outcome::Ok,
            format!("the YAML pins {}, the packaged manifest", layout.digest),
        ),
    }
    Ok(())
}

/// The packaged manifest's phase as the resource places it.
fn manifest(
    summary: &mut Summary,
    extension: &Extension,
    resource: Resource,
) -> anyhow::Result<()> {
    let manifest = deploy::read_manifest(&extension.manifest_path())?;
    let placed = match resource {
        Resource::WasmPlugin | Resource::TrafficExtension if manifest.phase == Phase::PostStats => {
            summary.add(
                "phase",
                Outcome::Warn,
                "PostStats has no Istio phase; the plugin runs just before the stats filter instead of after it",
            );
            return Ok(());
        }
        Resource::EnvoyExtensionPolicy => {
            "Envoy Gateway orders plugins by list position".to_owned()
        }
        Resource::EnvoyFilter => "you place the filter in the chain".to_owned(),
        _ => format!("phase {}, priority {}", manifest.phase, manifest.priority),
    };
    summary.add("phase", Outcome::Ok, placed);
    Ok(())
}

/// Whether the target's resource can run the extension's kind (`[package.metadata.extension] kind`), which `deploy`
/// refuses otherwise.
fn plugin_kind(
    summary: &mut Summary,
    subject: &Subject,
    kind: Kind,
    target: Target,
    resource: Resource,
) {
    let declared = subject.kind_source();
    match crate::mesh::kinds::supported(kind, target, resource, &declared) {
        Err(why) => summary.add("kind", Outcome::Fail, why.to_string()),
        Ok(()) => summary.add(
            "kind",
            Outcome::Ok,
            match (kind, resource) {
                (Kind::Http, _) => "an HTTP filter".to_string(),
                (Kind::Tcp, Resource::EnvoyFilter) => {
                    "a network filter: envoy.filters.network.wasm before the TCP proxy".to_string()
                }
                (Kind::Tcp, _) => format!("a network filter: {} `type: NETWORK`", resource.kind()),
                (Kind::Service, _) => {
                    "a Wasm service: Envoy's bootstrap extension envoy.bootstrap.wasm".to_string()
                }
            },
        ),
    }
}

/// Where the table of release differences is not sure whether the target's Envoy behaves the old or the new way,
/// a warning: the host (and so the configuration row) assumed the row's first release.
fn behaviour(summary: &mut Summary, target: Target) {
    let envoy = target.envoy();
    for difference in envoy.unsure() {
        summary.add(
            "behaviour",
            Outcome::Warn,
            format!(
                "whether {envoy} has this change is inferred, not read: {} (before: {}; source: {})",
                difference.after,
                difference.before,
                difference.source()
            ),
        );
    }
}

/// Whether the plugin started with the configuration, and how the one request (connection, service run) went.
fn configuration(summary: &mut Summary, report: &RunReport, kind: Kind) {
    let ran = match kind {
        Kind::Http => "a plain GET",
        Kind::Tcp => "a TCP connection (open, close)",
        Kind::Service => "its start as a service",
    };
    if !report.started {
        let (stage, reason) = match &report.start_error {
            Some(error) => (error.stage.name(), printable(&error.reason)),
            None => ("start", "no reason given".to_owned()),
        };
        summary.add(
            "configuration",
            Outcome::Fail,
            format!("the plugin refused to start ({stage}): {reason}"),
        );
        return;
    }
    match report.failure.as_deref() {
        Some(failure) => summary.add(
            "configuration",
            Outcome::Fail,
            format!(
                "the plugin started but failed on {ran}: {}",
                printable(failure)
            ),
        ),
        None => summary.add(
            "configuration",
            Outcome::Ok,
            match kind {
                Kind::Http => "on_vm_start and on_configure accepted it; a GET / ran through",
                Kind::Tcp => {
                    "on_vm_start and on_configure accepted it; a TCP connection opened and closed"
                }
                Kind::Service => "on_vm_start and on_configure accepted it; the service started",
            },
        ),
    }
}

/// The clusters the plugin's callouts named during the dry run, against the target's cluster names.
fn callouts(
    summary: &mut Summary,
    report: &RunReport,
    target: Target,
    resource: Resource,
    flags: &flags::Check,
) {
    let clusters: Vec<&str> = report
        .callouts
        .iter()
        .flatten()
        .map(|c| c.cluster.as_str())
        .collect();
    if clusters.is_empty() {
        summary.add("callouts", Outcome::Ok, "none during the dry run");
        return;
    }
    for raw in clusters {
        // Compared as the module wrote it, shown escaped: a module chooses its cluster names.
        let cluster = printable(raw);
        let cluster = cluster.as_str();
        let declared = flags.cluster.iter().any(|c| c == raw);
        let istio = target.istio_minor().is_some();
        let by_service = flags.callout_service.iter().any(|s| {
            if istio {
                s.istio_cluster() == raw
            } else {
                s.envoy_cluster() == raw
            }
        });
        if declared || by_service {
            summary.add(
                "callout",
                Outcome::Ok,
                format!("cluster `{cluster}` is declared"),
            );
            continue;
        }
        let why = match resource {
            Resource::EnvoyExtensionPolicy => format!(
                "cluster `{cluster}`: Envoy Gateway has no API to add a cluster for a plugin; name a route's generated \
                 cluster and pass --cluster {cluster}, or add it with an EnvoyPatchPolicy"
            ),
            Resource::EnvoyFilter => format!(
                "cluster `{cluster}`: Envoy answers BadArgument for a cluster its configuration lacks; give \
                 `--callout-service {cluster}=HOST:PORT` (deploy writes the cluster) or --cluster {cluster} if it exists"
            ),
            _ if raw.starts_with("outbound|") => {
                summary.add(
                    "callout",
                    Outcome::Warn,
                    format!(
                        "cluster `{cluster}` exists only if the mesh has that Service or ServiceEntry: give \
                         --callout-service HOST:PORT to have deploy write one, or --cluster to confirm it"
                    ),
                );
                continue;
            }
            _ => format!(
                "cluster `{cluster}`: {target} names clusters `outbound|PORT|SUBSET|HOST`, so `dispatch_http_call` gets \
                 BadArgument; call `outbound|PORT||HOST` and declare the service with `--callout-service HOST:PORT`"
            ),
        };
        summary.add("callout", Outcome::Fail, why);
    }
}
