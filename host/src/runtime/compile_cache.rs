//! Compiled adapters on disk, keyed by the component's content hash and the
//! engine's compatibility hash, so a restart with unchanged adapters compiles
//! nothing.
//!
//! Safety: `Component::deserialize_file` trusts its input. Only files this
//! host wrote are read: they live in `<data_dir>/compiled`, named by a hash we
//! computed, written to a temporary name and renamed into place.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use wasmtime::Engine;
use wasmtime::component::Component;

#[derive(Debug, Clone)]
pub(crate) struct CompileCache {
    dir: PathBuf,
}

/// Whether a component came from the cache or was compiled now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Cached,
    Compiled,
}

impl CompileCache {
    pub(crate) fn new(dir: PathBuf) -> Self {
        CompileCache { dir }
    }

    fn path_for(&self, engine: &Engine, wasm: &[u8]) -> PathBuf {
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut engine_hash);
        let key = Sha256::new().chain_update(wasm).chain_update(engine_hash.finish().to_le_bytes()).finalize();
        self.dir.join(format!("{}.cwasm", hex::encode(key)))
    }

    /// The compiled component, from the cache if there, else compiled and stored.
    /// Blocking: call from `spawn_blocking`.
    pub(crate) fn load_or_compile(&self, engine: &Engine, wasm: &[u8]) -> Result<(Component, Origin)> {
        let path = self.path_for(engine, wasm);
        if path.exists() {
            // SAFETY: see the module docs; the file is one this host serialized.
            // One of the workspace's two `unsafe` blocks (the lint table denies the rest).
            #[allow(unsafe_code)]
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(c) => return Ok((c, Origin::Cached)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "unusable compile-cache entry; recompiling")
                }
            }
        }
        let component = compile(engine, wasm)?;
        if let Err(e) = self.store(&path, &component) {
            tracing::warn!(dir = %self.dir.display(), error = %format!("{e:#}"), "cannot write the compile cache");
        }
        Ok((component, Origin::Compiled))
    }

    fn store(&self, path: &std::path::Path, component: &Component) -> Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let bytes = component.serialize().map_err(anyhow::Error::from)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

pub(crate) fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component> {
    super::code_size::check(wasm).context("too much code to compile")?;
    Component::new(engine, wasm).map_err(anyhow::Error::from).context("failed to compile wasm component")
}
