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
    /// Linear memory one instance takes at its start (what each call waits
    /// for in the host-wide memory budget; it holds twice what it uses).
    #[serde(rename = "startupMemoryBytes")]
    pub(crate) startup_memory_bytes: Option<usize>,
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

/// What an operator allows a reload to do beyond the default.
#[derive(Debug, Clone, Default)]
pub struct ReloadOptions {
    /// An installed file whose manifest now names another platform moves to
    /// it (otherwise refused, its previous version kept serving).
    pub accept_platform_changes: bool,
    /// Only this file (`<name>.wasm`) is read again; the others stay as they are.
    pub only: Option<String>,
}

/// A file's load outcome: the adapter and whether it is newly loaded.
type Attempt = Result<(Arc<LoadedAdapter>, bool)>;

/// Who serves each platform claimed by a loaded file: the file that serves it
/// now if it still claims it, or failed to reload (its previous version goes
/// on serving): a newcomer never takes a platform over. Else the only
/// claimant, or among several the one named `<platform>.wasm` (so a restart
/// keeps the rightful file); `None` when several others claim it (none wins:
/// the operator must remove the extra ones).
fn owners(
    current: &AdapterMap,
    attempts: &[(String, Option<&Arc<LoadedAdapter>>, Attempt)],
) -> BTreeMap<String, Option<String>> {
    let mut claims: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (file, _, attempt) in attempts {
        if let Ok((adapter, _)) = attempt {
            claims.entry(adapter.manifest.platform.clone()).or_default().push(file);
        }
    }
    claims
        .into_iter()
        .map(|(platform, files)| {
            let incumbent = current
                .get(&platform)
                .and_then(|a| a.path.file_name())
                .map(|f| f.to_string_lossy().into_owned())
                .filter(|f| {
                    files.contains(&f.as_str())
                        || attempts.iter().any(|(file, _, attempt)| file == f && attempt.is_err())
                });
            let named = format!("{platform}.wasm");
            let owner = match (incumbent, files.as_slice()) {
                (Some(f), _) => Some(f),
                (None, [only]) => Some((*only).to_owned()),
                (None, many) => many.iter().find(|f| **f == named).map(|f| (*f).to_owned()),
            };
            (platform, owner)
        })
        .collect()
}

impl Runtime {
    /// Re-reads the adapters directory. New and changed adapters are loaded
    /// and checked off the request path, then the whole set is swapped at
    /// once. A file that fails leaves its previous version serving (and the
    /// error recorded); a removed file unloads its adapter.
    pub async fn reload(&self) -> Result<ReloadReport> {
        self.reload_with(ReloadOptions::default()).await
    }

    /// [`Runtime::reload`], with what the operator explicitly allows.
    pub async fn reload_with(&self, options: ReloadOptions) -> Result<ReloadReport> {
        let _one_at_a_time = self.reloading.lock().await;
        let started = Instant::now();
        // The directory and its files are read off the async workers.
        let dir = self.dir.clone();
        let mut wasm_files: Vec<PathBuf> = tokio::task::spawn_blocking(move || {
            std::fs::read_dir(&dir)
                .with_context(|| format!("cannot read the adapters directory {}", dir.display()))
                .map(|entries| {
                    entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
                        .collect()
                })
        })
        .await??;
        wasm_files.sort();

        let current = self.adapters.read().unwrap_or_else(|p| p.into_inner()).clone();
        let by_path: BTreeMap<&Path, &Arc<LoadedAdapter>> = current.values().map(|a| (a.path.as_path(), a)).collect();
        let mut next: AdapterMap = BTreeMap::new();
        let mut statuses: BTreeMap<String, FileStatus> = BTreeMap::new();
        let mut report = ReloadReport::default();

        // Load every file first, then settle who serves each platform.
        let mut attempts = Vec::with_capacity(wasm_files.len());
        let mut untouched = Vec::new();
        let mut not_asked = std::collections::BTreeSet::new();
        for path in wasm_files {
            let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            let previous = by_path.get(path.as_path()).copied();
            if options.only.as_ref().is_some_and(|only| *only != file) {
                // Not the file asked for: what serves from it serves on.
                match previous {
                    Some(prev) => {
                        not_asked.insert(file.clone());
                        attempts.push((file, Some(prev), Ok((prev.clone(), false))));
                    }
                    None => untouched.push(file),
                }
                continue;
            }
            let (dir, file_path) = (self.dir.clone(), path.clone());
            let read = tokio::task::spawn_blocking(move || AdapterFiles::read(&dir, &file_path))
                .await
                .unwrap_or_else(|e| Err(anyhow::anyhow!("reading {} failed: {e}", path.display())));
            let attempt = match (read, previous) {
                (Ok(files), Some(prev)) if prev.fingerprint == files.fingerprint() => Ok((prev.clone(), false)),
                (Ok(files), _) => self.load(files).await.map(|a| (Arc::new(a), true)),
                (Err(e), _) => Err(e),
            };
            let attempt = attempt.and_then(|(adapter, fresh)| match previous {
                Some(prev) if prev.manifest.platform != adapter.manifest.platform && !options.accept_platform_changes => {
                    Err(anyhow::anyhow!(
                        "its manifest now names platform {:?}, but it serves {:?}: a file changes platform only when an \
                         operator accepts it (POST /admin/reload?acceptPlatformChanges=true)",
                        adapter.manifest.platform,
                        prev.manifest.platform
                    ))
                }
                _ => Ok((adapter, fresh)),
            });
            attempts.push((file, previous, attempt));
        }
        let owners = owners(&current, &attempts);

        for (file, previous, attempt) in attempts {
            let result = attempt.and_then(|(adapter, fresh)| match owners.get(&adapter.manifest.platform) {
                Some(Some(owner)) if *owner == file => Ok((adapter, fresh)),
                Some(Some(owner)) => Err(anyhow::anyhow!(
                    "platform {:?} is already provided by {owner}; a second file cannot take it over",
                    adapter.manifest.platform
                )),
                _ => Err(anyhow::anyhow!(
                    "platform {:?} is claimed by several new files, so none of them is served until one remains",
                    adapter.manifest.platform
                )),
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
                    } else if !not_asked.contains(&file) {
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
        {
            let mut files = self.files.write().unwrap_or_else(|p| p.into_inner());
            for file in untouched {
                if let Some(status) = files.remove(&file) {
                    statuses.insert(file, status);
                }
            }
            *files = statuses;
        }
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
                startup_memory_bytes: serving.map(|a| a.startup_memory),
                loaded_at: serving.map(|a| unix_secs(a.loaded_at)),
                last_error: status.error.clone(),
                last_error_at: status.error_at.map(unix_secs),
            });
        }
        out
    }
}
