//! The whole command line of `cargo xtask`, parsed into the types the commands work with. Each `///` line is
//! the `--help` text of what follows it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::{
    maistra::Phase,
    mesh::{
        CalloutService, EnvVar, FailPolicy, Label, PluginType, PullPolicy, Resource, Target,
        TargetRef,
    },
    new::{Description, Kind, Priority},
    package::image::Format,
};

/// Build, test, package and ship the proxy-wasm extensions of this workspace.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
pub(crate) struct Xtask {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    Build(Build),
    Manifest(Manifest),
    Package(Package),
    Push(Push),
    Deploy(Deploy),
    Check(Check),
    Run(Run),
    Serve(Serve),
    New(New),
    Size(Size),
    Test(Test),
    Fuzz(Fuzz),
}

/// Build every extension for wasm32-unknown-unknown (release) and check each module.
#[derive(Debug, Args)]
pub(crate) struct Build {
    /// Only this extension (repeatable; default: every extension under extensions/). Another cdylib of the
    /// workspace (a host test guest) is built with the same flags but not checked or installed.
    #[arg(short = 'p', long = "package", value_name = "NAME")]
    pub(crate) package: Vec<String>,
    /// Skip the pinned wasm-opt (tools/binaryen) that every shipped module goes through: a quicker build
    /// whose module is larger and differs from the one `package` ships.
    #[arg(long)]
    pub(crate) no_wasm_opt: bool,
}

/// Write each extension's manifest.yaml (Maistra extension manifest format).
#[derive(Debug, Args)]
pub(crate) struct Manifest {
    /// Only this extension (repeatable; default: every extension under extensions/).
    #[arg(short = 'p', long = "package", value_name = "NAME")]
    pub(crate) package: Vec<String>,
    /// Write nothing; fail if a manifest on disk is missing or stale.
    #[arg(long)]
    pub(crate) check: bool,
}

/// Build, write manifests, then write an OCI image per extension (no container engine needed).
#[derive(Debug, Args)]
pub(crate) struct Package {
    /// Only this extension (repeatable; default: every extension under extensions/).
    #[arg(short = 'p', long = "package", value_name = "NAME")]
    pub(crate) package: Vec<String>,
    /// Image format: `dual` (one tar+gzip layer with /manifest.yaml and /plugin.wasm) or `artifact`
    /// (Istio's OCI wasm variant: runtime config + raw module layers; WasmPlugin only).
    #[arg(long, value_name = "FORMAT", default_value = "dual")]
    pub(crate) format: Format,
    /// Skip the pinned wasm-opt (see `build --no-wasm-opt`); the image then differs from a default one.
    #[arg(long)]
    pub(crate) no_wasm_opt: bool,
}

/// Push the packaged image to a registry over the OCI distribution API.
#[derive(Debug, Args)]
pub struct Push {
    /// Only this extension (default: the only extension, or the only one packaged; else required).
    #[arg(short = 'p', long = "package", value_name = "NAME")]
    pub package: Option<String>,
    /// Destination REGISTRY/REPO[:TAG] (tag defaults to the extension's version).
    #[arg(long, value_name = "REFERENCE")]
    pub image: String,
    /// Registry user name; the password is read from standard input.
    #[arg(long, value_name = "USER")]
    pub username: Option<String>,
    /// Read the password from standard input (with --username).
    #[arg(long)]
    pub password_stdin: bool,
    /// Use plain HTTP (or accept any certificate) for this registry's host, and no other.
    #[arg(long)]
    pub insecure: bool,
    /// Extra PEM certificate(s) to trust for TLS (repeatable).
    #[arg(long, value_name = "PATH")]
    pub ca_cert: Vec<String>,
    /// Fail if the tag already points to another digest.
    #[arg(long)]
    pub no_overwrite: bool,
    /// Repository of the same registry holding the blobs already: mount them, upload nothing.
    #[arg(long, value_name = "REPOSITORY")]
    pub mount_from: Option<String>,
    /// Say what would be uploaded, upload nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl Push {
    /// The `push` command of this process's command line, parsed as `cargo xtask` parses it (the same help and
    /// errors); `None` for any other command. `xtask-push` runs what `cargo xtask push` hands it.
    pub fn from_command_line() -> Option<Push> {
        match Xtask::parse().command {
            Command::Push(push) => Some(push),
            _ => None,
        }
    }
}

