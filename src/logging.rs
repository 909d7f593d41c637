//! The log's output. Lines are handed to a thread of their own that writes
//! them to stderr, so that an actix worker never waits on a write to the
//! log (one access-log line per request).
//!
//! No credential reaches it at any level: the HTTP client's byte dumps of
//! what it sends and receives (`ureq_proto`, at trace) are dropped whatever
//! `RUST_LOG` says, and every line written while a carrier call runs is
//! scrubbed of that call's credentials (`scrub::Scrubber::scope`).

use std::io::{self, Write};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Most bytes waiting for the log thread (some 14,000 access-log lines):
/// should the output stall, loggers wait rather than memory grow.
const WAITING_BYTES: usize = 2 * 1024 * 1024;

/// What waits for the log thread. Lines are appended to one buffer that the
/// thread swaps for its own: no allocation per line, and no buffer freed by
/// another thread than the one that allocated it (glibc then takes that
/// thread's arena lock, which the workers' own allocations wait on).
#[derive(Default)]
struct Waiting {
    bytes: Vec<u8>,
    /// Answered once everything before them is written.
    flushes: Vec<mpsc::SyncSender<()>>,
}

#[derive(Default)]
struct Queue {
    waiting: Mutex<Waiting>,
    /// The log thread waits here for bytes or a flush.
    work: Condvar,
    /// Loggers wait here for room.
    room: Condvar,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// env_logger's target: collects a record's bytes, queues them on `flush`,
/// which env_logger calls after each record.
struct Pipe {
    queue: Arc<Queue>,
    line: Vec<u8>,
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.line.is_empty() {
            return Ok(());
        }
        // Still on the thread that logged, so its carrier call's scope applies.
        let scrubbed = crate::scrub::in_scope(&self.line);
        let line = scrubbed.as_ref().map_or(&self.line[..], |s| s.as_bytes());
        let mut waiting = self.queue.lock();
        while waiting.bytes.len() >= WAITING_BYTES {
            waiting = self.queue.room.wait(waiting).unwrap_or_else(|e| e.into_inner());
        }
        let first = waiting.bytes.is_empty();
        waiting.bytes.extend_from_slice(line);
        drop(waiting);
        if first {
            self.queue.work.notify_one();
        }
        self.line.clear();
        Ok(())
    }
}

/// How long the log thread rests after writing what was waiting: lines
/// that arrive meanwhile queue without waking it, so a busy server pays one
/// wake-up per rest rather than one per line.
const REST: Duration = Duration::from_millis(2);

/// The HTTP client's hex dumps of the bytes on the wire, headers and bodies
/// whole: a secret split over their rows could not even be scrubbed.
fn is_wire_dump(target: &str) -> bool {
    target == "ureq_proto" || target.starts_with("ureq_proto::")
}

/// env_logger, less the wire dumps.
struct Guarded(env_logger::Logger);

