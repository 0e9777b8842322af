//! Every finding `cargo xtask fuzz` kept (`extensions/<name>/fuzz-findings/*.json`) replayed against the extension's
//! module as it is now: each must run, or be refused with a reason, instead of trapping.

use std::path::{Path, PathBuf};

use fuzz::{Bytes, Case, Event, Outcome, replay};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// (extension, finding file) for every kept finding of every extension.
fn kept_findings() -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    let extensions = std::fs::read_dir(workspace().join("extensions")).expect("extensions/");
    for extension in extensions.flatten() {
        let Ok(files) = std::fs::read_dir(extension.path().join("fuzz-findings")) else {
            continue;
        };
        for file in files.flatten() {
            if file.path().extension().is_some_and(|e| e == "json") {
                found.push((
                    extension.file_name().to_string_lossy().into_owned(),
                    file.path(),
                ));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn every_kept_finding_now_runs_without_a_trap() {
    for (extension, file) in kept_findings() {
        let text = std::fs::read_to_string(&file).unwrap();
        let finding: serde_json::Value = serde_json::from_str(&text).unwrap();
        let case: Case = serde_json::from_value(finding["case"].clone())
            .unwrap_or_else(|e| panic!("{}: not a fuzz case: {e}", file.display()));
        let module = host::testing::extension_module(&extension)
            .unwrap_or_else(|e| panic!("{extension} builds: {e}"));
        let outcome = replay(&module, &case);
        assert!(
            !outcome.is_finding(),
            "{} still fails: {outcome:?}\n(found as: {})",
            file.display(),
            finding["found"]
        );
    }
}

// The replay sees what the fuzzer looks for: a guest that panics, in a stream or in on_configure, is a finding
// (the conformance guest panics on demand); one that runs is not.
#[test]
fn a_panic_is_a_finding_with_the_guests_message() {
    let guest =
        host::testing::guest_module("conformance-guest").expect("the conformance guest builds");
    let case = |config: &str| Case {
        config: Bytes(config.as_bytes().to_vec()),
        events: vec![Event::RequestHeaders {
            headers: vec![(":path".into(), Bytes(b"/".to_vec()))],
            end: true,
        }],
    };
    let trapped = replay(&guest, &case("headers panic=on_request_headers"));
    assert!(
        matches!(&trapped, Outcome::Trapped(report) if report.contains("guest panic in on_request_headers")),
        "{trapped:?}"
    );
    // The report names the Rust function that panicked and the trait method the callback ran.
    assert!(
        matches!(&trapped, Outcome::Trapped(report)
        if report.contains("\nin: <conformance_guest::Scenario>::panic_in\n")
            && report.contains(
                ": <conformance_guest::stream::Stream as proxy_wasm::traits::HttpContext>::on_http_request_headers\n"
            )),
        "{trapped:?}"
    );
    let refused = replay(&guest, &case("headers panic=on_configure"));
    assert!(
        matches!(&refused, Outcome::Trapped(report)
            if report.contains("proxy_on_configure trapped") && report.contains("RootContext>::on_configure")),
        "{refused:?}"
    );
    assert_eq!(replay(&guest, &case("headers")), Outcome::Ran);
}

#[test]
fn bytes_that_are_not_utf8_survive_a_finding_file() {
    let case = Case {
        config: Bytes(b"{\"a\": \xff}".to_vec()),
        events: vec![Event::Reset],
    };
    let text = serde_json::to_string(&case).unwrap();
    assert!(text.contains("hex:7b2261223a20ff7d"), "{text}");
    assert_eq!(serde_json::from_str::<Case>(&text).unwrap(), case);
}
