//! Host functions called directly, returning the raw `proxy_status_t` (the SDK's wrappers panic on statuses they do
//! not expect), and the argument message of Envoy's `set_envoy_filter_state` foreign function.

use std::ptr::null_mut;

#[allow(clashing_extern_declarations)]
#[link(wasm_import_module = "env")]
unsafe extern "C" {
    fn proxy_continue_stream(stream: u32) -> u32;
    fn proxy_get_header_map_value(
        map: u32,
        key: *const u8,
        key_len: usize,
        ret: *mut *mut u8,
        ret_len: *mut usize,
    ) -> u32;
    fn proxy_close_stream(stream: u32) -> u32;
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
}

/// `proxy_stream_type_t` values.
pub const REQUEST: u32 = 0;
pub const UPSTREAM: u32 = 3;

/// `proxy_buffer_type_t` values.
pub const DOWNSTREAM_DATA: u32 = 2;
pub const UPSTREAM_DATA: u32 = 3;

/// The status of `proxy_get_header_map_value(RequestHeaders, key)` (the value is dropped).
pub fn request_header_status(key: &str) -> u32 {
    let mut ptr: *mut u8 = null_mut();
    let mut len: usize = 0;
    let status =
        unsafe { proxy_get_header_map_value(0, key.as_ptr(), key.len(), &mut ptr, &mut len) };
    if !ptr.is_null() {
        drop(unsafe { Vec::from_raw_parts(ptr, len, len) });
    }
    status
}

pub fn continue_stream(stream: u32) -> u32 {
    unsafe { proxy_continue_stream(stream) }
}

pub fn close_stream(stream: u32) -> u32 {
    unsafe { proxy_close_stream(stream) }
}

/// The status and the bytes of `proxy_get_buffer_bytes(buffer, 0, max)`.
pub fn buffer(buffer: u32) -> (u32, Vec<u8>) {
    let mut ptr: *mut u8 = null_mut();
    let mut len: usize = 0;
    let status = unsafe { proxy_get_buffer_bytes(buffer, 0, usize::MAX >> 1, &mut ptr, &mut len) };
    let bytes = if ptr.is_null() {
        Vec::new()
    } else {
        unsafe { Vec::from_raw_parts(ptr, len, len) }
    };
    (status, bytes)
}

pub fn set_buffer(buffer: u32, start: usize, size: usize, value: &[u8]) -> u32 {
    unsafe { proxy_set_buffer_bytes(buffer, start, size, value.as_ptr(), value.len()) }
}

/// `SetEnvoyFilterStateArguments { path = 1; value = 2; }` in protobuf's wire format.
pub fn filter_state_arguments(path: &str, value: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for (tag, field) in [(0x0a, path), (0x12, value)] {
        out.push(tag);
        let mut len = field.len();
        while len >= 0x80 {
            out.push((len as u8 & 0x7f) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend_from_slice(field.as_bytes());
    }
    out
}
