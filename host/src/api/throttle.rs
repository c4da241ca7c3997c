//! Failed attempts per client address, for guessable secrets (the admin
//! token): after `MAX_FAILURES` failures within `WINDOW`, the address is
//! refused until the window ends, right or wrong token. Memory is bounded:
//! at most `MAX_TRACKED` addresses are kept, expired windows first to go.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per address and window.
pub(crate) const MAX_FAILURES: u32 = 10;
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
const MAX_TRACKED: usize = 10_000;

#[derive(Default)]
pub(crate) struct FailedAttempts {
    by_address: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl FailedAttempts {
    /// How long `ip` must wait, if it used up its failures.
    pub(crate) fn blocked_for(&self, ip: IpAddr) -> Option<Duration> {
        let map = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
        let (failures, since) = map.get(&ip)?;
        let left = WINDOW.checked_sub(since.elapsed())?;
        (*failures >= MAX_FAILURES).then_some(left)
    }

    /// Counts a failure of `ip`.
    pub(crate) fn fail(&self, ip: IpAddr) {
        let mut map = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(&ip) {
            map.retain(|_, (_, since)| since.elapsed() < WINDOW);
            if map.len() >= MAX_TRACKED {
                // Under a spread-out attack: forget the oldest window.
                if let Some(oldest) = map.iter().min_by_key(|(_, (_, since))| *since).map(|(ip, _)| *ip) {
                    map.remove(&oldest);
                }
            }
        }
        let entry = map.entry(ip).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_its_failures_and_others_are_not() {
        let f = FailedAttempts::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..MAX_FAILURES - 1 {
            f.fail(a);
        }
        assert_eq!(f.blocked_for(a), None);
        f.fail(a);
        assert!(f.blocked_for(a).is_some_and(|d| d <= WINDOW));
        assert_eq!(f.blocked_for(b), None);
    }

    #[test]
    fn the_table_stays_bounded() {
        let f = FailedAttempts::default();
        for i in 0..(MAX_TRACKED as u32 + 500) {
            f.fail(IpAddr::from(i.to_be_bytes()));
        }
        assert!(f.by_address.lock().unwrap().len() <= MAX_TRACKED);
    }
}
