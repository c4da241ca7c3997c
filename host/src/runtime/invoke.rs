//! Calling an adapter: a fresh store per call, limits enforced, and every way a
//! call can fail turned into a distinct, documented error.

use super::adapter::LoadedAdapter;
use super::cpu_meter::Tick;
use super::host_state::{CallScope, HostState, Violation};
use super::memory_budget::Reservation;
use super::outbound::CallPolicy;
use super::world::Crm;
use super::{CallLog, Contact, CrmError, Runtime, UserInfo};
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;
use wasmtime::{Store, Trap, UpdateDeadline};

/// How an adapter call was stopped by the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Containment {
    /// The adapter trapped (a panic, an `unreachable`, a bad memory access).
    Trapped,
    /// It tried to grow its memory past its cap.
    MemoryLimit,
    /// It needed more memory while the host-wide budget was spent by other
    /// calls (not the adapter's fault: retryable).
    MemoryBudget,
    /// It used more CPU than its deadline (epoch interruption).
    CpuDeadline,
    /// The call took longer than its wall-clock deadline, host calls included.
    WallDeadline,
    /// Its result was larger than the output cap.
    OutputTooLarge,
    /// It called a host outside its allow-list.
    HttpDenied,
    /// It made too many outbound requests, or received too large a response.
    HttpLimit,
}

impl Containment {
    /// The stable `errorCode`.
    pub fn code(self) -> &'static str {
        match self {
            Containment::Trapped => "ADAPTER_TRAPPED",
            Containment::MemoryLimit => "ADAPTER_MEMORY_LIMIT",
            Containment::MemoryBudget => "ADAPTER_MEMORY_BUDGET",
            Containment::CpuDeadline => "ADAPTER_CPU_LIMIT",
            Containment::WallDeadline => "ADAPTER_TIMEOUT",
            Containment::OutputTooLarge => "ADAPTER_OUTPUT_TOO_LARGE",
            Containment::HttpDenied => "ADAPTER_HTTP_DENIED",
            Containment::HttpLimit => "ADAPTER_HTTP_LIMIT",
        }
    }
}

/// Why an adapter call produced no answer.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The adapter ran and reported a CRM-level failure.
    #[error("{0}")]
    Crm(CrmError),
    /// The host stopped or refused the adapter.
    #[error("adapter {platform} {version} {detail} (during {operation})")]
    Contained { kind: Containment, platform: String, version: String, operation: &'static str, detail: String },
}

pub type CallFuture<'a, T> = Pin<Box<dyn Future<Output = wasmtime::Result<Result<T, CrmError>>> + Send + 'a>>;

/// An adapter result's size as the host holds it: the bytes of its strings,
/// and of the records of a list.
pub trait OutputSize {
    fn output_size(&self) -> usize;
}

fn opt(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, String::len)
}

impl OutputSize for () {
    fn output_size(&self) -> usize {
        0
    }
}
impl OutputSize for String {
    fn output_size(&self) -> usize {
        self.len()
    }
}
impl OutputSize for UserInfo {
    fn output_size(&self) -> usize {
        self.id.len() + self.name.len() + opt(&self.hostname)
    }
}
impl OutputSize for Contact {
    fn output_size(&self) -> usize {
        self.id.len()
            + self.name.len()
            + self.phone.len()
            + opt(&self.contact_type)
            + opt(&self.organization)
            + opt(&self.additional_info_json)
    }
}
impl OutputSize for CallLog {
    fn output_size(&self) -> usize {
        self.log_id.len()
            + self.subject.len()
            + self.note.len()
            + opt(&self.contact_name)
            + opt(&self.full_body)
            + opt(&self.dispositions_json)
    }
}
impl<T: OutputSize> OutputSize for Vec<T> {
    /// Each element's own size too: a million empty records are not small.
    fn output_size(&self) -> usize {
        self.iter().map(|t| t.output_size() + std::mem::size_of::<T>()).sum()
    }
}

impl Runtime {
    pub(super) fn new_store(
        &self,
        adapter: &LoadedAdapter,
        scope: CallScope,
        credential: Option<&str>,
        reservation: Reservation,
    ) -> Store<HostState> {
        let policy = CallPolicy {
            allowed: adapter.allowed.clone(),
            credential: credential.and_then(|c| adapter.manifest.credential_header(c)),
            remaining_requests: adapter.limits.outbound_requests,
            max_response_bytes: adapter.limits.outbound_max_response_bytes,
            max_request_bytes: adapter.limits.outbound_max_request_bytes,
        };
        let state = HostState::new(
            scope,
            policy,
            self.outbound.clone(),
            adapter.settings.clone(),
            adapter.limits.memory_bytes,
            reservation,
            self.metrics.clone(),
        );
        let meter = state.cpu.clone();
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        // Every tick of guest execution: over the CPU deadline, interrupted;
        // under it, one yield to the executor if the guest ran the whole tick
        // (see `cpu_meter`).
        store.set_epoch_deadline(1);
        let cpu = adapter.limits.cpu;
        let reader = meter.clone();
        store.epoch_deadline_callback(move |_| match reader.on_tick(cpu, super::engine::EPOCH_TICK) {
            Tick::Interrupt => Ok(UpdateDeadline::Interrupt),
            Tick::Continue => Ok(UpdateDeadline::Continue(1)),
            Tick::Yield => {
                reader.pause();
                let meter = reader.clone();
                Ok(UpdateDeadline::YieldCustom(
                    1,
                    Box::pin(async move {
                        tokio::task::yield_now().await;
                        meter.resume();
                    }),
                ))
            }
        });
        meter.resume();
        store
    }

