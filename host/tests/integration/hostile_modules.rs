//! Hostile modules: small WAT modules that try to hang or exhaust the host. Each is stopped with a clear failure,
//! having spent at most twice the call deadline of CPU time and stayed within the plugin's memory budget (linear
//! memory limit + host byte budget), and a well-behaved plugin on the same Envoy keeps answering.
//!
//! Each case runs in a child process (this test binary, filtered to the one test), so its peak resident memory
//! (`VmHWM`) and CPU time are its own; the parent checks the bounds and prints one row of the table:
//! `module | what stopped it | time to stop | CPU time | peak resident memory`. Run with `--nocapture` to see the
//! rows. CPU time, not wall time, is bounded: a busy machine stretches the wall clock, not the work done.

use std::process::Command;
use std::time::{Duration, Instant};

use host::testing::*;

/// The per-call deadline every case runs under (the builder's default).
const DEADLINE: Duration = Duration::from_secs(2);
/// The per-call deadline of the cases only the byte budget may stop (`budget_only`).
const BUDGET_DEADLINE: Duration = Duration::from_secs(60);
/// The linear-memory limit of the hostile plugins.
const MEMORY_LIMIT: usize = 64 << 20;
/// Their host byte budget.
const HOST_MEMORY_LIMIT: usize = 16 << 20;
/// What the test process itself may add while a case runs (compiling, the good plugin, the failure's logs).
const SLACK: usize = 64 << 20;

/// Set in the child: the case to run.
const CASE_ENV: &str = "HOSTILE_MODULE_CASE";

/// Standard exports every case shares: an allocator, the ABI marker and a root context.
fn module(imports: &str, memory: &str, body: &str) -> Vec<u8> {
    let text = format!(
        r#"(module
  {imports}
  {memory}
  (global $heap (mut i32) (i32.const 1024))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  {body}
)"#
    );
    wat::parse_str(&text).unwrap_or_else(|e| panic!("invalid WAT: {e}\n{text}"))
}

/// A plugin that behaves: adds `x-good: yes` to every request.
fn good_module() -> Vec<u8> {
    module(
        r#"(import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))"#,
        r#"(memory (export "memory") 1) (data (i32.const 16) "x-good") (data (i32.const 32) "yes")"#,
        r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
             (drop (call $add (i32.const 0) (i32.const 16) (i32.const 6) (i32.const 32) (i32.const 3)))
             (i32.const 0))"#,
    )
}

fn hostile(bytes: Vec<u8>, envoy: &Envoy) -> PluginBuilder {
    Plugin::from_bytes(bytes)
        .on(envoy)
        .call_deadline(DEADLINE)
        .memory_limit(MEMORY_LIMIT)
        .host_memory_limit(HOST_MEMORY_LIMIT)
        .disk_cache(false)
        // The callout modules call cluster `c`: declared, so only the byte budget can stop them.
        .clusters(&["c"])
}

/// A hostile plugin that only the host byte budget may stop: its many small entries (a line or an item per call)
/// take a second or more of wall time on a busy machine, so under the usual deadline the clock could stop it
/// first. A failure that names the deadline instead of the budget still fails the case, and `run` still bounds its
/// CPU time by twice `DEADLINE`.
fn budget_only(bytes: Vec<u8>, envoy: &Envoy) -> PluginBuilder {
    hostile(bytes, envoy).call_deadline(BUDGET_DEADLINE)
}

/// The good plugin still answers after its neighbour was stopped.
fn assert_serves(good: &Plugin) {
    good.assert_not_failed();
    let mut stream = good.http_stream();
    stream.send_request_headers(&[(":path", "/")], true);
    stream.upstream_request().assert_header("x-good", "yes");
    stream.finish();
}

