//! A TCP proxy that can take its upstream away, for fault tests: between the
//! host and its PostgreSQL, [`TcpProxy::cut`] makes the database vanish as a
//! restart does (every open connection closed, new ones refused) and
//! [`TcpProxy::restore`] brings it back on the same address.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct TcpProxy {
    /// Where clients connect (stays the same across cuts).
    pub addr: SocketAddr,
    upstream: SocketAddr,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// The accept loop, while the proxy is up.
    listener: Option<JoinHandle<()>>,
    /// One task per proxied connection.
    connections: Vec<JoinHandle<()>>,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<TcpProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let proxy = TcpProxy { addr: listener.local_addr()?, upstream, state: Arc::default() };
        proxy.listen(listener);
        Ok(proxy)
    }

    /// Closes every open connection and refuses new ones (nothing listens).
    pub fn cut(&self) {
        let mut state = self.state();
        if let Some(listener) = state.listener.take() {
            listener.abort();
        }
        for connection in state.connections.drain(..) {
            connection.abort();
        }
    }

    /// Listens again on the same address.
    pub async fn restore(&self) -> std::io::Result<()> {
        if self.state().listener.is_some() {
            return Ok(());
        }
        // The aborted accept loop drops its listener at its next poll.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(e) if std::time::Instant::now() > deadline => return Err(e),
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        };
        self.listen(listener);
        Ok(())
    }

    fn listen(&self, listener: TcpListener) {
        let (state, upstream) = (self.state.clone(), self.upstream);
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let connection = tokio::spawn(forward(inbound, upstream));
                let mut state = lock(&state);
                state.connections.retain(|c| !c.is_finished());
                state.connections.push(connection);
            }
        });
        self.state().listener = Some(task);
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

async fn forward(mut inbound: TcpStream, upstream: SocketAddr) {
    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
