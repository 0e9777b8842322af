//! The one place a proxy-wasm host function's raw wasm values become typed arguments: each shim is a Rust function
//! taking `MapType`, `BufferType`, `u32` tokens and so on (as the Rust SDK's `hostcalls.rs` declares the other side),
//! and [`HostFn::link`] wraps it for wasmtime, decoding every argument before the body runs.

use wasmtime::{Caller, Linker, WasmTy};

use super::memory::hostcall;
use super::{Fail, HostResult};
use crate::envoy::{HostState, MetricKind};
use crate::spec::{BufferType, LogLevel, MapType, Status, StreamType};

/// A host function argument, decoded from the one wasm value the guest passed for it.
pub(super) trait Arg: Sized {
    type Raw: WasmTy;
    /// The value, or the status cpp-host answers a call carrying `raw`.
    fn decode(raw: Self::Raw) -> Result<Self, Status>;
}

/// Guest pointers, lengths and values the shim reads as signed (a timeout, a gRPC status): as passed; `memory`
/// checks pointers and lengths where it reads them.
impl Arg for i32 {
    type Raw = i32;
    fn decode(raw: i32) -> Result<i32, Status> {
        Ok(raw)
    }
}

/// Metric deltas and values.
impl Arg for i64 {
    type Raw = i64;
    fn decode(raw: i64) -> Result<i64, Status> {
        Ok(raw)
    }
}

/// Tokens, ids, a CAS value, a period: cpp-host reads the guest's i32 as unsigned.
impl Arg for u32 {
    type Raw = i32;
    fn decode(raw: i32) -> Result<u32, Status> {
        Ok(raw as u32)
    }
}

/// A flag (`end_of_stream`): any non-zero value is true, as C++ converts it.
impl Arg for bool {
    type Raw = i32;
    fn decode(raw: i32) -> Result<bool, Status> {
        Ok(raw != 0)
    }
}

/// The ABI's enumerations: a value cpp-host does not know is BadArgument (its `getMap`/`getBuffer`/`continueStream`
/// /`defineMetric`/`log` switch defaults).
macro_rules! enum_args {
    ($($ty:ty),*) => {$(
        impl Arg for $ty {
            type Raw = i32;
            fn decode(raw: i32) -> Result<$ty, Status> {
                <$ty>::from_raw(raw).ok_or(Status::BadArgument)
            }
        }
    )*};
}
enum_args!(MapType, BufferType, StreamType, LogLevel, MetricKind);

/// When a host function may be called.
#[derive(Debug, Clone, Copy)]
pub(super) enum Phase {
    /// Once the VM has started: while it starts, the call is refused as Envoy's V8 runtime refuses it, and the
    /// answer is kept for trap reports ([`hostcall`]).
    Started,
    /// Also while the VM starts (logging), answered directly.
    Always,
}

/// A Rust function `fn(&mut Caller, A1, …, An) -> HostResult` that can be linked as a host function taking the
/// arguments' raw values.
pub(super) trait HostFn<Args>: Send + Sync + 'static {
    fn link<'l>(
        self,
        linker: &'l mut Linker<HostState>,
        module: &'static str,
        name: &'static str,
        phase: Phase,
    ) -> wasmtime::Result<&'l mut Linker<HostState>>;
}

macro_rules! host_fn {
    ($($ty:ident $arg:ident),*) => {
        impl<F, $($ty: Arg),*> HostFn<($($ty,)*)> for F
        where
            F: Fn(&mut Caller<'_, HostState>, $($ty),*) -> HostResult + Send + Sync + 'static,
        {
            fn link<'l>(
                self,
                linker: &'l mut Linker<HostState>,
                module: &'static str,
                name: &'static str,
                phase: Phase,
            ) -> wasmtime::Result<&'l mut Linker<HostState>> {
                linker.func_wrap(
                    module,
                    name,
                    move |mut caller: Caller<'_, HostState>, $($arg: <$ty as Arg>::Raw),*| {
                        let body = |c: &mut Caller<'_, HostState>| {
                            self(c, $(<$ty as Arg>::decode($arg)?),*)
                        };
                        match phase {
                            Phase::Started => hostcall(&mut caller, name, body),
                            Phase::Always => status(body(&mut caller)),
                        }
                    },
                )
            }
        }
    };
}

host_fn!();
host_fn!(A1 a1);
host_fn!(A1 a1, A2 a2);
host_fn!(A1 a1, A2 a2, A3 a3);
host_fn!(A1 a1, A2 a2, A3 a3, A4 a4);
host_fn!(A1 a1, A2 a2, A3 a3, A4 a4, A5 a5);
host_fn!(A1 a1, A2 a2, A3 a3, A4 a4, A5 a5, A6 a6);
host_fn!(A1 a1, A2 a2, A3 a3, A4 a4, A5 a5, A6 a6, A7 a7);
host_fn!(A1 a1, A2 a2, A3 a3, A4 a4, A5 a5, A6 a6, A7 a7, A8 a8);
host_fn!(A1 a1, A2 a2, A3 a3, A4 a4, A5 a5, A6 a6, A7 a7, A8 a8, A9 a9);
host_fn!(A1 a1, A2 a2, A3 a3, A4 a4, A5 a5, A6 a6, A7 a7, A8 a8, A9 a9, A10 a10);
host_fn!(A1 a1, A2 a2, A3 a3, A4 a4, A5 a5, A6 a6, A7 a7, A8 a8, A9 a9, A10 a10, A11 a11);
host_fn!(A1 a1, A2 a2, A3 a3, A4 a4, A5 a5, A6 a6, A7 a7, A8 a8, A9 a9, A10 a10, A11 a11, A12 a12);

/// The `proxy_status_t` a body's result is, or its trap.
fn status(result: HostResult) -> wasmtime::Result<i32> {
    match result {
        Ok(()) => Ok(Status::Ok as i32),
        Err(Fail::Status(status)) => Ok(status as i32),
        Err(Fail::Trap(error)) => Err(error),
    }
}
