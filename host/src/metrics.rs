//! Prometheus metrics, one registry per server (so tests running several
//! servers in one process do not mix their numbers). Served as text at
//! `GET /metrics` behind the admin token.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub(crate) route: String,
    pub(crate) method: String,
    pub(crate) status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CodeLabels {
    pub(crate) code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct AdapterOpLabels {
    pub(crate) adapter: String,
    pub(crate) operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct AdapterOutcomeLabels {
    pub(crate) adapter: String,
    pub(crate) operation: String,
    pub(crate) outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct OutboundLabels {
    pub(crate) adapter: String,
    pub(crate) host: String,
    pub(crate) status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ResultLabels {
    pub(crate) result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct OutcomeLabels {
    pub(crate) outcome: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.25 ms .. ~8 s
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) http_requests: Family<RouteLabels, Counter>,
    pub(crate) http_latency: HistogramFamily<RouteLabels>,
    pub(crate) errors: Family<CodeLabels, Counter>,
    pub(crate) adapter_calls: Family<AdapterOutcomeLabels, Counter>,
    pub(crate) adapter_latency: HistogramFamily<AdapterOpLabels>,
    pub(crate) outbound_requests: Family<OutboundLabels, Counter>,
    pub(crate) reloads: Family<ResultLabels, Counter>,
    pub(crate) compiles: Counter,
    pub(crate) webhook_attempts: Family<OutcomeLabels, Counter>,
    pub(crate) webhook_attempt_latency: Histogram,
    pub(crate) webhook_queue_depth: Gauge,
    pub(crate) webhook_oldest_pending_seconds: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("switchboard");
        let http_requests = Family::<RouteLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests served, by route, method and status", http_requests.clone());
        let http_latency: HistogramFamily<RouteLabels> = Family::new_with_constructor(latency_histogram);
        registry.register("http_request_duration_seconds", "HTTP request latency", http_latency.clone());
        let errors = Family::<CodeLabels, Counter>::default();
        registry.register("errors", "Error responses, by errorCode", errors.clone());
        let adapter_calls = Family::<AdapterOutcomeLabels, Counter>::default();
        registry.register("adapter_calls", "Adapter calls, by adapter, operation and outcome", adapter_calls.clone());
        let adapter_latency: HistogramFamily<AdapterOpLabels> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "adapter_call_duration_seconds",
            "Adapter call latency, instantiation included",
            adapter_latency.clone(),
        );
        let outbound_requests = Family::<OutboundLabels, Counter>::default();
        registry.register(
            "outbound_requests",
            "Adapter outbound HTTP requests, by adapter, host and status",
            outbound_requests.clone(),
        );
        let reloads = Family::<ResultLabels, Counter>::default();
        registry.register("adapter_reloads", "Adapter directory reloads, by result", reloads.clone());
        let compiles = Counter::default();
        registry.register(
            "adapter_compiles",
            "Adapter components compiled (not served from the compile cache)",
            compiles.clone(),
        );
        let webhook_attempts = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "webhook_attempts",
            "Webhook delivery attempts, by outcome (delivered, retry, failed, gone, lease_lost)",
            webhook_attempts.clone(),
        );
        let webhook_attempt_latency = latency_histogram();
        registry.register(
            "webhook_attempt_duration_seconds",
            "Webhook delivery attempt latency",
            webhook_attempt_latency.clone(),
        );
        let webhook_queue_depth = Gauge::default();
        registry.register(
            "webhook_queue_depth",
            "Webhook deliveries not yet delivered nor failed (every replica's)",
            webhook_queue_depth.clone(),
        );
        let webhook_oldest_pending_seconds = Gauge::default();
        registry.register(
            "webhook_oldest_pending_age_seconds",
            "Age of the oldest webhook delivery not yet delivered nor failed",
            webhook_oldest_pending_seconds.clone(),
        );
        Metrics {
            registry,
            webhook_attempts,
            webhook_attempt_latency,
            webhook_queue_depth,
            webhook_oldest_pending_seconds,
            http_requests,
            http_latency,
            errors,
            adapter_calls,
            adapter_latency,
            outbound_requests,
            reloads,
            compiles,
        }
    }
}

impl Metrics {
    pub(crate) fn record_adapter_call(&self, adapter: &str, operation: &str, outcome: &str, elapsed: Duration) {
        let op = AdapterOpLabels { adapter: adapter.to_owned(), operation: operation.to_owned() };
        self.adapter_latency.get_or_create(&op).observe(elapsed.as_secs_f64());
        self.adapter_calls
            .get_or_create(&AdapterOutcomeLabels {
                adapter: op.adapter,
                operation: op.operation,
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub(crate) fn record_outbound(&self, adapter: &str, host: &str, status: &str) {
        self.outbound_requests
            .get_or_create(&OutboundLabels {
                adapter: adapter.to_owned(),
                host: host.to_owned(),
                status: status.to_owned(),
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
