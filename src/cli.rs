//! The command line: `serve` (the default), and organization and key
//! management, a configuration check and number resyncs on the same
//! database file, safe while the server runs.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::domain::ids::ConfigId;
use crate::providers::Carriers;
use crate::secrets::{self, KeyOrigin, Sealer};
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
    /// Write a consistent copy of the database to PATH while the server runs
    /// (SQLite's online backup API); checked with integrity_check, written
    /// aside and renamed into place. Prints its size and schema version.
    Backup { path: PathBuf },
    /// Replace the database with the backup at PATH. Refused while a telebind
    /// server (or another command) has the database open; the replaced
    /// database is kept as <database>.pre-restore.
    Restore { path: PathBuf },
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
    #[command(flatten)]
    Api(ApiKeysCommand),
    /// Re-seal every stored credential under a new encryption key, in one
    /// transaction, with the server stopped. With a key file, the new key
    /// replaces it; with security.encryption_key, the new key is read from
    /// TELEBIND_NEW_ENCRYPTION_KEY and you set it as the key afterwards.
    RotateEncryption,
}

/// The API keys clients authenticate with.
#[derive(Debug, Subcommand)]
pub enum ApiKeysCommand {
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
        Command::Orgs(cmd) => manage(&config, |c, _| orgs(c, cmd)),
        Command::Keys(KeysCommand::RotateEncryption) => rotate_encryption(&config),
        Command::Keys(KeysCommand::Api(cmd)) => manage(&config, |c, _| keys(c, cmd)),
        Command::Config(ConfigCommand::Check) => manage(&config, |c, opened| check(c, &config, opened)),
        Command::Numbers(NumbersCommand::Resync { org, config_id }) => resync(&config, org, config_id).await,
        Command::Configs(cmd) => manage(&config, |c, _| configs(c, cmd)),
        Command::Backup { path } => backup(&config, &path),
        Command::Restore { path } => restore(&config, &path),
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
    crate::memory::start_trimming().map_err(|e| format!("cannot start the memory trimming thread: {e}"))?;
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
fn manage(
    config: &Config,
    f: impl FnOnce(&rusqlite::Connection, &db::Opened) -> Result<(), String>,
) -> Result<(), String> {
    let (pool, _, opened) = db::open_with(config, db::Create::Never).map_err(|e| e.to_string())?;
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    f(&tx, &opened)?;
    tx.commit().map_err(|e| e.to_string())
}

/// `backup PATH`, through a connection of the pool, while the server runs.
fn backup(config: &Config, path: &Path) -> Result<(), String> {
    let (pool, _, _) = db::open_with(config, db::Create::Never).map_err(|e| e.to_string())?;
    let conn = pool.get().map_err(|e| e.to_string())?;
    let copied = db::backup::backup(&conn, &config.database.path, path).map_err(|e| e.to_string())?;
    println!(
        "backup written to {}: {} bytes, schema version {}, integrity ok",
        copied.path.display(),
        copied.bytes,
        copied.schema_version
    );
    Ok(())
}

fn restore(config: &Config, path: &Path) -> Result<(), String> {
    let restored = db::backup::restore(config, path).map_err(|e| e.to_string())?;
    let copied = &restored.copied;
    println!(
        "restored {} into {}: {} bytes, schema version {}",
        path.display(),
        copied.path.display(),
        copied.bytes,
        copied.schema_version
    );
    if let Some(previous) = restored.previous {
        println!("the database it replaced is kept as {}", previous.display());
    }
    Ok(())
}

/// The variable `keys rotate-encryption` reads the new key from when the
/// key is configured rather than kept in a key file.
const NEW_KEY_VARIABLE: &str = "TELEBIND_NEW_ENCRYPTION_KEY";

/// `keys rotate-encryption`: with a key file, the new key is staged beside
/// it first and renamed over it once the database has committed, so a
/// crash at any point leaves a key that opens the database (an interrupted
/// rename is finished at the next open, `secrets::finish_rotation`).
fn rotate_encryption(config: &Config) -> Result<(), String> {
    let err = |e: db::DbError| e.to_string();
    let (_pool, store, _) = db::open_with(config, db::Create::Never).map_err(err)?;
    store.lock_exclusively().map_err(err)?;
    let mut conn = store.connect().map_err(err)?;
    let path = &config.database.path;
    let (count, said) = match store.sealer().origin().clone() {
        KeyOrigin::Configured => {
            let text = std::env::var(NEW_KEY_VARIABLE).map_err(|_| {
                format!("the key is security.encryption_key: put the new key (e.g. `openssl rand -base64 32`) in {NEW_KEY_VARIABLE}")
            })?;
            let new =
                Sealer::from_base64(&text, KeyOrigin::Configured).map_err(|e| format!("{NEW_KEY_VARIABLE}: {e}"))?;
            let count = db::sealed::rotate(&mut conn, store.sealer(), &new, path).map_err(err)?;
            (count, "now set security.encryption_key to the new key".to_string())
        }
        KeyOrigin::File(key_file) | KeyOrigin::Generated(key_file) => {
            let staged = secrets::staged_path(&key_file);
            let _ = std::fs::remove_file(&staged);
            let (new, text) = Sealer::generate(KeyOrigin::File(key_file.clone()));
            secrets::write_key_file(&staged, &text).map_err(|e| e.to_string())?;
            let count = db::sealed::rotate(&mut conn, store.sealer(), &new, path).map_err(|e| {
                let _ = std::fs::remove_file(&staged);
                err(e)
            })?;
            std::fs::rename(&staged, &key_file).map_err(|e| {
                format!(
                    "the database is sealed with the new key in {}, which could not replace {}: {e}; rename it by hand",
                    staged.display(),
                    key_file.display()
                )
            })?;
            secrets::sync_dir(&key_file);
            (count, format!("the new key is in {}; back it up", key_file.display()))
        }
    };
    println!("re-sealed the credentials of {count} configurations under a new key; {said}");
    Ok(())
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

fn keys(conn: &rusqlite::Connection, cmd: ApiKeysCommand) -> Result<(), String> {
    let sql = |e: rusqlite::Error| e.to_string();
    match cmd {
        ApiKeysCommand::Create { org, name } => {
            let org = db::orgs::find_or_insert(conn, org_name(&org)?).map_err(sql)?;
            let (_, key) = auth::issue_key(conn, org.id, name.trim()).map_err(sql)?;
            println!("{key}");
        }
        ApiKeysCommand::List { org } => {
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
        ApiKeysCommand::Revoke { prefix_or_id } => {
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

fn check(conn: &rusqlite::Connection, config: &Config, opened: &db::Opened) -> Result<(), String> {
    let sql = |e: rusqlite::Error| e.to_string();
    println!("# configuration: ok");
    println!(
        "# database {}: ok (schema version {}, {} organizations)",
        config.database.path.display(),
        db::schema_version(conn).map_err(sql)?,
        db::orgs::list(conn).map_err(sql)?.len(),
    );
    println!("# encryption key: {} opens the stored credentials", opened.key);
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
    let (pool, store, _) = db::open_with(config, db::Create::Never).map_err(err)?;
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
    let database = db::Database::new(pool, &store).map_err(err)?;
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
