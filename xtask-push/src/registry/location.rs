//! Where an upload continues: a `Location` header resolved against the request it answered.

/// Resolves a `Location` header against the URL of the request it answered (RFC 3986 §5.2): absolute,
/// `//host/…`, `/path`, `?query` and relative paths (`uploads/1`, `../x`) each land where a browser puts them.
pub(super) fn resolve(request: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_owned();
    }
    let (scheme, rest) = request.split_once("://").unwrap_or(("https", request));
    let (authority, path_and_query) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if let Some(network) = location.strip_prefix("//") {
        return format!("{scheme}://{network}");
    }
    let path = path_and_query.split(['?', '#']).next().unwrap_or("");
    let (location_path, suffix) =
        location.split_at(location.find(['?', '#']).unwrap_or(location.len()));
    let merged = if location_path.is_empty() {
        path.to_owned()
    } else if location_path.starts_with('/') {
        location_path.to_owned()
    } else {
        let directory = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        format!(
            "{}{location_path}",
            if directory.is_empty() { "/" } else { directory }
        )
    };
    format!(
        "{scheme}://{authority}{}{suffix}",
        remove_dot_segments(&merged)
    )
}

/// RFC 3986 §5.2.4, for paths that start with `/`.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            other => out.push(other),
        }
    }
    format!("/{}", out.join("/"))
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
            assert_eq!(resolve(request, location), expected, "{location}");
        }
    }
}