/// Starts a good plugin, then `case` (which starts the hostile one and returns what stopped it), then checks the
/// good one still answers. In the parent: runs this in a child and checks time and memory.
fn run(name: &str, case: fn(&Envoy) -> String) {
    if std::env::var(CASE_ENV).as_deref() == Ok(name) {
        let envoy = Envoy::new();
        let good = Plugin::from_bytes(good_module())
            .on(&envoy)
            .start()
            .expect("the good plugin starts");
        let before = memory_kib("VmRSS");
        let began = Instant::now();
        let cpu_before = cpu_millis();
        let stopped_by = case(&envoy);
        let elapsed = began.elapsed();
        let cpu = cpu_millis().saturating_sub(cpu_before);
        let peak = memory_kib("VmHWM");
        assert_serves(&good);
        let reason: String = printable_line(&stopped_by)
            .replace('|', "/")
            .chars()
            .take(160)
            .collect();
        println!(
            "HOSTILE|{name}|{reason}|{}|{cpu}|{}|{}",
            elapsed.as_millis(),
            peak,
            peak.saturating_sub(before)
        );
        return;
    }
    let output = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            &test_path(name),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CASE_ENV, name)
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "case {name} failed in its child process:\n{stdout}\n{stderr}"
    );
    let row = stdout
        .lines()
        .find_map(|l| l.split_once("HOSTILE|").map(|(_, row)| row))
        .unwrap_or_else(|| panic!("case {name} printed no result:\n{stdout}\n{stderr}"));
    let fields: Vec<&str> = row.split('|').collect();
    let [_, reason, millis, cpu_millis, peak_kib, growth_kib] = fields[..] else {
        panic!("malformed result {row:?}");
    };
    let millis: u128 = millis.parse().expect("milliseconds");
    let cpu_millis: u128 = cpu_millis.parse().expect("milliseconds");
    let peak_kib: usize = peak_kib.parse().expect("KiB");
    let growth_kib: usize = growth_kib.parse().expect("KiB");
    println!(
        "| {name} | {reason} | {millis} ms | {cpu_millis} ms CPU | {} MiB peak ({} MiB over the process before it) |",
        peak_kib / 1024,
        growth_kib / 1024
    );
    assert!(
        cpu_millis <= 2 * DEADLINE.as_millis(),
        "{name} spent {cpu_millis} ms of CPU time ({millis} ms in all) before it was stopped, over twice the \
         {DEADLINE:?} deadline"
    );
    let budget_kib = (MEMORY_LIMIT + HOST_MEMORY_LIMIT + SLACK) / 1024;
    assert!(
        growth_kib <= budget_kib,
        "{name} grew the process by {growth_kib} KiB, over the {budget_kib} KiB budget (memory limit + host budget + \
         slack)"
    );
}

/// The harness's name for this module's test `name`: its module path inside the test binary (the crate's own name
/// dropped), then the test, so `--exact` selects it and nothing else.
fn test_path(name: &str) -> String {
    match module_path!().split_once("::") {
        Some((_crate, module)) => format!("{module}::{name}"),
        None => name.to_owned(),
    }
}

/// The CPU time this process has used (user and system, every thread), in milliseconds: fields 14 and 15 of
/// `/proc/self/stat`, in clock ticks of Linux's fixed USER_HZ of 100 (0 where procfs is missing).
fn cpu_millis() -> u128 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) may hold spaces; the fields after it follow its closing parenthesis.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u128 = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|field| field.parse::<u128>().ok())
        .sum();
    ticks * 10
}

