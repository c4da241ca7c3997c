//! Loading adapters from a directory and calling them.

use super::bindings::exports::switchboard::crm::crm::Guest as Crm;
use super::bindings::{Adapter, AdapterPre};
use super::engine;
use super::host_state::{CallScope, HostState};
use super::manifest::{AuthSpec, Manifest};
use super::outbound::{CallPolicy, Origin, Outbound};
use super::{CallContext, CrmError};
use crate::config::Config;
use anyhow::{Context, Result, bail};
use axum::http::{HeaderName, HeaderValue};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store, StoreLimitsBuilder, Trap};

/// A compiled, type-checked adapter ready to instantiate.
pub struct LoadedAdapter {
    pub manifest: Manifest,
    pub path: PathBuf,
    /// SHA-256 of the `.wasm` file.
    pub content_hash: String,
    pub loaded_at: std::time::SystemTime,
    pre: AdapterPre<HostState>,
    allowed: Arc<Vec<Origin>>,
    settings: Arc<BTreeMap<String, String>>,
    platform: Arc<str>,
    version: Arc<str>,
}

impl std::fmt::Debug for LoadedAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedAdapter")
            .field("platform", &self.manifest.platform)
            .field("version", &self.manifest.version)
            .field("content_hash", &self.content_hash)
            .finish_non_exhaustive()
    }
}

/// Why an adapter call produced no answer.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The adapter ran and reported a CRM-level failure.
    #[error("{0}")]
    Crm(CrmError),
    #[error("adapter {platform} {version} trapped during {operation}: {message}")]
    Trapped {
        platform: String,
        version: String,
        operation: &'static str,
        message: String,
    },
    #[error("adapter {platform} {version} exceeded its {limit} during {operation}")]
    Timeout {
        platform: String,
        version: String,
        operation: &'static str,
        limit: &'static str,
    },
}

/// Results of loading a directory, for the start-up log.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub loaded: Vec<String>,
    pub failed: Vec<(PathBuf, String)>,
}

pub type CallFuture<'a, T> =
    Pin<Box<dyn Future<Output = wasmtime::Result<Result<T, CrmError>>> + Send + 'a>>;

pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    outbound: Arc<Outbound>,
    limits: crate::config::Limits,
    adapter_settings: BTreeMap<String, crate::config::AdapterSettings>,
    adapters: RwLock<Arc<BTreeMap<String, Arc<LoadedAdapter>>>>,
}

