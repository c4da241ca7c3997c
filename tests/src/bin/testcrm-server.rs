//! Runs the Test CRM on its own: `testcrm-server [--bind 127.0.0.1:8181]`.

use switchboard_e2e::testcrm::{DEMO_API_KEY, TestCrm};

#[tokio::main]
async fn main() {
    let mut bind = "127.0.0.1:8181".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bind" => bind = args.next().unwrap_or_else(|| usage("--bind needs an address")),
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
    println!("Test CRM listening on {} (API key: {DEMO_API_KEY})", crm.base_url());
    let _ = tokio::signal::ctrl_c().await;
}

fn usage(msg: &str) -> ! {
    eprintln!("testcrm-server: {msg}\nusage: testcrm-server [--bind 127.0.0.1:8181]");
    std::process::exit(2)
}
