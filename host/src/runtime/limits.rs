//! The limits of one adapter call: the operator's `[limits]`, overridden per
//! adapter by `[adapters.<platform>.limits]`.

use super::memory_budget::Reservation;
use crate::config::{AdapterLimits, Limits};
use std::time::Duration;
use wasmtime::ResourceLimiter;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallLimits {
    pub(crate) memory_bytes: usize,
    pub(crate) cpu: Duration,
    pub(crate) wall: Duration,
    pub(crate) outbound_requests: u32,
    pub(crate) outbound_max_response_bytes: usize,
    pub(crate) outbound_max_request_bytes: usize,
    pub(crate) max_output_bytes: usize,
}

impl CallLimits {
    pub(crate) fn resolve(defaults: &Limits, o: &AdapterLimits) -> CallLimits {
        CallLimits {
            memory_bytes: (o.memory_mib.unwrap_or(defaults.adapter_memory_mib) * 1024 * 1024) as usize,
            cpu: Duration::from_millis(o.cpu_ms.unwrap_or(defaults.adapter_cpu_ms)),
            wall: Duration::from_millis(o.wall_ms.unwrap_or(defaults.adapter_wall_ms)),
            outbound_requests: o.outbound_requests_per_call.unwrap_or(defaults.outbound_requests_per_call),
            outbound_max_response_bytes: o.outbound_max_response_bytes.unwrap_or(defaults.outbound_max_response_bytes),
            outbound_max_request_bytes: o.outbound_max_request_bytes.unwrap_or(defaults.outbound_max_request_bytes),
            max_output_bytes: o.max_output_bytes.unwrap_or(defaults.adapter_max_output_bytes),
        }
    }
}

/// Caps the linear memory of a call (all its memories together: a component
/// may declare several) and the number of instances, memories and tables it
/// may create, takes what it grows into from the host-wide budget, and
/// remembers which of the two refused it, so a guest that dies from a failed
/// allocation is reported for that rather than as a generic trap.
#[derive(Debug)]
pub(crate) struct CallLimiter {
    max_memory: usize,
    /// Bytes of every memory of the call, as grown so far.
    pub(crate) memory_in_use: usize,
    pub(crate) memory_exceeded: bool,
    reservation: Reservation,
    pub(crate) budget_exhausted: bool,
}

impl CallLimiter {
    pub(crate) fn new(max_memory: usize, reservation: Reservation) -> Self {
        CallLimiter { max_memory, memory_in_use: 0, memory_exceeded: false, reservation, budget_exhausted: false }
    }
}

/// Per call: core instances, memories and tables (a Rust adapter has a few
/// of each; thousands would exhaust the host's pool for every adapter).
pub(crate) const MAX_INSTANCES: usize = 8;
pub(crate) const MAX_MEMORIES: usize = 4;
pub(crate) const MAX_TABLES: usize = 8;

/// Table elements an instance may grow to (function tables of real adapters
/// have hundreds of entries).
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl ResourceLimiter for CallLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let total = self.memory_in_use.saturating_sub(current).saturating_add(desired);
        if total > self.max_memory {
            self.memory_exceeded = true;
            return Ok(false);
        }
        if !self.reservation.cover(total) {
            self.budget_exhausted = true;
            return Ok(false);
        }
        self.memory_in_use = total;
        Ok(true)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_adapter_overrides_win_over_defaults() {
        let d = Limits::default();
        let l = CallLimits::resolve(&d, &AdapterLimits { memory_mib: Some(8), cpu_ms: Some(50), ..Default::default() });
        assert_eq!(l.memory_bytes, 8 * 1024 * 1024);
        assert_eq!(l.cpu, Duration::from_millis(50));
        assert_eq!(l.wall, Duration::from_millis(d.adapter_wall_ms));
    }

    #[test]
    fn the_limiter_records_a_denied_growth() {
        let mut l = CallLimiter::new(1024, Reservation::uncounted());
        assert!(l.memory_growing(0, 512, None).unwrap());
        assert!(!l.memory_exceeded);
        assert!(!l.memory_growing(512, 2048, None).unwrap());
        assert!(l.memory_exceeded);
    }

    #[test]
    fn the_memory_cap_is_for_all_memories_of_a_call_together() {
        let mut l = CallLimiter::new(1000, Reservation::uncounted());
        assert!(l.memory_growing(0, 400, None).unwrap(), "first memory");
        assert!(l.memory_growing(0, 400, None).unwrap(), "second memory: 800 in all");
        assert!(!l.memory_growing(0, 400, None).unwrap(), "a third would make 1200");
        assert!(l.memory_exceeded);
        assert!(l.memory_growing(400, 600, None).unwrap(), "growing one to 600 makes 1000");
        assert!(!l.memory_growing(600, 601, None).unwrap());
    }
}
