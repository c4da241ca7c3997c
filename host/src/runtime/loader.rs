//! Turning `<name>.wasm` + `<name>.toml` into a checked, ready-to-call adapter:
//! manifest, compile (or the compile cache), the WIT world version the
//! component targets, import/export type-check, and a smoke instantiation —
//! all before it can serve a request.

use super::Runtime;
use super::adapter::LoadedAdapter;
use super::compile_cache::{self, Origin as CompileOrigin};
use super::host_state::CallScope;
use super::limits::CallLimits;
use super::manifest::Manifest;
use super::memory_budget::Reservation;
use super::world::{self, AdapterPre};
use crate::allow_list::AllowList;
use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;
use wasmtime::Engine;
use wasmtime::component::Component;

/// The WIT interface every adapter exports, without its version.
const CRM_INTERFACE: &str = "switchboard:crm/crm@";

/// The bytes of an adapter on disk, read once per (re)load.
pub(crate) struct AdapterFiles {
    pub(crate) wasm_path: PathBuf,
    pub(crate) wasm: Vec<u8>,
    pub(crate) manifest_text: String,
}

/// The largest component and manifest the host reads.
pub(crate) const MAX_WASM_BYTES: u64 = 64 * 1024 * 1024;
pub(crate) const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// Reads `path` if it is a regular file of at most `max` bytes inside `dir`
/// (a symlink counts as its target, which must be inside `dir` too): never a
/// FIFO, a device or a file elsewhere on the machine. Blocking: call it off
/// the async workers.
fn read_adapter_file(dir: &Path, path: &Path, max: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let real = path.canonicalize().with_context(|| format!("cannot read {}", path.display()))?;
    let real_dir = dir.canonicalize().with_context(|| format!("cannot read {}", dir.display()))?;
    if !real.starts_with(&real_dir) {
        bail!("{} leads out of the adapters directory (to {}); it is not read", path.display(), real.display());
    }
    let meta = std::fs::metadata(&real).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a regular file; it is not read", path.display());
    }
    if meta.len() > max {
        bail!("{} is {} bytes, over the limit of {max} bytes", path.display(), meta.len());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // `take`: a file that grows while it is read still stops at the limit.
    std::fs::File::open(&real)
        .and_then(|f| f.take(max + 1).read_to_end(&mut bytes))
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > max {
        bail!("{} grew over the limit of {max} bytes while it was read", path.display());
    }
    Ok(bytes)
}

impl AdapterFiles {
    /// Reads a component and its manifest (blocking; see [`read_adapter_file`]).
    pub(crate) fn read(dir: &Path, wasm_path: &Path) -> Result<AdapterFiles> {
        let manifest_path = wasm_path.with_extension("toml");
        let manifest = read_adapter_file(dir, &manifest_path, MAX_MANIFEST_BYTES).with_context(|| {
            format!("no readable manifest: expected {} beside the component", manifest_path.display())
        })?;
        let manifest_text = String::from_utf8(manifest)
            .map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", manifest_path.display()))?;
        let wasm = read_adapter_file(dir, wasm_path, MAX_WASM_BYTES)?;
        Ok(AdapterFiles { wasm_path: wasm_path.to_owned(), wasm, manifest_text })
    }

    pub(crate) fn fingerprint(&self) -> String {
        hex::encode(Sha256::new().chain_update(&self.wasm).chain_update(self.manifest_text.as_bytes()).finalize())
    }
}

/// The `switchboard:crm` version a component was built against, read from its exports.
pub(crate) fn world_version(engine: &Engine, component: &Component) -> Result<String> {
    let versions: Vec<String> = component
        .component_type()
        .exports(engine)
        .filter_map(|(name, _)| name.strip_prefix(CRM_INTERFACE).map(str::to_owned))
        .collect();
    match versions.as_slice() {
        [v] => Ok(v.clone()),
        [] => bail!(
            "the component exports no switchboard:crm/crm interface, so it is not a Switchboard adapter (this host serves switchboard:crm {})",
            world::SUPPORTED.join(", ")
        ),
        many => bail!("the component exports several switchboard:crm versions: {}", many.join(", ")),
    }
}