/// Write deployment YAML for a mesh: ServiceMeshExtension, WasmPlugin, TrafficExtension, EnvoyExtensionPolicy or an
/// Envoy filter, as the target reads it.
#[derive(Debug, Args)]
pub(crate) struct Deploy {
    /// Only this extension (default: the only extension, or the only one packaged; else required).
    #[arg(short = 'p', long = "package", value_name = "NAME")]
    pub(crate) package: Option<String>,
    /// Image reference REGISTRY/REPO[:TAG] (as pushed; tag defaults to the version). Not for envoy.
    #[arg(long, value_name = "REFERENCE")]
    pub(crate) image: Option<String>,
    /// Target mesh and version: ossm-2.0 … ossm-2.6, istio (latest) or istio-1.N, envoy-gateway (latest) or
    /// envoy-gateway-1.N, envoy (latest) or envoy-1.N. The README's target table says what each writes.
    #[arg(long = "for", value_name = "TARGET")]
    pub(crate) target: Target,
    /// Which resource where the target reads two: wasm-plugin or traffic-extension (Istio 1.30+),
    /// service-mesh-extension or wasm-plugin (OSSM 2.2). Default: the first of those.
    #[arg(long, value_name = "KIND")]
    pub(crate) resource: Option<Resource>,
    /// Workload selector label key=value (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub(crate) selector: Vec<Label>,
    /// What the resource attaches to, KIND/NAME (repeatable): Gateway, HTTPRoute… for Envoy Gateway;
    /// Gateway, GatewayClass, Service, ServiceEntry for Istio 1.22+ (instead of --selector).
    #[arg(long, value_name = "KIND/NAME")]
    pub(crate) target_ref: Vec<TargetRef>,
    /// Failure policy: open (requests bypass a failed plugin), closed (503; the default) or reload (a fresh
    /// VM after a run-time failure). Refused where the target version lacks it.
    #[arg(long, value_name = "POLICY")]
    pub(crate) fail: Option<FailPolicy>,
    /// Image pull policy: IfNotPresent or Always.
    #[arg(long, value_name = "POLICY")]
    pub(crate) pull_policy: Option<PullPolicy>,
    /// Plugin type: http or network (Istio 1.20+).
    #[arg(long = "type", value_name = "TYPE")]
    pub(crate) plugin_type: Option<PluginType>,
    #[command(flatten)]
    pub(crate) vm_env: VmEnv,
    /// A service the plugin calls out to, [NAME=]HOST:PORT (repeatable): also writes an Istio ServiceEntry
    /// (cluster `outbound|PORT||HOST`) or an Envoy cluster (named NAME, default HOST).
    #[arg(long, value_name = "[NAME=]HOST:PORT")]
    pub(crate) callout_service: Vec<CalloutService>,
    /// Namespace of the resource (default: istio-system).
    #[arg(long)]
    pub(crate) namespace: Option<String>,
    /// WasmPlugin `imagePullSecret`: a kubernetes.io/dockerconfigjson Secret in the same namespace,
    /// for a private registry (Istio 1.14+, OSSM 2.3+).
    #[arg(long, value_name = "SECRET")]
    pub(crate) pull_secret: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(short = 'o', long, value_name = "PATH")]
    pub(crate) output: Option<String>,
}

/// The VM's environment variables, as `deploy` writes them and `check` starts the VM with them.
#[derive(Debug, Args)]
pub(crate) struct VmEnv {
    /// A VM environment variable NAME=VALUE written into the resource (repeatable).
    #[arg(long, value_name = "NAME=VALUE", value_parser = EnvVar::inline)]
    pub(crate) env: Vec<EnvVar>,
    /// A VM environment variable copied from the proxy's own environment (repeatable).
    #[arg(long, value_name = "NAME", value_parser = EnvVar::host)]
    pub(crate) host_env: Vec<EnvVar>,
}