impl Runtime {
    pub fn new(config: &Config) -> Result<Runtime> {
        let engine = engine::build(&config.limits)?;
        let mut linker: Linker<HostState> = Linker::new(&engine);
        // A wasm32-wasip2 guest imports the WASI interfaces even when it uses
        // none; link them against an empty context (no files, env or sockets).
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)
            .context("failed to link WASI")?;
        Adapter::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(anyhow::Error::from)
            .context("failed to link the switchboard imports")?;
        let outbound = Outbound::new(
            &config.upstream_overrides,
            Duration::from_millis(config.limits.outbound_timeout_ms),
            config.limits.outbound_max_response_bytes,
        )?;
        Ok(Runtime {
            engine,
            linker,
            outbound: Arc::new(outbound),
            limits: config.limits.clone(),
            adapter_settings: config.adapters.clone(),
            adapters: RwLock::new(Arc::new(BTreeMap::new())),
        })
    }

    /// Loads every `<name>.wasm` with a `<name>.toml` manifest in `dir`.
    /// A broken adapter is reported and skipped; the others load.
    pub async fn load_dir(&self, dir: &Path) -> Result<LoadReport> {
        let mut wasm_files: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read the adapters directory {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        wasm_files.sort();
        let mut report = LoadReport::default();
        let mut loaded = BTreeMap::new();
        for path in wasm_files {
            match self.load_one(&path).await {
                Ok(adapter) => {
                    let platform = adapter.manifest.platform.clone();
                    if loaded.contains_key(&platform) {
                        report.failed.push((
                            path,
                            format!("platform {platform:?} is already provided by another file"),
                        ));
                        continue;
                    }
                    tracing::info!(
                        platform = %platform, version = %adapter.manifest.version,
                        hash = %&adapter.content_hash[..12], path = %path.display(), "adapter loaded"
                    );
                    report.loaded.push(platform.clone());
                    loaded.insert(platform, Arc::new(adapter));
                }
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %format!("{e:#}"), "adapter not loaded");
                    report.failed.push((path, format!("{e:#}")));
                }
            }
        }
        *self.adapters.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(loaded);
        Ok(report)
    }

    async fn load_one(&self, path: &Path) -> Result<LoadedAdapter> {
        let manifest_path = path.with_extension("toml");
        if !manifest_path.exists() {
            bail!(
                "no manifest: expected {} beside the component",
                manifest_path.display()
            );
        }
        let manifest = Manifest::load(&manifest_path)?;
        let bytes = tokio::fs::read(path)
            .await
            .with_context(|| format!("cannot read {}", path.display()))?;
        let content_hash = hex::encode(Sha256::digest(&bytes));
        let engine = self.engine.clone();
        // Compiling takes a CPU for a while: keep it off the async workers.
        let component = tokio::task::spawn_blocking(move || Component::new(&engine, &bytes))
            .await?
            .map_err(anyhow::Error::from)
            .with_context(|| format!("failed to compile wasm component {}", path.display()))?;
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!(
                    "{} imports something this host does not provide",
                    path.display()
                )
            })?;
        let pre = AdapterPre::new(instance_pre)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!(
                    "{} does not export the switchboard:crm world {} the manifest claims",
                    path.display(),
                    manifest.wit_version
                )
            })?;
        let settings = self
            .adapter_settings
            .get(&manifest.platform)
            .map(|s| s.settings.clone())
            .unwrap_or_default();
        Ok(LoadedAdapter {
            allowed: Arc::new(manifest.allowed_origins()),
            platform: manifest.platform.as_str().into(),
            version: manifest.version.as_str().into(),
            settings: Arc::new(settings),
            manifest,
            path: path.to_owned(),
            content_hash,
            loaded_at: std::time::SystemTime::now(),
            pre,
        })
    }

    pub fn adapter(&self, platform: &str) -> Option<Arc<LoadedAdapter>> {
        self.adapters
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(platform)
            .cloned()
    }

    pub fn adapters(&self) -> Vec<Arc<LoadedAdapter>> {
        self.adapters
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Calls one export of `adapter` in a fresh store, with the connection's
    /// credential (if any) available to the host's `http` import only.
    pub async fn call<T, F>(
        &self,
        adapter: &LoadedAdapter,
        operation: &'static str,
        request_id: &str,
        credential: Option<&str>,
        f: F,
    ) -> Result<T, InvokeError>
    where
        T: Send,
        F: for<'a> FnOnce(&'a Crm, &'a mut Store<HostState>) -> CallFuture<'a, T> + Send,
    {
        let scope = CallScope {
            platform: adapter.platform.clone(),
            version: adapter.version.clone(),
            operation,
            request_id: request_id.to_owned(),
        };
        let policy = CallPolicy {
            allowed: adapter.allowed.clone(),
            credential: credential.and_then(|c| credential_header(&adapter.manifest, c)),
            remaining_requests: self.limits.outbound_requests_per_call,
        };
        let limits = StoreLimitsBuilder::new()
            .memory_size((self.limits.adapter_memory_mib * 1024 * 1024) as usize)
            .trap_on_grow_failure(true)
            .build();
        let state = HostState::new(
            scope,
            policy,
            self.outbound.clone(),
            adapter.settings.clone(),
            limits,
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let ticks = self
            .limits
            .adapter_cpu_ms
            .div_ceil(engine::EPOCH_TICK.as_millis() as u64)
            .max(1);
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();

        let started = Instant::now();
        let wall = Duration::from_millis(self.limits.adapter_wall_ms);
        let run = async {
            let bindings = adapter.pre.instantiate_async(&mut store).await?;
            f(bindings.switchboard_crm_crm(), &mut store).await
        };
        let outcome = tokio::time::timeout(wall, run).await;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let fail = |message: String| InvokeError::Trapped {
            platform: adapter.manifest.platform.clone(),
            version: adapter.manifest.version.clone(),
            operation,
            message,
        };
        let timeout = |limit| InvokeError::Timeout {
            platform: adapter.manifest.platform.clone(),
            version: adapter.manifest.version.clone(),
            operation,
            limit,
        };
        let result = match outcome {
            Err(_) => Err(timeout("wall-clock deadline")),
            Ok(Err(trap)) if trap.downcast_ref::<Trap>() == Some(&Trap::Interrupt) => {
                Err(timeout("CPU deadline"))
            }
            Ok(Err(trap)) => Err(fail(trap_summary(&trap))),
            Ok(Ok(Err(crm))) => Err(InvokeError::Crm(crm)),
            Ok(Ok(Ok(value))) => Ok(value),
        };
        match &result {
            Err(e @ (InvokeError::Trapped { .. } | InvokeError::Timeout { .. })) => {
                tracing::error!(adapter = %adapter.manifest.platform, operation, request_id, elapsed_ms, error = %e, "adapter call failed")
            }
            _ => {
                tracing::debug!(adapter = %adapter.manifest.platform, operation, request_id, elapsed_ms, "adapter call")
            }
        }
        result
    }
}

/// The first line of a trap's cause, without the wasm backtrace.
fn trap_summary(e: &wasmtime::Error) -> String {
    let root = e.root_cause().to_string();
    let first = root.lines().next().unwrap_or("unknown trap").to_owned();
    match e.downcast_ref::<Trap>() {
        Some(t) if !first.contains(&t.to_string()) => format!("{t}: {first}"),
        _ => first,
    }
}

/// The header the host adds to every request of a connection.
fn credential_header(manifest: &Manifest, credential: &str) -> Option<(HeaderName, HeaderValue)> {
    let (name, value) = match &manifest.auth {
        AuthSpec::ApiKey { header, value } => {
            (header.as_str(), value.replace("{api_key}", credential))
        }
        AuthSpec::Oauth { .. } => ("authorization", format!("Bearer {credential}")),
    };
    let name = HeaderName::try_from(name).ok()?;
    let mut value = HeaderValue::try_from(value).ok()?;
    value.set_sensitive(true);
    Some((name, value))
}

/// A call context for an operation.
pub fn call_context(request_id: &str, crm_user_id: &str, hostname: &str) -> CallContext {
    CallContext {
        request_id: request_id.to_owned(),
        crm_user_id: crm_user_id.to_owned(),
        hostname: hostname.to_owned(),
    }
}
