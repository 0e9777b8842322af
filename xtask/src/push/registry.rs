//! A small synchronous client for the parts of the OCI distribution API a push needs:
//! ping and authenticate, check and upload blobs, check and put a manifest.

use std::{fs, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use base64::Engine as _;
use ureq::{
    Agent,
    http::{Response, StatusCode},
    tls::{Certificate, PemItem, RootCerts, TlsConfig},
};

use super::{
    auth::Credentials,
    auth::Lookup,
    origin::{Origin, Trust, trust},
    untrusted::printable,
};
use crate::oci::{digest::sha256_digest, layout::Blob, reference::Reference};

/// Manifest types asked for when looking up a tag.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// How to reach the registry.
pub(crate) struct Options<'a> {
    /// Plain HTTP, or HTTPS without certificate checks (as `--tls-verify=false` does for podman).
    pub(crate) insecure: bool,
    /// Extra PEM files to trust, on top of the system store.
    pub(crate) ca_certs: &'a [String],
    /// A repository of the same registry to mount missing blobs from instead of uploading them.
    pub(crate) mount_from: Option<&'a str>,
}

/// A connection to one repository of one registry, authenticated for pull and push.
pub(crate) struct Client {
    agents: Agents,
    /// `https://host[:port]` or `http://…`.
    base: String,
    /// The origin of `base`: the only one credentials are sent to.
    origin: Origin,
    reference: Reference,
    lookup: Lookup,
    authorization: Option<String>,
    mount_from: Option<String>,
}

/// How a blob reached the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    Uploaded,
    /// Linked from `--mount-from` by the registry, no bytes sent.
    Mounted,
}

/// HTTP agents by how far a request's target is trusted.
struct Agents {
    /// For the registry's host: `--insecure` applies.
    registry: Agent,
    /// For every other host (an upload `Location` on storage, a token service): certificates always checked.
    verified: Agent,
}

impl Agents {
    fn get(&self, trust: Trust) -> &Agent {
        match trust {
            Trust::Registry | Trust::RegistryHost => &self.registry,
            Trust::Elsewhere => &self.verified,
        }
    }
}

/// A `WWW-Authenticate` challenge.
#[derive(Debug, PartialEq, Eq)]
struct Challenge {
    scheme: String,
    params: Vec<(String, String)>,
}

impl Client {
    /// Pings `/v2/` (HTTPS; with `insecure`, plain HTTP when HTTPS fails) and authenticates.
    pub(crate) fn connect(
        reference: &Reference,
        options: &Options,
        lookup: Lookup,
    ) -> anyhow::Result<Client> {
        let host = reference.api_host();
        let agents = agents(options)?;
        let https = format!("https://{host}");
        let (base, response) = match ping(&agents.registry, &https) {
            Ok(response) => (https, response),
            Err(err) if options.insecure => {
                let http = format!("http://{host}");
                let response = ping(&agents.registry, &http).map_err(|plain| {
                    unreachable(host, &format!("HTTPS: {err}; plain HTTP: {plain}"), options)
                })?;
                (http, response)
            }
            Err(err) => return Err(unreachable(host, &err.to_string(), options)),
        };
        let origin = Origin::of(&base)
            .with_context(|| format!("--image {}: the registry address", reference.registry))?;
        let mut client = Client {
            agents,
            base,
            origin,
            reference: reference.clone(),
            lookup,
            authorization: None,
            mount_from: options.mount_from.map(str::to_owned),
        };
        match response.status() {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED => {
                let challenges = response
                    .headers()
                    .get_all("www-authenticate")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .filter_map(parse_challenge)
                    .collect::<Vec<_>>();
                client.authenticate(&challenges)?;
            }
            status => bail!(
                "{}/v2/ answered {status}: this does not look like an OCI registry; check the image address",
                client.base
            ),
        }
        Ok(client)
    }

