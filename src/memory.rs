//! Freed memory handed back to the system. glibc keeps what a thread frees
//! in that thread's arena for reuse, so after a burst that ran on many
//! blocking threads (carrier calls, list bodies) the server would hold tens
//! of MiB it no longer uses; a self-hoster reads that as a leak. A thread of
//! its own returns the free pages now and then.

use std::time::Duration;

/// Often enough that memory settles soon after a burst; each pass costs
/// well under a millisecond on an idle heap.
const EVERY: Duration = Duration::from_secs(5);

/// Starts the thread (glibc only; other allocators return memory themselves).
pub fn start_trimming() -> std::io::Result<()> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    std::thread::Builder::new()
        .name("telebind-trim".into())
        .spawn(|| loop {
            std::thread::sleep(EVERY);
            // SAFETY: malloc_trim only releases free memory back to the
            // system; glibc allows it from any thread at any time.
            unsafe {
                libc::malloc_trim(0);
            }
        })?;
    Ok(())
}
