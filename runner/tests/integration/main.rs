//! `proxy-wasm-run`'s tests: one test binary that runs the binary as a user does (`CARGO_BIN_EXE_proxy-wasm-run`)
//! and checks its text, its `--json` report and its exit status. Module names start with `runner` so that
//! host/README.md cites them as `runner_scenario::…` beside the host's own; run one area with
//! `cargo test -p runner --test integration runner_scenario::`.

mod runner;
mod runner_compile_cache;
mod runner_grpc_json;
mod runner_hostile_modules;
mod runner_scenario;
mod runner_traps;
