//! Where an upload continues: a `Location` header resolved against the request it answered.

use fluent_uri::{Uri, UriRef};

/// Resolves a `Location` header against the URL of the request it answered (RFC 3986 §5.2): absolute,
/// `//host/…`, `/path`, `?query` and relative paths (`uploads/1`, `../x`) each land where a browser puts them.
/// `Err` says why a `Location` is no URI reference.
pub(super) fn resolve(request: &str, location: &str) -> anyhow::Result<String> {
    let base = Uri::parse(request)?;
    let reference = UriRef::parse(location)?;
    Ok(reference.resolve_against(&base)?.into_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_resolves_against_the_request_url() {
        let request = "https://r.example:5000/v2/team/x/blobs/uploads/";
        for (location, expected) in [
            ("https://s.example/u/1?s=a", "https://s.example/u/1?s=a"),
            ("//s.example/u/1", "https://s.example/u/1"),
            (
                "/v2/team/x/blobs/uploads/1?s=a",
                "https://r.example:5000/v2/team/x/blobs/uploads/1?s=a",
            ),
            (
                "1?s=a",
                "https://r.example:5000/v2/team/x/blobs/uploads/1?s=a",
            ),
            (
                "../uploads/1",
                "https://r.example:5000/v2/team/x/blobs/uploads/1",
            ),
            ("./1", "https://r.example:5000/v2/team/x/blobs/uploads/1"),
            (
                "?s=a",
                "https://r.example:5000/v2/team/x/blobs/uploads/?s=a",
            ),
        ] {
            assert_eq!(resolve(request, location).unwrap(), expected, "{location}");
        }
    }

    #[test]
    fn a_location_that_is_no_uri_reference_is_an_error() {
        let request = "https://r.example:5000/v2/team/x/blobs/uploads/";
        for location in ["uploads/a b", "https://[r.example/u/1", "1?s=%zz"] {
            assert!(resolve(request, location).is_err(), "{location}");
        }
    }
}
