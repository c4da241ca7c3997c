//! The one wasmtime `Engine` of the process.

use anyhow::{Context, Result};
use std::time::Duration;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances. A CPU deadline of N ms is N / 10 ticks.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Linear memory kept resident per pooled slot between calls (reset by
/// overwriting rather than released to the kernel).
const KEEP_RESIDENT_BYTES: usize = 1024 * 1024;

fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Epochs, not fuel: an epoch check is a load and compare, fuel costs on every
    // block. A ticker thread advances the epoch; each store sets its deadline.
    config.epoch_interruption(true);
    config
}

/// Builds the engine with a pooling allocator for `instances` concurrent
/// adapter instances of at most `max_memory` bytes each, falling back to
/// on-demand allocation (with a log line) if the reservation fails.
pub(crate) fn build(instances: u32, max_memory: usize) -> Result<Engine> {
    let mut pooling = PoolingAllocationConfig::default();
    // A wasm32-wasip2 component holds a few core instances, memories and
    // tables (the program, the WASI adapter, shims): leave room for them.
    pooling
        .total_component_instances(instances)
        .total_core_instances(instances * super::limits::MAX_INSTANCES as u32)
        .total_memories(instances * super::limits::MAX_MEMORIES as u32)
        .total_tables(instances * super::limits::MAX_TABLES as u32)
        .total_stacks(instances)
        // Per component, so that one adapter cannot take the pool's slots
        // from the others (the call's limiter caps the same per store).
        .max_core_instances_per_component(super::limits::MAX_INSTANCES as u32)
        .max_memories_per_component(super::limits::MAX_MEMORIES as u32)
        .max_tables_per_component(super::limits::MAX_TABLES as u32)
        .max_memory_size(max_memory)
        // Every call frees its instance. By default wasmtime gives the slot's
        // pages back with `madvise` and they fault in again on the next call;
        // with many short calls that was the host's largest CPU cost (perf:
        // ~30% of samples in madvise, page faults and TLB shootdowns). Reset
        // the first pages by overwriting them instead (contents are still
        // zeroed between calls: no data crosses from one call to the next),
        // only the pages actually touched where the kernel can tell
        // (PAGEMAP_SCAN, Linux 6.7+). What is still released is released at
        // once: a batch would keep up to that many ended calls' memory
        // resident (16 × a 64 MiB cap), outside the host-wide budget.
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(64 * 1024)
        .pagemap_scan(Enabled::Auto)
        .decommit_batch_size(1);
    let mut config = base_config();
    // Reserve only what the cap allows (plus the default guard), not 4 GiB per
    // memory: a thousand slots then fit comfortably in the address space.
    config.memory_reservation(max_memory as u64);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    let engine = match Engine::new(&config) {
        Ok(engine) => {
            tracing::debug!(instances, max_memory, "pooling instance allocator reserved");
            engine
        }
        Err(e) => {
            tracing::warn!(error = %e, "pooling allocator unavailable; using on-demand instance allocation");
            Engine::new(&base_config()).map_err(anyhow::Error::from).context("failed to create the wasmtime engine")?
        }
    };
    start_epoch_ticker(&engine);
    Ok(engine)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is dropped.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("switchboard-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawn the epoch ticker thread");
}
