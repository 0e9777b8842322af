//! `REGISTRY/REPO[:TAG][@DIGEST]`, read the way container tools read it.

use std::{fmt, net::Ipv6Addr};

use anyhow::bail;

/// Docker Hub as written in references and auth files.
const DOCKER_HUB: &str = "docker.io";

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]` as written (`docker.io` when the reference names no registry).
    pub registry: String,
    /// Repository path inside the registry, e.g. `team/header-append`.
    pub repository: String,
    pub tag: String,
    /// `sha256:…` when the reference pins a digest.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses `text`; `default_tag` is used when it names no tag.
    pub fn parse(text: &str, default_tag: &str) -> anyhow::Result<Reference> {
        let text = text.trim();
        if text.contains("://") {
            bail!(
                "image `{text}`: write it without a scheme, as REGISTRY/REPO[:TAG] \
                 (for a plain-HTTP registry add --insecure)"
            );
        }
        let (name, digest) = match text.split_once('@') {
            Some((name, digest)) => (name, Some(parse_digest(text, digest)?)),
            None => (text, None),
        };
        let (registry, path) = match name.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
                (first.to_owned(), rest.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo.to_owned(), Some(tag.to_owned())),
            _ => (path.clone(), None),
        };
        if registry != DOCKER_HUB && !valid_host_port(&registry) {
            bail!(
                "image `{text}`: registry `{registry}` is not a host[:port]: a DNS name (letters, digits and `-` \
                 between dots), an IPv4 address or a [bracketed] IPv6 address, then an optional port 1-65535, \
                 e.g. quay.io or 127.0.0.1:5000"
            );
        }
        if repository.is_empty() {
            bail!(
                "image `{text}` names no repository: write REGISTRY/REPO[:TAG], e.g. quay.io/team/{default_tag}"
            );
        }
        if !valid_repository(&repository) {
            bail!(
                "image `{text}`: repository `{repository}` may only hold lowercase letters, digits \
                 and single `.`, `_`, `-` separators between `/`-separated parts"
            );
        }
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        let tag = tag.unwrap_or_else(|| default_tag.to_owned());
        if !valid_tag(&tag) {
            bail!(
                "image `{text}`: tag `{tag}` is not a valid tag (letters, digits, `_`, `.`, `-`, \
                 at most 128, not starting with `.` or `-`); give one explicitly with :TAG"
            );
        }
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The host the distribution API is served from (Docker Hub's differs from its name).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            &self.registry
        }
    }

    /// `REGISTRY/REPO:TAG`, without any digest.
    pub fn tagged(&self) -> String {
        format!("{}/{}:{}", self.registry, self.repository, self.tag)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.tagged())?;
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

fn parse_digest(text: &str, digest: &str) -> anyhow::Result<String> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(digest.to_owned())
        }
        _ => bail!(
            "image `{text}`: `{digest}` is not a sha256 digest (sha256: and 64 lowercase hex digits)"
        ),
    }
}

/// A repository path inside a registry: `/`-separated components.
pub fn valid_repository(repository: &str) -> bool {
    repository.split('/').all(valid_component)
}

/// `host[:port]` as the distribution reference grammar has it: DNS labels of letters, digits and inner `-`
/// joined by dots, or `[IPv6]`, then an optional port. Anything else (`user@host`, `host:99999`, a space)
/// would turn into another URL than the one written.
fn valid_host_port(registry: &str) -> bool {
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let Some((address, after)) = rest.split_once(']') else {
            return false;
        };
        if address.parse::<Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            after => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return false,
            },
        }
    } else {
        match registry.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(registry), None),
        }
    };
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let host_ok = host.is_none_or(|h| h.len() <= 253 && h.split('.').all(label));
    let port_ok = port.is_none_or(|p| {
        (1..=5).contains(&p.len())
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok_and(|p| p > 0)
    });
    host_ok && port_ok
}

/// One path component: `[a-z0-9]+` runs joined by `.`, `_`, `__` or dashes.
fn valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes
            .iter()
            .all(|b| alnum(b) || matches!(b, b'.' | b'_' | b'-'))
        && !component.contains("..")
        && !component.contains("___")
        && !component.contains("._")
        && !component.contains("_.")
}

fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    (1..=128).contains(&bytes.len())
        && !matches!(bytes[0], b'.' | b'-')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_repository_and_tag_are_split_like_container_tools_do() {
        let r = Reference::parse("127.0.0.1:5000/team/header-append:1.2", "0.1.0").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_str()),
            ("127.0.0.1:5000", "team/header-append", "1.2")
        );
        let r = Reference::parse("quay.io/team/header-append", "0.1.0").unwrap();
        assert_eq!(r.tag, "0.1.0");
        assert_eq!(r.to_string(), "quay.io/team/header-append:0.1.0");
        let r = Reference::parse("localhost/x", "1").unwrap();
        assert_eq!(r.registry, "localhost");
    }

    #[test]
    fn a_name_without_registry_is_docker_hub() {
        let r = Reference::parse("header-append:2", "0.1.0").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("docker.io", "library/header-append")
        );
        assert_eq!(r.api_host(), "registry-1.docker.io");
        let r = Reference::parse("team/header-append", "0.1.0").unwrap();
        assert_eq!(r.repository, "team/header-append");
    }

    #[test]
    fn a_digest_is_kept_and_checked() {
        let hex = "a".repeat(64);
        let r = Reference::parse(&format!("quay.io/t/x:1@sha256:{hex}"), "0").unwrap();
        assert_eq!(r.digest.as_deref(), Some(format!("sha256:{hex}").as_str()));
        assert_eq!(r.to_string(), format!("quay.io/t/x:1@sha256:{hex}"));
        let err = Reference::parse("quay.io/t/x@sha256:abc", "0")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`sha256:abc` is not a sha256 digest"), "{err}");
    }

    #[test]
    fn bad_references_say_what_is_wrong() {
        let err = Reference::parse("https://quay.io/t/x", "0")
            .unwrap_err()
            .to_string();
        assert!(err.contains("without a scheme"), "{err}");
        let err = Reference::parse("quay.io/Team/X", "0")
            .unwrap_err()
            .to_string();
        assert!(err.contains("repository `Team/X`"), "{err}");
        let err = Reference::parse("quay.io/t/x", "0.1.0+build.5")
            .unwrap_err()
            .to_string();
        assert!(err.contains("tag `0.1.0+build.5`"), "{err}");
        let err = Reference::parse("quay.io/", "0").unwrap_err().to_string();
        assert!(err.contains("names no repository"), "{err}");
    }

    #[test]
    fn the_registry_must_be_host_and_port() {
        for good in [
            "quay.io",
            "Quay.IO",
            "127.0.0.1:5000",
            "my-registry.local:443",
            "[::1]:5000",
            "[fe80::1]",
        ] {
            let r = Reference::parse(&format!("{good}/t/x"), "0").unwrap();
            assert_eq!(r.registry, good);
        }
        for bad in [
            "a b.io",
            "quay.io:50:00",
            "quay.io:99999",
            "quay.io:0",
            "quay.io:",
            "-quay.io",
            "quay..io",
            "qu_ay.io",
            "[::1",
            "[not-v6]:5000",
            "[::1]x",
        ] {
            let err = Reference::parse(&format!("{bad}/t/x"), "0")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("registry `{bad}` is not a host[:port]")),
                "{bad}: {err}"
            );
        }
    }
}
