//! `switchboard [--config <file>]`: runs the server.
//! `switchboard check-config [--config <file>]`: validates and exits.

use std::path::PathBuf;
use std::process::ExitCode;
use switchboard::config::Config;
use switchboard::server::{Server, init_tracing};

const USAGE: &str = "usage: switchboard [check-config | rotate-key] [--config <file>]

  check-config   validate the configuration and exit
  rotate-key     re-encrypt every stored credential with SWITCHBOARD_ENCRYPTION_KEY;
                 list the old key(s) in SWITCHBOARD_PREVIOUS_ENCRYPTION_KEYS meanwhile

Configuration: a TOML file (--config, $SWITCHBOARD_CONFIG, or ./switchboard.toml)
and environment variables, which win. See README.md, \"Configuration\".";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut config_file: Option<PathBuf> = std::env::var_os("SWITCHBOARD_CONFIG").map(PathBuf::from);
    let mut check_only = false;
    let mut rotate_key = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => match args.next() {
                Some(f) => config_file = Some(f.into()),
                None => return usage_error("--config needs a file"),
            },
            "check-config" => check_only = true,
            "rotate-key" => rotate_key = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage_error(&format!("unknown argument {other:?}")),
        }
    }
    if config_file.is_none() && std::path::Path::new("switchboard.toml").exists() {
        config_file = Some("switchboard.toml".into());
    }
    let config = match Config::load(config_file.as_deref(), |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("switchboard: refusing to start: {e:#}");
            return ExitCode::from(2);
        }
    };
    if check_only {
        println!("configuration is valid");
        return ExitCode::SUCCESS;
    }
    init_tracing(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("switchboard: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if rotate_key {
        return runtime.block_on(async {
            match switchboard::server::rotate_keys(&config).await {
                Ok((n, key)) => {
                    println!("re-encrypted {n} secret(s) with key {key}; the previous keys can now be removed");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("switchboard: key rotation failed: {e:#}");
                    ExitCode::FAILURE
                }
            }
        });
    }
    // Calls in flight may finish within their wall deadline (+ 5 s).
    let grace = config.reservation_lease();
    runtime.block_on(async {
        let server = match Server::start(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("switchboard: cannot start: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        println!("switchboard listening on http://{}", server.addr);
        if let Err(e) = server.serve_until(termination(), grace).await {
            eprintln!("switchboard: server failed: {e:#}");
            return ExitCode::FAILURE;
        }
        ExitCode::SUCCESS
    })
}

/// SIGTERM (what process managers and orchestrators send) or SIGINT (Ctrl-C).
async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("switchboard: {msg}\n\n{USAGE}");
    ExitCode::from(2)
}
