//! 1. Overhead: the same work through the host and straight to the fake CRM,
//!    unloaded (one client: latency) and saturated (a few dozen: throughput),
//!    with the CPU time each process spent per request.

use crate::loadgen::{self, Check, MakeRequest, Plan};
use crate::stats::Stat;
use anyhow::Result;
use std::net::SocketAddr;
use std::time::Duration;

/// Clients of the saturated run: enough to keep two cores busy.
pub const SATURATING_CLIENTS: usize = 32;
/// Clients of the tail-latency run (the App Connect comparison's wrk -c 10).
pub const TAIL_CLIENTS: usize = 10;
const WARMUP: Duration = Duration::from_millis(200);
const WINDOW: Duration = Duration::from_millis(1000);

/// The processes of one path: the host (absent for the floor) and the fake
/// CRM (absent for App Connect with its in-memory test CRM).
#[derive(Clone, Copy)]
pub struct Path {
    pub addr: SocketAddr,
    pub host_pid: Option<u32>,
    pub crm_pid: Option<u32>,
}

impl Path {
    /// The processes whose CPU a run reads: the host's first, then the CRM's.
    pub fn watch(&self) -> Vec<u32> {
        self.host_pid.into_iter().chain(self.crm_pid).collect()
    }
}

/// Indices into a CPU triple.
pub const HOST: usize = 0;
pub const CRM: usize = 1;
pub const LOADGEN: usize = 2;

/// One path × one endpoint, over the runs.
#[derive(Default)]
pub struct Figures {
    /// Requests per second with [`SATURATING_CLIENTS`] clients.
    pub rps: Stat,
    /// Latency of one client, µs.
    pub p50: Stat,
    pub p99: Stat,
    /// Latency p50 / p99 / p99.9, µs, with [`TAIL_CLIENTS`] and with
    /// [`SATURATING_CLIENTS`] clients.
    pub tail: [[Stat; 3]; 2],
    /// CPU µs per request (host, fake CRM, load generator), one client.
    pub cpu_one: [Stat; 3],
    /// The same with [`SATURATING_CLIENTS`] clients.
    pub cpu_many: [Stat; 3],
    /// PostgreSQL server CPU µs per request, one client and saturated.
    pub db_one: Stat,
    pub db_many: Stat,
    /// Cores busy with anything else on the machine during the saturated runs.
    pub others: Stat,
    pub requests: u64,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Figures {
    fn note(&mut self, o: &loadgen::Outcome) {
        self.requests += o.ok;
        self.errors += o.errors;
        if self.first_error.is_none() {
            self.first_error.clone_from(&o.first_error);
        }
    }
}

fn cpu_triple(path: &Path, o: &loadgen::Outcome) -> [f64; 3] {
    let (host, crm) = match (path.host_pid, path.crm_pid) {
        (Some(_), Some(_)) => (o.cpu_us_per_request(Some(0)), o.cpu_us_per_request(Some(1))),
        (Some(_), None) => (o.cpu_us_per_request(Some(0)), f64::NAN),
        (None, _) => (f64::NAN, o.cpu_us_per_request(Some(0))),
    };
    [host, crm, o.cpu_us_per_request(None)]
}

/// `runs` × (one client, then [`SATURATING_CLIENTS`] clients).
pub async fn measure(path: Path, make: MakeRequest, check: Check, runs: usize) -> Result<Figures> {
    let watch = path.watch();
    let plan = Plan { warmup: WARMUP, window: WINDOW, watch: &watch, sample_rss_of: None, until: None };
    let mut one = loadgen::open(path.addr, 1).await?;
    let mut ten = loadgen::open(path.addr, TAIL_CLIENTS).await?;
    let mut many = loadgen::open(path.addr, SATURATING_CLIENTS).await?;
    let mut f = Figures::default();
    for _ in 0..runs {
        let (o, back) = loadgen::run(one, make.clone(), check, &plan).await?;
        one = back;
        f.note(&o);
        f.p50.push(o.p(50.0));
        f.p99.push(o.p(99.0));
        f.db_one.push(o.db_us_per_request());
        for (stat, v) in f.cpu_one.iter_mut().zip(cpu_triple(&path, &o)) {
            stat.push(v);
        }
        let (o, back) = loadgen::run(ten, make.clone(), check, &plan).await?;
        ten = back;
        f.note(&o);
        for (stat, pct) in f.tail[0].iter_mut().zip([50.0, 99.0, 99.9]) {
            stat.push(o.p(pct));
        }
        let (o, back) = loadgen::run(many, make.clone(), check, &plan).await?;
        many = back;
        f.note(&o);
        for (stat, pct) in f.tail[1].iter_mut().zip([50.0, 99.0, 99.9]) {
            stat.push(o.p(pct));
        }
        f.rps.push(o.per_second());
        f.others.push(o.other_cores());
        f.db_many.push(o.db_us_per_request());
        for (stat, v) in f.cpu_many.iter_mut().zip(cpu_triple(&path, &o)) {
            stat.push(v);
        }
    }
    Ok(f)
}