impl Runtime {
    /// Loads one adapter; nothing is served from it until this returns Ok.
    pub(super) async fn load(&self, files: AdapterFiles) -> Result<LoadedAdapter> {
        let path = files.wasm_path.clone();
        let manifest: Manifest = toml::from_str(&files.manifest_text)
            .with_context(|| format!("invalid adapter manifest {}", path.with_extension("toml").display()))?;
        manifest
            .validate()
            .with_context(|| format!("invalid adapter manifest {}", path.with_extension("toml").display()))?;
        if !self.insecure_hosts_allowed
            && let Some(plain) = manifest.allowed_hosts.iter().find(|o| o.scheme != "https")
        {
            bail!(
                "{}: allowed host {plain} is not https; the host would send users' credentials to it in the clear \
                 (`allow_insecure_adapter_hosts = true` permits it, for development only)",
                path.with_extension("toml").display()
            );
        }
        let fingerprint = files.fingerprint();
        let content_hash = hex::encode(Sha256::digest(&files.wasm));

        let engine = self.engine.clone();
        let cache = self.compile_cache.clone();
        let wasm = files.wasm;
        // Compiling takes a CPU for a while: keep it off the async workers.
        let (component, origin) = tokio::task::spawn_blocking(move || match cache {
            Some(cache) => cache.load_or_compile(&engine, &wasm),
            None => compile_cache::compile(&engine, &wasm).map(|c| (c, CompileOrigin::Compiled)),
        })
        .await?
        .with_context(|| format!("{} is not a usable wasm component", path.display()))?;
        if origin == CompileOrigin::Compiled {
            self.metrics.compiles.inc();
        }

        let wit_version =
            world_version(&self.engine, &component).with_context(|| format!("{} refused", path.display()))?;
        if !world::SUPPORTED.contains(&wit_version.as_str()) {
            bail!(
                "{} was built against switchboard:crm@{wit_version}; this host serves switchboard:crm {}",
                path.display(),
                world::SUPPORTED.join(", ")
            );
        }
        if wit_version != manifest.wit_version {
            bail!(
                "{}: the manifest says wit_version {:?} but the component exports switchboard:crm@{wit_version}",
                path.display(),
                manifest.wit_version
            );
        }
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("{} imports something this host does not provide", path.display()))?;
        let pre = AdapterPre::new(&wit_version, instance_pre)
            .with_context(|| format!("{} does not export the switchboard:crm@{wit_version} world", path.display()))?;

        let operator = self.adapter_settings.get(&manifest.platform).cloned().unwrap_or_default();
        let mut allowed = AllowList::new(manifest.allowed_hosts.clone());
        if let Some(narrowed) = self.narrowed_hosts.get(&manifest.platform) {
            allowed = allowed.narrowed_to(narrowed);
        }
        let mut adapter = LoadedAdapter {
            allowed: Arc::new(allowed),
            platform: manifest.platform.as_str().into(),
            version: manifest.version.as_str().into(),
            settings: Arc::new(operator.settings.clone()),
            limits: CallLimits::resolve(&self.defaults, &operator.limits),
            manifest,
            path: path.clone(),
            content_hash,
            fingerprint,
            wit_version,
            loaded_at: SystemTime::now(),
            pre,
            startup_memory: 0,
        };
        adapter.startup_memory =
            self.smoke_test(&adapter).await.with_context(|| format!("{} failed its smoke test", path.display()))?;
        Ok(adapter)
    }

    /// Instantiates the adapter once under its limits: start-up code runs and
    /// its memory fits, before any request depends on it. Returns the memory
    /// it took.
    async fn smoke_test(&self, adapter: &LoadedAdapter) -> Result<usize> {
        let scope = CallScope {
            platform: adapter.platform.clone(),
            version: adapter.version.clone(),
            operation: "smoke-test",
            request_id: String::new(),
        };
        let mut store = self.new_store(adapter, scope, None, Reservation::uncounted());
        let instantiated = tokio::time::timeout(adapter.limits.wall, adapter.pre.instantiate(&mut store))
            .await
            .context("instantiation did not finish within the wall-clock limit")?;
        match instantiated {
            Ok(_) => Ok(store.data().limiter.memory_in_use),
            Err(e) if store.data().limiter.memory_exceeded => Err(anyhow::Error::from(e).context(format!(
                "its memories together need more than its memory limit of {} MiB",
                adapter.limits.memory_bytes >> 20
            ))),
            Err(e) => Err(e.into()),
        }
    }
}
