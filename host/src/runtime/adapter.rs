//! A loaded adapter: its manifest, its compiled and type-checked component
//! ready to instantiate, and what the operator allows it (hosts, settings,
//! limits). Immutable once loaded; a reload makes a new one.

use super::limits::CallLimits;
use super::manifest::Manifest;
use super::world::AdapterPre;
use crate::allow_list::AllowList;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

/// A compiled, type-checked adapter ready to instantiate.
pub struct LoadedAdapter {
    pub(crate) manifest: Manifest,
    pub(crate) path: PathBuf,
    /// SHA-256 of the `.wasm` file.
    pub(crate) content_hash: String,
    /// SHA-256 of the `.wasm` and the manifest: what a reload compares.
    pub(crate) fingerprint: String,
    /// The `switchboard:crm` version the component exports.
    pub(crate) wit_version: String,
    pub(crate) loaded_at: SystemTime,
    pub(super) pre: AdapterPre,
    pub(super) allowed: Arc<AllowList>,
    pub(super) settings: Arc<BTreeMap<String, String>>,
    pub(super) limits: CallLimits,
    /// Linear memory its instantiation takes (measured by the smoke test):
    /// what a call waits for in the host-wide memory budget before it starts.
    pub(super) startup_memory: usize,
    pub(super) platform: Arc<str>,
    pub(super) version: Arc<str>,
}

impl LoadedAdapter {
    /// Whether the adapter's WIT world has `op`.
    pub fn has(&self, op: super::world::Operation) -> bool {
        self.pre.has(op)
    }
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
