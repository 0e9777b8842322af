//! What each Envoy release provides a module: the proxy-wasm ABI versions it accepts and the `env` and WASI
//! functions it links. A module importing anything else fails to load ("Failed to load Wasm module due to a
//! missing import"), so every request gets the failure policy's answer.
//!
//! Derived from proxy-wasm-cpp-host's history (`FOR_ALL_WASI_FUNCTIONS`, `FOR_ALL_HOST_FUNCTIONS`, ABI
//! detection) and the cpp-host commit each Envoy release pinned; each group below names the commit that added it.
//! Where the first release is inferred, not read, releases inside the uncertain window get a warning instead of
//! an error.

use crate::since::{Presence, Since};

/// The two module names WASI preview1 is registered under (cpp-host `FOR_ALL_WASI_FUNCTIONS` registers each
/// function under both).
pub const WASI_MODULES: [&str; 2] = ["wasi_snapshot_preview1", "wasi_unstable"];

/// WASI functions, registered under both of [`WASI_MODULES`].
const WASI: &[(&[&str], Since)] = &[
    (
        &[
            "fd_write",
            "fd_seek",
            "fd_close",
            "environ_get",
            "environ_sizes_get",
            "args_get",
            "args_sizes_get",
            "proc_exit",
            "fd_read",
            "fd_fdstat_get",
        ],
        Since {
            first: 0,
            uncertain_from: 0,
            source: "cpp-host 6bb50d0, 56204b1",
        },
    ),
    (
        &["clock_time_get", "random_get"],
        Since {
            first: 17,
            uncertain_from: 17,
            source: "cpp-host 4636486, 6a75b62, in the Envoy 1.17.0 pin 6dab125",
        },
    ),
    (
        &["fd_prestat_get", "fd_prestat_dir_name", "path_open"],
        Since {
            first: 21,
            uncertain_from: 21,
            source: "cpp-host f383473, in the Envoy 1.21.0 pin 2be7a28",
        },
    ),
    (
        &["fd_fdstat_set_flags", "poll_oneoff", "sched_yield"],
        Since {
            first: 33,
            uncertain_from: 33,
            source: "cpp-host c4d7bb0 (#427), the Envoy 1.33.0 pin",
        },
    ),
    (
        &[
            "clock_res_get",
            "fd_advise",
            "fd_allocate",
            "fd_datasync",
            "fd_fdstat_set_rights",
            "fd_filestat_get",
            "fd_filestat_set_size",
            "fd_filestat_set_times",
            "fd_pread",
            "fd_pwrite",
            "fd_readdir",
            "fd_renumber",
            "fd_sync",
            "fd_tell",
            "path_create_directory",
            "path_filestat_get",
            "path_filestat_set_times",
            "path_link",
            "path_readlink",
            "path_remove_directory",
            "path_rename",
            "path_symlink",
            "path_unlink_file",
            "sock_accept",
            "sock_recv",
            "sock_send",
            "sock_shutdown",
        ],
        Since {
            first: 39,
            uncertain_from: 39,
            source: "cpp-host 94091cd (#533), in the Envoy 1.39.0 pin f2db56a",
        },
    ),
];

/// `env` functions every ABI version gets.
const ENV_COMMON: &[&str] = &[
    "proxy_log",
    "proxy_get_status",
    "proxy_set_property",
    "proxy_get_property",
    "proxy_send_local_response",
    "proxy_get_shared_data",
    "proxy_set_shared_data",
    "proxy_register_shared_queue",
    "proxy_resolve_shared_queue",
    "proxy_dequeue_shared_queue",
    "proxy_enqueue_shared_queue",
    "proxy_get_header_map_value",
    "proxy_add_header_map_value",
    "proxy_replace_header_map_value",
    "proxy_remove_header_map_value",
    "proxy_get_header_map_pairs",
    "proxy_set_header_map_pairs",
    "proxy_get_header_map_size",
    "proxy_get_buffer_status",
    "proxy_get_buffer_bytes",
    "proxy_set_buffer_bytes",
    "proxy_http_call",
    "proxy_grpc_call",
    "proxy_grpc_stream",
    "proxy_grpc_close",
    "proxy_grpc_cancel",
    "proxy_grpc_send",
    "proxy_set_tick_period_milliseconds",
    "proxy_get_current_time_nanoseconds",
    "proxy_define_metric",
    "proxy_increment_metric",
    "proxy_record_metric",
    "proxy_get_metric",
    "proxy_set_effective_context",
    "proxy_done",
    "proxy_call_foreign_function",
    "pthread_equal",
];

/// `env` functions registered only for modules of one ABI generation (cpp-host `registerCallbacks`).
const ENV_ABI_0_1: &[&str] = &[
    "proxy_get_configuration",
    "proxy_continue_request",
    "proxy_continue_response",
    "proxy_clear_route_cache",
];
const ENV_ABI_0_2: &[&str] = &["proxy_continue_stream", "proxy_close_stream"];
const ENV_ABI_0_2_1: &[&str] = &["proxy_get_log_level"];