impl VmEnv {
    /// Every variable, the inline ones first.
    pub(crate) fn all(&self) -> Vec<EnvVar> {
        self.env.iter().chain(&self.host_env).cloned().collect()
    }
}

/// Check a packaged extension against a target before it reaches the mesh: the module's ABI and imports
/// against that target's Envoy, the configuration the deploy YAML carries started in the host, the image
/// variant and digest, and the clusters its callouts name. Exit status 0 only when everything holds.
///
/// Given a MODULE.wasm instead of an extension (a third-party filter before it is deployed), the module, its
/// configuration (`--config`, empty by default) and its callouts are checked; it has no package here, so the
/// image, digest and phase are not.
#[derive(Debug, Args)]
pub(crate) struct Check {
    /// Only this extension (default: the only extension, or the only one packaged; else required).
    #[arg(
        short = 'p',
        long = "package",
        value_name = "NAME",
        conflicts_with = "module"
    )]
    pub(crate) package: Option<String>,
    /// A module file to check instead of a workspace extension.
    #[arg(value_name = "MODULE.wasm")]
    pub(crate) module: Option<PathBuf>,
    /// With MODULE.wasm: which kind of plugin it is, so where Envoy runs it (`http`, `tcp` or `service`; an
    /// extension declares its own in Cargo.toml).
    #[arg(long, value_name = "KIND", requires = "module", value_parser = crate::manifest::Kind::parse)]
    pub(crate) kind: Option<crate::manifest::Kind>,
    /// With MODULE.wasm: the plugin's name and root_id in the resource (default: the file name without `.wasm`).
    #[arg(long, value_name = "NAME", requires = "module")]
    pub(crate) name: Option<String>,
    /// Target mesh and version, as for `deploy --for`.
    #[arg(long = "for", value_name = "TARGET")]
    pub(crate) target: Target,
    /// The resource kind, as for `deploy --resource`.
    #[arg(long, value_name = "KIND")]
    pub(crate) resource: Option<Resource>,
    /// The plugin configuration to start (text or @FILE). Default: the extension's example-config.json,
    /// which is what `deploy` writes into the resource.
    #[arg(long, value_name = "TEXT|@FILE")]
    pub(crate) config: Option<String>,
    /// The image reference the YAML will name, to check a pinned `@sha256:` digest against the package.
    #[arg(long, value_name = "REFERENCE")]
    pub(crate) image: Option<String>,
    /// The failure policy the YAML will carry (as for `deploy --fail`); the host runs with it.
    #[arg(long, value_name = "POLICY")]
    pub(crate) fail: Option<FailPolicy>,
    #[command(flatten)]
    pub(crate) vm_env: VmEnv,
    /// A service the plugin calls, as for `deploy --callout-service`: its cluster counts as declared.
    #[arg(long, value_name = "[NAME=]HOST:PORT")]
    pub(crate) callout_service: Vec<CalloutService>,
    /// A cluster the target's proxy has already (repeatable), e.g. `outbound|8080||auth.default.svc.cluster.local`.
    #[arg(long, value_name = "NAME")]
    pub(crate) cluster: Vec<String>,
}

/// Run one HTTP stream through an extension in the built-in host and print what Envoy would do.
#[derive(Debug, Args)]
pub(crate) struct Run {
    /// An extension name or a path to a .wasm module.
    pub(crate) module: String,
    /// Every further argument goes to the host's runner, proxy-wasm-run: --config, -H, --body,
    /// --response-header, --callout-response, --json…, or --scenario FILE.yaml for several streams with
    /// expectations (`cargo xtask run MODULE --help` lists them).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "RUNNER ARGS"
    )]
    pub(crate) args: Vec<String>,
}