/// A `/proc/self/status` figure in KiB (0 where procfs is missing).
fn memory_kib(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[track_caller]
fn start_error(builder: PluginBuilder, failure: StartFailure, expected: &str) -> String {
    match builder.start() {
        Ok(plugin) => panic!("the hostile module started: {plugin:?}"),
        Err(error) => {
            assert_eq!(error.failure, failure, "{error}");
            assert!(error.message.contains(expected), "{error}");
            error.message
        }
    }
}

#[test]
fn a_start_function_that_loops() {
    run("a_start_function_that_loops", |envoy| {
        let bytes = module(
            "",
            r#"(memory (export "memory") 1)"#,
            "(func $spin (loop $forever (br $forever))) (start $spin)",
        );
        start_error(
            hostile(bytes, envoy),
            StartFailure::Initialize,
            "the module's start function exceeded the 2s deadline",
        )
    });
}

#[test]
fn a_queue_that_feeds_itself() {
    // Envoy posts one `on_queue_ready` per enqueue (cpp-host `SharedQueue::enqueue` → dispatcher post).
    run("a_queue_that_feeds_itself", |envoy| {
        let bytes = module(
            r#"(import "env" "proxy_register_shared_queue" (func $register (param i32 i32 i32) (result i32)))
               (import "env" "proxy_enqueue_shared_queue" (func $enqueue (param i32 i32 i32) (result i32)))"#,
            r#"(memory (export "memory") 1) (data (i32.const 16) "loop")"#,
            r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
                 (drop (call $register (i32.const 16) (i32.const 4) (i32.const 100)))
                 (drop (call $enqueue (i32.load (i32.const 100)) (i32.const 16) (i32.const 4)))
                 (i32.const 1))
               (func (export "proxy_on_queue_ready") (param i32 i32)
                 (drop (call $enqueue (local.get 1) (i32.const 16) (i32.const 4))))"#,
        );
        let plugin = hostile(bytes, envoy)
            .start()
            .expect("the plugin starts; its queue loops afterwards");
        let failure = plugin.failure().expect("the queue loop fails the VM");
        assert!(failure.contains("a queue that feeds itself"), "{failure}");
        assert!(failure.contains(r#""loop""#), "names the queue: {failure}");
        // Failed closed, as Envoy: the plugin's own streams get a 503.
        let mut stream = plugin.http_stream();
        stream.send_request_headers(&[(":path", "/")], true);
        stream.client_response().assert_status(503);
        failure
    });
}

#[test]
fn several_memories() {
    run("several_memories", |envoy| {
        let bytes = wat::parse_str(
            r#"(module
                 (memory (export "memory") 1) (memory $a 16384) (memory $b 16384)
                 (func (export "malloc") (param i32) (result i32) (i32.const 0))
                 (func (export "proxy_abi_version_0_2_1")))"#,
        )
        .expect("valid WAT");
        start_error(
            hostile(bytes, envoy),
            StartFailure::Load,
            "not several memories",
        )
    });
}

#[test]
fn a_64_bit_memory() {
    run("a_64_bit_memory", |envoy| {
        let bytes = module("", r#"(memory (export "memory") i64 1)"#, "");
        start_error(hostile(bytes, envoy), StartFailure::Load, "memory64")
    });
}

#[test]
fn a_huge_table() {
    run("a_huge_table", |envoy| {
        // 100 million function references: 800 MiB of host memory outside the linear-memory limit, unbounded.
        let bytes = module(
            "",
            r#"(memory (export "memory") 1) (table 100000000 funcref)"#,
            "",
        );
        start_error(hostile(bytes, envoy), StartFailure::Load, "table")
    });
}

#[test]
fn a_4_gib_random_get() {
    run("a_4_gib_random_get", |envoy| {
        // cpp-host `wasi_unstable_random_get` refuses more than 64 KiB
        // (PROXY_WASM_HOST_WASI_RANDOM_GET_MAX_SIZE_BYTES) before it allocates anything: EINVAL (28).
        let bytes = module(
            r#"(import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))"#,
            r#"(memory (export "memory") 1)"#,
            r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
                 (i32.eq (call $random (i32.const 0) (i32.const -1)) (i32.const 28)))"#,
        );
        let plugin = hostile(bytes, envoy)
            .start()
            .unwrap_or_else(|e| panic!("random_get of 4 GiB must return EINVAL to the guest: {e}"));
        plugin.assert_not_failed();
        "random_get returned EINVAL (28) before allocating anything".to_string()
    });
}

#[test]
fn an_fd_write_iovec_bomb() {
    run("an_fd_write_iovec_bomb", |envoy| {
        // 8192 iovecs, each naming the same 64 KiB: 512 MiB of text from a 128 KiB module.
        let bytes = module(
            r#"(import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))"#,
            r#"(memory (export "memory") 2)"#,
            r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
                 (local $i i32)
                 (loop $fill
                   (i32.store (local.get $i) (i32.const 65536))
                   (i32.store (i32.add (local.get $i) (i32.const 4)) (i32.const 65536))
                   (local.set $i (i32.add (local.get $i) (i32.const 8)))
                   (br_if $fill (i32.lt_u (local.get $i) (i32.const 65536))))
                 (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 8192) (i32.const 65536)))
                 (i32.const 1))"#,
        );
        start_error(
            hostile(bytes, envoy),
            StartFailure::VmStart,
            "a write to stdout/stderr of 536870912 bytes",
        )
    });
}

#[test]
fn huge_logs() {
    run("huge_logs", |envoy| {
        let bytes = module(
            r#"(import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))"#,
            r#"(memory (export "memory") 16)"#,
            r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
                 (loop $forever
                   (drop (call $log (i32.const 2) (i32.const 0) (i32.const 1048576)))
                   (br $forever))
                 (i32.const 1))"#,
        );
        start_error(
            hostile(bytes, envoy),
            StartFailure::VmStart,
            "a log message of 1048576 bytes would take the host memory this plugin holds past its limit",
        )
    });
}

/// `:path: /`, `:method: GET`, `:authority: x` in the map wire format, at offset 16.
const CALLOUT_HEADERS: &str = r#"(data (i32.const 16) "\03\00\00\00\05\00\00\00\01\00\00\00\07\00\00\00\03\00\00\00\0a\00\00\00\01\00\00\00:path\00/\00:method\00GET\00:authority\00x\00")"#;

