//! Serving HTTP: the accept loop around the router, with the connection
//! limits a public server needs (`axum::serve` has none): at most
//! `limits.max_connections` open at once (the next waits in the kernel's
//! backlog, so descriptors never run out), and `limits.header_read_timeout_ms`
//! to send a request's headers, which also ends idle keep-alive connections
//! (a slowloris client holds a connection that long, no longer), and as long
//! again to send HTTP/2's preface. HTTP/1.1, and HTTP/2 without TLS (h2c,
//! prior knowledge). Graceful shutdown: stop accepting, let requests in
//! flight finish.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulConnection, GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// The limits of the accept loop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    pub(crate) max_connections: usize,
    pub(crate) header_read_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown` completes, then waits for the
/// connections in flight to finish their requests.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut h1 = http1::Builder::new();
    h1.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let mut h2 = http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new()).keep_alive_interval(Some(limits.header_read_timeout));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.map_err(std::io::Error::other)?,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a reset before accept: wait a little, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app.clone().map_request(move |req: Request<Incoming>| {
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        });
        let service = TowerToHyperService::new(service);
        let (h1, h2, watcher) = (h1.clone(), h2.clone(), graceful.watcher());
        tokio::spawn(async move {
            let _permit = permit;
            // Decided here, in the connection's own task: a client slow to
            // send its first bytes holds up no one else.
            if opens_with_http2_preface(&stream, limits.header_read_timeout).await {
                run(watcher, h2.serve_connection(TokioIo::new(stream), service), peer).await;
            } else {
                run(watcher, h1.serve_connection(TokioIo::new(stream), service), peer).await;
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Serves one connection until it ends, or until a graceful shutdown has
/// let its requests in flight finish.
async fn run<C>(watcher: Watcher, connection: C, peer: std::net::SocketAddr)
where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!(error = %e, %peer, "connection ended with an error");
    }
}

/// HTTP/2 without TLS (h2c, prior knowledge) starts with this preface.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether the client opened with HTTP/2's preface, by peeking at what it has
/// sent (nothing is consumed: hyper reads it all again). A first byte that
/// differs (any HTTP/1 method) decides at once. A client that sends nothing,
/// or only part of the preface, within `wait` is served as HTTP/1, whose
/// header timeout then ends it: it holds a connection at most twice `wait`.
///
/// Why not hyper-util's `auto` builder: it waits for those bytes with no
/// timeout (half a preface held a connection for ever), and replays them as
/// a first read of up to 24 bytes, after which hyper's 8 KiB read buffer
/// grows to 16 KiB on every HTTP/1 connection (`Vec`'s doubling): about
/// 26 MiB more at 2,000 keep-alive clients (VmHWM under `wrk -c2000`).
async fn opens_with_http2_preface(stream: &TcpStream, wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    let mut seen = [0u8; H2_PREFACE.len()];
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut seen)).await {
            Ok(Ok(n)) => n,
            // An error or no bytes in time: hyper's HTTP/1 side reports or times it out.
            Ok(Err(_)) | Err(_) => return false,
        };
        if n == 0 || seen[..n] != H2_PREFACE[..n] {
            return false;
        }
        if n == H2_PREFACE.len() {
            return true;
        }
        // The preface so far, in pieces: peeking again at once would see the
        // same bytes, so wait a little for the rest.
        if tokio::time::timeout_at(deadline, tokio::time::sleep(Duration::from_millis(5))).await.is_err() {
            return false;
        }
    }
}
