//! A closed-loop HTTP/1.1 load generator: C keep-alive connections, each
//! sending its next request as soon as the previous answer arrived.
//!
//! It writes pre-built request bytes and reads answers by `Content-Length`,
//! nothing more, so it spends a few microseconds per request and does not
//! become the bottleneck it would hide. It runs on the bench's one thread
//! (a current-thread runtime) and reports its own CPU time beside the host's,
//! so a reader can see how much of the machine it took.

use crate::procs::cpu_seconds;
use crate::stats::percentile;
use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Builds the bytes of request number `n`.
pub type MakeRequest = Arc<dyn Fn(u64) -> Vec<u8> + Send + Sync>;
/// Whether an answer (status, body) is a success.
pub type Check = fn(u16, &[u8]) -> bool;

/// One keep-alive connection.
pub struct Conn {
    addr: SocketAddr,
    stream: TcpStream,
    buf: Vec<u8>,
}

#[derive(Debug)]
enum ExchangeError {
    /// The connection was closed before any byte of the answer: safe to retry
    /// on a new connection (an idle keep-alive connection the server dropped).
    ClosedBeforeAnswer,
    Other(String),
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Result<Conn> {
        let stream = TcpStream::connect(addr).await.with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Conn { addr, stream, buf: Vec::with_capacity(4096) })
    }

    async fn reconnect(&mut self) -> Result<()> {
        *self = Conn::open(self.addr).await?;
        Ok(())
    }

    /// Sends one request and reads its answer: (status, body length checked).
    async fn exchange(&mut self, request: &[u8], check: Check) -> Result<bool, ExchangeError> {
        let other = |e: std::io::Error| ExchangeError::Other(e.to_string());
        if self.stream.write_all(request).await.is_err() {
            return Err(ExchangeError::ClosedBeforeAnswer);
        }
        self.buf.clear();
        let mut chunk = [0u8; 4096];
        let (head_end, status, length) = loop {
            let n = self.stream.read(&mut chunk).await.map_err(other)?;
            if n == 0 {
                return Err(if self.buf.is_empty() {
                    ExchangeError::ClosedBeforeAnswer
                } else {
                    ExchangeError::Other("connection closed in the middle of an answer".into())
                });
            }
            self.buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let (status, length) = parse_head(&self.buf[..end]).map_err(ExchangeError::Other)?;
                break (end + 4, status, length);
            }
            if self.buf.len() > 64 * 1024 {
                return Err(ExchangeError::Other("answer head over 64 KiB".into()));
            }
        };
        let total = head_end + length;
        while self.buf.len() < total {
            let n = self.stream.read(&mut chunk).await.map_err(other)?;
            if n == 0 {
                return Err(ExchangeError::Other("connection closed in the middle of a body".into()));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        if self.buf.len() > total {
            return Err(ExchangeError::Other("bytes after the answer (not request/response?)".into()));
        }
        Ok(check(status, &self.buf[head_end..total]))
    }
}

/// Status code and `Content-Length` of an answer head.
fn parse_head(head: &[u8]) -> Result<(u16, usize), String> {
    let text = std::str::from_utf8(head).map_err(|_| "answer head is not UTF-8".to_owned())?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(format!("transfer-encoding {:?} is not supported", value.trim()));
        }
    }
    Ok((status, length.ok_or("answer without Content-Length")?))
}

/// Opens `n` connections, 50 at a time (a burst of thousands would overflow
/// the listener's accept queue and time the SYN retries instead).
pub async fn open(addr: SocketAddr, n: usize) -> Result<Vec<Conn>> {
    let mut conns = Vec::with_capacity(n);
    while conns.len() < n {
        let batch = (n - conns.len()).min(50);
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..batch {
            set.spawn(Conn::open(addr));
        }
        while let Some(c) = set.join_next().await {
            conns.push(c??);
        }
    }
    Ok(conns)
}

