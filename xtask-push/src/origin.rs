//! Where credentials may go: the scheme, host and port of a URL, and the rules that keep a registry's
//! credentials and `--insecure` on the registry itself.

use std::fmt;

use anyhow::Context;
use ureq::http::Uri;

/// The scheme, host and port of a URL (RFC 6454 origin): credentials are sent only to the origin that
/// asked for them, as docker's and containers/image's clients do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    secure: bool,
    host: String,
    port: u16,
}

impl Origin {
    /// The origin of an absolute `http://` or `https://` URL.
    pub(crate) fn of(url: &str) -> anyhow::Result<Origin> {
        let uri: Uri = url
            .parse()
            .with_context(|| format!("`{url}` is not a URL"))?;
        let secure = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => anyhow::bail!("`{url}` is neither an http:// nor an https:// URL"),
        };
        let host = uri
            .host()
            .with_context(|| format!("`{url}` names no host"))?
            .to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        Ok(Origin { secure, host, port })
    }

    pub(crate) fn is_https(&self) -> bool {
        self.secure
    }

    /// Same host name, whatever the scheme and port: what `--insecure` (a registry host setting) covers.
    pub(crate) fn same_host(&self, other: &Origin) -> bool {
        self.host == other.host
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.secure { "https" } else { "http" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

/// How a request to some URL is made, decided from its origin against the registry's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trust {
    /// The registry itself: its credentials, and `--insecure` when given.
    Registry,
    /// The registry's own host on another scheme or port (a token service beside it): `--insecure` still
    /// applies, credentials are not attached.
    RegistryHost,
    /// Anywhere else: no credentials, certificates always verified.
    Elsewhere,
}

/// Where a request to `target` may go when the registry is `registry`; an error for a plain-HTTP
/// target the registry's security does not allow: a downgrade from an https registry, or another host.
pub(crate) fn trust(registry: &Origin, target: &Origin) -> Result<Trust, String> {
    if target == registry {
        return Ok(Trust::Registry);
    }
    if !target.is_https() {
        if registry.is_https() {
            return Err(format!(
                "it is plain HTTP, while the registry {registry} is HTTPS"
            ));
        }
        if !registry.same_host(target) {
            return Err(format!(
                "it is plain HTTP on another host than the registry {registry} (--insecure covers only the registry's host)"
            ));
        }
    }
    Ok(if registry.same_host(target) {
        Trust::RegistryHost
    } else {
        Trust::Elsewhere
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(url: &str) -> Origin {
        Origin::of(url).unwrap()
    }

    #[test]
    fn default_ports_and_case_make_the_same_origin() {
        assert_eq!(
            origin("https://Quay.io/v2/"),
            origin("https://quay.io:443/x")
        );
        assert_eq!(origin("http://h/"), origin("http://h:80/"));
        assert_ne!(origin("http://h/"), origin("https://h/"));
        assert_ne!(origin("https://h:5000/"), origin("https://h/"));
    }

    #[test]
    fn credentials_stay_on_the_registry_origin() {
        let registry = origin("https://registry.example");
        assert_eq!(
            trust(
                &registry,
                &origin("https://registry.example:443/v2/a/blobs/uploads/1")
            ),
            Ok(Trust::Registry)
        );
        assert_eq!(
            trust(&registry, &origin("https://storage.example/upload")),
            Ok(Trust::Elsewhere)
        );
        assert_eq!(
            trust(&registry, &origin("https://registry.example:8443/token")),
            Ok(Trust::RegistryHost)
        );
    }

    #[test]
    fn plain_http_is_refused_after_https_and_on_other_hosts() {
        let https = origin("https://registry.example");
        let err = trust(&https, &origin("http://registry.example/upload")).unwrap_err();
        assert!(
            err.contains("plain HTTP, while the registry https://registry.example:443 is HTTPS"),
            "{err}"
        );
        let http = origin("http://127.0.0.1:5000");
        let err = trust(&http, &origin("http://127.0.0.2:5000/upload")).unwrap_err();
        assert!(
            err.contains("--insecure covers only the registry's host"),
            "{err}"
        );
        assert_eq!(
            trust(&http, &origin("http://127.0.0.1:5001/token")),
            Ok(Trust::RegistryHost)
        );
    }

    #[test]
    fn a_url_without_scheme_or_host_is_an_error() {
        assert!(Origin::of("ftp://h/x").is_err());
        assert!(Origin::of("/v2/x").is_err());
    }
}
