//! The delivery workers of one process: claim due deliveries, attempt each
//! (signed, 15 s timeout, no redirects, through the SSRF guard), record the
//! attempt and what follows, and keep the queue's figures in the metrics.
//!
//! At most `max_in_flight` attempts run at once, and at most
//! `max_in_flight_per_endpoint` to one endpoint: a claim skips endpoints at
//! their bound and hands back what exceeds it, so a slow receiver holds a
//! few workers, never all. The loop is woken by every event this process
//! commits and otherwise polls, so other replicas' events are delivered too.

use super::schedule::{self, Answer, Outcome};
use super::signing::signature_header;
use super::ssrf::{self, GuardedResolver, Policy, SystemLookup};
use crate::clock::{now_millis, now_secs};
use crate::config::WebhookConfig;
use crate::metrics::{Metrics, OutcomeLabels};
use crate::store::{Attempt, Claimed, Next, Recorded, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};

/// How long a claim holds a delivery: the attempt's timeout and room to record it.
fn lease_ms(timeout: Duration) -> i64 {
    i64::try_from((timeout + Duration::from_secs(10)).as_millis()).unwrap_or(i64::MAX)
}

/// How often the queue's figures and the retention are looked at.
const HOUSEKEEPING: Duration = Duration::from_secs(5);

