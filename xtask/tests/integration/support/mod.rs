//! Helpers shared by the black-box tests of `cargo xtask`.

use std::{
    env,
    fs::File,
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Output},
    time::{Duration, Instant},
};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Cargo, without what `cargo test` set for this test binary (`workspace_layout::cargo`).
pub fn cargo() -> Command {
    workspace_layout::cargo(&root())
}

/// Runs the xtask binary under test with `args` (from a directory outside the workspace, to show
/// paths resolve from the root) and returns its output, whether it succeeded or not.
pub fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(env::temp_dir())
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("cannot run the xtask binary")
}

/// Like `xtask`, but fails the test with the output unless the command succeeded; returns stdout.
pub fn xtask_ok(args: &[&str]) -> String {
    let out = xtask(args);
    assert!(
        out.status.success(),
        "`cargo xtask {}` failed:\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Everything that packages header-append holds this: it writes target/extensions/header-append.
/// A file lock, so it also holds across test processes (cargo-nextest runs tests in parallel).
pub fn packaging_lock() -> File {
    let path = out_dir().with_extension("test-lock");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = File::create(&path).unwrap();
    file.lock().unwrap();
    file
}

/// The workspace's target directory, as cargo resolves it.
pub fn target_dir() -> PathBuf {
    workspace_layout::target_dir(&root()).unwrap()
}

/// Copies the directory `from` to `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `target/extensions/header-append`.
pub fn out_dir() -> PathBuf {
    workspace_layout::extension_dir(&target_dir(), "header-append")
}

/// A scratch copy of the workspace (`scratch_workspace`) and its target directory. Its cargo builds in this
/// workspace's build directory, so the registry dependencies this workspace's build compiled (wasmtime and the rest
/// of the host's, xtask's) are taken as they are: crates/workspace-hack gives a `-p NAME` build of an extension the
/// features `cargo test --workspace` gives them, and cargo names a registry crate's artifacts by name, version,
/// features and dependencies, not by the workspace that asks. The copy's own crates never share this workspace's
/// artifacts: cargo names a member's by its path relative to the workspace root, the same in the copy, so a copy's
/// edited header-append would overwrite this one's and be taken as up to date. Every member of the copy therefore has
/// another version (`SCRATCH_VERSION`), which gives it and all that is built on it other artifacts, and a test that
/// edits an extension edits it under a new name (a cdylib's file name carries no version).
pub struct Scratch {
    pub root: PathBuf,
    pub target: PathBuf,
}

/// Appended to the version of each member of a scratch copy.
const SCRATCH_VERSION: &str = "-scratch";

impl Scratch {
    /// `cargo ARGS` in the scratch workspace, with its target directory and this workspace's build directory.
    pub fn cargo(&self, args: &[&str]) -> Command {
        let mut cmd = cargo();
        cmd.args(args)
            .current_dir(&self.root)
            .env("CARGO_TARGET_DIR", &self.target)
            .env("CARGO_BUILD_BUILD_DIR", target_dir())
            .env_remove("SOURCE_DATE_EPOCH");
        cmd
    }
}

/// `<target>/template-check`: where the scratch workspace and its target directory live.
pub fn check_dir() -> PathBuf {
    target_dir().join("template-check")
}

/// One user of the scratch workspace at a time (the template and fresh-module checks).
pub fn scratch_lock() -> File {
    let dir = check_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let file = File::create(dir.join("lock")).unwrap();
    file.lock().unwrap();
    file
}

/// A fresh copy of the workspace's git-tracked files (as they are on disk) at `<check dir>/workspace`, each with its
/// modification time, and every member's version marked (`Scratch`). The same path and times for every check that
/// makes one, so the copy's crates built by one check are up to date for the next.
pub fn scratch_workspace(git: &Path) -> Scratch {
    let root_dir = check_dir().join("workspace");
    let _ = std::fs::remove_dir_all(&root_dir);
    let listed = run(Command::new(git)
        .args(["ls-files", "-z"])
        .current_dir(root()));
    for file in listed.split('\0').filter(|f| !f.is_empty()) {
        let from = root().join(file);
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        let to = root_dir.join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap();
        if is_member_manifest(file) {
            mark_version(&to, SCRATCH_VERSION);
        }
        let modified = std::fs::metadata(&from).unwrap().modified().unwrap();
        File::options()
            .write(true)
            .open(&to)
            .unwrap()
            .set_modified(modified)
            .unwrap();
    }
    Scratch {
        root: root_dir,
        target: check_dir().join("target"),
    }
}

/// Whether the git-tracked `file` is the manifest of a workspace member (not the workspace's, not the template's).
fn is_member_manifest(file: &str) -> bool {
    file.ends_with("Cargo.toml") && file != "Cargo.toml" && !file.starts_with("templates/")
}

/// Appends `suffix` to the version of every member of the git checkout at `root`, so that it can build in this
/// workspace's build directory (`CARGO_BUILD_BUILD_DIR`) without its crates taking or replacing this workspace's
/// artifacts (see `Scratch`).
pub fn mark_member_versions(git: &Path, root: &Path, suffix: &str) {
    let listed = run(Command::new(git).args(["ls-files", "-z"]).current_dir(root));
    for file in listed.split('\0').filter(|f| is_member_manifest(f)) {
        mark_version(&root.join(file), suffix);
    }
}

/// Appends `suffix` to the `[package]` version of the manifest at `path`.
fn mark_version(path: &Path, suffix: &str) {
    let manifest = std::fs::read_to_string(path).unwrap();
    let mut in_package = false;
    let mut marked = false;
    let lines: Vec<String> = manifest
        .lines()
        .map(|line| {
            if line.starts_with('[') {
                in_package = line.trim() == "[package]";
            } else if in_package
                && !marked
                && line.starts_with("version = \"")
                && line.ends_with('"')
            {
                marked = true;
                return format!("{}{suffix}\"", &line[..line.len() - 1]);
            }
            line.to_owned()
        })
        .collect();
    assert!(marked, "no `version = \"…\"` in the [package] of {path:?}");
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// The runner crate's `proxy-wasm-run`, for commands run with another target directory (`XTASK_RUNNER`), which would
/// otherwise build the host again there. Under `cargo xtask test` it is the one that run's `cargo test --workspace`
/// built (`XTASK_RUNNER`, set by xtask/src/test.rs): a `cargo build -p runner` resolves runner's features alone
/// (serde_json, syn, …) and would compile the host and wasmtime a second time. Otherwise it is built once per test
/// process in the shared target directory.
pub fn runner() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            if let Some(built) = env::var_os("XTASK_RUNNER") {
                let built = PathBuf::from(built);
                assert!(built.is_file(), "XTASK_RUNNER names no file: {built:?}");
                return built;
            }
            let status = cargo()
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "runner",
                    "--bin",
                    "proxy-wasm-run",
                ])
                .current_dir(root())
                .status()
                .expect("cannot run cargo build");
            assert!(status.success(), "cannot build proxy-wasm-run");
            target_dir().join("debug").join("proxy-wasm-run")
        })
        .clone()
}

