//! The log's output. Lines are handed to a thread of their own that writes
//! them to stderr, so that an actix worker never waits on a write to the
//! log (one access-log line per request).

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
            let line = std::mem::take(&mut self.line);
            self.lines.send(Message::Line(line)).map_err(io::Error::other)?;
        }
        Ok(())
    }
}

/// How long the log thread rests after writing what was waiting: lines
/// that arrive meanwhile queue without waking it, so a busy server pays one
/// wake-up per rest rather than one per line.
const REST: Duration = Duration::from_millis(2);

/// Writes what arrives, flushing stderr whenever nothing more is waiting.
fn write_lines(lines: mpsc::Receiver<Message>) {
    let mut out = io::BufWriter::with_capacity(64 * 1024, io::stderr());
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

impl Drop for Flush {
    fn drop(&mut self) {
        let (done, written) = mpsc::sync_channel(1);
        if self.0.send(Message::Flush(done)).is_ok() {
            let _ = written.recv();
        }
    }
}

/// Installs the logger (`RUST_LOG`, default `info`); keep the returned
/// guard until the process ends, so that its last lines are not lost.
pub fn init() -> io::Result<Flush> {
    // Bounded: should stderr stall, loggers wait rather than memory grow.
    let (sender, lines) = mpsc::sync_channel(LINES_WAITING);
    std::thread::Builder::new()
        .name("telebind-log".into())
        .spawn(move || write_lines(lines))?;
    let pipe = Pipe {
        lines: sender.clone(),
        line: Vec::with_capacity(256),
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .target(env_logger::Target::Pipe(Box::new(pipe)))
        // A pipe is not a terminal: no styles to add, none to strip.
        .write_style(env_logger::WriteStyle::Never)
        .init();
    Ok(Flush(sender))
}
