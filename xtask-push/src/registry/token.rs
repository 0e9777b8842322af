//! Authentication with the registry: its `WWW-Authenticate` challenges answered with Basic credentials or a Bearer
//! token from the token service it names (the distribution token spec, the OAuth2 refresh-token grant for identity
//! tokens), and a token fetched again when it expires mid-push.

use anyhow::{Context, bail};
use base64::Engine as _;
use ureq::{
    Agent, Body,
    http::{Response, StatusCode},
};

use super::Client;
use crate::{
    auth::Credentials,
    origin::{Origin, trust},
};

/// A `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Challenge {
    scheme: String,
    params: Vec<(String, String)>,
}

impl Client {
    /// Sends a request to the registry's own origin with its credentials (`send` attaches them). Registries
    /// issue Bearer tokens for minutes, so a 401 once a token was accepted means it expired mid-push: a new one
    /// is fetched, and the request sent once more.
    pub(super) fn send_authorized(
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
    pub(super) fn authenticate(&mut self, challenges: &[Challenge]) -> anyhow::Result<()> {
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
                crate::json_error_shape(&err)
            )
        })?;
        token
            .token
            .or(token.access_token)
            .filter(|t| !t.is_empty())
            .with_context(|| format!("{realm} sent an empty token"))
    }
}

/// The challenges of a 401.
pub(super) fn challenges(response: &Response<Body>) -> Vec<Challenge> {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(parse_challenge)
        .collect()
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
