//! `cargo xtask push` against a real `docker-registry` on 127.0.0.1, read back with skopeo and umoci.

use crate::push_support;
use crate::support;

use std::{fs, path::PathBuf, process::Command};

use base64::Engine as _;

use push_support::*;
use support::{Registry, RegistryOptions, TOKEN_SERVICE, manifest_version};

const REPO: &str = "wasm/header-append";

/// The tools a test needs, or `None` (skipped loudly; a failure under CI=true).
fn tools(names: &[(&str, &str)]) -> Option<PathBuf> {
    let mut registry = None;
    for (tool, package) in names {
        let found = support::tool(tool, package)?;
        if *tool == "docker-registry" {
            registry = Some(found);
        }
    }
    registry
}

/// Checks the tools (the list holds docker-registry), then makes the test's workdir and starts a
/// registry with the options `options` makes for it; `None` when a tool is missing.
fn start(
    name: &str,
    needs: &[(&str, &str)],
    options: impl FnOnce(&Workdir) -> RegistryOptions,
) -> Option<(Workdir, Registry)> {
    let binary = tools(needs)?;
    let work = Workdir::new(name);
    let options = options(&work);
    let registry = Registry::start(&binary, &work.dir, options);
    Some((work, registry))
}

fn version(work: &Workdir) -> String {
    manifest_version(&work.out_dir())
}