/// The `version` an extension's written manifest.yaml (in `out_dir`) carries.
pub fn manifest_version(out_dir: &Path) -> String {
    let manifest = std::fs::read_to_string(out_dir.join("manifest.yaml")).unwrap();
    manifest
        .lines()
        .find_map(|l| l.strip_prefix("version: "))
        .unwrap()
        .trim_matches(['\'', '"'])
        .to_owned()
}

/// The digest `package` printed for header-append.
pub fn printed_digest(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("header-append: ")
                .and_then(|rest| rest.split(" image ").nth(1))
        })
        .unwrap_or_else(|| panic!("no digest line in:\n{stdout}"))
        .trim()
        .to_owned()
}

/// The path of `tool`, or `None` after saying loudly that the test is skipped and which Debian
/// package provides it. Under `CI=true` a missing tool fails the test instead.
pub fn tool(tool: &str, debian_package: &str) -> Option<PathBuf> {
    let found = env::var_os("PATH").and_then(|paths| {
        env::split_paths(&paths)
            .map(|dir| dir.join(tool))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        let message = format!("`{tool}` is not installed: `apt-get install {debian_package}`");
        if env::var("CI").as_deref() == Ok("true") {
            panic!("{message} (required when CI=true)");
        }
        eprintln!("\n*** SKIPPED: {message} ***\n");
    }
    found
}

/// Runs `cmd`, failing the test with its output unless it succeeds; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A fresh, empty directory for one test.
pub fn tmp_dir(name: &str) -> PathBuf {
    let dir = env::temp_dir().join(format!("xtask-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Files in `dir`, sorted, with their bytes.
pub fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// `"Digest"` of `skopeo inspect` output.
pub fn inspected_digest(json: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    value["Digest"].as_str().unwrap().to_owned()
}

/// What a test registry in token mode calls its service and the issuer it trusts (the push tests'
/// token service signs with these).
pub const TOKEN_SERVICE: &str = "xtask-test-registry";
pub const TOKEN_ISSUER: &str = "xtask-test-issuer";

/// Options of a test registry.
#[derive(Default)]
pub struct RegistryOptions {
    /// PEM certificate and key for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// An htpasswd file (bcrypt) for Basic authentication.
    pub htpasswd: Option<PathBuf>,
    /// Bearer-token authentication: the token service's realm and the certificate its tokens carry.
    pub token: Option<(String, PathBuf)>,
}

/// A Debian `docker-registry` on a free 127.0.0.1 port, storing under `dir`, logging every
/// request to `dir/registry.log`; stopped on drop.
pub struct Registry {
    pub address: String,
    pub log: PathBuf,
    child: Option<Child>,
}

impl Registry {
    /// Starts the registry and waits until it answers `GET /v2/`. The port is picked by binding port 0 and
    /// closing it, so another process may take it before the registry does: then the registry exits with
    /// "address already in use" and is started again on another port.
    pub fn start(binary: &Path, dir: &Path, options: RegistryOptions) -> Registry {
        for _ in 0..5 {
            match Registry::try_start(binary, dir, &options) {
                Some(registry) => return registry,
                None => {
                    eprintln!("docker-registry lost its port to another process; trying another")
                }
            }
        }
        panic!("docker-registry could not keep a port in 5 tries");
    }

    /// The registry once it answers, or `None` when its port was taken first.
    fn try_start(binary: &Path, dir: &Path, options: &RegistryOptions) -> Option<Registry> {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\n  formatter: text\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {address}\n",
            dir.join("storage").display()
        );
        if let Some((cert, key)) = &options.tls {
            config += &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            );
        }
        if let Some(htpasswd) = &options.htpasswd {
            config += &format!(
                "auth:\n  htpasswd:\n    realm: xtask-test\n    path: {}\n",
                htpasswd.display()
            );
        }
        if let Some((realm, cert)) = &options.token {
            config += &format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                cert.display()
            );
        }
        let config_path = dir.join("registry.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = dir.join("registry.log");
        // The access log ("POST /v2/… 202") goes to stdout, the rest to stderr: keep both.
        let log_file = File::create(&log).unwrap();
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config_path)
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("cannot start docker-registry");
        let mut registry = Registry {
            address,
            log,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = std::fs::read_to_string(&registry.log).unwrap_or_default();
            if let Some(status) = registry.child.as_mut().unwrap().try_wait().unwrap() {
                registry.child = None;
                if log.contains("address already in use") {
                    return None;
                }
                panic!("docker-registry exited ({status}) before it answered:\n{log}");
            }
            if answers_v2(&registry.address) {
                return Some(registry);
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not answer GET /v2/ on {} within 20 s:\n{log}",
                registry.address
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// How many blob uploads the registry has been asked to start so far.
    pub fn uploads_started(&self) -> usize {
        self.requests("POST", "/blobs/uploads/")
    }

    /// How many blob bodies were sent so far (the PUT that ends an upload).
    pub fn blobs_put(&self) -> usize {
        self.requests("PUT", "/blobs/uploads/")
    }

    /// How many manifests were put so far.
    pub fn manifests_put(&self) -> usize {
        self.requests("PUT", "/manifests/")
    }

    /// How many `method` requests to a `/v2/` path containing `part` the registry's access log shows so far.
    fn requests(&self, method: &str, part: &str) -> usize {
        let start = format!("\"{method} /v2/");
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .filter(|l| l.contains(&start) && l.contains(part))
            .count()
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether an HTTP server on `address` answers `GET /v2/` with a status line. A TLS registry answers the
/// plain request too (Go's server replies 400 to HTTP on an HTTPS port), which is enough to know it serves.
fn answers_v2(address: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect(address) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /v2/ HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