#[test]
fn huge_http_callouts() {
    run("huge_http_callouts", |envoy| {
        let bytes = module(
            r#"(import "env" "proxy_http_call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))"#,
            &format!(r#"(memory (export "memory") 17) (data (i32.const 8) "c") {CALLOUT_HEADERS}"#),
            r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
                 (loop $forever
                   (drop (call $call (i32.const 8) (i32.const 1) (i32.const 16) (i32.const 61)
                     (i32.const 65536) (i32.const 1048576) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 200)))
                   (br $forever))
                 (i32.const 1))"#,
        );
        start_error(
            hostile(bytes, envoy),
            StartFailure::VmStart,
            "an HTTP callout of",
        )
    });
}

#[test]
fn huge_grpc_messages() {
    run("huge_grpc_messages", |envoy| {
        let bytes = module(
            r#"(import "env" "proxy_grpc_stream" (func $stream (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
               (import "env" "proxy_grpc_send" (func $send (param i32 i32 i32 i32) (result i32)))"#,
            r#"(memory (export "memory") 17) (data (i32.const 8) "c")"#,
            r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
                 (drop (call $stream (i32.const 8) (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 8) (i32.const 1)
                   (i32.const 0) (i32.const 0) (i32.const 200)))
                 (loop $forever
                   (drop (call $send (i32.load (i32.const 200)) (i32.const 65536) (i32.const 1048576) (i32.const 0)))
                   (br $forever))
                 (i32.const 1))"#,
        );
        start_error(
            hostile(bytes, envoy),
            StartFailure::VmStart,
            "a gRPC message of 1048576 bytes",
        )
    });
}

#[test]
fn a_shared_queue_nobody_drains() {
    run("a_shared_queue_nobody_drains", |envoy| {
        let bytes = module(
            r#"(import "env" "proxy_register_shared_queue" (func $register (param i32 i32 i32) (result i32)))
               (import "env" "proxy_enqueue_shared_queue" (func $enqueue (param i32 i32 i32) (result i32)))"#,
            r#"(memory (export "memory") 17) (data (i32.const 16) "flood")"#,
            r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
                 (drop (call $register (i32.const 16) (i32.const 5) (i32.const 100)))
                 (loop $forever
                   (drop (call $enqueue (i32.load (i32.const 100)) (i32.const 65536) (i32.const 1048576)))
                   (br $forever))
                 (i32.const 1))"#,
        );
        start_error(
            hostile(bytes, envoy),
            StartFailure::VmStart,
            "a shared queue item of 1048576 bytes",
        )
    });
}

#[test]
fn shared_data_under_ever_new_keys() {
    run("shared_data_under_ever_new_keys", |envoy| {
        // Each write a new 4-byte key (a counter) with a 1 MiB value: nothing is ever replaced.
        let bytes = module(
            r#"(import "env" "proxy_set_shared_data" (func $set (param i32 i32 i32 i32 i32) (result i32)))"#,
            r#"(memory (export "memory") 17)"#,
            r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
                 (loop $forever
                   (i32.store (i32.const 16) (i32.add (i32.load (i32.const 16)) (i32.const 1)))
                   (drop (call $set (i32.const 16) (i32.const 4) (i32.const 65536) (i32.const 1048576) (i32.const 0)))
                   (br $forever))
                 (i32.const 1))"#,
        );
        start_error(
            hostile(bytes, envoy),
            StartFailure::VmStart,
            "a shared data entry of 1048580 bytes",
        )
    });
}

/// Starts `bytes` (which must start), sends one request and returns the failure the request caused, after checking
/// the plugin's streams are failed closed (a 503) and the failure contains each of `expected`.
#[track_caller]
fn request_failure(builder: PluginBuilder, expected: &[&str]) -> String {
    let plugin = builder
        .start()
        .unwrap_or_else(|e| panic!("the plugin starts; its request handling is hostile: {e}"));
    let mut stream = plugin.http_stream();
    stream.send_request_headers(&[(":path", "/")], true);
    stream.client_response().assert_status(503);
    let failure = plugin.failure().expect("the request fails the VM");
    for part in expected {
        assert!(failure.contains(part), "expected {part:?} in: {failure}");
    }
    failure
}

#[test]
fn empty_log_lines() {
    run("empty_log_lines", |envoy| {
        // Zero bytes each: only the cost of the entry itself stops them.
        let bytes = module(
            r#"(import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))"#,
            r#"(memory (export "memory") 1)"#,
            r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
                 (loop $forever
                   (drop (call $log (i32.const 2) (i32.const 0) (i32.const 0)))
                   (br $forever))
                 (i32.const 1))"#,
        );
        start_error(
            budget_only(bytes, envoy),
            StartFailure::VmStart,
            "a log message of 0 bytes would take the host memory this plugin holds past its limit",
        )
    });
}