#[test]
fn a_push_is_read_back_by_skopeo_and_umoci_and_a_second_push_uploads_nothing() {
    let Some((work, registry)) = start(
        "push-roundtrip",
        &[
            ("docker-registry", "docker-registry"),
            ("skopeo", "skopeo"),
            ("umoci", "umoci"),
        ],
        |_| RegistryOptions::default(),
    ) else {
        return;
    };
    let (digest, manifest) = layout_manifest(&work.layout());
    let image = format!("{}/{REPO}", registry.address);
    let tagged = format!("{image}:{}", version(&work));

    let run = work.xtask(
        &[
            "push",
            "-p",
            "header-append",
            "--image",
            &image,
            "--insecure",
        ],
        &[],
        "",
    );
    assert_eq!(
        run.ok().trim(),
        format!("{tagged}@{digest}"),
        "the pushed reference, pinned"
    );
    assert_eq!(
        registry.uploads_started(),
        2,
        "config and layer uploaded:\n{}",
        run.stderr()
    );

    let inspected: serde_json::Value =
        serde_json::from_slice(&skopeo_inspect(&tagged, false).unwrap()).unwrap();
    assert_eq!(inspected["Digest"].as_str(), Some(digest.as_str()));
    assert_eq!(
        skopeo_inspect(&tagged, true).unwrap(),
        manifest,
        "the registry serves the exact local manifest bytes"
    );

    let copy = work.dir.join("copy");
    support::run(
        Command::new("skopeo")
            .args(["copy", "--src-tls-verify=false"])
            .arg(format!("docker://{tagged}"))
            .arg(format!("oci:{}:pulled", copy.display())),
    );
    let bundle = work.dir.join("bundle");
    support::run(
        Command::new("umoci")
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:pulled", copy.display()))
            .arg(&bundle),
    );
    let mut names: Vec<String> = fs::read_dir(bundle.join("rootfs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["manifest.yaml", "plugin.wasm"]);
    for file in ["manifest.yaml", "plugin.wasm"] {
        assert_eq!(
            fs::read(bundle.join("rootfs").join(file)).unwrap(),
            fs::read(work.out_dir().join(file)).unwrap(),
            "{file}"
        );
    }

    let again = work.xtask(
        &[
            "push",
            "-p",
            "header-append",
            "--image",
            &image,
            "--insecure",
            "--no-overwrite",
        ],
        &[],
        "",
    );
    assert_eq!(again.ok().trim(), format!("{tagged}@{digest}"));
    assert_eq!(
        registry.uploads_started(),
        2,
        "no blob uploaded again:\n{}",
        again.stderr()
    );
    assert_eq!(
        again
            .stderr()
            .matches("already in the registry, skipped")
            .count(),
        2,
        "{}",
        again.stderr()
    );
    assert!(
        again.stderr().contains("already points to this image"),
        "{}",
        again.stderr()
    );
}

#[test]
fn dry_run_says_what_would_be_uploaded_and_uploads_nothing() {
    let Some((work, registry)) = start(
        "push-dry-run",
        &[("docker-registry", "docker-registry"), ("skopeo", "skopeo")],
        |_| RegistryOptions::default(),
    ) else {
        return;
    };
    let (digest, _) = layout_manifest(&work.layout());
    let image = format!("{}/{REPO}:dry", registry.address);
    let run = work.xtask(
        &["push", "--image", &image, "--insecure", "--dry-run"],
        &[],
        "",
    );
    assert_eq!(
        run.ok().trim(),
        format!("dry run, nothing uploaded: would push {image}@{digest}")
    );
    assert_eq!(
        run.stderr().matches(": would upload").count(),
        2,
        "{}",
        run.stderr()
    );
    assert_eq!(
        (registry.uploads_started(), registry.manifests_put()),
        (0, 0)
    );
    assert!(skopeo_inspect(&image, false).is_err(), "nothing is tagged");
}

#[test]
fn no_overwrite_refuses_to_move_a_tag_that_holds_another_image() {
    let Some((work, registry)) = start(
        "push-no-overwrite",
        &[
            ("docker-registry", "docker-registry"),
            ("skopeo", "skopeo"),
            ("umoci", "umoci"),
        ],
        |_| RegistryOptions::default(),
    ) else {
        return;
    };
    let image = format!("{}/{REPO}:taken", registry.address);
    let other = work.dir.join("other");
    support::run(Command::new("umoci").args(["init", "--layout"]).arg(&other));
    support::run(
        Command::new("umoci")
            .args(["new", "--image"])
            .arg(format!("{}:x", other.display())),
    );
    support::run(
        Command::new("skopeo")
            .args(["copy", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:x", other.display()))
            .arg(format!("docker://{image}")),
    );
    let before: serde_json::Value =
        serde_json::from_slice(&skopeo_inspect(&image, false).unwrap()).unwrap();
    let other_digest = before["Digest"].as_str().unwrap().to_owned();

    let err = work
        .xtask(
            &["push", "--image", &image, "--insecure", "--no-overwrite"],
            &[],
            "",
        )
        .fails();
    assert!(
        err.contains(&format!(
            "{image} already points to {other_digest}, not to this image"
        )) && err.contains("--no-overwrite refuses to move it"),
        "{err}"
    );
    assert_eq!(registry.manifests_put(), 1, "only skopeo's manifest");
    let after: serde_json::Value =
        serde_json::from_slice(&skopeo_inspect(&image, false).unwrap()).unwrap();
    assert_eq!(
        after["Digest"].as_str(),
        Some(other_digest.as_str()),
        "the tag did not move"
    );
}

#[test]
fn htpasswd_registry_takes_the_auth_file_the_flags_or_a_helper_and_explains_a_401() {
    let Some(binary) = tools(&[
        ("docker-registry", "docker-registry"),
        ("skopeo", "skopeo"),
        ("htpasswd", "apache2-utils"),
    ]) else {
        return;
    };
    let work = Workdir::new("push-auth");
    let htpasswd = work.dir.join("htpasswd");
    fs::write(
        &htpasswd,
        support::run(Command::new("htpasswd").args(["-Bbn", "alice", "right-pw"])),
    )
    .unwrap();
    let registry = Registry::start(
        &binary,
        &work.dir,
        RegistryOptions {
            htpasswd: Some(htpasswd),
            ..Default::default()
        },
    );
    let (digest, _) = layout_manifest(&work.layout());
    let auth = |user: &str, password: &str| {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        fs::write(
            &work.auth_file,
            format!(
                r#"{{"auths": {{"{}": {{"auth": "{encoded}"}}}}}}"#,
                registry.address
            ),
        )
        .unwrap();
    };

    // No credentials at all.
    let image = format!("{}/{REPO}:none", registry.address);
    let err = work
        .xtask(&["push", "--image", &image, "--insecure"], &[], "")
        .fails();
    assert!(
        err.contains(&format!(
            "{} requires authentication and no credentials for it were found (looked in: {})",
            registry.address,
            work.auth_file.display()
        )),
        "{err}"
    );

    // Wrong password in the auth file: a 401 that names the user and the file, never the secret.
    auth("alice", "wrong-pw");
    let image = format!("{}/{REPO}:wrong", registry.address);
    let err = work
        .xtask(&["push", "--image", &image, "--insecure"], &[], "")
        .fails();
    assert!(
        err.contains(&format!(
            "{} rejected the credentials (401 Unauthorized) for user `alice` from auths[\"{}\"] in {}",
            registry.address,
            registry.address,
            work.auth_file.display()
        )),
        "{err}"
    );
    assert!(
        !err.contains("wrong-pw"),
        "the secret is never printed: {err}"
    );

    // Right password in the auth file.
    auth("alice", "right-pw");
    let image = format!("{}/{REPO}:file", registry.address);
    assert_eq!(
        work.xtask(&["push", "--image", &image, "--insecure"], &[], "")
            .ok()
            .trim(),
        format!("{image}@{digest}")
    );

    // An identity token is for Bearer token services; a Basic registry is told so, not sent the token.
    fs::write(
        &work.auth_file,
        format!(
            r#"{{"auths": {{"{}": {{"identitytoken": "refresh-secret"}}}}}}"#,
            registry.address
        ),
    )
    .unwrap();
    let err = work
        .xtask(&["push", "--image", &image, "--insecure"], &[], "")
        .fails();
    assert!(
        err.contains(
            "asks for Basic authentication, but the credentials found are an identity token"
        ),
        "{err}"
    );
    assert!(!err.contains("refresh-secret"), "{err}");

    // --username with the password on stdin (and an auth file that would not work).
    auth("alice", "wrong-pw");
    let image = format!("{}/{REPO}:flags", registry.address);
    let run = work.xtask(
        &[
            "push",
            "--image",
            &image,
            "--insecure",
            "--username",
            "alice",
            "--password-stdin",
        ],
        &[],
        "right-pw\n",
    );
    assert_eq!(run.ok().trim(), format!("{image}@{digest}"));

    // A credential helper named by `credHelpers`, run as docker-credential-<name> get.
    let bin = work.dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-xtasktest");
    fs::write(
        &helper,
        format!("#!/bin/sh\nread server\n[ \"$1\" = get ] && [ \"$server\" = \"{}\" ] || exit 1\necho '{{\"ServerURL\":\"'$server'\",\"Username\":\"alice\",\"Secret\":\"right-pw\"}}'\n", registry.address),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(
        &work.auth_file,
        format!(
            r#"{{"credHelpers": {{"{}": "xtasktest"}}}}"#,
            registry.address
        ),
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let image = format!("{}/{REPO}:helper", registry.address);
    let run = work.xtask(
        &["push", "--image", &image, "--insecure"],
        &[("PATH", &path)],
        "",
    );
    assert_eq!(run.ok().trim(), format!("{image}@{digest}"));

    // Failed pushes tagged nothing.
    let list = support::run(
        Command::new("skopeo")
            .args([
                "list-tags",
                "--tls-verify=false",
                "--creds",
                "alice:right-pw",
            ])
            .arg(format!("docker://{}/{REPO}", registry.address)),
    );
    let tags: serde_json::Value = serde_json::from_str(&list).unwrap();
    let mut tags: Vec<&str> = tags["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    tags.sort();
    assert_eq!(tags, ["file", "flags", "helper"]);
}

#[test]
fn tls_with_a_private_ca_needs_ca_cert_or_ssl_cert_file() {
    let Some(binary) = tools(&[
        ("docker-registry", "docker-registry"),
        ("skopeo", "skopeo"),
        ("openssl", "openssl"),
    ]) else {
        return;
    };
    let work = Workdir::new("push-tls");
    let (ca, cert, key) = certificates(&work.dir);
    let registry = Registry::start(
        &binary,
        &work.dir,
        RegistryOptions {
            tls: Some((cert, key)),
            ..Default::default()
        },
    );
    let (digest, _) = layout_manifest(&work.layout());

    let image = format!("{}/{REPO}:untrusted", registry.address);
    let err = work.xtask(&["push", "--image", &image], &[], "").fails();
    assert!(
        err.contains(&format!("cannot reach registry {}", registry.address))
            && err.contains("the registry's certificate is not trusted: pass its CA with --ca-cert FILE (or SSL_CERT_FILE)"),
        "{err}"
    );

    let image = format!("{}/{REPO}:ca-cert", registry.address);
    let run = work.xtask(
        &["push", "--image", &image, "--ca-cert", ca.to_str().unwrap()],
        &[],
        "",
    );
    assert_eq!(run.ok().trim(), format!("{image}@{digest}"));
    assert!(
        run.stderr()
            .contains(&format!("over https://{}", registry.address)),
        "{}",
        run.stderr()
    );

    let image = format!("{}/{REPO}:ssl-cert-file", registry.address);
    let run = work.xtask(
        &["push", "--image", &image],
        &[("SSL_CERT_FILE", ca.to_str().unwrap())],
        "",
    );
    assert_eq!(run.ok().trim(), format!("{image}@{digest}"));

    let inspected: serde_json::Value =
        serde_json::from_slice(&skopeo_inspect(&image, false).unwrap()).unwrap();
    assert_eq!(inspected["Digest"].as_str(), Some(digest.as_str()));
}

#[test]
fn a_stopped_registry_is_reported_unreachable() {
    let Some((work, mut registry)) = start(
        "push-stopped",
        &[("docker-registry", "docker-registry")],
        |_| RegistryOptions::default(),
    ) else {
        return;
    };
    registry.stop();
    let image = format!("{}/{REPO}", registry.address);
    let err = work.xtask(&["push", "--image", &image], &[], "").fails();
    assert!(
        err.contains(&format!("cannot reach registry {}", registry.address))
            && err.contains("check the address and that the registry is running; a plain-HTTP registry needs --insecure"),
        "{err}"
    );
    let err = work
        .xtask(&["push", "--image", &image, "--insecure"], &[], "")
        .fails();
    assert!(
        err.contains("plain HTTP:")
            && err.contains("check the address and that the registry is running"),
        "{err}"
    );
}

#[test]
fn a_plain_http_registry_without_insecure_is_explained() {
    let Some((work, registry)) = start(
        "push-plain-http",
        &[("docker-registry", "docker-registry")],
        |_| RegistryOptions::default(),
    ) else {
        return;
    };
    let err = work
        .xtask(
            &["push", "--image", &format!("{}/{REPO}", registry.address)],
            &[],
            "",
        )
        .fails();
    assert!(
        err.contains("it answers in plain HTTP, not HTTPS: add --insecure"),
        "{err}"
    );
    assert_eq!(registry.uploads_started(), 0);
}

#[test]
fn a_damaged_layout_is_refused_before_anything_is_sent() {
    let Some((work, registry)) = start(
        "push-damaged",
        &[("docker-registry", "docker-registry"), ("skopeo", "skopeo")],
        |_| RegistryOptions::default(),
    ) else {
        return;
    };
    let (_, manifest) = layout_manifest(&work.layout());
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let layer_digest = manifest["layers"][0]["digest"].as_str().unwrap();
    let layer = work
        .layout()
        .join("blobs/sha256")
        .join(layer_digest.trim_start_matches("sha256:"));
    let mut bytes = fs::read(&layer).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&layer, bytes).unwrap();

    let image = format!("{}/{REPO}:damaged", registry.address);
    let err = work
        .xtask(&["push", "--image", &image, "--insecure"], &[], "")
        .fails();
    assert!(
        err.contains(&format!("{} hashes to sha256:", layer.display()))
            && err.contains(&format!(
                "not {layer_digest}; the layout is damaged: run `cargo xtask package` again"
            )),
        "{err}"
    );
    assert_eq!(
        (registry.uploads_started(), registry.manifests_put()),
        (0, 0)
    );
    assert!(skopeo_inspect(&image, false).is_err(), "nothing is tagged");
}

#[test]
fn a_push_without_a_package_says_to_package_first() {
    let work = Workdir::new("push-unpackaged");
    fs::remove_dir_all(work.layout()).unwrap();
    let err = work
        .xtask(
            &["push", "-p", "header-append", "--image", "127.0.0.1:1/x/y"],
            &[],
            "",
        )
        .fails();
    assert!(
        err.contains(&format!(
            "no OCI image layout at {}",
            work.layout().display()
        )) && err.contains("run `cargo xtask package` first"),
        "{err}"
    );
}

/// A registry in token mode with its token service (user `bob`, password `token-pw`, refresh token
/// [`REFRESH_TOKEN`]); `None` when a tool is missing (said loudly; a failure under CI=true).
fn token_registry(
    name: &str,
    extra_tools: &[(&str, &str)],
) -> Option<(Workdir, TokenServer, Registry)> {
    let needed = [
        &[
            ("docker-registry", "docker-registry"),
            ("openssl", "openssl"),
        ][..],
        extra_tools,
    ]
    .concat();
    let mut tokens = None;
    let (work, registry) = start(name, &needed, |work| {
        let service = TokenServer::start(&work.dir, "bob", "token-pw");
        let options = RegistryOptions {
            token: Some((service.realm.clone(), service.cert.clone())),
            ..Default::default()
        };
        tokens = Some(service);
        options
    })?;
    Some((work, tokens?, registry))
}

#[test]
fn a_token_registry_gets_a_bearer_token_for_pull_and_push_with_the_users_credentials() {
    let Some((work, tokens, registry)) = token_registry("push-bearer", &[("skopeo", "skopeo")])
    else {
        return;
    };
    let (digest, _) = layout_manifest(&work.layout());
    let image = format!("{}/{REPO}:bearer", registry.address);

    let err = work
        .xtask(
            &[
                "push",
                "--image",
                &image,
                "--insecure",
                "--username",
                "bob",
                "--password-stdin",
            ],
            &[],
            "bad-pw",
        )
        .fails();
    assert!(
        err.contains(&format!(
            "{} rejected the credentials (401 Unauthorized) for user `bob` from --username/--password-stdin",
            registry.address
        )),
        "{err}"
    );
    let err = work
        .xtask(&["push", "--image", &image, "--insecure"], &[], "")
        .fails();
    assert!(
        err.contains("requires authentication and no credentials for it were found"),
        "{err}"
    );

    let run = work.xtask(
        &[
            "push",
            "--image",
            &image,
            "--insecure",
            "--username",
            "bob",
            "--password-stdin",
        ],
        &[],
        "token-pw",
    );
    assert_eq!(run.ok().trim(), format!("{image}@{digest}"));
    let asked = tokens.requests.lock().unwrap().clone();
    let expected = format!("scope=repository:{REPO}:pull,push&service={TOKEN_SERVICE}&account=bob");
    assert_eq!(
        asked.last().map(String::as_str),
        Some(expected.as_str()),
        "{asked:?}"
    );

    let inspected = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--creds", "bob:token-pw"])
        .arg(format!("docker://{image}"))
        .output()
        .unwrap();
    let inspected: serde_json::Value =
        serde_json::from_slice(&inspected.stdout).unwrap_or_default();
    assert_eq!(
        inspected["Digest"].as_str(),
        Some(digest.as_str()),
        "skopeo reads it back through the same token service"
    );
}

#[test]
fn an_identity_token_in_the_auth_file_is_exchanged_at_the_token_service() {
    let Some((work, tokens, registry)) = token_registry("push-identity-token", &[]) else {
        return;
    };
    let (digest, _) = layout_manifest(&work.layout());
    // What `docker login` stores for Azure Container Registry: a placeholder user and the refresh token.
    let placeholder =
        base64::engine::general_purpose::STANDARD.encode("00000000-0000-0000-0000-000000000000:");
    let auth = |token: &str| {
        fs::write(
            &work.auth_file,
            format!(
                r#"{{"auths": {{"{}": {{"auth": "{placeholder}", "identitytoken": "{token}"}}}}}}"#,
                registry.address
            ),
        )
        .unwrap();
    };

    auth("stale-token");
    let image = format!("{}/{REPO}:identity", registry.address);
    let err = work
        .xtask(&["push", "--image", &image, "--insecure"], &[], "")
        .fails();
    assert!(
        err.contains(&format!(
            "{} rejected the credentials (401 Unauthorized) for user `00000000-0000-0000-0000-000000000000` \
             from auths[\"{}\"] in {} (identity token)",
            registry.address,
            registry.address,
            work.auth_file.display()
        )),
        "{err}"
    );
    assert!(
        !err.contains("stale-token"),
        "the secret is never printed: {err}"
    );

    auth(REFRESH_TOKEN);
    assert_eq!(
        work.xtask(&["push", "--image", &image, "--insecure"], &[], "")
            .ok()
            .trim(),
        format!("{image}@{digest}")
    );
    let asked = tokens.requests.lock().unwrap().clone();
    let expected = format!(
        "POST grant_type=refresh_token&refresh_token={REFRESH_TOKEN}&client_id=cargo-xtask\
         &scope=repository:{REPO}:pull,push&service={TOKEN_SERVICE}"
    );
    assert_eq!(
        asked.last().map(String::as_str),
        Some(expected.as_str()),
        "{asked:?}"
    );
}

#[test]
fn mount_from_links_the_blobs_of_another_repository_instead_of_uploading_them() {
    let Some((work, registry)) = start(
        "push-mount",
        &[("docker-registry", "docker-registry"), ("skopeo", "skopeo")],
        |_| RegistryOptions::default(),
    ) else {
        return;
    };
    let (digest, _) = layout_manifest(&work.layout());
    let first = format!("{}/{REPO}:1", registry.address);
    work.xtask(&["push", "--image", &first, "--insecure"], &[], "")
        .ok();
    assert_eq!(registry.blobs_put(), 2);

    let promoted = format!("{}/wasm/promoted:1", registry.address);
    let run = work.xtask(
        &[
            "push",
            "--image",
            &promoted,
            "--insecure",
            "--mount-from",
            REPO,
        ],
        &[],
        "",
    );
    assert_eq!(run.ok().trim(), format!("{promoted}@{digest}"));
    assert_eq!(
        run.stderr()
            .matches(&format!(": mounted from {REPO}"))
            .count(),
        2,
        "{}",
        run.stderr()
    );
    assert_eq!(registry.blobs_put(), 2, "no blob bytes sent again");
    let inspected: serde_json::Value =
        serde_json::from_slice(&skopeo_inspect(&promoted, false).unwrap()).unwrap();
    assert_eq!(inspected["Digest"].as_str(), Some(digest.as_str()));
}
