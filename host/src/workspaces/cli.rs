//! `switchboard workspace …`: the operator's commands for workspaces, on the
//! database the configuration names (the server may be running meanwhile).

use super::{WorkspaceError, json};
use crate::config::Config;
use crate::store::Store;
use anyhow::Context;
use std::fmt::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace: prints its id, a backend API key and a private
    /// signing key (RS256), the two secrets shown this once.
    Create {
        name: String,
        /// An origin its frontend runs on (repeat for several), e.g. https://app.example.com
        #[arg(long = "origin")]
        origins: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List the workspaces with their keys (API keys masked).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add the workspace's own RSA public keys (PEM files), for rotation.
    AddKey {
        workspace: String,
        /// A PEM file ("PUBLIC KEY" or "RSA PUBLIC KEY"); repeat for several.
        #[arg(long = "public-key", required = true)]
        public_keys: Vec<PathBuf>,
        /// The key id of each file, in order (generated where missing).
        #[arg(long = "kid")]
        kids: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a signing key: secrets signed with it are refused from now on.
    RevokeKey { workspace: String, kid: String },
    /// Issue another backend API key (shown this once).
    IssueApiKey {
        workspace: String,
        #[arg(long, default_value = "default")]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a backend API key by its id (`key_…`).
    RevokeApiKey { workspace: String, key_id: String },
}

/// Runs one command; what it prints.
pub async fn run(config: &Config, command: WorkspaceCommand) -> anyhow::Result<String> {
    let store = Store::connect(&config.database_url(), config.sealer()?).await.context("cannot open the database")?;
    let out = execute(&store, command).await;
    store.close().await;
    Ok(out?)
}

async fn execute(store: &Store, command: WorkspaceCommand) -> Result<String, WorkspaceError> {
    let pretty = |v: serde_json::Value| format!("{v:#}");
    Ok(match command {
        WorkspaceCommand::Create { name, origins, json: as_json } => {
            let c = super::create(store, &name, &origins).await?;
            if as_json {
                return Ok(pretty(json::created(&c)));
            }
            let mut out = format!("Created workspace {} ({})\n", c.workspace.id, c.workspace.name);
            let origins = c.workspace.allowed_origins.join(", ");
            let _ = writeln!(out, "  allowed origins: {}", if origins.is_empty() { "none yet" } else { &origins });
            let _ = writeln!(
                out,
                "\nBackend API key {} (shown once: keep it in your backend's secrets):",
                c.api_key.row.id
            );
            let _ = writeln!(out, "  {}", c.api_key.key.expose());
            let _ = writeln!(
                out,
                "\nPrivate signing key, kid {} (shown once: your backend signs connect secrets with it, RS256, \
                 header \"kid\": \"{}\"; Switchboard keeps only the public key):",
                c.signing_key.kid, c.signing_key.kid
            );
            out + c.private_key_pem.expose()
        }
        WorkspaceCommand::List { json: as_json } => {
            let mut all = Vec::new();
            for w in store.workspaces().await? {
                let (keys, api_keys) = (store.signing_keys(&w.id).await?, store.api_keys(&w.id).await?);
                all.push(json::workspace(&w, &keys, &api_keys));
            }
            if as_json {
                return Ok(pretty(serde_json::Value::Array(all)));
            }
            let mut out = String::new();
            for w in &all {
                let _ = writeln!(out, "{} {} origins {}", w["id"], w["name"], w["allowedOrigins"]);
                for k in w["signingKeys"].as_array().into_iter().flatten() {
                    let _ = writeln!(out, "  signing key {} ({}) revoked at {}", k["kid"], k["origin"], k["revokedAt"]);
                }
                for k in w["apiKeys"].as_array().into_iter().flatten() {
                    let _ = writeln!(
                        out,
                        "  API key {} {} {} revoked at {}",
                        k["id"], k["name"], k["masked"], k["revokedAt"]
                    );
                }
            }
            out
        }
        WorkspaceCommand::AddKey { workspace, public_keys, kids, json: as_json } => {
            let mut keys = Vec::new();
            for (n, file) in public_keys.iter().enumerate() {
                let pem = std::fs::read_to_string(file)
                    .map_err(|e| WorkspaceError::InvalidPublicKey(format!("{}: {e}", file.display())))?;
                keys.push((kids.get(n).cloned(), pem));
            }
            let added = super::add_public_keys(store, &workspace, &keys).await?;
            if as_json {
                return Ok(pretty(added.iter().map(json::signing_key).collect()));
            }
            added.iter().map(|k| format!("added signing key {} to {workspace}\n", k.kid)).collect()
        }
        WorkspaceCommand::RevokeKey { workspace, kid } => {
            super::revoke_signing_key(store, &workspace, &kid).await?;
            format!("revoked signing key {kid} of {workspace}\n")
        }
        WorkspaceCommand::IssueApiKey { workspace, name, json: as_json } => {
            let issued = super::issue_api_key(store, &workspace, &name).await?;
            if as_json {
                return Ok(pretty(json::issued(&issued)));
            }
            format!("API key {} for {workspace} (shown once):\n  {}\n", issued.row.id, issued.key.expose())
        }
        WorkspaceCommand::RevokeApiKey { workspace, key_id } => {
            super::revoke_api_key(store, &workspace, &key_id).await?;
            format!("revoked API key {key_id} of {workspace}\n")
        }
    })
}
