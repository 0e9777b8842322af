//! The floor under the host: the module on bare wasmtime with imports that answer the calls the workload makes with
//! fixed bytes (its configuration, the request's and response's headers and bodies), so the guest does the same
//! work as under the host, and the imports do only what any host must: copy bytes into memory the guest allocates,
//! and read what the guest writes. No header map, stream state, Envoy rules or records.

use std::hint::black_box;

use wasmtime::{Caller, Engine, Memory, Module, TypedFunc};

use super::{Lifecycle, RESPONSE_HEADERS, Workload, request_headers_sent};

const OK: i32 = 0;
const NOT_FOUND: i32 = 1;

/// proxy-wasm's `MapType` and `BufferType` values the workloads use.
const REQUEST_HEADER_MAP: i32 = 0;
const RESPONSE_HEADER_MAP: i32 = 2;
const REQUEST_BODY: i32 = 0;
const RESPONSE_BODY: i32 = 1;
const PLUGIN_CONFIGURATION: i32 = 7;

/// What the imports answer with, and what the guest last wrote.
struct Answers {
    memory: Option<Memory>,
    malloc: Option<TypedFunc<i32, i32>>,
    config: Vec<u8>,
    body: Vec<u8>,
    request: Vec<(Vec<u8>, Vec<u8>)>,
    response: Vec<(Vec<u8>, Vec<u8>)>,
    request_pairs: Vec<u8>,
    response_pairs: Vec<u8>,
    /// The name of the last header the guest added or replaced, and the last body it set.
    header_written: Vec<u8>,
    body_written: Vec<u8>,
}

/// Which fixed bytes an import hands the guest.
#[derive(Clone, Copy)]
enum Given {
    Config,
    Body { start: usize, max: usize },
    Value { map: i32, index: usize },
    Pairs { map: i32 },
}

impl Answers {
    fn map(&self, map: i32) -> &[(Vec<u8>, Vec<u8>)] {
        match map {
            REQUEST_HEADER_MAP => &self.request,
            RESPONSE_HEADER_MAP => &self.response,
            _ => &[],
        }
    }

    fn bytes(&self, given: Given) -> &[u8] {
        match given {
            Given::Config => &self.config,
            Given::Body { start, max } => {
                let start = start.min(self.body.len());
                &self.body[start..(start + max).min(self.body.len())]
            }
            Given::Value { map, index } => &self.map(map)[index].1,
            Given::Pairs { map } => match map {
                REQUEST_HEADER_MAP => &self.request_pairs,
                _ => &self.response_pairs,
            },
        }
    }
}

/// proxy-wasm's serialised pairs: the count, each name's and value's length, then each name and value with a NUL.
fn serialise(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = (pairs.len() as u32).to_le_bytes().to_vec();
    for (name, value) in pairs {
        out.extend((name.len() as u32).to_le_bytes());
        out.extend((value.len() as u32).to_le_bytes());
    }
    for (name, value) in pairs {
        out.extend(name);
        out.push(0);
        out.extend(value);
        out.push(0);
    }
    out
}

fn guest_bytes<'a>(caller: &'a Caller<'_, Answers>, ptr: i32, len: i32) -> &'a [u8] {
    let memory = caller.data().memory.expect("the guest's memory");
    &memory.data(caller)[ptr as usize..ptr as usize + len as usize]
}

/// Copies `given` into memory the guest allocates (its `malloc`) and writes where and how long, as a host must.
fn give(
    caller: &mut Caller<'_, Answers>,
    given: Given,
    ptr_out: i32,
    len_out: i32,
) -> wasmtime::Result<i32> {
    let len = caller.data().bytes(given).len();
    let malloc = caller.data_mut().malloc.take().expect("the guest's malloc");
    let ptr = malloc.call(&mut *caller, len as i32);
    caller.data_mut().malloc = Some(malloc);
    let ptr = ptr? as usize;
    let memory = caller.data().memory.expect("the guest's memory");
    let (memory, answers) = memory.data_and_store_mut(&mut *caller);
    memory[ptr..ptr + len].copy_from_slice(answers.bytes(given));
    memory[ptr_out as usize..][..4].copy_from_slice(&(ptr as u32).to_le_bytes());
    memory[len_out as usize..][..4].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(OK)
}