/// The running workers; dropping it stops them.
pub(crate) struct Dispatcher {
    stop: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Dispatcher {
    /// Starts delivering from `store`.
    pub(crate) fn start(store: Store, config: WebhookConfig, metrics: Arc<Metrics>) -> anyhow::Result<Dispatcher> {
        let worker = Arc::new(Worker::new(store, config, metrics)?);
        let stop = Arc::new(Notify::new());
        let task = tokio::spawn(worker.run(stop.clone()));
        Ok(Dispatcher { stop, task })
    }

    /// Stops claiming; attempts in flight finish (they hold their leases
    /// until then, or a later claim takes them after the lease).
    pub(crate) async fn stop(self) {
        self.stop.notify_one();
        let _ = self.task.await;
    }
}

struct Worker {
    store: Store,
    config: WebhookConfig,
    metrics: Arc<Metrics>,
    client: reqwest::Client,
    policy: Policy,
    timeout: Duration,
    slots: Arc<Semaphore>,
    /// Attempts in flight per endpoint.
    per_endpoint: Mutex<HashMap<String, u32>>,
    /// Notified when an attempt ends (a slot is free).
    freed: Notify,
}

impl Worker {
    fn new(store: Store, config: WebhookConfig, metrics: Arc<Metrics>) -> anyhow::Result<Worker> {
        let policy = Policy { allow_loopback: config.allow_loopback };
        let timeout = Duration::from_millis(config.timeout_ms.max(1));
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver::new(policy, Arc::new(SystemLookup))))
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .timeout(timeout)
            .pool_max_idle_per_host(config.max_in_flight_per_endpoint.max(1) as usize)
            .user_agent(concat!("Switchboard-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let slots = Arc::new(Semaphore::new(config.max_in_flight.max(1) as usize));
        Ok(Worker {
            store,
            config,
            metrics,
            client,
            policy,
            timeout,
            slots,
            per_endpoint: Mutex::default(),
            freed: Notify::new(),
        })
    }

    async fn run(self: Arc<Self>, stop: Arc<Notify>) {
        let signal = self.store.outbox_signal();
        let poll = Duration::from_millis(self.config.poll_interval_ms.max(10));
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let full = match self.claim_and_start().await {
                Ok(full) => full,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook deliveries cannot be claimed now; trying again");
                    false
                }
            };
            if full {
                // There may be more due: claim again as soon as a slot frees.
                if self.slots.available_permits() > 0 {
                    continue;
                }
            }
            tokio::select! {
                () = stop.notified() => break,
                () = signal.notified() => {}
                () = self.freed.notified() => {}
                () = tokio::time::sleep(poll) => {}
                _ = housekeeping.tick() => self.housekeeping().await,
            }
        }
        // Let the attempts in flight record themselves.
        let _ = self.slots.acquire_many(self.config.max_in_flight.max(1)).await;
    }

    /// Claims what fits in the free slots and starts attempting it; answers
    /// whether the claim was full (more may be due).
    async fn claim_and_start(self: &Arc<Self>) -> Result<bool, StoreError> {
        let free = self.slots.available_permits().min(64) as u32;
        if free == 0 {
            return Ok(false);
        }
        let bound = self.config.max_in_flight_per_endpoint.max(1);
        let busy: Vec<String> = {
            let map = self.per_endpoint.lock().expect("not poisoned");
            map.iter().filter(|(_, n)| **n >= bound).map(|(id, _)| id.clone()).collect()
        };
        let claimed = self.store.claim_deliveries(now_millis(), free, lease_ms(self.timeout), &busy).await?;
        let full = claimed.len() as u32 == free;
        for delivery in claimed {
            let admitted = {
                let mut map = self.per_endpoint.lock().expect("not poisoned");
                let n = map.entry(delivery.endpoint_id.clone()).or_default();
                let room = *n < bound;
                if room {
                    *n += 1;
                }
                room
            };
            if !admitted {
                self.store.unclaim(&delivery).await?;
                continue;
            }
            let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                self.release_endpoint(&delivery.endpoint_id);
                self.store.unclaim(&delivery).await?;
                continue;
            };
            let this = self.clone();
            tokio::spawn(async move {
                let endpoint = delivery.endpoint_id.clone();
                this.attempt(delivery).await;
                this.release_endpoint(&endpoint);
                drop(permit);
                this.freed.notify_one();
            });
        }
        Ok(full)
    }

    fn release_endpoint(&self, endpoint_id: &str) {
        let mut map = self.per_endpoint.lock().expect("not poisoned");
        if let Some(n) = map.get_mut(endpoint_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(endpoint_id);
            }
        }
    }

    /// One attempt of a claimed delivery, recorded.
    async fn attempt(&self, delivery: Claimed) {
        let started_at = now_millis();
        let started = Instant::now();
        let (answer, error, body) = match self.send(&delivery).await {
            Ok((status, retry_after, body)) => (Answer { status: Some(status), retry_after }, None, Some(body)),
            Err(e) => (Answer { status: None, retry_after: None }, Some(e), None),
        };
        let duration = started.elapsed();
        self.metrics.webhook_attempt_latency.observe(duration.as_secs_f64());
        let number = delivery.attempts.saturating_add(1);
        let now = now_millis();
        let (next, outcome) = match schedule::outcome(number, answer, schedule::jitter()) {
            Outcome::Delivered => (Next::Delivered, "delivered"),
            Outcome::Retry(after) => {
                (Next::RetryAt(now + i64::try_from(after.as_millis()).unwrap_or(i64::MAX / 2)), "retry")
            }
            Outcome::Exhausted => (Next::Failed, "failed"),
            Outcome::Gone => (Next::Gone, "gone"),
        };
        let attempt = Attempt {
            attempted_at: started_at,
            duration_ms: i64::try_from(duration.as_millis()).unwrap_or(i64::MAX),
            status: answer.status,
            error,
            response_body: body,
        };
        let recorded = self.store.record_attempt(&delivery, &attempt, next, now).await;
        let outcome = match recorded {
            Ok(Recorded::Stored { .. }) => outcome,
            Ok(Recorded::LeaseLost) => "lease_lost",
            Err(e) => {
                // The lease ends and the delivery is attempted again.
                tracing::warn!(delivery = %delivery.delivery_id, error = %e, "a webhook attempt could not be recorded");
                "unrecorded"
            }
        };
        self.metrics.webhook_attempts.get_or_create(&OutcomeLabels { outcome: outcome.to_owned() }).inc();
        tracing::debug!(
            delivery = %delivery.delivery_id,
            endpoint = %delivery.endpoint_id,
            status = ?attempt.status,
            outcome,
            ms = attempt.duration_ms,
            "webhook attempt"
        );
    }

    /// Sends the signed request; the status, `Retry-After` and the start of
    /// the body, or why nothing was answered.
    async fn send(&self, delivery: &Claimed) -> Result<(u16, Option<Duration>, String), String> {
        // The form again (the URL was checked at create; the policy may have changed).
        let url = ssrf::parse(&delivery.url, self.policy).map_err(|e| format!("refused: {e}"))?;
        let secrets = self
            .store
            .endpoint_secrets(&delivery.endpoint_id, now_millis())
            .await
            .map_err(|e| format!("the endpoint's secret cannot be read: {e}"))?;
        let refs: Vec<&crate::secret::Secret> = secrets.iter().collect();
        let timestamp = now_secs();
        let signature = signature_header(&refs, &delivery.event_id, timestamp, delivery.payload.as_bytes());
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &delivery.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.payload.clone())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| schedule::parse_retry_after(v, std::time::SystemTime::now()));
        Ok((status, retry_after, read_start(response).await))
    }

    /// The queue's figures into the metrics; old events forgotten.
    async fn housekeeping(&self) {
        match self.store.queue_stats().await {
            Ok(stats) => {
                self.metrics.webhook_queue_depth.set(stats.pending);
                let age = stats.oldest_created_at.map_or(0, |t| (now_millis() - t).max(0) / 1000);
                self.metrics.webhook_oldest_pending_seconds.set(age);
            }
            Err(e) => tracing::debug!(error = %e, "webhook queue figures unavailable"),
        }
        let retention = i64::from(self.config.retention_days.max(1)) * 24 * 3600 * 1000;
        if let Err(e) = self.store.prune_events(now_millis() - retention).await {
            tracing::debug!(error = %e, "old webhook events not pruned this time");
        }
    }
}

/// The first `MAX_LOGGED_BODY` (1 KiB) bytes of an answer
/// (the rest is not read).
async fn read_start(mut response: reqwest::Response) -> String {
    let max = crate::store::MAX_LOGGED_BODY;
    let mut out = Vec::new();
    while out.len() < max {
        match response.chunk().await {
            Ok(Some(chunk)) => out.extend_from_slice(&chunk[..chunk.len().min(max - out.len())]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why no answer came, without the URL's query (it may carry a token).
fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut why = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = e.source();
    while let Some(s) = source {
        why.push_str(": ");
        why.push_str(&s.to_string());
        source = s.source();
    }
    why
}
