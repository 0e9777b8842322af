//! How Envoy's Wasm filter behaves where its releases differ. Each [`Difference`] is one row: what changed, the
//! first release that behaves the new way, and the source that says so. The host runs a module as the release a
//! test or dry run names; `check` warns where a row's release is inferred rather than read.

use std::fmt;

use crate::since::{Presence, Since};

/// One way a release's Wasm filter may differ from another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Plugin metrics live in the custom stat namespace `wasmcustom`: `/stats` shows `wasmcustom.NAME` and
    /// Prometheus the bare `NAME`; before, `NAME` and `envoy_NAME`.
    MetricsInWasmcustomNamespace,
    /// The `xds.*` attributes (`xds.node`, `xds.cluster_name`, …) exist.
    XdsAttributes,
    /// The filter configuration has `failure_policy` (FAIL_CLOSED, FAIL_OPEN, FAIL_RELOAD); before, only the
    /// legacy `fail_open`, and a configuration naming `failure_policy` is refused.
    FailurePolicy,
    /// The top-level attribute names `node`, `cluster_name`, `route_name`, `listener_direction`, … that `xds.*`
    /// replaced are gone.
    TopLevelXdsNamesRemoved,
    /// The filter configuration has `allow_on_headers_stop_iteration`; before, a headers callback's StopIteration
    /// is always StopAllIterationAndWatermark.
    AllowOnHeadersStopIteration,
    /// `set_envoy_filter_state` and `clear_route_cache` act on the effective context (`proxy_set_effective_context`),
    /// so a callout callback of the root context that switched to a stream reaches it; before, on the context
    /// Envoy called.
    ForeignFunctionsOnEffectiveContext,
    /// The runtime guard `grpc_timeout_returns_deadline_exceeded` exists (off by default): with it on, a timed-out
    /// unary gRPC callout closes with 4 DeadlineExceeded instead of 14 Unavailable.
    GrpcTimeoutDeadlineExceededGuard,
    /// WASI `poll_oneoff` answers success with no events; before, ENOSYS (from 1.33, where it is linked).
    PollOneoffSucceeds,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Difference {
    pub change: Change,
    /// What a module meets in releases before the change.
    pub before: &'static str,
    /// What it meets from [`Difference::first`] on.
    pub after: &'static str,
    since: Since,
}

