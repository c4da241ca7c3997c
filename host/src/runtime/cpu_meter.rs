//! The CPU deadline of a call measures the time its guest code runs, not the
//! time it waits: a slow CRM is not a looping adapter.
//!
//! The meter runs while the guest does and pauses while the host works for it
//! (an outbound request or a `send-all` batch) and while the call has yielded
//! to other tasks. The epoch callback (every tick of guest execution) reads
//! it: over the deadline the call is interrupted; under it, the call yields to
//! the executor once, so a busy adapter never keeps a worker from other
//! requests for more than a tick.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct Reading {
    used: Duration,
    /// When the guest last started running; `None` while paused.
    since: Option<Instant>,
}

/// Cheap to clone: the clones read one meter.
#[derive(Debug, Clone, Default)]
pub(crate) struct CpuMeter(Arc<Mutex<Reading>>);

impl CpuMeter {
    fn with<R>(&self, f: impl FnOnce(&mut Reading) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The guest runs (again) from now.
    pub(crate) fn resume(&self) {
        self.with(|r| {
            if r.since.is_none() {
                r.since = Some(Instant::now());
            }
        });
    }

    /// The guest stops running: the host works, or the call yields.
    pub(crate) fn pause(&self) {
        self.with(|r| {
            if let Some(since) = r.since.take() {
                r.used += since.elapsed();
            }
        });
    }

    /// Time the guest ran so far.
    pub(crate) fn used(&self) -> Duration {
        self.with(|r| r.used + r.since.map_or(Duration::ZERO, |s| s.elapsed()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paused_meter_does_not_count_and_a_resumed_one_does() {
        let m = CpuMeter::default();
        assert_eq!(m.used(), Duration::ZERO, "not running yet");
        m.resume();
        std::thread::sleep(Duration::from_millis(5));
        m.pause();
        let ran = m.used();
        assert!(ran >= Duration::from_millis(5), "{ran:?}");
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(m.used(), ran, "a wait while paused is not counted");
        m.resume();
        m.resume(); // a second resume keeps the first start
        assert!(m.used() >= ran);
    }
}
