//! Group commit. SQLite lets one writer in at a time and every commit pays
//! an fsync (`synchronous=FULL`), so one thread owns the write slot and
//! commits the writes that queued while it was busy in one transaction, each
//! in its own savepoint. A write is acknowledged only after the commit that
//! holds it: durability is unchanged, fsyncs are shared.
//!
//! The writer alone begins, commits and rolls back, and opens and closes
//! each write's savepoint. Some errors make SQLite roll back the whole
//! transaction (disk full, I/O error, out of memory): the writer notices
//! after each write, fails the writes that the rollback undid, and runs the
//! rest of the batch in a new transaction. Every write is answered by what
//! is in the database: success only if its changes committed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::cache::{Generation, Scope};
use super::{DbError, Store};

/// Most writes committed together.
const MAX_BATCH: usize = 64;
/// Most writes waiting for the writer; more are refused (`Busy`) rather
/// than held in memory without bound. At 64 a commit, 16 commits' worth.
pub const QUEUE_CAPACITY: usize = 1024;

/// Why a write was not done, other than its own error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("the database writer's queue is full")]
    Busy,
    #[error("the database writer has stopped")]
    Stopped,
    #[error("a write panicked; its changes are undone")]
    Panicked,
    #[error("cannot begin a write transaction")]
    Begin(#[source] Arc<rusqlite::Error>),
    #[error("the commit failed")]
    Commit(#[source] Arc<rusqlite::Error>),
    /// Rolled back with its whole transaction by another write's error.
    #[error("the write's transaction was rolled back")]
    TransactionLost,
}

/// Where a write's result goes once its transaction's fate is known.
pub type Answer<T, E> = oneshot::Receiver<Result<T, E>>;

pub struct Writer {
    queue: mpsc::SyncSender<Box<dyn Write>>,
    /// Writes queued and not yet taken, for the queue-depth metric (a
    /// channel cannot tell its length).
    waiting: Arc<AtomicUsize>,
}

impl Writer {
    /// Opens the writer's own connection and starts its thread; the thread
    /// stops when the `Writer` is dropped. `generation` advances with each
    /// commit, unless all its writes were of the call log alone (`Scope`).
    pub fn start(store: &Store, generation: Generation) -> Result<Writer, DbError> {
        let conn = store.connect()?;
        let (queue, queued) = mpsc::sync_channel::<Box<dyn Write>>(QUEUE_CAPACITY);
        let waiting = Arc::new(AtomicUsize::new(0));
        let taken = Arc::clone(&waiting);
        std::thread::Builder::new()
            .name("telebind-writer".into())
            .spawn(move || {
                while let Ok(first) = queued.recv() {
                    let batch: Vec<_> = std::iter::once(first)
                        .chain(queued.try_iter().take(MAX_BATCH - 1))
                        .collect();
                    let left = taken.fetch_sub(batch.len(), Ordering::SeqCst) - batch.len();
                    crate::metrics::writer_queue_depth(left);
                    crate::metrics::writer_batch(batch.len());
                    run_batch(&conn, &generation, batch);
                    // Only a failed ROLLBACK leaves a transaction open here; its
                    // writes were answered as failed, so it must never commit:
                    // stop, and closing the connection rolls it back.
                    if !conn.is_autocommit() {
                        return log::error!("database writer: cannot roll back; stopping");
                    }
                }
            })
            .map_err(DbError::Writer)?;
        Ok(Writer { queue, waiting })
    }

    /// Queues `f`, which changes only what `scope` says (refused when
    /// `QUEUE_CAPACITY` writes wait), to run in a savepoint of the writer's
    /// transaction; its result is answered once that transaction has
    /// committed, or is known not to have.
    pub fn submit<T, E, F>(&self, scope: Scope, f: F) -> Result<Answer<T, E>, WriteError>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<WriteError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let write = Queued {
            scope,
            f: Some(f),
            result: None,
            reply,
        };
        // Counted before it can be taken, so the count never goes below zero.
        let depth = self.waiting.fetch_add(1, Ordering::SeqCst) + 1;
        if let Err(e) = self.queue.try_send(Box::new(write)) {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(match e {
                mpsc::TrySendError::Full(_) => WriteError::Busy,
                mpsc::TrySendError::Disconnected(_) => WriteError::Stopped,
            });
        }
        crate::metrics::writer_queue_depth(depth);
        Ok(answer)
    }
}

/// A queued write with its result type erased.
trait Write: Send {
    /// What the write may change.
    fn scope(&self) -> Scope;
    /// Runs the write; true if it succeeded and its changes are to be kept.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller: the write's own error if it failed, else its
    /// result if `committed`, else why not.
    fn answer(self: Box<Self>, committed: Result<(), WriteError>);
}

