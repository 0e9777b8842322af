//! The admin listener, as Envoy's admin port: `/ready`, `/stats/prometheus` with the plugins' metrics summed over
//! the workers, and `/config_dump` with the effective chain.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::sync::{mpsc, oneshot};

use crate::stats;
use crate::worker::Query;

/// What the admin pages show and whom they ask.
pub struct Admin {
    pub workers: Vec<mpsc::UnboundedSender<Query>>,
    /// The Envoy release the plugins run as: it decides how their metrics are named.
    pub envoy: envoy_targets::Envoy,
    pub config: serde_json::Value,
}

/// Serves the admin pages on their own thread.
pub fn start(listener: std::net::TcpListener, admin: Admin) -> anyhow::Result<()> {
    let admin = Arc::new(admin);
    crate::side_server::spawn("admin", listener, move |request| {
        page(Arc::clone(&admin), request)
    })
}

async fn page(
    admin: Arc<Admin>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (status, content_type, body) = match request.uri().path() {
        "/ready" => (StatusCode::OK, "text/plain", "LIVE\n".to_owned()),
        "/stats/prometheus" => {
            let mut per_worker = Vec::new();
            for worker in &admin.workers {
                let (reply, answer) = oneshot::channel();
                if worker.send(Query::Metrics(reply)).is_ok()
                    && let Ok(metrics) = answer.await
                {
                    per_worker.push(metrics);
                }
            }
            (
                StatusCode::OK,
                "text/plain; version=0.0.4",
                stats::prometheus(&per_worker, admin.envoy),
            )
        }
        "/config_dump" => (
            StatusCode::OK,
            "application/json",
            serde_json::to_string_pretty(&admin.config).unwrap_or_default(),
        ),
        other => (
            StatusCode::NOT_FOUND,
            "text/plain",
            format!("no admin page {other}; try /ready, /stats/prometheus or /config_dump\n"),
        ),
    };
    let response = Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default();
    Ok(response)
}

pub fn bind(address: SocketAddr) -> anyhow::Result<(std::net::TcpListener, SocketAddr)> {
    crate::bind("--admin", address)
}
