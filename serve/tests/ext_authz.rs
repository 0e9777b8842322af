//! The ext-authz extension in `proxy-wasm-serve`, asking a real gRPC ext_authz server over loopback: Envoy's
//! `envoy.service.auth.v3.Authorization` service served by tonic with Envoy's own message types (envoy-types), as an
//! OPA-Envoy or Authorino would serve it. Allowed, denied, timed-out and unreachable checks, seen by curl.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use envoy_types::ext_authz::v3::pb::{
    Authorization, AuthorizationServer, CheckRequest, CheckResponse, HttpStatusCode,
};
use envoy_types::ext_authz::v3::{
    CheckRequestExt, CheckResponseExt, DeniedHttpResponseBuilder, OkHttpResponseBuilder,
};
use support::*;
use tonic::{Request, Response, Status};

/// The policy: `x-user: alice` is allowed and named to the upstream; `x-user: slow` is answered after a second;
/// anyone else is refused with a 401 that says how to log in.
#[derive(Clone, Default)]
struct Policy {
    /// The request headers of every CheckRequest received.
    seen: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

#[tonic::async_trait]
impl Authorization for Policy {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        let request = request.into_inner();
        let headers = request.get_client_headers().cloned().unwrap_or_default();
        self.seen.lock().unwrap().push(headers.clone());
        let user = headers.get("x-user").map(String::as_str);
        if user == Some("slow") {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let mut response = CheckResponse::default();
        if user == Some("alice") {
            let mut ok = OkHttpResponseBuilder::new();
            ok.add_header("x-auth-user", "alice", None, false);
            response
                .set_status(tonic::Status::ok(""))
                .set_http_response(ok.build());
        } else {
            let mut denied = DeniedHttpResponseBuilder::new();
            denied
                .set_http_status(HttpStatusCode::Unauthorized)
                .add_header("www-authenticate", "Bearer realm=shop", None, false)
                .set_body("log in first");
            response
                .set_status(tonic::Status::permission_denied("no"))
                .set_http_response(denied.build());
        }
        Ok(Response::new(response))
    }
}

/// The gRPC server on its own thread and runtime, on an ephemeral loopback port; dropping it stops it.
struct AuthzServer {
    address: SocketAddr,
    policy: Policy,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AuthzServer {
    fn start() -> AuthzServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let policy = Policy::default();
        let service = AuthorizationServer::new(policy.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                tonic::transport::Server::builder()
                    .add_service(service)
                    .serve_with_incoming_shutdown(
                        tonic::transport::server::TcpIncoming::from(listener),
                        async {
                            let _ = stopped.await;
                        },
                    )
                    .await
                    .expect("the gRPC server runs");
            });
        });
        AuthzServer {
            address,
            policy,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for AuthzServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn ext_authz_proxy(cluster_url: &str) -> Proxy {
    let module = host::testing::extension_module("ext-authz").expect("ext-authz builds");
    start_with(
        &plugin(
            "ext-authz",
            &module,
            r#"{"protocol": "grpc", "cluster": "authz", "timeout_ms": 300, "skip_paths": ["/healthz"]}"#,
        ),
        &[
            "--cluster",
            &format!("authz={cluster_url}"),
            "--workers",
            "1",
        ],
    )
}

#[test]
fn a_grpc_authorization_server_allows_denies_and_times_out_through_the_proxy() {
    let server = AuthzServer::start();
    let proxy = ext_authz_proxy(&server.url());

    let allowed = curl(&["-H", "x-user: alice", &proxy.url("/orders?id=7")]);
    assert_eq!(allowed.status, 200, "{allowed:?}\n{}", proxy.stderr());
    assert_eq!(
        allowed.echoed()["headers"]["x-auth-user"],
        "alice",
        "{allowed:?}"
    );

    let denied = curl(&["-H", "x-user: bob", &proxy.url("/orders")]);
    assert_eq!(denied.status, 401, "{denied:?}");
    assert_eq!(denied.header("www-authenticate"), Some("Bearer realm=shop"));
    assert_eq!(denied.body, "log in first");

    // The check's timeout is 300 ms; the server answers after a second. Fail closed: 403.
    let slow = curl(&["-H", "x-user: slow", &proxy.url("/orders")]);
    assert_eq!(slow.status, 403, "{slow:?}");

    let health = curl(&[&proxy.url("/healthz")]);
    assert_eq!(health.status, 200, "skipped paths are not checked");

    let seen = server.policy.seen.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        3,
        "one check per request but /healthz: {seen:?}"
    );
    assert_eq!(seen[0][":path"], "/orders?id=7");
    assert_eq!(seen[0]["x-user"], "alice");

    let stats = curl(&[&proxy.admin_url("/stats/prometheus")]).body;
    for line in [
        "ext_authz_ok{} 1\n",
        "ext_authz_denied{} 1\n",
        "ext_authz_error{} 1\n",
        "ext_authz_skipped{} 1\n",
    ] {
        assert!(stats.contains(line), "{line:?} in {stats}");
    }
    let logs = proxy.stop();
    assert!(
        logs.contains("gRPC status 14 Unavailable; denied with 403"),
        "{logs}"
    );
}

#[test]
fn an_unreachable_authorization_server_is_a_failure_the_policy_answers() {
    let proxy = ext_authz_proxy(&format!("http://127.0.0.1:{}", closed_port()));
    let reply = curl(&["-H", "x-user: alice", &proxy.url("/orders")]);
    assert_eq!(reply.status, 403, "{reply:?}");
    let logs = proxy.stop();
    assert!(
        logs.contains("gRPC status 14 Unavailable; denied with 403"),
        "{logs}"
    );
}
