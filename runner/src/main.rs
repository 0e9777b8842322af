//! `proxy-wasm-run`: a dry run of one HTTP stream (or TCP connection, or a Wasm service's time) through a
//! proxy-wasm module, without Envoy. `cargo xtask run`
//! builds an extension and hands its module to this binary; `--help` lists the flags.

mod cli;
mod exact_bytes;
mod property_args;
mod report;

use std::process::ExitCode;

use host::testing::{Plugin, RunError, Scenario, play, printable, printable_line};

use report::{Outcome, Report};

/// The plugin did not start (or the module did not load).
const NOT_STARTED: u8 = 1;
/// A bad command line (clap's own exit status for usage errors).
const BAD_COMMAND_LINE: u8 = 2;
/// The plugin failed while it ran the stream.
const FAILED: u8 = 3;
/// A stream of a scenario file did not meet its expectations.
const EXPECTATIONS_FAILED: u8 = 4;

fn main() -> ExitCode {
    let args = cli::Args::parse_all();
    if let Some(scenario) = &args.scenario {
        return run_scenario(&args.module, scenario);
    }
    let mut builder = Plugin::load(&args.module)
        .fail_open(args.fail_open)
        .allow_on_headers_stop_iteration(args.allow_on_headers_stop_iteration)
        .grpc_timeout_returns_deadline_exceeded(args.grpc_timeout_returns_deadline_exceeded)
        .log_level(args.log_level.level())
        .random(args.randomness())
        .disk_cache(!args.no_cache);
    if let Some(fail) = args.fail {
        builder = builder.failure_policy(fail.policy());
    }
    let env: Vec<(&str, &str)> = args
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let host_env: Vec<&str> = args.host_env.iter().map(String::as_str).collect();
    builder = builder.env(&env).host_env(&host_env);
    if let Some(config) = &args.config {
        builder = builder.config(&config.0);
    }
    if let Some(vm_config) = &args.vm_config {
        builder = builder.vm_config(&vm_config.0);
    }
    if let Some(root_id) = &args.root_id {
        builder = builder.root_id(root_id);
    }
    if let Some(vm_id) = &args.vm_id {
        builder = builder.vm_id(vm_id);
    }
    let mut properties = args.properties_file.clone().unwrap_or_default();
    for (path, value) in &args.properties {
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        if let Err(e) = properties.set(&path, value.clone()) {
            eprintln!("error: property `{}`: {e}", path.join("."));
            return ExitCode::from(BAD_COMMAND_LINE);
        }
    }
    builder = builder.properties(&properties);
    let envoy = match args.target {
        Some(target) => {
            builder = builder.target(&target.flag());
            target.envoy()
        }
        None => envoy_targets::Envoy::NEWEST,
    };
    if let Some(limit) = args.module_size_limit {
        builder = builder.module_size_limit(limit);
    }
    if let Some(twin) = &args.names {
        builder = builder.names(twin);
    }
    if let Some(deadline) = args.compile_deadline {
        builder = builder.compile_deadline(deadline);
    }
    if let Some(limit) = args.buffer_limit {
        builder = builder.buffer_limit(limit);
    }
    if args.clusters.is_empty() {
        // Exploring a module: take every name, and say so once the plugin calls out (dry_run's notes).
        builder = builder.any_cluster();
    } else {
        let clusters: Vec<&str> = args.clusters.iter().map(String::as_str).collect();
        builder = builder.clusters(&clusters);
    }
    let module = args.module.display().to_string();
    let (report, code) = match builder.start() {
        Err(error) => {
            eprintln!(
                "error: {}\nthe plugin's reason: {}",
                printable(&report::headline(&error)),
                printable_line(error.reason())
            );
            let report = Report {
                module,
                kind: args.kind.name(),
                envoy,
                randomness: args.randomness(),
                grpc_timeout: String::new(),
                abi: None,
                logs: error.logs.clone(),
                metrics: error.metrics.clone(),
                failure: None,
                trap: error.trap.as_deref().cloned(),
                outcome: Outcome::NotStarted(&error),
            };
            print(&report, args.json);
            return ExitCode::from(NOT_STARTED);
        }
        Ok(plugin) => {
            let run = match play::play(&plugin, &args.inputs()) {
                Ok(run) => run,
                Err(error) => {
                    eprintln!("error: --grpc-response {}", printable_line(&error));
                    return ExitCode::from(BAD_COMMAND_LINE);
                }
            };
            let failure = plugin.failure();
            let code = if failure.is_some() { FAILED } else { 0 };
            let report = Report {
                module,
                kind: args.kind.name(),
                envoy,
                randomness: args.randomness(),
                grpc_timeout: report::grpc_status_name(plugin.grpc_timeout_response().status),
                abi: Some(plugin.abi_version().to_string()),
                logs: plugin.all_logs(),
                metrics: plugin.metrics(),
                failure,
                trap: plugin.trap(),
                outcome: Outcome::Ran(Box::new(run)),
            };
            (report, code)
        }
    };
    print(&report, args.json);
    ExitCode::from(code)
}

/// Plays a scenario file and prints each stream's PASS or FAIL.
fn run_scenario(module: &std::path::Path, file: &std::path::Path) -> ExitCode {
    let scenario = match Scenario::from_file(file) {
        Ok(scenario) => scenario,
        Err(error) => {
            eprintln!("error: {}", printable(&format!("{error:#}")));
            return ExitCode::from(BAD_COMMAND_LINE);
        }
    };
    match scenario.run(module) {
        Ok(outcome) => {
            print!("{}", printable(&outcome.text()));
            if outcome.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXPECTATIONS_FAILED)
            }
        }
        Err(error) => {
            eprintln!("error: {}", printable(&error.to_string()));
            ExitCode::from(match error {
                RunError::NotStarted(_) => NOT_STARTED,
                RunError::BadAnswer(_) => BAD_COMMAND_LINE,
            })
        }
    }
}

fn print(report: &Report<'_>, json: bool) {
    if json {
        // Serialising derived structs of strings and numbers cannot fail.
        let text = serde_json::to_string_pretty(&report.json()).expect("the report serialises");
        println!("{text}");
    } else {
        // The report quotes the guest (logs, bodies, headers): no escape sequence of its reaches the terminal.
        print!("{}", printable(&report.text()));
    }
}
