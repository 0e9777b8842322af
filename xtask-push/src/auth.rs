//! Registry credentials, found where podman, skopeo and docker keep them.
//!
//! Search order (that of containers/image `pkg/docker/config`): `REGISTRY_AUTH_FILE` alone when it
//! is set; otherwise `$XDG_RUNTIME_DIR/containers/auth.json`, `$XDG_CONFIG_HOME/containers/auth.json`
//! (`~/.config/…`), then `$DOCKER_CONFIG/config.json` (`~/.docker/config.json`). In each file a
//! `credHelpers` entry for the registry wins, then `auths` (most specific repository key first),
//! then the file's `credsStore` helper. Hosts compare case-insensitively, as DNS names do.
//!
//! An `auths` entry with no `auth`, `identitytoken` or username and password is only a marker that the
//! `credsStore` holds the login (what Docker Desktop writes: `{"auths":{"HOST":{}},"credsStore":"desktop"}`);
//! docker/cli's `GetCredentialsStore` (cli/config/configfile/file.go) asks the store then, and so does push.

use std::{
    collections::BTreeMap,
    env, fs,
    io::Write,
    os::unix::process::CommandExt as _,
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use base64::Engine as _;
use serde::Deserialize;

use xtask::child::{kill_group, reader, wait_until};
use xtask::untrusted::printable;

/// A user name and secret, and where they came from (for messages; never the secret).
#[derive(Clone)]
pub(crate) struct Credentials {
    pub(crate) username: String,
    pub(crate) secret: String,
    /// `secret` is an OAuth2 refresh token (`identitytoken`, or a helper's `<token>` user, as `docker login`
    /// stores for Azure Container Registry): it is exchanged at the token service, never sent as a password.
    pub(crate) identity_token: bool,
    /// E.g. `auths["quay.io"] in /home/me/.docker/config.json`.
    pub(crate) source: String,
}

/// The outcome of a credential search.
pub(crate) struct Lookup {
    pub(crate) credentials: Option<Credentials>,
    /// Every place looked at, in order, for the "no credentials" message.
    pub(crate) searched: Vec<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "user `{}` from {}", self.username, self.source)
    }
}

/// Credentials given on the command line: `--username` with the password on standard input.
pub(crate) fn from_flags(username: &str, password: &str) -> Credentials {
    Credentials {
        username: username.to_owned(),
        secret: password.trim_end_matches(['\n', '\r']).to_owned(),
        identity_token: false,
        source: "--username/--password-stdin".to_owned(),
    }
}

/// Searches the auth files for `registry` (as written in the reference) and `repository`.
pub(crate) fn find(registry: &str, repository: &str) -> anyhow::Result<Lookup> {
    let mut searched = Vec::new();
    for path in auth_files() {
        searched.push(path.display().to_string());
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
        };
        let file: AuthFile = serde_json::from_str(&text).map_err(|err| {
            anyhow::anyhow!(
                "{} is not a valid auth file: {}; it holds JSON with `auths` (host → {{\"auth\": \"BASE64\"}}, \
                 every value a string), `credHelpers` (host → helper name) and `credsStore` (a helper name); \
                 log in again (`podman login`) or fix the file",
                path.display(),
                super::json_error_shape(&err)
            )
        })?;
        if let Some(found) = file.lookup(registry, repository, &path.display().to_string())? {
            return Ok(Lookup {
                credentials: Some(found),
                searched,
            });
        }
    }
    Ok(Lookup {
        credentials: None,
        searched,
    })
}

/// The auth files to search, in order.
fn auth_files() -> Vec<PathBuf> {
    if let Some(file) = env::var_os("REGISTRY_AUTH_FILE").filter(|v| !v.is_empty()) {
        return vec![PathBuf::from(file)];
    }
    let home = env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let mut files = Vec::new();
    if let Some(runtime) = env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        files.push(PathBuf::from(runtime).join("containers/auth.json"));
    }
    let config_home = env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".config"));
    files.push(config_home.join("containers/auth.json"));
    match env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(dir) => files.push(PathBuf::from(dir).join("config.json")),
        None => files.push(home.join(".docker/config.json")),
    }
    files
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperReply {
    username: String,
    secret: String,
}

