//! The command line: `serve` (the default), and organization and key
//! management on the same database file, safe while the server runs.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::{auth, db, startup, Application};

#[derive(Debug, Parser)]
#[command(
    name = "telebind",
    version,
    about = "Telephony-provider configurations and phone numbers, bound to voice workflows"
)]
pub struct Cli {
    /// Configuration file [default: ./telebind.toml when present]; see config.example.toml.
    /// Environment variables TELEBIND_<SECTION>__<KEY> override it.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the HTTP server (what plain `telebind` does). On an empty database
    /// it creates the organization `default` and prints its first API key once.
    Serve,
    /// Manage organizations.
    #[command(subcommand)]
    Orgs(OrgsCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
pub enum OrgsCommand {
    /// Create an organization and print its id.
    Create { name: String },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key (and the organization, if missing); prints only the key.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List keys, of one organization or of all.
    List {
        #[arg(long)]
        org: Option<String>,
    },
    /// Revoke a key by its id or its display prefix; it stops working at once.
    Revoke { prefix_or_id: String },
}

/// Runs the command; errors are printed as one line on stderr.
pub async fn run(cli: Cli) -> ExitCode {
    let config = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(config) => config,
        Err(e) => return fail(&e.to_string()),
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Orgs(cmd) => manage(&config, |c| orgs(c, cmd)),
        Command::Keys(cmd) => manage(&config, |c| keys(c, cmd)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("telebind: {message}");
    ExitCode::FAILURE
}

async fn serve(config: Config) -> Result<(), String> {
    let app = Application::build(config.clone()).map_err(|e| e.to_string())?;
    if let Some(key) = app.bootstrap_key() {
        let org = crate::DEFAULT_ORG;
        // A closed stdout must not stop the server: the key is also nowhere else.
        let _ = writeln!(
            std::io::stdout(),
            "\n  First start: created organization '{org}' and its API key.\n  \
             It is shown only this once; keep it somewhere safe:\n\n    API key: {key}\n"
        );
    }
    let listening = SocketAddr::new(config.server.bind.ip(), app.port());
    log::info!("{}", startup::summary(&config, listening, app.storage()));
    for warning in startup::warnings(&config, app.last_pushed_url()) {
        log::warn!("{warning}");
    }
    app.run_until_stopped().await.map_err(|e| e.to_string())
}

/// Runs a management command in one write transaction.
fn manage(config: &Config, f: impl FnOnce(&rusqlite::Connection) -> Result<(), String>) -> Result<(), String> {
    let (pool, _) = db::open_with(&config.database, db::Create::Never).map_err(|e| e.to_string())?;
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    f(&tx)?;
    tx.commit().map_err(|e| e.to_string())
}

fn org_name(raw: &str) -> Result<&str, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("an organization name must not be empty".into());
    }
    Ok(name)
}

fn orgs(conn: &rusqlite::Connection, cmd: OrgsCommand) -> Result<(), String> {
    let OrgsCommand::Create { name } = cmd;
    let name = org_name(&name)?;
    if let Some(org) = db::orgs::find_by_name(conn, name).map_err(|e| e.to_string())? {
        return Err(format!("organization '{name}' already exists (id {})", org.id));
    }
    let org = db::orgs::insert(conn, name).map_err(|e| e.to_string())?;
    println!("{}", org.id);
    Ok(())
}

fn keys(conn: &rusqlite::Connection, cmd: KeysCommand) -> Result<(), String> {
    let sql = |e: rusqlite::Error| e.to_string();
    match cmd {
        KeysCommand::Create { org, name } => {
            let org = db::orgs::find_or_insert(conn, org_name(&org)?).map_err(sql)?;
            let (_, key) = auth::issue_key(conn, org.id, name.trim()).map_err(sql)?;
            println!("{key}");
        }
        KeysCommand::List { org } => {
            let org_id = match org {
                Some(name) => Some(
                    db::orgs::find_by_name(conn, org_name(&name)?)
                        .map_err(sql)?
                        .ok_or_else(|| format!("no organization named '{name}'"))?
                        .id,
                ),
                None => None,
            };
            println!(
                "{:>5}  {:>5}  {:<12} {:<8} {:<28} {:<28} NAME",
                "ID", "ORG", "PREFIX", "STATE", "CREATED", "LAST USED"
            );
            for (org, key) in db::api_keys::list(conn, org_id, true).map_err(sql)? {
                let state = if key.is_active { "active" } else { "revoked" };
                let last_used = key.last_used_at.as_deref().unwrap_or("-");
                println!(
                    "{:>5}  {:>5}  {:<12} {:<8} {:<28} {:<28} {}",
                    key.id, org, key.key_prefix, state, key.created_at, last_used, key.name
                );
            }
        }
        KeysCommand::Revoke { prefix_or_id } => {
            let needle = prefix_or_id.trim();
            let (id, org) = match db::api_keys::find_by_prefix_or_id(conn, needle)
                .map_err(sql)?
                .as_slice()
            {
                [one] => *one,
                [] => return Err(format!("no API key has the id or prefix '{needle}'")),
                _ => return Err(format!("'{needle}' matches more than one API key; use its id")),
            };
            db::api_keys::set_archived(conn, org, id, true).map_err(sql)?;
            println!("revoked API key {id}");
        }
    }
    Ok(())
}
