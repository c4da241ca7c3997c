//! `switchboard dev …`: helpers for developing against a local host.
//! `dev widget-token` prints a widget token (and the tag that embeds the
//! widget with it) for a customer of the "Development" workspace, made on
//! first use with the local page origins it names.

use crate::clock::now_secs;
use crate::config::Config;
use crate::store::Store;
use crate::webhooks::event::rfc3339_millis;
use anyhow::{Context, bail};
use std::fmt::Write;

/// The workspace `dev` commands use unless told another.
const DEV_WORKSPACE: &str = "Development";

#[derive(Debug, clap::Subcommand)]
pub enum DevCommand {
    /// Print a widget token for local development, and the <script> tag that embeds the widget.
    WidgetToken {
        /// The customer whose integrations the widget shows.
        #[arg(long, default_value = "devcustomer")]
        customer: String,
        /// A workspace id; default: the "Development" workspace (made if missing).
        #[arg(long)]
        workspace: Option<String>,
        /// The page origin(s) the Development workspace allows, when it is made.
        #[arg(long = "origin", default_values_t = ["http://localhost:3000".to_owned(), "http://127.0.0.1:3000".to_owned()])]
        origins: Vec<String>,
        /// Its lifetime in seconds (at most a day).
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
        /// The host's address as the page reaches it (default: from `public_url` or `bind`).
        #[arg(long)]
        host: Option<String>,
    },
}

/// Runs one command; what it prints.
pub async fn run(config: &Config, command: DevCommand) -> anyhow::Result<String> {
    let DevCommand::WidgetToken { customer, workspace, origins, ttl, host } = command;
    if !crate::connect::secret::valid_customer_id(&customer) {
        bail!("--customer must be 1 to 64 letters and digits");
    }
    if !(60..=86_400).contains(&ttl) {
        bail!("--ttl must be 60 to 86400 seconds");
    }
    let store = Store::connect(&config.database_url(), config.sealer()?).await.context("cannot open the database")?;
    let out = widget_token(&store, config, &customer, workspace.as_deref(), &origins, ttl, host).await;
    store.close().await;
    out
}

async fn widget_token(
    store: &Store,
    config: &Config,
    customer: &str,
    workspace: Option<&str>,
    origins: &[String],
    ttl: i64,
    host: Option<String>,
) -> anyhow::Result<String> {
    let mut out = String::new();
    let workspace = match workspace {
        Some(id) => super::get(store, id).await?,
        None => match store.workspaces().await?.into_iter().find(|w| w.name == DEV_WORKSPACE) {
            Some(w) => w,
            None => {
                let made = super::create(store, DEV_WORKSPACE, origins).await?;
                let _ = writeln!(
                    out,
                    "Made workspace {} ({DEV_WORKSPACE}); its backend API key (shown once): {}\n",
                    made.workspace.id,
                    made.api_key.key.expose()
                );
                made.workspace
            }
        },
    };
    let expires_at = now_secs() + ttl;
    let (token, _) = super::mint_widget_token(store, &workspace.id, customer, expires_at).await?;
    let host = host.unwrap_or_else(|| local_host(config)).trim_end_matches('/').to_owned();
    let _ = writeln!(
        out,
        "Widget token for customer {customer} of {} ({}), valid until {}:\n  {}\n",
        workspace.id,
        workspace.name,
        rfc3339_millis(expires_at * 1000),
        token.expose()
    );
    let _ = writeln!(out, "Pages on these origins may show it: {}\n", workspace.allowed_origins.join(", "));
    let _ = writeln!(
        out,
        "Embed it:\n  <script type=\"module\" id=\"switchboard-widget\" src=\"{host}/widget/widget.js\" token=\"{}\"></script>",
        token.expose()
    );
    Ok(out)
}

/// Where a local page reaches the host: `public_url`, else `bind` (an
/// unspecified address as 127.0.0.1).
fn local_host(config: &Config) -> String {
    if !config.public_url.is_empty() {
        return config.public_url.clone();
    }
    let mut addr = config.bind;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{addr}")
}
