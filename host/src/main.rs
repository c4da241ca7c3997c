//! `switchboard [--config <file>]`: runs the server. Subcommands:
//! `check-config`, `rotate-key`, `workspace …`, `dev widget-token` (see `--help`).

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use switchboard::config::Config;
use switchboard::server::{Server, init_tracing};
use switchboard::workspaces::cli::WorkspaceCommand;
use switchboard::workspaces::dev::DevCommand;

/// mimalloc, not the system allocator: a request makes hundreds of small
/// allocations across the worker threads (perf: glibc's malloc and free were
/// a tenth of the host's CPU under load; mimalloc cut `GET /contact`'s host
/// CPU by about a sixth at the same resident memory).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option in its v3 numbering (the one the bundled
/// `libmimalloc-sys` builds; its Rust constants follow v2's and lack this one).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Memory freed back to mimalloc goes back to the kernel at once instead of
/// after its default delay of one second. Under a burst of 2,000 calls the
/// pages of finished calls were still resident while new ones were taken:
/// VmHWM at C = 2,000 from 353–362 to 329–334 MiB, host CPU per request
/// unchanged (wrk, three interleaved pairs). Set before the first thread is
/// spawned; `MIMALLOC_PURGE_DELAY` in the environment still wins.
fn purge_freed_memory_at_once() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: `mi_option_set` writes one option word; mimalloc reads it
        // atomically on every purge, and no other thread runs yet.
        #[allow(unsafe_code)]
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0)
        };
    }
}

/// The Switchboard server: CRM integrations in sandboxed WebAssembly adapters.
#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    after_help = "Configuration: a TOML file (--config, $SWITCHBOARD_CONFIG, or ./switchboard.toml) and \
                  environment variables, which win. See README.md, \"Configuration\"."
)]
struct Cli {
    /// The configuration file.
    #[arg(long, short, global = true, env = "SWITCHBOARD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Validate the configuration and exit.
    CheckConfig,
    /// Re-encrypt every stored credential with SWITCHBOARD_ENCRYPTION_KEY (list the old
    /// key(s) in SWITCHBOARD_PREVIOUS_ENCRYPTION_KEYS meanwhile).
    RotateKey,
    /// Manage the workspaces of the Connect platform.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Helpers for local development (`dev widget-token`).
    #[command(subcommand)]
    Dev(DevCommand),
}

fn main() -> ExitCode {
    purge_freed_memory_at_once();
    let code = run();
    // The log lines still in memory (see `log_writer`).
    switchboard::log_writer::flush();
    code
}

fn run() -> ExitCode {
    let cli = Cli::parse();
    let mut config_file = cli.config;
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
    let command = match cli.command {
        Some(Command::CheckConfig) => {
            println!("configuration is valid");
            return ExitCode::SUCCESS;
        }
        other => other,
    };
    init_tracing(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("switchboard: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let command = match command {
        Some(Command::Workspace(c)) => return printed(runtime.block_on(switchboard::workspaces::cli::run(&config, c))),
        Some(Command::Dev(c)) => return printed(runtime.block_on(switchboard::workspaces::dev::run(&config, c))),
        other => other,
    };
    if matches!(command, Some(Command::RotateKey)) {
        return runtime.block_on(async {
            match switchboard::server::rotate_keys(&config).await {
                Ok((n, key)) => {
                    println!("re-encrypted {n} secret(s) with key {key}; the previous keys can now be removed");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    switchboard::log_writer::flush(); // the log lines before the error first
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
                switchboard::log_writer::flush(); // the log lines before the error first
                eprintln!("switchboard: cannot start: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        println!("switchboard listening on http://{}", server.addr);
        if let Err(e) = server.serve_until(termination(), grace).await {
            switchboard::log_writer::flush(); // the log lines before the error first
            eprintln!("switchboard: server failed: {e:#}");
            return ExitCode::FAILURE;
        }
        ExitCode::SUCCESS
    })
}

/// A command's output printed, or its error.
fn printed(outcome: anyhow::Result<String>) -> ExitCode {
    match outcome {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            switchboard::log_writer::flush(); // the log lines before the error first
            eprintln!("switchboard: {e:#}");
            ExitCode::FAILURE
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_memory_is_purged_at_once_not_after_mimallocs_one_second() {
        // Option 15 is `purge_delay` only if it holds mimalloc v3's default.
        // SAFETY: reads one option word.
        #[allow(unsafe_code)]
        let read = || unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(read(), 1000, "option {MI_OPTION_PURGE_DELAY} is not mimalloc's purge_delay");
            purge_freed_memory_at_once();
            assert_eq!(read(), 0);
        }
    }
}