impl AuthFile {
    fn lookup(
        &self,
        registry: &str,
        repository: &str,
        file: &str,
    ) -> anyhow::Result<Option<Credentials>> {
        let helper_key = helper_server(registry);
        let helper = self
            .cred_helpers
            .iter()
            .find(|(key, _)| {
                key.eq_ignore_ascii_case(registry) || key.eq_ignore_ascii_case(&helper_key)
            })
            .map(|(_, helper)| helper);
        if let Some(helper) = helper {
            return run_helper(helper, &helper_key, file);
        }
        for key in candidate_keys(registry, repository) {
            let found = self
                .auths
                .iter()
                .find(|(k, entry)| same_key(k, &key) && entry.holds_credentials());
            if let Some((k, entry)) = found {
                return entry
                    .credentials(&format!("auths[\"{k}\"] in {file}"))
                    .map(Some);
            }
        }
        // Legacy spellings: `https://quay.io`, `https://index.docker.io/v1/`…
        for (key, entry) in self.auths.iter().filter(|(_, e)| e.holds_credentials()) {
            let host = normalize_key(key);
            if host.eq_ignore_ascii_case(registry)
                || (registry == "docker.io" && host.eq_ignore_ascii_case("index.docker.io"))
            {
                return entry
                    .credentials(&format!("auths[\"{key}\"] in {file}"))
                    .map(Some);
            }
        }
        match &self.creds_store {
            Some(helper) if !helper.is_empty() => run_helper(helper, &helper_key, file),
            _ => Ok(None),
        }
    }
}

/// An `auths` key against `host/repo/…`: the host part without regard to case, the path exactly.
fn same_key(key: &str, wanted: &str) -> bool {
    let split = |k: &str| match k.split_once('/') {
        Some((host, path)) => (host.to_owned(), Some(path.to_owned())),
        None => (k.to_owned(), None),
    };
    let (host, path) = split(key);
    let (wanted_host, wanted_path) = split(wanted);
    host.eq_ignore_ascii_case(&wanted_host) && path == wanted_path
}

impl AuthEntry {
    /// Whether the entry holds a login of its own, rather than marking one kept by `credsStore`.
    fn holds_credentials(&self) -> bool {
        let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
        set(&self.auth)
            || set(&self.identitytoken)
            || (set(&self.username) && self.password.is_some())
    }

    fn credentials(&self, source: &str) -> anyhow::Result<Credentials> {
        // docker and containers/image prefer the identity token; `auth` then holds a placeholder user.
        if let Some(token) = self.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            let auth_user = self
                .auth
                .as_deref()
                .and_then(|a| {
                    base64::engine::general_purpose::STANDARD
                        .decode(a.trim())
                        .ok()
                })
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|pair| Some(pair.split_once(':')?.0.to_owned()));
            return Ok(Credentials {
                username: (self.username.clone().or(auth_user))
                    .unwrap_or_else(|| "<token>".to_owned()),
                secret: token.to_owned(),
                identity_token: true,
                source: format!("{source} (identity token)"),
            });
        }
        if let Some(auth) = self.auth.as_deref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .with_context(|| format!("{source}: `auth` is not base64 of `user:password`"))?;
            let Some((username, secret)) = decoded.split_once(':') else {
                bail!("{source}: `auth` decodes to no `user:password` pair");
            };
            return Ok(Credentials {
                username: username.to_owned(),
                secret: secret.to_owned(),
                identity_token: false,
                source: source.to_owned(),
            });
        }
        if let (Some(username), Some(password)) = (&self.username, &self.password) {
            return Ok(Credentials {
                username: username.clone(),
                secret: password.clone(),
                identity_token: false,
                source: source.to_owned(),
            });
        }
        bail!("{source} holds no `auth` value; log in again (`podman login`)")
    }
}

