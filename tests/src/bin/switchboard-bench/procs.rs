//! The processes under test — the `switchboard` host and the `testcrm-server`
//! fake CRM, each its own process on loopback — and what `/proc` says about
//! them: CPU time (utime + stime) and resident memory.

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const SECRET: &str = "bench-secret-bench-secret-bench-secret";
pub const ENCRYPTION_KEY: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
pub const ADMIN_TOKEN: &str = "bench-admin-token-0123456789";
/// The origin the testcrm adapter calls; the host maps it to the fake.
pub const TESTCRM_ORIGIN: &str = "https://api.testcrm.example";

/// Raises the soft open-files limit to the hard one (children inherit it);
/// returns the limit now in force.
pub fn raise_nofile_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    // `None` is unlimited.
    let limit = |v: Option<u64>| v.unwrap_or(u64::MAX);
    let lim = getrlimit(Resource::Nofile);
    if limit(lim.current) < limit(lim.maximum) {
        let raised = Rlimit { current: lim.maximum, maximum: lim.maximum };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return limit(lim.maximum);
        }
    }
    limit(lim.current)
}

fn clock_ticks_per_second() -> f64 {
    match rustix::param::clock_ticks_per_second() {
        0 => 100.0,
        t => t as f64,
    }
}

/// User + system CPU seconds a process has used so far, all its threads
/// (also those that exited); `/proc/<pid>/stat` counts in clock ticks (10 ms).
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return f64::NAN };
    // The command name may hold spaces: the fields we want follow the last ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return f64::NAN };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')' field 3 (state) is index 0, so utime (14) is 11 and stime (15) 12.
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => (u + s) as f64 / clock_ticks_per_second(),
        _ => f64::NAN,
    }
}

/// CPU seconds used so far by every process named `comm` (e.g. the
/// PostgreSQL server's processes, `postgres`), by pid.
pub fn cpu_of_named(comm: &str) -> std::collections::BTreeMap<u32, f64> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else { return out };
    for entry in dir.filter_map(|e| e.ok()) {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm) {
            out.insert(pid, cpu_seconds(pid));
        }
    }
    out
}

/// CPU seconds the processes named in `after` used since `before` (a process
/// that started in between counts whole; one that ended is lost).
pub fn cpu_delta(before: &std::collections::BTreeMap<u32, f64>, after: &std::collections::BTreeMap<u32, f64>) -> f64 {
    after.iter().map(|(pid, t)| t - before.get(pid).copied().unwrap_or(0.0)).filter(|d| !d.is_nan()).sum()
}

/// CPU seconds the whole machine has been busy (all CPUs, every process),
/// from the first line of `/proc/stat`.
pub fn machine_busy_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else { return f64::NAN };
    let Some(cpu) = stat.lines().next().and_then(|l| l.strip_prefix("cpu ")) else { return f64::NAN };
    let f: Vec<u64> = cpu.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    let busy: u64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|i| f.get(*i)).sum();
    busy as f64 / clock_ticks_per_second()
}

/// A `kB` line of `/proc/<pid>/status` (`VmRSS`, `VmHWM`) in MiB.
pub fn status_mib(pid: u32, key: &str) -> f64 {
    kb_line_mib(&format!("/proc/{pid}/status"), key)
}

/// The proportional set size of `pid` in MiB (`Pss` of `smaps_rollup`): its
/// resident pages, each shared page divided among the mappings sharing it.
pub fn pss_mib(pid: u32) -> f64 {
    kb_line_mib(&format!("/proc/{pid}/smaps_rollup"), "Pss")
}

/// The `<key>: <n> kB` line of a `/proc` file in MiB; NaN when absent.
fn kb_line_mib(path: &str, key: &str) -> f64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.strip_prefix(key).is_some_and(|r| r.starts_with(':')))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// A child process serving HTTP on loopback; killed when dropped.
pub struct Served {
    pub name: &'static str,
    pub addr: SocketAddr,
    pub pid: u32,
    /// From spawn to the "listening on" line.
    pub startup: Duration,
    child: std::process::Child,
    log: PathBuf,
}