#[test]
fn one_byte_fd_writes() {
    run("one_byte_fd_writes", |envoy| {
        // One iovec of one byte at 32, written to stdout forever.
        let bytes = module(
            r#"(import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))"#,
            r#"(memory (export "memory") 1) (data (i32.const 0) "\20\00\00\00\01\00\00\00") (data (i32.const 32) "x")"#,
            r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
                 (loop $forever
                   (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 64)))
                   (br $forever))
                 (i32.const 1))"#,
        );
        start_error(
            budget_only(bytes, envoy),
            StartFailure::VmStart,
            "a write to stdout/stderr of 1 bytes would take the host memory this plugin holds past its limit",
        )
    });
}

#[test]
fn empty_queue_items() {
    run("empty_queue_items", |envoy| {
        let bytes = module(
            r#"(import "env" "proxy_register_shared_queue" (func $register (param i32 i32 i32) (result i32)))
               (import "env" "proxy_enqueue_shared_queue" (func $enqueue (param i32 i32 i32) (result i32)))"#,
            r#"(memory (export "memory") 1) (data (i32.const 16) "empty")"#,
            r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
                 (drop (call $register (i32.const 16) (i32.const 5) (i32.const 100)))
                 (loop $forever
                   (drop (call $enqueue (i32.load (i32.const 100)) (i32.const 0) (i32.const 0)))
                   (br $forever))
                 (i32.const 1))"#,
        );
        start_error(
            budget_only(bytes, envoy),
            StartFailure::VmStart,
            "a shared queue item of 0 bytes would take",
        )
    });
}

#[test]
fn deferred_continues_without_end() {
    run("deferred_continues_without_end", |envoy| {
        // Each `proxy_continue_stream` queues an action that runs only once the callback returns, which it never
        // does before the budget is spent.
        let bytes = module(
            r#"(import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))"#,
            r#"(memory (export "memory") 1)"#,
            r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
                 (loop $forever
                   (drop (call $continue (i32.const 0)))
                   (br $forever))
                 (i32.const 1))"#,
        );
        request_failure(
            budget_only(bytes, envoy),
            &[
                "a deferred continue_stream of 0 bytes would take",
                "host_memory_limit",
            ],
        )
    });
}

#[test]
fn local_replies_without_end() {
    run("local_replies_without_end", |envoy| {
        // A 1 MiB body per reply, all held until the callback returns.
        let bytes = module(
            r#"(import "env" "proxy_send_local_response" (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))"#,
            r#"(memory (export "memory") 17)"#,
            r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
                 (loop $forever
                   (drop (call $reply (i32.const 403) (i32.const 0) (i32.const 0) (i32.const 65536) (i32.const 1048576)
                     (i32.const 0) (i32.const 0) (i32.const -1)))
                   (br $forever))
                 (i32.const 1))"#,
        );
        request_failure(
            hostile(bytes, envoy),
            &[
                "a local reply of 1048576 bytes would take",
                "host_memory_limit",
            ],
        )
    });
}

#[test]
fn metric_names_without_end() {
    run("metric_names_without_end", |envoy| {
        // A new 64 KiB name each time (a counter in its first 4 bytes): Envoy's stats store would keep them all.
        let bytes = module(
            r#"(import "env" "proxy_define_metric" (func $define (param i32 i32 i32 i32) (result i32)))"#,
            r#"(memory (export "memory") 3)"#,
            r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
                 (loop $forever
                   (i32.store (i32.const 65536) (i32.add (i32.load (i32.const 65536)) (i32.const 1)))
                   (drop (call $define (i32.const 0) (i32.const 65536) (i32.const 65536) (i32.const 16)))
                   (br $forever))
                 (i32.const 1))"#,
        );
        start_error(
            budget_only(bytes, envoy),
            StartFailure::VmStart,
            "a metric name of 65536 bytes would take",
        )
    });
}

#[test]
fn histogram_samples_without_end() {
    run("histogram_samples_without_end", |envoy| {
        let bytes = module(
            r#"(import "env" "proxy_define_metric" (func $define (param i32 i32 i32 i32) (result i32)))
               (import "env" "proxy_record_metric" (func $record (param i32 i64) (result i32)))"#,
            r#"(memory (export "memory") 1) (data (i32.const 16) "latency")"#,
            r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
                 (drop (call $define (i32.const 2) (i32.const 16) (i32.const 7) (i32.const 100)))
                 (loop $forever
                   (drop (call $record (i32.load (i32.const 100)) (i64.const 7)))
                   (br $forever))
                 (i32.const 1))"#,
        );
        // A smaller budget: each sample is 8 bytes, and a debug-built host makes a million host calls slowly.
        start_error(
            hostile(bytes, envoy).host_memory_limit(1 << 20),
            StartFailure::VmStart,
            "a histogram sample of 8 bytes would take",
        )
    });
}

