//! The database handle every caller shares, and the one way code reaches
//! SQLite outside start-up and the CLI: reads on pooled connections off the
//! async workers, point reads on the caller's own thread, writes through the
//! group-commit writer thread.

use std::sync::Arc;

use rusqlite::Connection;

use super::cache::{Generation, Scope};
use super::point::{self, Busy};
use super::writer::{Answer, WriteError, Writer};
use super::{DbError, Pool, Store};

#[derive(Clone)]
pub struct Database {
    pool: Pool,
    writer: Arc<Writer>,
    store: Store,
    generation: Generation,
}

impl Database {
    /// Starts the writer, on its own connection to `store`'s file; it stops
    /// when the last handle is dropped.
    pub fn new(pool: Pool, store: &Store) -> Result<Database, DbError> {
        let generation = Generation::default();
        Ok(Database {
            writer: Arc::new(Writer::start(store, generation.clone())?),
            pool,
            store: store.clone(),
            generation,
        })
    }

    /// The count of commits seen, but those of call-log writes alone, for
    /// stamping cached reads (`cache`):
    /// this process's own commits move it on before they are answered;
    /// another process's (the CLI's), once this thread notices them, within
    /// a millisecond. Taken before the read it stamps.
    pub fn generation(&self) -> u64 {
        // Unsure (the check failed) counts as changed: a cached copy is only an optimization.
        if point::changed_here(&self.store).unwrap_or(true) {
            self.generation.advance();
        }
        self.generation.now()
    }

    /// A lookup of one row by key: runs `f` at once on this thread's own
    /// read-only connection, and only if SQLite is busy, on the blocking
    /// pool. Nothing that scans: the calling thread may be an async worker.
    pub async fn point<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: Fn(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Busy + Send + 'static,
    {
        match point::read_here(&self.store, &f) {
            Err(e) if e.is_busy() => self.read(f).await,
            done => done,
        }
    }

    /// Runs `f` on a pooled connection, on the blocking pool: never on an async worker.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || f(&*pool.get().map_err(DbError::from)?))
            .await
            .map_err(|e| DbError::Panicked(e.to_string()))?
    }

    /// As `read`, on the calling thread, which must be allowed to block.
    pub fn read_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E>,
        E: From<DbError>,
    {
        f(&*self.pool.get().map_err(DbError::from)?)
    }

    /// Runs `f` in the writer's transaction (shared with the writes queued
    /// beside it, each in its own savepoint); answers once that transaction
    /// has committed, or is known not to have.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        self.write_scoped(Scope::Any, f).await
    }

    /// As `write`, for a write that changes the call log and nothing else:
    /// it leaves `generation`, and the copies stamped with it, alone.
    pub async fn write_call_log<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        self.write_scoped(Scope::CallLog, f).await
    }

    async fn write_scoped<T, E, F>(&self, scope: Scope, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let answer = self.submit(scope, f)?;
        settle(answer.await.map_err(|_| WriteError::Stopped))
    }

    /// As `write`, waiting on the calling thread, which must be allowed to
    /// block and must not be an async worker.
    pub fn write_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let answer = self.submit(Scope::Any, f)?;
        settle(answer.blocking_recv().map_err(|_| WriteError::Stopped))
    }

    /// Queues `f` and returns at once; a failure is only logged. For
    /// bookkeeping no request waits on (when a key was last used).
    pub fn write_detached<F>(&self, what: &'static str, f: F)
    where
        F: FnOnce(&Connection) -> Result<(), DbError> + Send + 'static,
    {
        let logged = move |c: &Connection| f(c).inspect_err(|e| log::warn!("could not record {what}: {e}"));
        // Nobody waits for the answer; the writer logs failed commits itself.
        if let Err(e) = self.submit(Scope::Any, logged) {
            log::warn!("could not record {what}: {e}");
        }
    }

    fn submit<T, E, F>(&self, scope: Scope, f: F) -> Result<Answer<T, Outcome<E>>, DbError>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        Ok(self.writer.submit(scope, move |c| f(c).map_err(Outcome::Own))?)
    }
}

/// A write's own error, or why the writer could not do it.
enum Outcome<E> {
    Own(E),
    Writer(WriteError),
}

impl<E> From<WriteError> for Outcome<E> {
    fn from(e: WriteError) -> Self {
        Outcome::Writer(e)
    }
}

/// A write's answer in the caller's error type.
fn settle<T, E: From<DbError>>(answer: Result<Result<T, Outcome<E>>, WriteError>) -> Result<T, E> {
    match answer.map_err(DbError::from)? {
        Ok(value) => Ok(value),
        Err(Outcome::Own(e)) => Err(e),
        Err(Outcome::Writer(e)) => Err(DbError::from(e).into()),
    }
}
