//! The command line: `serve` (the default), and organization and key
//! management, a configuration check and number resyncs on the same
//! database file, safe while the server runs.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::domain::ids::ConfigId;
use crate::providers::Carriers;
use crate::sync::{NumberKey, SyncService};
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
    /// Check the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Push phone numbers to their carriers.
    #[command(subcommand)]
    Numbers(NumbersCommand),
    /// Park or reactivate telephony configurations.
    #[command(subcommand)]
    Configs(ConfigsCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigsCommand {
    /// Park a telephony configuration: it stays listed and manageable, takes
    /// no inbound calls and is not ready for outbound calls until it is
    /// reactivated (here, or by `POST …/telephony-configs/{id}/reactivate`).
    Deactivate {
        config_id: i64,
        /// Shown as `inactive_reason`; its first 255 characters are kept.
        #[arg(long)]
        reason: String,
    },
    /// Make a parked telephony configuration active again.
    Reactivate { config_id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum OrgsCommand {
    /// Create an organization and print its id.
    Create { name: String },
    /// List organizations: id and name.
    List,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and the database (which must exist), and
    /// print the effective settings with secrets masked.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum NumbersCommand {
    /// Push every bound number to its carrier again, as the server would
    /// (after `server.public_base_url` changes, or a carrier outage); several
    /// at a time (`sync.workers`), then a per-carrier summary. Fails if any
    /// push failed.
    Resync {
        /// Only this organization's numbers.
        #[arg(long, value_name = "NAME")]
        org: Option<String>,
        /// Only this telephony configuration's numbers (`--config` names the
        /// configuration file).
        #[arg(long, value_name = "ID")]
        config_id: Option<i64>,
    },
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
    /// Revoke a key by its id or its display prefix; it stops working within a second.
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
        Command::Config(ConfigCommand::Check) => manage(&config, |c| check(c, &config)),
        Command::Numbers(NumbersCommand::Resync { org, config_id }) => resync(&config, org, config_id).await,
        Command::Configs(cmd) => manage(&config, |c| configs(c, cmd)),
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
    for warning in startup::warnings(&config, app.stored()) {
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
    let name = match cmd {
        OrgsCommand::Create { name } => name,
        OrgsCommand::List => {
            println!("{:>5}  NAME", "ID");
            for org in db::orgs::list(conn).map_err(|e| e.to_string())? {
                println!("{:>5}  {}", org.id, org.name);
            }
            return Ok(());
        }
    };
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
            let orgs: HashMap<_, _> = db::orgs::list(conn)
                .map_err(sql)?
                .into_iter()
                .map(|o| (o.id, o.name))
                .collect();
            println!(
                "{:>5}  {:<16} {:<12} {:<8} {:<28} {:<28} NAME",
                "ID", "ORG", "PREFIX", "STATE", "CREATED", "LAST USED"
            );
            for (org, key) in db::api_keys::list(conn, org_id, true).map_err(sql)? {
                let state = if key.is_active { "active" } else { "revoked" };
                let last_used = key.last_used_at.as_deref().unwrap_or("-");
                let org = orgs.get(&org).map_or("-", String::as_str);
                println!(
                    "{:>5}  {:<16} {:<12} {:<8} {:<28} {:<28} {}",
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

/// The longest `inactive_reason` stored (TRUNKS.md §5.1).
const MAX_REASON_CHARS: usize = 255;

fn configs(conn: &rusqlite::Connection, cmd: ConfigsCommand) -> Result<(), String> {
    let (id, reason, done) = match cmd {
        ConfigsCommand::Deactivate { config_id, reason } => {
            let kept: String = reason.chars().take(MAX_REASON_CHARS).collect();
            (config_id, Some(kept), "deactivated")
        }
        ConfigsCommand::Reactivate { config_id } => (config_id, None, "reactivated"),
    };
    let found = db::configs::set_inactive(conn, None, ConfigId(id), reason.as_deref()).map_err(|e| e.to_string())?;
    if !found {
        return Err(format!("no telephony configuration has the id {id}"));
    }
    println!("{done} telephony configuration {id}");
    Ok(())
}

fn check(conn: &rusqlite::Connection, config: &Config) -> Result<(), String> {
    let sql = |e: rusqlite::Error| e.to_string();
    println!("# configuration: ok");
    println!(
        "# database {}: ok (schema version {}, {} organizations)",
        config.database.path.display(),
        db::schema_version(conn).map_err(sql)?,
        db::orgs::list(conn).map_err(sql)?.len(),
    );
    let stored = startup::Stored::read(conn).map_err(sql)?;
    for warning in startup::warnings(config, &stored) {
        println!("# warning: {warning}");
    }
    print!("{}", config.masked());
    Ok(())
}

/// `numbers resync`: pushes through a sync service of this process, on the
/// same database file as a running server.
async fn resync(config: &Config, org: Option<String>, config_id: Option<i64>) -> Result<(), String> {
    let err = |e: db::DbError| e.to_string();
    let (pool, _) = db::open_with(&config.database, db::Create::Never).map_err(err)?;
    let targets = {
        let conn = pool.get().map_err(|e| err(e.into()))?;
        let org_id = match org {
            Some(name) => Some(
                db::orgs::find_by_name(&conn, org_name(&name)?)
                    .map_err(|e| err(e.into()))?
                    .ok_or_else(|| format!("no organization named '{name}'"))?
                    .id,
            ),
            None => None,
        };
        db::phone_numbers::bound(&conn, org_id, config_id.map(ConfigId)).map_err(|e| err(e.into()))?
    };
    let database = db::Database::new(pool, &config.database).map_err(err)?;
    let sync = SyncService::start(database, Carriers::new(config), config.sync.workers).map_err(|e| e.to_string())?;

    let bar = ProgressBar::new(targets.len() as u64)
        .with_style(ProgressStyle::with_template("{bar:40} {pos}/{len} pushed").map_err(|e| e.to_string())?);
    let mut pushes = tokio::task::JoinSet::new();
    for number in targets {
        let sync = sync.clone();
        let key = NumberKey {
            org_id: number.org_id,
            config_id: number.config_id,
            id: number.id,
        };
        pushes.spawn(async move {
            let ok = match sync.push(key, RESYNC_REQUEST_ID).await {
                Ok((_, result)) => result.ok,
                Err(e) => {
                    log::warn!("[{RESYNC_REQUEST_ID}] number {}: {e}", key.id);
                    false
                }
            };
            (number.provider, ok)
        });
    }
    // Per carrier: (ok, failed).
    let mut tally: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    while let Some(done) = pushes.join_next().await {
        let (carrier, ok) = done.map_err(|e| e.to_string())?;
        let counts = tally.entry(carrier).or_default();
        if ok {
            counts.0 += 1;
        } else {
            counts.1 += 1;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if tally.is_empty() {
        println!("no bound numbers to push");
    }
    for (carrier, (ok, failed)) in &tally {
        println!("{carrier}: {ok} ok, {failed} failed");
    }
    let failed: u64 = tally.values().map(|(_, failed)| failed).sum();
    if failed > 0 {
        return Err(format!("{failed} pushes failed; see the warnings above"));
    }
    Ok(())
}

/// The request id the log gives a resync's pushes.
const RESYNC_REQUEST_ID: &str = "cli-resync";
