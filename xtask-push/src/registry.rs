//! A small synchronous client for the parts of the OCI distribution API a push needs: ping and authenticate,
//! check and upload blobs, check and put a manifest. How requests travel (TLS roots, timeouts) is `transport`,
//! how the registry's challenges are answered is `token`, and where an upload continues is `location`.

mod location;
mod token;
mod transport;

use std::cell::RefCell;
use std::time::Duration;

use anyhow::{Context, bail};
use ureq::{
    RequestBuilder,
    http::{Response, StatusCode},
};

use self::location::resolve;
use self::token::{Challenge, challenges};
use self::transport::{Agents, UPLOAD_TIMEOUT, agents, ping, receive_timeout, unreachable};
use super::{
    auth::Lookup,
    origin::{Origin, Trust, trust},
};
use xtask::{
    oci::{digest::sha256_digest, layout::Blob, reference::Reference},
    untrusted::printable,
};

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
        let unusable =
            || format!("{start} answered the upload with an unusable Location `{location}`");
        let url = resolve(&start, &location).with_context(unusable)?;
        let target = Origin::of(&url).with_context(unusable)?;
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
