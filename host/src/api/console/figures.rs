//! The console's live figures, read from this process's own metrics (the
//! Prometheus text the registry encodes): cumulative counters and histogram
//! buckets. The page samples them every few seconds and draws rates and
//! quantiles from the differences.

use serde::Serialize;
use std::collections::BTreeMap;

/// A histogram summed over its label sets: `(upper bound, cumulative count)`, ascending.
#[derive(Debug, Default, Serialize, PartialEq)]
pub(crate) struct Buckets {
    pub(crate) le: Vec<f64>,
    pub(crate) counts: Vec<f64>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Figures {
    /// Unix milliseconds of the sample.
    pub(crate) at: i64,
    pub(crate) requests: f64,
    pub(crate) request_seconds: Buckets,
    /// Error responses by `errorCode`, cumulative.
    pub(crate) errors: BTreeMap<String, f64>,
    pub(crate) adapter_calls: f64,
    pub(crate) adapter_seconds: Buckets,
    pub(crate) webhook_queue_depth: f64,
}

/// The figures in `text` (Prometheus text format) at `at`.
pub(crate) fn read(text: &str, at: i64) -> Figures {
    let mut f = Figures { at, ..Figures::default() };
    let mut http: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    let mut adapter: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let Ok(value) = value.parse::<f64>() else { continue };
        let (name, labels) = series.split_once('{').map_or((series, ""), |(n, l)| (n, l.trim_end_matches('}')));
        match name {
            "switchboard_http_requests_total" => f.requests += value,
            "switchboard_http_request_duration_seconds_bucket" => add_bucket(&mut http, labels, value),
            "switchboard_errors_total" => {
                if let Some(code) = label(labels, "code") {
                    *f.errors.entry(code.to_owned()).or_default() += value;
                }
            }
            "switchboard_adapter_call_duration_seconds_count" => f.adapter_calls += value,
            "switchboard_adapter_call_duration_seconds_bucket" => add_bucket(&mut adapter, labels, value),
            "switchboard_webhook_queue_depth" => f.webhook_queue_depth = value,
            _ => {}
        }
    }
    f.request_seconds = buckets(http);
    f.adapter_seconds = buckets(adapter);
    f
}

fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    labels.split(',').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v.trim_matches('"'))
}

/// Keyed by the bound's bits, so equal bounds of different label sets add up.
fn add_bucket(into: &mut BTreeMap<u64, (f64, f64)>, labels: &str, count: f64) {
    let Some(le) = label(labels, "le") else { return };
    let bound = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap_or(f64::NAN) };
    if bound.is_nan() {
        return;
    }
    into.entry(bound.to_bits()).or_insert((bound, 0.0)).1 += count;
}

fn buckets(map: BTreeMap<u64, (f64, f64)>) -> Buckets {
    let mut pairs: Vec<(f64, f64)> = map.into_values().collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    Buckets {
        le: pairs.iter().map(|p| if p.0.is_finite() { p.0 } else { f64::MAX }).collect(),
        counts: pairs.iter().map(|p| p.1).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_sum_label_sets_and_order_buckets() {
        let text = r#"# HELP switchboard_http_requests HTTP requests served
switchboard_http_requests_total{route="/contact",method="GET",status="200"} 7
switchboard_http_requests_total{route="/callLog",method="POST",status="200"} 3
switchboard_http_request_duration_seconds_bucket{route="/contact",method="GET",status="200",le="0.001"} 5
switchboard_http_request_duration_seconds_bucket{route="/contact",method="GET",status="200",le="+Inf"} 7
switchboard_http_request_duration_seconds_bucket{route="/callLog",method="POST",status="200",le="0.001"} 1
switchboard_http_request_duration_seconds_bucket{route="/callLog",method="POST",status="200",le="+Inf"} 3
switchboard_errors_total{code="NOT_CONNECTED"} 2
switchboard_webhook_queue_depth 4
"#;
        let f = read(text, 9);
        assert_eq!((f.at, f.requests, f.webhook_queue_depth), (9, 10.0, 4.0));
        assert_eq!(f.request_seconds, Buckets { le: vec![0.001, f64::MAX], counts: vec![6.0, 10.0] });
        assert_eq!(f.errors.get("NOT_CONNECTED"), Some(&2.0));
        assert_eq!(f.adapter_seconds, Buckets::default());
    }
}