struct Queued<F, T, E> {
    scope: Scope,
    f: Option<F>,
    result: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Write for Queued<F, T, E>
where
    F: FnOnce(&Connection) -> Result<T, E> + Send,
    T: Send,
    E: From<WriteError> + Send,
{
    fn scope(&self) -> Scope {
        self.scope
    }

    fn run(&mut self, conn: &Connection) -> bool {
        let result = self.f.take().map(|f| f(conn));
        let ok = matches!(result, Some(Ok(_)));
        self.result = result;
        ok
    }

    fn answer(self: Box<Self>, committed: Result<(), WriteError>) {
        let answer = match (self.result, committed) {
            (Some(Err(own)), _) => Err(own),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (Some(Ok(_)), Err(e)) => Err(e.into()),
            (None, _) => Err(WriteError::Panicked.into()),
        };
        // The caller may have gone; the write stands either way.
        let _ = self.reply.send(answer);
    }
}

/// Runs `batch` in as few transactions as SQLite allows, and answers each write.
fn run_batch(conn: &Connection, generation: &Generation, batch: Vec<Box<dyn Write>>) {
    // Run in the open transaction; answered once it commits or is lost.
    let mut pending: Vec<Box<dyn Write>> = Vec::with_capacity(batch.len());
    let mut writes = batch.into_iter();
    while let Some(mut write) = writes.next() {
        if conn.is_autocommit() {
            if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
                log::error!("database writer: cannot begin: {e}");
                let e = WriteError::Begin(Arc::new(e));
                return std::iter::once(write)
                    .chain(writes)
                    .for_each(|w| w.answer(Err(e.clone())));
            }
        }
        let kept = in_savepoint(conn, write.as_mut());
        pending.push(write);
        if kept.is_err() || conn.is_autocommit() {
            // SQLite rolled the transaction back, or it holds changes of a
            // write that failed: either way, nothing run in it may commit.
            let why = kept.err().map_or_else(|| "rolled back".to_string(), |e| e.to_string());
            log::error!(
                "database writer: transaction lost ({why}); {} writes undone",
                pending.len()
            );
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            pending
                .drain(..)
                .for_each(|w| w.answer(Err(WriteError::TransactionLost)));
        }
    }
    if pending.is_empty() {
        return;
    }
    let committed = conn.execute_batch("COMMIT").map_err(|e| {
        log::error!("database writer: commit failed: {e}");
        WriteError::Commit(Arc::new(e))
    });
    if committed.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    // Before any answer: whoever hears of the write reads it, never a cached copy.
    if pending.iter().any(|w| w.scope() == Scope::Any) {
        generation.advance();
    }
    pending.into_iter().for_each(|w| w.answer(committed.clone()));
}

