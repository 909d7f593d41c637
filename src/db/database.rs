//! The database handle every caller shares, and the one way code reaches
//! SQLite outside start-up and the CLI: reads on pooled connections off the
//! async workers, writes through the group-commit writer thread.

use std::sync::Arc;

use rusqlite::Connection;

use super::writer::{self, Writer};
use super::{DbError, Pool};

#[derive(Clone)]
pub struct Database {
    pool: Pool,
    writer: Arc<Writer>,
}

impl Database {
    /// Starts the writer thread; it stops when the last handle is dropped.
    pub fn new(pool: Pool) -> std::io::Result<Database> {
        Ok(Database {
            writer: Arc::new(Writer::start(pool.clone())?),
            pool,
        })
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
    /// beside it, each in its own savepoint); answers once committed.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.submit(f, move |result| {
            let _ = answer.send(result);
        })?;
        answered
            .await
            .map_err(|_| DbError::Write("the database writer lost a write".into()))?
    }

    /// As `write`, waiting on the calling thread, which must be allowed to block.
    pub fn write_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let (answer, answered) = std::sync::mpsc::channel();
        self.submit(f, move |result| {
            let _ = answer.send(result);
        })?;
        answered
            .recv()
            .map_err(|_| DbError::Write("the database writer lost a write".into()))?
    }

    /// Queues `f` and returns at once; a failure is only logged. For
    /// bookkeeping no request waits on (when a key was last used).
    pub fn write_detached<F>(&self, what: &'static str, f: F)
    where
        F: FnOnce(&Connection) -> Result<(), DbError> + Send + 'static,
    {
        let logged = move |result: Result<(), DbError>| {
            if let Err(e) = result {
                log::warn!("could not record {what}: {e}");
            }
        };
        if let Err(e) = self.submit(f, logged) {
            log::warn!("could not record {what}: {e}");
        }
    }

    /// Hands `f` to the writer; `deliver` gets its result once the batch's
    /// commit is known.
    fn submit<T, E, F, D>(&self, f: F, deliver: D) -> Result<(), DbError>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        D: FnOnce(Result<T, E>) + Send + 'static,
    {
        let job: writer::Job = Box::new(move |conn| {
            let result = writer::in_savepoint(conn, |c| f(c).map_err(Failed));
            Box::new(move |commit: Result<(), String>| {
                let result = match (commit, result) {
                    (Err(e), _) => Err(E::from(DbError::Write(e))),
                    (Ok(()), Ok(value)) => Ok(value),
                    (Ok(()), Err(Failed(e))) => Err(e),
                };
                deliver(result)
            })
        });
        if self.writer.submit(job) {
            Ok(())
        } else {
            Err(DbError::Write("the database writer has stopped".into()))
        }
    }
}

/// A job's own error, carried through the savepoint unchanged.
struct Failed<E>(E);

impl<E> From<rusqlite::Error> for Failed<E>
where
    E: From<DbError>,
{
    fn from(e: rusqlite::Error) -> Self {
        Failed(E::from(DbError::from(e)))
    }
}
