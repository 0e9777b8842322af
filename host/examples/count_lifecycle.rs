//! Counts what the lifecycle benchmark times, in a form `valgrind --tool=callgrind` can count instructions of: the
//! count does not change with what else the machine runs, where the benchmark's times do.
//! `host/tools/count-instructions.sh` runs it and prints instructions per request and per plugin start.
//!
//! `count_lifecycle host|bare|canned|start N [json-redact]`: N requests through the host, N on bare wasmtime with
//! do-nothing imports, N on bare wasmtime with imports answering the workload's bytes, or N plugin starts of
//! header-append (or json-redact), after the same set-up, so the difference of two counts is N times the cost of one.

#[path = "../benches/workload/mod.rs"]
mod workload;

use workload::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(what), Some(Ok(n))) = (args.get(1), args.get(2).map(|n| n.parse::<u64>())) else {
        eprintln!("usage: count_lifecycle host|bare|canned|start N [json-redact]");
        std::process::exit(2);
    };
    let workload = match args.get(3).map(String::as_str) {
        Some("json-redact") => JSON_REDACT,
        _ => HEADER_APPEND,
    };
    let bytes = workload.module();
    match what.as_str() {
        "host" => {
            let plugin = workload.start(&bytes);
            for _ in 0..n {
                workload.one_request(&plugin);
            }
        }
        "bare" => {
            let engine = engine();
            let module = wasmtime::Module::new(&engine, &bytes).expect("the module compiles");
            let mut bare = Bare::start(&engine, &module, &workload);
            for _ in 0..n {
                bare.one_request();
            }
        }
        "canned" => {
            let engine = engine();
            let module = wasmtime::Module::new(&engine, &bytes).expect("the module compiles");
            let mut canned = Canned::start(&engine, &module, &workload);
            canned.one_request();
            canned.assert_did_the_work(&workload);
            for _ in 0..n {
                canned.one_request();
            }
        }
        "start" => {
            drop(workload.start(&bytes));
            for _ in 0..n {
                drop(workload.start(&bytes));
            }
        }
        other => {
            eprintln!("count_lifecycle: unknown workload {other:?}: host, bare, canned or start");
            std::process::exit(2);
        }
    }
}