#[test]
fn queue_registrations_without_end() {
    run("queue_registrations_without_end", |envoy| {
        // Queues are never removed: each new 64 KiB name stays for the process's life.
        let bytes = module(
            r#"(import "env" "proxy_register_shared_queue" (func $register (param i32 i32 i32) (result i32)))"#,
            r#"(memory (export "memory") 3)"#,
            r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
                 (loop $forever
                   (i32.store (i32.const 65536) (i32.add (i32.load (i32.const 65536)) (i32.const 1)))
                   (drop (call $register (i32.const 65536) (i32.const 65536) (i32.const 16)))
                   (br $forever))
                 (i32.const 1))"#,
        );
        start_error(
            budget_only(bytes, envoy),
            StartFailure::VmStart,
            "a shared queue registration of 65536 bytes would take",
        )
    });
}

#[test]
fn host_log_lines_quoting_a_huge_cluster_name() {
    run("host_log_lines_quoting_a_huge_cluster_name", |envoy| {
        // An undeclared 4 KiB cluster name: Envoy refuses silently, the host explains each refusal in a line of
        // its own, quoting only the start of the name; the lines are stopped by the budget.
        let bytes = module(
            r#"(import "env" "proxy_http_call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))"#,
            &format!(r#"(memory (export "memory") 17) {CALLOUT_HEADERS}"#),
            r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
                 (loop $forever
                   (drop (call $call (i32.const 65536) (i32.const 4096) (i32.const 16) (i32.const 61)
                     (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 200)))
                   (br $forever))
                 (i32.const 1))"#,
        );
        // The refusals' lines fill the budget: the next callout, or the next line, does not fit.
        let message = start_error(
            budget_only(bytes, envoy),
            StartFailure::VmStart,
            "would take the host memory this plugin holds past its limit",
        );
        let plugin = hostile(
            module(
                r#"(import "env" "proxy_http_call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))"#,
                &format!(r#"(memory (export "memory") 17) {CALLOUT_HEADERS}"#),
                r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
                     (drop (call $call (i32.const 65536) (i32.const 4096) (i32.const 16) (i32.const 61)
                       (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 200)))
                     (i32.const 1))"#,
            ),
            envoy,
        )
        .name("one-refusal")
        .start()
        .expect("one refused callout does not stop the plugin");
        let explained: Vec<String> = plugin
            .logs()
            .into_iter()
            .map(|l| l.message)
            .filter(|m| m.contains("unknown cluster"))
            .collect();
        assert_eq!(explained.len(), 1, "{explained:?}");
        assert!(
            explained[0].len() < 2048 && explained[0].contains("(4096 bytes)"),
            "the line quotes the start of the name and its length: {}",
            explained[0]
        );
        message
    });
}

#[test]
fn a_budget_filled_again_in_every_vm() {
    run("a_budget_filled_again_in_every_vm", |envoy| {
        // 10 MiB of log lines from `on_vm_start`, which the canary and then the worker run: one 16 MiB budget for
        // the plugin holds the canary's lines, so the worker's do not fit.
        let bytes = module(
            r#"(import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))"#,
            r#"(memory (export "memory") 17)"#,
            r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
                 (local $i i32)
                 (loop $ten
                   (drop (call $log (i32.const 2) (i32.const 0) (i32.const 1048576)))
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br_if $ten (i32.lt_u (local.get $i) (i32.const 10))))
                 (i32.const 1))"#,
        );
        let message = start_error(
            hostile(bytes, envoy),
            StartFailure::VmStart,
            "a log message of 1048576 bytes would take the host memory this plugin holds past its limit",
        );
        assert!(
            !message.contains("canary"),
            "the canary's lines fit; the worker's did not: {message}"
        );
        message
    });
}

