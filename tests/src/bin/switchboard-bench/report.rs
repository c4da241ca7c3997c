//! The printed tables.

use crate::attacks::{self, Attacks};
use crate::concurrency::Row;
use crate::overhead::{CRM, Figures, HOST, LOADGEN, SATURATING_CLIENTS, TAIL_CLIENTS};
use crate::runtime_costs::Costs;
use crate::stats::{Stat, added, ratio};
use crate::stores::{CONCURRENCY_BUDGET_MIB, CONCURRENCY_POOL, StoreFigures};
use crate::{UPSTREAM_DELAY, workload};
use std::path::PathBuf;
use std::time::Duration;

pub struct StoreRun {
    pub label: &'static str,
    pub detail: String,
    /// `Err` holds why the store was skipped or failed.
    pub figures: Result<StoreFigures, String>,
}

#[derive(Default)]
pub struct Report {
    pub runs: usize,
    pub nofile: u64,
    pub adapters: Vec<String>,
    pub bundled: PathBuf,
    pub bins: PathBuf,
    pub floor_get: Figures,
    pub floor_post: Figures,
    pub floor_concurrency: Vec<Row>,
    pub stores: Vec<StoreRun>,
    pub costs: Option<Costs>,
    /// `Err` holds why the attacks were not run.
    pub attacks: Option<Result<Attacks, String>>,
    pub webhooks: Vec<(&'static str, Result<crate::webhooks::WebhookFigures, String>)>,
    /// `None`: no App Connect was named; `Err`: why it was not measured.
    pub appconnect: Option<Result<crate::appconnect::AppConnectRun, String>>,
    pub elapsed: Duration,
}

const LABEL: usize = 46;
const COL: usize = 26;

fn line(label: &str, cells: &[String]) {
    let mut s = format!("{label:<LABEL$} ");
    for c in cells {
        s += &format!("{c:<COL$} ");
    }
    println!("{}", s.trim_end());
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            let l = s.lines().find(|l| l.starts_with("model name"))?;
            Some(l.split(':').nth(1)?.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

impl Report {
    fn measured(&self) -> Vec<(&'static str, &StoreFigures)> {
        self.stores.iter().filter_map(|s| s.figures.as_ref().ok().map(|f| (s.label, f))).collect()
    }

    pub fn print(&self) {
        println!();
        println!("switchboard-bench: every figure is the median of {} runs, [min..max] over the runs", self.runs);
        println!(
            "machine: {} CPU(s), {}; RLIMIT_NOFILE {} (raised to the hard limit; the children inherit it)",
            cpus(),
            cpu_model(),
            self.nofile
        );
        println!(
            "processes: host = {}/switchboard, fake CRM = {}/testcrm-server (each its own process, 127.0.0.1);",
            self.bins.display(),
            self.bins.display()
        );
        println!("           load generator = this process, one thread, raw HTTP/1.1 keep-alive connections");
        println!(
            "host: adapters {} from {}, log level info (its default) to a file, compile cache on",
            self.adapters.join(", "),
            self.bundled.display()
        );
        self.print_overhead();
        self.print_concurrency();
        self.print_costs();
        self.print_stores();
        self.print_attacks();
        crate::webhooks::print(&self.webhooks);
        self.print_checks();
        println!("\n(whole run: {:.0} s)", self.elapsed.as_secs_f64());
    }

    fn print_overhead(&self) {
        println!(
            "\n1. OVERHEAD — fake CRM answering at once; latency with 1 client, throughput with {SATURATING_CLIENTS} clients"
        );
        let sets = [
            (
                format!("GET /contact?phoneNumber={}", workload::PHONE),
                format!("GET /v1/contacts?phone={} (x-api-key)", workload::PHONE_QUERY),
                &self.floor_get,
                true,
            ),
            (
                "POST /callLog (a new sessionId each time)".to_owned(),
                "POST /v1/activities (x-api-key, the adapter's JSON)".to_owned(),
                &self.floor_post,
                false,
            ),
        ];
        let stores = self.measured();
        for (title, upstream, floor, is_get) in sets {
            println!("\n{title}   — the floor: {upstream}");
            let paths: Vec<(&str, &Figures)> = std::iter::once(("straight to fake CRM", floor))
                .chain(stores.iter().map(|(l, f)| (*l, if is_get { &f.get } else { &f.post })))
                .collect();
            let header: Vec<String> = paths
                .iter()
                .enumerate()
                .map(|(i, (l, _))| if i == 0 { (*l).to_owned() } else { format!("through host, {l}") })
                .collect();
            line("", &header);
            let row = |label: &str, get: &dyn Fn(&Figures) -> &Stat, decimals: usize| {
                line(label, &paths.iter().map(|(_, f)| get(f).cell(decimals)).collect::<Vec<_>>());
            };
            let vs_floor = |label: &str, get: &dyn Fn(&Figures) -> f64, show_added: bool| {
                let base = get(floor);
                let mut cells = vec![String::new()];
                for (_, f) in &paths[1..] {
                    let v = get(f);
                    cells.push(if show_added {
                        format!("{} µs ({})", added(v, base, 0), ratio(v, base))
                    } else {
                        ratio(v, base)
                    });
                }
                line(label, &cells);
            };
            row(&format!("requests/s, {SATURATING_CLIENTS} clients"), &|f| &f.rps, 0);
            vs_floor("  ratio to the floor", &|f| f.rps.median(), false);
            row("latency p50 µs, 1 client", &|f| &f.p50, 0);
            vs_floor("  added above the floor (ratio)", &|f| f.p50.median(), true);
            row("latency p99 µs, 1 client", &|f| &f.p99, 0);
            vs_floor("  added above the floor (ratio)", &|f| f.p99.median(), true);
            for (i, clients) in [TAIL_CLIENTS, SATURATING_CLIENTS].into_iter().enumerate() {
                for (j, label) in ["p50", "p99", "p99.9"].into_iter().enumerate() {
                    row(&format!("latency {label} µs, {clients} clients"), &|f| &f.tail[i][j], 0);
                }
                let cells: Vec<String> = paths
                    .iter()
                    .map(|(_, f)| format!("{:.1}×", f.tail[i][1].median() / f.tail[i][0].median()))
                    .collect();
                line("  p99 / p50", &cells);
            }
            for (clients, pick) in [(1usize, 0usize), (SATURATING_CLIENTS, 1)] {
                let cpu =
                    move |f: &Figures, i: usize| if pick == 0 { f.cpu_one[i].clone() } else { f.cpu_many[i].clone() };
                let cells = |i: usize| paths.iter().map(|(_, f)| cpu(f, i).cell(1)).collect::<Vec<_>>();
                line(&format!("CPU µs/request, {clients} client(s): host"), &cells(HOST));
                line("  fake CRM", &cells(CRM));
                line("  load generator (this process)", &cells(LOADGEN));
                let db = |f: &Figures| if pick == 0 { f.db_one.cell(1) } else { f.db_many.cell(1) };
                line("  PostgreSQL server (its processes)", &paths.iter().map(|(_, f)| db(f)).collect::<Vec<_>>());
                // Added: what the host path burns in the host and the CRM, less the floor's CRM.
                let floor_crm = cpu(floor, CRM).median();
                let mut cells = vec![String::new()];
                for (_, f) in &paths[1..] {
                    let total = cpu(f, HOST).median() + cpu(f, CRM).median();
                    cells.push(format!("{} µs ({})", added(total, floor_crm, 0), ratio(total, floor_crm)));
                }
                line("  added: host + CRM − floor CRM", &cells);
            }
            row(&format!("other processes' cores, {SATURATING_CLIENTS} clients"), &|f| &f.others, 2);
            let cells: Vec<String> = paths.iter().map(|(_, f)| format!("{} / {}", f.requests, f.errors)).collect();
            line("requests timed / errors", &cells);
            for (l, f) in &paths {
                if let Some(e) = &f.first_error {
                    println!("  first error ({l}): {e}");
                }
            }
            self.print_beside_appconnect(is_get, &stores);
        }
    }

    /// The same workload against App Connect, beside the host's figures.
    fn print_beside_appconnect(&self, is_get: bool, stores: &[(&'static str, &StoreFigures)]) {
        let ac = match &self.appconnect {
            None => return,
            Some(Err(e)) => {
                println!("\n  App Connect (SWITCHBOARD_BENCH_APPCONNECT_URL): not measured: {e}");
                return;
            }
            Some(Ok(ac)) => ac,
        };
        let theirs = if is_get { &ac.get } else { &ac.post };
        println!(
            "\n  beside App Connect at {} (pid {}; the same requests, jwtToken in the query; its test CRM answers \
             from memory, the host's adapter makes one HTTP call to the fake CRM)",
            ac.url, ac.pid
        );
        let mut header = vec!["App Connect".to_owned()];
        header.extend(stores.iter().map(|(l, _)| format!("through host, {l}")));
        line("", &header);
        // `higher`: a bigger figure is better (throughput); else smaller is.
        let row = |label: &str, get: &dyn Fn(&Figures) -> f64, higher: bool| {
            let a = get(theirs);
            let mut cells = vec![format!("{a:.0}")];
            for (_, f) in stores {
                let v = get(if is_get { &f.get } else { &f.post });
                let times = if higher { v / a } else { a / v };
                cells.push(format!("{v:.0} ({times:.1}× App Connect's)"));
            }
            line(label, &cells);
        };
        row(&format!("requests/s, {SATURATING_CLIENTS} clients"), &|f| f.rps.median(), true);
        row(&format!("latency p50 µs, {TAIL_CLIENTS} clients (× faster)"), &|f| f.tail[0][0].median(), false);
        row(&format!("latency p99 µs, {TAIL_CLIENTS} clients (× faster)"), &|f| f.tail[0][1].median(), false);
        row(
            &format!("server CPU µs/request, {SATURATING_CLIENTS} clients (× less)"),
            &|f| {
                let crm = f.cpu_many[CRM].median();
                f.cpu_many[HOST].median() + if crm.is_nan() { 0.0 } else { crm }
            },
            false,
        );
        println!("  (server CPU: App Connect's process; the host's plus the fake CRM's)");
        let errors = format!("{} / {}", theirs.requests, theirs.errors);
        line("  App Connect requests timed / errors", &[errors]);
        if let Some(e) = &theirs.first_error {
            println!("  first error (App Connect): {e}");
        }
    }

    fn print_concurrency(&self) {
        let l_ms = UPSTREAM_DELAY.as_secs_f64() * 1000.0;
        println!(
            "\n2. CONCURRENCY — GET /contact, the fake CRM answers after L = {l_ms:.0} ms; ideal = C/L; closed loop, \
             1 s window after 0.3 s warm-up"
        );
        println!(
            "   host instance pool: max_concurrent_calls = {CONCURRENCY_POOL} (the default, 1000, caps any C at 1000/L \
             = {:.0}/s), adapter_memory_budget_mib = {CONCURRENCY_BUDGET_MIB}\n   cores = CPU seconds / wall seconds of the host, the fake CRM, the load generator, the PostgreSQL \
             server (DB) and every other process on the machine",
            1000.0 / UPSTREAM_DELAY.as_secs_f64()
        );
        let mut tables: Vec<(String, &Vec<Row>)> = vec![("straight to fake CRM".into(), &self.floor_concurrency)];
        for (l, f) in self.measured() {
            tables.push((format!("through host, {l}"), &f.concurrency));
        }
        for (title, rows) in tables {
            println!("\n{title}");
            println!(
                "{:>6} {:>8}  {:<26} {:>6}  {:>7} {:>7}   {:>5} {:>5} {:>5} {:>5} {:>6}   requests / errors",
                "C", "ideal/s", "requests/s", "ratio", "p50 ms", "p99 ms", "host", "CRM", "gen", "DB", "others"
            );
            for r in rows {
                let ideal = r.clients as f64 / UPSTREAM_DELAY.as_secs_f64();
                let cores = |i: usize| {
                    let m = r.cores[i].median();
                    if m.is_nan() { "-".to_owned() } else { format!("{m:.2}") }
                };
                println!(
                    "{:>6} {:>8.0}  {:<26} {:>6.2}  {:>7.1} {:>7.1}   {:>5} {:>5} {:>5} {:>5.2} {:>6.2}   {} / {}",
                    r.clients,
                    ideal,
                    r.rps.cell(0),
                    r.rps.median() / ideal,
                    r.p50_ms.median(),
                    r.p99_ms.median(),
                    cores(HOST),
                    cores(CRM),
                    cores(LOADGEN),
                    r.db.median(),
                    r.others.median(),
                    r.requests,
                    r.errors
                );
                if let Some(e) = &r.first_error {
                    println!("        first error: {e}");
                }
            }
        }
    }

    fn print_costs(&self) {
        println!("\n3. RUNTIME COSTS");
        if let Some(c) = &self.costs {
            println!("in-process (the host as a library, SQLite, no HTTP in the way)");
            let n = crate::compile_runs(self.runs);
            line(&format!("  start-up, cold (compile all; n={n})"), &[format!("{} ms", c.startup_cold_ms.cell(1))]);
            line(
                &format!("  start-up, from the compile cache (n={n})"),
                &[format!("{} ms", c.startup_cached_ms.cell(1))],
            );
            line("  adapter call: new store+instantiate+call", &[format!("{} µs", c.call_us.cell(1))]);
            for (name, s) in &c.compile_ms {
                line(&format!("  compile + check {name} (n={n})"), &[format!("{} ms", s.cell(1))]);
            }
            line("  hot reload: swap of the adapter set", &[format!("{} µs", c.swap_us.cell(2))]);
            line("  OAuth token refresh (local fake CRM)", &[format!("{} ms", c.refresh_ms.cell(2))]);
        }
        let stores = self.measured();
        if stores.is_empty() {
            return;
        }
        println!("host process (the release binary; start-up = spawn until it prints that it listens)");
        line("", &stores.iter().map(|(l, _)| (*l).to_owned()).collect::<Vec<_>>());
        let row = |label: &str, f: &dyn Fn(&StoreFigures) -> String| {
            line(label, &stores.iter().map(|(_, s)| f(s)).collect::<Vec<_>>());
        };
        let mib = |v: f64| if v.is_nan() { "-".to_owned() } else { format!("{v:.1} MiB") };
        let n = crate::compile_runs(self.runs);
        row(&format!("  start-up, cold (empty compile cache, n={n})"), &|s| format!("{} ms", s.start_cold_ms.cell(0)));
        row("  start-up, from the compile cache", &|s| format!("{} ms", s.start_cached_ms.cell(0)));
        row("  adapters compiled by that start-up", &|s| format!("{}", s.cached_compiles));
        row(&format!("  hot reload under load ({} clients)", crate::stores::RELOAD_CLIENTS), &|s| {
            format!("{} reloads, {} failed", s.reload.reloads, s.reload.failed)
        });
        row("    requests answered meanwhile", &|s| format!("{} (p99 {:.1} ms)", s.reload.requests, s.reload.p99_ms));
        row("    swap", &|s| format!("{} µs", s.reload.swap_us.cell(1)));
        row("    whole reload (compile, checks)", &|s| format!("{} ms", s.reload.reload_ms.cell(0)));
        row(&format!("  RSS idle after a cold start (n={n})"), &|s| format!("{} MiB", s.rss_idle_cold.total.cell(1)));
        row("    anonymous / file-backed", &|s| {
            format!("{:.1} / {:.1} MiB", s.rss_idle_cold.anon.median(), s.rss_idle_cold.file.median())
        });
        row("  RSS idle after a start from the cache", &|s| format!("{} MiB", s.rss_idle_cached.total.cell(1)));
        row("    anonymous / file-backed", &|s| {
            format!("{:.1} / {:.1} MiB", s.rss_idle_cached.anon.median(), s.rss_idle_cached.file.median())
        });
        row("  RSS after the overhead runs (cold-started)", &|s| mib(s.rss_after_overhead_mib));
        row("  RSS max under load, C up to 2000 (cached)", &|s| mib(s.rss_load_max_mib));
        row("  PSS max under load (shared pages once)", &|s| mib(s.pss_load_max_mib));
        row("  RSS peak of that process (VmHWM)", &|s| mib(s.rss_peak_mib));
        for (l, s) in &stores {
            if let Some(e) = &s.reload.first_error {
                println!("  first error during the reloads ({l}): {e}");
            }
            for w in s.warnings.iter().take(5) {
                println!("  host log ({l}): {w}");
            }
        }
    }

    fn print_stores(&self) {
        println!("\n4. STORES");
        for s in &self.stores {
            match &s.figures {
                Ok(_) => println!("  {:<11} {}", s.label, s.detail),
                Err(why) => println!("  {:<11} {why}", s.label),
            }
        }
    }

    /// The load generator is not the bottleneck when it drove the fake alone
    /// faster than anything through the host, on well under one core.
    fn print_checks(&self) {
        println!("\nLOAD GENERATOR CHECK");
        let mut max_gen_cores: f64 = 0.0;
        for r in self.floor_concurrency.iter().chain(self.measured().iter().flat_map(|(_, f)| f.concurrency.iter())) {
            max_gen_cores = max_gen_cores.max(r.cores[LOADGEN].max());
        }
        let floor_rps = self.floor_get.rps.median();
        let best_host = self.measured().iter().map(|(_, f)| f.get.rps.median()).fold(f64::NAN, f64::max);
        println!(
            "  it drove the fake CRM alone at {floor_rps:.0} GET/s with {SATURATING_CLIENTS} clients, {} the best \
             through the host ({best_host:.0}/s): the host runs were not capped by the generator",
            ratio(floor_rps, best_host)
        );
        if let Some(top) = self.floor_concurrency.last() {
            let ideal = top.clients as f64 / UPSTREAM_DELAY.as_secs_f64();
            println!(
                "  straight to the fake at C = {} it reached {:.0}/s = {:.2} of C/L, on {:.2} cores of its own",
                top.clients,
                top.rps.median(),
                top.rps.median() / ideal,
                top.cores[LOADGEN].median()
            );
        }
        println!(
            "  its CPU per request is printed beside the host's (section 1); in the concurrency runs it used at most \
             {max_gen_cores:.2} of one core"
        );
    }

    pub fn print_attacks(&self) {
        let Some(attacks) = &self.attacks else { return };
        println!(
            "\n5. ATTACKS — one host on SQLite, limits.adapter_memory_budget_mib = {}; each attack while one healthy \
             client loops GET /contact (testcrm)",
            attacks::BUDGET_MIB
        );
        let a = match attacks {
            Ok(a) => a,
            Err(why) => {
                println!("  not run: {why}");
                return;
            }
        };
        println!(
            "  host RSS idle {:.0} MiB; the budget line (idle + adapter memory budget) {:.0} MiB; /metrics {} bytes \
             before the attacks, {} after",
            a.idle_mib,
            a.budget_line_mib(),
            a.metrics_bytes_before,
            a.metrics_bytes_after
        );
        for r in &a.rows {
            let answers: Vec<String> = r.answers.iter().map(|(k, v)| format!("{v} × {k}")).collect();
            println!("\n  {}", r.attack);
            println!("    hostile requests got: {}", answers.join(", "));
            println!(
                "    healthy client: {} answered, {} failed, slowest {:.0} ms",
                r.healthy_ok, r.healthy_failed, r.healthy_max_ms
            );
            println!(
                "    host RSS: {:.0} MiB before, {:.0} MiB at most during ({}), {:.0} MiB after",
                r.rss_before_mib,
                r.rss_max_mib,
                if r.rss_max_mib <= a.budget_line_mib() { "under the budget line" } else { "OVER the budget line" },
                r.rss_after_mib
            );
        }
    }
}
