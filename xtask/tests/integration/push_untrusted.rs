//! `cargo xtask push` against what it cannot trust: registries and token services that misbehave (each a
//! scripted server on loopback, `push_support::fake`, that records every request, so the tests can assert
//! that no `Authorization` header ever left the registry's origin), credential helpers that hang or fail
//! with a secret on their output, and a password typed at a terminal.

use crate::push_support;
use crate::support;

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use push_support::{
    Workdir, certificates,
    fake::{FakeServer, Reply, Seen, Tls},
    layout_manifest,
};

const REPO: &str = "wasm/header-append";
const USER: &str = "alice";
const PASSWORD: &str = "s3cret";
/// The only bearer token the fake registries accept.
const TOKEN: &str = "fake-token";
/// The token a registry with `token_expires_after` takes once [`TOKEN`] has expired.
const SECOND_TOKEN: &str = "fake-token-2";

/// How a fake registry behaves; the defaults are those of a well-behaved registry with Basic auth.
#[derive(Clone)]
struct Script {
    /// The `WWW-Authenticate` value of a 401.
    challenge: String,
    /// The answer to an authorized `GET /v2/`.
    ping: Reply,
    /// The upload POST's status.
    upload_status: u16,
    /// Where the upload continues; `None` sends no Location. `{self}` is replaced by the registry's origin.
    upload_location: Option<String>,
    /// The digest the registry says it stored a blob under, instead of the one sent.
    stored_blob_digest: Option<String>,
    /// The answer to HEAD on the tag; `None` is 404.
    tag_head: Option<Reply>,
    /// The answer to GET on the tag; `None` is 404.
    tag_get: Option<Reply>,
    /// The digest the registry says it stored the manifest under, instead of the one sent.
    stored_manifest_digest: Option<String>,
    /// [`TOKEN`] stops being accepted after this many requests it authorized; [`SECOND_TOKEN`] is then.
    token_expires_after: Option<usize>,
}

impl Default for Script {
    fn default() -> Script {
        Script {
            challenge: r#"Basic realm="fake""#.to_owned(),
            ping: Reply::status(200),
            upload_status: 202,
            upload_location: Some("{self}/v2/wasm/header-append/blobs/uploads/1".to_owned()),
            stored_blob_digest: None,
            tag_head: None,
            tag_get: None,
            stored_manifest_digest: None,
            token_expires_after: None,
        }
    }
}

fn basic() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    )
}

/// Starts a fake registry that follows `script`.
fn fake_registry(ip: &str, tls: Option<Tls>, script: Script) -> FakeServer {
    let origin = Arc::new(Mutex::new(String::new()));
    let own = Arc::clone(&origin);
    let first_token_uses = AtomicUsize::new(0);
    let server = FakeServer::start(ip, tls, move |seen: &Seen| {
        let first_token = seen.header("authorization") == Some(&format!("Bearer {TOKEN}"));
        let expired = first_token
            && script
                .token_expires_after
                .is_some_and(|uses| first_token_uses.fetch_add(1, Ordering::SeqCst) >= uses);
        let authorized = !expired
            && matches!(seen.header("authorization"),
            Some(value) if value == basic() || value == format!("Bearer {TOKEN}")
                || (script.token_expires_after.is_some() && value == format!("Bearer {SECOND_TOKEN}")));
        if !authorized {
            return Reply::status(401).header("WWW-Authenticate", &script.challenge);
        }
        let path = seen.path();
        match seen.method.as_str() {
            "GET" if path == "/v2/" => script.ping.clone(),
            "HEAD" if path.contains("/manifests/") => {
                script.tag_head.clone().unwrap_or(Reply::status(404))
            }
            "GET" if path.contains("/manifests/") => {
                script.tag_get.clone().unwrap_or(Reply::status(404))
            }
            "HEAD" if path.contains("/blobs/") => Reply::status(404),
            "POST" if path.ends_with("/blobs/uploads/") => {
                let reply = Reply::status(script.upload_status);
                match &script.upload_location {
                    Some(location) => reply.header(
                        "Location",
                        &location.replace("{self}", &own.lock().unwrap()),
                    ),
                    None => reply,
                }
            }
            "PUT" if path.contains("/blobs/uploads/") => {
                let digest = script
                    .stored_blob_digest
                    .clone()
                    .or_else(|| seen.query("digest"))
                    .unwrap_or_default();
                Reply::status(201).header("Docker-Content-Digest", &digest)
            }
            "PUT" if path.contains("/manifests/") => {
                let digest = script
                    .stored_manifest_digest
                    .clone()
                    .unwrap_or_else(|| format!("sha256:{:x}", Sha256::digest(&seen.body)));
                Reply::status(201).header("Docker-Content-Digest", &digest)
            }
            _ => Reply::status(400),
        }
    });
    *origin.lock().unwrap() = server.origin.clone();
    server
}