#[test]
fn a_queue_that_feeds_itself_slowly() {
    run("a_queue_that_feeds_itself_slowly", |envoy| {
        // Each delivery spins a million iterations (far under the call deadline) before it enqueues again, so the
        // 100 000 deliveries one step allows would take minutes: the step deadline stops it.
        let bytes = module(
            r#"(import "env" "proxy_register_shared_queue" (func $register (param i32 i32 i32) (result i32)))
               (import "env" "proxy_enqueue_shared_queue" (func $enqueue (param i32 i32 i32) (result i32)))"#,
            r#"(memory (export "memory") 1) (data (i32.const 16) "slow")"#,
            r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
                 (drop (call $register (i32.const 16) (i32.const 4) (i32.const 100)))
                 (drop (call $enqueue (i32.load (i32.const 100)) (i32.const 16) (i32.const 4)))
                 (i32.const 1))
               (func (export "proxy_on_queue_ready") (param i32 i32)
                 (local $i i32)
                 (loop $spin
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br_if $spin (i32.lt_u (local.get $i) (i32.const 1000000))))
                 (drop (call $enqueue (local.get 1) (i32.const 16) (i32.const 4))))"#,
        );
        // The canary and the worker each run `on_vm_start`, and so each feed the queue for a whole step.
        let plugin = hostile(bytes, envoy)
            .step_deadline(DEADLINE / 4)
            .start()
            .expect("the plugin starts; its queue loops afterwards");
        let failure = plugin.failure().expect("the slow queue loop fails the VM");
        assert!(failure.contains("500ms step deadline"), "{failure}");
        assert!(
            failure.contains("PluginBuilder::step_deadline"),
            "{failure}"
        );
        assert!(failure.contains(r#""slow""#), "names the queue: {failure}");
        let mut stream = plugin.http_stream();
        stream.send_request_headers(&[(":path", "/")], true);
        stream.client_response().assert_status(503);
        failure
    });
}

#[test]
fn a_tick_every_millisecond_for_a_century() {
    run("a_tick_every_millisecond_for_a_century", |envoy| {
        let bytes = module(
            r#"(import "env" "proxy_set_tick_period_milliseconds" (func $period (param i32) (result i32)))"#,
            r#"(memory (export "memory") 1)"#,
            r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
                 (drop (call $period (i32.const 1)))
                 (i32.const 1))
               (func (export "proxy_on_tick") (param i32))"#,
        );
        let plugin = hostile(bytes, envoy).start().expect("the plugin starts");
        // Three trillion ticks in one step.
        plugin.advance_time(std::time::Duration::from_secs(100 * 365 * 24 * 3600));
        let failure = plugin.failure().expect("the ticks fail the VM");
        assert!(failure.contains("step deadline"), "{failure}");
        failure
    });
}

#[test]
fn a_module_over_the_size_limit() {
    run("a_module_over_the_size_limit", |envoy| {
        // 4 MiB of data segment: over a 1 MiB limit, refused before it is compiled.
        let bytes = module(
            "",
            &format!(
                r#"(memory (export "memory") 65) (data (i32.const 0) "{}")"#,
                "x".repeat(4 << 20)
            ),
            "",
        );
        start_error(
            hostile(bytes, envoy).module_size_limit(1 << 20),
            StartFailure::Load,
            "larger than the 1048576 byte module size limit; raise `PluginBuilder::module_size_limit`",
        )
    });
}

#[test]
fn a_module_that_compiles_slowly() {
    run("a_module_that_compiles_slowly", |envoy| {
        // A hundred functions of five hundred additions each: far more Cranelift than a 1 ms deadline allows.
        let body: String = (0..500)
            .map(|_| "(local.set 0 (i32.add (local.get 0) (i32.const 7)))")
            .collect();
        let functions: String = (0..100)
            .map(|i| format!("(func (export \"f{i}\") (param i32) {body})"))
            .collect();
        let bytes = module("", r#"(memory (export "memory") 1)"#, &functions);
        start_error(
            hostile(bytes, envoy).compile_deadline(std::time::Duration::from_millis(1)),
            StartFailure::Load,
            "compile deadline; raise `PluginBuilder::compile_deadline`",
        )
    });
}

#[test]
fn header_values_without_end() {
    run("header_values_without_end", |envoy| {
        // A 1 MiB value added to the request headers again and again: the map keeps every one.
        let bytes = module(
            r#"(import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))"#,
            r#"(memory (export "memory") 17) (data (i32.const 16) "x-big")"#,
            r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
                 (loop $forever
                   (drop (call $add (i32.const 0) (i32.const 16) (i32.const 5) (i32.const 65536) (i32.const 1048576)))
                   (br $forever))
                 (i32.const 0))"#,
        );
        request_failure(
            hostile(bytes, envoy),
            &[
                "a header map entry of 1048581 bytes would take",
                "host_memory_limit",
            ],
        )
    });
}

