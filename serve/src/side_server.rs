//! A small HTTP server on a thread of its own, outside the workers: the admin pages and the built-in echo upstream.

use std::future::Future;

use hyper::body::{Body, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

/// Serves `handle` on `listener` (HTTP/1.1 and h2c) from a thread named `name` with a runtime of its own.
pub fn spawn<H, F, B>(name: &str, listener: std::net::TcpListener, handle: H) -> anyhow::Result<()>
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
    F: Future<Output = Result<Response<B>, hyper::Error>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                while let Ok((socket, _)) = listener.accept().await {
                    let handle = handle.clone();
                    tokio::spawn(async move {
                        let _ = auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(socket), service_fn(handle))
                            .await;
                    });
                }
            })
        })?;
    Ok(())
}