/// `env.emscripten_notify_memory_growth`.
const EMSCRIPTEN_GROWTH: Since = Since {
    first: 23,
    uncertain_from: 23,
    source: "cpp-host 73fe589, in the Envoy 1.23.0 pin 2cf68d6",
};

/// Which proxy-wasm ABI a module speaks, detected like cpp-host does: by its marker export. The one vocabulary
/// of the host, `build`'s module checks and `check`'s import table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbiVersion {
    V0_1_0,
    V0_2_0,
    V0_2_1,
}

impl AbiVersion {
    /// Every version, oldest first.
    pub const ALL: [AbiVersion; 3] = [AbiVersion::V0_1_0, AbiVersion::V0_2_0, AbiVersion::V0_2_1];

    /// The version a marker export names, if it is one.
    pub fn of_marker(export: &str) -> Option<AbiVersion> {
        AbiVersion::ALL
            .into_iter()
            .find(|abi| abi.marker() == export)
    }

    /// The version a module with these exports speaks: its first marker export, in export order, as cpp-host's
    /// `BytecodeUtil::getAbiVersion` reads the export section.
    pub fn declared_by<'a>(exports: impl IntoIterator<Item = &'a str>) -> Option<AbiVersion> {
        exports.into_iter().find_map(AbiVersion::of_marker)
    }

    /// The marker export that declares this version.
    pub fn marker(self) -> &'static str {
        match self {
            AbiVersion::V0_1_0 => "proxy_abi_version_0_1_0",
            AbiVersion::V0_2_0 => "proxy_abi_version_0_2_0",
            AbiVersion::V0_2_1 => "proxy_abi_version_0_2_1",
        }
    }
}

impl std::fmt::Display for AbiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AbiVersion::V0_1_0 => "0.1.0",
            AbiVersion::V0_2_0 => "0.2.0",
            AbiVersion::V0_2_1 => "0.2.1",
        })
    }
}

/// What the check says of one thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Provided,
    /// Not known for this release: a warning.
    Uncertain(String),
    /// The release lacks it: the module will not load.
    Lacking(String),
}

/// Whether Envoy 1.`envoy` loads a module of `abi`.
pub fn abi(envoy: u32, abi: AbiVersion) -> Verdict {
    match abi {
        AbiVersion::V0_1_0 => Verdict::Provided,
        _ if envoy <= 14 => Verdict::Uncertain(format!(
            "ABI {}: the Istio 1.6 based proxy of OSSM 2.0 most likely accepts only ABI 0.1.0 (multi-ABI support \
             reached cpp-host in August 2020, e73c498); try the module on your proxy image before relying on it",
            abi
        )),
        AbiVersion::V0_2_0 => Verdict::Provided,
        AbiVersion::V0_2_1 if envoy >= 16 => Verdict::Provided,
        AbiVersion::V0_2_1 => Verdict::Lacking(format!(
            "ABI 0.2.1 is accepted from Envoy 1.16 (cpp-host d1e7040); Envoy 1.{envoy} takes 0.1.0 and 0.2.0"
        )),
    }
}

/// Whether Envoy 1.`envoy` links `module.name` for a module of `abi`.
pub fn import(envoy: u32, abi: AbiVersion, module: &str, name: &str) -> Verdict {
    let since = |since: &Since, what: &str| match since.verdict(envoy) {
        Presence::Present => Verdict::Provided,
        Presence::Unknown => Verdict::Uncertain(format!(
            "{what}: Envoy links it from 1.{} at the latest ({}); whether 1.{envoy} does is not known",
            since.first, since.source
        )),
        Presence::Absent => Verdict::Lacking(format!(
            "{what}: Envoy 1.{envoy} does not provide it; the first release that does is Envoy 1.{} ({})",
            since.first, since.source
        )),
    };
    let what = format!("{module}.{name}");
    match module {
        _ if WASI_MODULES.contains(&module) => {
            match WASI.iter().find(|(names, _)| names.contains(&name)) {
                Some((_, group)) => since(group, &what),
                None => Verdict::Lacking(format!(
                    "{what}: no Envoy release provides this WASI function"
                )),
            }
        }
        "env" if ENV_COMMON.contains(&name) => Verdict::Provided,
        "env" if name == "emscripten_notify_memory_growth" => since(&EMSCRIPTEN_GROWTH, &what),
        "env" => {
            let only = if ENV_ABI_0_1.contains(&name) {
                Some((abi == AbiVersion::V0_1_0, "ABI 0.1.0"))
            } else if ENV_ABI_0_2.contains(&name) {
                Some((abi != AbiVersion::V0_1_0, "ABI 0.2.x"))
            } else if ENV_ABI_0_2_1.contains(&name) {
                Some((abi == AbiVersion::V0_2_1, "ABI 0.2.1"))
            } else {
                None
            };
            match only {
                Some((true, _)) => Verdict::Provided,
                Some((false, generation)) => Verdict::Lacking(format!(
                    "{what}: Envoy links it only for {generation} modules, and this one declares ABI {}",
                    abi
                )),
                None => Verdict::Lacking(format!(
                    "{what}: no Envoy release provides it (a dependency built for another host adds such imports)"
                )),
            }
        }
        _ => Verdict::Lacking(format!(
            "{what}: Envoy provides only `env`, `wasi_snapshot_preview1` and `wasi_unstable` imports"
        )),
    }
}

