//! The host-wide adapter memory budget (`limits.adapter_memory_budget_mib`):
//! the memory of every call in flight together, counted as it is used.
//!
//! A call waits at its start for what its adapter needs to instantiate (its
//! start-up memory, measured by the load's smoke test), so calls queue when
//! the budget is spent. Memory it grows into later is taken without waiting:
//! a call that cannot have more is stopped (`ADAPTER_MEMORY_BUDGET`, retryable)
//! rather than left holding memory while it waits for other calls' memory.
//!
//! Each byte of adapter memory holds two bytes of the budget: the linear
//! memory itself, and room for a result lifted out of it into the host (a
//! result can be as large as the memory that held it), so the host's resident
//! memory stays within the budget.

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The budget's unit: one wasm page.
const PAGE: usize = 64 * 1024;
/// Budget bytes per byte of adapter memory (see the module docs).
const CHARGE: usize = 2;

/// Pages of budget `bytes` of adapter memory hold.
fn pages_for(bytes: usize) -> u32 {
    u32::try_from(bytes.saturating_mul(CHARGE).div_ceil(PAGE)).unwrap_or(u32::MAX)
}

pub(crate) struct MemoryBudget {
    pages: Arc<Semaphore>,
    total_pages: u32,
    mib: u64,
}

impl MemoryBudget {
    pub(crate) fn new(mib: u64) -> MemoryBudget {
        let total_pages = u32::try_from(mib.saturating_mul(1024 * 1024 / PAGE as u64)).unwrap_or(u32::MAX >> 3);
        MemoryBudget { pages: Arc::new(Semaphore::new(total_pages as usize)), total_pages, mib }
    }

    pub(crate) fn mib(&self) -> u64 {
        self.mib
    }

    /// Waits until `bytes` of adapter memory fit (all of the budget when
    /// they would not fit even alone).
    pub(crate) async fn reserve(&self, bytes: usize) -> Reservation {
        let pages = pages_for(bytes).min(self.total_pages);
        // Never closed, so acquiring only waits.
        let held = self.pages.clone().acquire_many_owned(pages).await.ok();
        Reservation { budget: Some(self.pages.clone()), held, pages }
    }
}

/// What one call holds of the budget; given back when the call's store is
/// dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    /// `None`: not counted (the load's smoke test).
    budget: Option<Arc<Semaphore>>,
    held: Option<OwnedSemaphorePermit>,
    pages: u32,
}

impl Reservation {
    /// A reservation outside the budget.
    pub(crate) fn uncounted() -> Reservation {
        Reservation { budget: None, held: None, pages: 0 }
    }

    /// Makes the reservation cover `bytes` of adapter memory in all, taking
    /// more of the budget without waiting; false when the budget is spent.
    pub(crate) fn cover(&mut self, bytes: usize) -> bool {
        let Some(budget) = &self.budget else { return true };
        let needed = pages_for(bytes);
        if needed <= self.pages {
            return true;
        }
        let Ok(more) = budget.clone().try_acquire_many_owned(needed - self.pages) else { return false };
        match &mut self.held {
            Some(held) => held.merge(more),
            None => self.held = Some(more),
        }
        self.pages = needed;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1024 * 1024;

    #[tokio::test]
    async fn memory_is_counted_twice_as_it_grows_and_given_back_with_the_reservation() {
        let budget = MemoryBudget::new(8);
        let mut a = budget.reserve(MIB).await;
        assert_eq!(budget.pages.available_permits(), 6 * 16, "1 MiB of memory holds 2 MiB of the budget");
        assert!(a.cover(3 * MIB), "6 MiB of the 8 in use");
        let mut b = budget.reserve(MIB).await;
        assert_eq!(budget.pages.available_permits(), 0);
        assert!(!b.cover(MIB + PAGE), "the budget is spent: no waiting, a refusal");
        assert!(b.cover(MIB), "what it holds is still its own");
        drop(a);
        assert!(b.cover(3 * MIB), "the first call's share came back");
    }

    #[tokio::test]
    async fn a_call_waits_at_its_start_while_the_budget_is_spent() {
        let budget = Arc::new(MemoryBudget::new(2));
        let first = budget.reserve(MIB).await;
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(MIB).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(first);
        waiting.await.unwrap();
    }

    #[tokio::test]
    async fn a_start_larger_than_the_budget_takes_all_of_it_rather_than_waiting_for_ever() {
        let budget = MemoryBudget::new(1);
        let _all = budget.reserve(4 * MIB).await;
        assert_eq!(budget.pages.available_permits(), 0);
    }

    #[test]
    fn uncounted_reservations_cover_anything() {
        assert!(Reservation::uncounted().cover(usize::MAX));
    }
}