/// How long to run and what to watch.
pub struct Plan<'a> {
    /// Requests before the window are not counted (warm pools, reach steady state).
    pub warmup: Duration,
    pub window: Duration,
    /// Processes whose CPU time over the window is reported (host, fake CRM).
    pub watch: &'a [u32],
    /// A process whose resident memory is sampled every 50 ms in the window.
    pub sample_rss_of: Option<u32>,
    /// When set, the window lasts at least until this is true (at most a minute).
    pub until: Option<Arc<AtomicBool>>,
}

/// What one run measured, over the window only.
#[derive(Debug, Default)]
pub struct Outcome {
    pub ok: u64,
    pub failed: u64,
    /// Failures in the whole run (warm-up and drain included), and the first message.
    pub errors: u64,
    pub first_error: Option<String>,
    pub window_secs: f64,
    /// Latency of the successful answers completed in the window, µs, sorted.
    pub latency_us: Vec<u32>,
    /// CPU seconds of each watched process over the window.
    pub cpu: Vec<f64>,
    /// CPU seconds of this process (the load generator) over the window.
    pub own_cpu: f64,
    /// CPU seconds of the PostgreSQL server's processes over the window.
    pub db_cpu: f64,
    /// CPU seconds the whole machine was busy over the window (every process).
    pub machine_cpu: f64,
    pub max_rss_mib: f64,
    /// Highest proportional set size sampled: pages shared with other
    /// mappings (an adapter's memory image mapped into every instance slot)
    /// counted once, not once per mapping as RSS counts them.
    pub max_pss_mib: f64,
}

impl Outcome {
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.window_secs
    }
    pub fn p(&self, pct: f64) -> f64 {
        percentile(&self.latency_us, pct)
    }
    /// CPU µs per successful request of watched process `i` (`None`: this process).
    pub fn cpu_us_per_request(&self, i: Option<usize>) -> f64 {
        let secs = match i {
            Some(i) => self.cpu.get(i).copied().unwrap_or(f64::NAN),
            None => self.own_cpu,
        };
        if self.ok == 0 { f64::NAN } else { secs * 1e6 / self.ok as f64 }
    }
    /// Cores kept busy by processes other than the watched ones and this one
    /// (other people's builds, the kernel's own threads) over the window.
    pub fn other_cores(&self) -> f64 {
        let ours = self.cpu.iter().sum::<f64>() + self.own_cpu + self.db_cpu;
        (self.machine_cpu - ours).max(0.0) / self.window_secs
    }

    /// Cores the PostgreSQL server kept busy over the window.
    pub fn db_cores(&self) -> f64 {
        self.db_cpu / self.window_secs
    }

    /// PostgreSQL server CPU µs per successful request.
    pub fn db_us_per_request(&self) -> f64 {
        if self.ok == 0 { f64::NAN } else { self.db_cpu * 1e6 / self.ok as f64 }
    }

    /// Cores busy on average over the window.
    pub fn cores(&self, i: Option<usize>) -> f64 {
        let secs = match i {
            Some(i) => self.cpu.get(i).copied().unwrap_or(f64::NAN),
            None => self.own_cpu,
        };
        secs / self.window_secs
    }
}

/// The PostgreSQL server's processes (its CPU is reported on its own).
const DB_PROCESS: &str = "postgres";

// The phase starts at 0: warm-up.
const MEASURE: u8 = 1;
const STOP: u8 = 2;