/// Serve HTTP through the extensions, as the mesh chains them, on this machine: no Envoy, no cluster.
#[derive(Debug, Args)]
pub(crate) struct Serve {
    /// An extension of the chain (repeatable; default: every extension). The chain is ordered as the mesh
    /// orders it: by manifest phase, then priority (higher first).
    #[arg(short = 'p', long = "package", value_name = "NAME")]
    pub(crate) package: Vec<String>,
    /// An extension's configuration, NAME=TEXT or NAME=@FILE (repeatable). Default: its example-config.json.
    #[arg(long, value_name = "NAME=TEXT|@FILE")]
    pub(crate) config: Vec<String>,
    /// An extension's failure policy, NAME=fail-closed|fail-open|reload (Envoy's default: fail-closed).
    #[arg(long, value_name = "NAME=POLICY")]
    pub(crate) failure_policy: Vec<String>,
    /// Where clients connect (HTTP/1.1 and HTTP/2 with prior knowledge).
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:10000")]
    pub(crate) listen: String,
    /// Where requests go after the chain (http://HOST:PORT, or h2c://HOST:PORT for HTTP/2). Default: a
    /// built-in upstream that answers with the request it received, as JSON.
    #[arg(long, value_name = "URL")]
    pub(crate) upstream: Option<String>,
    /// A cluster the extensions call out to, NAME=URL (repeatable); a callout to another cluster fails as in
    /// Envoy. NAME=tcp://HOST:PORT: a cluster the network filter may pick for the TCP proxy.
    #[arg(long, value_name = "NAME=URL")]
    pub(crate) cluster: Vec<String>,
    /// Where TCP clients connect when an extension is a network filter (kind = "tcp").
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:10001")]
    pub(crate) tcp_listen: String,
    /// The TCP proxy's own upstream behind the network filter, HOST:PORT (a filter may pick another cluster with
    /// set_envoy_filter_state). Default: a built-in upstream that echoes every byte back.
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) tcp_upstream: Option<String>,
    /// Worker threads, each with its own VM of every extension (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub(crate) workers: Option<usize>,
    /// Rebuild when an extension's sources change and swap in the new VMs; a failed build keeps the old ones.
    #[arg(long)]
    pub(crate) watch: bool,
    /// Run the extensions as this target's Envoy does (`istio-1.24`, `envoy-1.34`, as `deploy --for` names it):
    /// its imports, configuration fields, Wasm behaviour and metric names. Default: the newest Envoy.
    #[arg(long = "for", value_name = "TARGET")]
    pub(crate) target: Option<Target>,
    /// The admin listener: /ready, /stats/prometheus, /config_dump.
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:9901")]
    pub(crate) admin: String,
    /// Also write the Envoy bootstrap for this chain to FILE (listener, the wasm filters in order with their
    /// configuration, the router, the upstream and callout clusters), to run the same setup with `envoy -c FILE`.
    #[arg(long, value_name = "FILE")]
    pub(crate) envoy_config: Option<std::path::PathBuf>,
}

/// Start a new extension from templates/extension (runs cargo-generate).
#[derive(Debug, Args)]
pub(crate) struct New {
    /// Crate name: lowercase letters, digits and dashes.
    pub(crate) name: String,
    /// Maistra phase: PreAuthN PostAuthN PreAuthZ PostAuthZ PreStats PostStats.
    #[arg(long)]
    pub(crate) phase: Option<Phase>,
    /// Priority within the phase (higher runs first on the request path).
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) priority: Option<Priority>,
    /// Starting point: headers | callout | body (HTTP filters), tcp (a network filter) or service (a Wasm
    /// service).
    #[arg(long)]
    pub(crate) kind: Option<Kind>,
    /// One-line description.
    #[arg(long, value_name = "TEXT")]
    pub(crate) description: Option<Description>,
}

/// Where each module's bytes go, per crate and per function (from a build that keeps the names, through
/// the same pinned wasm-opt as the shipped module).
#[derive(Debug, Args)]
pub(crate) struct Size {
    /// Only this extension (repeatable; default: every extension under extensions/).
    #[arg(short = 'p', long = "package", value_name = "NAME")]
    pub(crate) package: Vec<String>,
    /// How many of the largest functions to list (default 15).
    #[arg(long, value_name = "N")]
    pub(crate) top: Option<usize>,
    /// Compare with a report saved before by --save-baseline.
    #[arg(long, value_name = "FILE")]
    pub(crate) baseline: Option<String>,
    /// Save this report as a baseline for later comparisons.
    #[arg(long, value_name = "FILE")]
    pub(crate) save_baseline: Option<String>,
    /// Measure the module before wasm-opt.
    #[arg(long)]
    pub(crate) no_wasm_opt: bool,
}

