//! What the filter callbacks return, as cpp-host names the values (`include/proxy-wasm/context_interface.h`) and
//! reads the guest's word (`src/context.cc`, `ContextBase::convertVmCallResultToFilter*Status`): the word is
//! unsigned, and a value past the last one is the last one.

/// cpp-host `FilterHeadersStatus`: what `proxy_on_{request,response}_headers` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FilterHeadersStatus {
    Continue = 0,
    StopIteration = 1,
    ContinueAndEndStream = 2,
    StopAllIterationAndBuffer = 3,
    StopAllIterationAndWatermark = 4,
}

/// cpp-host `FilterDataStatus`: what `proxy_on_{request,response}_body` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FilterDataStatus {
    Continue = 0,
    StopIterationAndBuffer = 1,
    StopIterationAndWatermark = 2,
    StopIterationNoBuffer = 3,
}

/// cpp-host `FilterTrailersStatus`: what `proxy_on_{request,response}_trailers` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FilterTrailersStatus {
    Continue = 0,
    StopIteration = 1,
}

/// cpp-host `FilterStatus`: what the network callbacks (`proxy_on_new_connection`, `proxy_on_{downstream,upstream}
/// _data`) return; cpp-host compares the word with Continue only, so every other value stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FilterStatus {
    Continue = 0,
    StopIteration = 1,
}

impl FilterHeadersStatus {
    pub(crate) fn from_raw(raw: i32) -> FilterHeadersStatus {
        match raw as u32 {
            0 => FilterHeadersStatus::Continue,
            1 => FilterHeadersStatus::StopIteration,
            2 => FilterHeadersStatus::ContinueAndEndStream,
            3 => FilterHeadersStatus::StopAllIterationAndBuffer,
            _ => FilterHeadersStatus::StopAllIterationAndWatermark,
        }
    }
}

impl FilterDataStatus {
    pub(crate) fn from_raw(raw: i32) -> FilterDataStatus {
        match raw as u32 {
            0 => FilterDataStatus::Continue,
            1 => FilterDataStatus::StopIterationAndBuffer,
            2 => FilterDataStatus::StopIterationAndWatermark,
            _ => FilterDataStatus::StopIterationNoBuffer,
        }
    }
}

impl FilterTrailersStatus {
    pub(crate) fn from_raw(raw: i32) -> FilterTrailersStatus {
        match raw {
            0 => FilterTrailersStatus::Continue,
            _ => FilterTrailersStatus::StopIteration,
        }
    }
}

impl FilterStatus {
    pub(crate) fn from_raw(raw: i32) -> FilterStatus {
        match raw {
            0 => FilterStatus::Continue,
            _ => FilterStatus::StopIteration,
        }
    }
}