    /// `http` or `https`, for messages.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// Whether the repository already holds a blob with this digest.
    pub(crate) fn has_blob(&self, digest: &str) -> anyhow::Result<bool> {
        let url = format!(
            "{}/v2/{}/blobs/{digest}",
            self.base, self.reference.repository
        );
        let response = self
            .with_auth(self.agents.registry.head(&url))
            .call()
            .map_err(|e| self.transport(e))?;
        match response.status() {
            StatusCode::OK => Ok(true),
            // A registry that keeps blobs in object storage redirects a blob it holds to the storage
            // (distribution's `redirect` option); nothing is followed, so no credential goes there.
            status if status.is_redirection() && header(&response, "location").is_some() => {
                Ok(true)
            }
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.refused(response, &format!("checking blob {digest}"))),
        }
    }

    /// Mounts the blob from `--mount-from` when the registry can, else uploads it in one piece
    /// (POST for an upload session, then PUT with the digest).
    pub(crate) fn upload_blob(&self, blob: &Blob, bytes: &[u8]) -> anyhow::Result<Sent> {
        let start = format!(
            "{}/v2/{}/blobs/uploads/",
            self.base, self.reference.repository
        );
        let mut request = self.with_auth(self.agents.registry.post(&start));
        if let Some(from) = &self.mount_from {
            request = request.query("mount", &blob.digest).query("from", from);
        }
        let response = request.send_empty().map_err(|e| self.transport(e))?;
        if self.mount_from.is_some() && response.status() == StatusCode::CREATED {
            return Ok(Sent::Mounted);
        }
        if response.status() != StatusCode::ACCEPTED {
            return Err(self.refused(response, &format!("starting the upload of {}", blob.digest)));
        }
        let location = header(&response, "location")
            .with_context(|| format!("{start} accepted the upload but sent no Location"))?;
        let url = self.resolve(&location);
        let target = Origin::of(&url).with_context(|| {
            format!("{start} answered the upload with an unusable Location `{location}`")
        })?;
        let trust = trust(&self.origin, &target).map_err(|why| {
            anyhow::anyhow!(
                "{start} asked to continue the upload of {} at {url}, and push will not send it there: {why}; \
                 check the registry's configuration (its public URL or storage redirect)",
                blob.digest
            )
        })?;
        let separator = if url.contains('?') { '&' } else { '?' };
        let url = format!("{url}{separator}digest={}", blob.digest.replace(':', "%3A"));
        let request = self.agents.get(trust).put(&url);
        let request = if trust == Trust::Registry {
            self.with_auth(request)
        } else {
            request
        };
        let response = request
            .header("content-type", "application/octet-stream")
            .send(bytes)
            .map_err(|e| self.transport(e))?;
        let status = response.status();
        if status != StatusCode::CREATED {
            if trust != Trust::Registry
                && (status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN)
            {
                bail!(
                    "uploading {} {}: {} sent the upload to {target}, another origin, which answered {status}; \
                     push sends credentials only to {}, the origin that asked for them, so none went there. \
                     Configure the registry to take uploads on its own address",
                    blob.role,
                    blob.digest,
                    self.base,
                    self.origin
                );
            }
            return Err(self.refused(
                response,
                &format!("uploading {} {}", blob.role, blob.digest),
            ));
        }
        if let Some(stored) = header(&response, "docker-content-digest")
            && stored != blob.digest
        {
            bail!(
                "the registry stored {} {} as {stored}",
                blob.role,
                blob.digest
            );
        }
        Ok(Sent::Uploaded)
    }

    /// The digest the tag points to now, if it exists.
    pub(crate) fn tag_digest(&self, tag: &str) -> anyhow::Result<Option<String>> {
        let url = format!(
            "{}/v2/{}/manifests/{tag}",
            self.base, self.reference.repository
        );
        let response = self
            .with_auth(self.agents.registry.head(&url))
            .header("accept", MANIFEST_ACCEPT)
            .call()
            .map_err(|e| self.transport(e))?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            _ => return Err(self.refused(response, &format!("looking up tag {tag}"))),
        }
        if let Some(digest) = header(&response, "docker-content-digest") {
            return Ok(Some(digest));
        }
        // Some registries send no digest header on HEAD: hash the manifest instead.
        let mut response = self
            .with_auth(self.agents.registry.get(&url))
            .header("accept", MANIFEST_ACCEPT)
            .call()
            .map_err(|e| self.transport(e))?;
        if response.status() != StatusCode::OK {
            return Err(self.refused(response, &format!("reading the manifest of tag {tag}")));
        }
        let body = response
            .body_mut()
            .read_to_vec()
            .context("cannot read the tag's manifest")?;
        Ok(Some(sha256_digest(&body)))
    }

    /// Puts the manifest bytes under `tag`; returns the digest the registry reports.
    pub(crate) fn put_manifest(
        &self,
        tag: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> anyhow::Result<String> {
        let url = format!(
            "{}/v2/{}/manifests/{tag}",
            self.base, self.reference.repository
        );
        let response = self
            .with_auth(self.agents.registry.put(&url))
            .header("content-type", media_type)
            .send(bytes)
            .map_err(|e| self.transport(e))?;
        if response.status() != StatusCode::CREATED {
            return Err(self.refused(response, &format!("tagging {tag}")));
        }
        Ok(header(&response, "docker-content-digest").unwrap_or_else(|| sha256_digest(bytes)))
    }

    /// Adds the registry's credentials: only for requests to the registry's own origin.
    fn with_auth<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.authorization {
            Some(value) => request.header("authorization", value),
            None => request,
        }
    }

    /// Picks the first challenge we can answer: a bearer token (anonymous when no credentials),
    /// else basic.
    fn authenticate(&mut self, challenges: &[Challenge]) -> anyhow::Result<()> {
        let credentials = self.lookup.credentials.clone();
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            let token = self.token(bearer, credentials.as_ref())?;
            self.authorization = Some(format!("Bearer {token}"));
            return Ok(());
        }
        if challenges.iter().any(|c| c.scheme == "basic") {
            let Some(credentials) = credentials else {
                bail!("{}", self.no_credentials());
            };
            if credentials.identity_token {
                bail!(
                    "{} asks for Basic authentication, but the credentials found are an identity token ({}), \
                     which only a Bearer token service accepts; pass --username with --password-stdin",
                    self.reference.registry,
                    credentials.source
                );
            }
            self.authorization = Some(basic(&credentials));
            return Ok(());
        }
        bail!(
            "{} requires authentication but offers no scheme push supports (Basic or Bearer): {challenges:?}",
            self.reference.registry
        )
    }

    /// Fetches a token for `repository:<repo>:pull,push` (and pull on `--mount-from`) from the
    /// challenge's realm.
    fn token(
        &self,
        challenge: &Challenge,
        credentials: Option<&Credentials>,
    ) -> anyhow::Result<String> {
        let param = |name: &str| {
            challenge
                .params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let realm = param("realm").context("the registry's Bearer challenge names no realm")?;
        let agent = self.realm_agent(realm)?;
        if let Some(credentials) = credentials.filter(|c| c.identity_token) {
            return self.refresh_token_grant(agent, realm, param("service"), credentials);
        }
        let mut request = agent.get(realm).query(
            "scope",
            format!("repository:{}:pull,push", self.reference.repository),
        );
        if let Some(from) = &self.mount_from {
            request = request.query("scope", format!("repository:{from}:pull"));
        }
        if let Some(service) = param("service") {
            request = request.query("service", service);
        }
        if let Some(credentials) = credentials {
            request = request
                .query("account", &credentials.username)
                .header("authorization", basic(credentials));
        }
        let response = request.call().map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the token service {realm} of {}: {e}",
                self.reference.registry
            )
        })?;
        self.token_reply(realm, response, credentials.is_some())
    }

    /// The OAuth2 refresh-token grant of the distribution token spec: an identity token buys an access token
    /// with a form POST (what docker does with an `identitytoken`).
    fn refresh_token_grant(
        &self,
        agent: &Agent,
        realm: &str,
        service: Option<&str>,
        credentials: &Credentials,
    ) -> anyhow::Result<String> {
        let mut scopes = format!("repository:{}:pull,push", self.reference.repository);
        if let Some(from) = &self.mount_from {
            scopes.push_str(&format!(" repository:{from}:pull"));
        }
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", credentials.secret.as_str()),
            ("client_id", "cargo-xtask"),
            ("scope", scopes.as_str()),
        ];
        if let Some(service) = service {
            form.push(("service", service));
        }
        let response = agent.post(realm).send_form(form).map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the token service {realm} of {}: {e}",
                self.reference.registry
            )
        })?;
        self.token_reply(realm, response, true)
    }

    /// The agent for the token service a challenge names. The token spec has the client send its
    /// credentials there, so it must be HTTPS unless it shares the host of a plain-HTTP (`--insecure`)
    /// registry, and `--insecure` skips certificate checks only on the registry's own host.
    fn realm_agent(&self, realm: &str) -> anyhow::Result<&Agent> {
        let target = Origin::of(realm).with_context(|| {
            format!(
                "{} names the token service `{realm}`, which push cannot use",
                self.base
            )
        })?;
        let trust = trust(&self.origin, &target).map_err(|why| {
            anyhow::anyhow!(
                "{} names the token service {realm}, and push will not send credentials there: {why}",
                self.base
            )
        })?;
        Ok(self.agents.get(trust))
    }

    /// The token in a token service's answer, or what went wrong.
    fn token_reply(
        &self,
        realm: &str,
        mut response: ureq::http::Response<ureq::Body>,
        sent_credentials: bool,
    ) -> anyhow::Result<String> {
        match response.status() {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN if sent_credentials => {
                bail!("{}", self.rejected(response.status()))
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => bail!("{}", self.no_credentials()),
            status => bail!("the token service {realm} answered {status}"),
        }
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let body = response
            .body_mut()
            .read_to_string()
            .context("cannot read the token reply")?;
        let token: Token =
            serde_json::from_str(&body).with_context(|| format!("{realm} sent no token JSON"))?;
        token
            .token
            .or(token.access_token)
            .filter(|t| !t.is_empty())
            .with_context(|| format!("{realm} sent an empty token"))
    }

    /// Resolves a `Location` header against the registry address.
    fn resolve(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            format!("{}/{location}", self.base)
        }
    }

    fn transport(&self, err: ureq::Error) -> anyhow::Error {
        anyhow::anyhow!("lost the connection to {} ({err}); try again", self.base)
    }

    /// The error for a response that is not what the step needed.
    fn refused(&self, mut response: Response<ureq::Body>, step: &str) -> anyhow::Error {
        let status = response.status();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        match status {
            StatusCode::UNAUTHORIZED if self.lookup.credentials.is_some() => {
                anyhow::anyhow!("{}", self.rejected(status))
            }
            StatusCode::UNAUTHORIZED => anyhow::anyhow!("{}", self.no_credentials()),
            StatusCode::FORBIDDEN => anyhow::anyhow!(
                "{step}: {} denied access to {} (403 Forbidden){}; check that this account may push to the repository",
                self.reference.registry,
                self.reference.repository,
                self.who()
            ),
            _ => anyhow::anyhow!(
                "{step}: {} answered {status}: {}",
                self.base,
                printable(&body)
            ),
        }
    }

    fn rejected(&self, status: StatusCode) -> String {
        format!(
            "{} rejected the credentials ({status}){}; log in again (`podman login {}`) \
             or pass --username with --password-stdin",
            self.reference.registry,
            self.who(),
            self.reference.registry
        )
    }

    fn no_credentials(&self) -> String {
        format!(
            "{} requires authentication and no credentials for it were found (looked in: {}); \
             run `podman login {}` or pass --username with --password-stdin",
            self.reference.registry,
            self.lookup.searched.join(", "),
            self.reference.registry
        )
    }

    fn who(&self) -> String {
        match &self.lookup.credentials {
            Some(c) => format!(" for user `{}` from {}", c.username, c.source),
            None => " (no credentials were sent)".to_owned(),
        }
    }
}

