//! `cargo xtask run`: builds the extension, hands its module and every further flag to the host's runner, and
//! passes the runner's report and exit status on.

mod support;

use serde_json::Value;

#[test]
fn run_builds_the_extension_and_forwards_the_runners_flags() {
    let _lock = support::packaging_lock();
    let stdout = support::xtask_ok(&[
        "run",
        "header-append",
        "--config",
        r#"{"x-run": "yes"}"#,
        "-H",
        "x-user: alice",
        "--json",
    ]);
    let report: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("no JSON report ({e}):\n{stdout}"));
    let module = report["module"].as_str().unwrap_or_default();
    assert!(
        module.ends_with("extensions/header-append/plugin.wasm"),
        "{report:#}"
    );
    let has = |side: &str, name: &str, value: &str| {
        report[side]["headers"]
            .as_array()
            .is_some_and(|h| h.iter().any(|pair| pair[0] == name && pair[1] == value))
    };
    assert!(has("client_response", "x-run", "yes"), "{report:#}");
    assert!(has("upstream_request", "x-user", "alice"), "{report:#}");
}

#[test]
fn run_passes_on_the_runners_exit_status_and_reason() {
    let _lock = support::packaging_lock();
    let out = support::xtask(&["run", "header-append", "--config", r#"{"x-run": 5}"#]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(r#"header "x-run""#), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("the plugin did not start"),
        "{stderr}"
    );
}