#[test]
fn a_body_held_while_the_plugin_pauses() {
    run("a_body_held_while_the_plugin_pauses", |envoy| {
        // The request headers are held for good (StopAllIterationAndWatermark); the client goes on sending.
        let bytes = module(
            "",
            r#"(memory (export "memory") 1)"#,
            r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 1))"#,
        );
        let plugin = hostile(bytes, envoy).start().expect("the plugin starts");
        let mut stream = plugin.http_stream();
        stream.send_request_headers(&[(":path", "/"), (":method", "POST")], false);
        let chunk = vec![b'x'; 1 << 20];
        let mut sent = 0;
        while stream.local_reply().is_none() {
            stream.send_request_body(&chunk, false);
            sent += 1;
            assert!(
                sent <= (2 * HOST_MEMORY_LIMIT) >> 20,
                "the held body was never refused"
            );
        }
        stream.client_response().assert_status(413);
        let logs = plugin.logs();
        let line = logs
            .iter()
            .find(|l| l.message.contains("a body held while the plugin pauses"))
            .expect("the host says which limit refused the body");
        assert!(
            line.message.contains("host_memory_limit"),
            "{}",
            line.message
        );
        stream.finish();
        line.message.clone()
    });
}

#[test]
fn a_body_grown_without_end() {
    run("a_body_grown_without_end", |envoy| {
        // 1 MiB appended to the request body again and again (a start past the end appends, as Envoy's copyFrom).
        let bytes = module(
            r#"(import "env" "proxy_set_buffer_bytes" (func $set (param i32 i32 i32 i32 i32) (result i32)))"#,
            r#"(memory (export "memory") 17)"#,
            r#"(func (export "proxy_on_request_body") (param i32 i32 i32) (result i32)
                 (loop $forever
                   (drop (call $set (i32.const 0) (i32.const 2147483647) (i32.const 0) (i32.const 65536) (i32.const 1048576)))
                   (br $forever))
                 (i32.const 0))"#,
        );
        let plugin = hostile(bytes, envoy).start().expect("the plugin starts");
        let mut stream = plugin.http_stream();
        stream.send_request_headers(&[(":path", "/"), (":method", "POST")], false);
        stream.send_request_body("x", true);
        stream.client_response().assert_status(503);
        let failure = plugin.failure().expect("the body loop fails the VM");
        assert!(
            failure.contains("a body of 1048576 bytes would take"),
            "{failure}"
        );
        failure
    });
}

#[test]
fn a_vm_that_fails_after_filling_its_memory_under_fail_reload() {
    run(
        "a_vm_that_fails_after_filling_its_memory_under_fail_reload",
        |envoy| {
            // Each request grows the memory by 48 MiB, touches every page, then traps: FAIL_RELOAD gives the next
            // stream a fresh VM. Twenty replaced VMs kept for the plugin's life would hold close to a gigabyte; a
            // replaced VM is dropped once no stream refers to it.
            let bytes = module(
                "",
                r#"(memory (export "memory") 1)"#,
                r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
                 (local $p i32)
                 (drop (memory.grow (i32.const 768)))
                 (local.set $p (i32.const 65536))
                 (loop $touch
                   (i32.store (local.get $p) (i32.const 1))
                   (local.set $p (i32.add (local.get $p) (i32.const 4096)))
                   (br_if $touch (i32.lt_u (local.get $p) (i32.const 50397184))))
                 unreachable)"#,
            );
            let plugin = hostile(bytes, envoy)
                .failure_policy(FailurePolicy::Reload)
                .reload_backoff(std::time::Duration::from_millis(1))
                .start()
                .expect("the plugin starts");
            for _ in 0..20 {
                let mut stream = plugin.http_stream();
                stream.send_request_headers(&[(":path", "/")], true);
                stream.client_response().assert_status(503);
                drop(stream);
                plugin.advance_time(std::time::Duration::from_millis(2));
            }
            assert_eq!(
                plugin.reloads(),
                19,
                "each stream after the first got a fresh VM"
            );
            let failure = plugin.failure().expect("the last VM failed too");
            assert!(failure.contains("unreachable"), "{failure}");
            failure
        },
    );
}

#[test]
fn what_the_dropped_canary_held_leaves_the_plugins_budget() {
    // A 10 MiB callout body from `on_vm_start`: the canary's call is cancelled with the canary (as Envoy drops it),
    // so the worker's own fits the one 16 MiB budget the plugin's VMs share.
    let bytes = module(
        r#"(import "env" "proxy_http_call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))"#,
        &format!(r#"(memory (export "memory") 161) (data (i32.const 8) "c") {CALLOUT_HEADERS}"#),
        r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
             (i32.eqz (call $call (i32.const 8) (i32.const 1) (i32.const 16) (i32.const 61)
               (i32.const 65536) (i32.const 10485760) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 200))))"#,
    );
    let plugin = hostile(bytes, &Envoy::new())
        .start()
        .unwrap_or_else(|e| panic!("the worker's callout fits once the canary's is gone: {e}"));
    assert_eq!(
        plugin.http_calls().len(),
        1,
        "the worker's callout is pending"
    );
}
