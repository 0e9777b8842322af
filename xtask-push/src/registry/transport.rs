//! How push reaches a registry: the system's and `--ca-cert` roots, one agent for the registry's own host
//! (`--insecure` applies) and a verifying one for every other host, every request bounded in time.

use std::{fs, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use ureq::{
    Agent,
    http::Response,
    tls::{Certificate, PemItem, RootCerts, TlsConfig},
};

use super::Options;
use crate::origin::Trust;

/// How long a registry may keep push waiting for an answer, or between two reads of one, unless
/// `XTASK_REGISTRY_TIMEOUT` (seconds) says otherwise.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(60);
/// A whole request other than a blob upload: answers are small (a manifest, a token), so a registry that trickles
/// bytes just fast enough for the receive timeout is still stopped.
const REQUEST_ROUNDS: u32 = 3;
/// A whole blob upload, the one request whose length grows with the data sent.
pub(super) const UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// HTTP agents by how far a request's target is trusted.
pub(super) struct Agents {
    /// For the registry's host: `--insecure` applies.
    pub(super) registry: Agent,
    /// For every other host (an upload `Location` on storage, a token service): certificates always checked.
    pub(super) verified: Agent,
}

impl Agents {
    pub(super) fn get(&self, trust: Trust) -> &Agent {
        match trust {
            Trust::Registry | Trust::RegistryHost => &self.registry,
            Trust::Elsewhere => &self.verified,
        }
    }
}

/// The registry's agent (`--insecure` applies) and the verifying agent for every other host.
pub(super) fn agents(options: &Options, receive: Duration) -> anyhow::Result<Agents> {
    let roots = roots(options)?;
    Ok(Agents {
        registry: agent(roots.clone(), options.insecure, receive),
        verified: agent(roots, false, receive),
    })
}

pub(super) fn receive_timeout() -> anyhow::Result<Duration> {
    xtask::child::timeout_from_env("XTASK_REGISTRY_TIMEOUT", RECEIVE_TIMEOUT)
}

/// The system store plus `--ca-cert` files.
fn roots(options: &Options) -> anyhow::Result<RootCerts> {
    let mut roots: Vec<Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    for path in options.ca_certs {
        let pem =
            fs::read(path).with_context(|| format!("--ca-cert {path}: cannot read the file"))?;
        let before = roots.len();
        for item in ureq::tls::parse_pem(&pem) {
            if let PemItem::Certificate(cert) =
                item.with_context(|| format!("--ca-cert {path}: bad PEM"))?
            {
                roots.push(cert.to_owned());
            }
        }
        if roots.len() == before {
            bail!(
                "--ca-cert {path}: no `BEGIN CERTIFICATE` block found; give a PEM certificate file"
            );
        }
    }
    Ok(if roots.is_empty() {
        RootCerts::WebPki
    } else {
        RootCerts::Specific(Arc::new(roots))
    })
}

/// Redirects are not followed: each hop would need the origin checks above, and no step of a push
/// needs one. Every request is bounded: `receive` for the answer's headers, for each read or write, and for
/// the answer's body; a whole request gets a few of those, except a blob upload (see `upload_blob`).
fn agent(roots: RootCerts, insecure: bool, receive: Duration) -> Agent {
    let tls = TlsConfig::builder()
        .root_certs(roots)
        .disable_verification(insecure)
        .build();
    Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .tls_config(tls)
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_send_request(Some(receive))
        .timeout_recv_response(Some(receive))
        .timeout_recv_body(Some(receive))
        .timeout_per_read(Some(receive))
        .timeout_per_write(Some(receive))
        .timeout_global(Some(receive * REQUEST_ROUNDS))
        .user_agent(concat!("cargo-xtask-push/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

pub(super) fn ping(agent: &Agent, base: &str) -> Result<Response<ureq::Body>, ureq::Error> {
    agent.get(format!("{base}/v2/")).call()
}

pub(super) fn unreachable(host: &str, cause: &str, options: &Options) -> anyhow::Error {
    let hint = if cause.contains("certificate")
        || cause.contains("UnknownIssuer")
        || cause.contains("Tls")
    {
        "the registry's certificate is not trusted: pass its CA with --ca-cert FILE (or SSL_CERT_FILE), \
         or --insecure to skip the check"
    } else if cause.contains("InvalidContentType") || cause.contains("corrupt message") {
        "it answers in plain HTTP, not HTTPS: add --insecure to push over plain HTTP"
    } else if options.insecure {
        "check the address and that the registry is running"
    } else {
        "check the address and that the registry is running; a plain-HTTP registry needs --insecure"
    };
    anyhow::anyhow!("cannot reach registry {host}: {cause}; {hint}")
}
