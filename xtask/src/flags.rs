//! The whole command line of `cargo xtask`, parsed into the types the commands work with. Each `///` line is
//! the `--help` text of what follows it.

use clap::{Args, Parser, Subcommand};

use crate::{
    deploy::{Label, Target},
    maistra::Phase,
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
    Run(Run),
    New(New),
    Test(Test),
}

/// Build every extension for wasm32-unknown-unknown (release) and check each module.
#[derive(Debug, Args)]
pub(crate) struct Build {
    /// Only this extension (repeatable; default: every extension under extensions/). Another cdylib of the
    /// workspace (a host test guest) is built with the same flags but not checked or installed.
    #[arg(short = 'p', long = "package", value_name = "NAME")]
    pub(crate) package: Vec<String>,
    /// Shrink each module with binaryen's wasm-opt -Oz (must be installed). Off by default: the
    /// module then depends on the wasm-opt version, not only on the sources and the toolchain.
    #[arg(long)]
    pub(crate) wasm_opt: bool,
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
    /// Shrink each module with wasm-opt -Oz first (see `build --wasm-opt`).
    #[arg(long)]
    pub(crate) wasm_opt: bool,
}

/// Push the packaged image to a registry over the OCI distribution API.
#[derive(Debug, Args)]
pub(crate) struct Push {
    /// Only this extension (default: the only extension, else required).
    #[arg(short = 'p', long = "package", value_name = "NAME")]
    pub(crate) package: Option<String>,
    /// Destination REGISTRY/REPO[:TAG] (tag defaults to the extension's version).
    #[arg(long, value_name = "REFERENCE")]
    pub(crate) image: String,
    /// Registry user name; the password is read from standard input.
    #[arg(long, value_name = "USER")]
    pub(crate) username: Option<String>,
    /// Read the password from standard input (with --username).
    #[arg(long)]
    pub(crate) password_stdin: bool,
    /// Use plain HTTP (or accept any certificate) for this registry's host, and no other.
    #[arg(long)]
    pub(crate) insecure: bool,
    /// Extra PEM certificate(s) to trust for TLS (repeatable).
    #[arg(long, value_name = "PATH")]
    pub(crate) ca_cert: Vec<String>,
    /// Fail if the tag already points to another digest.
    #[arg(long)]
    pub(crate) no_overwrite: bool,
    /// Repository of the same registry holding the blobs already: mount them, upload nothing.
    #[arg(long, value_name = "REPOSITORY")]
    pub(crate) mount_from: Option<String>,
    /// Say what would be uploaded, upload nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

/// Write deployment YAML for a mesh: ServiceMeshExtension, WasmPlugin or an Envoy filter.
#[derive(Debug, Args)]
pub(crate) struct Deploy {
    /// Only this extension (default: the only extension, else required).
    #[arg(short = 'p', long = "package", value_name = "NAME")]
    pub(crate) package: Option<String>,
    /// Image reference REGISTRY/REPO[:TAG] (as pushed; tag defaults to the version). Not for envoy.
    #[arg(long, value_name = "REFERENCE")]
    pub(crate) image: Option<String>,
    /// Target: ossm-2.0 (SME v1alpha1) | ossm-2.1 | ossm-2.2 (SME v1) | istio, ossm-2.3…ossm-2.6 (WasmPlugin)
    /// | envoy (HTTP filter loading the local module).
    #[arg(long = "for", value_name = "TARGET")]
    pub(crate) target: Target,
    /// Workload selector label key=value (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub(crate) selector: Vec<Label>,
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

/// Run one HTTP stream through an extension in the built-in host and print what Envoy would do.
#[derive(Debug, Args)]
pub(crate) struct Run {
    /// An extension name or a path to a .wasm module.
    pub(crate) module: String,
    /// Every further argument goes to the host's runner, proxy-wasm-run: --config, -H, --body,
    /// --response-header, --callout-response, --json… (`cargo xtask run MODULE --help` lists them).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "RUNNER ARGS"
    )]
    pub(crate) args: Vec<String>,
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
    /// Starting point: headers | callout | body.
    #[arg(long)]
    pub(crate) kind: Option<Kind>,
    /// One-line description.
    #[arg(long, value_name = "TEXT")]
    pub(crate) description: Option<Description>,
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
        assert_eq!(
            deploy.target,
            Target::WasmPlugin {
                fail_strategy: false
            }
        );
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
        let err = parse(&["new", "x", "--kind", "tcp"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`tcp` is not a starting point of the template; choose one of: headers, callout, body"), "{err}");
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