/// Build every wasm module the tests need, then run every test of the workspace.
#[derive(Debug, Args)]
pub(crate) struct Test {
    /// Extra arguments for `cargo test`.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CARGO TEST ARGS"
    )]
    pub(crate) args: Vec<String>,
}

/// Fuzz extensions in the host: generated configurations (from example-config.json) and streams against the
/// shipped module. A trap, or a refused configuration the module does not explain in its log, is a finding:
/// shrunk and written to extensions/NAME/fuzz-findings/, which `cargo test -p fuzz --test findings` replays.
#[derive(Debug, Args)]
pub(crate) struct Fuzz {
    /// Only this extension (repeatable; default: every extension under extensions/).
    #[arg(short = 'p', long = "package", value_name = "NAME")]
    pub(crate) package: Vec<String>,
    /// Configurations to try per extension.
    #[arg(long, default_value_t = 1000)]
    pub(crate) configs: u32,
    /// Streams to run per extension, under its example configuration.
    #[arg(long, default_value_t = 1000)]
    pub(crate) streams: u32,
    /// The generator's seed: the same seed and counts run the same cases.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Seconds per extension after which no new case starts.
    #[arg(long, value_name = "SECONDS")]
    pub(crate) time: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Result<Xtask, clap::Error> {
        Xtask::try_parse_from(std::iter::once("cargo xtask").chain(words.iter().copied()))
    }

    #[test]
    fn everything_after_the_run_module_goes_to_the_runner_untouched() {
        let Command::Run(run) =
            parse(&["run", "header-append", "--json", "-H", "x: y", "--", "-c"])
                .unwrap()
                .command
        else {
            panic!("not run");
        };
        assert_eq!(run.module, "header-append");
        assert_eq!(run.args, ["--json", "-H", "x: y", "--", "-c"]);
    }

    #[test]
    fn run_without_a_module_is_refused_and_run_help_is_ours() {
        assert!(parse(&["run"]).is_err());
        let help = parse(&["run", "--help"]).unwrap_err();
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
        assert!(
            help.to_string()
                .contains("An extension name or a path to a .wasm module")
        );
    }

    #[test]
    fn deploy_names_its_target_flag_for_in_help_and_parses_it_once() {
        let Command::Deploy(deploy) =
            parse(&["deploy", "--for", "ossm-2.4", "--selector", "app=x"])
                .unwrap()
                .command
        else {
            panic!("not deploy");
        };
        assert_eq!(deploy.target, Target::Ossm { minor: 4 });
        assert_eq!(deploy.selector[0].key, "app");
        let help = parse(&["deploy", "--help"]).unwrap_err().to_string();
        assert!(help.contains("--for <TARGET>"), "{help}");
        assert!(!help.contains("--mesh"), "{help}");
    }

    #[test]
    fn a_bad_value_names_the_flag_and_says_what_is_allowed() {
        let err = parse(&["deploy", "--for", "kuma"]).unwrap_err().to_string();
        assert!(
            err.contains(
                "invalid value 'kuma' for '--for <TARGET>': `kuma` is not a target; use ossm-2.0"
            ),
            "{err}"
        );
        let err = parse(&["new", "x", "--priority", "high"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "invalid value 'high' for '--priority <PRIORITY>': `high` is not an integer"
            ),
            "{err}"
        );
        let Command::New(new) = parse(&["new", "x", "--priority", "-5"]).unwrap().command else {
            panic!("not new");
        };
        assert_eq!(new.priority, Some("-5".parse().unwrap()));
        let err = parse(&["new", "x", "--kind", "udp"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`udp` is not a starting point of the template; choose one of: headers, callout, body, tcp, service"), "{err}");
        let err = parse(&["new", "x", "--selector"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
        let err = parse(&["deploy", "--for", "istio", "--selector", "app"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`app` is not a label: write it as key=value"),
            "{err}"
        );
    }
}
