//! host/README.md names the tests that pin each behaviour (`module::test_name`, the harness's name for a test of this
//! binary, or of the runner's, whose modules start with `runner`); each name must be a test of that module, so the
//! tables cannot drift from the suite.

use std::{fs, path::Path};

#[test]
fn every_test_the_readme_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    let mut named = 0;
    let mut missing = Vec::new();
    for span in readme.split('`').skip(1).step_by(2) {
        let Some((module, test)) = span.split_once("::") else {
            continue;
        };
        let tests = if module.starts_with("runner") {
            root.join("../runner/tests/integration")
        } else {
            root.join("tests/integration")
        };
        let path = tests.join(format!("{module}.rs"));
        let is_test_name = !test.is_empty()
            && test
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !is_test_name || !path.is_file() {
            continue;
        }
        named += 1;
        let source = fs::read_to_string(&path).unwrap();
        if !source.contains(&format!("fn {test}(")) {
            missing.push(span.to_owned());
        }
    }
    assert!(
        named > 50,
        "the README's conformance tables name only {named} tests"
    );
    assert!(
        missing.is_empty(),
        "host/README.md names tests that do not exist: {missing:#?}"
    );
}

/// The README's table of release differences has one row per `envoy_targets::DIFFERENCES` entry, at its first release
/// and naming its source, so the table users read is the one the host runs.
#[test]
fn the_readme_lists_every_release_difference_the_host_models() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    let rows: Vec<&str> = readme
        .lines()
        .filter(|line| line.starts_with("| 1."))
        .collect();
    assert_eq!(
        rows.len(),
        envoy_targets::DIFFERENCES.len(),
        "one README row per difference: {rows:#?}"
    );
    for difference in envoy_targets::DIFFERENCES {
        let first = format!("| 1.{} |", difference.first());
        // The README cites the pull request or commit the source starts with.
        let cited = difference
            .source()
            .split([' ', ','])
            .next()
            .unwrap_or_default();
        assert!(
            rows.iter()
                .any(|row| row.starts_with(&first) && row.contains(cited)),
            "no README row `{first} … {cited}` for {:?}",
            difference.change
        );
    }
}
