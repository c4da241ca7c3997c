//! Start-up: storage, adapters, router, listener.

use crate::api::{self, AppState};
use crate::config::{Config, LogFormat, redact_url};
use crate::metrics::Metrics;
use crate::runtime::{Runtime, watcher};
use crate::store::Store;
use crate::webhooks::dispatcher::Dispatcher;
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub state: AppState,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    _watcher: Option<watcher::AdapterWatcher>,
    /// The webhook delivery workers (unless `webhooks.deliver` is off).
    dispatcher: Option<Dispatcher>,
}

impl Server {
    /// Connects storage, loads adapters and starts listening on `config.bind`
    /// (port 0 picks a free port; see [`Server::addr`]).
    pub async fn start(config: Config) -> Result<Server> {
        let started = Instant::now();
        let sealer = config.sealer()?;
        let url = config.database_url();
        let store = Store::connect(&url, sealer)
            .await
            .with_context(|| format!("cannot open the database {}", redact_url(&url)))?
            .with_lease(config.reservation_lease());
        let metrics = Arc::new(Metrics::default());
        let runtime = Arc::new(Runtime::new(&config, metrics.clone())?);
        let report = runtime.reload().await?;
        if report.loaded.is_empty() {
            tracing::warn!(dir = %config.adapters_dir.display(), "no adapters loaded: every CRM call will fail");
        }
        let watcher = if config.watch_adapters { Some(watcher::watch(runtime.clone())?) } else { None };
        let listener =
            TcpListener::bind(config.bind).await.with_context(|| format!("cannot listen on {}", config.bind))?;
        let addr = listener.local_addr()?;
        let limits = crate::serve::ConnectionLimits {
            max_connections: config.limits.max_connections,
            header_read_timeout: std::time::Duration::from_millis(config.limits.header_read_timeout_ms.max(1)),
        };
        let dispatcher = if config.webhooks.deliver {
            Some(Dispatcher::start(store.clone(), config.webhooks.clone(), metrics.clone())?)
        } else {
            None
        };
        let state = AppState::new(config, store, runtime, metrics);
        let app = api::router(state.clone());
        let (shutdown, on_shutdown) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(crate::serve::serve(listener, app, limits, async {
            let _ = on_shutdown.await;
        }));
        tracing::info!(
            %addr,
            adapters = ?report.loaded,
            failed = ?report.failed,
            startup_ms = started.elapsed().as_secs_f64() * 1000.0,
            "switchboard is serving"
        );
        Ok(Server { addr, state, task, shutdown, _watcher: watcher, dispatcher })
    }

    /// Stops accepting connections and waits for in-flight requests.
    pub async fn stop(self) -> Result<()> {
        let _ = self.shutdown.send(());
        self.task.await??;
        if let Some(d) = self.dispatcher {
            d.stop().await;
        }
        self.state.store.close().await;
        Ok(())
    }

    /// Serves until the task ends (it does not on its own).
    pub async fn wait(self) -> Result<()> {
        self.task.await??;
        Ok(())
    }

    /// Serves until `signal`, then shuts down gracefully: no new connections,
    /// requests in flight (and the CRM calls they wait on) finish within
    /// `grace`, the database is closed. A call still running after `grace`
    /// is abandoned; its reservation's lease lets a retry take it over.
    pub async fn serve_until(mut self, signal: impl std::future::Future<Output = ()>, grace: Duration) -> Result<()> {
        tokio::select! {
            r = &mut self.task => r??,
            () = signal => {
                tracing::info!(grace_ms = grace.as_millis() as u64, "shutting down: finishing the requests in flight");
                let _ = self.shutdown.send(());
                match tokio::time::timeout(grace, &mut self.task).await {
                    Ok(r) => r??,
                    Err(_) => tracing::warn!("requests still in flight after the grace period: abandoned"),
                }
            }
        }
        if let Some(d) = self.dispatcher.take() {
            // Attempts in flight record themselves; one still running after
            // the grace is retried by a later claim when its lease ends.
            let _ = tokio::time::timeout(grace, d.stop()).await;
        }
        self.state.store.close().await;
        tracing::info!("shut down");
        Ok(())
    }
}

/// `switchboard rotate-key`: re-encrypts every stored secret with the current
/// `encryption_key` (old ones must be listed in `previous_encryption_keys`).
/// Returns how many secrets were re-encrypted and the current key's id.
pub async fn rotate_keys(config: &Config) -> Result<(usize, String)> {
    let sealer = config.sealer()?;
    let key_id = sealer.key_id().to_owned();
    let url = config.database_url();
    let store =
        Store::connect(&url, sealer).await.with_context(|| format!("cannot open the database {}", redact_url(&url)))?;
    let count =
        store.reencrypt_all().await.context("re-encryption failed; nothing after the failing row was changed")?;
    store.close().await;
    Ok((count, key_id))
}

/// Logs to stderr (in batches: see `log_writer`), human-readable or JSON;
/// `RUST_LOG` filters (default `info`).
pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a terminal: a log file gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(crate::log_writer::stderr()).with_ansi(ansi);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
