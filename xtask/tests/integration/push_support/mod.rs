//! What the push and deploy tests share: a packaged image copied into a per-test target
//! directory, the xtask binary run against it, certificates for a TLS registry, and a token service
//! (the registry itself is `support::Registry`).

use std::{
    fs,
    io::Write,
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::{Arc, Mutex, OnceLock},
};

use sha2::{Digest, Sha256};

use super::support;

pub mod fake;

/// One test's copy of `target/extensions/header-append`, under its own target directory, so tests
/// can run in parallel and damage their copy without touching anyone else's.
pub struct Workdir {
    pub dir: PathBuf,
    pub target: PathBuf,
    /// The auth file every run of xtask sees (may not exist), so the user's own logins never leak in.
    pub auth_file: PathBuf,
}

impl Workdir {
    /// Packages header-append once per test binary, then copies its outputs for this test.
    pub fn new(name: &str) -> Workdir {
        static PACKAGED: OnceLock<()> = OnceLock::new();
        let _lock = support::packaging_lock();
        PACKAGED.get_or_init(|| {
            support::xtask_ok(&["package", "-p", "header-append"]);
        });
        let dir = support::tmp_dir(name);
        let target = dir.join("target");
        support::copy_dir(
            &support::out_dir(),
            &target.join("extensions").join("header-append"),
        );
        let auth_file = dir.join("auth.json");
        Workdir {
            dir,
            target,
            auth_file,
        }
    }

    /// Replaces this test's image with the wasm-artifact variant (`package --format artifact`), packaged in the
    /// shared target directory under the packaging lock and put back to the default format there afterwards.
    pub fn use_artifact_image(&self) {
        let _lock = support::packaging_lock();
        support::xtask_ok(&["package", "-p", "header-append", "--format", "artifact"]);
        let _ = fs::remove_dir_all(self.layout());
        support::copy_dir(&support::out_dir().join("oci"), &self.layout());
        support::xtask_ok(&["package", "-p", "header-append"]);
    }

    /// `target/extensions/header-append` of this test.
    pub fn out_dir(&self) -> PathBuf {
        self.target.join("extensions").join("header-append")
    }

    pub fn layout(&self) -> PathBuf {
        self.out_dir().join("oci")
    }

    /// Runs xtask with this target directory; `stdin` is piped in.
    pub fn xtask(&self, args: &[&str], envs: &[(&str, &str)], stdin: &str) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(args)
            .current_dir(&self.dir)
            .env("CARGO_TARGET_DIR", &self.target)
            .env("XTASK_PUSH", push_client())
            .env("REGISTRY_AUTH_FILE", &self.auth_file)
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in envs {
            cmd.env(key, value);
        }
        let mut child = cmd.spawn().expect("cannot run the xtask binary");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        Run {
            args: args.join(" "),
            output,
        }
    }
}

impl Drop for Workdir {
    /// Keeps the directory of a failed test for a look, removes the others.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Push's registry client, which xtask runs for `push` (`XTASK_PUSH`): the one `cargo xtask test` built with every
/// test binary, else built once per test binary in the workspace's target directory. Not left to xtask: with this
/// test's own target directory it would build the client again there, for every test.
pub fn push_client() -> &'static Path {
    static CLIENT: OnceLock<PathBuf> = OnceLock::new();
    CLIENT.get_or_init(|| match std::env::var_os("XTASK_PUSH") {
        Some(client) => client.into(),
        None => {
            support::run(support::cargo().args([
                "build",
                "--quiet",
                "--package",
                "xtask-push",
                "--bin",
                "xtask-push",
            ]));
            support::target_dir().join("debug").join("xtask-push")
        }
    })
}

