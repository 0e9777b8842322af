//! host/README.md names the tests that pin each behaviour (`module::test_name`, the harness's name for a test of this
//! binary); each name must be a test of that module, so the tables cannot drift from the suite.

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
        let path = root.join("tests/integration").join(format!("{module}.rs"));
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