/// The registry's agent (`--insecure` applies) and the verifying agent for every other host.
fn agents(options: &Options) -> anyhow::Result<Agents> {
    let roots = roots(options)?;
    Ok(Agents {
        registry: agent(roots.clone(), options.insecure),
        verified: agent(roots, false),
    })
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
/// needs one.
fn agent(roots: RootCerts, insecure: bool) -> Agent {
    let tls = TlsConfig::builder()
        .root_certs(roots)
        .disable_verification(insecure)
        .build();
    Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .tls_config(tls)
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_global(Some(Duration::from_secs(600)))
        .user_agent(concat!("cargo-xtask-push/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

fn ping(agent: &Agent, base: &str) -> Result<Response<ureq::Body>, ureq::Error> {
    agent.get(format!("{base}/v2/")).call()
}

fn unreachable(host: &str, cause: &str, options: &Options) -> anyhow::Error {
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

fn header(response: &Response<ureq::Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn basic(credentials: &Credentials) -> String {
    let pair = format!("{}:{}", credentials.username, credentials.secret);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// Parses `Bearer realm="…",service="…",scope="…"`; the scheme is lowercased.
fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = Vec::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let (value, remainder) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            after.split_once(',').unwrap_or((after, ""))
        };
        params.push((key.trim().to_ascii_lowercase(), value.to_owned()));
        rest = remainder.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_keep_commas_inside_quotes() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(
            c.params,
            vec![
                ("realm".to_owned(), "https://auth.example/token".to_owned()),
                ("service".to_owned(), "registry.example".to_owned()),
                ("scope".to_owned(), "repository:a/b:pull,push".to_owned()),
            ]
        );
    }

    #[test]
    fn basic_challenges_parse_too() {
        let c = parse_challenge(r#"Basic realm="xtask test""#).unwrap();
        assert_eq!(c.scheme, "basic");
        assert_eq!(
            c.params,
            vec![("realm".to_owned(), "xtask test".to_owned())]
        );
    }
}