/// A host that is not the registry: answers `reply` to everything and records what reached it.
fn other_host(ip: &str, tls: Option<Tls>, reply: Reply) -> FakeServer {
    FakeServer::start(ip, tls, move |_| reply.clone())
}

/// An upload PUT that a storage host accepts: 201 with the digest it was given.
fn storage_host(ip: &str, tls: Option<Tls>) -> FakeServer {
    FakeServer::start(ip, tls, |seen: &Seen| {
        Reply::status(201).header(
            "Docker-Content-Digest",
            &seen.query("digest").unwrap_or_default(),
        )
    })
}

/// `push --username alice --password-stdin` to `registry`, with extra flags.
fn push(work: &Workdir, registry: &FakeServer, tag: &str, flags: &[&str]) -> push_support::Run {
    let image = format!("{}/{REPO}:{tag}", registry.address);
    let mut args = vec![
        "push",
        "--image",
        &image,
        "--username",
        USER,
        "--password-stdin",
    ];
    args.extend_from_slice(flags);
    work.xtask(&args, &[], PASSWORD)
}

/// The certificates for the TLS cases (a CA and a server certificate for 127.0.0.1 and 127.0.0.2),
/// or `None` when openssl is missing (said loudly; a failure under CI=true).
fn tls_files(work: &Workdir) -> Option<(PathBuf, PathBuf, PathBuf)> {
    support::tool("openssl", "openssl")?;
    Some(certificates(&work.dir))
}

fn assert_no_credentials(server: &FakeServer, what: &str) {
    let leaked = server.authorized();
    assert!(
        leaked.is_empty(),
        "credentials reached {what} {}: {leaked:?}",
        server.origin
    );
}

#[test]
fn an_upload_location_on_another_port_gets_the_blob_but_never_the_credentials() {
    let work = Workdir::new("fake-location-port");
    let catcher = other_host("127.0.0.1", None, Reply::status(401));
    let registry = fake_registry(
        "127.0.0.1",
        None,
        Script {
            upload_location: Some(format!("{}/upload/1", catcher.origin)),
            ..Script::default()
        },
    );
    let err = push(&work, &registry, "port", &["--insecure"]).fails();
    assert!(
        err.contains(&format!("sent the upload to {}", catcher.origin))
            && err.contains("another origin, which answered 401 Unauthorized")
            && err.contains("push sends credentials only to http://127.0.0.1:"),
        "{err}"
    );
    let reached = catcher.seen();
    assert_eq!(
        reached
            .iter()
            .map(|s| s.method.as_str())
            .collect::<Vec<_>>(),
        ["PUT"],
        "the blob went to the Location: {reached:?}"
    );
    assert_no_credentials(&catcher, "the upload host");
    assert!(
        !registry.authorized().is_empty(),
        "the registry itself got the credentials"
    );
}

#[test]
fn an_upload_location_over_plain_http_on_another_host_is_refused() {
    let work = Workdir::new("fake-location-host");
    let catcher = other_host("127.0.0.2", None, Reply::status(201));
    let registry = fake_registry(
        "127.0.0.1",
        None,
        Script {
            upload_location: Some(format!("{}/upload/1", catcher.origin)),
            ..Script::default()
        },
    );
    let err = push(&work, &registry, "host", &["--insecure"]).fails();
    assert!(
        err.contains(
            "push will not send it there: it is plain HTTP on another host than the registry"
        ) && err.contains("--insecure covers only the registry's host"),
        "{err}"
    );
    assert!(catcher.seen().is_empty(), "nothing reached the other host");
}

