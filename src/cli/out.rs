//! Standard output that a closed pipe ends quietly.
//!
//! `mable-pipeline list | head -1` closes the pipe after one line; like
//! ripgrep, the program then stops writing and exits with status 0 instead
//! of panicking (Rust's `println!` panics on a broken pipe).

use std::io::Write;

/// Standard output was closed by its reader: stop, quietly, successfully.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
pub struct StdoutClosed;

/// Writes `text` to standard output and flushes it.
pub fn print(text: &str) -> Result<(), std::io::Error> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Turns a broken pipe into [`StdoutClosed`], anything else into an error.
pub fn print_or_stop(text: &str) -> anyhow::Result<()> {
    match print(text) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to standard output")),
    }
}

/// `print_or_stop` with a line ending.
pub fn println(text: impl std::fmt::Display) -> anyhow::Result<()> {
    print_or_stop(&format!("{text}\n"))
}
