//! `proxy-wasm-fuzz MODULE --example FILE --findings DIR [--configs N] [--streams N] [--seed S] [--time SECONDS]`,
//! what `cargo xtask fuzz` runs: generated configurations (seeded from the extension's example: fields replaced by
//! values of every JSON shape, removed, added; other JSON; bytes that are not JSON or not UTF-8) and generated
//! streams under the example configuration (header sets with duplicates, non-UTF-8 and oversized values, bodies in
//! random chunks, trailers, callout answers, failures and timeouts, time passing, resets). A trap, or a refused
//! configuration without a line saying why, is a finding: shrunk by proptest and written as a file that
//! `fuzz/tests/findings.rs` replays.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use fuzz::{Bytes, Case, Event, Outcome, replay};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde_json::Value;

#[derive(Parser)]
#[command(
    name = "proxy-wasm-fuzz",
    about = "Fuzzes one proxy-wasm module in the host"
)]
struct Flags {
    /// The module (an extension's shipped plugin.wasm).
    module: PathBuf,
    /// The extension's example-config.json, which the generated configurations start from.
    #[arg(long)]
    example: Option<PathBuf>,
    /// Where a finding is written (created if missing).
    #[arg(long)]
    findings: PathBuf,
    /// How many configurations to try.
    #[arg(long, default_value_t = 200)]
    configs: u32,
    /// How many streams to run under the example configuration.
    #[arg(long, default_value_t = 200)]
    streams: u32,
    /// The generator's seed: the same seed, module and counts run the same cases.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop starting new cases after this many seconds (the run so far counts).
    #[arg(long)]
    time: Option<u64>,
}

fn main() -> ExitCode {
    let flags = Flags::parse();
    if !flags.module.is_file() {
        eprintln!(
            "no module at {}: build it first (`cargo xtask build -p NAME`), or run `cargo xtask fuzz -p NAME`",
            flags.module.display()
        );
        return ExitCode::from(2);
    }
    let example_text = match &flags.example {
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("cannot read {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => Vec::new(),
    };
    let example: Value = serde_json::from_slice(&example_text).unwrap_or(Value::Null);
    let deadline = flags.time.map(|s| Instant::now() + Duration::from_secs(s));
    let name = flags
        .module
        .parent()
        .and_then(Path::file_name)
        .map_or("module".into(), |n| n.to_string_lossy().into_owned());
    let mut found = 0;
    for (kind, cases) in [("configs", flags.configs), ("streams", flags.streams)] {
        if cases == 0 {
            continue;
        }
        let tally = Tally::default();
        let strategy = match kind {
            "configs" => configs(example.clone(), example_text.clone())
                .prop_map(|config| Case {
                    config: Bytes(config),
                    events: plain_stream(),
                })
                .boxed(),
            _ => streams()
                .prop_map({
                    let config = example_text.clone();
                    move |events| Case {
                        config: Bytes(config.clone()),
                        events,
                    }
                })
                .boxed(),
        };
        let started = Instant::now();
        let result = runner(flags.seed, cases).run(&strategy, |case| {
            if deadline.is_some_and(|d| Instant::now() > d) {
                tally.skipped.set(tally.skipped.get() + 1);
                return Ok(());
            }
            let outcome = replay(&flags.module, &case);
            tally.count(&outcome);
            if outcome.is_finding() {
                return Err(TestCaseError::fail(describe(&outcome)));
            }
            Ok(())
        });
        println!(
            "{name}: {kind}: {} cases in {:.1} s: {} ran, {} refused with a reason, {} not run (time)",
            tally.total(),
            started.elapsed().as_secs_f64(),
            tally.ran.get(),
            tally.refused.get(),
            tally.skipped.get()
        );
        match result {
            Ok(()) => {}
            Err(TestError::Fail(reason, case)) => {
                found += 1;
                let reason = reason.message().to_owned();
                match write_finding(&flags.findings, &name, kind, flags.seed, &reason, &case) {
                    Ok(path) => println!(
                        "{name}: FINDING ({kind}, shrunk): {reason}\n  written to {}; `cargo test -p fuzz --test findings` replays it",
                        path.display()
                    ),
                    Err(e) => {
                        eprintln!("{name}: FINDING {reason}, but it could not be written: {e}")
                    }
                }
            }
            Err(TestError::Abort(why)) => {
                eprintln!("{name}: {kind}: the generator gave up: {why}");
                return ExitCode::from(2);
            }
        }
    }
    if found > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[derive(Default)]
struct Tally {
    ran: Cell<u32>,
    refused: Cell<u32>,
    skipped: Cell<u32>,
    findings: Cell<u32>,
}

impl Tally {
    fn count(&self, outcome: &Outcome) {
        let cell = match outcome {
            Outcome::Ran => &self.ran,
            Outcome::RefusedWithReason => &self.refused,
            _ => &self.findings,
        };
        cell.set(cell.get() + 1);
    }

    fn total(&self) -> u32 {
        self.ran.get() + self.refused.get() + self.skipped.get() + self.findings.get()
    }
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Trapped(report) => format!("the module trapped: {report}"),
        Outcome::RefusedSilently => {
            "the configuration was refused without a warn/error line saying why".into()
        }
        other => format!("{other:?}"),
    }
}

fn runner(seed: u64, cases: u32) -> TestRunner {
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 512,
        ..Config::default()
    };
    TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    )
}