#[test]
fn an_https_registry_never_continues_an_upload_over_plain_http() {
    let work = Workdir::new("fake-downgrade");
    let Some((ca, cert, key)) = tls_files(&work) else {
        return;
    };
    let catcher = other_host("127.0.0.1", None, Reply::status(201));
    let registry = fake_registry(
        "127.0.0.1",
        Some(Tls {
            cert: &cert,
            key: &key,
        }),
        Script {
            upload_location: Some(format!("{}/upload/1", catcher.origin)),
            ..Script::default()
        },
    );
    let ca = ca.to_str().unwrap();
    let err = push(&work, &registry, "downgrade", &["--ca-cert", ca]).fails();
    assert!(
        err.contains(&format!(
            "and push will not send it there: it is plain HTTP, while the registry {} is HTTPS",
            registry.origin
        )),
        "{err}"
    );
    assert!(catcher.seen().is_empty(), "nothing went out in clear text");
}

#[test]
fn an_https_upload_location_on_another_host_takes_the_blobs_without_credentials() {
    let work = Workdir::new("fake-storage");
    let Some((ca, cert, key)) = tls_files(&work) else {
        return;
    };
    let storage = storage_host(
        "127.0.0.2",
        Some(Tls {
            cert: &cert,
            key: &key,
        }),
    );
    let registry = fake_registry(
        "127.0.0.1",
        Some(Tls {
            cert: &cert,
            key: &key,
        }),
        Script {
            upload_location: Some(format!("{}/upload/1?state=abc", storage.origin)),
            ..Script::default()
        },
    );
    let (digest, manifest) = layout_manifest(&work.layout());
    let blobs = serde_json::from_slice::<serde_json::Value>(&manifest).unwrap()["layers"]
        .as_array()
        .unwrap()
        .len()
        + 1;
    let ca = ca.to_str().unwrap();
    let out = push(&work, &registry, "storage", &["--ca-cert", ca]).ok();
    assert!(out.trim().ends_with(&format!("@{digest}")), "{out}");
    let puts = storage.seen();
    assert_eq!(
        puts.len(),
        blobs,
        "every blob went to the storage host: {puts:?}"
    );
    assert!(
        puts.iter()
            .all(|s| s.method == "PUT" && s.query("state").as_deref() == Some("abc"))
    );
    assert_no_credentials(&storage, "the storage host");
}