    /// Calls one export of `adapter` in a fresh store. The connection's
    /// credential (if any) is visible to the host's `http` import only.
    pub async fn call<T, F>(
        &self,
        adapter: &LoadedAdapter,
        operation: &'static str,
        request_id: &str,
        credential: Option<&str>,
        f: F,
    ) -> Result<T, InvokeError>
    where
        T: Send + OutputSize,
        F: for<'a> FnOnce(&'a Crm, &'a mut Store<HostState>) -> CallFuture<'a, T> + Send,
    {
        crate::request_id::note_adapter(&adapter.platform, &adapter.version);
        let scope = CallScope {
            platform: adapter.platform.clone(),
            version: adapter.version.clone(),
            operation,
            request_id: request_id.to_owned(),
        };
        let started = Instant::now();
        // Never closed, so acquiring only waits.
        let _permit = self.call_permits.acquire().await.ok();
        // What it needs to start; what it grows into later is taken as it grows.
        let reservation = self.memory_budget.reserve(adapter.startup_memory).await;
        let mut store = self.new_store(adapter, scope, credential, reservation);
        // Boxed: instantiation's state is over a kilobyte (1.4 KB, a uprobe
        // on memcpy), and each future holding it inline (the connection's
        // call and its retry, the handler) would carry it and copy it at
        // every move; ~0.5 % of a `GET /contact`'s instructions (callgrind).
        let run = Box::pin(async {
            let crm = adapter.pre.instantiate(&mut store).await?;
            f(&crm, &mut store).await
        });
        let outcome = tokio::time::timeout(adapter.limits.wall, run).await;
        let elapsed = started.elapsed();

        let contained = |kind: Containment, detail: String| InvokeError::Contained {
            kind,
            platform: adapter.manifest.platform.clone(),
            version: adapter.manifest.version.clone(),
            operation,
            detail,
        };
        let state = store.data();
        let violation = state.violation.clone();
        let result = match outcome {
            Err(_) => Err(contained(
                Containment::WallDeadline,
                format!("exceeded its wall-clock deadline of {} ms", adapter.limits.wall.as_millis()),
            )),
            Ok(Err(trap)) if state.limiter.memory_exceeded => Err(contained(
                Containment::MemoryLimit,
                format!(
                    "exceeded its memory limit of {} MiB ({})",
                    adapter.limits.memory_bytes >> 20,
                    trap_summary(&trap)
                ),
            )),
            Ok(Err(trap)) if state.limiter.budget_exhausted => Err(contained(
                Containment::MemoryBudget,
                format!(
                    "was refused more memory than its {} MiB: the host's adapter memory budget of {} MiB is spent \
                     by the calls in flight ({})",
                    state.limiter.memory_in_use >> 20,
                    self.memory_budget.mib(),
                    trap_summary(&trap)
                ),
            )),
            Ok(Err(trap)) if trap.downcast_ref::<Trap>() == Some(&Trap::Interrupt) => Err(contained(
                Containment::CpuDeadline,
                format!("exceeded its CPU deadline of {} ms", adapter.limits.cpu.as_millis()),
            )),
            Ok(Err(trap)) => Err(contained(Containment::Trapped, format!("trapped: {}", trap_summary(&trap)))),
            // An adapter that failed after the host refused one of its requests
            // is reported for the refusal: that is what the operator must fix.
            Ok(Ok(Err(crm))) => match violation {
                Some(Violation::Denied(d)) => {
                    Err(contained(Containment::HttpDenied, format!("made a forbidden request: {d}")))
                }
                Some(Violation::Limit(d)) => {
                    Err(contained(Containment::HttpLimit, format!("exceeded an outbound limit: {d}")))
                }
                None => Err(InvokeError::Crm(crm)),
            },
            Ok(Ok(Ok(value))) => {
                let size = value.output_size();
                if size > adapter.limits.max_output_bytes {
                    Err(contained(
                        Containment::OutputTooLarge,
                        format!(
                            "returned {size} bytes, over its output limit of {} bytes",
                            adapter.limits.max_output_bytes
                        ),
                    ))
                } else {
                    Ok(value)
                }
            }
        };
        let outcome_label = match &result {
            Ok(_) => "ok",
            Err(InvokeError::Crm(_)) => "crm_error",
            Err(InvokeError::Contained { kind, .. }) => kind.code(),
        };
        self.metrics.record_adapter_call(&adapter.manifest.platform, operation, outcome_label, elapsed);
        let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
        match &result {
            Err(e @ InvokeError::Contained { .. }) => {
                tracing::error!(adapter = %adapter.manifest.platform, operation, request_id, elapsed_ms, error = %e, "adapter call stopped")
            }
            _ => {
                tracing::debug!(adapter = %adapter.manifest.platform, operation, request_id, elapsed_ms, "adapter call")
            }
        }
        result
    }
}

/// The first line of a trap's cause, without the wasm backtrace.
fn trap_summary(e: &wasmtime::Error) -> String {
    let root = e.root_cause().to_string();
    let first = root.lines().next().unwrap_or("unknown trap").to_owned();
    match e.downcast_ref::<Trap>() {
        Some(t) if !first.contains(&t.to_string()) => format!("{t}: {first}"),
        _ => first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_of_empty_records_is_as_big_as_its_records() {
        let empty = Contact {
            id: String::new(),
            name: String::new(),
            phone: String::new(),
            contact_type: None,
            organization: None,
            additional_info_json: None,
        };
        let many = vec![empty; 250_000];
        assert!(many.output_size() >= 250_000 * std::mem::size_of::<Contact>());
        assert!(many.output_size() > 4 * 1024 * 1024, "over the default output cap");
    }
}
