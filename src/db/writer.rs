//! Group commit. SQLite lets one writer in at a time and every commit pays
//! an fsync (`synchronous=FULL`), so one thread owns the write slot and
//! commits the writes that queued while it was busy in one transaction, each
//! in its own savepoint. A write is acknowledged only after the commit that
//! holds it: durability is unchanged, fsyncs are shared.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;

use rusqlite::Connection;

use super::Pool;

/// One write: runs on the writer's connection inside the batch transaction,
/// and returns what to do once the batch's commit is known.
pub type Job = Box<dyn FnOnce(&Connection) -> Finish + Send>;
/// Told the batch's commit outcome; delivers the write's result.
pub type Finish = Box<dyn FnOnce(Result<(), String>) + Send>;

/// Most writes committed together.
const MAX_BATCH: usize = 64;

pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread; it stops when the `Writer` is dropped.
    pub fn start(pool: Pool) -> std::io::Result<Writer> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("telebind-writer".into())
            .spawn(move || {
                while let Ok(first) = queue.recv() {
                    let batch: Vec<Job> = std::iter::once(first)
                        .chain(queue.try_iter().take(MAX_BATCH - 1))
                        .collect();
                    commit_batch(&pool, batch);
                }
            })?;
        Ok(Writer { jobs })
    }

    /// Queues `job`; false when the writer has stopped.
    pub fn submit(&self, job: Job) -> bool {
        self.jobs.send(job).is_ok()
    }
}

/// A job that cannot run is dropped: its caller then learns the write was lost.
fn commit_batch(pool: &Pool, batch: Vec<Job>) {
    let conn = match pool.get() {
        Ok(conn) => conn,
        Err(e) => return log::error!("database writer: no connection: {e}"),
    };
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        return log::error!("database writer: cannot begin: {e}");
    }
    let mut finishes = Vec::with_capacity(batch.len());
    for job in batch {
        match catch_unwind(AssertUnwindSafe(|| job(&conn))) {
            Ok(finish) => finishes.push(finish),
            Err(_) => {
                log::error!("database writer: a write panicked; its changes are undone");
                let _ = conn.execute_batch("ROLLBACK TO write; RELEASE write;");
            }
        }
    }
    let commit = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
    if commit.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    for finish in finishes {
        finish(commit.clone());
    }
}

/// Runs `f` in a savepoint of the batch: an error undoes only `f`'s changes.
pub fn in_savepoint<T, E: From<rusqlite::Error>>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, E>,
) -> Result<T, E> {
    conn.execute_batch("SAVEPOINT write")?;
    let result = f(conn);
    let end = if result.is_ok() {
        "RELEASE write;"
    } else {
        "ROLLBACK TO write; RELEASE write;"
    };
    conn.execute_batch(end)?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    fn pool() -> (tempfile::TempDir, Pool) {
        let dir = tempfile::TempDir::new().unwrap();
        let manager = r2d2_sqlite::SqliteConnectionManager::file(dir.path().join("w.db"));
        let pool = r2d2::Pool::builder().max_size(2).build(manager).unwrap();
        pool.get()
            .unwrap()
            .execute_batch("CREATE TABLE t (v INTEGER NOT NULL UNIQUE)")
            .unwrap();
        (dir, pool)
    }

    /// A job inserting `v`, reporting (its own result, the commit's) on `done`.
    fn insert(v: i64, done: mpsc::Sender<(bool, Result<(), String>)>) -> Job {
        Box::new(move |conn| {
            let ok = in_savepoint(conn, |c| c.execute("INSERT INTO t (v) VALUES (?1)", [v])).is_ok();
            Box::new(move |commit| done.send((ok, commit)).unwrap())
        })
    }

    #[test]
    fn a_failed_write_undoes_only_itself_and_the_others_commit() {
        let (_dir, pool) = pool();
        let writer = Writer::start(pool.clone()).unwrap();
        let (done, results) = channel();
        for v in [1, 2, 1, 3] {
            assert!(writer.submit(insert(v, done.clone())));
        }
        let outcomes: Vec<_> = results.iter().take(4).collect();
        assert_eq!(outcomes.iter().filter(|(ok, _)| !ok).count(), 1, "the duplicate fails");
        assert!(outcomes.iter().all(|(_, commit)| commit.is_ok()));
        let count: i64 = pool
            .get()
            .unwrap()
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 3);
    }

    #[test]
    fn a_panicking_write_is_undone_and_the_writer_goes_on() {
        let (_dir, pool) = pool();
        let writer = Writer::start(pool.clone()).unwrap();
        let (done, results) = channel();
        writer.submit(Box::new(|conn| {
            conn.execute_batch("SAVEPOINT write; INSERT INTO t (v) VALUES (9);")
                .unwrap();
            panic!("a bug in a write");
        }));
        writer.submit(insert(4, done));
        assert_eq!(results.recv().unwrap(), (true, Ok(())));
        let values: Vec<i64> = pool
            .get()
            .unwrap()
            .prepare("SELECT v FROM t")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(values, [4]);
    }
}