fn write_finding(
    dir: &Path,
    name: &str,
    kind: &str,
    seed: u64,
    reason: &str,
    case: &Case,
) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let text = serde_json::to_string_pretty(&serde_json::json!({
        "module": name,
        "found": reason,
        "case": case,
    }))?;
    let digest = text.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    let path = dir.join(format!("{kind}-seed{seed}-{:08x}.json", digest as u32));
    std::fs::write(&path, text + "\n")?;
    Ok(path)
}

// ---- configurations ----

/// JSON values of every shape, a few levels deep, with strings that are long or awkward.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop_oneof![Just(0u64), Just(u64::MAX), 0u64..70_000].prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..4)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z_:/*.|-]{0,12}",
        2 => any::<String>(),
        1 => Just("/".to_owned()),
        1 => Just("x".repeat(70_000)),
        1 => Just("ü\u{0}\u{7f}\u{fffd}\"\\".to_owned()),
    ]
}

/// The example's places a generated value can go: (path of keys and indexes, the key or index there).
fn slots(value: &Value, path: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    match value {
        Value::Object(members) => {
            for (key, member) in members {
                path.push(Value::String(key.clone()));
                out.push(path.clone());
                slots(member, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Value::from(i));
                out.push(path.clone());
                slots(item, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// The example with one place changed: replaced (`op` 0), removed (1), or a new key beside it (2).
fn mutate(example: &Value, pick: usize, op: u8, key: String, replacement: Value) -> Value {
    let mut all = Vec::new();
    slots(example, &mut Vec::new(), &mut all);
    let mut document = example.clone();
    let Some(path) = all.get(pick % all.len().max(1)) else {
        return replacement;
    };
    let (last, parents) = path.split_last().expect("a slot has a path");
    let mut here = &mut document;
    for step in parents {
        here = match step {
            Value::String(k) => &mut here[k.as_str()],
            _ => &mut here[step.as_u64().unwrap_or(0) as usize],
        };
    }
    match (here, last) {
        (Value::Object(members), Value::String(k)) => match op {
            0 => {
                members.insert(k.clone(), replacement);
            }
            1 => {
                members.shift_remove(k);
            }
            _ => {
                members.insert(key, replacement);
            }
        },
        (Value::Array(items), index) => {
            let i = index.as_u64().unwrap_or(0) as usize;
            match op {
                0 => items[i] = replacement,
                1 => {
                    items.remove(i);
                }
                _ => items.push(replacement),
            }
        }
        _ => {}
    }
    document
}

fn configs(example: Value, example_text: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let mutated = (any::<usize>(), 0u8..3, text(), json_value()).prop_map(
        move |(pick, op, key, replacement)| {
            serde_json::to_vec(&mutate(&example, pick, op, key, replacement)).unwrap_or_default()
        },
    );
    prop_oneof![
        1 => Just(example_text),
        8 => mutated,
        2 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap_or_default()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

// ---- streams ----

/// What every configuration case runs once it is taken: one plain request, answered.
fn plain_stream() -> Vec<Event> {
    vec![
        Event::RequestHeaders {
            headers: vec![(":path".into(), Bytes(b"/".to_vec()))],
            end: true,
        },
        Event::AnswerHttp {
            status: 200,
            headers: vec![],
            body: Bytes::default(),
        },
        Event::AnswerGrpc {
            status: 14,
            message: None,
        },
        Event::ResponseHeaders {
            headers: vec![(":status".into(), Bytes(b"200".to_vec()))],
            end: true,
        },
    ]
}

fn header_value() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        4 => "[ -~]{0,24}".prop_map(|s| Bytes(s.into_bytes())),
        2 => prop_oneof![
            Just("application/json"), Just("text/plain"), Just("gzip"), Just("Bearer t"), Just("0"),
            Just("18446744073709551616"), Just("alice"),
        ].prop_map(|s| Bytes(s.as_bytes().to_vec())),
        1 => prop::collection::vec(0x80u8..=0xff, 1..8).prop_map(Bytes),
        1 => Just(Bytes(vec![b'v'; 20_000])),
    ]
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop_oneof![
            Just("content-type"), Just("content-length"), Just("content-encoding"), Just("authorization"),
            Just("x-user"), Just("x-request-id"), Just("cookie"), Just("host"),
        ].prop_map(str::to_owned),
        1 => "x-[a-z]{1,8}",
    ]
}

fn headers(
    pseudo: Vec<(&'static str, BoxedStrategy<Bytes>)>,
) -> impl Strategy<Value = Vec<(String, Bytes)>> {
    let fixed: Vec<_> = pseudo
        .into_iter()
        .map(|(name, value)| value.prop_map(move |v| (name.to_owned(), v)))
        .collect();
    (
        fixed,
        prop::collection::vec((header_name(), header_value()), 0..8),
    )
        .prop_map(|(mut head, rest)| {
            head.extend(rest);
            head
        })
}

fn path() -> BoxedStrategy<Bytes> {
    prop_oneof![
        3 => "/[a-z/]{0,12}".prop_map(|s| Bytes(s.into_bytes())),
        1 => prop_oneof![Just("/healthz"), Just("/orders?id=7"), Just("/public/x"), Just("*")]
            .prop_map(|s| Bytes(s.as_bytes().to_vec())),
        1 => "/[!-~]{0,30}".prop_map(|s| Bytes(s.into_bytes())),
        1 => prop::collection::vec(0x80u8..=0xff, 1..8).prop_map(|mut b| { b.insert(0, b'/'); Bytes(b) }),
    ]
    .boxed()
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => Just(br#"{"user": {"name": "ada", "ssn": "123"}, "password": "x", "n": 1.50}"#.to_vec()),
        2 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap_or_default()),
        1 => prop::collection::vec(any::<u8>(), 0..256),
        1 => Just(vec![b'['; 100_000]),
    ]
}

/// A body cut at random places, the last chunk ending the stream.
fn chunks(body: Vec<u8>, cuts: Vec<usize>, request: bool) -> Vec<Event> {
    let mut at: Vec<usize> = cuts.into_iter().map(|c| c % (body.len() + 1)).collect();
    at.push(body.len());
    at.sort_unstable();
    at.dedup();
    let mut start = 0;
    let count = at.len();
    at.into_iter()
        .enumerate()
        .map(|(i, end)| {
            let chunk = Bytes(body[start..end].to_vec());
            start = end;
            let end = i + 1 == count;
            if request {
                Event::RequestBody { chunk, end }
            } else {
                Event::ResponseBody { chunk, end }
            }
        })
        .collect()
}

fn callout_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (
            prop_oneof![Just(200u16), Just(403), Just(500), 100u16..600],
            prop::collection::vec(("x-[a-z]{1,6}", "[ -~]{0,10}"), 0..3),
            body()
        )
            .prop_map(|(status, headers, body)| Event::AnswerHttp {
                status,
                headers,
                body: Bytes(body)
            }),
        Just(Event::FailHttp),
        Just(Event::TimeOutHttp),
        (
            0u32..17,
            prop::option::of(prop::collection::vec(any::<u8>(), 0..64))
        )
            .prop_map(|(status, message)| Event::AnswerGrpc {
                status,
                message: message.map(Bytes)
            }),
        (0u64..120_000).prop_map(|ms| Event::AdvanceMs { ms }),
    ]
}

fn streams() -> impl Strategy<Value = Vec<Event>> {
    let request = headers(vec![
        (
            ":method",
            prop_oneof![Just("GET"), Just("POST"), Just("BREW")]
                .prop_map(|m| Bytes(m.as_bytes().to_vec()))
                .boxed(),
        ),
        (":path", path()),
    ]);
    let response = headers(vec![(
        ":status",
        prop_oneof![
            Just("200".to_owned()),
            Just("404".to_owned()),
            Just("503".to_owned()),
            "[0-9]{3}",
            "[ -~]{0,4}"
        ]
        .prop_map(|s| Bytes(s.into_bytes()))
        .boxed(),
    )]);
    (
        request,
        prop::option::of((body(), prop::collection::vec(any::<usize>(), 0..4))),
        any::<bool>(),
        prop::collection::vec(callout_event(), 0..4),
        response,
        prop::option::of((body(), prop::collection::vec(any::<usize>(), 0..4))),
        any::<bool>(),
        prop::option::of(any::<usize>()),
    )
        .prop_map(
            |(
                request,
                request_body,
                request_trailers,
                middle,
                response,
                response_body,
                response_trailers,
                reset,
            )| {
                let mut events = vec![Event::RequestHeaders {
                    headers: request,
                    end: request_body.is_none() && !request_trailers,
                }];
                if let Some((body, cuts)) = request_body {
                    let mut body = chunks(body, cuts, true);
                    if request_trailers
                        && let Some(Event::RequestBody { end, .. }) = body.last_mut()
                    {
                        *end = false;
                    }
                    events.extend(body);
                }
                if request_trailers {
                    events.push(Event::RequestTrailers {
                        trailers: vec![("x-trailer".into(), "t".into())],
                    });
                }
                events.extend(middle);
                events.push(Event::ResponseHeaders {
                    headers: response,
                    end: response_body.is_none() && !response_trailers,
                });
                if let Some((body, cuts)) = response_body {
                    let mut body = chunks(body, cuts, false);
                    if response_trailers
                        && let Some(Event::ResponseBody { end, .. }) = body.last_mut()
                    {
                        *end = false;
                    }
                    events.extend(body);
                }
                if response_trailers {
                    events.push(Event::ResponseTrailers {
                        trailers: vec![("grpc-status".into(), "0".into())],
                    });
                }
                if let Some(at) = reset {
                    events.truncate(at % (events.len() + 1));
                    events.push(Event::Reset);
                }
                events
            },
        )
}
