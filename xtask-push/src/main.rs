//! Push's registry client, which `cargo xtask push` runs with its own command line: send the image
//! `cargo xtask package` wrote to a registry over the OCI distribution API, with no container engine. Its own
//! package, so that the HTTPS stack only it needs (ureq, rustls, ring) is compiled on the first push, never by
//! `package` or another command; the command line and the shared modules are xtask's library.
//!
//! Blobs go first and the manifest last, so a push that fails half-way never leaves the tag
//! pointing at missing blobs. Blobs the registry already holds are not sent again. The manifest
//! is sent as the exact bytes of the layout, so the registry's digest is the one `package` printed.
//!
//! Like podman and skopeo (containers/image pings `https://` only, and falls back to `http://`
//! only when TLS verification is off), every registry is spoken to over HTTPS, `localhost` and
//! `127.0.0.1` included; `--insecure` allows plain HTTP or an unverified certificate.

mod auth;
mod origin;
mod registry;

use std::{
    io::{IsTerminal as _, Read as _},
    process::ExitCode,
};

use anyhow::{Context, bail};

use xtask::{
    flags,
    oci::{
        layout::StoredImage,
        reference::{self, Reference},
    },
    report::human_size,
    workspace,
};

use registry::{Client, Options, Sent};

/// What is wrong with a JSON text, by kind and position only: serde's own messages quote the offending
/// value (`invalid type: integer `1234`…`), and in an auth file, a helper's reply or a token service's reply that value can be the secret.
fn json_error_shape(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let kind = match err.classify() {
        Category::Syntax => "not JSON",
        Category::Eof => "JSON cut short",
        Category::Data => "a value of the wrong type, or a required field missing",
        Category::Io => "unreadable",
    };
    format!("{kind} at line {}, column {}", err.line(), err.column())
}

fn main() -> ExitCode {
    let Some(push) = flags::Push::from_command_line() else {
        eprintln!(
            "error: xtask-push only pushes: it is the registry client `cargo xtask push` runs; run `cargo xtask …` \
             for the other commands"
        );
        return ExitCode::FAILURE;
    };
    xtask::exit_code(run(push))
}

fn run(cmd: flags::Push) -> anyhow::Result<()> {
    let extension = workspace::single_extension(cmd.package.as_deref())?;
    let reference = Reference::parse(&cmd.image, &extension.version)?;
    if let Some(digest) = &reference.digest {
        bail!(
            "--image {}: push sets a tag, so leave out `@{digest}` (the digest is printed after the push)",
            cmd.image
        );
    }
    if let Some(from) = &cmd.mount_from
        && !reference::valid_repository(from)
    {
        bail!(
            "--mount-from `{from}` is not a repository path: give a repository of the same registry as \
                 --image, without host, tag or digest, in lowercase letters, digits and single `.`, `_`, `-` \
                 separators between `/`-separated parts (e.g. team/header-append)"
        );
    }
    let image = StoredImage::open(&extension.layout_dir())?;
    let lookup = match (&cmd.username, cmd.password_stdin) {
        (Some(user), true) => {
            if std::io::stdin().is_terminal() {
                bail!(
                    "--password-stdin reads the password from a pipe, and standard input is a terminal, \
                         where the password would be echoed: pipe it in, e.g. `echo \"$TOKEN\" | cargo xtask push … --username {user} --password-stdin`"
                );
            }
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("cannot read the password from standard input")?;
            if password.trim().is_empty() {
                bail!("--password-stdin: standard input held no password");
            }
            auth::Lookup {
                credentials: Some(auth::from_flags(user, &password)),
                searched: vec!["--username".into()],
            }
        }
        (Some(_), false) => bail!(
            "--username needs --password-stdin: pipe the password in, e.g. `echo \"$TOKEN\" | cargo xtask push … --username me --password-stdin`"
        ),
        (None, true) => bail!("--password-stdin needs --username"),
        (None, false) => auth::find(&reference.registry, &reference.repository)?,
    };
    let options = Options {
        insecure: cmd.insecure,
        ca_certs: cmd.ca_cert.as_slice(),
        mount_from: cmd.mount_from.as_deref(),
    };
    let client = Client::connect(&reference, &options, lookup)?;

    let verb = if cmd.dry_run {
        "dry run: would push"
    } else {
        "pushing"
    };
    eprintln!(
        "{verb} {} {} ({}) to {} over {}",
        extension.name,
        extension.version,
        image.digest,
        reference.tagged(),
        client.base()
    );
    let existing = client.tag_digest(&reference.tag)?;
    match &existing {
        Some(digest) if digest == &image.digest => {
            eprintln!("  tag {} already points to this image", reference.tag)
        }
        Some(digest) if cmd.no_overwrite => bail!(
            "{} already points to {digest}, not to this image ({}); --no-overwrite refuses to move it: \
                 push under another tag, or drop --no-overwrite to replace it",
            reference.tagged(),
            image.digest
        ),
        Some(digest) => eprintln!(
            "  tag {} now points to {digest}; it will be moved",
            reference.tag
        ),
        None => {}
    }
    for blob in &image.blobs {
        let what = format!("{:<6} {} {}", blob.role, blob.digest, human_size(blob.size));
        if client.has_blob(&blob.digest)? {
            eprintln!("  {what}: already in the registry, skipped");
        } else if cmd.dry_run {
            eprintln!("  {what}: would upload");
        } else {
            let bytes = blob.read_verified()?;
            match client.upload_blob(blob, &bytes)? {
                Sent::Uploaded => eprintln!("  {what}: uploaded"),
                Sent::Mounted => eprintln!(
                    "  {what}: mounted from {}",
                    cmd.mount_from.as_deref().unwrap_or_default()
                ),
            }
        }
    }
    let pinned = format!("{}@{}", reference.tagged(), image.digest);
    if cmd.dry_run {
        eprintln!("  manifest {}: would tag {}", image.digest, reference.tag);
        println!("dry run, nothing uploaded: would push {pinned}");
        return Ok(());
    }
    let stored = client.put_manifest(&reference.tag, &image.media_type, &image.manifest)?;
    if stored != image.digest {
        bail!(
            "{} stored the manifest as {stored}, not {} as sent; the registry rewrote it, \
                 so WasmPlugin `sha256` pins will not match",
            reference.registry,
            image.digest
        );
    }
    eprintln!("  manifest {}: tagged {}", image.digest, reference.tag);
    println!("{pinned}");
    Ok(())
}