/// Every import Envoy 1.`envoy` links for a module of `abi`, as (module, name): the names of the tables above that
/// [`import`] calls provided (an uncertain one is left out). The host links exactly these for the newest release.
pub fn provided(envoy: u32, abi: AbiVersion) -> Vec<(&'static str, &'static str)> {
    let env = [
        ENV_COMMON,
        ENV_ABI_0_1,
        ENV_ABI_0_2,
        ENV_ABI_0_2_1,
        &["emscripten_notify_memory_growth"],
    ]
    .into_iter()
    .flatten()
    .map(|name| ("env", *name));
    let wasi = WASI
        .iter()
        .flat_map(|(names, _)| names.iter())
        .flat_map(|name| WASI_MODULES.map(|module| (module, *name)));
    env.chain(wasi)
        .filter(|(module, name)| import(envoy, abi, module, name) == Verdict::Provided)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasi_functions_arrive_with_the_release_that_pinned_their_commit() {
        let abi = AbiVersion::V0_2_1;
        assert_eq!(
            import(17, abi, "wasi_snapshot_preview1", "fd_write"),
            Verdict::Provided
        );
        assert!(
            matches!(import(16, abi, "wasi_snapshot_preview1", "random_get"), Verdict::Lacking(m) if m.contains("first release that does is Envoy 1.17"))
        );
        assert_eq!(
            import(17, abi, "wasi_unstable", "clock_time_get"),
            Verdict::Provided
        );
        assert!(
            matches!(import(28, abi, "wasi_snapshot_preview1", "poll_oneoff"), Verdict::Lacking(m) if m.contains("Envoy 1.28 does not provide it") && m.contains("Envoy 1.33"))
        );
        assert!(matches!(
            import(32, abi, "wasi_snapshot_preview1", "sched_yield"),
            Verdict::Lacking(_)
        ));
        assert_eq!(
            import(33, abi, "wasi_snapshot_preview1", "sched_yield"),
            Verdict::Provided
        );
        assert!(
            matches!(import(38, abi, "wasi_snapshot_preview1", "fd_pread"), Verdict::Lacking(m) if m.contains("Envoy 1.39"))
        );
        assert!(
            matches!(import(39, abi, "wasi_snapshot_preview1", "thread_spawn"), Verdict::Lacking(m) if m.contains("no Envoy release"))
        );
    }

    #[test]
    fn abi_specific_host_functions_follow_the_declared_abi() {
        assert_eq!(
            import(20, AbiVersion::V0_2_1, "env", "proxy_get_log_level"),
            Verdict::Provided
        );
        assert!(matches!(
            import(20, AbiVersion::V0_2_0, "env", "proxy_get_log_level"),
            Verdict::Lacking(_)
        ));
        assert!(
            matches!(import(20, AbiVersion::V0_2_1, "env", "proxy_continue_request"), Verdict::Lacking(m) if m.contains("only for ABI 0.1.0"))
        );
        assert!(matches!(
            import(20, AbiVersion::V0_2_1, "env", "__wbindgen_throw"),
            Verdict::Lacking(_)
        ));
        assert!(matches!(
            import(20, AbiVersion::V0_2_1, "wbg", "x"),
            Verdict::Lacking(_)
        ));
    }

    #[test]
    fn the_newest_envoy_links_cpp_hosts_45_wasi_functions_and_each_abis_host_functions() {
        let count = |abi, module: &str| {
            provided(crate::ENVOY_LATEST, abi)
                .iter()
                .filter(|(m, _)| *m == module)
                .count()
        };
        // cpp-host `FOR_ALL_WASI_FUNCTIONS` (94091cd), under both module names, for every ABI.
        for abi in AbiVersion::ALL {
            assert_eq!(count(abi, "wasi_snapshot_preview1"), 45);
            assert_eq!(count(abi, "wasi_unstable"), 45);
        }
        // `registerCallbacks`: the 37 common functions and emscripten's, plus each generation's own.
        assert_eq!(count(AbiVersion::V0_1_0, "env"), 38 + 4);
        assert_eq!(count(AbiVersion::V0_2_0, "env"), 38 + 2);
        assert_eq!(count(AbiVersion::V0_2_1, "env"), 38 + 3);
        // Before 1.17 there was no `random_get`.
        assert!(
            !provided(16, AbiVersion::V0_2_1).contains(&("wasi_snapshot_preview1", "random_get"))
        );
    }

    #[test]
    fn abi_0_2_1_needs_envoy_1_16() {
        assert_eq!(abi(17, AbiVersion::V0_2_1), Verdict::Provided);
        assert!(matches!(abi(15, AbiVersion::V0_2_1), Verdict::Lacking(_)));
        assert_eq!(abi(15, AbiVersion::V0_2_0), Verdict::Provided);
        assert!(matches!(abi(14, AbiVersion::V0_2_1), Verdict::Uncertain(_)));
    }
}
