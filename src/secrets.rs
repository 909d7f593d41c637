//! The key that seals credentials at rest, and the cipher: where the key
//! comes from (`security.encryption_key`, or a key file made on first use),
//! and sealing and opening bytes with associated data. What is sealed, and
//! with which associated data, is the database's business (`db::sealed`).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, Generate, Key, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::config::SecurityConfig;

/// The first byte of every sealed value: the format, so that another one
/// can follow without guessing.
const FORMAT: u8 = 1;
const NONCE_LEN: usize = 24;

/// Where the key came from, as start-up and errors name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    /// `security.encryption_key` (or `TELEBIND_SECURITY__ENCRYPTION_KEY`).
    Configured,
    /// The key file, which existed.
    File(PathBuf),
    /// The key file, made now: the database had nothing sealed yet.
    Generated(PathBuf),
}

impl std::fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyOrigin::Configured => f.write_str("security.encryption_key"),
            KeyOrigin::File(path) => write!(f, "key file {}", path.display()),
            KeyOrigin::Generated(path) => write!(f, "key file {} (generated)", path.display()),
        }
    }
}

/// Why no key could be had, in one line.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("security.encryption_key: {0}")]
    BadConfigured(String),
    #[error("key file {}: {reason}", path.display())]
    BadFile { path: PathBuf, reason: String },
    #[error(
        "key file {} does not exist, and the database's credentials are sealed with a key: put that key file back, or set security.encryption_key",
        path.display()
    )]
    Missing { path: PathBuf },
}

/// A value that does not open with this key and its associated data: another
/// key sealed it, it belongs to another row, or it was altered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a sealed value does not open with the configured encryption key")]
pub struct NotOpened;

/// Seals and opens with one key (XChaCha20-Poly1305, a random nonce per value).
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    origin: KeyOrigin,
}

/// The key stays out of every log line.
impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    fn new(key: &Key<XChaCha20Poly1305>, origin: KeyOrigin) -> Sealer {
        Sealer {
            cipher: XChaCha20Poly1305::new(key),
            origin,
        }
    }

    /// A sealer with a key made now, and that key as base64.
    pub fn generate(origin: KeyOrigin) -> (Sealer, String) {
        let key = Key::<XChaCha20Poly1305>::generate();
        (Sealer::new(&key, origin), STANDARD.encode(key))
    }

    /// A sealer with `text`, a base64 key; the error says what is wrong with it.
    pub fn from_base64(text: &str, origin: KeyOrigin) -> Result<Sealer, String> {
        Ok(Sealer::new(&parse_key(text)?, origin))
    }

    pub fn origin(&self) -> &KeyOrigin {
        &self.origin
    }

    /// `FORMAT`, the nonce, then the ciphertext with its tag.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce = XNonce::generate();
        let sealed = self
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext, aad })
            .expect("XChaCha20-Poly1305 seals any length telebind stores");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, NotOpened> {
        let (&format, rest) = sealed.split_first().ok_or(NotOpened)?;
        if format != FORMAT || rest.len() < NONCE_LEN {
            return Err(NotOpened);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| NotOpened)?;
        self.cipher
            .decrypt(&nonce, Payload { msg: ciphertext, aad })
            .map_err(|_| NotOpened)
    }
}

fn parse_key(text: &str) -> Result<Key<XChaCha20Poly1305>, String> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|_| "expected base64 of 32 random bytes (e.g. `openssl rand -base64 32`)".to_string())?;
    Key::<XChaCha20Poly1305>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "expected 32 bytes, got {} (e.g. `openssl rand -base64 32`)",
            bytes.len()
        )
    })
}

/// Whether `text` is a usable `security.encryption_key` (empty is: it means
/// the key file); the error says why not.
pub fn check_configured(text: &str) -> Result<(), String> {
    match text.is_empty() {
        true => Ok(()),
        false => parse_key(text).map(|_| ()),
    }
}

/// The key for the database at `database`: `security.encryption_key`, else
/// the key file, made (mode 0600) when it is missing and `may_generate`:
/// only a database with nothing sealed yet may get a new key.
pub fn load(security: &SecurityConfig, database: &Path, may_generate: bool) -> Result<Sealer, KeyError> {
    if !security.encryption_key.is_empty() {
        return Sealer::from_base64(&security.encryption_key, KeyOrigin::Configured).map_err(KeyError::BadConfigured);
    }
    let path = security.key_file_for(database);
    match read_key_file(&path) {
        Err(KeyError::Missing { .. }) if may_generate => generate_key_file(&path),
        read => read,
    }
}

/// Reads a key file, refusing one that others may read.
pub fn read_key_file(path: &Path) -> Result<Sealer, KeyError> {
    let bad = |reason: String| KeyError::BadFile {
        path: path.to_path_buf(),
        reason,
    };
    let meta = match fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(KeyError::Missing {
                path: path.to_path_buf(),
            })
        }
        other => other.map_err(|e| bad(e.to_string()))?,
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(bad(format!(
            "is readable by others (mode {mode:03o}); run `chmod 600 {}`",
            path.display()
        )));
    }
    let text = fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    Sealer::from_base64(&text, KeyOrigin::File(path.to_path_buf())).map_err(bad)
}

/// Makes a key file that did not exist. Written aside and linked into place,
/// so that two processes starting at once end up with the same key and no
/// reader ever sees half a file.
fn generate_key_file(path: &Path) -> Result<Sealer, KeyError> {
    let (sealer, key) = Sealer::generate(KeyOrigin::Generated(path.to_path_buf()));
    let aside = aside_path(path, "new-key");
    write_key_file(&aside, &key)?;
    let linked = fs::hard_link(&aside, path);
    let _ = fs::remove_file(&aside);
    match linked {
        Ok(()) => {
            sync_dir(path);
            Ok(sealer)
        }
        // Another process made it first: its key is the key.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_key_file(path),
        Err(e) => Err(KeyError::BadFile {
            path: path.to_path_buf(),
            reason: format!("cannot be created: {e}"),
        }),
    }
}