/// Every difference the host models, oldest first. A release is "first" when its release commit contains the
/// change (read from the release's tag or `repo: Release v1.N.0` commit, or its changelog); where it is not read,
/// `uncertain_from` opens a window that `check` warns about. Envoy 1.40's code is inferred from main two months
/// before it and its changelog; no row changes in 1.40 except the one its changelog names.
pub const DIFFERENCES: &[Difference] = &[
    Difference {
        change: Change::MetricsInWasmcustomNamespace,
        before: "a metric NAME is `NAME` in /stats and `envoy_NAME` in Prometheus",
        after: "`wasmcustom.NAME` in /stats, `NAME` in Prometheus (no `envoy_` prefix)",
        since: Since {
            first: 20,
            uncertain_from: 20,
            source: "envoyproxy/envoy#17357 (0bbf23cb5b), Context::defineMetric",
        },
    },
    Difference {
        change: Change::XdsAttributes,
        before: "no `xds.*` attributes (NotFound); the top-level `node`, `cluster_name`, … serve them",
        after: "`xds.node`, `xds.cluster_name`, `xds.route_name`, `xds.listener_direction`, … resolve",
        since: Since {
            first: 29,
            uncertain_from: 29,
            source: "envoyproxy/envoy#31365 (ff991f3454)",
        },
    },
    Difference {
        change: Change::FailurePolicy,
        before: "only `fail_open`; a configuration with `failure_policy` is refused",
        after: "`failure_policy` FAIL_CLOSED (also when unset), FAIL_OPEN or FAIL_RELOAD",
        since: Since {
            first: 33,
            uncertain_from: 33,
            source: "envoyproxy/envoy#36456 (64b4d2e42b); changelogs/1.33.0.yaml calls FAIL_RELOAD the default, \
                     the code and proto make UNSPECIFIED FAIL_CLOSED",
        },
    },
    Difference {
        change: Change::TopLevelXdsNamesRemoved,
        before: "`node`, `listener_direction`, `listener_metadata`, `cluster_name`, `cluster_metadata`, \
                 `route_name`, `route_metadata`, `upstream_host_metadata` resolve at the top level",
        after: "only `xds.*` resolves them; the old names are NotFound (or filter state `wasm.NAME`)",
        since: Since {
            first: 33,
            uncertain_from: 33,
            source: "envoyproxy/envoy#36619 (8fd5cc34d0), changelogs/1.33.0.yaml behavior_changes",
        },
    },
    Difference {
        change: Change::AllowOnHeadersStopIteration,
        before: "a headers callback's Pause is StopAllIterationAndWatermark: body and trailers wait too",
        after: "`allow_on_headers_stop_iteration: true` makes Pause a plain StopIteration (default false)",
        since: Since {
            first: 35,
            uncertain_from: 35,
            source: "envoyproxy/envoy#40213 (274d68f029), cpp-host #434 (7a212bc), changelogs/1.35.0.yaml",
        },
    },
    Difference {
        change: Change::ForeignFunctionsOnEffectiveContext,
        before: "`set_envoy_filter_state`, `clear_route_cache` act on the called context: from a root context's \
                 callout callback they reach no stream",
        after: "they act on the effective context (runtime guard on by default in 1.37–1.39, removed in 1.40)",
        since: Since {
            first: 37,
            uncertain_from: 37,
            source: "envoyproxy/envoy#42227 (237012835a), changelogs/1.37.0.yaml; guard removed by #46253 \
                     (changelogs/1.40.0.yaml)",
        },
    },
    Difference {
        change: Change::GrpcTimeoutDeadlineExceededGuard,
        before: "a timed-out unary gRPC callout closes with 14 Unavailable",
        after: "still 14 by default; 4 DeadlineExceeded with the runtime guard \
                `grpc_timeout_returns_deadline_exceeded` on",
        since: Since {
            first: 38,
            uncertain_from: 38,
            source: "envoyproxy/envoy#44479 (f00883b603), FALSE_RUNTIME_GUARD in runtime_features.cc, \
                     changelogs/1.38.0.yaml",
        },
    },
    Difference {
        change: Change::PollOneoffSucceeds,
        before: "`poll_oneoff` answers ENOSYS (52)",
        after: "`poll_oneoff` answers success with no events",
        since: Since {
            first: 39,
            uncertain_from: 39,
            source: "cpp-host 94091cd (#533), in the Envoy 1.39.0 pin f2db56a",
        },
    },
];

impl Difference {
    /// The first Envoy minor that behaves the new way.
    pub fn first(&self) -> u32 {
        self.since.first
    }

    /// The commit, pull request or release note the row comes from.
    pub fn source(&self) -> &'static str {
        self.since.source
    }

    /// Whether the first release is inferred (from dates) rather than read from that release's sources.
    pub fn inferred(&self) -> bool {
        self.since.inferred()
    }

    fn of(change: Change) -> &'static Difference {
        DIFFERENCES
            .iter()
            .find(|d| d.change == change)
            .expect("every Change has a row in DIFFERENCES")
    }
}

/// One Envoy release, 1.`minor`, as the host runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envoy {
    pub minor: u32,
}

impl Envoy {
    /// The newest release modelled: what the host runs as unless told otherwise.
    pub const NEWEST: Envoy = Envoy {
        minor: crate::ENVOY_LATEST,
    };

    /// Whether this release behaves the new way. Inside an inferred window the row's first release decides, so
    /// the host picks one behaviour; [`Envoy::unsure`] says where that is a guess.
    pub fn has(self, change: Change) -> bool {
        self.minor >= Difference::of(change).since.first
    }

    /// The rows whose change this release may or may not have: `check` warns about them.
    pub fn unsure(self) -> impl Iterator<Item = &'static Difference> {
        DIFFERENCES
            .iter()
            .filter(move |d| d.since.verdict(self.minor) == Presence::Unknown)
    }
}

impl fmt::Display for Envoy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Envoy 1.{}", self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_has_exactly_one_row() {
        for d in DIFFERENCES {
            let rows = DIFFERENCES.iter().filter(|o| o.change == d.change).count();
            assert_eq!(rows, 1, "{:?}", d.change);
        }
    }

    #[test]
    fn a_release_has_a_change_from_its_first_release_on() {
        let first = Difference::of(Change::AllowOnHeadersStopIteration).first();
        assert!(!Envoy { minor: first - 1 }.has(Change::AllowOnHeadersStopIteration));
        assert!(Envoy { minor: first }.has(Change::AllowOnHeadersStopIteration));
    }
}
