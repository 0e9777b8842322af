//! A small synchronous client for the parts of the OCI distribution API a push needs:
//! ping and authenticate, check and upload blobs, check and put a manifest.

use std::{cell::RefCell, fs, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use base64::Engine as _;
use ureq::{
    Agent, Body, RequestBuilder,
    http::{Response, StatusCode},
    tls::{Certificate, PemItem, RootCerts, TlsConfig},
};

use super::{
    auth::Credentials,
    auth::Lookup,
    origin::{Origin, Trust, trust},
};
use crate::{
    oci::{digest::sha256_digest, layout::Blob, reference::Reference},
    untrusted::printable,
};

/// Manifest types asked for when looking up a tag.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// How long a registry may keep push waiting for an answer, or between two reads of one, unless
/// `XTASK_REGISTRY_TIMEOUT` (seconds) says otherwise.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(60);
/// A whole request other than a blob upload: answers are small (a manifest, a token), so a registry that trickles
/// bytes just fast enough for the receive timeout is still stopped.
const REQUEST_ROUNDS: u32 = 3;
/// A whole blob upload, the one request whose length grows with the data sent.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);

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
    /// The `Authorization` value for the registry; a Bearer token is replaced when it expires mid-push.
    authorization: RefCell<Option<String>>,
    /// The Bearer challenge the token was fetched for, to fetch another when the registry stops taking it.
    bearer: Option<Challenge>,
    mount_from: Option<String>,
    /// The receive timeout, for messages.
    receive_timeout: Duration,
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
        let receive_timeout = receive_timeout()?;
        let agents = agents(options, receive_timeout)?;
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
            authorization: RefCell::new(None),
            bearer: None,
            mount_from: options.mount_from.map(str::to_owned),
            receive_timeout,
        };
        match response.status() {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED => {
                client.authenticate(&challenges(&response))?;
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
        let response =
            self.send_authorized(|auth| authorize(self.agents.registry.head(&url), auth).call())?;
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
        let response = self.send_authorized(|auth| {
            let mut request = authorize(self.agents.registry.post(&start), auth);
            if let Some(from) = &self.mount_from {
                request = request.query("mount", &blob.digest).query("from", from);
            }
            request.send_empty()
        })?;
        if self.mount_from.is_some() && response.status() == StatusCode::CREATED {
            return Ok(Sent::Mounted);
        }
        if response.status() != StatusCode::ACCEPTED {
            return Err(self.refused(response, &format!("starting the upload of {}", blob.digest)));
        }
        let location = header(&response, "location")
            .with_context(|| format!("{start} accepted the upload but sent no Location"))?;
        let url = resolve(&start, &location);
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
        let put = |auth: Option<&str>| {
            authorize(self.agents.get(trust).put(&url), auth)
                .config()
                .timeout_global(Some(UPLOAD_TIMEOUT))
                .timeout_send_body(Some(UPLOAD_TIMEOUT))
                .build()
                .header("content-type", "application/octet-stream")
                .send(bytes)
        };
        let response = if trust == Trust::Registry {
            self.send_authorized(put)?
        } else {
            put(None).map_err(|e| self.transport(e))?
        };
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
        let response = self.send_authorized(|auth| {
            authorize(self.agents.registry.head(&url), auth)
                .header("accept", MANIFEST_ACCEPT)
                .call()
        })?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            _ => return Err(self.refused(response, &format!("looking up tag {tag}"))),
        }
        if let Some(digest) = header(&response, "docker-content-digest") {
            return Ok(Some(digest));
        }
        // Some registries send no digest header on HEAD: hash the manifest instead.
        let mut response = self.send_authorized(|auth| {
            authorize(self.agents.registry.get(&url), auth)
                .header("accept", MANIFEST_ACCEPT)
                .call()
        })?;
        if response.status() != StatusCode::OK {
            return Err(self.refused(response, &format!("reading the manifest of tag {tag}")));
        }
        let body = response
            .body_mut()
            .read_to_vec()
            .map_err(|e| self.transport(e))
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
        let response = self.send_authorized(|auth| {
            authorize(self.agents.registry.put(&url), auth)
                .header("content-type", media_type)
                .send(bytes)
        })?;
        if response.status() != StatusCode::CREATED {
            return Err(self.refused(response, &format!("tagging {tag}")));
        }
        Ok(header(&response, "docker-content-digest").unwrap_or_else(|| sha256_digest(bytes)))
    }

    /// Sends a request to the registry's own origin with its credentials (`send` attaches them). Registries
    /// issue Bearer tokens for minutes, so a 401 once a token was accepted means it expired mid-push: a new one
    /// is fetched, and the request sent once more.
    fn send_authorized(
        &self,
        send: impl Fn(Option<&str>) -> Result<Response<Body>, ureq::Error>,
    ) -> anyhow::Result<Response<Body>> {
        let authorization = self.authorization.borrow().clone();
        let response = send(authorization.as_deref()).map_err(|e| self.transport(e))?;
        let Some(bearer) = &self.bearer else {
            return Ok(response);
        };
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = challenges(&response)
            .into_iter()
            .find(|c| c.scheme == "bearer")
            .unwrap_or_else(|| bearer.clone());
        let token = self.token(&challenge, self.lookup.credentials.as_ref())?;
        let authorization = format!("Bearer {token}");
        *self.authorization.borrow_mut() = Some(authorization.clone());
        send(Some(&authorization)).map_err(|e| self.transport(e))
    }

    /// Picks the first challenge we can answer: a bearer token (anonymous when no credentials),
    /// else basic.
    fn authenticate(&mut self, challenges: &[Challenge]) -> anyhow::Result<()> {
        let credentials = self.lookup.credentials.clone();
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            let token = self.token(bearer, credentials.as_ref())?;
            *self.authorization.get_mut() = Some(format!("Bearer {token}"));
            self.bearer = Some(bearer.clone());
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
            *self.authorization.get_mut() = Some(basic(&credentials));
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
            .map_err(|e| self.transport(e))
            .context("cannot read the token reply")?;
        let token: Token = serde_json::from_str(&body).map_err(|err| {
            anyhow::anyhow!(
                "{realm} sent no token JSON ({}); check the registry's token service",
                super::json_error_shape(&err)
            )
        })?;
        token
            .token
            .or(token.access_token)
            .filter(|t| !t.is_empty())
            .with_context(|| format!("{realm} sent an empty token"))
    }

    fn transport(&self, err: ureq::Error) -> anyhow::Error {
        match err {
            ureq::Error::Timeout(_) => anyhow::anyhow!(
                "{} kept push waiting longer than {} s ({err}) and was given up on; try again later, or wait \
                 longer with XTASK_REGISTRY_TIMEOUT=SECONDS",
                self.base,
                self.receive_timeout.as_secs()
            ),
            err => anyhow::anyhow!("lost the connection to {} ({err}); try again", self.base),
        }
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
fn agents(options: &Options, receive: Duration) -> anyhow::Result<Agents> {
    let roots = roots(options)?;
    Ok(Agents {
        registry: agent(roots.clone(), options.insecure, receive),
        verified: agent(roots, false, receive),
    })
}

fn receive_timeout() -> anyhow::Result<Duration> {
    super::timeout_from_env("XTASK_REGISTRY_TIMEOUT", RECEIVE_TIMEOUT)
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

/// Adds the registry's credentials: only for requests to the registry's own origin.
fn authorize<B>(request: RequestBuilder<B>, authorization: Option<&str>) -> RequestBuilder<B> {
    match authorization {
        Some(value) => request.header("authorization", value),
        None => request,
    }
}

/// The challenges of a 401.
fn challenges(response: &Response<Body>) -> Vec<Challenge> {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(parse_challenge)
        .collect()
}

/// Resolves a `Location` header against the URL of the request it answered (RFC 3986 §5.2): absolute,
/// `//host/…`, `/path`, `?query` and relative paths (`uploads/1`, `../x`) each land where a browser puts them.
fn resolve(request: &str, location: &str) -> String {
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
