//! The set of loaded adapters, and reloading it from the adapters directory.
//!
//! The set is an immutable map behind an `Arc`, swapped whole. A request takes
//! the `Arc` of its adapter at the start, so in-flight calls finish on the
//! version they started with while new calls get the new one.

use super::adapter::LoadedAdapter;
use super::loader::AdapterFiles;
use super::{AdapterMap, Runtime};
use crate::clock::unix_secs;
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// What the last reload said about one file.
#[derive(Debug, Clone, Default)]
pub(super) struct FileStatus {
    error: Option<String>,
    error_at: Option<SystemTime>,
}

/// One adapter (or adapter file that failed to load) as operators see it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AdapterStatus {
    pub(crate) file: String,
    /// `active`: serving (possibly an older version, see `lastError`);
    /// `failed`: nothing from this file is serving.
    pub(crate) state: &'static str,
    pub(crate) platform: Option<String>,
    pub(crate) version: Option<String>,
    #[serde(rename = "witVersion")]
    pub(crate) wit_version: Option<String>,
    #[serde(rename = "contentHash")]
    pub(crate) content_hash: Option<String>,
    /// Unix seconds.
    #[serde(rename = "loadedAt")]
    pub(crate) loaded_at: Option<u64>,
    #[serde(rename = "lastError")]
    pub(crate) last_error: Option<String>,
    #[serde(rename = "lastErrorAt")]
    pub(crate) last_error_at: Option<u64>,
}

/// What a reload did.
#[derive(Debug, Default, Serialize)]
pub struct ReloadReport {
    pub loaded: Vec<String>,
    pub unchanged: Vec<String>,
    pub unloaded: Vec<String>,
    pub failed: Vec<String>,
    #[serde(rename = "swapMicros")]
    pub swap_micros: f64,
    #[serde(rename = "elapsedMs")]
    pub elapsed_ms: f64,
}

impl Runtime {
    /// Re-reads the adapters directory. New and changed adapters are loaded
    /// and checked off the request path, then the whole set is swapped at
    /// once. A file that fails leaves its previous version serving (and the
    /// error recorded); a removed file unloads its adapter.
    pub async fn reload(&self) -> Result<ReloadReport> {
        let _one_at_a_time = self.reloading.lock().await;
        let started = Instant::now();
        let mut wasm_files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .with_context(|| format!("cannot read the adapters directory {}", self.dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        wasm_files.sort();

        let current = self.adapters.read().unwrap_or_else(|p| p.into_inner()).clone();
        let by_path: BTreeMap<&Path, &Arc<LoadedAdapter>> = current.values().map(|a| (a.path.as_path(), a)).collect();
        let mut next: AdapterMap = BTreeMap::new();
        let mut statuses: BTreeMap<String, FileStatus> = BTreeMap::new();
        let mut report = ReloadReport::default();

        for path in wasm_files {
            let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            let previous = by_path.get(path.as_path()).copied();
            let attempt = match (AdapterFiles::read(&path), previous) {
                (Ok(files), Some(prev)) if prev.fingerprint == files.fingerprint() => Ok((prev.clone(), false)),
                (Ok(files), _) => self.load(files).await.map(|a| (Arc::new(a), true)),
                (Err(e), _) => Err(e),
            };
            let result = attempt.and_then(|(adapter, fresh)| match next.get(&adapter.manifest.platform) {
                Some(other) => Err(anyhow::anyhow!(
                    "platform {:?} is already provided by {}",
                    adapter.manifest.platform,
                    other.path.display()
                )),
                None => Ok((adapter, fresh)),
            });
            match result {
                Ok((adapter, fresh)) => {
                    let platform = adapter.manifest.platform.clone();
                    if fresh {
                        tracing::info!(
                            platform = %platform, version = %adapter.manifest.version, wit = %adapter.wit_version,
                            hash = %&adapter.content_hash[..12], file = %file, "adapter loaded"
                        );
                        report.loaded.push(platform.clone());
                    } else {
                        report.unchanged.push(platform.clone());
                    }
                    next.insert(platform, adapter);
                    statuses.insert(file, FileStatus::default());
                }
                Err(e) => {
                    let message = format!("{e:#}");
                    tracing::error!(file = %file, error = %message, kept_previous = previous.is_some(), "adapter not loaded");
                    report.failed.push(file.clone());
                    if let Some(prev) = previous.filter(|p| !next.contains_key(&p.manifest.platform)) {
                        next.insert(prev.manifest.platform.clone(), prev.clone());
                    }
                    statuses.insert(file, FileStatus { error: Some(message), error_at: Some(SystemTime::now()) });
                }
            }
        }
        report.unloaded = current.keys().filter(|p| !next.contains_key(*p)).cloned().collect();
        for platform in &report.unloaded {
            tracing::info!(platform = %platform, "adapter unloaded");
        }
        let swap = Instant::now();
        *self.adapters.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        report.swap_micros = swap.elapsed().as_secs_f64() * 1e6;
        *self.files.write().unwrap_or_else(|p| p.into_inner()) = statuses;
        report.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let result = if report.failed.is_empty() { "ok" } else { "partial" };
        self.metrics.reloads.get_or_create(&crate::metrics::ResultLabels { result: result.into() }).inc();
        Ok(report)
    }

    /// Every adapter file and what is serving from it, for operators.
    pub(crate) fn statuses(&self) -> Vec<AdapterStatus> {
        let adapters = self.adapters.read().unwrap_or_else(|p| p.into_inner()).clone();
        let files = self.files.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut out = Vec::new();
        for (file, status) in &files {
            let serving = adapters.values().find(|a| a.path.file_name().is_some_and(|f| f.to_string_lossy() == *file));
            out.push(AdapterStatus {
                file: file.clone(),
                state: if serving.is_some() { "active" } else { "failed" },
                platform: serving.map(|a| a.manifest.platform.clone()),
                version: serving.map(|a| a.manifest.version.clone()),
                wit_version: serving.map(|a| a.wit_version.clone()),
                content_hash: serving.map(|a| a.content_hash.clone()),
                loaded_at: serving.map(|a| unix_secs(a.loaded_at)),
                last_error: status.error.clone(),
                last_error_at: status.error_at.map(unix_secs),
            });
        }
        out
    }
}
