//! The adapter runtime: one wasmtime `Engine`, adapters loaded (and hot
//! reloaded) from a directory, and a fresh sandboxed `Store` for every call.
//!
//! Invariants:
//! - an adapter sees no files, environment, sockets or credentials; it reaches
//!   the network only through [`outbound`], which enforces its allow-list;
//! - every call gets a fresh store from a cached `InstancePre`, so a trap or a
//!   runaway call poisons nothing but itself;
//! - every call has a memory cap, a CPU deadline (epochs), a wall-clock
//!   deadline (epochs do not advance while the guest waits in a host call),
//!   an outbound request budget and an output size cap ([`limits`]);
//! - the set of adapters is swapped whole; a call keeps the version it started on.

//!
//! Modules: [`manifest`] and [`limits`] (what an adapter declares and is
//! allowed), [`engine`] and [`compile_cache`] (wasmtime), [`loader`] (file →
//! [`adapter::LoadedAdapter`]), [`registry`] (the set and its reloads,
//! [`watcher`]), [`invoke`] (one sandboxed call), [`host_state`] (the
//! imports an adapter sees), [`outbound`] and [`retry_hold`] (its HTTP),
//! [`world`] (the WIT versions served, adapted to the newest).
//! [`Runtime`] itself is defined here; each of those modules adds its part.

pub mod adapter;
pub(crate) mod code_size;
pub(crate) mod compile_cache;
pub(crate) mod cpu_meter;
pub(crate) mod engine;
pub mod host_state;
pub mod invoke;
pub(crate) mod limits;
pub(crate) mod loader;
pub(crate) mod manifest;
pub(crate) mod memory_budget;
pub(crate) mod outbound;
pub mod registry;
mod retry_hold;
pub(crate) mod watcher;
pub mod world;

pub use adapter::LoadedAdapter;
pub use invoke::{CallFuture, Containment, InvokeError, OutputSize};
pub use registry::ReloadReport;
pub use world::latest::switchboard::crm::types::{
    CallContext, CallLog, CallLogInput, CallLogUpdate, Contact, CrmError, Direction, Message, MessageLogInput,
    NewContact, UserInfo,
};

use crate::allow_list::Origin;
use crate::config::{AdapterSettings, Config, Limits};
use crate::metrics::Metrics;
use anyhow::{Context, Result};
use compile_cache::CompileCache;
use host_state::HostState;
use outbound::Outbound;
use registry::FileStatus;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use wasmtime::Engine;
use wasmtime::component::Linker;

/// The loaded adapters by platform.
type AdapterMap = BTreeMap<String, Arc<LoadedAdapter>>;

/// The adapter runtime of a process.
pub struct Runtime {
    pub(super) engine: Engine,
    pub(super) linker: Linker<HostState>,
    pub(super) outbound: Arc<Outbound>,
    pub(super) defaults: Limits,
    pub(super) adapter_settings: BTreeMap<String, AdapterSettings>,
    /// The operator's narrowing of each adapter's allow-list, parsed.
    pub(super) narrowed_hosts: BTreeMap<String, Vec<Origin>>,
    pub(super) compile_cache: Option<CompileCache>,
    /// `allow_insecure_adapter_hosts`: manifests may list `http://` origins.
    pub(super) insecure_hosts_allowed: bool,
    pub(super) metrics: Arc<Metrics>,
    /// One permit per pooled instance: calls past the pool's size wait.
    pub(super) call_permits: tokio::sync::Semaphore,
    /// The host-wide adapter memory budget: see `memory_budget`.
    pub(super) memory_budget: memory_budget::MemoryBudget,
    dir: PathBuf,
    adapters: RwLock<Arc<AdapterMap>>,
    files: RwLock<BTreeMap<String, FileStatus>>,
    reloading: tokio::sync::Mutex<()>,
}

impl Runtime {
    pub(crate) fn new(config: &Config, metrics: Arc<Metrics>) -> Result<Runtime> {
        // The pool's memory slots must fit the largest cap any adapter is given.
        let max_memory_mib = config.largest_limit(config.limits.adapter_memory_mib, |l| l.memory_mib);
        let engine = engine::build(config.limits.max_concurrent_calls.max(1), (max_memory_mib * 1024 * 1024) as usize)?;
        let mut linker: Linker<HostState> = Linker::new(&engine);
        // A wasm32-wasip2 guest imports the WASI interfaces even when it uses
        // none; link them against an empty context (no files, env or sockets).
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)
            .context("failed to link WASI")?;
        world::add_to_linker(&mut linker)?;
        let outbound =
            Outbound::new(config.upstream_override_map()?, Duration::from_millis(config.limits.outbound_timeout_ms))?;
        let mut narrowed_hosts = BTreeMap::new();
        for platform in config.adapters.keys() {
            if let Some(hosts) = config.narrowed_hosts(platform)? {
                narrowed_hosts.insert(platform.clone(), hosts);
            }
        }
        Ok(Runtime {
            engine,
            linker,
            outbound: Arc::new(outbound),
            defaults: config.limits.clone(),
            adapter_settings: config.adapters.clone(),
            narrowed_hosts,
            compile_cache: config.compile_cache_dir().map(CompileCache::new),
            insecure_hosts_allowed: config.allow_insecure_adapter_hosts,
            metrics,
            call_permits: tokio::sync::Semaphore::new(config.limits.max_concurrent_calls.max(1) as usize),
            memory_budget: memory_budget::MemoryBudget::new(config.limits.adapter_memory_budget_mib),
            dir: config.adapters_dir.clone(),
            adapters: RwLock::new(Arc::new(BTreeMap::new())),
            files: RwLock::new(BTreeMap::new()),
            reloading: tokio::sync::Mutex::new(()),
        })
    }

    pub(crate) fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    pub(crate) fn adapters_dir(&self) -> &Path {
        &self.dir
    }

    pub fn adapter(&self, platform: &str) -> Option<Arc<LoadedAdapter>> {
        self.adapters.read().unwrap_or_else(|p| p.into_inner()).get(platform).cloned()
    }

    pub(crate) fn adapters(&self) -> Vec<Arc<LoadedAdapter>> {
        self.adapters.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }
}

/// A call context for an operation.
pub fn call_context(request_id: &str, crm_user_id: &str, hostname: &str) -> CallContext {
    CallContext {
        request_id: request_id.to_owned(),
        crm_user_id: crm_user_id.to_owned(),
        hostname: hostname.to_owned(),
    }
}