#[test]
fn a_token_service_over_plain_http_on_another_host_is_never_sent_credentials() {
    let work = Workdir::new("fake-realm-http");
    let token = other_host(
        "127.0.0.2",
        None,
        Reply::status(200).body(format!(r#"{{"token":"{TOKEN}"}}"#)),
    );
    let registry = fake_registry(
        "127.0.0.1",
        None,
        Script {
            challenge: format!(r#"Bearer realm="{}/token",service="fake""#, token.origin),
            ..Script::default()
        },
    );
    let err = push(&work, &registry, "realm", &["--insecure"]).fails();
    assert!(
        err.contains(&format!("names the token service {}/token, and push will not send credentials there: it is plain HTTP on another host", token.origin)),
        "{err}"
    );
    assert!(token.seen().is_empty(), "the token service was not asked");
}

#[test]
fn insecure_does_not_reach_a_token_service_on_another_host() {
    let work = Workdir::new("fake-realm-insecure");
    let Some((_ca, cert, key)) = tls_files(&work) else {
        return;
    };
    // The token service's certificate is signed by the test CA, which the client is not told about:
    // only --insecure would accept it, and --insecure is for the registry's host alone.
    let token = other_host(
        "127.0.0.2",
        Some(Tls {
            cert: &cert,
            key: &key,
        }),
        Reply::status(200).body(format!(r#"{{"token":"{TOKEN}"}}"#)),
    );
    let registry = fake_registry(
        "127.0.0.1",
        Some(Tls {
            cert: &cert,
            key: &key,
        }),
        Script {
            challenge: format!(r#"Bearer realm="{}/token",service="fake""#, token.origin),
            ..Script::default()
        },
    );
    let err = push(&work, &registry, "realm", &["--insecure"]).fails();
    assert!(
        err.contains(&format!(
            "cannot reach the token service {}/token",
            token.origin
        )) && err.to_lowercase().contains("certificate"),
        "{err}"
    );
    assert!(
        token.seen().is_empty(),
        "no request got past the TLS handshake"
    );
}

#[test]
fn a_token_reply_that_is_not_json_is_named() {
    let work = Workdir::new("fake-token-garbage");
    let token = other_host(
        "127.0.0.1",
        None,
        Reply::status(200).body("<html>sign in</html>"),
    );
    let registry = fake_registry(
        "127.0.0.1",
        None,
        Script {
            challenge: format!(r#"Bearer realm="{}/token",service="fake""#, token.origin),
            ..Script::default()
        },
    );
    let err = push(&work, &registry, "garbage", &["--insecure"]).fails();
    assert!(
        err.contains(&format!("{}/token sent no token JSON", token.origin)),
        "{err}"
    );
    assert!(!token.seen().is_empty());
}

#[test]
fn garbage_on_v2_is_not_taken_for_a_registry() {
    let work = Workdir::new("fake-v2");
    let registry = FakeServer::start("127.0.0.1", None, |_| {
        Reply::status(404).body("<html>not here</html>")
    });
    let err = push(&work, &registry, "v2", &["--insecure"]).fails();
    assert!(
        err.contains(&format!(
            "{}/v2/ answered 404 Not Found: this does not look like an OCI registry",
            registry.origin
        )),
        "{err}"
    );
    assert_eq!(registry.seen().len(), 1, "nothing but the ping was sent");
}

#[test]
fn an_upload_without_location_is_named() {
    let work = Workdir::new("fake-no-location");
    let registry = fake_registry(
        "127.0.0.1",
        None,
        Script {
            upload_location: None,
            ..Script::default()
        },
    );
    let err = push(&work, &registry, "noloc", &["--insecure"]).fails();
    assert!(
        err.contains("accepted the upload but sent no Location"),
        "{err}"
    );
}

#[test]
fn a_blob_stored_under_another_digest_stops_the_push() {
    let work = Workdir::new("fake-blob-digest");
    let wrong = format!("sha256:{}", "0".repeat(64));
    let registry = fake_registry(
        "127.0.0.1",
        None,
        Script {
            stored_blob_digest: Some(wrong.clone()),
            ..Script::default()
        },
    );
    let err = push(&work, &registry, "blob", &["--insecure"]).fails();
    assert!(
        err.contains(&format!("as {wrong}")) && err.contains("the registry stored"),
        "{err}"
    );
    assert!(
        !registry
            .seen()
            .iter()
            .any(|s| s.method == "PUT" && s.path().contains("/manifests/")),
        "no manifest was tagged"
    );
}

#[test]
fn a_tag_head_without_digest_is_hashed_from_the_manifest_and_its_status_checked() {
    let work = Workdir::new("fake-head");
    let (digest, manifest) = layout_manifest(&work.layout());
    let registry = fake_registry(
        "127.0.0.1",
        None,
        Script {
            tag_head: Some(Reply::status(200)),
            tag_get: Some(Reply::status(200).body(manifest)),
            ..Script::default()
        },
    );
    let err_or_out = push(&work, &registry, "head", &["--insecure"]);
    let out = err_or_out.ok();
    assert!(out.trim().ends_with(&format!("@{digest}")), "{out}");
    assert!(
        err_or_out.stderr().contains("already points to this image"),
        "{}",
        err_or_out.stderr()
    );

    let broken = fake_registry(
        "127.0.0.1",
        None,
        Script {
            tag_head: Some(Reply::status(200)),
            tag_get: Some(Reply::status(500).body("database is down")),
            ..Script::default()
        },
    );
    let err = push(&work, &broken, "head", &["--insecure"]).fails();
    assert!(
        err.contains("reading the manifest of tag head:")
            && err.contains("answered 500 Internal Server Error: database is down"),
        "{err}"
    );
}

#[test]
fn a_forbidden_upload_says_which_account_was_refused() {
    let work = Workdir::new("fake-403");
    let registry = fake_registry(
        "127.0.0.1",
        None,
        Script {
            upload_status: 403,
            upload_location: None,
            ..Script::default()
        },
    );
    let err = push(&work, &registry, "denied", &["--insecure"]).fails();
    assert!(
        err.contains("denied access to wasm/header-append (403 Forbidden) for user `alice` from --username/--password-stdin"),
        "{err}"
    );
}

#[test]
fn a_manifest_the_registry_rewrote_is_reported() {
    let work = Workdir::new("fake-manifest");
    let rewritten = format!("sha256:{}", "1".repeat(64));
    let registry = fake_registry(
        "127.0.0.1",
        None,
        Script {
            stored_manifest_digest: Some(rewritten.clone()),
            ..Script::default()
        },
    );
    let err = push(&work, &registry, "rewrite", &["--insecure"]).fails();
    assert!(
        err.contains(&format!("stored the manifest as {rewritten}"))
            && err.contains("the registry rewrote it"),
        "{err}"
    );
}

/// Installs `docker-credential-xtasktest` with `script` as its body and names it in the test's auth
/// file for `registry`; returns the PATH that finds it.
fn credential_helper(work: &Workdir, registry: &str, script: &str) -> String {
    let path = install_helper(work, script);
    fs::write(
        &work.auth_file,
        format!(r#"{{"credHelpers": {{"{registry}": "xtasktest"}}}}"#),
    )
    .unwrap();
    path
}

#[test]
fn a_credential_helper_that_hangs_is_stopped_with_a_message() {
    let work = Workdir::new("helper-hangs");
    let path = credential_helper(&work, "127.0.0.1:1", "exec sleep 60");
    let started = Instant::now();
    let err = work
        .xtask(
            &["push", "--image", "127.0.0.1:1/x/y"],
            &[("PATH", &path), ("XTASK_CREDENTIAL_HELPER_TIMEOUT", "1")],
            "",
        )
        .fails();
    let took = started.elapsed();
    assert!(
        err.contains("`docker-credential-xtasktest get` for 127.0.0.1:1 gave no answer within 1 s and was stopped")
            && err.contains("XTASK_CREDENTIAL_HELPER_TIMEOUT=SECONDS"),
        "{err}"
    );
    eprintln!("hanging helper stopped after {took:?}");
    let err = work
        .xtask(
            &["push", "--image", "127.0.0.1:1/x/y"],
            &[("PATH", &path), ("XTASK_CREDENTIAL_HELPER_TIMEOUT", "soon")],
            "",
        )
        .fails();
    assert!(
        err.contains("XTASK_CREDENTIAL_HELPER_TIMEOUT must be a whole number of seconds above 0, found `soon`"),
        "{err}"
    );
}

#[test]
fn a_failing_credential_helper_shows_its_stderr_escaped_and_never_its_output() {
    let work = Workdir::new("helper-fails");
    let path = credential_helper(
        &work,
        "127.0.0.1:1",
        r#"echo '{"Username":"alice","Secret":"TOPSECRET"}'; printf 'keychain locked\033[2J\n' >&2; exit 3"#,
    );
    let err = work
        .xtask(
            &["push", "--image", "127.0.0.1:1/x/y"],
            &[("PATH", &path)],
            "",
        )
        .fails();
    assert!(
        err.contains("`docker-credential-xtasktest get` for 127.0.0.1:1 failed (exit status: 3): keychain locked\\u{1b}[2J"),
        "{err}"
    );
    assert!(
        !err.contains("TOPSECRET"),
        "the helper's output stays private: {err}"
    );
    assert!(
        !err.contains('\u{1b}'),
        "no raw escape reaches the terminal: {err:?}"
    );

    let path = credential_helper(&work, "127.0.0.1:1", "echo 'Secret: TOPSECRET'");
    let err = work
        .xtask(
            &["push", "--image", "127.0.0.1:1/x/y"],
            &[("PATH", &path)],
            "",
        )
        .fails();
    assert!(
        err.contains(
            "`docker-credential-xtasktest get` did not print {\"Username\", \"Secret\"} JSON"
        ),
        "{err}"
    );
    assert!(!err.contains("TOPSECRET"), "{err}");
}

#[test]
fn password_stdin_refuses_a_terminal() {
    if support::tool("script", "bsdutils").is_none() {
        return;
    }
    let work = Workdir::new("password-tty");
    // `script` gives the command a pseudo-terminal as its standard input.
    let command = format!(
        "{} push --image 127.0.0.1:1/x/y --username alice --password-stdin",
        env!("CARGO_BIN_EXE_xtask")
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(&work.dir)
        .env("CARGO_TARGET_DIR", &work.target)
        .env("XTASK_PUSH", push_support::push_client())
        .env("REGISTRY_AUTH_FILE", &work.auth_file)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{shown}");
    assert!(
        shown.contains(
            "--password-stdin reads the password from a pipe, and standard input is a terminal"
        ),
        "{shown}"
    );
}

#[test]
fn a_registry_error_body_is_escaped_and_cut() {
    let work = Workdir::new("fake-error-body");
    let broken = FakeServer::start("127.0.0.1", None, {
        let page = format!("storage full\u{1b}]0;owned\u{7}{}", "x".repeat(5000));
        move |seen: &Seen| {
            if seen.path() == "/v2/" {
                Reply::status(200)
            } else if seen.method == "HEAD" {
                Reply::status(404)
            } else {
                Reply::status(500).body(page.clone())
            }
        }
    });
    let err = push(&work, &broken, "body", &["--insecure"]).fails();
    assert!(
        err.contains("answered 500 Internal Server Error: storage full\\u{1b}]0;owned\\u{7}xxx"),
        "{err}"
    );
    assert!(err.contains(" […]") && err.len() < 2000, "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
}

/// Installs `docker-credential-xtasktest` with `script` as its body; returns the PATH that finds it.
fn install_helper(work: &Workdir, script: &str) -> String {
    let bin = work.dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-xtasktest");
    fs::write(&helper, format!("#!/bin/sh\n{script}\n")).unwrap();
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
}

/// `push` to `registry` with the test's auth file and `PATH`, no `--username`.
fn push_with_auth_file(
    work: &Workdir,
    registry: &FakeServer,
    path: &str,
    envs: &[(&str, &str)],
) -> push_support::Run {
    let image = format!("{}/{REPO}:helper", registry.address);
    let mut envs = envs.to_vec();
    envs.push(("PATH", path));
    work.xtask(&["push", "--image", &image, "--insecure"], &envs, "")
}

/// Whether process `pid` is gone (or a zombie waiting for its reaper, which runs nothing).
fn process_is_gone(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

fn wait_until_gone(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if process_is_gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn read_pid(file: &Path) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(text) = fs::read_to_string(file)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "{} was never written",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_credential_helper_reply_of_the_wrong_type_is_described_without_its_text() {
    let work = Workdir::new("helper-wrong-type");
    let path = credential_helper(
        &work,
        "127.0.0.1:1",
        r#"echo '{"Username":"alice","Secret":31415926535}'"#,
    );
    let err = work
        .xtask(
            &["push", "--image", "127.0.0.1:1/x/y"],
            &[("PATH", &path)],
            "",
        )
        .fails();
    assert!(
        err.contains("`docker-credential-xtasktest get` did not print {\"Username\", \"Secret\"} JSON with string values (a value of the wrong type, or a required field missing at line 1, column "),
        "{err}"
    );
    assert!(
        !err.contains("31415926535"),
        "the secret stays private: {err}"
    );
}

#[test]
fn an_auth_file_field_of_the_wrong_type_is_described_without_its_text() {
    let work = Workdir::new("auth-file-wrong-type");
    fs::write(
        &work.auth_file,
        r#"{"auths": {"127.0.0.1:1": {"username": "alice", "password": 27182818284}}}"#,
    )
    .unwrap();
    let err = work
        .xtask(&["push", "--image", "127.0.0.1:1/x/y"], &[], "")
        .fails();
    assert!(
        err.contains(&format!(
            "{} is not a valid auth file: a value of the wrong type, or a required field missing at line 1, column ",
            work.auth_file.display()
        )) && err.contains("every value a string"),
        "{err}"
    );
    assert!(
        !err.contains("27182818284"),
        "the secret stays private: {err}"
    );
}

#[test]
fn an_empty_auths_entry_asks_the_creds_store_as_docker_desktop_expects() {
    let work = Workdir::new("helper-desktop");
    let registry = fake_registry("127.0.0.1", None, Script::default());
    let path = install_helper(
        &work,
        &format!(r#"echo '{{"Username":"{USER}","Secret":"{PASSWORD}"}}'"#),
    );
    fs::write(
        &work.auth_file,
        format!(
            r#"{{"auths": {{"{}": {{}}}}, "credsStore": "xtasktest"}}"#,
            registry.address
        ),
    )
    .unwrap();
    let (digest, _) = layout_manifest(&work.layout());
    let out = push_with_auth_file(&work, &registry, &path, &[]).ok();
    assert!(out.trim().ends_with(&format!("@{digest}")), "{out}");
    assert!(
        registry
            .authorized()
            .iter()
            .all(|s| s.header("authorization") == Some(basic().as_str())),
        "the store's login was used"
    );
}

#[test]
fn a_credential_helper_that_leaves_a_child_on_its_output_does_not_hold_the_push() {
    let work = Workdir::new("helper-child");
    let registry = fake_registry("127.0.0.1", None, Script::default());
    let pid_file = work.dir.join("child.pid");
    let path = credential_helper(
        &work,
        &registry.address,
        &format!(
            r#"sh -c 'echo $$ > {0}; exec sleep 100' &
while [ ! -s {0} ]; do sleep 0.05; done
echo '{{"Username":"{USER}","Secret":"{PASSWORD}"}}'"#,
            pid_file.display()
        ),
    );
    let started = Instant::now();
    let run = push_with_auth_file(&work, &registry, &path, &[]);
    let took = started.elapsed();
    let child = read_pid(&pid_file);
    let gone = wait_until_gone(child);
    if !gone {
        // Not left behind for the next test run.
        let _ = Command::new("kill").arg(child.to_string()).status();
    }
    run.ok();
    assert!(
        took < Duration::from_secs(30),
        "the push waited {took:?} for the helper's child"
    );
    assert!(gone, "the helper's child {child} was stopped with it");
}

#[test]
fn a_credential_helper_that_hangs_is_stopped_with_everything_it_started() {
    let work = Workdir::new("helper-group");
    let pid_file = work.dir.join("child.pid");
    let path = credential_helper(
        &work,
        "127.0.0.1:1",
        &format!(
            "sh -c 'echo $$ > {}; exec sleep 100' &\nexec sleep 100",
            pid_file.display()
        ),
    );
    let started = Instant::now();
    let err = work
        .xtask(
            &["push", "--image", "127.0.0.1:1/x/y"],
            &[("PATH", &path), ("XTASK_CREDENTIAL_HELPER_TIMEOUT", "1")],
            "",
        )
        .fails();
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        err.contains("gave no answer within 1 s and was stopped"),
        "{err}"
    );
    let child = read_pid(&pid_file);
    let gone = wait_until_gone(child);
    if !gone {
        let _ = Command::new("kill").arg(child.to_string()).status();
    }
    assert!(gone, "the helper's child {child} was stopped with it");
}

#[test]
fn a_registry_that_stops_answering_is_given_up_on() {
    let work = Workdir::new("fake-slow");
    // Fails within a few receive timeouts of 2 s, with the registry named and the way to wait longer.
    let given_up = |registry: &FakeServer| {
        let image = format!("{}/{REPO}:slow", registry.address);
        let started = Instant::now();
        let err = work.xtask(
            &[
                "push",
                "--image",
                &image,
                "--username",
                USER,
                "--password-stdin",
                "--insecure",
            ],
            &[("XTASK_REGISTRY_TIMEOUT", "2")],
            PASSWORD,
        );
        let took = started.elapsed();
        let err = err.fails();
        assert!(
            err.contains(&format!(
                "{} kept push waiting longer than 2 s",
                registry.origin
            )) && err.contains("XTASK_REGISTRY_TIMEOUT=SECONDS"),
            "{err}"
        );
        assert!(took < Duration::from_secs(15), "took {took:?}");
    };
    // No answer at all.
    given_up(&fake_registry(
        "127.0.0.1",
        None,
        Script {
            tag_head: Some(Reply::status(200).stall(0, Duration::from_secs(20))),
            ..Script::default()
        },
    ));
    // Headers, then a body that stops half-way.
    let (_, manifest) = layout_manifest(&work.layout());
    given_up(&fake_registry(
        "127.0.0.1",
        None,
        Script {
            tag_head: Some(Reply::status(200)),
            tag_get: Some(
                Reply::status(200)
                    .body(manifest)
                    .stall(150, Duration::from_secs(20)),
            ),
            ..Script::default()
        },
    ));
}

#[test]
fn a_bearer_token_that_expires_mid_push_is_fetched_again() {
    let work = Workdir::new("fake-token-expiry");
    let issued = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&issued);
    let token = FakeServer::start("127.0.0.1", None, move |_| {
        let token = match count.fetch_add(1, Ordering::SeqCst) {
            0 => TOKEN,
            _ => SECOND_TOKEN,
        };
        Reply::status(200).body(format!(r#"{{"token":"{token}"}}"#))
    });
    let registry = fake_registry(
        "127.0.0.1",
        None,
        Script {
            challenge: format!(r#"Bearer realm="{}/token",service="fake""#, token.origin),
            token_expires_after: Some(3),
            ..Script::default()
        },
    );
    let (digest, _) = layout_manifest(&work.layout());
    let out = push(&work, &registry, "expiry", &["--insecure"]).ok();
    assert!(out.trim().ends_with(&format!("@{digest}")), "{out}");
    assert_eq!(issued.load(Ordering::SeqCst), 2, "one token, then one more");
    let manifest_put = registry
        .seen()
        .into_iter()
        .rfind(|s| s.method == "PUT" && s.path().contains("/manifests/"))
        .expect("the manifest was tagged");
    assert_eq!(
        manifest_put.header("authorization"),
        Some(format!("Bearer {SECOND_TOKEN}").as_str())
    );
}

#[test]
fn a_relative_upload_location_continues_under_the_upload_url() {
    let work = Workdir::new("fake-relative-location");
    let registry = fake_registry(
        "127.0.0.1",
        None,
        Script {
            upload_location: Some("session-1?_state=s".to_owned()),
            ..Script::default()
        },
    );
    let (digest, _) = layout_manifest(&work.layout());
    let out = push(&work, &registry, "relative", &["--insecure"]).ok();
    assert!(out.trim().ends_with(&format!("@{digest}")), "{out}");
    let puts: Vec<Seen> = registry
        .seen()
        .into_iter()
        .filter(|s| s.method == "PUT" && !s.path().contains("/manifests/"))
        .collect();
    assert!(!puts.is_empty());
    assert!(
        puts.iter().all(
            |s| s.path() == format!("/v2/{REPO}/blobs/uploads/session-1")
                && s.query("_state").as_deref() == Some("s")
        ),
        "{puts:?}"
    );
}

#[test]
fn a_mount_from_that_is_no_repository_is_refused_before_anything_is_sent() {
    let work = Workdir::new("fake-mount-from");
    let registry = fake_registry("127.0.0.1", None, Script::default());
    for from in [
        "other/x:push",
        "other/x&from=y",
        "127.0.0.1:5000/other/x",
        "",
    ] {
        let err = push(
            &work,
            &registry,
            "mount",
            &["--insecure", "--mount-from", from],
        )
        .fails();
        assert!(
            err.contains(&format!("--mount-from `{from}` is not a repository path")),
            "{err}"
        );
    }
    assert!(registry.seen().is_empty(), "{:?}", registry.seen());
}

#[test]
fn a_token_reply_of_the_wrong_type_is_described_without_its_text() {
    let work = Workdir::new("fake-token-type");
    let token = other_host(
        "127.0.0.1",
        None,
        Reply::status(200).body(r#"{"token": 98765432101}"#),
    );
    let registry = fake_registry(
        "127.0.0.1",
        None,
        Script {
            challenge: format!(r#"Bearer realm="{}/token",service="fake""#, token.origin),
            ..Script::default()
        },
    );
    let err = push(&work, &registry, "token-type", &["--insecure"]).fails();
    assert!(
        err.contains(&format!(
            "{}/token sent no token JSON (a value of the wrong type, or a required field missing at line 1, column ",
            token.origin
        )),
        "{err}"
    );
    assert!(
        !err.contains("98765432101"),
        "the token stays private: {err}"
    );
}