/// Writes `key` to a new file at `path`, mode 0600, durably.
pub fn write_key_file(path: &Path, key: &str) -> Result<(), KeyError> {
    let bad = |e: std::io::Error| KeyError::BadFile {
        path: path.to_path_buf(),
        reason: format!("cannot be written: {e}"),
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(bad)?;
    file.write_all(format!("{key}\n").as_bytes()).map_err(bad)?;
    file.sync_all().map_err(bad)
}

/// Where `keys rotate-encryption` writes the new key before the database is
/// re-sealed with it; renamed over the key file once that has committed.
pub fn staged_path(key_file: &Path) -> PathBuf {
    with_suffix(key_file, ".new")
}

fn key_file_of(sealer: &Sealer) -> Option<&Path> {
    match &sealer.origin {
        KeyOrigin::File(path) | KeyOrigin::Generated(path) => Some(path),
        KeyOrigin::Configured => None,
    }
}

/// A rotation that stopped after re-sealing and before renaming its key
/// into place: when the staged key is the one `opens_database` accepts,
/// it becomes the key file and its sealer is returned.
pub fn finish_rotation(current: &Sealer, opens_database: impl Fn(&Sealer) -> bool) -> Option<Sealer> {
    let path = key_file_of(current)?;
    let staged = staged_path(path);
    let sealer = read_key_file(&staged).ok().filter(|s| opens_database(s))?;
    fs::rename(&staged, path).ok()?;
    sync_dir(path);
    log::warn!(
        "finished an interrupted key rotation: {} now holds the new key",
        path.display()
    );
    Some(Sealer {
        origin: KeyOrigin::File(path.to_path_buf()),
        ..sealer
    })
}

/// A staged key left by a rotation that never committed opens nothing: it goes.
pub fn discard_staged(current: &Sealer) {
    if let Some(path) = key_file_of(current) {
        let _ = fs::remove_file(staged_path(path));
    }
}

/// `path` with `.tag-<random>` appended: a sibling no one else uses, on the
/// same file system, so a rename or link from it is atomic.
pub fn aside_path(path: &Path, tag: &str) -> PathBuf {
    with_suffix(path, &format!(".{tag}-{}", crate::domain::credentials::random_hex()))
}

/// `path` with `suffix` appended to its name, e.g. `telebind.db-wal`.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Makes a rename or a new link in `path`'s directory durable; a failure
/// only weakens durability, so it is not reported.
pub fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if let Ok(dir) = fs::File::open(dir) {
        let _ = dir.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn security(dir: &Path) -> (SecurityConfig, PathBuf) {
        let db = dir.join("telebind.db");
        (SecurityConfig::default(), db)
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_associated_data() {
        let (sealer, _) = Sealer::generate(KeyOrigin::Configured);
        let sealed = sealer.seal(b"org 1 config 2", b"{\"auth_token\":\"tok\"}");
        assert_eq!(sealed[0], FORMAT);
        assert_eq!(
            sealer.open(b"org 1 config 2", &sealed).unwrap(),
            b"{\"auth_token\":\"tok\"}"
        );
        assert_eq!(sealer.open(b"org 1 config 3", &sealed), Err(NotOpened));
        let (other, _) = Sealer::generate(KeyOrigin::Configured);
        assert_eq!(other.open(b"org 1 config 2", &sealed), Err(NotOpened));
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(sealer.open(b"org 1 config 2", &altered), Err(NotOpened));
        assert_eq!(sealer.open(b"", b""), Err(NotOpened));
        assert_ne!(
            sealer.seal(b"a", b"same"),
            sealer.seal(b"a", b"same"),
            "a fresh nonce each time"
        );
    }

    #[test]
    fn a_configured_key_must_be_base64_of_32_bytes() {
        assert!(check_configured("").is_ok());
        assert!(check_configured(&STANDARD.encode([7u8; 32])).is_ok());
        assert!(check_configured("not base64!").unwrap_err().contains("base64"));
        assert!(check_configured(&STANDARD.encode([7u8; 16]))
            .unwrap_err()
            .contains("got 16"));
    }

    #[test]
    fn the_key_file_is_made_once_with_mode_0600_and_then_read() {
        let dir = tempfile::tempdir().unwrap();
        let (security, db) = security(dir.path());
        assert!(matches!(load(&security, &db, false), Err(KeyError::Missing { .. })));
        let made = load(&security, &db, true).unwrap();
        let path = dir.path().join("telebind.key");
        assert_eq!(made.origin(), &KeyOrigin::Generated(path.clone()));
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let read = load(&security, &db, true).unwrap();
        assert_eq!(read.origin(), &KeyOrigin::File(path.clone()));
        let sealed = made.seal(b"x", b"secret");
        assert_eq!(read.open(b"x", &sealed).unwrap(), b"secret");
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "only the key file remains");
    }

    #[test]
    fn a_key_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        fs::write(&path, STANDARD.encode([1u8; 32])).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_key_file(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600") && !err.contains('\n'), "{err}");
    }

    #[test]
    fn a_configured_key_wins_over_the_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let (mut security, db) = security(dir.path());
        security.encryption_key = STANDARD.encode([9u8; 32]);
        assert_eq!(load(&security, &db, true).unwrap().origin(), &KeyOrigin::Configured);
        assert!(!dir.path().join("telebind.key").exists(), "no key file is made");
    }
}