fn link(linker: &mut wasmtime::Linker<Answers>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_log",
        |caller: Caller<'_, Answers>, _level: i32, ptr: i32, len: i32| {
            black_box(guest_bytes(&caller, ptr, len));
            OK
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_buffer_bytes",
        |mut caller: Caller<'_, Answers>,
         buffer: i32,
         start: i32,
         max: i32,
         ptr_out: i32,
         len_out: i32| {
            let given = match buffer {
                PLUGIN_CONFIGURATION => Given::Config,
                REQUEST_BODY | RESPONSE_BODY => Given::Body {
                    start: start as usize,
                    max: max as usize,
                },
                _ => return Ok(NOT_FOUND),
            };
            give(&mut caller, given, ptr_out, len_out)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_buffer_bytes",
        |mut caller: Caller<'_, Answers>,
         _buffer: i32,
         _start: i32,
         _size: i32,
         ptr: i32,
         len: i32| {
            let memory = caller.data().memory.expect("the guest's memory");
            let (memory, answers) = memory.data_and_store_mut(&mut caller);
            answers.body_written.clear();
            answers
                .body_written
                .extend_from_slice(&memory[ptr as usize..ptr as usize + len as usize]);
            OK
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_value",
        |mut caller: Caller<'_, Answers>,
         map: i32,
         key_ptr: i32,
         key_len: i32,
         ptr_out: i32,
         len_out: i32| {
            let key = guest_bytes(&caller, key_ptr, key_len);
            let found = caller
                .data()
                .map(map)
                .iter()
                .position(|(name, _)| name.eq_ignore_ascii_case(key));
            match found {
                Some(index) => give(&mut caller, Given::Value { map, index }, ptr_out, len_out),
                None => Ok(NOT_FOUND),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_pairs",
        |mut caller: Caller<'_, Answers>, map: i32, ptr_out: i32, len_out: i32| {
            give(&mut caller, Given::Pairs { map }, ptr_out, len_out)
        },
    )?;
    let write_header = |mut caller: Caller<'_, Answers>,
                        _map: i32,
                        key_ptr: i32,
                        key_len: i32,
                        value_ptr: i32,
                        value_len: i32| {
        let memory = caller.data().memory.expect("the guest's memory");
        let (memory, answers) = memory.data_and_store_mut(&mut caller);
        answers.header_written.clear();
        answers
            .header_written
            .extend_from_slice(&memory[key_ptr as usize..key_ptr as usize + key_len as usize]);
        black_box(&memory[value_ptr as usize..value_ptr as usize + value_len as usize]);
        OK
    };
    linker.func_wrap("env", "proxy_add_header_map_value", write_header)?;
    linker.func_wrap("env", "proxy_replace_header_map_value", write_header)?;
    linker.func_wrap(
        "env",
        "proxy_remove_header_map_value",
        |caller: Caller<'_, Answers>, _map: i32, key_ptr: i32, key_len: i32| {
            black_box(guest_bytes(&caller, key_ptr, key_len));
            OK
        },
    )?;
    Ok(())
}

/// The module on bare wasmtime answering the workload's host calls with fixed bytes; one lifecycle is the export
/// calls the host makes, in its order.
pub struct Canned(Lifecycle<Answers>);

impl Canned {
    pub fn start(engine: &Engine, module: &Module, workload: &Workload) -> Canned {
        let pairs = |list: &[(&str, &str)]| -> Vec<(Vec<u8>, Vec<u8>)> {
            list.iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect()
        };
        let request = pairs(&request_headers_sent());
        let response = pairs(RESPONSE_HEADERS);
        let answers = Answers {
            memory: None,
            malloc: None,
            config: workload.config.as_bytes().to_vec(),
            body: workload.body.unwrap_or_default().as_bytes().to_vec(),
            request_pairs: serialise(&request),
            response_pairs: serialise(&response),
            request,
            response,
            header_written: Vec::new(),
            body_written: Vec::new(),
        };
        let mut linker = wasmtime::Linker::new(engine);
        link(&mut linker).expect("the canned imports link");
        let config_len = workload.config.len() as i32;
        let (lifecycle, configured) = Lifecycle::launch(
            engine,
            module,
            linker,
            answers,
            workload,
            config_len,
            |instance, store| {
                let memory = instance.get_memory(&mut *store, "memory");
                let malloc = ["malloc", "proxy_on_memory_allocate"]
                    .into_iter()
                    .find_map(|name| instance.get_typed_func(&mut *store, name).ok());
                store.data_mut().memory = memory;
                store.data_mut().malloc = malloc;
            },
        );
        assert_eq!(configured, 1, "{} refused its configuration", workload.name);
        Canned(lifecycle)
    }

    pub fn one_request(&mut self) {
        self.0.one_request();
    }

    /// Panics unless the last request made the extension do its work: header-append wrote its header,
    /// json-redact set a response body without the fields it masks.
    pub fn assert_did_the_work(&self, workload: &Workload) {
        let answers = self.0.data();
        match workload.body {
            None => assert_eq!(
                String::from_utf8_lossy(&answers.header_written),
                "x-powered-by",
                "{} wrote no header on canned answers",
                workload.name
            ),
            Some(_) => {
                let body = String::from_utf8_lossy(&answers.body_written);
                assert!(
                    body.contains("\"ssn\"")
                        && !body.contains("hunter2")
                        && !body.contains("123-45-6789"),
                    "{} did not redact the canned body: {body:?}",
                    workload.name
                );
            }
        }
    }
}
