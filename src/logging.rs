//! The log's output. Lines are handed to a thread of their own that writes
//! them to stderr, so that an actix worker never waits on a write to the
//! log (one access-log line per request).
//!
//! No credential reaches it at any level: the HTTP client's byte dumps of
//! what it sends and receives (`ureq_proto`, at trace) are dropped whatever
//! `RUST_LOG` says, and every line written while a carrier call runs is
//! scrubbed of that call's credentials (`scrub::Scrubber::scope`).

use std::io::{self, Write};
use std::sync::mpsc;
use std::time::Duration;

/// Most lines waiting for the log thread (about 150 bytes each).
const LINES_WAITING: usize = 16 * 1024;

enum Message {
    Line(Vec<u8>),
    /// Answered once every line sent before it is written.
    Flush(mpsc::SyncSender<()>),
}

/// env_logger's target: collects a record's bytes, sends them on `flush`,
/// which env_logger calls after each record.
struct Pipe {
    lines: mpsc::SyncSender<Message>,
    line: Vec<u8>,
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.line.is_empty() {
            let mut line = std::mem::take(&mut self.line);
            // Still on the thread that logged, so its carrier call's scope applies.
            if let Some(scrubbed) = crate::scrub::in_scope(&String::from_utf8_lossy(&line)) {
                line = scrubbed.into_bytes();
            }
            self.lines.send(Message::Line(line)).map_err(io::Error::other)?;
        }
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

/// Writes what arrives, flushing `out` whenever nothing more is waiting.
fn write_lines(lines: mpsc::Receiver<Message>, out: Box<dyn Write + Send>) {
    let mut out = io::BufWriter::with_capacity(64 * 1024, out);
    // Nowhere to report a failed write to stderr: it is dropped.
    while let Ok(first) = lines.recv() {
        for message in std::iter::once(first).chain(lines.try_iter()) {
            match message {
                Message::Line(line) => {
                    let _ = out.write_all(&line);
                }
                Message::Flush(done) => {
                    let _ = out.flush();
                    let _ = done.send(());
                }
            }
        }
        let _ = out.flush();
        std::thread::sleep(REST);
    }
}

/// Until dropped, the log's lines still in flight are written out at the end.
pub struct Flush(mpsc::SyncSender<Message>);

impl Flush {
    /// Returns once every line logged before the call is written out.
    pub fn now(&self) {
        let (done, written) = mpsc::sync_channel(1);
        if self.0.send(Message::Flush(done)).is_ok() {
            let _ = written.recv();
        }
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
    // Bounded: should the output stall, loggers wait rather than memory grow.
    let (sender, lines) = mpsc::sync_channel(LINES_WAITING);
    std::thread::Builder::new()
        .name("telebind-log".into())
        .spawn(move || write_lines(lines, out))?;
    let pipe = Pipe {
        lines: sender.clone(),
        line: Vec::with_capacity(256),
    };
    let logger = env_logger::Builder::new()
        .parse_filters(filters)
        .target(env_logger::Target::Pipe(Box::new(pipe)))
        // A pipe is not a terminal: no styles to add, none to strip.
        .write_style(env_logger::WriteStyle::Never)
        .build();
    let max_level = logger.filter();
    log::set_boxed_logger(Box::new(Guarded(logger))).map_err(io::Error::other)?;
    log::set_max_level(max_level);
    Ok(Flush(sender))
}
