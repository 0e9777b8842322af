//! The built-in TCP upstream when `--tcp-upstream` is not given: it writes back every byte it reads and half-closes
//! when the client does, so what passed the network filter towards the upstream comes back through it.

use std::net::SocketAddr;

/// Binds the echo upstream on an ephemeral loopback port and serves it on a thread of its own; returns its address.
pub fn start() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("tcp-echo-upstream".into())
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                while let Ok((socket, _)) = listener.accept().await {
                    tokio::spawn(async move {
                        let (mut read, mut write) = socket.into_split();
                        if tokio::io::copy(&mut read, &mut write).await.is_ok() {
                            let _ = tokio::io::AsyncWriteExt::shutdown(&mut write).await;
                        }
                    });
                }
            })
        })?;
    Ok(address)
}
