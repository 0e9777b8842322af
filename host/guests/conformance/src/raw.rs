//! Host functions called directly, returning the raw `proxy_status_t`: the SDK's wrappers panic on statuses they
//! do not expect, and the conformance tests need to see exactly what the host answered.

use std::ptr::null_mut;

#[allow(clashing_extern_declarations)]
#[link(wasm_import_module = "env")]
unsafe extern "C" {
    fn proxy_log(level: u32, message: *const u8, len: usize) -> u32;
    fn proxy_get_header_map_value(
        map: u32,
        key: *const u8,
        key_len: usize,
        ret: *mut *mut u8,
        ret_len: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(map: u32, ret: *mut *mut u8, ret_len: *mut usize) -> u32;
    fn proxy_get_header_map_size(map: u32, ret_size: *mut usize) -> u32;
    fn proxy_add_header_map_value(
        map: u32,
        key: *const u8,
        key_len: usize,
        value: *const u8,
        value_len: usize,
    ) -> u32;
    fn proxy_get_buffer_bytes(
        buffer: u32,
        start: usize,
        max: usize,
        ret: *mut *mut u8,
        ret_len: *mut usize,
    ) -> u32;
    fn proxy_set_buffer_bytes(
        buffer: u32,
        start: usize,
        size: usize,
        value: *const u8,
        value_len: usize,
    ) -> u32;
    fn proxy_continue_stream(stream: u32) -> u32;
    fn proxy_send_local_response(
        status: u32,
        details: *const u8,
        details_len: usize,
        body: *const u8,
        body_len: usize,
        headers: *const u8,
        headers_len: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_set_effective_context(context: u32) -> u32;
    fn proxy_done() -> u32;
    fn proxy_get_property(
        path: *const u8,
        path_len: usize,
        ret: *mut *mut u8,
        ret_len: *mut usize,
    ) -> u32;
    fn proxy_set_property(
        path: *const u8,
        path_len: usize,
        value: *const u8,
        value_len: usize,
    ) -> u32;
    fn proxy_get_shared_data(
        key: *const u8,
        key_len: usize,
        ret: *mut *mut u8,
        ret_len: *mut usize,
        ret_cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key: *const u8,
        key_len: usize,
        value: *const u8,
        value_len: usize,
        cas: u32,
    ) -> u32;
    fn proxy_enqueue_shared_queue(queue: u32, value: *const u8, value_len: usize) -> u32;
    fn proxy_dequeue_shared_queue(queue: u32, ret: *mut *mut u8, ret_len: *mut usize) -> u32;
    fn proxy_define_metric(kind: u32, name: *const u8, name_len: usize, ret_id: *mut u32) -> u32;
    fn proxy_increment_metric(id: u32, offset: i64) -> u32;
    fn proxy_record_metric(id: u32, value: u64) -> u32;
    fn proxy_get_metric(id: u32, ret: *mut u64) -> u32;
}

/// What a "return bytes" host call handed back (freed here, as the SDK frees it).
fn take(ptr: *mut u8, len: usize) -> Vec<u8> {
    if ptr.is_null() || len == 0 {
        Vec::new()
    } else {
        // SAFETY: the host allocated exactly `len` bytes with this module's allocator.
        unsafe { Vec::from_raw_parts(ptr, len, len) }
    }
}

fn returning(call: impl FnOnce(*mut *mut u8, *mut usize) -> u32) -> (u32, Vec<u8>) {
    let (mut ptr, mut len) = (null_mut(), 0);
    let status = call(&mut ptr, &mut len);
    (
        status,
        if status == 0 {
            take(ptr, len)
        } else {
            Vec::new()
        },
    )
}

pub fn log(level: u32, message: &str) -> u32 {
    unsafe { proxy_log(level, message.as_ptr(), message.len()) }
}

pub fn header_value(map: u32, key: &str) -> (u32, Vec<u8>) {
    returning(|p, l| unsafe { proxy_get_header_map_value(map, key.as_ptr(), key.len(), p, l) })
}

/// Status and byte length of the serialized map.
pub fn header_pairs(map: u32) -> (u32, usize) {
    let (status, bytes) = returning(|p, l| unsafe { proxy_get_header_map_pairs(map, p, l) });
    (status, bytes.len())
}

/// Status and the size `proxy_get_header_map_size` reports.
pub fn header_map_size(map: u32) -> (u32, usize) {
    let mut size = 0;
    let status = unsafe { proxy_get_header_map_size(map, &mut size) };
    (status, size)
}

pub fn add_header(map: u32, key: &str, value: &str) -> u32 {
    unsafe { proxy_add_header_map_value(map, key.as_ptr(), key.len(), value.as_ptr(), value.len()) }
}

pub fn buffer(buffer: u32, start: usize, max: usize) -> (u32, Vec<u8>) {
    returning(|p, l| unsafe { proxy_get_buffer_bytes(buffer, start, max, p, l) })
}

pub fn set_buffer(buffer: u32, start: usize, size: usize, value: &[u8]) -> u32 {
    unsafe { proxy_set_buffer_bytes(buffer, start, size, value.as_ptr(), value.len()) }
}

/// A local reply with response code details (the SDK passes none) and no extra headers.
pub fn send_local_response(status: u32, details: &str, body: &str, grpc_status: i32) -> u32 {
    unsafe {
        proxy_send_local_response(
            status,
            details.as_ptr(),
            details.len(),
            body.as_ptr(),
            body.len(),
            std::ptr::null(),
            0,
            grpc_status,
        )
    }
}

pub fn continue_stream(stream: u32) -> u32 {
    unsafe { proxy_continue_stream(stream) }
}

pub fn set_effective_context(context: u32) -> u32 {
    unsafe { proxy_set_effective_context(context) }
}

pub fn done() -> u32 {
    unsafe { proxy_done() }
}

pub fn property(path: &[&str]) -> (u32, Vec<u8>) {
    let path = path.join("\0");
    returning(|p, l| unsafe { proxy_get_property(path.as_ptr(), path.len(), p, l) })
}

pub fn set_property(path: &[&str], value: &[u8]) -> u32 {
    let path = path.join("\0");
    unsafe { proxy_set_property(path.as_ptr(), path.len(), value.as_ptr(), value.len()) }
}

pub fn shared_data(key: &str) -> u32 {
    let mut cas = 0;
    returning(|p, l| unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), p, l, &mut cas) }).0
}

pub fn set_shared_data(key: &str, value: &[u8], cas: u32) -> u32 {
    unsafe { proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas) }
}

pub fn enqueue(queue: u32, value: &[u8]) -> u32 {
    unsafe { proxy_enqueue_shared_queue(queue, value.as_ptr(), value.len()) }
}

pub fn dequeue(queue: u32) -> u32 {
    returning(|p, l| unsafe { proxy_dequeue_shared_queue(queue, p, l) }).0
}

pub fn define_metric(kind: u32, name: &str) -> (u32, u32) {
    let mut id = 0;
    let status = unsafe { proxy_define_metric(kind, name.as_ptr(), name.len(), &mut id) };
    (status, id)
}

pub fn increment_metric(id: u32, offset: i64) -> u32 {
    unsafe { proxy_increment_metric(id, offset) }
}

pub fn record_metric(id: u32, value: u64) -> u32 {
    unsafe { proxy_record_metric(id, value) }
}

pub fn metric(id: u32) -> (u32, u64) {
    let mut value = 0;
    let status = unsafe { proxy_get_metric(id, &mut value) };
    (status, value)
}