/// Runs `write` in its own savepoint: a failing or panicking write undoes
/// only its own changes. An error means the savepoint could not be opened
/// or closed: the transaction cannot be trusted.
fn in_savepoint(conn: &Connection, write: &mut dyn Write) -> rusqlite::Result<()> {
    conn.execute_batch("SAVEPOINT write")?;
    let ok = catch_unwind(AssertUnwindSafe(|| write.run(conn))).unwrap_or_else(|_| {
        log::error!("database writer: a write panicked; its changes are undone");
        false
    });
    let end = if ok {
        "RELEASE write"
    } else {
        "ROLLBACK TO write; RELEASE write"
    };
    conn.execute_batch(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{channel, Sender};

    #[derive(Debug)]
    enum Failed {
        Own(String),
        Writer(WriteError),
    }

    impl From<WriteError> for Failed {
        fn from(e: WriteError) -> Self {
            Failed::Writer(e)
        }
    }

    impl From<rusqlite::Error> for Failed {
        fn from(e: rusqlite::Error) -> Self {
            Failed::Own(e.to_string())
        }
    }

    /// A database with table `t`, configured as the server's.
    fn database() -> (tempfile::TempDir, Store) {
        let dir = tempfile::TempDir::new().unwrap();
        let mut config = crate::config::Config::default();
        config.database.path = dir.path().join("w.db");
        let (pool, store, _) = super::super::open_with(&config, super::super::Create::IfMissing).unwrap();
        pool.get()
            .unwrap()
            .execute_batch("CREATE TABLE t (v INTEGER NOT NULL UNIQUE)")
            .unwrap();
        (dir, store)
    }

    /// The values committed to `t`, as another connection sees them.
    fn stored(store: &Store) -> Vec<i64> {
        let conn = Connection::open(&store.config().path).unwrap();
        let mut select = conn.prepare("SELECT v FROM t ORDER BY v").unwrap();
        let values = select.query_map([], |r| r.get(0)).unwrap();
        values.collect::<Result<_, _>>().unwrap()
    }

    /// Keeps the writer thread busy until the returned sender is used, so
    /// that the writes submitted meanwhile are run as one batch.
    fn hold(writer: &Writer) -> Sender<()> {
        let (started, busy) = channel();
        let (release, released) = channel::<()>();
        writer
            .submit(Scope::Any, move |_| {
                started.send(()).unwrap();
                released.recv().map_err(|e| Failed::Own(e.to_string()))
            })
            .unwrap();
        busy.recv().unwrap();
        release
    }

    fn insert(writer: &Writer, v: i64) -> Answer<(), Failed> {
        insert_as(writer, Scope::Any, v)
    }

    fn insert_as(writer: &Writer, scope: Scope, v: i64) -> Answer<(), Failed> {
        writer
            .submit(scope, move |c| {
                Ok(c.execute("INSERT INTO t (v) VALUES (?1)", [v]).map(drop)?)
            })
            .unwrap()
    }

    #[test]
    fn a_failed_write_undoes_only_itself_and_the_others_commit() {
        let (_dir, store) = database();
        let writer = Writer::start(&store, Generation::default()).unwrap();
        let release = hold(&writer);
        let answers = [1, 2, 1, 3].map(|v| insert(&writer, v));
        release.send(()).unwrap();
        let answers = answers.map(|a| a.blocking_recv().unwrap());
        assert!(
            matches!(answers, [Ok(()), Ok(()), Err(Failed::Own(_)), Ok(())]),
            "{answers:?}"
        );
        assert_eq!(stored(&store), [1, 2, 3]);
    }

    #[test]
    fn a_write_is_answered_only_after_the_generation_moved_on() {
        let (_dir, store) = database();
        let generation = Generation::default();
        let writer = Writer::start(&store, generation.clone()).unwrap();
        let before = generation.now();
        insert(&writer, 1).blocking_recv().unwrap().unwrap();
        assert!(generation.now() > before, "a cached copy could outlive the write");
    }

    #[test]
    fn only_a_commit_of_call_log_writes_alone_leaves_the_generation() {
        let (_dir, store) = database();
        let generation = Generation::default();
        let writer = Writer::start(&store, generation.clone()).unwrap();
        let before = generation.now();
        insert_as(&writer, Scope::CallLog, 1).blocking_recv().unwrap().unwrap();
        assert_eq!(generation.now(), before);

        // Committed together with any other write, it moves on.
        let release = hold(&writer);
        let answers = [(Scope::CallLog, 2), (Scope::Any, 3)].map(|(scope, v)| insert_as(&writer, scope, v));
        release.send(()).unwrap();
        for answer in answers {
            answer.blocking_recv().unwrap().unwrap();
        }
        assert!(generation.now() > before, "a copy could outlive the other write");
    }

    #[test]
    fn a_panicking_write_is_undone_and_the_writer_goes_on() {
        let (_dir, store) = database();
        let writer = Writer::start(&store, Generation::default()).unwrap();
        let panicked = writer
            .submit(Scope::Any, |c| -> Result<(), Failed> {
                c.execute_batch("INSERT INTO t (v) VALUES (9)").unwrap();
                panic!("a bug in a write");
            })
            .unwrap();
        let after = insert(&writer, 4);
        assert!(matches!(
            panicked.blocking_recv().unwrap(),
            Err(Failed::Writer(WriteError::Panicked))
        ));
        assert!(after.blocking_recv().unwrap().is_ok());
        assert_eq!(stored(&store), [4]);
    }

    #[test]
    fn a_transaction_lost_mid_batch_fails_the_writes_it_undid_and_the_rest_commit() {
        let (_dir, store) = database();
        let writer = Writer::start(&store, Generation::default()).unwrap();
        let release = hold(&writer);
        // Whether each write ran in a transaction, and what others saw committed then.
        let (ran, runs) = channel();
        let answers = [1, 2, 3, 4, 5].map(|v| {
            let (ran, path) = (ran.clone(), store.config().path.clone());
            writer
                .submit(Scope::Any, move |c| {
                    let committed: i64 =
                        Connection::open(path)?.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?;
                    ran.send((v, c.is_autocommit(), committed)).unwrap();
                    c.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
                    if v == 3 {
                        // As SQLite does on a full disk: the whole transaction is gone.
                        c.execute_batch("ROLLBACK")?;
                        return Err(Failed::Own("disk full".into()));
                    }
                    Ok(())
                })
                .unwrap()
        });
        release.send(()).unwrap();
        let answers = answers.map(|a| a.blocking_recv().unwrap());
        drop(ran);

        let stored = stored(&store);
        for (v, answer) in (1..).zip(&answers) {
            assert_eq!(
                answer.is_ok(),
                stored.contains(&v),
                "write {v}: {answer:?}; stored {stored:?}"
            );
        }
        assert_eq!(stored, [4, 5], "the writes after the loss ran in a new transaction");
        assert!(
            matches!(&answers[2], Err(Failed::Own(e)) if e == "disk full"),
            "the failing write keeps its own error: {:?}",
            answers[2]
        );
        assert!(answers[..2]
            .iter()
            .all(|a| matches!(a, Err(Failed::Writer(WriteError::TransactionLost)))));
        // No write ran in autocommit, and none committed before its batch did:
        // 4 and 5 shared one commit.
        assert_eq!(runs.iter().collect::<Vec<_>>(), [1, 2, 3, 4, 5].map(|v| (v, false, 0)));
    }
}