impl Served {
    /// Spawns `cmd` and waits for the line on its stdout that names the
    /// `http://` address it listens on.
    fn spawn(name: &'static str, mut cmd: Command, log: &Path) -> Result<Served> {
        let log_file = std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let started = Instant::now();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {name} ({:?})", cmd.get_program()))?;
        let stdout = child.stdout.take().context("piped stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            // Keep draining after the first line so the child never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                if !sent && let Some(at) = line.find("http://") {
                    let addr = line[at + 7..].split_whitespace().next().unwrap_or_default().to_owned();
                    sent = tx.send(addr).is_ok();
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let tail = std::fs::read_to_string(log).unwrap_or_default();
                let tail: Vec<&str> = tail.lines().rev().take(15).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                bail!("{name} did not start listening; its log ends:\n{}", tail.join("\n"));
            }
        };
        let startup = started.elapsed();
        let addr: SocketAddr = addr.parse().with_context(|| format!("{name} printed an odd address {addr:?}"))?;
        Ok(Served { name, addr, pid: child.id(), startup, child, log: log.to_owned() })
    }

    pub fn hostport(&self) -> String {
        self.addr.to_string()
    }

    pub fn rss_mib(&self) -> f64 {
        status_mib(self.pid, "VmRSS")
    }

    pub fn peak_rss_mib(&self) -> f64 {
        status_mib(self.pid, "VmHWM")
    }

    /// Lines of the process's log (stderr) that contain `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }

    /// Fails if the process has exited (it should serve until killed).
    pub fn ensure_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited during the benchmark ({status}); see {}", self.name, self.log.display());
        }
        Ok(())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the release binaries are: beside this one.
pub fn bin_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("where is switchboard-bench?")?;
    Ok(exe.parent().context("the bench's directory")?.to_owned())
}

/// `testcrm-server` on a free loopback port, answering after `delay`.
pub fn fake_crm(bins: &Path, delay: Duration, log: &Path) -> Result<Served> {
    let mut cmd = Command::new(bins.join("testcrm-server"));
    cmd.args(["--bind", "127.0.0.1:0", "--forget-requests", "--delay-ms", &delay.as_millis().to_string()]);
    Served::spawn("testcrm-server", cmd, log)
}

/// How to run one host process.
pub struct HostSpec<'a> {
    pub database_url: &'a str,
    pub data_dir: &'a Path,
    pub adapters_dir: &'a Path,
    /// `host:port` of the fake CRM the testcrm origin is mapped to.
    pub crm: &'a str,
    pub max_concurrent_calls: Option<u32>,
    /// More `key = value` lines for `[limits]`.
    pub limits: &'a str,
    /// More TOML tables (`[adapters.<platform>...]`).
    pub tables: &'a str,
}

/// The `switchboard` binary with a generated TOML config, listening on a free
/// loopback port, logging at `info` (its default) to a file.
pub fn host(bins: &Path, spec: &HostSpec, dir: &Path) -> Result<Served> {
    let q = |p: &Path| format!("{:?}", p.display().to_string());
    let mut file = String::new();
    file += "bind = \"127.0.0.1:0\"\n";
    file += &format!("database_url = {:?}\n", spec.database_url);
    file += &format!("data_dir = {}\n", q(spec.data_dir));
    file += &format!("adapters_dir = {}\n", q(spec.adapters_dir));
    file += &format!("admin_token = {ADMIN_TOKEN:?}\n");
    file += "watch_adapters = false\ncompile_cache = true\n";
    file += "[limits]\n";
    if let Some(n) = spec.max_concurrent_calls {
        file += &format!("max_concurrent_calls = {n}\n");
    }
    file += spec.limits;
    file += &format!("\n[upstream_overrides]\n{TESTCRM_ORIGIN:?} = \"http://{}\"\n", spec.crm);
    file += spec.tables;
    let config = dir.join("switchboard.toml");
    std::fs::write(&config, file)?;
    let mut cmd = Command::new(bins.join("switchboard"));
    cmd.arg("--config")
        .arg(&config)
        .env("APP_SERVER_SECRET_KEY", SECRET)
        .env("SWITCHBOARD_ENCRYPTION_KEY", ENCRYPTION_KEY)
        .env("RUST_LOG", "info")
        .env_remove("DATABASE_URL")
        .env_remove("SWITCHBOARD_CONFIG");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SWITCHBOARD_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("SWITCHBOARD_ENCRYPTION_KEY", ENCRYPTION_KEY);
    Served::spawn("switchboard", cmd, &dir.join(format!("switchboard-{}.log", unique())))
}

fn unique() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}