impl log::Log for Guarded {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        !is_wire_dump(metadata.target()) && self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            self.0.log(record);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

/// Writes what arrives, then rests; answers flushes once written.
fn write_lines(queue: Arc<Queue>, mut out: Box<dyn Write + Send>) {
    let mut taken = Vec::new();
    loop {
        let flushes = {
            let mut waiting = queue.lock();
            while waiting.bytes.is_empty() && waiting.flushes.is_empty() {
                waiting = queue.work.wait(waiting).unwrap_or_else(|e| e.into_inner());
            }
            std::mem::swap(&mut waiting.bytes, &mut taken);
            std::mem::take(&mut waiting.flushes)
        };
        queue.room.notify_all();
        // Nowhere to report a failed write to stderr: it is dropped.
        let _ = out.write_all(&taken);
        let _ = out.flush();
        taken.clear();
        for done in flushes {
            let _ = done.send(());
        }
        std::thread::sleep(REST);
    }
}

/// Until dropped, the log's lines still in flight are written out at the end.
pub struct Flush(Arc<Queue>);

impl Flush {
    /// Returns once every line logged before the call is written out.
    pub fn now(&self) {
        let (done, written) = mpsc::sync_channel(1);
        self.0.lock().flushes.push(done);
        self.0.work.notify_one();
        let _ = written.recv();
    }
}

impl Drop for Flush {
    fn drop(&mut self) {
        self.now();
    }
}

/// Installs the logger on stderr (`RUST_LOG`, default `info`); keep the
/// returned guard until the process ends, so that its last lines are not lost.
pub fn init() -> io::Result<Flush> {
    let filters = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    install(Box::new(io::stderr()), &filters)
}

/// As `init`, writing to `out` with `filters` in `RUST_LOG`'s syntax (tests
/// capture the log this way).
pub fn install(out: Box<dyn Write + Send>, filters: &str) -> io::Result<Flush> {
    let queue = Arc::new(Queue::default());
    let writer = queue.clone();
    std::thread::Builder::new()
        .name("telebind-log".into())
        .spawn(move || write_lines(writer, out))?;
    let pipe = Pipe {
        queue: queue.clone(),
        line: Vec::with_capacity(256),
    };
    let logger = env_logger::Builder::new()
        .parse_filters(filters)
        .target(env_logger::Target::Pipe(Box::new(pipe)))
        .build();
    let max_level = logger.filter();
    log::set_boxed_logger(Box::new(Guarded(logger))).map_err(io::Error::other)?;
    log::set_max_level(max_level);
    Ok(Flush(queue))
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// An output that holds every write until its gate opens.
    struct Gated {
        open: Arc<(Mutex<bool>, Condvar)>,
        written: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Gated {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (open, opened) = &*self.open;
            let mut is_open = open.lock().unwrap();
            while !*is_open {
                is_open = opened.wait(is_open).unwrap();
            }
            self.written.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn log_line(pipe: &mut Pipe, line: &[u8]) {
        pipe.write_all(line).unwrap();
        pipe.flush().unwrap();
    }

    #[test]
    fn a_stalled_output_holds_loggers_at_the_bound_and_loses_no_line() {
        let queue = Arc::new(Queue::default());
        let open = Arc::new((Mutex::new(false), Condvar::new()));
        let written = Arc::new(Mutex::new(Vec::new()));
        let out = Gated {
            open: open.clone(),
            written: written.clone(),
        };
        let writer = queue.clone();
        std::thread::spawn(move || write_lines(writer, Box::new(out)));
        let mut pipe = Pipe {
            queue: queue.clone(),
            line: Vec::new(),
        };
        // The first line is taken by the log thread, which stalls writing it.
        log_line(&mut pipe, b"first\n");
        let since = Instant::now();
        while !queue.lock().bytes.is_empty() {
            assert!(
                since.elapsed() < Duration::from_secs(10),
                "the log thread never took the line"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let line = [b'x'; 1023].iter().chain(b"\n").copied().collect::<Vec<u8>>();
        for _ in 0..WAITING_BYTES / line.len() {
            log_line(&mut pipe, &line);
        }
        assert_eq!(queue.lock().bytes.len(), WAITING_BYTES);

        let (logged, told) = mpsc::channel();
        std::thread::spawn(move || {
            log_line(&mut pipe, b"last\n");
            logged.send(()).unwrap();
        });
        assert!(
            told.recv_timeout(Duration::from_millis(200)).is_err(),
            "a logger went past the bound"
        );
        *open.0.lock().unwrap() = true;
        open.1.notify_all();
        told.recv_timeout(Duration::from_secs(10))
            .expect("the logger never got room");
        Flush(queue).now();

        let mut expected = b"first\n".to_vec();
        for _ in 0..WAITING_BYTES / line.len() {
            expected.extend_from_slice(&line);
        }
        expected.extend_from_slice(b"last\n");
        assert!(*written.lock().unwrap() == expected, "lines lost or out of order");
    }
}
