//! Runs the Test CRM on its own:
//! `testcrm-server [--bind 127.0.0.1:8181] [--delay-ms N] [--forget-requests]`.
//!
//! `--delay-ms` makes every answer wait N ms (an upstream with latency, for
//! the concurrency benchmark); `--forget-requests` keeps no log of requests,
//! so memory stays flat under millions of them. Port 0 picks a free port; the
//! first line printed names the address either way.

use std::time::Duration;
use switchboard_e2e::testcrm::{DEMO_API_KEY, TestCrm};

const USAGE: &str = "usage: testcrm-server [--bind 127.0.0.1:8181] [--delay-ms N] [--forget-requests]";

#[tokio::main]
async fn main() {
    let mut bind = "127.0.0.1:8181".to_string();
    let mut delay = Duration::ZERO;
    let mut forget = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bind" => bind = args.next().unwrap_or_else(|| usage("--bind needs an address")),
            "--delay-ms" => {
                let ms = args.next().unwrap_or_else(|| usage("--delay-ms needs a number"));
                delay = Duration::from_millis(ms.parse().unwrap_or_else(|_| usage(&format!("{ms:?} is not a number"))));
            }
            "--forget-requests" => forget = true,
            _ => usage(&format!("unknown argument {a:?}")),
        }
    }
    let addr = bind.parse().unwrap_or_else(|_| usage(&format!("{bind:?} is not an address")));
    let crm = match TestCrm::start_on(addr).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("testcrm-server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    crm.set_delay(delay);
    crm.state().forget_requests = forget;
    println!("Test CRM listening on {} (API key: {DEMO_API_KEY})", crm.base_url());
    if !delay.is_zero() {
        println!("answering after {} ms", delay.as_millis());
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn usage(msg: &str) -> ! {
    eprintln!("testcrm-server: {msg}\n{USAGE}");
    std::process::exit(2)
}