/// Keys an `auths` map may use for this repository, most specific first.
fn candidate_keys(registry: &str, repository: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut path = format!("{registry}/{repository}");
    loop {
        keys.push(path.clone());
        match path.rsplit_once('/') {
            Some((parent, _)) => path = parent.to_owned(),
            None => break,
        }
    }
    keys
}

/// `https://quay.io/v1/` → `quay.io`.
fn normalize_key(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

/// What a credential helper is asked for: Docker Hub keeps its historic index URL.
fn helper_server(registry: &str) -> String {
    if registry == "docker.io" {
        "https://index.docker.io/v1/".to_owned()
    } else {
        registry.to_owned()
    }
}

/// How long a credential helper may take (a keychain may ask the user to unlock it) unless
/// `XTASK_CREDENTIAL_HELPER_TIMEOUT` (seconds) says otherwise.
const HELPER_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `docker-credential-<helper> get` with the server on standard input. Its standard output can
/// hold a secret even when it fails, so messages quote only its standard error.
///
/// The helper runs in a process group of its own, and the timeout covers its output pipes as well as its
/// exit: whatever it started is killed with it, so a child left holding the pipes cannot keep push waiting.
fn run_helper(helper: &str, server: &str, file: &str) -> anyhow::Result<Option<Credentials>> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .with_context(|| {
            format!("{file} names the credential helper `{helper}`, but `{program}` cannot be run")
        })?;
    let mut stdin = child.stdin.take().context("helper stdin")?;
    // A helper that never reads its input must not block us before the timeout can act.
    let server_name = server.to_owned();
    std::thread::spawn(move || stdin.write_all(server_name.as_bytes()));
    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());
    let timeout = helper_timeout()?;
    let deadline = Instant::now() + timeout;
    let stopped = || {
        anyhow::anyhow!(
            "`{program} get` for {server} gave no answer within {} s and was stopped; check the helper \
             (named in {file}), or give it longer with XTASK_CREDENTIAL_HELPER_TIMEOUT=SECONDS",
            timeout.as_secs()
        )
    };
    let Some(status) = wait_until(&mut child, deadline)? else {
        kill_group(&mut child);
        return Err(stopped());
    };
    // The helper has answered: anything it left running in its group is stopped, which closes the pipes.
    kill_group(&mut child);
    let (Some(stdout), Some(stderr)) = (stdout.until(deadline), stderr.until(deadline)) else {
        return Err(stopped());
    };
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    if !status.success() {
        if stdout.contains("credentials not found") {
            return Ok(None);
        }
        bail!(
            "`{program} get` for {server} failed ({status}): {}",
            printable(&stderr)
        );
    }
    let reply: HelperReply = serde_json::from_str(&stdout).map_err(|err| {
        anyhow::anyhow!(
            "`{program} get` did not print {{\"Username\", \"Secret\"}} JSON with string values ({}); \
             check the helper (named in {file})",
            super::json_error_shape(&err)
        )
    })?;
    Ok(Some(Credentials {
        // The credential-helper protocol marks an identity token with the user name `<token>`.
        identity_token: reply.username == "<token>",
        username: reply.username,
        secret: reply.secret,
        source: format!("credential helper `{program}` (from {file})"),
    }))
}