/// The outcome of one xtask run.
pub struct Run {
    args: String,
    output: Output,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn success(&self) -> bool {
        self.output.status.success()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Stdout, failing the test with both streams unless the run succeeded.
    pub fn ok(&self) -> String {
        assert!(
            self.output.status.success(),
            "`cargo xtask {}` failed:\n{}\n{}",
            self.args,
            self.stdout(),
            self.stderr()
        );
        self.stdout()
    }

    /// Stderr, failing the test unless the run failed.
    pub fn fails(&self) -> String {
        assert!(
            !self.output.status.success(),
            "`cargo xtask {}` should have failed:\n{}\n{}",
            self.args,
            self.stdout(),
            self.stderr()
        );
        self.stderr()
    }
}

/// The image manifest of a layout: its digest (checked against the bytes) and the bytes.
pub fn layout_manifest(layout: &Path) -> (String, Vec<u8>) {
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let bytes = fs::read(
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap();
    assert_eq!(
        format!("sha256:{:x}", Sha256::digest(&bytes)),
        digest,
        "the layout is consistent"
    );
    (digest, bytes)
}

/// `skopeo inspect` of a reference in a plain-HTTP or self-signed test registry: the JSON, or
/// `Err(stderr)` when the image is not there.
pub fn skopeo_inspect(reference: &str, raw: bool) -> Result<Vec<u8>, String> {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--tls-verify=false"]);
    if raw {
        cmd.arg("--raw");
    }
    let output = cmd
        .arg(format!("docker://{reference}"))
        .output()
        .expect("cannot run skopeo");
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// A CA and a server certificate for 127.0.0.1 signed by it, made with the openssl CLI:
/// returns (ca.pem, server.pem, server.key).
pub fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let path = |name: &str| dir.join(name);
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    support::run(
        Command::new("openssl")
            .args(["req", "-x509"])
            .args(ec)
            .args(["-days", "2", "-subj", "/CN=xtask test CA"])
            .arg("-keyout")
            .arg(path("ca.key"))
            .arg("-out")
            .arg(path("ca.pem")),
    );
    support::run(
        Command::new("openssl")
            .arg("req")
            .args(ec)
            .args(["-subj", "/CN=127.0.0.1"])
            .arg("-keyout")
            .arg(path("server.key"))
            .arg("-out")
            .arg(path("server.csr")),
    );
    fs::write(
        path("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,IP:127.0.0.2\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    support::run(
        Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-set_serial", "2"])
            .arg("-in")
            .arg(path("server.csr"))
            .arg("-CA")
            .arg(path("ca.pem"))
            .arg("-CAkey")
            .arg(path("ca.key"))
            .arg("-extfile")
            .arg(path("ext.cnf"))
            .arg("-out")
            .arg(path("server.pem")),
    );
    (path("ca.pem"), path("server.pem"), path("server.key"))
}

/// A token service for a registry in `token` auth mode, as quay.io or ghcr.io run: it checks
/// Basic credentials on a GET, or the refresh token [`REFRESH_TOKEN`] on an OAuth2 form POST (the
/// `identitytoken` flow), and answers with a JWT (RS256, signed by the openssl CLI) granting the
/// requested repository actions. Every request's decoded parameters are recorded (`POST ` first for a POST).
pub struct TokenServer {
    pub realm: String,
    pub requests: Arc<Mutex<Vec<String>>>,
    /// The certificate the registry trusts for tokens (`rootcertbundle`).
    pub cert: PathBuf,
}

use super::support::{TOKEN_ISSUER, TOKEN_SERVICE};
/// The only identity (refresh) token the token service accepts.
pub const REFRESH_TOKEN: &str = "xtask-refresh-token";

impl TokenServer {
    /// Starts the service; `user`/`password` are the only accepted credentials.
    pub fn start(dir: &Path, user: &'static str, password: &'static str) -> TokenServer {
        let key = dir.join("token.key");
        let cert = dir.join("token.pem");
        support::run(
            Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=xtask token",
                ])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&cert),
        );
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .unwrap()
            .stdout;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let _ = answer(stream, &key, &der, user, password, &seen);
            }
        });
        TokenServer {
            realm,
            requests,
            cert,
        }
    }
}

fn answer(
    mut stream: TcpStream,
    key: &Path,
    cert_der: &[u8],
    user: &str,
    password: &str,
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    use base64::Engine as _;
    use std::io::{BufRead, BufReader};
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut authorization = None;
    let mut content_length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_owned());
            } else if name.eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let post = request_line.starts_with("POST ");
    let encoded = if post {
        let mut body = vec![0; content_length];
        std::io::Read::read_exact(&mut reader, &mut body)?;
        String::from_utf8_lossy(&body).into_owned()
    } else {
        let query = request_line.split_whitespace().nth(1).unwrap_or("");
        query
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or("")
            .to_owned()
    };
    let params: Vec<(String, String)> = encoded
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        .collect();
    let shown = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    seen.lock()
        .unwrap()
        .push(if post { format!("POST {shown}") } else { shown });
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    let allowed = if post {
        param("grant_type") == Some("refresh_token")
            && param("refresh_token") == Some(REFRESH_TOKEN)
    } else {
        authorization.as_deref() == Some(expected.as_str())
    };
    if !allowed {
        return stream.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
    // GET repeats `scope`; the OAuth2 form joins scopes with spaces.
    let access: Vec<serde_json::Value> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, scopes)| scopes.split(' '))
        .filter_map(|scope| {
            let mut parts = scope.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            Some(serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256",
        "x5c": [base64::engine::general_purpose::STANDARD.encode(cert_der)]});
    let claims = serde_json::json!({"iss": TOKEN_ISSUER, "sub": user, "aud": TOKEN_SERVICE,
        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", access.len()), "access": access});
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut openssl = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    openssl
        .stdin
        .take()
        .unwrap()
        .write_all(signing_input.as_bytes())?;
    let signature = openssl.wait_with_output()?.stdout;
    let token = format!("{signing_input}.{}", b64(&signature));
    // The OAuth2 endpoint answers `access_token`, the GET endpoint `token`.
    let body = if post {
        serde_json::json!({"access_token": token, "expires_in": 300}).to_string()
    } else {
        serde_json::json!({"token": token}).to_string()
    };
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
