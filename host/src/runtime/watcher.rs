//! Reloading adapters when their directory changes.
//!
//! File events are debounced: a reload starts once the directory has been
//! quiet for [`DEBOUNCE`], so copying a component and its manifest (or an
//! editor's several writes) causes one reload, not many.

use super::Runtime;
use anyhow::{Context, Result};
use notify::{EventKind, RecursiveMode, Watcher};
use std::sync::Arc;
use std::time::Duration;

pub(crate) const DEBOUNCE: Duration = Duration::from_millis(200);

/// Watches while alive.
pub(crate) struct AdapterWatcher {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AdapterWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn relevant(event: &notify::Event) -> bool {
    !matches!(event.kind, EventKind::Access(_))
        && event.paths.iter().any(|p| p.extension().is_some_and(|x| x == "wasm" || x == "toml"))
}

pub(crate) fn watch(runtime: Arc<Runtime>) -> Result<AdapterWatcher> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| relevant(&e)) {
            let _ = tx.send(());
        }
    })
    .context("cannot watch the adapters directory")?;
    watcher
        .watch(runtime.adapters_dir(), RecursiveMode::NonRecursive)
        .with_context(|| format!("cannot watch {}", runtime.adapters_dir().display()))?;
    let task = tokio::spawn(async move {
        while rx.recv().await.is_some() {
            loop {
                match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_quiet) => break,
                }
            }
            match runtime.reload().await {
                Ok(r) => tracing::info!(
                    loaded = ?r.loaded, unloaded = ?r.unloaded, failed = ?r.failed,
                    swap_us = r.swap_micros, elapsed_ms = r.elapsed_ms, "adapters reloaded"
                ),
                Err(e) => tracing::error!(error = %format!("{e:#}"), "adapter reload failed"),
            }
        }
    });
    Ok(AdapterWatcher { _watcher: watcher, task })
}