fn helper_timeout() -> anyhow::Result<Duration> {
    xtask::child::timeout_from_env("XTASK_CREDENTIAL_HELPER_TIMEOUT", HELPER_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(json: &str) -> AuthFile {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_most_specific_auths_key_wins() {
        let f = file(
            r#"{"auths": {"quay.io": {"auth": "dXNlcjpob3N0"},
                          "quay.io/team": {"auth": "dXNlcjp0ZWFt"}}}"#,
        );
        let found = f.lookup("quay.io", "team/x", "auth.json").unwrap().unwrap();
        assert_eq!(
            (found.username.as_str(), found.secret.as_str()),
            ("user", "team")
        );
        assert_eq!(found.source, "auths[\"quay.io/team\"] in auth.json");
        let found = f
            .lookup("quay.io", "other/x", "auth.json")
            .unwrap()
            .unwrap();
        assert_eq!(found.secret, "host");
        assert!(
            f.lookup("ghcr.io", "team/x", "auth.json")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn legacy_url_keys_match_their_host() {
        let f = file(r#"{"auths": {"https://index.docker.io/v1/": {"auth": "YTpi"}}}"#);
        let found = f
            .lookup("docker.io", "library/x", "config.json")
            .unwrap()
            .unwrap();
        assert_eq!((found.username.as_str(), found.secret.as_str()), ("a", "b"));
    }

    #[test]
    fn an_identity_token_wins_over_the_placeholder_auth_and_keeps_its_user_for_messages() {
        let f = file(
            r#"{"auths": {"acr.example.io": {"auth": "MDAwMDA6", "identitytoken": "refresh"}}}"#,
        );
        let c = f
            .lookup("acr.example.io", "t/x", "/h/auth.json")
            .unwrap()
            .unwrap();
        assert!(c.identity_token);
        assert_eq!(
            (c.username.as_str(), c.secret.as_str()),
            ("00000", "refresh")
        );
        assert_eq!(
            c.source,
            "auths[\"acr.example.io\"] in /h/auth.json (identity token)"
        );
        let plain = file(r#"{"auths": {"quay.io": {"auth": "dTpw"}}}"#);
        let c = plain.lookup("quay.io", "t/x", "/h").unwrap().unwrap();
        assert!(!c.identity_token);
    }

    #[test]
    fn a_broken_entry_names_the_file_and_key() {
        let f = file(r#"{"auths": {"quay.io": {"auth": "!!!"}}}"#);
        let err = f
            .lookup("quay.io", "t/x", "/h/auth.json")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "auths[\"quay.io\"] in /h/auth.json: `auth` is not base64 of `user:password`"
        );
    }

    #[test]
    fn hosts_match_whatever_their_case() {
        let f = file(
            r#"{"auths": {"Quay.IO": {"auth": "dTpob3N0"}, "QUAY.io/Team": {"auth": "dTp0ZWFt"},
                          "https://Registry.Example/v1/": {"auth": "dTpsZWdhY3k="}}}"#,
        );
        let found = f.lookup("quay.io", "t/x", "a.json").unwrap().unwrap();
        assert_eq!(found.secret, "host");
        assert_eq!(found.source, "auths[\"Quay.IO\"] in a.json");
        // The repository path is not a host: its case is kept.
        let found = f.lookup("quay.io", "team/x", "a.json").unwrap().unwrap();
        assert_eq!(found.secret, "host");
        let found = f.lookup("quay.io", "Team/x", "a.json").unwrap().unwrap();
        assert_eq!(found.secret, "team");
        let found = f
            .lookup("registry.example", "t/x", "a.json")
            .unwrap()
            .unwrap();
        assert_eq!(found.secret, "legacy");
    }

    #[test]
    fn an_entry_without_a_login_is_a_marker_for_the_store() {
        // No `credsStore`: the marker finds nothing, where it used to be an error.
        let f = file(r#"{"auths": {"quay.io": {}, "ghcr.io": {"auth": ""}}}"#);
        assert!(f.lookup("quay.io", "t/x", "a.json").unwrap().is_none());
        assert!(f.lookup("ghcr.io", "t/x", "a.json").unwrap().is_none());
        // A marker on the repository does not hide the host's login.
        let f = file(r#"{"auths": {"quay.io/t": {}, "quay.io": {"auth": "dTpob3N0"}}}"#);
        let found = f.lookup("quay.io", "t/x", "a.json").unwrap().unwrap();
        assert_eq!(found.secret, "host");
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let c = from_flags("alice", "s3cret\n");
        assert_eq!(c.secret, "s3cret");
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
