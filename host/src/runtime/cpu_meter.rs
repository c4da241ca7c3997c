//! The CPU deadline of a call measures the time its guest code runs, not the
//! time it waits: a slow CRM is not a looping adapter.
//!
//! The meter runs while the guest does and pauses while the host works for it
//! (an outbound request or a `send-all` batch) and while the call has yielded
//! to other tasks. The epoch callback (every tick of guest execution) reads
//! it: over the deadline the call is interrupted; under it, a guest that has
//! run a whole tick since it last paused yields to the executor once, so a
//! busy adapter never keeps a worker from other requests for more than a
//! tick (one that has just come back from a host call goes on).

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
    #[cfg(test)]
    fn used(&self) -> Duration {
        self.with(|r| r.used + r.since.map_or(Duration::ZERO, |s| s.elapsed()))
    }

    /// What the epoch callback does at a tick of guest execution (see
    /// [`on_tick`]), from this meter's reading.
    pub(crate) fn on_tick(&self, deadline: Duration, tick: Duration) -> Tick {
        self.with(|r| {
            let running = r.since.map_or(Duration::ZERO, |s| s.elapsed());
            on_tick(r.used + running, running, deadline, tick)
        })
    }
}

/// The epoch callback's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tick {
    /// Over the CPU deadline: stop the guest.
    Interrupt,
    /// Yield to the executor once, then go on.
    Yield,
    /// Go on without yielding.
    Continue,
}

/// The guest has `used` CPU in all and has run `running` without a pause
/// (since its last host call or yield). The epoch counts wall time, so a tick
/// also falls while the guest waits for a host call (a slow CRM): when it
/// resumes it has not kept a worker for a tick, and yielding then would only
/// send the request to the back of the executor's queue once more.
pub(crate) fn on_tick(used: Duration, running: Duration, deadline: Duration, tick: Duration) -> Tick {
    if used >= deadline {
        Tick::Interrupt
    } else if running >= tick {
        Tick::Yield
    } else {
        Tick::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(10);
    const DEADLINE: Duration = Duration::from_millis(100);

    #[test]
    fn a_guest_back_from_a_slow_host_call_goes_on_without_yielding() {
        let ms = Duration::from_millis;
        assert_eq!(on_tick(ms(3), ms(1), DEADLINE, TICK), Tick::Continue, "ran 1 ms since the CRM answered");
        assert_eq!(on_tick(ms(30), ms(10), DEADLINE, TICK), Tick::Yield, "ran a whole tick");
        assert_eq!(on_tick(ms(100), ms(0), DEADLINE, TICK), Tick::Interrupt, "over the deadline");
        assert_eq!(on_tick(ms(120), ms(20), DEADLINE, TICK), Tick::Interrupt);
    }

    #[test]
    fn the_meter_counts_the_run_since_its_last_resume() {
        // A long tick, so that a stalled test thread does not pass for a run.
        let tick = Duration::from_millis(40);
        let m = CpuMeter::default();
        m.resume();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(m.on_tick(Duration::from_secs(60), tick), Tick::Yield, "ran a tick");
        m.pause();
        m.resume();
        assert_eq!(m.on_tick(Duration::from_secs(60), tick), Tick::Continue, "just resumed");
        assert_eq!(m.on_tick(Duration::from_millis(5), tick), Tick::Interrupt, "50 ms used, 5 ms allowed");
    }

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