#[derive(Default)]
struct Shared {
    phase: AtomicU8,
    next: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    fn error(&self, message: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if self.phase.load(Ordering::Relaxed) == MEASURE {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        first.get_or_insert(message);
    }
}

/// Drives every connection in `conns` closed-loop through warm-up and the
/// window; gives the connections back for the next run.
pub async fn run(conns: Vec<Conn>, make: MakeRequest, check: Check, plan: &Plan<'_>) -> Result<(Outcome, Vec<Conn>)> {
    if conns.is_empty() {
        bail!("no connections to run on");
    }
    let shared = Arc::new(Shared::default());
    let mut tasks = Vec::with_capacity(conns.len());
    for mut conn in conns {
        let (shared, make) = (shared.clone(), make.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::new();
            while shared.phase.load(Ordering::Relaxed) != STOP {
                let request = make(shared.next.fetch_add(1, Ordering::Relaxed));
                let started = Instant::now();
                let mut result = conn.exchange(&request, check).await;
                if matches!(result, Err(ExchangeError::ClosedBeforeAnswer)) {
                    // A keep-alive connection the server had closed: one retry on a new one.
                    result = match conn.reconnect().await {
                        Ok(()) => conn.exchange(&request, check).await,
                        Err(e) => Err(ExchangeError::Other(format!("{e:#}"))),
                    };
                }
                let micros = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
                let measuring = shared.phase.load(Ordering::Relaxed) == MEASURE;
                match result {
                    Ok(true) => {
                        if measuring {
                            shared.ok.fetch_add(1, Ordering::Relaxed);
                            latencies.push(micros);
                        }
                    }
                    Ok(false) => {
                        let body = String::from_utf8_lossy(&conn.buf).chars().take(300).collect::<String>();
                        shared.error(format!("unexpected answer: {body}"));
                    }
                    Err(e) => {
                        shared.error(match e {
                            ExchangeError::ClosedBeforeAnswer => "connection closed before the answer".into(),
                            ExchangeError::Other(m) => m,
                        });
                        if conn.reconnect().await.is_err() {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
            }
            (conn, latencies)
        }));
    }

    tokio::time::sleep(plan.warmup).await;
    let cpu_before: Vec<f64> = plan.watch.iter().map(|p| cpu_seconds(*p)).collect();
    let own_before = cpu_seconds(std::process::id());
    let machine_before = crate::procs::machine_busy_seconds();
    let db_before = crate::procs::cpu_of_named(DB_PROCESS);
    let started = Instant::now();
    shared.phase.store(MEASURE, Ordering::Relaxed);
    let (mut max_rss, mut max_pss) = (f64::NAN, f64::NAN);
    let end = started + plan.window;
    loop {
        if let Some(pid) = plan.sample_rss_of {
            max_rss = max_rss.max(crate::procs::status_mib(pid, "VmRSS"));
            max_pss = max_pss.max(crate::procs::pss_mib(pid));
        }
        let now = Instant::now();
        let waiting = plan.until.as_ref().is_some_and(|done| !done.load(Ordering::Relaxed));
        if now >= end && !waiting {
            break;
        }
        if now >= end + Duration::from_secs(60) {
            shared.phase.store(STOP, Ordering::Relaxed);
            bail!("the load window waited a minute for its companion task");
        }
        let next = if now >= end { Duration::from_millis(10) } else { (end - now).min(Duration::from_millis(50)) };
        tokio::time::sleep(next).await;
    }
    shared.phase.store(STOP, Ordering::Relaxed);
    let window_secs = started.elapsed().as_secs_f64();
    let cpu: Vec<f64> = plan.watch.iter().zip(&cpu_before).map(|(p, before)| cpu_seconds(*p) - before).collect();
    let own_cpu = cpu_seconds(std::process::id()) - own_before;
    let machine_cpu = crate::procs::machine_busy_seconds() - machine_before;
    let db_cpu = crate::procs::cpu_delta(&db_before, &crate::procs::cpu_of_named(DB_PROCESS));

    let mut conns = Vec::with_capacity(tasks.len());
    let mut latency_us = Vec::new();
    for t in tasks {
        let (conn, lat) = t.await.context("a load task panicked")?;
        conns.push(conn);
        latency_us.extend(lat);
    }
    latency_us.sort_unstable();
    let first_error = shared.first_error.lock().unwrap_or_else(|p| p.into_inner()).take();
    let outcome = Outcome {
        ok: shared.ok.load(Ordering::Relaxed),
        failed: shared.failed.load(Ordering::Relaxed),
        errors: shared.errors.load(Ordering::Relaxed),
        first_error,
        window_secs,
        latency_us,
        cpu,
        own_cpu,
        db_cpu,
        machine_cpu,
        max_rss_mib: max_rss,
        max_pss_mib: max_pss,
    };
    Ok((outcome, conns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_give_status_and_length() {
        assert_eq!(parse_head(b"HTTP/1.1 201 Created\r\ncontent-length: 12\r\nx: y"), Ok((201, 12)));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK").is_err());
    }
}
