//! The one wasmtime `Engine` of the process.

use crate::config::Limits;
use anyhow::{Context, Result};
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances. A CPU deadline of N ms is N / 10 ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Concurrent adapter instances the pooling allocator reserves room for.
const POOLED_INSTANCES: u32 = 256;

fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Epochs, not fuel: an epoch check is a load and compare, fuel costs on every
    // block. A ticker thread advances the epoch; each store sets its deadline.
    config.epoch_interruption(true);
    config
}

/// Builds the engine with a pooling allocator sized from the limits, falling
/// back to on-demand allocation (with a log line) if the reservation fails.
pub fn build(limits: &Limits) -> Result<Engine> {
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(POOLED_INSTANCES)
        .total_core_instances(POOLED_INSTANCES * 2)
        .total_memories(POOLED_INSTANCES * 2)
        .total_tables(POOLED_INSTANCES * 2)
        .total_stacks(POOLED_INSTANCES)
        .max_memory_size((limits.adapter_memory_mib * 1024 * 1024) as usize);
    let mut config = base_config();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    let engine = match Engine::new(&config) {
        Ok(engine) => engine,
        Err(e) => {
            tracing::warn!(error = %e, "pooling allocator unavailable; using on-demand instance allocation");
            Engine::new(&base_config())
                .map_err(anyhow::Error::from)
                .context("failed to create the wasmtime engine")?
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
