//! Header, trailer and metadata maps: `proxy_{get,set}_header_map_pairs`, `proxy_get_header_map_value`,
//! `proxy_{add,replace,remove}_header_map_value`, `proxy_get_header_map_size`.

use wasmtime::Caller;

use super::HostResult;
use super::imports::{Import, import};
use super::memory::{read, read_short, return_bytes, return_written, with_two, write_u32};
use crate::envoy::{Headers, HostState};
use crate::spec::{AbiVersion, MapType, Status, pairs};

/// The host functions of this area.
pub(super) const IMPORTS: &[Import] = &[
    import!(hostcall proxy_get_header_map_pairs),
    import!(hostcall proxy_set_header_map_pairs),
    import!(hostcall proxy_get_header_map_value),
    import!(hostcall proxy_add_header_map_value),
    import!(hostcall proxy_replace_header_map_value),
    import!(hostcall proxy_remove_header_map_value),
    import!(hostcall proxy_get_header_map_size),
];

fn proxy_get_header_map_pairs(
    c: &mut Caller<'_, HostState>,
    map: MapType,
    ret_ptr: i32,
    ret_len: i32,
) -> HostResult {
    // A map Envoy no longer holds reads as empty (Ok), not as an error. The map as it is now, shared, not copied:
    // cpp-host's `getHeaderMapPairs` takes views of the entries before the guest's allocator runs, so what that
    // allocator changes in the map (copy on write here) is not in the answer.
    let headers = c.data().map(map).filter(|h| !h.is_empty()).cloned();
    let len = headers
        .as_ref()
        .map_or(0, |h| pairs::serialized_len(h.pairs()));
    return_written(c, len, ret_ptr, ret_len, |out| {
        if let Some(headers) = &headers {
            pairs::serialize_into(headers.pairs(), out);
        }
    })
}

fn proxy_set_header_map_pairs(
    c: &mut Caller<'_, HostState>,
    map: MapType,
    ptr: i32,
    len: i32,
) -> HostResult {
    c.data()
        .check_budget_entry("a header map", len as u32 as usize)?;
    let pairs = pairs::deserialize(&read(c, ptr, len)?);
    c.data_mut()
        .charge_stream("a header map", len as u32 as usize)?;
    let headers = c.data_mut().map_mut(map).ok_or(Status::BadArgument)?;
    // `setHeaderMapPairs`: every key removed, then `addCopy` of each pair.
    *headers = Headers::from_pairs(headers.kind(), pairs);
    Ok(())
}

fn proxy_get_header_map_value(
    c: &mut Caller<'_, HostState>,
    map: MapType,
    key_ptr: i32,
    key_len: i32,
    ret_ptr: i32,
    ret_len: i32,
) -> HostResult {
    let key = read_short(c, key_ptr, key_len)?;
    // Text as it nearly always is, checked the fast way; otherwise shown lossily, as names are kept.
    let key = match std::str::from_utf8(&key) {
        Ok(key) => std::borrow::Cow::Borrowed(key),
        Err(_) => String::from_utf8_lossy(&key),
    };
    let state = c.data();
    let v010 = state.abi() == AbiVersion::V0_1_0;
    // The map shared, not its value copied: what the guest's allocator may change is copied on write.
    let headers = match state.map(map) {
        Some(headers) => headers.clone(),
        // Envoy `getHeaderMapValue`: only the access-log phase answers a missing map like a missing key; elsewhere
        // "Requested map type is not currently available" is BadArgument, ABI 0.1.0 included.
        None if state.in_access_log() => Headers::new(),
        None => return Err(Status::BadArgument.into()),
    };
    match headers.get_bytes(&key) {
        Some(value) => return_bytes(c, value, ret_ptr, ret_len),
        None if v010 => return_bytes(c, &[], ret_ptr, ret_len),
        None => Err(Status::NotFound.into()),
    }
}

fn proxy_add_header_map_value(
    c: &mut Caller<'_, HostState>,
    map: MapType,
    key_ptr: i32,
    key_len: i32,
    value_ptr: i32,
    value_len: i32,
) -> HostResult {
    write_entry(
        c,
        map,
        (key_ptr, key_len),
        (value_ptr, value_len),
        |h, k, v| h.add(k, v),
    )
}

fn proxy_replace_header_map_value(
    c: &mut Caller<'_, HostState>,
    map: MapType,
    key_ptr: i32,
    key_len: i32,
    value_ptr: i32,
    value_len: i32,
) -> HostResult {
    write_entry(
        c,
        map,
        (key_ptr, key_len),
        (value_ptr, value_len),
        |h, k, v| h.set(k, v),
    )
}

/// Charges the entry's bytes to the stream, then writes it into `map` with `write` (`add` or `set`).
fn write_entry(
    c: &mut Caller<'_, HostState>,
    map: MapType,
    key: (i32, i32),
    value: (i32, i32),
    write: fn(&mut Headers, &[u8], &[u8]),
) -> HostResult {
    with_two(c, key, value, |state, key, value| {
        state.charge_stream("a header map entry", key.len() + value.len())?;
        write(state.map_mut(map).ok_or(Status::BadArgument)?, key, value);
        Ok(())
    })
}

fn proxy_remove_header_map_value(
    c: &mut Caller<'_, HostState>,
    map: MapType,
    key_ptr: i32,
    key_len: i32,
) -> HostResult {
    let key = read_short(c, key_ptr, key_len)?;
    c.data_mut()
        .map_mut(map)
        .ok_or(Status::BadArgument)?
        .remove(key);
    Ok(())
}

/// `Context::getHeaderMapSize`: `byteSize()` of the map `getMap` returns (no access-log copies, no callout or gRPC
/// maps); none is BadArgument.
fn proxy_get_header_map_size(c: &mut Caller<'_, HostState>, map: MapType, ret: i32) -> HostResult {
    let size = c
        .data_mut()
        .map_mut(map)
        .ok_or(Status::BadArgument)?
        .byte_len();
    write_u32(c, ret, size as u32)
}
